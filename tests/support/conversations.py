"""The in-memory oracle of a scripted citizen's conversation (what they answer, what is asked
next, how it ends), against which the crash and worker tests compare what storage holds; and a
citizen answering through the store as a channel would."""

from __future__ import annotations

import time
from typing import Any

from demo.seed import scripted_input as next_input
from engine import new_state, step
from engine.types import AnswerSet, Input, Start
from storage.api import Session
from storage.conversations import SqliteConversationStore
from survey_defs.schema import Survey


def expected_conversation(survey: Survey, rid: int) -> tuple[list[tuple[str, Any]], list[str | None], str]:
    """In memory: the answers this citizen gives, the current question after k answers, the end status."""
    st = new_state(survey)
    answers: list[tuple[str, Any]] = []
    after: list[str | None] = []
    t = 1_000.0
    while True:
        nxt = next_input(survey, st, rid)
        if nxt is None:
            break
        res = step(survey, st, nxt[0], t)
        t += 1
        assert res.state.seq != st.seq or res.events or res.state != st, f"policy stuck at {st.current}"
        if isinstance(nxt[0], Start):
            after.append(res.state.current)
        for ev in res.events:
            if isinstance(ev, AnswerSet):
                answers.append((ev.step_id, ev.value))
                after.append(None)
        if answers and any(isinstance(ev, AnswerSet) for ev in res.events):
            after[-1] = res.state.current
        st = res.state
        assert len(answers) < 500
    return answers, after, st.status


async def answer_through_store(store: SqliteConversationStore, token: str, chat: str,
                               inputs: list[Input]) -> int:
    """Claim ``token`` on a Telegram ``chat`` and commit ``inputs`` one step at a time through
    the store, as a channel would (one update key per input); the response id."""
    claim = await store.claim_invite(token, "telegram", chat)
    s = claim.session
    survey = await store.survey(s.state.survey_hash)
    res = step(survey, s.state, Start(), time.time())
    assert await store.commit_step(s, res.state, res.events, "telegram", f"{chat}:start")
    for i, inp in enumerate(inputs):
        session = await store.session_for_chat("telegram", chat)
        res = step(survey, session.state, inp, time.time())
        assert await store.commit_step(session, res.state, res.events, "telegram", f"{chat}:{i}")
    return s.response_id


async def started_session(store: SqliteConversationStore, token: str, chat_id: str) -> tuple[Session, Survey]:
    """A Telegram chat that claimed the invite ``token`` (update "u0") and started the survey
    (update "u1", committed): the session as claimed, and the survey."""
    session = (await store.claim_invite(token, "telegram", chat_id, update_key="u0")).session
    survey = await store.survey(session.state.survey_hash)
    res = step(survey, session.state, Start(), 1.0)
    assert await store.commit_step(session, res.state, res.events, "telegram", "u1")
    return session, survey
