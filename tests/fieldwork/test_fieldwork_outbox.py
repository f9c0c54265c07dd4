"""Outbox sender: per-message marking, 429 backoff, 403 → unreachable, crash recovery, idempotent
enqueueing. Uses a scripted channel double for the logic and the Telegram emulator for the wiring."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from bot.telegram.sender import TelegramSender, build_telegram_bot
from fieldwork.outbox import OutboxSender, PermanentFailure, RetryLater, Undeliverable, enqueue_invites
from storage.db import Database
from storage.outbox import claim_outbox_batch, list_outbox, outbox_counts
from storage.respondents import get_respondent
from support.db import make_round




class ScriptedSender:
    """A channel double: per chat, a list of outcomes to play ("ok", "429", "403", "400")."""

    channel = "telegram"

    def __init__(self, script: dict[str, list[str]] | None = None) -> None:
        self.script = script or {}
        self.delivered: Counter[str] = Counter()
        self.calls = 0

    async def send(self, message):  # noqa: ANN001, ANN201
        self.calls += 1
        await asyncio.sleep(0)
        plan = self.script.get(message.chat_id)
        outcome = plan.pop(0) if plan else "ok"
        if outcome == "429":
            raise RetryLater("429: slow down", 0.05)
        if outcome == "403":
            raise Undeliverable("403: blocked")
        if outcome == "400":
            raise PermanentFailure("400: bad")
        self.delivered[message.chat_id] += 1
        return f"m{self.delivered.total()}"


@pytest.fixture
async def db(tmp_path: Path):
    d = await Database.open(tmp_path / "fw.db")
    yield d
    await d.close()


async def test_enqueue_is_idempotent_and_skips_missing_contacts(db: Database) -> None:
    rid, ids = await make_round(db, 10)
    r1 = await enqueue_invites(db, rid, "telegram", bot_username="hailong_test_bot", deadline="30/09/2025")
    assert (r1.new, r1.already, r1.no_contact) == (10, 0, 0)
    r2 = await enqueue_invites(db, rid, "telegram", bot_username="hailong_test_bot")
    assert (r2.new, r2.already) == (0, 10)
    r3 = await enqueue_invites(db, rid, "zalo")
    assert r3.new == 0 and r3.no_contact == 10
    rows = await list_outbox(db, round_id=rid)
    assert len(rows) == 10 and all("t.me/hailong_test_bot?start=" in r.payload["button"]["url"] for r in rows)
    assert all("Kính mời" in r.payload["text"] for r in rows)
    with pytest.raises(ValueError):
        await enqueue_invites(db, rid, "sms")


async def test_sender_marks_each_message_and_handles_errors(db: Database) -> None:
    rid, ids = await make_round(db, 20)
    await enqueue_invites(db, rid, "telegram", bot_username="hailong_test_bot")
    rows = await list_outbox(db, round_id=rid)
    chat = {r.respondent_id: r.chat_id for r in rows}
    script = {chat[ids[0]]: ["429", "429", "ok"], chat[ids[1]]: ["403"], chat[ids[2]]: ["400"]}
    fake = ScriptedSender(script)
    stats = await OutboxSender(db, fake, concurrency=4).run()
    assert stats.sent == 18 and stats.dead == 2 and stats.retried == 2 and stats.unreachable == 1
    assert max(fake.delivered.values()) == 1 and len(fake.delivered) == 18
    counts = await outbox_counts(db, rid)
    assert counts == {("invite", "sent"): 18, ("invite", "dead"): 2}
    sent = [r for r in await list_outbox(db, round_id=rid, status="sent")]
    assert all(r.provider_message_id and r.sent_at for r in sent)
    assert (await get_respondent(db, ids[1])).status == "unreachable"
    assert (await get_respondent(db, ids[0])).status == "invited"
    assert (await get_respondent(db, ids[2])).status == "sampled"


async def test_rows_left_sending_by_a_crash_are_requeued(db: Database) -> None:
    rid, ids = await make_round(db, 12)
    await enqueue_invites(db, rid, "telegram", bot_username="hailong_test_bot")
    claimed = await claim_outbox_batch(db, "telegram", 5)  # a sender that died right after claiming
    assert len(claimed) == 5
    fake = ScriptedSender()
    # a live sender elsewhere: fresh 'sending' rows are not stolen
    stats = await OutboxSender(db, fake, stale_after=3600, poll_interval=0.01).run(max_seconds=1.0)
    assert stats.sent == 7 and stats.requeued == 0
    stats = await OutboxSender(db, fake, stale_after=0).run()
    assert stats.requeued == 5 and stats.sent == 5
    assert len(fake.delivered) == 12 and max(fake.delivered.values()) == 1


async def test_telegram_sender_against_emulator(db: Database) -> None:
    from demo.emulators.telegram import TelegramEmulator
    from demo.emulators.telegram_rules import FloodLimits

    rid, ids = await make_round(db, 6)
    await enqueue_invites(db, rid, "telegram", bot_username="hailong_test_bot")
    async with TelegramEmulator(limits=FloodLimits(enabled=True)) as emu:
        for i in range(6):
            emu.user(100_000 + i, f"Dân {i}")
        emu.block(100_003)
        bot = build_telegram_bot(emu.token, emu.base_url)
        await bot.initialize()
        try:
            stats = await OutboxSender(db, TelegramSender(bot)).run()
        finally:
            await bot.shutdown()
        assert stats.sent == 5 and stats.dead == 1
        for i in range(6):
            msgs = emu.bot_messages(100_000 + i)
            assert len(msgs) == (0 if i == 3 else 1)
            if i != 3:
                assert "Kính mời" in msgs[0].text
                assert msgs[0].keyboard  # the deep-link button
        assert (await get_respondent(db, ids[3])).status == "unreachable"
