"""Crash test: SIGKILL the answering process at random moments; nothing acknowledged is lost.

A child process (this file run as a script) plays many citizens answering the real
``sipas-households`` questionnaire concurrently through the real engine and
``SqliteConversationStore.commit_step``, printing ``ACK <respondent> <step> <value>`` only after
``commit_step`` returned. The parent kills it with SIGKILL at random moments (at least 20 times),
restarts it, and proves after every kill and at the end:

- every ACKed answer is in the database, in order, with the acknowledged value;
- no answer is duplicated (one revision per step: citizens here never change an answer) and a
  redelivered update after the restart is refused (``commit_step`` returns False);
- every conversation resumes at the right question: the stored engine state (cursor, answers
  and paradata rows, rebuilt by ``load_state_op``) has ``current`` at the question that follows
  the last stored answer, its answers equal the stored ones, and the restarted child resumes
  exactly there.

The expected conversation of each citizen is computed independently, in memory, from the same
deterministic answering policy and the pure engine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from engine import compile_survey, step
from engine.types import AnswerSet, State
from demo.seed import scripted_input as next_input
from support.conversations import expected_conversation

CHANNEL = "crash"
SURVEY_ID = "sipas-households"
N_RESPONDENTS = 160
KILLS = 22


# ------------------------------------------------------------------ the answering policy (shared)



# ------------------------------------------------------------------ the child process

async def child(db_path: str) -> None:
    from storage.conversations import SqliteConversationStore
    from storage.db import Database
    from storage.respondents import list_respondents
    from storage.responses import answer_history
    from storage.rounds import list_rounds

    db = await Database.open(db_path)
    store = SqliteConversationStore(db)
    rnd = (await list_rounds(db, "open"))[0]
    survey = await store.survey(rnd.survey_hash)
    compile_survey(survey)
    people = await list_respondents(db, rnd.id)
    out = sys.stdout

    def emit(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    async def citizen(rid: int, token: str) -> None:
        chat = f"chat{rid}"
        session = await store.session_for_chat(CHANNEL, chat)
        if session is None:
            claim = await store.claim_invite(token, CHANNEL, chat)
            if claim.status == "completed":
                emit(f"DONE {rid}")
                return
            assert claim.status == "ok", claim
            session = claim.session
        st = session.state
        hist = await answer_history(db, session.response_id)
        emit(f"RESUME {rid} {len(hist)} {st.current}")
        if hist:
            # The platform redelivers the last update (never confirmed before the crash): refused.
            last = hist[-1].step_id
            sp = compile_survey(survey).by_id[last]
            key = f"{rid}:{last}:done" if sp.type == "multi" else f"{rid}:{last}:a"
            again = await store.commit_step(session, st, (), CHANNEL, key)
            emit(f"REDELIVER {rid} {'BUG' if again else 'ok'}")
        while True:
            nxt = next_input(survey, st, rid)
            if nxt is None:
                emit(f"DONE {rid}")
                return
            res = step(survey, st, nxt[0], time.time())
            if not await store.commit_step(session, res.state, res.events, CHANNEL, nxt[1]):
                emit(f"DUPLICATE {rid} {nxt[1]}")  # never expected: keys are unique per input
                return
            for ev in res.events:
                if isinstance(ev, AnswerSet):
                    emit(f"ACK {rid} {ev.step_id} {json.dumps(ev.value, ensure_ascii=False)}")
            st = res.state
            if rid % 2 == 0:
                # as a channel that keeps its session: paradata written as deltas (batched);
                # odd citizens keep the first session: every paradata row rewritten
                session = dataclasses.replace(session, state=st)

    emit("READY")
    await asyncio.gather(*(citizen(p.id, p.token) for p in people))
    emit("ALLDONE")
    await db.close()


# ------------------------------------------------------------------ the parent (the test)

def _setup(db_path: Path) -> dict[int, tuple[list[tuple[str, Any]], list[str | None], str]]:
    from storage.db import Database
    from demo.seed import seed_round
    from survey_defs.loader import get_survey

    survey = get_survey(SURVEY_ID)

    async def go() -> list[int]:
        db = await Database.open(db_path)
        try:
            seeded = await seed_round(db, survey, respondents=N_RESPONDENTS, communes=4, quota=40)
            return [r.id for r in seeded.respondents]
        finally:
            await db.close()

    ids = asyncio.run(go())
    return {rid: expected_conversation(survey, rid) for rid in ids}


def _run_child(db_path: Path, kill_plan: tuple[int, float] | None) -> tuple[list[str], int]:
    """Run the child; with ``kill_plan = (acks, delay)``, SIGKILL it ``delay`` seconds after it
    printed its ``acks``-th ACK (progress-based, so the test does not depend on machine speed:
    the kill lands mid-answering whatever the load). None: let it finish."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join([str(root), str(root / "tests")]))   # demo.seed, support
    p = subprocess.Popen([sys.executable, __file__, "child", str(db_path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, cwd=root)
    lines: list[str] = []
    timer: list[threading.Timer] = []

    def kill() -> None:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)

    def reader() -> None:
        assert p.stdout is not None
        acks = 0
        for raw in p.stdout:
            s = raw.decode("utf-8", "replace")
            if not s.endswith("\n"):
                break  # a line cut by the kill: never acknowledged
            lines.append(s.rstrip("\n"))
            if kill_plan is not None and s.startswith("ACK"):
                acks += 1
                if acks == kill_plan[0]:
                    t = threading.Timer(kill_plan[1], kill)
                    timer.append(t)
                    t.start()

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    try:
        rc = p.wait(120)
    finally:
        kill()
    th.join(10)
    for t in timer:
        t.cancel()
    if rc not in (0, -signal.SIGKILL):
        raise AssertionError(f"child failed ({rc}): {p.stderr.read().decode()[-3000:] if p.stderr else ''}")
    if p.stderr:
        p.stderr.close()
    return lines, rc


def _db_view(db_path: Path) -> dict[int, tuple[list[tuple[str, int, Any, int]], State, str]]:
    from storage.responses import load_state_op

    c = sqlite3.connect(db_path)
    try:
        out: dict[int, tuple[list[tuple[str, int, Any, int]], State, str]] = {}
        for rid, resp_id, status in c.execute(
                "SELECT p.id, r.id, p.status FROM respondents p JOIN responses r ON r.respondent_id = p.id").fetchall():
            hist = [(s, rev, json.loads(v) if v is not None else None, cl) for s, rev, v, cl in c.execute(
                "SELECT step_id, revision, value, cleared FROM answers WHERE response_id = ? ORDER BY id", (resp_id,))]
            out[rid] = (hist, load_state_op(c, resp_id)[0], status)
        view = c.execute("SELECT * FROM current_answers ORDER BY 1, 2").fetchall()
        table = c.execute("SELECT * FROM answers_current ORDER BY 1, 2").fetchall()
        assert view == table, "answers_current diverged from the answer history"
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return out
    finally:
        c.close()


def _check(db_path: Path, expected: dict, acked: dict[int, list[tuple[str, Any]]],
           before: dict[int, int], run_acks: dict[int, int]) -> dict[int, int]:
    """Every ACK stored, nothing duplicated, stored state at the question after the last answer.

    ``before``: answers stored per citizen when this run started; ``run_acks``: answers ACKed by
    this run. A citizen has at most one answer in flight, so this run stored at most one answer
    beyond what it started from plus what it ACKed.
    """
    view = _db_view(db_path)
    stored_counts: dict[int, int] = {}
    for rid, (answers, after, _) in expected.items():
        acks = acked.get(rid, [])
        # positions of the ACKed answers in the conversation: increasing, each one the expected value
        # (an answer committed just before a kill may be stored without its ACK line: a gap is fine)
        pos = {s: i for i, (s, _) in enumerate(answers)}
        idx = [pos.get(s, -1) for s, _ in acks]
        assert all(i >= 0 and answers[i] == a for i, a in zip(idx, acks)), f"respondent {rid}: bad ACK {acks}"
        assert idx == sorted(set(idx)), f"respondent {rid}: an answer was ACKed twice or out of order"
        last_ack = idx[-1] + 1 if idx else 0
        if rid not in view:
            assert not acks, f"respondent {rid}: ACKed answers but no response stored"
            stored_counts[rid] = 0
            continue
        hist, st, _ = view[rid]
        got = [(s, v) for s, _, v, _ in hist]
        assert all(rev == 1 and cl == 0 for _, rev, _, cl in hist), f"respondent {rid}: duplicate revision {hist}"
        assert len({s for s, _ in got}) == len(got), f"respondent {rid}: a step stored twice"
        assert got == answers[:len(got)], f"respondent {rid}: stored answers differ from the conversation"
        # every ACKed answer is stored; at most one more (in flight at the kill) per citizen and run
        assert len(got) >= last_ack, (rid, last_ack, len(got))
        assert len(got) <= before[rid] + run_acks.get(rid, 0) + 1, (rid, before[rid], run_acks.get(rid), len(got))
        if st.status != "new":
            assert st.current == after[len(got)], f"respondent {rid}: state at {st.current}, expected {after[len(got)]}"
        assert st.answers == dict(got), f"respondent {rid}: state answers differ from stored answers"
        stored_counts[rid] = len(got)
    return stored_counts


def test_sigkill_loses_no_acknowledged_answer(tmp_path):
    rng = random.Random(20250607)
    db_path = tmp_path / "crash.db"
    expected = _setup(db_path)
    acked: dict[int, list[tuple[str, Any]]] = {}
    kills = 0
    resumed_checks = 0
    t0 = time.monotonic()
    stored: dict[int, int] = {rid: 0 for rid in expected}
    finished = False
    while not finished:
        plan = (rng.randint(20, 300), rng.uniform(0.0, 0.02)) if kills < KILLS else None
        lines, rc = _run_child(db_path, plan)
        run_acks: dict[int, int] = {}
        for line in lines:
            kind, *rest = line.split(" ", 3)
            if kind == "ACK":
                rid, step_id, raw = int(rest[0]), rest[1], rest[2]
                acked.setdefault(rid, []).append((step_id, json.loads(raw)))
                run_acks[rid] = run_acks.get(rid, 0) + 1
            elif kind == "RESUME":
                rid, n, cur = int(rest[0]), int(rest[1]), rest[2]
                # resumes exactly after the answers stored before the kill, at the right question
                assert n == stored[rid], f"respondent {rid} resumed after {n} answers, {stored[rid]} stored"
                answers, after, _ = expected[rid]
                if n > 0:
                    assert cur == str(after[n]), f"respondent {rid} resumed at {cur}, expected {after[n]}"
                resumed_checks += 1
            elif kind == "REDELIVER":
                assert rest[1] == "ok", f"respondent {rest[0]}: a redelivered update was applied twice"
            elif kind == "DUPLICATE":
                raise AssertionError(f"unexpected duplicate update key: {line}")
        if rc == -signal.SIGKILL:
            kills += 1
        else:
            assert lines and lines[-1] == "ALLDONE", lines[-5:]
            finished = True
        stored = _check(db_path, expected, acked, stored, run_acks)
    elapsed = time.monotonic() - t0
    assert kills >= 20
    assert resumed_checks > 0
    # at the end every conversation is complete, exactly as computed in memory
    view = _db_view(db_path)
    total = 0
    for rid, (answers, _, end_status) in expected.items():
        hist, st, status = view[rid]
        assert [(s, v) for s, _, v, _ in hist] == answers
        assert all(a in answers for a in acked.get(rid, []))
        assert st.status == end_status
        assert status == ("completed" if end_status == "submitted" else st.outcome)
        total += len(answers)
    c = sqlite3.connect(db_path)
    try:
        dup = c.execute("SELECT channel, update_key FROM processed_updates GROUP BY 1, 2 HAVING COUNT(*) > 1").fetchall()
        assert dup == []
    finally:
        c.close()
    print(f"\n{kills} kills, {total} answers, {sum(len(v) for v in acked.values())} ACKed, {elapsed:.1f} s")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "child":
        asyncio.run(child(sys.argv[2]))
    else:
        print("usage: test_storage_crash.py child DB_PATH", file=sys.stderr)
        sys.exit(2)
