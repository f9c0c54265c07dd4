"""Every transcript (tests/transcripts/*.yaml) played on Telegram: the real channel (PTB, webhook
mode, our storage) against the Bot API emulator on 127.0.0.1, a citizen pressing the buttons the
bot showed and typing the rest. The runner is tests/support/transcripts.py; what the citizen sees
is compared with the engine's replies through :class:`support.transcripts.Shadow`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings
from bot.telegram.channel import TelegramChannel
from demo.emulators.telegram import SimUser, TelegramEmulator
from engine.types import Choose, Command, Done, Input, Reply, Start, State, TypedText
from support.transcripts import FILES, Shadow, StoredChatDriver, play_on_channel
from survey_defs.schema import Survey

SECRET = "transcript-secret_42"
CHAT = 4242


class TelegramDriver(StoredChatDriver):
    """A citizen on Telegram. Inputs become what a person does there: a press on the button of
    the message that showed the question (an old message's button for a stale press), typed
    text, a typed ``/command``; the first ``/start`` is the invitation's deep link."""

    chat_channel = "telegram"
    chat_id = str(CHAT)

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        # step id -> (message id, its buttons, the question reply it shows), as first shown
        self.keyboards: dict[str, tuple[int, list[tuple[str, str | None]], Reply]] = {}

    async def start(self, survey: Survey, lang: str) -> None:
        self.shadow = Shadow(survey, lang)
        self.token = (await self.open_round(survey, lang, "t.db")).token
        self.emu = TelegramEmulator()
        await self.emu.start()
        self.cleanup.append(self.emu.stop)
        settings = Settings(
            _env_file=None, telegram_token=self.emu.token, telegram_base_url=self.emu.base_url,
            db=self.tmp / "t.db", telegram_rate_limit=False, callback_secret="transcript-key",
            telegram_mode="webhook", listen_port=0, telegram_webhook_secret=SECRET,
            telegram_webhook_url="http://127.0.0.1:{port}/telegram")
        self.channel = TelegramChannel(settings, self.store)
        await self.channel.start()
        self.cleanup.append(self.channel.stop)
        self.user: SimUser = self.emu.user(CHAT, "Lan")

    async def _act(self, inp: Input, stored: State | None) -> str | None:
        """Do what a person does for ``inp``; the callback query id of a press."""
        if isinstance(inp, (Choose, Done)):
            mid, buttons, question = self.keyboards[inp.step_id]
            if isinstance(inp, Choose):
                n = next(i for i, o in enumerate(question.options) if str(o.value) == str(inp.value))
            else:
                label = next(a.label for a in question.actions if isinstance(a.input, Done))
                n = next(i for i, b in enumerate(buttons) if b[0] == label)
            data = buttons[n][1]
            assert data is not None
            return await self.user.press(mid, data)
        if isinstance(inp, Start) or (isinstance(inp, TypedText) and inp.text.strip() == "/start"):
            await self.user.start(self.token if stored is None else None)
        elif isinstance(inp, Command):
            await self.user.send_text(f"/{inp.name}" + (f" {inp.arg}" if inp.arg else ""))
        else:
            assert isinstance(inp, TypedText)
            await self.user.send_text(inp.text)
        return None

    async def send(self, inp: Input) -> list[Reply] | None:
        stored = await self._stored()
        expected = self.shadow.step(stored, inp)
        before = {m.message_id: (m.text, m.buttons) for m in self.emu.bot_messages(CHAT)}
        query = await self._act(inp, stored)
        await self.emu.wait_drained()          # webhook answered: handled, replies sent
        texts: list[str] = []
        changed = []
        for m in self.emu.bot_messages(CHAT):
            old, old_buttons = before.get(m.message_id, (None, None))
            if old is None:
                texts.append(m.text)
            elif old != m.text:                # an edit: what it added (the next question in place)
                texts.append(m.text[len(old):] if m.text.startswith(old) else m.text)
            elif m.buttons != old_buttons and m.buttons:
                texts.append(m.text)           # the same text with other buttons (ticks)
            else:
                continue
            changed.append(m)
        if query is not None:
            toast = self.emu.callback_answer(query)
            assert toast is not None, "a press is always answered"
            if toast.text:
                texts.append(toast.text)
        seen = Shadow.seen(expected, texts)
        for m in changed:
            for r in seen:
                if m.keyboard and r.kind == "question" and r.step_id and r.text in m.text:
                    self.keyboards[r.step_id] = (m.message_id, m.buttons, r)
        self.shadow.check(f"telegram {inp!r}", await self._stored())
        return seen


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_transcript_on_telegram(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await play_on_channel(TelegramDriver(tmp_path), path, monkeypatch)
