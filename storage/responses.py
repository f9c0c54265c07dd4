"""Responses, their answer history, processed channel updates, expiry, paper import, analytics reads.

How a conversation's engine ``State`` is stored (migration 5). The state is split by how it grows:

- ``responses.state`` holds the *cursor*: every State field except ``answers`` and ``meta``
  (status, outcome, current step, picks in progress, trail, seq, language…), a few hundred bytes;
- ``answers`` / ``answers_current`` already hold every answer: ``State.answers`` is rebuilt from
  ``answers_current`` when a session is loaded;
- ``response_steps`` holds ``State.meta`` (paradata: asked/answered times, changes), one row per
  step, written only for the entries a step changed.

So an answer writes a small cursor, one answer row and the one or two paradata rows it changed,
instead of re-serialising a blob that grows with every answer (the old cost: most of the CPU per
answer). ``responses.state_rev`` counts commits of a response: a step's paradata delta is
computed against the state it started from, and applied only if that is still the stored
revision; otherwise (a stale session, a state not loaded through the store) every paradata row of
the response is rewritten. ``load_state_op`` rebuilds the exact State.

The hot path is ``StepWrite``: one writer op per channel update, storing the processed update
key, the cursor, the answer events and the paradata delta together, so that an acknowledged
answer is on disk exactly once. When many arrive in one group commit, ``StepWrite.run_many``
runs each statement once for all of them (``executemany``); anything unusual (a redelivered
update, a stale base, two steps of one response in the batch) falls back to running them one by
one, in order, with identical effects.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from itertools import compress, islice
from operator import attrgetter, is_not
from typing import TYPE_CHECKING, Any

from bot.engine_types import AnswerCleared, AnswerMeta, AnswerSet, Event, State, StatusChanged
from storage.db import Database, StorageError
from storage.respondents import FINAL_STATUSES, RespondentIn, insert_respondent_op
from storage.util import dumps, now

if TYPE_CHECKING:
    import pandas as pd

DAY = 86_400.0
_LIVE_STATUSES = ("new", "active", "paused", "review")
_COMEBACK_SQL = "'partial','unreachable','refused','ineligible'"
# An answer means the citizen is answering: started, from any of these.
_ANSWERABLE_SQL = "'sampled','invited','opened','partial','unreachable','refused','ineligible'"


class ResponseGone(StorageError):
    """The response a session points at does not exist (deleted database, wrong id)."""


# ------------------------------------------------------------------ the state: cursor + rows

#: State fields stored in ``responses.state`` (every field but the two rebuilt from rows), so a
#: field added to State later is stored too, never silently dropped.
CURSOR_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(State) if f.name not in ("answers", "meta"))
_cursor_values = attrgetter(*CURSOR_FIELDS)


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def cursor_json(state: State) -> str:
    """The cursor of ``state``: JSON of every field except ``answers`` and ``meta``."""
    return _encode(dict(zip(CURSOR_FIELDS, _cursor_values(state))))


def value_json(value: Any) -> str:
    """An answer value as stored in ``answers.value`` (``storage.util.dumps``; ints fast)."""
    return str(value) if type(value) is int else _encode(value)


def meta_delta(response_id: int, old: Mapping[str, AnswerMeta],
               new: Mapping[str, AnswerMeta]) -> list[tuple[Any, ...]] | None:
    """``response_steps`` rows for the paradata entries of ``new`` that are not in ``old``.

    Relies on the engine's copy on write: a step's state copies the meta dict (same key order)
    and replaces the AnswerMeta of every entry it changes by a new object, appending new steps.
    So the entries are compared by identity, position by position, in C (``map``/``compress``).
    A misaligned order can only report unchanged entries as changed (harmless, rewritten with
    the same values); an entry changed in place is the one thing identity cannot see, and the
    engine never does that. None if ``new`` lost entries of ``old`` (then: rewrite everything).
    """
    n_old = len(old)
    if len(new) < n_old:
        return None
    keys = list(compress(new, map(is_not, new.values(), old.values())))
    if len(new) > n_old:
        keys.extend(islice(new, n_old, None))
    return [(response_id, k, m.asked_at, m.answered_at, m.changes) for k in keys for m in (new[k],)]


def state_to_json(state: State) -> str:
    """The whole state as ``State.to_json`` writes it (exports, the naive benchmark, tests)."""
    return state.to_json()


_META_UPSERT = ("INSERT INTO response_steps (response_id, step_id, asked_at, answered_at, changes)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (response_id, step_id) DO UPDATE SET"
                " asked_at = excluded.asked_at, answered_at = excluded.answered_at, changes = excluded.changes")


def meta_rows(response_id: int, meta: Mapping[str, AnswerMeta]) -> list[tuple[Any, ...]]:
    """``response_steps`` rows of every paradata entry (a full rewrite)."""
    return [(response_id, k, m.asked_at, m.answered_at, int(m.changes)) for k, m in meta.items()]


def write_full_meta_op(conn: sqlite3.Connection, response_id: int, meta: Mapping[str, AnswerMeta]) -> None:
    """Replace every ``response_steps`` row of a response by ``meta``."""
    conn.execute("DELETE FROM response_steps WHERE response_id = ?", (response_id,))
    if meta:
        conn.executemany(_META_UPSERT, meta_rows(response_id, meta))


def state_from_rows(cursor: str, answers: Sequence[Sequence[Any]], meta: Sequence[Sequence[Any]]) -> State:
    """A State from its cursor JSON, ``(step_id, value_json)`` rows and
    ``(step_id, asked_at, answered_at, changes)`` rows."""
    d = json.loads(cursor)
    d.pop("answers", None)   # a cursor never has them; tolerate a whole state all the same
    d.pop("meta", None)
    loads = json.loads
    d["answers"] = {s: loads(v) for s, v in answers}
    d["meta"] = {s: AnswerMeta(a, b, c) for s, a, b, c in meta}
    return State(**d)


def load_state_op(conn: sqlite3.Connection, response_id: int, cursor: str | None = None) -> tuple[State, int]:
    """The exact engine State of a response and its ``state_rev`` (any connection, any thread).

    Raises ResponseGone if there is no such response.
    """
    row = conn.execute("SELECT state, state_rev FROM responses WHERE id = ?", (response_id,)).fetchone()
    if row is None:
        raise ResponseGone(f"no response {response_id} / không có phiếu trả lời {response_id}")
    answers = conn.execute("SELECT step_id, value FROM answers_current WHERE response_id = ?",
                           (response_id,)).fetchall()
    meta = conn.execute("SELECT step_id, asked_at, answered_at, changes FROM response_steps"
                        " WHERE response_id = ?", (response_id,)).fetchall()
    return state_from_rows(row[0] if cursor is None else cursor, answers, meta), int(row[1])


# ------------------------------------------------------------------ the hot path

def _same_value(stored_json: str, new_json: str, new_value: Any) -> bool:
    """Double-tap test: equal JSON, or the same set of picks for a multiple-choice answer."""
    if stored_json == new_json:
        return True
    if isinstance(new_value, list):
        try:
            old = json.loads(stored_json)
        except ValueError:
            return False
        if isinstance(old, list):
            try:
                return sorted(old, key=repr) == sorted(new_value, key=repr)
            except TypeError:
                return False
    return False


def respondent_transition_op(conn: sqlite3.Connection, respondent_id: int, answered: bool,
                             final: StatusChanged | None, at: float) -> None:
    """Move the respondent's disposition after a StatusChanged (rules in ``StepWrite``).

    The "answered → started" move is done by ``StepWrite`` itself.
    """
    if final is None:
        return
    ex = conn.execute
    st, outcome = final.status, final.outcome
    if st == "submitted" or (st == "ended" and outcome == "complete"):
        ex("UPDATE respondents SET status = 'completed', status_at = ?, finished_at = ?, status_reason = NULL"
           " WHERE id = ? AND status != 'substituted'", (at, at, respondent_id))
    elif st == "ended" and outcome in ("refused", "ineligible"):
        ex("UPDATE respondents SET status = ?, status_at = ?, finished_at = ?, status_reason = NULL"
           " WHERE id = ? AND status NOT IN ('completed', 'substituted', ?)",
           (outcome, at, at, respondent_id, outcome))
    elif st in _LIVE_STATUSES and not answered:
        # A comeback (resume after expiry, after /stop, after an unblock): live again.
        ex("UPDATE respondents SET status = 'started', status_at = ?, started_at = COALESCE(started_at, ?),"
           f" status_reason = NULL WHERE id = ? AND status IN ({_COMEBACK_SQL})", (at, at, respondent_id))


_PROCESSED_SQL = "INSERT INTO processed_updates (channel, update_key, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
_RESPONSE_SET = ("UPDATE responses SET state = ?, status = ?, outcome = ?, lang = ?, channel = ?, updated_at = ?,"
                 " submitted_at = CASE WHEN ? = 'submitted' THEN COALESCE(submitted_at, ?) ELSE submitted_at END,"
                 " state_rev = state_rev + 1")
_RESPONSE_AT_REV = _RESPONSE_SET + " WHERE id = ? AND state_rev = ?"
_RESPONSE_ANY_REV = _RESPONSE_SET + " WHERE id = ? RETURNING state_rev"
# One statement for both event kinds. An AnswerSet adds a revision unless the current value is
# the same JSON (a double tap); an AnswerCleared adds a cleared revision only if there is a
# current value. Revisions continue after a clear. Triggers (migration 3) keep answers_current.
_ANSWER_SQL = (
    "INSERT INTO answers (response_id, step_id, revision, value, value_num, cleared, answered_at, asked_at, channel)"
    " SELECT ?1, ?2, COALESCE((SELECT revision FROM answers WHERE response_id = ?1 AND step_id = ?2"
    " ORDER BY revision DESC LIMIT 1), 0) + 1, ?3, ?4, ?5, ?6, ?7, ?8"
    " WHERE CASE WHEN ?5 THEN EXISTS (SELECT 1 FROM answers_current WHERE response_id = ?1 AND step_id = ?2)"
    " ELSE NOT EXISTS (SELECT 1 FROM answers_current WHERE response_id = ?1 AND step_id = ?2 AND value = ?3) END")
_STARTED_SQL = ("UPDATE respondents SET status = 'started', status_at = ?, started_at = COALESCE(started_at, ?),"
                f" status_reason = NULL WHERE id = ? AND status IN ({_ANSWERABLE_SQL})")
_CURRENT_VALUE = "SELECT value FROM answers_current WHERE response_id = ? AND step_id = ?"


class _Fallback(Exception):
    """Inside ``StepWrite.run_many``: this batch needs the one-by-one path."""


class StepWrite:
    """One engine step to store atomically (a writer op): ``op(conn)`` returns the response's
    new ``state_rev``, or 0 (nothing written) if ``(channel, update_key)`` was already processed.

    - the (channel, update_key) row is inserted first: a conflict means a redelivered update;
    - the response row gets the new cursor, status, language, the channel of this update, and
      ``state_rev + 1``;
    - each AnswerSet adds a revision unless it equals the current value (a double tap; for a
      multiple choice, the same picks in any order); each AnswerCleared adds a cleared revision
      (only if there is a current value). Triggers (migration 3) keep ``answers_current`` in step;
      an answer moves the respondent to started (from sampled/invited/opened/partial/unreachable/
      refused/ineligible);
    - the paradata: ``meta_delta`` rows if the stored revision is still ``base_rev``, else every
      entry of ``state.meta`` (a full rewrite);
    - StatusChanged: submitted or ended+complete → completed; ended+refused → refused;
      ended+ineligible → ineligible; a live status after partial/refused/ineligible/unreachable
      (the citizen came back) → started. completed and substituted never move.

    Built on the event loop (``StepWrite.build``), run on the writer thread; it only reads the
    State it keeps (the engine never mutates a state it returned).
    """

    __slots__ = ("response_id", "respondent_id", "cursor", "status", "outcome", "lang", "channel",
                 "update_key", "at", "answer_rows", "list_checks", "meta_delta", "base_rev", "state",
                 "final", "answered", "bulk_ok")

    def __init__(self, response_id: int, respondent_id: int, state: State, events: Sequence[Event],
                 channel: str, update_key: str, at: float, meta_delta: list[tuple[Any, ...]] | None,
                 base_rev: int | None) -> None:
        self.response_id = response_id
        self.respondent_id = respondent_id
        self.state = state
        self.cursor = cursor_json(state)
        self.status = state.status
        self.outcome = state.outcome
        self.lang = state.lang
        self.channel = channel
        self.update_key = update_key
        self.at = at
        self.meta_delta = meta_delta if base_rev is not None else None
        self.base_rev = base_rev if meta_delta is not None else None
        rows: list[tuple[Any, ...]] = []
        checks: list[tuple[int, Any]] = []   # (row index, list value): order-insensitive double tap
        final = None
        answered = False
        meta = state.meta
        for ev in events:
            tev = type(ev)
            if tev is AnswerSet:
                value = ev.value  # type: ignore[union-attr]
                m = meta.get(ev.step_id)  # type: ignore[union-attr]
                if type(value) is list:
                    checks.append((len(rows), value))
                rows.append((response_id, ev.step_id, value_json(value), value if type(value) is int else None,  # type: ignore[union-attr]
                             0, ev.at, m.asked_at if m is not None else None, channel))  # type: ignore[union-attr]
                answered = True
            elif tev is AnswerCleared:
                rows.append((response_id, ev.step_id, None, None, 1, ev.at, None, channel))  # type: ignore[union-attr]
            elif tev is StatusChanged:
                final = ev
        self.answer_rows = rows
        self.list_checks = checks
        self.final = final
        self.answered = answered
        # the batched path answers each row from the stored values before the op: one event per step
        self.bulk_ok = self.base_rev is not None and len({r[1] for r in rows}) == len(rows)

    def _answer_rows(self, conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
        """The answer rows minus multiple-choice double taps in another order."""
        rows = self.answer_rows
        if not self.list_checks:
            return rows
        drop = set()
        for i, value in self.list_checks:
            cur = conn.execute(_CURRENT_VALUE, (self.response_id, rows[i][1])).fetchone()
            if cur is not None and _same_value(cur[0], rows[i][2], value):
                drop.add(i)
        return [r for i, r in enumerate(rows) if i not in drop] if drop else rows

    def __call__(self, conn: sqlite3.Connection) -> int:
        ex = conn.execute
        if ex(_PROCESSED_SQL, (self.channel, self.update_key, self.at)).rowcount == 0:
            return 0
        at = self.at
        head = (self.cursor, self.status, self.outcome, self.lang, self.channel, at, self.status, at,
                self.response_id)
        rev = None
        if self.base_rev is not None and ex(_RESPONSE_AT_REV, (*head, self.base_rev)).rowcount == 1:
            rev = self.base_rev + 1
            if self.meta_delta:
                conn.executemany(_META_UPSERT, self.meta_delta)
        else:
            row = ex(_RESPONSE_ANY_REV, head).fetchall()
            if not row:
                raise ResponseGone(f"no response {self.response_id} / không có phiếu trả lời {self.response_id}")
            rev = int(row[0][0])
            write_full_meta_op(conn, self.response_id, self.state.meta)
        for r in self._answer_rows(conn):   # in event order: a step may be set then cleared
            ex(_ANSWER_SQL, r)
        if self.answered:
            ex(_STARTED_SQL, (at, at, self.respondent_id))
        if self.final is not None:
            respondent_transition_op(conn, self.respondent_id, self.answered, self.final, at)
        return rev

    @staticmethod
    def run_many(conn: sqlite3.Connection, ops: list["StepWrite"]) -> list[int]:
        """The same effects as ``[op(conn) for op in ops]``, each statement ONCE for the batch.

        Every statement takes the whole batch as one JSON array (``json_each``): one statement
        execution per batch instead of one per op, so the writer thread also gives up and takes
        back the GIL once per statement rather than once per row (with 10 000 conversations
        keeping the event loop busy, those hand-overs were what capped throughput).
        Only when the batch is plain (each response once, every update new, every base revision
        current); otherwise the savepoint is rolled back and the ops run one by one, in order.
        """
        n = len(ops)
        if n == 1 or not all(op.bulk_ok for op in ops) or len({op.response_id for op in ops}) != n:
            return [op(conn) for op in ops]
        ex = conn.execute
        enc = _encode
        ex("SAVEPOINT steps")
        try:
            if ex(_BULK_PROCESSED, (enc([[op.channel, op.update_key, op.at] for op in ops]),)).rowcount != n:
                raise _Fallback  # a redelivered update (or the same one twice in this batch)
            if ex(_BULK_RESPONSES, (enc([[op.response_id, op.base_rev, op.cursor, op.status, op.outcome, op.lang,
                                          op.channel, op.at] for op in ops]),)).rowcount != n:
                raise _Fallback  # a stale base revision (or a response gone): decided op by op
        except _Fallback:
            ex("ROLLBACK TO steps")
            ex("RELEASE steps")
            return [op(conn) for op in ops]
        ex("RELEASE steps")
        answers: list[tuple[Any, ...]] = []
        meta: list[tuple[Any, ...]] = []
        started: list[tuple[Any, ...]] = []
        for op in ops:
            if op.answer_rows:
                answers.extend(op._answer_rows(conn) if op.list_checks else op.answer_rows)
            if op.meta_delta:
                meta.extend(op.meta_delta)
            if op.answered:
                started.append((op.respondent_id, op.at))
        if answers:
            ex(_BULK_ANSWERS, (enc(answers),))
        if meta:
            ex(_BULK_META, (enc(meta),))
        if started:
            ex(_BULK_STARTED, (enc(started),))
        for op in ops:
            if op.final is not None:
                respondent_transition_op(conn, op.respondent_id, op.answered, op.final, op.at)
        return [op.base_rev + 1 for op in ops]  # type: ignore[operator]


# The batched statements: one JSON array parameter, one element (an array) per row, in order.
_BULK_PROCESSED = ("INSERT INTO processed_updates (channel, update_key, at)"
                   " SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2 FROM json_each(?) AS j WHERE true"
                   " ON CONFLICT DO NOTHING")
_BULK_RESPONSES = (
    "UPDATE responses SET state = u.cursor, status = u.status, outcome = u.outcome, lang = u.lang,"
    " channel = u.channel, updated_at = u.at,"
    " submitted_at = CASE WHEN u.status = 'submitted' THEN COALESCE(submitted_at, u.at) ELSE submitted_at END,"
    " state_rev = state_rev + 1"
    " FROM (SELECT j.value ->> 0 AS id, j.value ->> 1 AS rev, j.value ->> 2 AS cursor, j.value ->> 3 AS status,"
    " j.value ->> 4 AS outcome, j.value ->> 5 AS lang, j.value ->> 6 AS channel, j.value ->> 7 AS at"
    " FROM json_each(?) AS j) AS u"
    " WHERE responses.id = u.id AND responses.state_rev = u.rev")
_BULK_ANSWERS = (
    "INSERT INTO answers (response_id, step_id, revision, value, value_num, cleared, answered_at, asked_at, channel)"
    " SELECT a.rid, a.step, COALESCE((SELECT revision FROM answers WHERE response_id = a.rid AND step_id = a.step"
    " ORDER BY revision DESC LIMIT 1), 0) + 1, a.v, a.num, a.cl, a.at, a.asked, a.ch"
    " FROM (SELECT j.key AS k, j.value ->> 0 AS rid, j.value ->> 1 AS step, j.value ->> 2 AS v,"
    " j.value ->> 3 AS num, j.value ->> 4 AS cl, j.value ->> 5 AS at, j.value ->> 6 AS asked,"
    " j.value ->> 7 AS ch FROM json_each(?) AS j) AS a"
    " WHERE CASE WHEN a.cl THEN EXISTS (SELECT 1 FROM answers_current WHERE response_id = a.rid AND step_id = a.step)"
    " ELSE NOT EXISTS (SELECT 1 FROM answers_current WHERE response_id = a.rid AND step_id = a.step AND value = a.v)"
    " END ORDER BY a.k")
_BULK_META = ("INSERT INTO response_steps (response_id, step_id, asked_at, answered_at, changes)"
              " SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4"
              " FROM json_each(?) AS j WHERE true ON CONFLICT (response_id, step_id) DO UPDATE SET"
              " asked_at = excluded.asked_at, answered_at = excluded.answered_at, changes = excluded.changes")
_BULK_STARTED = (
    "UPDATE respondents SET status = 'started', status_at = u.at, started_at = COALESCE(started_at, u.at),"
    " status_reason = NULL FROM (SELECT j.value ->> 0 AS id, j.value ->> 1 AS at FROM json_each(?) AS j) AS u"
    f" WHERE respondents.id = u.id AND respondents.status IN ({_ANSWERABLE_SQL})")


def commit_step_op(conn: sqlite3.Connection, response_id: int, respondent_id: int, state: State,
                   channel: str, events: Sequence[Event], update_key: str, at: float) -> bool:
    """Store one engine step in ``conn``'s transaction (every paradata row rewritten); False if
    ``update_key`` was seen. For tools and tests; channels go through the conversation store."""
    return StepWrite(response_id, respondent_id, state, events, channel, update_key, at, None, None)(conn) > 0


def mark_unreachable_op(conn: sqlite3.Connection, respondent_id: int, reason: str, at: float) -> bool:
    """unreachable unless final; pending messages to them are cancelled (they would fail too)."""
    final = ",".join(f"'{s}'" for s in FINAL_STATUSES)
    n = conn.execute(
        "UPDATE respondents SET status = 'unreachable', status_reason = ?, status_at = ?"
        f" WHERE id = ? AND status NOT IN ({final}, 'unreachable')", (reason, at, respondent_id)).rowcount
    conn.execute("UPDATE outbox SET status = 'cancelled', last_error = ? WHERE respondent_id = ?"
                 " AND status = 'pending'", (f"unreachable: {reason}", respondent_id))
    return n > 0


async def mark_unreachable(db: Database, respondent_id: int, reason: str) -> bool:
    """The channel cannot deliver (e.g. Telegram 403). Returns True if the status changed."""
    at = now()
    return await db.write(lambda conn: mark_unreachable_op(conn, respondent_id, reason, at))


async def purge_processed_updates(db: Database, older_than: float) -> int:
    """Forget update keys older than ``older_than`` (channels redeliver within hours, not weeks)."""
    return await db.write(lambda conn: conn.execute(
        "DELETE FROM processed_updates WHERE at < ?", (older_than,)).rowcount)


# ------------------------------------------------------------------ reading responses

@dataclass(frozen=True, slots=True)
class ResponseRow:
    id: int
    respondent_id: int
    round_id: int
    survey_hash: str
    mode: str
    channel: str | None
    lang: str
    status: str
    outcome: str | None
    state: State
    started_at: float
    updated_at: float
    submitted_at: float | None


@dataclass(frozen=True, slots=True)
class AnswerRevision:
    step_id: str
    revision: int
    value: Any           # None when cleared
    cleared: bool
    answered_at: float
    asked_at: float | None
    channel: str | None


_RCOLS = ("id, respondent_id, round_id, survey_hash, mode, channel, lang, status, outcome, state,"
          " started_at, updated_at, submitted_at")


def _response_op(where: str, key: int) -> Any:
    def op(conn: sqlite3.Connection) -> ResponseRow | None:
        r = conn.execute(f"SELECT {_RCOLS} FROM responses WHERE {where} = ?", (key,)).fetchone()
        if r is None:
            return None
        state, _ = load_state_op(conn, r[0], r[9])
        return ResponseRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], state, r[10], r[11], r[12])
    return op


async def get_response(db: Database, response_id: int) -> ResponseRow | None:
    """A response with its full engine state (cursor, answers and paradata in one snapshot)."""
    return await db.read(_response_op("id", response_id))


async def get_response_for_respondent(db: Database, respondent_id: int) -> ResponseRow | None:
    return await db.read(_response_op("respondent_id", respondent_id))


async def current_answers(db: Database, response_id: int) -> dict[str, Any]:
    """step id → current value of one response (from ``answers_current``)."""
    rows = await db.fetchall("SELECT step_id, value FROM answers_current WHERE response_id = ?", (response_id,))
    return {r[0]: json.loads(r[1]) for r in rows}


async def answer_history(db: Database, response_id: int) -> list[AnswerRevision]:
    """Every revision of every step of one response, in the order they were written."""
    rows = await db.fetchall(
        "SELECT step_id, revision, value, cleared, answered_at, asked_at, channel FROM answers"
        " WHERE response_id = ? ORDER BY id", (response_id,))
    return [AnswerRevision(r[0], r[1], None if r[2] is None else json.loads(r[2]), bool(r[3]), r[4], r[5], r[6])
            for r in rows]


# ------------------------------------------------------------------ expiry

@dataclass(frozen=True, slots=True)
class IdleResponse:
    respondent_id: int
    response_id: int
    round_id: int
    updated_at: float


_IDLE_SQL = (
    "SELECT rs.respondent_id, rs.id, rs.round_id, rs.updated_at FROM responses AS rs"
    " JOIN rounds AS r ON r.id = rs.round_id JOIN respondents AS p ON p.id = rs.respondent_id"
    " WHERE r.status = 'open' AND rs.mode = 'chat' AND rs.status NOT IN ('submitted', 'ended')"
    " AND p.status = 'started' AND rs.updated_at < ? - r.expiry_days * 86400.0"
)


async def list_idle(db: Database, at: float | None = None) -> list[IdleResponse]:
    """Started conversations idle for longer than their round's ``expiry_days``."""
    rows = await db.fetchall(_IDLE_SQL + " ORDER BY rs.updated_at", (now() if at is None else at,))
    return [IdleResponse(*tuple(r)) for r in rows]


