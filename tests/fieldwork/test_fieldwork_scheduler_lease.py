"""Reminders and deadlines on one worker at a time: the scheduler lease with takeover (both
backends; two ``Database`` objects on one database are two workers)."""

from __future__ import annotations

import asyncio
import time

import pytest

from fieldwork.reminders import ReminderScheduler
from storage.db import Database
from storage.leases import SCHEDULER, current
from storage.rounds import get_round
from support.db import make_round

LEASE_S = 1.5


@pytest.fixture
async def two(db_url):
    a = await Database.open(db_url)
    b = await Database.open(db_url)
    yield a, b
    await a.close()
    await b.close()


async def _until(cond, timeout: float) -> float:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
    return time.monotonic() - t0


async def test_one_worker_ticks_and_another_takes_over_when_it_dies(two):
    a, b = two
    rid, _ = await make_round(a, 3, closes_at=time.time() + 2.5)
    first = ReminderScheduler(a, holder="worker-a", lease_s=LEASE_S, interval_s=0.2)
    second = ReminderScheduler(b, holder="worker-b", lease_s=LEASE_S, interval_s=0.2)
    await first.start()
    await second.start()
    try:
        await asyncio.sleep(0.6)
        assert first.holding and not second.holding
        assert first.ticks >= 1 and second.ticks == 0           # only the holder does the work
        assert await second.run_tick() is None
        # worker a dies: its jobs stop, its lease is not released
        first.scheduler.shutdown(wait=False)
        died = time.monotonic()
        took = await _until(lambda: second.holding and second.ticks > 0, LEASE_S * 4 / 3 + 3.0)
        assert took <= LEASE_S * 4 / 3 + 1.5                    # (slack: a loaded machine)
        assert not first.holding                                # it stopped by itself, in time
        assert time.monotonic() - died >= LEASE_S * 0.5         # never while a's lease still ran
        lease = await current(a, SCHEDULER)
        assert lease is not None and lease.holder == "worker-b" and lease.generation == 2
        # the round's deadline passes after the takeover: the new holder closes it
        await _until(lambda: False if second.last is None else bool(second.last.closed_rounds), 4.0)
        assert (await get_round(a, rid)).status == "closed"
    finally:
        await second.stop()
        if first.scheduler.running:
            first.scheduler.shutdown(wait=False)


async def test_a_clean_stop_hands_the_lease_over_at_once(two):
    a, b = two
    first = ReminderScheduler(a, holder="worker-a", lease_s=30.0, interval_s=60)
    await first.start()
    assert first.holding and first.ticks == 1
    await first.stop()
    second = ReminderScheduler(b, holder="worker-b", lease_s=30.0, interval_s=60)
    await second.start()                   # no 30 s wait: the lease was given up
    try:
        assert second.holding and second.ticks == 1
    finally:
        await second.stop()


async def test_a_lease_that_cannot_be_renewed_stops_the_ticks(two, monkeypatch):
    a, _ = two
    s = ReminderScheduler(a, holder="worker-a", lease_s=LEASE_S, interval_s=60)
    await s.start()
    try:
        assert s.holding

        async def broken(*args, **kwargs):
            raise RuntimeError("database unreachable")

        monkeypatch.setattr("fieldwork.reminders.acquire_lease", broken)
        await _until(lambda: not s.holding, LEASE_S + 0.5)     # no renewal: stops before expiry
        assert await s.run_tick() is None
    finally:
        await s.stop()


async def test_without_a_holder_the_scheduler_is_unchanged(two):
    a, _ = two
    s = ReminderScheduler(a, interval_s=60)
    await s.start()
    try:
        await _until(lambda: s.ticks == 1, 3.0)
        assert s.holding and await current(a, SCHEDULER) is None
    finally:
        await s.stop()


async def test_bad_lease_settings_are_refused(two):
    a, _ = two
    with pytest.raises(ValueError):
        ReminderScheduler(a, holder="w", lease_s=0)
    for holder in ("", "x" * 201):
        with pytest.raises(ValueError, match="holder"):
            ReminderScheduler(a, holder=holder, lease_s=5)
