"""Several workers on one database: outbox claims, the shared send budget, the scheduler lease.

Each test opens the same database twice (two ``Database`` objects: two workers, each with its
own writer and connections) and runs on both backends; on PostgreSQL the two really commit in
parallel, on SQLite they take turns for the file's write lock.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from storage.db import Database
from storage.leases import SCHEDULER, acquire, current, release
from storage.outbox import OutboxItem, claim_outbox_batch, enqueue_outbox, list_outbox, mark_sent, requeue_stale
from storage.send_budget import debit, take_tokens
from demo.seed import seed_round, tiny_survey


@pytest.fixture
async def workers(db_url):
    a = await Database.open(db_url)
    b = await Database.open(db_url)
    yield a, b
    await a.close()
    await b.close()


async def test_two_workers_claim_disjoint_rows_and_every_row_once(workers):
    a, b = workers
    seeded = await seed_round(a, tiny_survey(), respondents=3)
    items = [OutboxItem("telegram", f"chat{i}", "invite", f"invite:{i}", {"text": "Mời / Invite"},
                        seeded.round.id) for i in range(300)]
    items += [OutboxItem("telegram", "c", "notice", f"notice:{i}", {"text": "x"}) for i in range(20)]
    assert await enqueue_outbox(a, items) == 320
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    # Start barrier: each worker, once it holds its first batch, waits until the other holds
    # one too, so both are claiming while most rows are still pending (without it one worker
    # could drain all 320 before the other's first claim, and the race is not exercised).
    first_claim = {"a": asyncio.Event(), "b": asyncio.Event()}

    async def drain(name: str, db: Database) -> None:
        other = "b" if name == "a" else "a"
        while True:
            rows = await claim_outbox_batch(db, "telegram", 7, worker=name)
            if not rows:
                return
            claimed[name].extend(r.id for r in rows)
            if not first_claim[name].is_set():
                first_claim[name].set()
                await asyncio.wait_for(first_claim[other].wait(), timeout=30)
            for r in rows:
                await mark_sent(db, r.id, f"m{r.id}")

    await asyncio.gather(drain("a", a), drain("b", b))
    ids = claimed["a"] + claimed["b"]
    assert len(ids) == len(set(ids)) == 320          # none twice, none left
    assert claimed["a"] and claimed["b"]              # both took part
    rows = await list_outbox(a)
    assert {r.status for r in rows} == {"sent"} and all(r.attempts == 1 for r in rows)
    by = {r[0]: r[1] for r in await a.fetchall("SELECT claimed_by, COUNT(*) FROM outbox GROUP BY claimed_by")}
    assert by == {"a": len(claimed["a"]), "b": len(claimed["b"])}


async def test_a_dead_workers_rows_return_after_the_lease_and_a_live_ones_do_not(workers):
    a, b = workers
    await enqueue_outbox(a, [OutboxItem("zalo", f"u{i}", "notice", f"n:{i}", {"text": "x"}) for i in range(6)])
    t0 = 1_000_000.0
    dead = await claim_outbox_batch(a, "zalo", 3, at=t0, worker="a")      # a dies with these
    live = await claim_outbox_batch(b, "zalo", 3, at=t0 + 50, worker="b")   # b is sending these
    assert {r.id for r in dead}.isdisjoint(r.id for r in live)
    assert await requeue_stale(b, older_than=60, at=t0 + 70) == 3           # only a's, past the lease
    again = await claim_outbox_batch(b, "zalo", 10, at=t0 + 71, worker="b")
    assert {r.id for r in again} == {r.id for r in dead} and all(r.attempts == 2 for r in again)


async def test_the_send_budget_is_shared_not_per_worker(workers):
    a, b = workers
    t = 5_000.0
    got_a = await take_tokens(a, "telegram", 25, rate=30, burst=30, at=t)
    got_b = await take_tokens(b, "telegram", 25, rate=30, burst=30, at=t)
    assert (got_a, got_b) == (25, 5)                  # one bucket of 30 for both
    assert await take_tokens(b, "telegram", 10, rate=30, burst=30, at=t + 0.1) == 3   # refills at 30/s
    # replies sent in conversations are debited: bulk waits until they are paid back
    assert await debit(a, "telegram", 12, rate=30, burst=30, at=t + 0.2) < 0
    assert await take_tokens(a, "telegram", 10, rate=30, burst=30, at=t + 0.3) == 0
    assert await take_tokens(a, "telegram", 100, rate=30, burst=30, at=t + 10) == 30  # never above burst
    assert await take_tokens(a, "zalo", 5, rate=10, at=t) == 5                      # per channel
    with pytest.raises(ValueError):
        await take_tokens(a, "telegram", 1, rate=0)


async def test_many_workers_taking_at_once_never_exceed_the_bucket(workers):
    a, b = workers
    t = 9_000.0
    got = await asyncio.gather(*(take_tokens(db, "telegram", 3, rate=30, burst=30, at=t)
                                 for db in (a, b) * 20))
    assert sum(got) == 30


async def test_one_scheduler_at_a_time_and_takeover_after_the_lease(workers):
    a, b = workers
    t = 100.0
    first = await acquire(a, SCHEDULER, "worker-a", 10, at=t)
    assert first.held and first.generation == 1
    assert not (await acquire(b, SCHEDULER, "worker-b", 10, at=t + 1)).held        # a holds it
    assert (await acquire(a, SCHEDULER, "worker-a", 10, at=t + 5)).held             # renewed to t+15
    assert not (await acquire(b, SCHEDULER, "worker-b", 10, at=t + 14)).held
    took = await acquire(b, SCHEDULER, "worker-b", 10, at=t + 15.5)                 # a died: b takes over
    assert took.held and took.generation == 2 and took.holder == "worker-b"
    late = await acquire(a, SCHEDULER, "worker-a", 10, at=t + 16)                   # a wakes up: lost it
    assert not late.held and late.holder == "worker-b"
    assert await release(b, SCHEDULER, "worker-b")
    assert (await acquire(a, SCHEDULER, "worker-a", 10, at=t + 17)).held            # released: at once
    assert (await current(b, SCHEDULER)).holder == "worker-a"


async def test_racing_for_an_expired_lease_has_one_winner(workers):
    a, b = workers
    await acquire(a, SCHEDULER, "old", 1, at=0.0)
    results = await asyncio.gather(*(acquire(db, SCHEDULER, f"w{i}", 30, at=50.0)
                                     for i, db in enumerate((a, b) * 5)))
    winners = {r.holder for r in results if r.held}
    assert len(winners) == 1 and all(r.holder in winners for r in results)


async def test_hostile_lease_holders_are_refused(workers):
    a, _ = workers
    for bad in ("", "x" * 201):
        with pytest.raises(ValueError):
            await acquire(a, SCHEDULER, bad, 10)
    with pytest.raises(ValueError):
        await acquire(a, SCHEDULER, "w", 0)
    # a name with quotes and SQL is just a name
    odd = "w'; DROP TABLE leases; --"
    assert (await acquire(a, "job'\"", odd, 5)).held
    assert (await current(a, "job'\"")).holder == odd


async def test_updates_of_one_chat_on_two_workers_are_applied_one_after_the_other(workers):
    """Two workers get the updates of one citizen at once: each loads, steps and commits under
    the chat lock, so every step starts from the other's last commit: no two steps start from
    the same stored state, nothing is lost or applied twice."""
    from demo.seed import scripted_input as next_input
    from support.conversations import expected_conversation

    from engine import step
    from storage.conversations import SqliteConversationStore

    a, b = workers
    seeded = await seed_round(a, tiny_survey(), respondents=1)
    rid = seeded.respondents[0].id
    stores = [SqliteConversationStore(a), SqliteConversationStore(b)]
    claim = await stores[0].claim_invite(seeded.respondents[0].token, "telegram", "chat1")
    survey = await stores[0].survey(claim.session.state.survey_hash)
    answers, _, end_status = expected_conversation(survey, rid)
    seen: list[int] = []

    async def handle(k: int) -> None:
        store = stores[k % 2]
        async with store.chat_lock("telegram", "chat1"):
            session = await store.session_for_chat("telegram", "chat1")
            nxt = next_input(survey, session.state, rid)
            if nxt is None:
                return
            seen.append(await store.db.fetchval("SELECT state_rev FROM responses WHERE id = ?",
                                                (session.response_id,)))
            await asyncio.sleep(0.005)              # the engine and a slow network, in between
            res = step(survey, session.state, nxt[0], 100.0 + k)
            assert await store.commit_step(session, res.state, res.events, "telegram", nxt[1]), (k, nxt, seen)

    await asyncio.gather(*(handle(k) for k in range(12)))
    assert len(seen) == len(set(seen)) >= 5           # each step began where the last one ended
    final = await stores[1].session_for_chat("telegram", "chat1")
    assert final is None or final.state.status == end_status
    rows = await a.fetchall("SELECT step_id, revision, value FROM answers ORDER BY id")
    assert [(r[0], json.loads(r[2])) for r in rows] == answers and all(r[1] == 1 for r in rows)
    assert await a.fetchval("SELECT state_rev FROM responses") == len(seen)


async def test_the_chat_lock_holds_across_processes_on_postgresql(pg_url):
    """Two workers' locks (separate process-local tables, as in two processes) exclude each
    other through PostgreSQL's advisory lock; another chat is not held up."""
    from storage.chat_locks import ChatLocks

    a = await Database.open(pg_url)
    b = await Database.open(pg_url)
    try:
        la, lb = ChatLocks(a), ChatLocks(b)
        lb._local = {}                                  # as if b were another process
        events: list[str] = []

        async def first() -> None:
            async with la.hold("telegram", "42"):
                events.append("a in")
                await asyncio.sleep(0.2)
                events.append("a out")

        async def second() -> None:
            await asyncio.sleep(0.05)
            async with lb.hold("zalo", "42"):           # another chat: not held up
                events.append("b other")
            async with lb.hold("telegram", "42"):
                events.append("b in")

        await asyncio.gather(first(), second())
        assert events == ["a in", "b other", "a out", "b in"] and lb.waits > 0
    finally:
        await a.close()
        await b.close()


async def test_a_take_computed_before_another_workers_never_counts_time_twice(workers):
    """Worker b's take lands first with a later time; a's, computed a moment earlier, adds no
    tokens and does not move the bucket's time back (the interval would be refilled twice)."""
    a, b = workers
    assert await take_tokens(a, "telegram", 30, rate=30, burst=30, at=100.0) == 30
    assert await take_tokens(b, "telegram", 30, rate=30, burst=30, at=101.0) == 30   # 1 s refilled
    assert await take_tokens(a, "telegram", 30, rate=30, burst=30, at=100.5) == 0    # earlier: nothing
    assert await take_tokens(b, "telegram", 30, rate=30, burst=30, at=101.5) == 15   # from 101.0, not 100.5