async def expire_idle(db: Database, at: float | None = None) -> list[IdleResponse]:
    """Mark idle conversations' respondents ``partial`` (they may still come back: an answer or
    a resume moves them to started again). Returns the ones changed."""
    t = now() if at is None else at

    def op(conn: sqlite3.Connection) -> list[IdleResponse]:
        rows = conn.execute(_IDLE_SQL, (t,)).fetchall()
        for r in rows:
            conn.execute("UPDATE respondents SET status = 'partial', status_at = ?, status_reason = 'idle'"
                         " WHERE id = ? AND status = 'started'", (t, r[0]))
        return [IdleResponse(*r) for r in rows]

    return await db.write(op)


# ------------------------------------------------------------------ responses created outside chat

def create_response_op(conn: sqlite3.Connection, respondent_id: int, round_id: int, state: State,
                       channel: str | None, at: float, mode: str = "chat") -> int:
    """Insert a response with ``state``'s cursor and paradata (``state_rev`` 0).

    ``state.answers`` are NOT stored here: answers live in ``answers`` rows, which the caller
    inserts (a fresh engine state has none; ``store_paper_responses`` inserts them itself).
    """
    rid = int(conn.execute(
        "INSERT INTO responses (respondent_id, round_id, survey_hash, mode, channel, lang, status, outcome,"
        " state, started_at, updated_at, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (respondent_id, round_id, state.survey_hash, mode, channel, state.lang, state.status, state.outcome,
         cursor_json(state), at, at, at if state.status == "submitted" else None),
    ).fetchone()[0])
    if state.meta:
        conn.executemany(_META_UPSERT, meta_rows(rid, state.meta))
    return rid


