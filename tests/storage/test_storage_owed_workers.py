"""Owed replies with several workers: a starting worker shows the question again only to chats
whose replies a *dead* worker owed (the step is older than ``OWED_GRACE_S``), not to chats a
live worker is answering right now (on SQLite, one process: every owed reply is this one's)."""

from __future__ import annotations

import asyncio


from demo.seed import seed_round, tiny_survey
from engine import step
from engine.types import Start
from storage.conversations import OWED_GRACE_S, SqliteConversationStore
from support.conversations import started_session


async def test_a_reply_owed_by_a_live_worker_is_not_taken_over(db):
    seeded = await seed_round(db, tiny_survey(), respondents=2)
    t = [1_000_000.0]
    store = SqliteConversationStore(db, clock=lambda: t[0])
    claim = await store.claim_invite(seeded.respondents[0].token, "telegram", "c1", update_key="u0")
    session = claim.session
    survey = await store.survey(session.state.survey_hash)
    res = step(survey, session.state, Start(), t[0])
    assert await store.commit_step(session, res.state, res.events, "telegram", "u1")
    # the worker that committed is sending its replies (or died): not reported sent yet
    starting = SqliteConversationStore(db, clock=lambda: t[0] + 1)
    shared = db.backend == "postgresql"
    assert [s.chat_id for s in await starting.owed_replies("telegram")] == ([] if shared else ["c1"])
    later = SqliteConversationStore(db, clock=lambda: t[0] + OWED_GRACE_S + 1)
    assert [s.chat_id for s in await later.owed_replies("telegram")] == ["c1"]     # its worker died
    store.replies_sent(session)
    await db.fetchval("SELECT 1")                 # let the writer settle the "sent" mark
    for _ in range(50):
        if not await later.owed_replies("telegram"):
            break
        await asyncio.sleep(0.02)
    assert await later.owed_replies("telegram") == []


async def test_a_redelivery_finds_the_reply_owed_only_when_nobody_alive_sends_it(db):
    """``replies_owed``: the question is shown again on a redelivery only when the step's replies
    were never reported sent by a store that is still around (the worker died), once."""
    seeded = await seed_round(db, tiny_survey(), respondents=1)
    dying = SqliteConversationStore(db)
    session, _survey = await started_session(dying, seeded.respondents[0].token, "c9")
    assert await dying.replies_owed(session) is False          # its own: being sent right now
    other = SqliteConversationStore(db)
    again = await other.session_for_chat("telegram", "c9")
    assert await other.replies_owed(again) is True              # the dying worker never said "sent"
    assert await other.replies_owed(again) is False             # owed by `other` now: shown once
    other.replies_sent(again)
    assert await other.replies_owed(again) is False             # its "sent" mark is on its way
    await db.fetchval("SELECT 1")
    for _ in range(50):
        if not other._marking:
            break
        await asyncio.sleep(0.02)
    third = SqliteConversationStore(db)
    assert await third.replies_owed(await third.session_for_chat("telegram", "c9")) is False
