"""The per-chat session cache (``SqliteConversationStore.session_for_chat(cached=True)``): a chat's
next update starts from the state its last step committed, without a read, and a step built on a
cached session that is out of date is refused (``StaleSession``), with nothing stored, whoever
changed the response: another store of the process (the page), another process, or an operation
that may move a binding (the writer's session epoch)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from demo.seed import seed_round, tiny_survey
from engine import step
from engine.types import TypedText
from storage.api import StaleSession
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.leases import acquire
from storage.outbox import OutboxItem, claim_outbox_batch, enqueue_outbox, mark_sent
from storage.responses import current_answers
from storage.send_budget import debit
from support.conversations import started_session


async def started(tmp_path: Path) -> tuple[Database, SqliteConversationStore, object]:
    db = await Database.open(str(tmp_path / "c.db"))
    seeded = await seed_round(db, tiny_survey(), respondents=2)
    store = SqliteConversationStore(db)
    _session, survey = await started_session(store, seeded.respondents[0].token, "c1")
    return db, store, survey


async def answer(store: SqliteConversationStore, survey, session, text: str, key: str) -> bool:
    res = step(survey, session.state, TypedText(text), 2.0)
    return await store.commit_step(session, res.state, res.events, "telegram", key)


async def test_a_chat_answers_from_its_cached_session_without_a_read(tmp_path: Path) -> None:
    db, store, survey = await started(tmp_path)
    try:
        first = await store.session_for_chat("telegram", "c1", cached=True)   # read (after a claim)
        assert first is not None and not first.cached
        reads = 0
        real_read = db.read

        async def counting(fn):
            nonlocal reads
            reads += 1
            return await real_read(fn)
        db.read = counting                       # type: ignore[method-assign]
        hit = await store.session_for_chat("telegram", "c1", cached=True)
        assert hit.cached and hit.state is first.state
        res = step(survey, hit.state, TypedText("1"), 2.0)
        assert await store.commit_step(hit, res.state, res.events, "telegram", "u2")
        after = await store.session_for_chat("telegram", "c1", cached=True)
        assert after.cached and after.state is res.state                     # what the step committed
        assert await answer(store, survey, after, "4", "u3")
        assert reads == 0
        fresh = await store.session_for_chat("telegram", "c1")                # not asked for: a read
        assert reads == 1 and not fresh.cached
        assert (await current_answers(db, fresh.response_id)) == {"q1": 1, "q2": 4}
    finally:
        await db.close()


async def test_a_step_on_a_session_another_store_moved_on_is_refused_and_stores_nothing(tmp_path: Path) -> None:
    """The page (another store of the process) answered q1 after the chat's session was cached:
    the chat's step on its cached q1 is refused, not written over the page's answer."""
    db, store, survey = await started(tmp_path)
    try:
        await store.session_for_chat("telegram", "c1", cached=True)
        cached = await store.session_for_chat("telegram", "c1", cached=True)
        assert cached.cached
        page = SqliteConversationStore(db)
        there = await page.session_for_chat("telegram", "c1")
        assert await answer(page, survey, there, "2", "page-1")                  # q1: no (0)
        with pytest.raises(StaleSession):
            await answer(store, survey, cached, "1", "u2")
        assert not await store.is_processed("telegram", "u2")                    # the key is not spent
        fresh = await store.session_for_chat("telegram", "c1", cached=True)
        assert not fresh.cached and fresh.state.current == "q2"
        assert await answer(store, survey, fresh, "5", "u2")                     # handled again: q2
        assert (await current_answers(db, fresh.response_id)) == {"q1": 0, "q2": 5}
    finally:
        await db.close()


async def test_another_process_committing_moves_the_epoch_and_the_step_is_refused(tmp_path: Path) -> None:
    db, store, survey = await started(tmp_path)
    try:
        await store.session_for_chat("telegram", "c1", cached=True)
        cached = await store.session_for_chat("telegram", "c1", cached=True)
        assert cached.cached
        # another process (a staff command) changes the response behind the bot's back
        other = sqlite3.connect(str(tmp_path / "c.db"))
        other.execute("UPDATE responses SET state_rev = state_rev + 1 WHERE id = ?", (cached.response_id,))
        other.commit()
        other.close()
        with pytest.raises(StaleSession):
            await answer(store, survey, cached, "1", "u2")
        assert not await store.is_processed("telegram", "u2")
        again = await store.session_for_chat("telegram", "c1", cached=True)
        assert not again.cached                                               # read, not the old one
        assert await answer(store, survey, again, "1", "u2")
    finally:
        await db.close()


async def test_an_operation_that_may_move_a_binding_ends_every_cached_session(tmp_path: Path) -> None:
    """Any write that is not a step (here: the round closed by staff) moves the epoch on: the
    cache is not trusted after it, and the chat's next read finds no open session."""
    db, store, _survey = await started(tmp_path)
    try:
        await store.session_for_chat("telegram", "c1", cached=True)
        assert (await store.session_for_chat("telegram", "c1", cached=True)).cached
        await db.write(lambda conn: conn.execute("UPDATE rounds SET status = 'closed'"))
        assert await store.session_for_chat("telegram", "c1", cached=True) is None
    finally:
        await db.close()


async def test_a_cached_step_in_a_batch_after_an_epoch_move_is_refused_alone(tmp_path: Path) -> None:
    """In one group commit: an operation that moves the epoch, then a step built on a session
    cached before it. The step is refused (nothing of it stored), the operation commits."""
    db, store, survey = await started(tmp_path)
    try:
        await store.session_for_chat("telegram", "c1", cached=True)
        cached = await store.session_for_chat("telegram", "c1", cached=True)
        moved = db.write(lambda conn: conn.execute("UPDATE units SET name = name"))   # queued first
        with pytest.raises(StaleSession):
            await answer(store, survey, cached, "1", "u2")
        await moved
        assert not await store.is_processed("telegram", "u2")
        assert (await current_answers(db, cached.response_id)) == {}
    finally:
        await db.close()


async def test_outbox_lease_and_budget_writes_keep_the_cached_sessions(tmp_path: Path) -> None:
    """Invites and reminders go out while citizens answer: those writes touch no binding or
    response, so they leave the cache alone (``storage.writer.keeps_sessions``)."""
    db, store, _survey = await started(tmp_path)
    try:
        await store.session_for_chat("telegram", "c1", cached=True)
        await enqueue_outbox(db, [OutboxItem("telegram", "777", "invite", "inv:777", {"text": "Mời"})])
        [msg] = await claim_outbox_batch(db, "telegram", 10)
        await mark_sent(db, msg.id, "m1")
        await acquire(db, "upkeep:test", "me", 30.0)
        await debit(db, "telegram", 1, rate=30.0)
        assert (await store.session_for_chat("telegram", "c1", cached=True)).cached
    finally:
        await db.close()