@dataclass(frozen=True, slots=True)
class PaperResponseIn:
    """A questionnaire entered from paper (validated against the definition by the caller).

    ``respondent_id``: the sampled respondent it belongs to, if known; otherwise a respondent is
    created in ``unit_id`` with ``selection_reason``.
    """

    unit_id: int
    answers: Mapping[str, Any]
    respondent_id: int | None = None
    household_ref: str | None = None
    selection_reason: str = "phiếu giấy / paper questionnaire"
    attrs: Mapping[str, Any] = field(default_factory=dict)
    submitted_at: float | None = None
    lang: str = "vi"
    outcome: str = "complete"


async def store_paper_responses(db: Database, round_id: int, survey_id: str, survey_hash: str,
                                items: Sequence[PaperResponseIn], actor: str = "system") -> list[int]:
    """Store paper questionnaires (mode = paper) all-or-nothing; returns response ids in order.

    Raises StorageError naming the item (1-based) if a respondent already has a response.
    """
    items = list(items)

    def op(conn: sqlite3.Connection) -> list[int]:
        from storage.audit import audit_op

        at = now()
        out: list[int] = []
        for i, it in enumerate(items, start=1):
            rid = it.respondent_id
            if rid is None:
                rid = insert_respondent_op(conn, round_id, RespondentIn(
                    it.unit_id, it.selection_reason, it.household_ref, it.attrs), at=at)
            elif conn.execute("SELECT 1 FROM responses WHERE respondent_id = ?", (rid,)).fetchone():
                raise StorageError(f"phiếu {i}: người trả lời {rid} đã có phiếu / item {i}: respondent "
                                   f"{rid} already has a response")
            t = it.submitted_at or at
            state = State(survey_id=survey_id, survey_hash=survey_hash, lang=it.lang, status="submitted",
                          outcome="complete", answers=dict(it.answers))  # type: ignore[arg-type]
            resp = create_response_op(conn, rid, round_id, state, None, t, mode="paper")
            for step, value in it.answers.items():
                vjson = dumps(value)
                num = value if type(value) is int else None
                conn.execute("INSERT INTO answers (response_id, step_id, revision, value, value_num, cleared,"
                             " answered_at) VALUES (?, ?, 1, ?, ?, 0, ?)", (resp, step, vjson, num, t))
            final = "completed" if it.outcome == "complete" else it.outcome
            conn.execute("UPDATE respondents SET status = ?, status_at = ?, finished_at = ?,"
                         " started_at = COALESCE(started_at, ?) WHERE id = ?", (final, t, t, t, rid))
            out.append(resp)
        audit_op(conn, actor, "responses.paper_import", {"count": len(out)}, round_id, at)
        return out

    return await db.write(op)


