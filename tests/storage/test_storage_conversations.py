"""SqliteConversationStore: exactly-once commits, double taps, revisions, claims, walk-ins."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from engine import new_state, step
from engine.types import AnswerCleared, AnswerSet, Choose, Command, Done, Start, State, StatusChanged
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.respondents import get_respondent, set_status
from storage.responses import answer_history, current_answers, state_to_json
from storage.rounds import close_round, create_round, open_round
from demo.seed import seed_round, tiny_survey


@pytest.fixture
async def db(db_url):
    d = await Database.open(db_url)
    yield d
    await d.close()


@pytest.fixture
async def seeded(db):
    return await seed_round(db, tiny_survey(), respondents=5, allow_walk_in=True)


@pytest.fixture
def store(db):
    return SqliteConversationStore(db)


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for t in ("answers", "answers_current", "responses", "respondents", "processed_updates", "chat_bindings"):
        out[t] = [tuple(r) for r in await db.fetchall(f"SELECT * FROM {t} ORDER BY 1, 2")]
    return out


def same_state(a: State, b: State) -> bool:
    """Equal states; paradata timestamps are stored to the microsecond."""
    da, db_ = json.loads(a.to_json()), json.loads(b.to_json())
    ma, mb = da.pop("meta"), db_.pop("meta")
    if da != db_ or ma.keys() != mb.keys():
        return False
    for k in ma:
        for f in ("asked_at", "answered_at"):
            x, y = ma[k][f], mb[k][f]
            if (x is None) != (y is None) or (x is not None and abs(x - y) > 1e-6):
                return False
        if ma[k]["changes"] != mb[k]["changes"]:
            return False
    return True


async def start(store, seeded, i=0, channel="telegram", chat="c1"):
    claim = await store.claim_invite(seeded.respondents[i].token, channel, chat)
    assert claim.status == "ok"
    s = claim.session
    survey = await store.survey(s.state.survey_hash)
    res = step(survey, s.state, Start(), time.time())
    assert await store.commit_step(s, res.state, res.events, channel, f"{chat}:start")
    return s, survey, res.state


async def test_same_update_twice_changes_nothing(db, store, seeded):
    s, survey, st = await start(store, seeded)
    res = step(survey, st, Choose("q1", 1), time.time())
    assert await store.commit_step(s, res.state, res.events, "telegram", "u-100") is True
    before = await snapshot(db)
    assert await store.is_processed("telegram", "u-100")
    # Redelivered update: even with a different computed state, nothing is written.
    res2 = step(survey, res.state, Choose("q2", 5), time.time())
    assert await store.commit_step(s, res2.state, res2.events, "telegram", "u-100") is False
    assert await snapshot(db) == before
    # The same key on another channel is another update.
    assert await store.commit_step(s, res2.state, res2.events, "zalo", "u-100") is True


async def test_double_tap_is_one_revision(db, store, seeded):
    s, survey, st = await start(store, seeded)
    ev = (AnswerSet("q1", 1, 1.0),)
    st.answers["q1"] = 1
    assert await store.commit_step(s, st, ev, "telegram", "tap-1")
    assert await store.commit_step(s, st, (AnswerSet("q1", 1, 2.0),), "telegram", "tap-2")
    hist = await answer_history(db, s.response_id)
    assert [(h.step_id, h.revision, h.value) for h in hist] == [("q1", 1, 1)]
    # multiple choice in another order is the same answer too
    assert await store.commit_step(s, st, (AnswerSet("q3", [1, 3], 3.0),), "telegram", "m-1")
    assert await store.commit_step(s, st, (AnswerSet("q3", [3, 1], 4.0),), "telegram", "m-2")
    assert [h.revision for h in await answer_history(db, s.response_id) if h.step_id == "q3"] == [1]


async def test_edit_keeps_history_and_clear_removes_current(db, store, seeded):
    s, survey, st = await start(store, seeded)
    for i, (step_id, v) in enumerate([("q1", 1), ("q2", 3), ("q2", 5)]):
        assert await store.commit_step(s, st, (AnswerSet(step_id, v, float(i)),), "telegram", f"e{i}")
    assert await store.commit_step(s, st, (AnswerCleared("q1", 9.0), AnswerCleared("q3", 9.0)), "telegram", "c")
    hist = [(h.step_id, h.revision, h.value, h.cleared) for h in await answer_history(db, s.response_id)]
    assert hist == [("q1", 1, 1, False), ("q2", 1, 3, False), ("q2", 2, 5, False), ("q1", 2, None, True)]
    assert await current_answers(db, s.response_id) == {"q2": 5}
    # answering a cleared step again continues its revision numbers
    assert await store.commit_step(s, st, (AnswerSet("q1", 0, 10.0),), "telegram", "again")
    assert [(h.revision, h.value) for h in await answer_history(db, s.response_id) if h.step_id == "q1"] == [
        (1, 1), (2, None), (3, 0)]
    # the denormalised table always equals the view derived from history
    view = [tuple(r) for r in await db.fetchall("SELECT * FROM current_answers ORDER BY 1, 2")]
    table = [tuple(r) for r in await db.fetchall("SELECT * FROM answers_current ORDER BY 1, 2")]
    assert view == table


async def test_full_conversation_statuses_and_resume(db, store, seeded):
    s, survey, st = await start(store, seeded)
    r = await get_respondent(db, s.respondent_id)
    assert r.status == "opened" and r.opened_at is not None
    inputs = [Choose("q1", 1), Choose("q2", 4), Choose("q3", 2), Done("q3"), Command("submit")]
    statuses = []
    for i, inp in enumerate(inputs):
        session = await store.session_for_chat("telegram", "c1")
        assert same_state(session.state, st)  # resumes exactly where it was
        res = step(survey, session.state, inp, time.time())
        assert await store.commit_step(session, res.state, res.events, "telegram", f"k{i}")
        st = res.state
        statuses.append((await get_respondent(db, s.respondent_id)).status)
    assert statuses == ["started", "started", "started", "started", "completed"]
    assert await current_answers(db, s.response_id) == {"q1": 1, "q2": 4, "q3": [2]}
    row = await db.fetchone("SELECT status, outcome, submitted_at, channel FROM responses WHERE id = ?",
                            (s.response_id,))
    assert (row[0], row[1], row[3]) == ("submitted", "complete", "telegram") and row[2] is not None
    assert (await store.claim_invite(seeded.respondents[0].token, "telegram", "c1")).status == "completed"
    # another chat learns nothing: the same answer as for a code that does not exist
    assert (await store.claim_invite(seeded.respondents[0].token, "zalo", "z")).status == "unknown"


async def test_refusal_and_ineligible_transitions(db, store, seeded):
    s, survey, st = await start(store, seeded)
    assert await store.commit_step(s, st, (StatusChanged("ended", "refused", 1.0),), "telegram", "stop")
    assert (await get_respondent(db, s.respondent_id)).status == "refused"
    assert (await store.claim_invite(seeded.respondents[0].token, "telegram", "c1")).status == "withdrawn"
    s2, _, st2 = await start(store, seeded, i=1, chat="c2")
    assert await store.commit_step(s2, st2, (AnswerSet("q1", 0, 1.0), StatusChanged("ended", "ineligible", 1.0)),
                                   "telegram", "x")
    assert (await get_respondent(db, s2.respondent_id)).status == "ineligible"
    assert (await store.claim_invite(seeded.respondents[1].token, "telegram", "c2")).status == "completed"


async def test_claim_by_card_code_variants_and_unknown(db, store, seeded):
    code = seeded.respondents[2].card_code
    for typed in (code, code.lower(), f"KS {code}", f" ks-{code[:3]} {code[3:]} ", f"KS:{code.lower()}"):
        c = await store.claim_invite(typed, "telegram", "c9")
        assert c.status == "ok", typed
        assert c.session.respondent_id == seeded.respondents[2].id
    for junk in ("", "   ", "KS", "ZZZZZZ0", "x" * 500, "OOOOOO", "/start", "😀" * 6,
                 "A" * 23 + "-", seeded.respondents[2].token[:-1] + "?"):
        assert (await store.claim_invite(junk, "telegram", f"c9-{junk[:9]}")).status in ("unknown", "typo"), junk


async def test_a_mistyped_card_code_is_unknown_never_another_household(db, store, seeded):
    """The check character catches every single-character typo and every swap of neighbours:
    such a code is "unknown" (the channel asks again), it never claims someone else."""
    from storage.credentials import CODE_ALPHABET as CARD_ALPHABET

    code = seeded.respondents[1].card_code
    typos = {code[:i] + ch + code[i + 1:] for i in range(len(code)) for ch in CARD_ALPHABET if ch != code[i]}
    typos |= {code[:i] + code[i + 1] + code[i] + code[i + 2:] for i in range(len(code) - 1) if code[i] != code[i + 1]}
    before = await db.fetchval("SELECT COUNT(*) FROM chat_bindings")
    for n, typo in enumerate(sorted(typos)):     # many chats: one chat would be limited after 5
        assert (await store.claim_invite(f"KS {typo}", "zalo", f"typo{n}")).status == "typo", typo
    assert await db.fetchval("SELECT COUNT(*) FROM chat_bindings") == before
    assert (await store.claim_invite(f"KS {code}", "zalo", "typo")).status == "ok"


async def test_claim_on_second_channel_continues_same_response(db, store, seeded):
    s, survey, st = await start(store, seeded, channel="zalo", chat="z1")
    res = step(survey, st, Choose("q1", 1), time.time())
    assert await store.commit_step(s, res.state, res.events, "zalo", "z-1")
    assert (await store.claim_invite(seeded.respondents[0].card_code, "telegram", "t1")).status == "held"
    assert (await store.decide_handover("zalo", "z1", allow=True)).status == "allowed"
    c = await store.claim_invite(seeded.respondents[0].card_code, "telegram", "t1")
    assert c.status == "ok"
    assert c.session.state.hidden == []                    # the holder vouched for the new chat
    assert c.session.response_id == s.response_id
    assert c.session.state.current == "q2" and c.session.state.answers == {"q1": 1}
    # the allowed chat drives the response now, the old chat no longer does
    assert await store.session_for_chat("zalo", "z1") is None
    assert (await store.session_for_chat("telegram", "t1")).response_id == s.response_id
    assert await db.fetchval("SELECT COUNT(*) FROM responses WHERE respondent_id = ?", (s.respondent_id,)) == 1


async def test_claim_closed_and_draft_rounds(db, store, seeded):
    await start(store, seeded)                             # chat c1 holds respondent 0
    await close_round(db, seeded.round.id)
    assert (await store.claim_invite(seeded.respondents[0].token, "telegram", "c1")).status == "closed"
    assert (await store.claim_invite(seeded.respondents[0].token, "telegram", "c")).status == "unknown"
    draft = await seed_round(db, tiny_survey("tiny2"), respondents=1, code="R2", open_=False, frame="f2")
    assert (await store.claim_invite(draft.respondents[0].token, "telegram", "c")).status == "unknown"
    await open_round(db, draft.round.id)
    assert (await store.claim_invite(draft.respondents[0].token, "telegram", "c")).status == "ok"


async def test_session_none_when_round_closes_and_substituted_is_withdrawn(db, store, seeded):
    await start(store, seeded)
    assert await store.session_for_chat("telegram", "c1") is not None
    await set_status(db, seeded.respondents[3].id, "substituted", actor="staff", reason="moved away")
    assert (await store.claim_invite(seeded.respondents[3].token, "telegram", "c3")).status == "unknown"
    await close_round(db, seeded.round.id)
    assert await store.session_for_chat("telegram", "c1") is None
    # a conversation begun but unfinished at close is a partial
    assert (await get_respondent(db, seeded.respondents[0].id)).status in ("opened", "partial")


async def test_concurrent_claims_make_one_response(db, store, seeded):
    import asyncio

    claims = await asyncio.gather(*(store.claim_invite(seeded.respondents[4].token, "telegram", f"c{i}")
                                    for i in range(20)))
    assert {c.status for c in claims} == {"ok"}
    assert len({c.session.response_id for c in claims}) == 1
    assert await db.fetchval("SELECT COUNT(*) FROM chat_bindings WHERE respondent_id = ?",
                             (seeded.respondents[4].id,)) == 1


async def test_walk_in(db, store, seeded):
    s1 = await store.open_walk_in("telegram", "w1")
    assert s1 is not None and s1.state.status == "new"
    again = await store.open_walk_in("telegram", "w1")
    assert again.respondent_id == s1.respondent_id and again.response_id == s1.response_id
    s2 = await store.open_walk_in("telegram", "w2")
    assert s2.respondent_id != s1.respondent_id
    row = await db.fetchone("SELECT p.walk_in, u.kind, p.status FROM respondents p JOIN units u ON u.id = p.unit_id"
                            " WHERE p.id = ?", (s1.respondent_id,))
    assert tuple(row) == (1, "walk_in", "opened")
    assert (await store.session_for_chat("telegram", "w1")).response_id == s1.response_id


async def test_walk_in_refused_when_not_allowed(db, store):
    await seed_round(db, tiny_survey(), respondents=1, allow_walk_in=False)
    assert await store.open_walk_in("telegram", "w1") is None


async def test_survey_by_hash_is_the_pinned_definition(db, store, seeded):
    s = await store.survey(seeded.round.survey_hash)
    assert s == tiny_survey() and s.content_hash == seeded.round.survey_hash
    with pytest.raises(KeyError):
        await store.survey("0" * 64)


async def test_mark_unreachable_and_comeback(db, store, seeded):
    s, survey, st = await start(store, seeded)
    await store.mark_unreachable(s.respondent_id, "telegram 403")
    r = await get_respondent(db, s.respondent_id)
    assert (r.status, r.status_reason) == ("unreachable", "telegram 403")
    res = step(survey, st, Choose("q1", 1), time.time())
    assert await store.commit_step(s, res.state, res.events, "telegram", "back")
    assert (await get_respondent(db, s.respondent_id)).status == "started"


async def test_fast_state_json_equals_contract(db, store, seeded):
    survey = tiny_survey()
    st = new_state(survey)
    for inp in (Start(), Choose("q1", 1), Choose("q2", 4), Choose("q3", 2)):
        st = step(survey, st, inp, 1234.5).state
    assert same_state(State.from_json(state_to_json(st)), st)
    assert st.meta  # the case with paradata is covered
    st.meta["q1"].asked_at = None
    st.meta["q2"].changes = 3
    st.answers["q9"] = "Ý kiến: “tốt” \\ \n"
    assert same_state(State.from_json(state_to_json(st)), st)
    assert not same_state(State.from_json(state_to_json(st)), new_state(survey))


async def test_new_round_pins_its_own_version(db, store):
    a = tiny_survey(version="1")
    b = tiny_survey(version="2")
    ra = await create_round(db, code="A", survey=a)
    rb = await create_round(db, code="B", survey=b)
    assert ra.survey_hash != rb.survey_hash
    assert (await store.survey(rb.survey_hash)).version == "2"


@pytest.mark.parametrize("reload_each_step", [True, False])
async def test_loaded_state_is_exactly_the_committed_state(db, store, seeded, reload_each_step):
    """Cursor + answers_current + paradata rows rebuild the engine State exactly, after answers,
    back, edits, skips and clears: by delta (session reloaded per update, as channels do) and by
    full rewrite (a session kept across steps)."""
    import random

    from engine import compile_survey

    rng = random.Random(7 if reload_each_step else 8)
    claim = await store.claim_invite(seeded.respondents[0].token, "telegram", "exact")
    session = claim.session
    survey = await store.survey(session.state.survey_hash)
    compiled = compile_survey(survey)
    st = session.state
    t = 1_000.0
    for i in range(120):
        if st.status in ("submitted", "ended"):
            break
        cur = st.current
        sp = compiled.by_id.get(cur) if cur else None
        roll = rng.random()
        if st.status == "new":
            inp = Start()
        elif st.status == "review":
            inp = Command("submit") if roll < 0.3 else Command("edit", rng.choice(["q1", "q2", "q3"]))
        elif roll < 0.15:
            inp = Command("back")
        elif roll < 0.2:
            inp = Command("skip")
        elif sp is not None and sp.type == "multi":
            inp = Done(cur) if roll > 0.8 and st.picks else Choose(cur, rng.choice(sp.values))
        elif sp is not None:
            inp = Choose(cur, rng.choice(sp.values))
        else:
            inp = Command("help")
        t += 1.123456789
        res = step(survey, st, inp, t)
        assert await store.commit_step(session, res.state, res.events, "telegram", f"x{i}")
        st = res.state
        loaded = await store.session_for_chat("telegram", "exact")
        assert loaded.state == st, (i, inp)
        if reload_each_step:
            session = loaded
    assert st.meta and st.status in ("submitted", "review", "active", "ended")


async def test_batched_commits_equal_one_by_one_and_isolate_a_redelivery(db, store, seeded):
    """Steps of many conversations committed in one group go through the batched statements;
    a redelivered update among them sends the batch the one-by-one way: same results."""
    import asyncio

    sessions = []
    for i in range(5):
        s, survey, _ = await start(store, seeded, i=i, chat=f"b{i}")
        sessions.append(await store.session_for_chat("telegram", f"b{i}"))
    batches = db.writer.stats.batches
    results = [step(survey, s.state, Choose("q1", 1), 10.0 + i) for i, s in enumerate(sessions)]
    ok = await asyncio.gather(*(store.commit_step(s, r.state, r.events, "telegram", f"b-{i}")
                                for i, (s, r) in enumerate(zip(sessions, results))))
    assert ok == [True] * 5 and db.writer.stats.batches - batches <= 2
    sessions = [await store.session_for_chat("telegram", f"b{i}") for i in range(5)]
    assert [s.state for s in sessions] == [r.state for r in results]
    # next step; conversation 2 also gets its previous update redelivered in the same group
    results = [step(survey, s.state, Choose("q2", 4), 20.0 + i) for i, s in enumerate(sessions)]
    calls = [store.commit_step(s, r.state, r.events, "telegram", f"c-{i}") for i, (s, r) in enumerate(zip(sessions, results))]
    calls.append(store.commit_step(sessions[2], results[2].state, results[2].events, "telegram", "b-2"))
    ok = await asyncio.gather(*calls)
    assert ok == [True] * 5 + [False]
    for i in range(5):
        assert (await store.session_for_chat("telegram", f"b{i}")).state == results[i].state
        assert await current_answers(db, sessions[i].response_id) == {"q1": 1, "q2": 4}


async def test_a_reused_update_id_after_the_window_is_a_new_update(db, seeded):
    """Telegram picks a random update id after a week without updates, so an id can come back:
    a key older than the redelivery window is a new update (one by one and batched), a key within
    it is a redelivery; pruning deletes the keys past the window."""
    import asyncio

    from storage.responses import prune_processed_updates
    from storage.step_write import PROCESSED_WINDOW_S, STATS

    now = [1_000_000.0]
    store = SqliteConversationStore(db, clock=lambda: now[0])
    sessions = []
    for i in range(4):
        claim = await store.claim_invite(seeded.respondents[i].token, "telegram", f"r{i}")
        sessions.append(claim.session)
    survey = await store.survey(sessions[0].state.survey_hash)
    first = [step(survey, s.state, Start(), now[0]) for s in sessions]
    # ids 1..4, committed together (batched) and id 1 of another channel alone
    assert await asyncio.gather(*(store.commit_step(s, r.state, r.events, "telegram", str(i + 1))
                                  for i, (s, r) in enumerate(zip(sessions, first)))) == [True] * 4
    now[0] += 86_400.0                         # a day later the platform redelivers: no-ops
    assert await store.is_processed("telegram", "1")
    sessions = [await store.session_for_chat("telegram", f"r{i}") for i in range(4)]
    again = [step(survey, s.state, Choose("q1", 0), now[0]) for s in sessions]
    assert await asyncio.gather(*(store.commit_step(s, r.state, r.events, "telegram", str(i + 1))
                                  for i, (s, r) in enumerate(zip(sessions, again)))) == [False] * 4
    assert await store.commit_step(sessions[0], again[0].state, again[0].events, "telegram", "2") is False
    assert await current_answers(db, sessions[0].response_id) == {}
    now[0] += 7 * 86_400.0                     # a week of silence: ids start again, new updates
    assert not await store.is_processed("telegram", "1")
    new = [step(survey, s.state, Choose("q1", 1 - i % 2), now[0]) for i, s in enumerate(sessions)]
    bulk = STATS.bulk_ops
    assert await asyncio.gather(*(store.commit_step(s, r.state, r.events, "telegram", str(i + 1))
                                  for i, (s, r) in enumerate(zip(sessions[:3], new[:3])))) == [True] * 3
    assert STATS.bulk_ops - bulk == 3          # the batched statements renew old keys too
    assert await store.commit_step(sessions[3], new[3].state, new[3].events, "telegram", "4") is True
    for i in range(4):
        assert await current_answers(db, sessions[i].response_id) == {"q1": 1 - i % 2}
    # the renewed keys are redeliveries again; pruning keeps them and drops what is past the window
    assert await store.commit_step(sessions[0], new[0].state, new[0].events, "telegram", "1") is False
    await db.write(lambda c: c.execute("INSERT INTO processed_updates VALUES ('zalo', 'old', ?)",
                                       (now[0] - PROCESSED_WINDOW_S - 1,)))
    assert await prune_processed_updates(db, now[0]) == 1
    assert await db.fetchval("SELECT COUNT(*) FROM processed_updates") == 4


async def test_replies_are_owed_from_the_commit_until_reported_sent(db, store, seeded):
    import asyncio

    from storage.conversations import OWED_GRACE_S

    s, survey, st = await start(store, seeded, i=0, chat="o1")          # committed, replies not sent
    # (on PostgreSQL, shared by workers, a step is owed by a dead worker only after OWED_GRACE_S)
    later = SqliteConversationStore(db, clock=lambda: time.time() + OWED_GRACE_S + 1)
    owed = await later.owed_replies("telegram")
    assert [(o.response_id, o.chat_id) for o in owed] == [(s.response_id, "o1")]
    assert owed[0].state == st
    assert await later.owed_replies("zalo") == []
    store.replies_sent(s)
    await asyncio.sleep(0.05)                   # recorded on the next loop turn, by the writer
    await db.write(lambda c: None)
    assert await later.owed_replies("telegram") == []
    # the next step owes its replies again; a restarted process sees that
    s2 = await store.session_for_chat("telegram", "o1")
    res = step(survey, s2.state, Choose("q1", 1), time.time())
    assert await store.commit_step(s2, res.state, res.events, "telegram", "o1:q1")
    fresh = SqliteConversationStore(db, clock=lambda: time.time() + OWED_GRACE_S + 1)   # a restart sees it owed
    [again] = await fresh.owed_replies("telegram")
    assert again.state == res.state
    fresh.replies_sent(again)
    await asyncio.sleep(0.05)
    await db.write(lambda c: None)
    assert await fresh.owed_replies("telegram") == []
