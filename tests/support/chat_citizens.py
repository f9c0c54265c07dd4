"""A simulated Telegram citizen for the kill tests (tests/bot/test_channels_kill.py,
tests/bot/test_workers_run_kill.py): it waits for the bot's next question and answers it once,
never nudges, and remembers what it chose and how often a question was shown again."""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass, field

from demo.citizens import telegram_screen
from demo.emulators.telegram import TelegramEmulator

SURVEY = "sipas-services-2021"
PATIENCE_S = 90.0      # a citizen waiting this long for the bot would have had to nudge it


@dataclass
class Citizen:
    channel: str
    respondent_id: int
    given: list[str] = field(default_factory=list)     # labels chosen, in order ("" = skipped)
    acked: int = 0                                     # answers followed by the bot's next message
    repeats: int = 0                                   # a question shown again after an answer
    done: bool = False


@dataclass
class Progress:
    acks: int = 0
    nudges: int = 0


def pick(uid: object, screen_text: str, options: tuple[str, ...]) -> int:
    """The citizen's choice, deterministic in who they are and what they see."""
    for i, label in enumerate(options):
        if label in ("Có", "Yes"):
            return i
    return zlib.crc32(f"{uid}|{screen_text}".encode()) % len(options)


async def telegram_citizen(emu: TelegramEmulator, uid: int, token: str, c: Citizen, p: Progress) -> None:
    user = emu.user(uid, f"Dân {uid}")
    await user.start(token)
    answered_text: str | None = None
    mark = 0                       # what the bot had shown (emu.shown) when we last acted

    def is_repeat(m) -> bool:      # the answered question shown again (a reply owed at a restart)
        return answered_text is not None and answered_text.endswith(m.text)

    def newest_question():
        fresh = [m for m in emu.shown(uid)[mark:] if m.keyboard and not is_repeat(m)]
        return fresh[-1] if fresh else None

    while True:
        try:
            await emu.wait_until(lambda: newest_question() is not None or thanked(emu, uid, mark),
                                 PATIENCE_S, uid)
        except asyncio.TimeoutError:
            p.nudges += 1
            raise AssertionError(f"telegram citizen {uid} waited {PATIENCE_S:.0f} s for the bot") from None
        if answered_text is not None:
            c.acked += 1
            p.acks += 1
            c.repeats += sum(1 for m in emu.shown(uid)[mark:] if m.keyboard and is_repeat(m))
        if thanked(emu, uid, mark):
            c.done = True
            return
        msg = newest_question()
        screen = telegram_screen(msg.text, msg.buttons)
        mark = len(emu.shown(uid))
        answered_text = msg.text
        if screen.review:
            data = next(d for label, d in msg.buttons if label.startswith("Gửi phiếu"))
        elif not screen.options:
            data = next(d for label, d in msg.buttons if label.startswith("Bỏ qua"))
            c.given.append("")
        else:
            k = pick(uid, msg.text, screen.options)
            data = next(d for label, d in msg.buttons if label.lstrip("☑☐● ").startswith(f"{k + 1}. "))
            c.given.append(screen.options[k])
        await user.press(msg.message_id, data or "")


def thanked(emu: TelegramEmulator, uid: int, mark: int) -> bool:
    """The bot said the questionnaire was sent, in what it showed after ``mark`` (emu.shown: a
    question edited in place counts as shown again)."""
    return any("đã được gửi" in m.text for m in emu.shown(uid)[mark:])