# ------------------------------------------------------------------ analytics reads (no personal data)

def _ro_connect(path: str) -> sqlite3.Connection:
    from pathlib import Path

    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    conn.execute("PRAGMA busy_timeout = 15000")
    return conn


def read_current_answers(path: str, round_id: int | None = None) -> "pd.DataFrame":
    """Long table of current answers: response_id, step_id, value_num (int or NA), value (JSON text).

    Reads ``answers_current`` in one query (one row per answered step), for analytics' wide pivot.
    Synchronous and read-only: analytics runs it off the event loop.
    """
    import pandas as pd

    sql = "SELECT a.response_id, a.step_id, a.value_num, a.value FROM answers_current AS a"
    params: tuple[Any, ...] = ()
    if round_id is not None:
        sql += " JOIN responses AS r ON r.id = a.response_id WHERE r.round_id = ?"
        params = (round_id,)
    conn = _ro_connect(path)
    try:
        rows = conn.execute(sql, params).fetchall()
    finally:
        conn.close()
    df = pd.DataFrame.from_records(rows, columns=["response_id", "step_id", "value_num", "value"])
    df["value_num"] = df["value_num"].astype("Int64")
    return df


def read_responses(path: str, round_id: int | None = None) -> "pd.DataFrame":
    """One row per response with its respondent's unit, disposition and re-check outcome.

    No personal data: names, phones and chat ids live in tables this never touches.
    """
    import pandas as pd

    sql = ("SELECT rs.id AS response_id, rs.respondent_id, rs.round_id, p.unit_id, rs.mode, rs.channel,"
           " rs.lang, rs.status, rs.outcome, rs.started_at, rs.updated_at, rs.submitted_at,"
           " p.status AS respondent_status, p.walk_in, p.substitute_of, p.attrs AS respondent_attrs,"
           " rc.outcome AS recheck_outcome, rc.note AS recheck_note"
           " FROM responses AS rs JOIN respondents AS p ON p.id = rs.respondent_id"
           " LEFT JOIN recheck AS rc ON rc.respondent_id = rs.respondent_id AND rc.round_id = rs.round_id")
    params: tuple[Any, ...] = ()
    if round_id is not None:
        sql += " WHERE rs.round_id = ?"
        params = (round_id,)
    conn = _ro_connect(path)
    try:
        return pd.read_sql_query(sql, conn, params=params)
    finally:
        conn.close()


def read_units(path: str) -> "pd.DataFrame":
    """The unit tree (id, frame, kind, code, name, admin_type, flags, parent_id, quota)."""
    import pandas as pd

    conn = _ro_connect(path)
    try:
        return pd.read_sql_query(
            "SELECT id AS unit_id, frame, kind, code, name, admin_type, is_admin_centre, is_commune_hq,"
            " parent_id, sort_order, neighbour_order, quota FROM units", conn)
    finally:
        conn.close()
