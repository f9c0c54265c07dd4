"""A simulated citizen on the Telegram emulator: buttons mostly, numbers typed sometimes.

Split from :mod:`demo.citizens` (who citizens are and what they decide) because this is only the
channel's mechanics: which message is the current question, which button is option *k*, what a
tampering client sends. :func:`~demo.citizens.play_citizen` runs the walk and reports it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from demo.citizens import (CONFIRMED, TG_OPTION, CitizenOutcome, CitizenPlan, CitizenSignals, Mind, persona_break,
                           play_citizen, quiet, telegram_screen, think)

__all__ = ["run_telegram_citizen"]


async def run_telegram_citizen(emu: Any, plan: CitizenPlan, signals: CitizenSignals,
                               timeout: float = 30.0) -> CitizenOutcome:
    """Play ``plan`` on the Telegram emulator: buttons mostly, numbers typed sometimes.

    Never raises: a timeout or an unexpected screen ends the citizen with ``result="error"``.
    """
    return await play_citizen(_telegram, emu, plan, signals, timeout)


def _forged(data: str) -> str:
    """Button data with a wrong signature: what a tampering client (or a bug) would send."""
    head, _, sig = data.rpartition("|")
    return f"{head}|{'A' * max(8, len(sig))}" if head else "v1|c|x|1|1|AAAAAAAA"


async def _telegram(emu: Any, plan: CitizenPlan, signals: CitizenSignals, timeout: float,
                    out: CitizenOutcome, settle: Callable[[], None]) -> None:
    mind = Mind(plan)
    pace = random.Random(plan.seed ^ 0x5EED)   # timing only: never touches the answers' RNG
    user = emu.user(int(plan.user_id), "Người dân", lang="vi")
    chat = user.chat_id
    if plan.persona == "never":
        out.result = "never"
        return

    def link_token() -> str:
        for m in reversed(emu.bot_messages(chat)):
            for _label, url in emu.url_buttons(chat, m.message_id):
                if "?start=" in url:
                    return url.split("?start=", 1)[1]
        raise LookupError("no invitation link in this chat")

    async def wait_reminder() -> None:
        out.result = "waiting"
        settle()
        mark = len(emu.bot_messages(chat))
        def reminded() -> bool:  # partial: "bấm /start"; not started: the invite's link button
            return any("/start" in m.text or any("?start=" in url for _, url in emu.url_buttons(chat, m.message_id))
                       for m in emu.bot_messages(chat)[mark:])

        await emu.wait_until(reminded, signals.reminder_timeout, chat)
        out.reminded = True

    async def next_question() -> Any:
        """The next question message. A citizen who waits in vain (a reply lost on a bad
        connection) sends /start, which re-shows the current question without answering
        anything; then the newest keyboard is the current question."""
        try:
            return await user.wait_for_keyboard(timeout / 2)
        except asyncio.TimeoutError:
            out.nudges += 1
            await user.send_text("/start")
            out.sent += 1
            await user.wait_for_keyboard(timeout)
            await quiet(lambda: len(emu.bot_messages(chat)))
            return user.last_keyboard_message()

    if plan.persona == "late_start":
        await wait_reminder()
    token = link_token() if plan.entry == "invite" else plan.token
    await user.start(token)
    out.sent += 1
    msg = await next_question()
    while True:
        screen = telegram_screen(msg.text, msg.buttons)
        if screen.review:
            await user.press_button("Gửi phiếu")
            out.sent += 1
            await user.wait_for_reply(timeout)
            out.result = "completed"
            return
        out.questions += 1
        n = out.questions
        came_back = await persona_break(
            plan, out, pause=lambda: user.press_button("Tạm dừng"), resume=lambda: user.send_text("/start"),
            stop=lambda: user.send_text("/stop"), wait_reply=lambda: user.wait_for_reply(timeout),
            wait_reminder=wait_reminder)
        if came_back is False:
            return
        if came_back:
            msg = await next_question()
            continue
        if n in plan.junk_at:
            kind = ("sticker", "text", "forged", "photo")[(n + plan.respondent_id) % 4]
            out.junk[kind] += 1
            out.sent += 1
            if kind == "sticker":
                await user.send_sticker("😀")
                await user.wait_for_reply(timeout)
            elif kind == "photo":
                await user.send_photo("ảnh giấy hẹn")
                await user.wait_for_reply(timeout)
            elif kind == "text":
                await user.send_text(mind.rng.choice(("alo alo", "???", "bao giờ xong vậy", "ok")))
                msg = await next_question()
            else:
                data = next((d for _, d in msg.buttons if d), "")
                qid = await user.press(msg.message_id, _forged(data))
                await user.wait_callback_answer(qid, timeout)
            msg = user.last_keyboard_message() or msg
            screen = telegram_screen(msg.text, msg.buttons)
        d = mind.decide_once(screen)
        await think(signals, pace, mind)
        if d.kind == "choose":
            if mind.rng.random() < 0.15:
                await user.send_text(mind.typed_form(screen, d.index))
            else:
                await user.press(msg.message_id, _option_data(msg, d.index))
        elif d.kind == "multi":
            for p in d.picks:
                before = msg.edited
                await user.press(msg.message_id, _option_data(msg, p))
                out.sent += 1
                await emu.wait_until(lambda: msg.edited > before, timeout, chat)
            await user.press_button("Xong")
        elif d.kind == "skip":
            await user.press_button("Bỏ qua")
        else:
            await user.send_text(d.text)
        out.sent += 1
        signals.answered()
        if d.terminal:
            if d.outcome in CONFIRMED:      # the bot asks "is that right?" before it ends the survey
                await user.wait_for_reply(timeout)
                await user.send_text("có")
                out.sent += 1
            await user.wait_for_reply(timeout)
            out.result = d.outcome
            return
        msg = await next_question()


def _option_data(msg: Any, index: int) -> str:
    """Callback data of option ``index`` (0-based) of a question message."""
    for label, data in msg.buttons:
        m = TG_OPTION.match(label)
        if m and int(m.group(1)) == index + 1 and data:
            return data
    raise LookupError(f"no option {index + 1} among {[b[0] for b in msg.buttons]}")
