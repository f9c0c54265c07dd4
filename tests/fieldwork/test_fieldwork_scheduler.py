"""Reminder ticks from the database with a controllable clock, the round closing itself, and the
APScheduler wiring (interval tick + per-round close job)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fieldwork.reminders import ReminderScheduler, tick
from storage.audit import list_audit
from storage.db import Database
from storage.outbox import list_outbox
from storage.respondents import list_respondents, mark_invited, set_status
from storage.rounds import get_round
from support.db import make_round

VN = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2030, 9, 2, 10, 0, tzinfo=VN).timestamp()   # invites went out at 10:00 local
DAY = 86400.0
POLICY = {"after_days": [1, 3], "max": 2}


@pytest.fixture
async def db(tmp_path: Path):
    d = await Database.open(tmp_path / "sched.db")
    yield d
    await d.close()


async def test_tick_enqueues_once_and_respects_policy(db: Database) -> None:
    rid, ids = await make_round(db, 5, closes_at=T0 + 10 * DAY, reminder_policy=POLICY)
    await mark_invited(db, ids, at=T0)
    assert (await tick(db, T0 + 0.5 * DAY)).enqueued == 0
    # 23:00 local the next day: overdue but quiet hours
    assert (await tick(db, T0 + DAY + 13 * 3600)).enqueued == 0
    r = await tick(db, T0 + DAY + 3600)
    assert r.enqueued == 5 and r.closed_rounds == []
    again = await tick(db, T0 + DAY + 3700)  # a second process / a restart: nothing twice
    assert again.enqueued == 0
    rows = await list_outbox(db, round_id=rid, kind="reminder")
    assert sorted(r.dedupe_key for r in rows) == sorted(f"reminder:{i}:1" for i in ids)
    assert all(r.chat_id.startswith("100") for r in rows)
    # not started yet: the reminder carries the invite's token, which the Telegram sender turns
    # into the deep-link button (a bare /start could not tell which household it is)
    tokens = {r.id: r.token for r in await list_respondents(db, rid)}
    assert all(r.payload["start_token"] == tokens[r.respondent_id] for r in rows)
    assert all("Bấm nút bên dưới" in r.payload["text"] and "/start" not in r.payload["text"] for r in rows)
    # completion and refusal stop further reminders
    await set_status(db, ids[0], "completed", actor="test")
    await set_status(db, ids[1], "refused", actor="test")
    r2 = await tick(db, T0 + 3 * DAY + 3600)
    assert r2.enqueued == 3
    assert {m.respondent_id for m in await list_outbox(db, round_id=rid, kind="reminder")
            if m.dedupe_key.endswith(":2")} == set(ids[2:])
    # at most 2
    assert (await tick(db, T0 + 8 * DAY)).enqueued == 0


async def test_round_closes_itself_at_deadline(db: Database) -> None:
    rid, ids = await make_round(db, 3, closes_at=T0 + 2 * DAY, reminder_policy=POLICY)
    await mark_invited(db, ids, at=T0)
    r = await tick(db, T0 + 2 * DAY + 1)
    assert r.closed_rounds == ["LC2025"] and r.enqueued == 0
    assert (await get_round(db, rid)).status == "closed"
    audit = await list_audit(db, round_id=rid, action="round.close")
    assert audit and audit[0].actor == "scheduler"


async def test_apscheduler_wiring_with_controllable_clock(db: Database) -> None:
    rid, ids = await make_round(db, 4, closes_at=T0 + 10 * DAY, reminder_policy=POLICY)
    await mark_invited(db, ids, at=T0)
    clock = {"now": T0 + 3600}
    sched = ReminderScheduler(db, interval_s=0.1, clock=lambda: clock["now"])
    await sched.start()
    try:
        for _ in range(100):
            if sched.ticks >= 1:
                break
            await asyncio.sleep(0.02)
        assert sched.ticks >= 1 and sched.last.enqueued == 0
        jobs = {j.id for j in sched.scheduler.get_jobs()}
        assert {"reminders:tick", f"close:{rid}"} <= jobs
        clock["now"] = T0 + DAY + 60
        for _ in range(100):
            if len(await list_outbox(db, round_id=rid, kind="reminder")) == 4:
                break
            await asyncio.sleep(0.02)
        assert len(await list_outbox(db, round_id=rid, kind="reminder")) == 4
    finally:
        await sched.stop()
    # a restarted scheduler (fresh in-memory job store) derives the same state: nothing doubled
    sched2 = ReminderScheduler(db, interval_s=60, clock=lambda: clock["now"])
    assert (await sched2.run_tick()).enqueued == 0


async def test_close_job_fires_at_deadline(db: Database) -> None:
    rid, _ = await make_round(db, 2, closes_at=time.time() + 0.4)
    sched = ReminderScheduler(db, interval_s=3600)
    await sched.start()
    try:
        for _ in range(150):
            if (await get_round(db, rid)).status == "closed":
                break
            await asyncio.sleep(0.02)
        assert (await get_round(db, rid)).status == "closed"
    finally:
        await sched.stop()
