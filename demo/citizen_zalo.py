"""A simulated citizen on the Zalo emulator: the card's code first, then typed numbers.

Split from :mod:`demo.citizens` (who citizens are and what they decide) because this is only the
channel's mechanics: Zalo has no buttons, so the citizen types the code from the invitation card
in one of the forms people use, reads the bot's text prompts and types numbers ("1 3 xong").
:func:`~demo.citizens.play_citizen` runs the walk and reports it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from demo.citizens import (CONFIRMED, CitizenOutcome, CitizenPlan, CitizenSignals, Mind, persona_break, play_citizen,
                           quiet, think, zalo_screen)

__all__ = ["run_zalo_citizen"]

_ZALO_CODE_FORMS: tuple[Callable[[str], str], ...] = (
    lambda c: f"KS {c}",
    lambda c: c.lower(),
    lambda c: f"Mã KS: {c[:3]}-{c[3:]}",
    lambda c: f"ks{c}",
)


async def run_zalo_citizen(emu: Any, plan: CitizenPlan, signals: CitizenSignals,
                           timeout: float = 30.0) -> CitizenOutcome:
    """Play ``plan`` on the Zalo emulator: the card's code first, then typed numbers.

    Never raises: a timeout or an unexpected screen ends the citizen with ``result="error"``.
    """
    return await play_citizen(_zalo, emu, plan, signals, timeout)


_PROMPT_HEAD = re.compile(r"^(?:Câu|Question) \d+/\d+", re.M)


def _is_prompt(text: str) -> bool:
    return bool(_PROMPT_HEAD.search(text)) or "«gửi»" in text


async def _next_prompt(user: Any, timeout: float, out: CitizenOutcome | None = None) -> str:
    """The next message that waits for the citizen (a question or the review).

    A citizen who waits in vain (``timeout / 2``: a message lost on a bad connection) sends
    /start, which re-shows the current question without answering anything, and then takes the
    newest prompt once the bot is quiet.
    """
    patience = timeout / 2 if out is not None else timeout
    try:
        while True:
            text = await user.wait_for_reply(patience)
            if _is_prompt(text):
                return text
    except TimeoutError:
        if out is None:
            raise
    out.nudges += 1
    user.send_text("/start")
    out.sent += 1
    last = ""
    while not _is_prompt(last):
        last = await user.wait_for_reply(timeout)
    await quiet(lambda: len(user.received))
    prompts = [t for t in user.unread() if _is_prompt(t)]
    return prompts[-1] if prompts else last


async def _zalo(emu: Any, plan: CitizenPlan, signals: CitizenSignals, timeout: float,
                out: CitizenOutcome, settle: Callable[[], None]) -> None:
    mind = Mind(plan)
    pace = random.Random(plan.seed ^ 0x5EED)   # timing only: never touches the answers' RNG
    if plan.persona == "never":
        out.result = "never"
        return
    user = emu.user(plan.user_id, "Người dân")

    async def typed(text: str) -> None:
        """Zalo's send is synchronous; the shared persona steps await every send."""
        user.send_text(text)

    async def wait_reminder() -> None:
        out.result = "waiting"
        settle()
        while True:
            text = await user.wait_for_reply(signals.reminder_timeout)
            if "/start" in text:
                out.reminded = True
                return

    if 1 in plan.junk_at:
        # A typo in the card code (a letter O for a zero-like character): the bot asks again.
        bad = plan.card_code[:2] + "O" + plan.card_code[3:]
        user.send_text(f"KS {bad}")
        out.sent += 1
        out.junk["code_typo"] += 1
        await user.wait_for_reply(timeout)
    user.send_text(_ZALO_CODE_FORMS[plan.respondent_id % len(_ZALO_CODE_FORMS)](plan.card_code))
    out.sent += 1
    prompt = await _next_prompt(user, timeout, out)
    while True:
        screen = zalo_screen(prompt)
        if screen.review:
            user.send_text("gửi")
            out.sent += 1
            await user.wait_for_reply(timeout)
            out.result = "completed"
            return
        out.questions += 1
        n = out.questions
        came_back = await persona_break(
            plan, out, pause=lambda: typed("tạm dừng"), resume=lambda: typed("tiếp tục"),
            stop=lambda: typed("dừng"), wait_reply=lambda: user.wait_for_reply(timeout),
            wait_reminder=wait_reminder)
        if came_back is False:
            return
        if came_back:
            prompt = await _next_prompt(user, timeout, out)
            continue
        if n in plan.junk_at and n > 1:
            kind = ("sticker", "text", "image")[(n + plan.respondent_id) % 3]
            out.junk[kind] += 1
            out.sent += 1
            if kind == "sticker":
                user.send_sticker()
                await user.wait_for_reply(timeout)
            elif kind == "image":
                user.send_image()
                await user.wait_for_reply(timeout)
            else:
                user.send_text(mind.rng.choice(("alo alo", "???", "bao giờ xong vậy", "ok")))
                prompt = await _next_prompt(user, timeout, out)
                screen = zalo_screen(prompt)
        d = mind.decide_once(screen)
        await think(signals, pace, mind)
        if d.kind == "choose":
            user.send_text(mind.typed_form(screen, d.index))
        elif d.kind == "multi":
            user.send_text(" ".join(str(p + 1) for p in d.picks) + " xong")
        elif d.kind == "skip":
            user.send_text("bỏ qua")
        else:
            user.send_text(d.text)
        out.sent += 1
        signals.answered()
        if d.terminal:
            if d.outcome in CONFIRMED:      # the bot asks "is that right?" before it ends the survey
                await user.wait_for_reply(timeout)
                user.send_text("có")
                out.sent += 1
            await user.wait_for_reply(timeout)
            out.result = d.outcome
            return
        prompt = await _next_prompt(user, timeout, out)
