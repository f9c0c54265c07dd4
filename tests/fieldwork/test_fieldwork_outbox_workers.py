"""The outbox loop of several workers: one channel rate limit for all of them (``SendBudget``),
replies before bulk across workers, every row sent once. Runs on both backends (two ``Database``
objects on one database: two workers)."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from fieldwork.outbox import OutboxSender, SendBudget
from storage.db import Database
from storage.outbox import OutboxItem, enqueue_outbox, list_outbox


class TimedSender:
    """A channel double that records when each row went out (and whose channel "sent replies")."""

    channel = "telegram"

    def __init__(self, log: list[tuple[float, int, str]], name: str) -> None:
        self.log = log
        self.name = name
        self.replies = 0

    async def send(self, message):  # noqa: ANN001, ANN201
        self.log.append((time.monotonic(), message.id, self.name))
        await asyncio.sleep(0)
        return f"m{message.id}"

    def interactive_sent(self) -> int:
        return self.replies


@pytest.fixture
async def two(db_url):
    a = await Database.open(db_url)
    b = await Database.open(db_url)
    yield a, b
    await a.close()
    await b.close()


async def _queue(db: Database, n: int) -> None:
    await enqueue_outbox(db, [OutboxItem("telegram", f"{1000 + i}", "notice", f"n:{i}", {"text": "Thông báo / Notice"})
                              for i in range(n)])


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


async def test_two_workers_keep_one_rate_together_and_send_every_row_once(two):
    a, b = two
    rate, seconds = 40.0, 2.0
    await _queue(a, 400)
    log: list[tuple[float, int, str]] = []
    stop = asyncio.Event()
    senders = [OutboxSender(db, TimedSender(log, name), budget=SendBudget(rate, burst=10), worker=name,
                            poll_interval=0.1) for db, name in ((a, "w1"), (b, "w2"))]
    runs = [asyncio.create_task(s.run(until_idle=False, stop=stop)) for s in senders]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*runs)
    times = [t for t, _, _ in log]
    ids = [i for _, i, _ in log]
    assert len(ids) == len(set(ids))                               # none twice
    assert {w for _, _, w in log} == {"w1", "w2"}                   # both sent
    span = max(times) - min(times)
    assert len(log) <= rate * span + 10 + 1                         # the shared cap, not 2 × rate
    assert len(log) >= 0.4 * rate * seconds                         # and near it (a loaded machine stalls)
    # any second: the rate plus the bucket, plus what each worker took just before (sent a moment later)
    assert _max_in_window(times, 1.0) <= rate + 10 + 2 * SendBudget(rate, burst=10).take_at_most
    sent = [r for r in await list_outbox(a, status="sent")]
    assert sorted(r.id for r in sent) == sorted(ids)
    claimed_by = {r[0] for r in await a.fetchall("SELECT DISTINCT claimed_by FROM outbox WHERE status = 'sent'")}
    assert claimed_by == {"w1", "w2"}


async def test_replies_on_one_worker_hold_back_the_bulk_of_another(two):
    a, b = two
    rate = 20.0
    await _queue(a, 200)
    log: list[tuple[float, int, str]] = []
    busy = TimedSender(log, "answering")          # its channel is busy with citizens' replies
    stop = asyncio.Event()
    bulk_a = OutboxSender(a, busy, budget=SendBudget(rate, burst=5), worker="a", poll_interval=0.05)
    bulk_b = OutboxSender(b, TimedSender(log, "b"), budget=SendBudget(rate, burst=5), worker="b", poll_interval=0.05)
    runs = [asyncio.create_task(s.run(until_idle=False, stop=stop)) for s in (bulk_a, bulk_b)]

    async def replies() -> None:                  # 18 replies a second on worker a: 90% of the cap
        while not stop.is_set():
            busy.replies += 1
            await asyncio.sleep(1 / 18)

    chat = asyncio.create_task(replies())
    await asyncio.sleep(0.5)
    log.clear()
    t0 = time.monotonic()
    await asyncio.sleep(2.0)
    bulk = len(log)
    elapsed = time.monotonic() - t0
    stop.set()
    await asyncio.gather(*runs, chat)
    # without the replies the two would send ~40 in 2 s; with them, what the replies left over
    assert bulk <= (rate - 18) * elapsed + 5 + 6, bulk


def test_a_send_budget_refuses_nonsense():
    for bad in (0, -1, math.nan, math.inf * 0):
        with pytest.raises(ValueError):
            SendBudget(bad)
    with pytest.raises(ValueError):
        SendBudget(30, burst=0.5)
    assert SendBudget(30).take_at_most == 7 and SendBudget(2).take_at_most == 1   # a quarter second
    assert SendBudget(1000, burst=5).take_at_most == 5


async def test_without_a_budget_the_sender_is_unchanged(two):
    a, _ = two
    await _queue(a, 50)
    log: list[tuple[float, int, str]] = []
    stats = await OutboxSender(a, TimedSender(log, "solo")).run(until_idle=True, max_seconds=10)
    assert stats.sent == 50 and not await a.fetchval("SELECT COUNT(*) FROM send_budget")
