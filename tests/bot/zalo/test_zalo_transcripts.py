"""Every transcript (tests/transcripts/*.yaml) played on Zalo: the real channel (webhook, real
client code, our storage) against the Zalo Bot API emulator on 127.0.0.1. Zalo has no buttons:
a press becomes the option's number typed, "Xong" the word "xong"; a press on an old question's
button cannot happen there, so that step is left out (nothing is sent). The runner is
tests/support/transcripts.py; what the citizen reads is compared with the engine's replies
through :class:`support.transcripts.Shadow`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from bot.zalo.channel import ZaloChannel
from bot.zalo.client import ZaloBotClient
from bot.zalo.pacer import Pacer
from demo.emulators.zalo import EmulatedUser, ZaloEmulator
from engine.types import Choose, Command, Done, Input, Reply, Start, State, TypedText
from support.transcripts import FILES, Shadow, StoredChatDriver, play_on_channel
from survey_defs.schema import Survey

TOKEN = "888:zalo-transcripts"
SECRET = "transcript-secret-zalo"


class ZaloDriver(StoredChatDriver):
    """A citizen on Zalo, typing everything; the first ``/start`` is the card's code."""

    chat_channel = "zalo"

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.question: Reply | None = None     # the last question the citizen was shown

    async def start(self, survey: Survey, lang: str) -> None:
        self.shadow = Shadow(survey, lang, buttons=False)   # Zalo has no buttons
        self.code = (await self.open_round(survey, lang, "z.db")).card_code
        self.emu = await ZaloEmulator(token=TOKEN).start()
        self.cleanup.append(self.emu.stop)
        self.client = ZaloBotClient(TOKEN, self.emu.base_url, timeout=5)
        self.cleanup.append(self.client.close)
        self.channel = await ZaloChannel(self.client, self.store, pacer=Pacer(rate=None, per_chat_rate=None),
                                         default_lang=lang).start()
        self.cleanup.append(self.channel.stop)
        runner = web.AppRunner(self.channel.webhook_app("/zalo", SECRET), access_log=None)
        await runner.setup()
        self.cleanup.append(runner.cleanup)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        await self.client.set_webhook(f"http://127.0.0.1:{port}/zalo", SECRET)
        self.user: EmulatedUser = self.emu.user("zl-transcript", "Lan")
        self.chat_id = self.user.chat_id

    def _typed(self, inp: Input, stored: State | None) -> str | None:
        """What the citizen types for ``inp``; None if Zalo gives no way to do it."""
        q = self.question
        current = q is not None and stored is not None and stored.current == q.step_id
        if isinstance(inp, Choose):
            if not current or q is None or q.step_id != inp.step_id:
                return None      # an old question's button: Zalo has none
            return str(next(n for n, o in enumerate(q.options, 1) if str(o.value) == str(inp.value)))
        if isinstance(inp, Done):
            return "xong" if current and q is not None and q.step_id == inp.step_id else None
        if isinstance(inp, Start) or (isinstance(inp, TypedText) and inp.text.strip() == "/start"):
            return f"KS {self.code}" if stored is None else "/start"
        if isinstance(inp, Command):
            return f"/{inp.name}" + (f" {inp.arg}" if inp.arg else "")
        assert isinstance(inp, TypedText)
        return inp.text

    async def send(self, inp: Input) -> list[Reply] | None:
        stored = await self._stored()
        text = self._typed(inp, stored)
        if text is None:
            return None
        expected = self.shadow.step(stored, inp)
        delivered = len(self.emu.webhook_log)
        self.user.send_text(text)
        for _ in range(500):                    # the webhook answered: committed, replies queued
            if len(self.emu.webhook_log) > delivered:
                break
            await asyncio.sleep(0.01)
        assert self.emu.webhook_log[-1].delivered
        assert await self.channel.pacer.drain(5)
        seen = Shadow.seen(expected, self.user.unread())
        questions = [r for r in seen if r.kind == "question"]
        if questions:
            self.question = questions[-1]
        self.shadow.check(f"zalo {text!r}", await self._stored())
        return seen


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_transcript_on_zalo(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await play_on_channel(ZaloDriver(tmp_path), path, monkeypatch)
