"""The hot path: batched step writes have exactly the effects of one-by-one writes; the trail's
two homes (rows, cursor); bulk statements."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine import compile_survey, step
from engine.types import AnswerMeta, Choose, Command, Done, Start, State, TypedText
from storage import step_write
from storage.api import Session
from storage.bulk import BulkStatement
from storage.conversations import SqliteConversationStore
from storage.db import Database, connect_writer, migrate
from storage.responses import get_response
from demo.seed import seed_round
from survey_defs.loader import load_survey

MINI = Path(__file__).parents[1] / "transcripts" / "surveys" / "mini.yaml"
TABLES = {
    "answers": "*", "answers_current": "*", "response_steps": "*", "responses": "*", "processed_updates": "*",
    # (tokens and card codes are random, created_at is the seeding's real time)
    "respondents": "id, status, status_reason, opened_at, started_at, finished_at, status_at",
}


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    return {t: [tuple(r) for r in await db.fetchall(f"SELECT {cols} FROM {t} ORDER BY 1, 2")]
            for t, cols in TABLES.items()}


def pick_input(rng: random.Random, compiled: Any, st: State) -> Any:
    """A citizen who mostly answers, sometimes goes back, skips, edits, refuses or re-taps."""
    if st.status == "new":
        return Start()
    if st.status == "review":
        roll = rng.random()
        return Command("submit") if roll < 0.3 else Command("edit", str(rng.randint(1, max(1, len(st.trail)))))
    sp = compiled.by_id.get(st.current or "")
    roll = rng.random()
    if roll < 0.12:
        return Command("back")
    if roll < 0.16:
        return Command("skip")
    if sp is None:
        return Command("help")
    if sp.type == "multi":
        if st.picks and roll > 0.6:
            return Done(sp.id)
        return Choose(sp.id, rng.choice(list(sp.values)))
    if sp.values:
        if sp.id == "consent" and roll < 0.85:
            return Choose(sp.id, 1)          # most agree; the rest are screened out (refused)
        old = st.answers.get(sp.id)
        if old is not None and roll < 0.6:
            return Choose(sp.id, old)        # answers again what is stored: a double tap
        return Choose(sp.id, rng.choice(list(sp.values)))
    return TypedText(rng.choice(["3", "45", "1", "Kinh", "12"]))


async def open_store(new_db_url: Callable[[str], str], name: str, clock: Clock, n: int) -> tuple[Database, SqliteConversationStore,
                                                                                list[Session]]:
    db = await Database.open(new_db_url(name))
    seeded = await seed_round(db, load_survey(MINI), respondents=n, quota=n)
    store = SqliteConversationStore(db, clock=clock)
    sessions = []
    for i, r in enumerate(seeded.respondents):
        claim = await store.claim_invite(r.token, "telegram", f"chat{i}")
        assert claim.session is not None
        sessions.append(claim.session)
    return db, store, sessions


async def test_batched_writes_have_exactly_the_effects_of_one_by_one_writes(new_db_url):
    """Twelve citizens answer a questionnaire with relevance, screening, multiple choice and
    numbers, going back, skipping, editing, re-tapping and submitting. Store A gets each round's
    steps together (one group commit: the batched statements), store B one at a time: every
    table ends up the same, row for row, and A really took the batched path."""
    n, rounds = 16, 90
    clock = Clock()
    db_a, store_a, ses_a = await open_store(new_db_url, "a", clock, n)
    db_b, store_b, ses_b = await open_store(new_db_url, "b", clock, n)
    survey = await store_a.survey(ses_a[0].state.survey_hash)
    compiled = compile_survey(survey)
    rngs = [random.Random(1000 + i) for i in range(n)]
    before = (step_write.STATS.bulk_ops, step_write.STATS.bulk_batches)
    played = steps_taken = 0
    try:
        for k in range(rounds):
            clock.t += 7.25
            live = [i for i in range(n) if ses_a[i].state.status not in ("submitted", "ended")]
            if not live:
                break
            played += len(live) > 2
            steps_taken += len(live)
            inputs = {i: pick_input(rngs[i], compiled, ses_a[i].state) for i in live}
            res_a = {i: step(survey, ses_a[i].state, inputs[i], clock.t) for i in live}
            res_b = {i: step(survey, ses_b[i].state, inputs[i], clock.t) for i in live}
            ok_a = await asyncio.gather(*(store_a.commit_step(ses_a[i], res_a[i].state, res_a[i].events,
                                                              "telegram", f"u{k}-{i}") for i in live))
            ok_b = [await store_b.commit_step(ses_b[i], res_b[i].state, res_b[i].events, "telegram", f"u{k}-{i}")
                    for i in live]
            assert ok_a == ok_b == [True] * len(live)
            for i in live:
                if k % 3 == 0:    # as a channel does: the session loaded again for the next update
                    ses_a[i] = await store_a.session_for_chat("telegram", f"chat{i}")
                    ses_b[i] = await store_b.session_for_chat("telegram", f"chat{i}")
                    assert ses_a[i].state == res_a[i].state and ses_b[i].state == res_b[i].state, (k, i)
                else:
                    ses_a[i] = Session(*[getattr(ses_a[i], f) for f in ("respondent_id", "response_id", "round_id")],
                                       res_a[i].state, "telegram", f"chat{i}")
                    ses_b[i] = Session(*[getattr(ses_b[i], f) for f in ("respondent_id", "response_id", "round_id")],
                                       res_b[i].state, "telegram", f"chat{i}")
        assert await snapshot(db_a) == await snapshot(db_b)
        for i in range(n):
            stored = (await get_response(db_a, ses_a[i].response_id)).state
            assert stored == ses_a[i].state
        statuses = {s.state.status for s in ses_a}
        assert "submitted" in statuses and len(await db_a.fetchall(
            "SELECT 1 FROM answers WHERE cleared = 1")) > 0, "the walk should submit and clear answers"
        # a round's first step may find the writer idle and go alone; the rest go together
        assert step_write.STATS.bulk_batches - before[1] >= played > 20
        assert step_write.STATS.bulk_ops - before[0] >= steps_taken * 2 // 3
    finally:
        await db_a.close()
        await db_b.close()


async def test_back_edit_and_retap_reload_exactly(new_db_url):
    """Each step's state, loaded again from the database, is the state the engine made: after an
    answer, "back" (the step asked again leaves the trail while its paradata stays in the
    cursor), an answer again, a double tap, an edit from the review."""
    clock = Clock()
    db, store, sessions = await open_store(new_db_url, "e", clock, 1)
    try:
        s = sessions[0]
        survey = await store.survey(s.state.survey_hash)
        script = [Start(), Choose("consent", 1), Choose("represent", 1), Command("back"), Command("back"),
                  Choose("consent", 1), Choose("represent", 2), Command("back"), Choose("represent", 1),
                  TypedText("45"), Choose("ethnic", 2), TypedText("Thái"), Command("back"), Command("back"),
                  Choose("ethnic", 1), TypedText("4")]
        for i, inp in enumerate(script):
            clock.t += 3
            res = step(survey, s.state, inp, clock.t)
            assert await store.commit_step(s, res.state, res.events, "telegram", f"e{i}")
            s = await store.session_for_chat("telegram", "chat0")
            assert s.state == res.state, (i, inp)
        assert s.state.answers.get("ethnic") == 1 and "ethnic_other" not in s.state.answers
    finally:
        await db.close()


async def test_a_batch_that_is_not_plain_runs_one_by_one(new_db_url):
    """A redelivered update and a step computed from a stale session in the same group: nothing
    of the batched statements is kept, every op is decided on its own, with the right results."""
    clock = Clock()
    db, store, sessions = await open_store(new_db_url, "p", clock, 5)
    try:
        survey = await store.survey(sessions[0].state.survey_hash)
        first = [step(survey, s.state, Start(), clock.t) for s in sessions]
        assert all(await asyncio.gather(*(store.commit_step(s, r.state, r.events, "telegram", f"s{i}")
                                          for i, (s, r) in enumerate(zip(sessions, first)))))
        stale = sessions[4]          # its state is the one from before Start
        sessions = [await store.session_for_chat("telegram", f"chat{i}") for i in range(4)]
        clock.t += 5
        nxt = [step(survey, s.state, Choose("consent", 1), clock.t) for s in sessions]
        late = step(survey, stale.state, Command("help"), clock.t)
        one_by_one = step_write.STATS.one_by_one_ops
        ok = await asyncio.gather(
            *(store.commit_step(s, r.state, r.events, "telegram", f"c{i}") for i, (s, r) in enumerate(zip(sessions, nxt))),
            store.commit_step(sessions[0], first[0].state, first[0].events, "telegram", "s0"),   # redelivered
            store.commit_step(stale, late.state, late.events, "telegram", "late"))                # stale base
        assert ok == [True, True, True, True, False, True]
        assert step_write.STATS.one_by_one_ops - one_by_one >= 5
        for i in range(4):
            loaded = await store.session_for_chat("telegram", f"chat{i}")
            assert loaded.state == nxt[i].state and loaded.state.answers == {"consent": 1}
        # the stale step is stored by a full rewrite: the response holds exactly that state
        assert (await store.session_for_chat("telegram", "chat4")).state == late.state
        assert await db.fetchval("SELECT COUNT(*) FROM processed_updates WHERE update_key = 's0'") == 1
        assert await db.fetchval("SELECT COUNT(*) FROM answers") == 4
    finally:
        await db.close()


async def test_a_response_changed_behind_the_store_sends_its_batch_one_by_one(new_db_url):
    """Another writer (a second bot process, a tool) moved a response on after this store loaded
    it: the batched statement sees the revision changed, records nothing, and the ops run one by
    one; the stale step is then stored in full over the newer one."""
    from storage.responses import commit_step_op

    clock = Clock()
    db, store, sessions = await open_store(new_db_url, "r", clock, 3)
    try:
        survey = await store.survey(sessions[0].state.survey_hash)
        other = step(survey, sessions[1].state, Start(), clock.t)
        s1 = sessions[1]
        await db.write(lambda conn: commit_step_op(conn, s1.response_id, s1.respondent_id, other.state,
                                                   "zalo", other.events, "elsewhere", clock.t))
        clock.t += 1
        res = [step(survey, s.state, Start(), clock.t) for s in sessions]
        bulk, lone = step_write.STATS.bulk_batches, step_write.STATS.one_by_one_ops
        ok = await asyncio.gather(*(store.commit_step(s, r.state, r.events, "telegram", f"k{i}")
                                    for i, (s, r) in enumerate(zip(sessions, res))))
        assert ok == [True, True, True]
        assert step_write.STATS.bulk_batches == bulk and step_write.STATS.one_by_one_ops - lone == 3
        assert await db.fetchval("SELECT state_rev FROM responses WHERE id = ?", (s1.response_id,)) == 2
        for i in range(3):
            assert (await store.session_for_chat("telegram", f"chat{i}")).state == res[i].state
    finally:
        await db.close()


async def test_a_trail_that_does_not_fit_rows_is_kept_in_the_cursor(new_db_url):
    """A hand-made state whose trail repeats a step and names one without paradata still loads
    exactly; a later state whose trail fits moves it back into the rows. (Answers come from
    answer events, which these states do not need.)"""
    clock = Clock()
    db, store, sessions = await open_store(new_db_url, "t", clock, 1)
    try:
        s = sessions[0]
        odd = State(s.state.survey_id, s.state.survey_hash, status="active", current="age",
                    trail=["consent", "represent", "consent", "ghost"],
                    meta={"consent": AnswerMeta(1.0, 2.0, 0), "represent": AnswerMeta(3.0, 4.0, 1),
                          "age": AnswerMeta(5.0)}, seq=3)
        assert await store.commit_step(s, odd, (), "telegram", "odd")
        raw = await db.fetchval("SELECT state FROM responses WHERE id = ?", (s.response_id,))
        assert '"trail":["consent","represent","consent","ghost"]' in raw
        loaded = await store.session_for_chat("telegram", "chat0")
        assert loaded.state == odd
        fixed = State(odd.survey_id, odd.survey_hash, status="active", current="age", answers=dict(odd.answers),
                      trail=["consent", "represent"], meta=dict(odd.meta), seq=4)
        # straight on from the committed state (no reload): its rows do not hold its trail
        kept = Session(s.respondent_id, s.response_id, s.round_id, odd, "telegram", "chat0")
        assert await store.commit_step(kept, fixed, (), "telegram", "fixed")
        raw = await db.fetchval("SELECT state FROM responses WHERE id = ?", (s.response_id,))
        assert '"trail"' not in raw
        assert [tuple(r) for r in await db.fetchall(
            "SELECT step_id, trail_pos FROM response_steps WHERE response_id = ? AND trail_pos IS NOT NULL"
            " ORDER BY trail_pos", (s.response_id,))] == [("consent", 0), ("represent", 1)]
        assert (await store.session_for_chat("telegram", "chat0")).state == fixed
        assert loaded.state == odd
    finally:
        await db.close()


async def test_a_cursor_from_version_5_keeps_its_trail_until_the_next_step(tmp_path):
    """Upgrading to version 6 rewrites nothing: a stored cursor with its trail loads the same,
    and the next step moves the trail into the rows."""
    path = tmp_path / "v5.db"
    conn = connect_writer(str(path))
    migrate(conn, target=5)
    conn.executescript("""
        INSERT INTO survey_versions VALUES ('h', 's', '1', '{}', 0);
        INSERT INTO units (id, kind, code, name) VALUES (1, 'commune', 'C1', 'Xã Bản Bo');
        INSERT INTO rounds (id, code, survey_id, survey_hash, status, created_at) VALUES (1, 'R', 's', 'h', 'open', 0);
        INSERT INTO respondents (id, round_id, unit_id, selection_reason, token, card_code, created_at)
            VALUES (1, 1, 1, 'hộ thứ 2', 'tok_tok_tok_tok_tok_tok_', 'ACDEFG', 0);
        INSERT INTO chat_bindings VALUES ('telegram', 'c', 1, 0);
        INSERT INTO responses (id, respondent_id, round_id, survey_hash, state, started_at, updated_at)
            VALUES (1, 1, 1, 'h', '{"survey_id":"s","survey_hash":"h","lang":"vi","status":"active","outcome":null,'
                                  || '"current":"q3","picks":[],"trail":["q1","q2"],"seq":3}', 0, 0);
        INSERT INTO response_steps VALUES (1, 'q1', 1.0, 2.0, 0), (1, 'q2', 3.0, 4.0, 0), (1, 'q3', 5.0, NULL, 0);
        INSERT INTO answers (response_id, step_id, revision, value, value_num, answered_at)
            VALUES (1, 'q1', 1, '5', 5, 2), (1, 'q2', 1, '4', 4, 4);
    """)
    conn.close()
    db = await Database.open(path)
    try:
        store = SqliteConversationStore(db, clock=Clock())
        s = await store.session_for_chat("telegram", "c")
        assert s.state.trail == ["q1", "q2"] and s.state.answers == {"q1": 5, "q2": 4}
        meta = dict(s.state.meta)
        meta["q3"] = AnswerMeta(5.0, 6.0, 0)
        nxt = State("s", "h", status="review", answers={**s.state.answers, "q3": 3}, trail=["q1", "q2", "q3"],
                    meta=meta, seq=4)
        assert await store.commit_step(s, nxt, (), "telegram", "u1")
        assert '"trail"' not in await db.fetchval("SELECT state FROM responses WHERE id = 1")
        assert (await store.session_for_chat("telegram", "c")).state.trail == ["q1", "q2", "q3"]
    finally:
        await db.close()


def test_the_fast_cursor_writes_the_same_text_as_the_json_encoder():
    from storage import state_rows

    assert state_rows.CURSOR_FAST, "State has a new field: teach _cursor_fast about it (or drop it)"
    states = [State("s", "h"),
              State("sipas-households", "a" * 64, lang="en", status="review", outcome="complete", current=None,
                    picks=[1, "x", 3], seq=12),
              State('kh"ảo\\sát', "h\n", status="ended", outcome="refused", current="q_1 “x”", picks=[], seq=0),
              State("s", "h", current="q2", meta={"q1": AnswerMeta(1.0, 2.0, 0), "q2": AnswerMeta(1_700_000_000.123456)}),
              State("s", "h", current="q2", meta={"q2": AnswerMeta(7, None, 3)}),
              State("s", "h", current="q2", meta={"q2": AnswerMeta(float("nan"))}),   # not finite: generic
              State("s", "h", seq=True),                 # not an int: the generic encoder decides
              State("s", "h", picks=("a",)),             # not a list: likewise
              State("s", "h", current="q3", hidden=["q1", "q2 “x”"])]   # after a hand-over: generic
    for st in states:
        assert state_rows._cursor_fast(st) == state_rows._cursor_generic(st)
        assert ('"asked":' in state_rows.cursor_json(st)) == (st.current in st.meta)
        assert json.loads(state_rows.cursor_json(st, with_trail=True))["trail"] == st.trail


def test_bulk_statement_pads_to_size_classes_and_splits_long_lists():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (a INTEGER NOT NULL, b TEXT)")
    ins = BulkStatement("INSERT INTO t (a, b) SELECT column1, column2 FROM ({rows}) WHERE column1 IS NOT NULL", 2)
    assert ins.size_class(1) == 8 and ins.size_class(9) == 16 and ins.size_class(4096) == 4096
    rows = [(i, f"r{i}") for i in range(10_000)]       # more than one statement holds
    assert ins.largest * 2 <= 32766 and len(rows) > ins.largest
    assert ins.run(conn, rows) == 10_000
    assert conn.execute("SELECT COUNT(*), SUM(a), MIN(b), COUNT(DISTINCT b) FROM t").fetchone() == \
        (10_000, sum(range(10_000)), "r0", 10_000)
    assert ins.run(conn, []) == 0
    with pytest.raises(ValueError):
        ins.run(conn, [(1, "x", "too many")])
    count = BulkStatement("SELECT count(*) FROM ({rows}) AS v JOIN t ON t.a = v.column1", 1)
    assert count.total(conn, [(i,) for i in range(0, 20_000, 2)]) == 5_000
    with pytest.raises(ValueError):   # a CTE first: sqlite3 reports no row count, so it is refused
        BulkStatement("WITH v AS ({rows}) INSERT INTO t (a) SELECT column1 FROM v WHERE column1 IS NOT NULL",
                      1).run(conn, [(1,)])
    with pytest.raises(ValueError):
        BulkStatement("SELECT 1", 1)
