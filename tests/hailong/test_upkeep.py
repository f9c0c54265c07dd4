"""``hailong run``'s upkeep (hailong/upkeep.py): idle conversations closed as partial past the
round's expiry, whatever the channel; a failing job tried again; with several workers, each job
run by one worker at a time (its lease), taken over when that worker is gone."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from hailong.upkeep import repeat_forever, upkeep
from storage.leases import current
from storage.respondents import get_respondent
from support.telegram_world import Clock, World, make_world, wired

DAY = 86400.0


@pytest.fixture
async def world(tmp_path):
    w = await make_world(tmp_path, idle_sweep_interval_s=0.05)
    yield w
    await w.close()


async def _status(world: World, rid: int, want: str) -> str:
    for _ in range(200):                         # polls; generous for a loaded CI machine
        status = (await get_respondent(world.db, rid)).status
        if status == want:
            return status
        await asyncio.sleep(0.05)
    return status


async def test_idle_conversations_are_closed_as_partial_after_the_round_expiry(world: World) -> None:
    clock = Clock()
    channel = await wired(world)
    jobs = upkeep(world.db, world.settings, clock=clock)
    try:
        token = world.tokens["sipas-households"][1]
        user = world.emu.user(2010, "Dân 2010")
        await user.start(token)
        await user.wait_for_keyboard()
        await user.press_button("1. ")           # consent
        await user.wait_for_keyboard()
        rid = world.respondent_ids[token]
        assert await _status(world, rid, "started") == "started"

        clock.offset = 13 * DAY                  # within the default 14 days: left alone
        await asyncio.sleep(0.3)                 # several sweeps
        assert (await get_respondent(world.db, rid)).status == "started"

        clock.offset = 14 * DAY + 60             # past the round's expiry
        assert await _status(world, rid, "partial") == "partial"

        # The citizen may still come back: the next answer moves them to started again. Storage
        # stamps the answer with real time, so the sweep's clock returns to real time too (else
        # every 50 ms sweep would find the fresh answer 14 days old and close it again).
        clock.offset = 0
        await user.send_text("41")               # age
        await user.wait_for_keyboard()
        assert await _status(world, rid, "started") == "started"
        await asyncio.sleep(0.3)                 # several sweeps later it is still open
        assert (await get_respondent(world.db, rid)).status == "started"
        assert channel.stats.errors == 0
    finally:
        jobs.cancel()
        with contextlib.suppress(BaseException):
            await jobs


async def test_a_failing_job_is_tried_again_and_stops_when_cancelled(db) -> None:
    calls: list[int] = []

    async def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("disk full")
        return 0

    task = asyncio.ensure_future(repeat_forever(db, "flaky", flaky, 0.02, "did %d"))
    for _ in range(100):
        if len(calls) >= 3:
            break
        await asyncio.sleep(0.02)
    assert len(calls) >= 3                       # kept going after the failure
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    n = len(calls)
    await asyncio.sleep(0.1)
    assert len(calls) == n                       # stopped


async def test_several_workers_run_a_job_once_and_the_next_takes_it_over(db) -> None:
    """Two workers on one database: while the first holds the job's lease only it runs the job;
    once it is gone (its lease runs out) the second does."""
    runs: list[str] = []

    def job_of(name: str):
        async def job() -> int:
            runs.append(name)
            return 0
        return job

    every = 0.2
    a = asyncio.ensure_future(repeat_forever(db, "sweep", job_of("a"), every, "did %d", worker="worker-a"))
    await asyncio.sleep(0.05)                    # a runs first and takes the lease
    b = asyncio.ensure_future(repeat_forever(db, "sweep", job_of("b"), every, "did %d", worker="worker-b"))
    try:
        await asyncio.sleep(every * 5)
        assert runs and set(runs) == {"a"}, runs         # b came round 5 times and found it taken
        assert (await current(db, "upkeep:sweep")).holder == "worker-a"
        a.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await a
        before = len(runs)
        for _ in range(40):
            if "b" in runs[before:]:
                break
            await asyncio.sleep(every / 2)
        assert "b" in runs[before:], runs                # the lease ran out: b took the job over
        assert (await current(db, "upkeep:sweep")).holder == "worker-b"
    finally:
        for t in (a, b):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
