"""The hot path: one engine step stored atomically, and many of them in a few statements.

``StepWrite`` is one writer op per channel update. It stores the processed update key, the
response's cursor, the answer events and the ``response_steps`` rows the step changed together,
so that an acknowledged answer is on disk exactly once (see ``storage.state_rows`` for how the
state is laid out).

When many arrive in one group commit, ``StepWrite.run_many`` writes them all with one statement
per table (``storage.bulk``: the rows as bound parameters of one ``VALUES`` list). The batch is
written so only if it is plain: every update is new (a plain unique insert of the keys records
every one) and every response is still at the revision its step was computed from (the update
of the responses, conditioned on that revision, moves every one); both run under a savepoint,
rolled back if either falls short. Then what the stored state holds
is exactly the step's base state, so double taps were already dropped on the event loop, and a
response's status is written only by the steps that change it (the status column is indexed:
setting it, even to the same value, costs an index update). Anything unusual (a redelivered
update, a stale base, two steps of one response in the batch) runs the ops one by one, in
order, each checking in SQL, with identical effects (``tests/storage/test_storage_step_write.py``).

Few statements per batch matter as much as cheap ones: the writer thread gives the GIL back to
the event loop during each statement and waits to take it back after.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import Any

from engine.types import AnswerCleared, AnswerSet, Event, State, StatusChanged
from storage.api import StaleSession
from storage.bulk import BulkStatement
from storage.dialect import SQLITE, backend_of
from storage.state_rows import (
    ResponseGone,
    StepRow,
    cursor_json,
    step_rows,
    trail_fits_rows,
    value_json,
)
from storage.writer import Epoch, keeps_sessions

_MISSING = object()
_LIVE_STATUSES = ("new", "active", "paused", "review")
_COMEBACK_SQL = "'partial','unreachable','refused','ineligible'"
# An answer means the citizen is answering: started, from any of these.
_ANSWERABLE_SQL = "'sampled','invited','opened','partial','unreachable','refused','ineligible'"

_STEPS_UPSERT = ("INSERT INTO response_steps (response_id, step_id, asked_at, answered_at, changes, trail_pos)"
                 " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (response_id, step_id) DO UPDATE SET"
                 " asked_at = excluded.asked_at, answered_at = excluded.answered_at, changes = excluded.changes,"
                 " trail_pos = excluded.trail_pos")


def write_state_rows_op(conn: sqlite3.Connection, response_id: int, rows: Sequence[StepRow]) -> None:
    """Replace every ``response_steps`` row of a response (see ``state_rows.step_rows``)."""
    conn.execute("DELETE FROM response_steps WHERE response_id = ?", (response_id,))
    if rows:
        conn.executemany(_STEPS_UPSERT, rows)


def _same_value(stored_json: str, new_json: str, new_value: Any) -> bool:
    """Double-tap test on a stored JSON value: equal JSON, or ``_is_double_tap`` once decoded."""
    if stored_json == new_json:
        return True
    if not isinstance(new_value, list):
        return False
    try:
        return _is_double_tap(json.loads(stored_json), new_value)
    except ValueError:
        return False


def _same_picks(old: list[Any], new: list[Any]) -> bool:
    try:
        return sorted(old, key=repr) == sorted(new, key=repr)
    except TypeError:
        return False


def _is_double_tap(stored: Any, value: Any) -> bool:
    """The stored current answer already is ``value`` (same picks in any order for a list)."""
    if type(stored) is not type(value):
        return False
    return stored == value or (type(value) is list and _same_picks(stored, value))


def respondent_transition_op(conn: sqlite3.Connection, respondent_id: int, answered: bool,
                             final: StatusChanged | None, at: float) -> None:
    """Move the respondent's disposition after a StatusChanged (rules in ``StepWrite``).

    The "answered → started" move is done by ``StepWrite`` itself.
    """
    kind = _transition(answered, final)
    if kind is not None:
        _TRANSITIONS[kind].run(conn, [_transition_row(kind, respondent_id, final, at)])  # type: ignore[arg-type]


def _transition(answered: bool, final: StatusChanged | None) -> str | None:
    if final is None:
        return None
    st, outcome = final.status, final.outcome
    if st == "submitted" or (st == "ended" and outcome == "complete"):
        return "completed"
    if st == "ended" and outcome in ("refused", "ineligible"):
        return "withdrawn"
    if st in _LIVE_STATUSES and not answered:
        return "comeback"   # a resume after expiry, after /stop, after an unblock: live again
    return None


def _transition_row(kind: str, respondent_id: int, final: StatusChanged, at: float) -> tuple[Any, ...]:
    return (respondent_id, at, final.outcome) if kind == "withdrawn" else (respondent_id, at)


_TRANSITIONS = {
    "completed": BulkStatement(
        "UPDATE respondents SET status = 'completed', status_at = u.column2, finished_at = u.column2,"
        " status_reason = NULL FROM ({rows}) AS u WHERE respondents.id = u.column1"
        " AND respondents.status != 'substituted'", 2, ("bigint", "float8")),
    "withdrawn": BulkStatement(
        "UPDATE respondents SET status = u.column3, status_at = u.column2, finished_at = u.column2,"
        " status_reason = NULL FROM ({rows}) AS u WHERE respondents.id = u.column1"
        " AND respondents.status NOT IN ('completed', 'substituted', u.column3)", 3, ("bigint", "float8", "text")),
    "comeback": BulkStatement(
        "UPDATE respondents SET status = 'started', status_at = u.column2,"
        " started_at = COALESCE(started_at, u.column2), status_reason = NULL FROM ({rows}) AS u"
        f" WHERE respondents.id = u.column1 AND respondents.status IN ({_COMEBACK_SQL})", 2, ("bigint", "float8")),
}

# ------------------------------------------------------------------ processed update keys

#: How long an update key makes a redelivery a no-op (seconds). Platforms redeliver within hours
#: (Telegram keeps an unconfirmed update for 24 h, then drops it), and they do reuse ids: after a
#: week without updates Telegram picks the next update id at random, so an old id can come back
#: as a new update. A key older than this window is therefore a *new* update (it is processed;
#: its row's time is renewed), and ``storage.responses.purge_processed_updates`` deletes such
#: rows. 3 days: over Telegram's 24 h with margin for a long outage or a clock step, well under
#: its week.
PROCESSED_WINDOW_S = 3 * 86_400.0

# ------------------------------------------------------------------ one op at a time

# Inserts the key, or renews a key older than the window: rowcount 0 means a redelivery.
_PROCESSED_SQL = ("INSERT INTO processed_updates (channel, update_key, at) VALUES (?1, ?2, ?3)"
                  " ON CONFLICT (channel, update_key) DO UPDATE SET at = excluded.at"
                  f" WHERE processed_updates.at < ?3 - {PROCESSED_WINDOW_S!r}")
# ``reply_due = state_rev + 1``: the new revision's replies are owed until the channel has sent
# them (``replies_sent_op``); SQLite evaluates every right-hand side on the old row.
_RESPONSE_SET = ("UPDATE responses SET state = ?, status = ?, outcome = ?, lang = ?, channel = ?, updated_at = ?,"
                 " submitted_at = CASE WHEN ? = 'submitted' THEN COALESCE(submitted_at, ?) ELSE submitted_at END,"
                 " state_rev = state_rev + 1, reply_due = state_rev + 1")
_RESPONSE_AT_REV = _RESPONSE_SET + " WHERE id = ? AND state_rev = ?"
_RESPONSE_ANY_REV = _RESPONSE_SET + " WHERE id = ? RETURNING state_rev"
# One statement for both event kinds. An AnswerSet adds a revision unless the current value is
# the same JSON (a double tap); an AnswerCleared adds a cleared revision only if there is a
# current value. Revisions continue after a clear. The revision it wrote comes back, and
# answers_current follows (_CURRENT_SET / _CURRENT_CLEAR; no trigger since migration 14).
_ANSWER_SQL = (
    "INSERT INTO answers (response_id, step_id, revision, value, value_num, cleared, answered_at, asked_at, channel)"
    " SELECT ?1, ?2, COALESCE((SELECT revision FROM answers WHERE response_id = ?1 AND step_id = ?2"
    " ORDER BY revision DESC LIMIT 1), 0) + 1, ?3, ?4, ?5, ?6, ?7, ?8"
    " WHERE CASE WHEN ?5 = 1 THEN EXISTS (SELECT 1 FROM answers_current WHERE response_id = ?1 AND step_id = ?2)"
    " ELSE NOT EXISTS (SELECT 1 FROM answers_current WHERE response_id = ?1 AND step_id = ?2 AND value = ?3) END"
    " RETURNING revision")
#: The current value of a step after an answer row (shared with the paper import).
CURRENT_SET = ("INSERT INTO answers_current (response_id, step_id, revision, value, value_num, answered_at)"
               " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (response_id, step_id) DO UPDATE SET"
               " revision = excluded.revision, value = excluded.value, value_num = excluded.value_num,"
               " answered_at = excluded.answered_at")
_CURRENT_CLEAR = "DELETE FROM answers_current WHERE response_id = ? AND step_id = ?"
_STARTED_SQL = ("UPDATE respondents SET status = 'started', status_at = ?, started_at = COALESCE(started_at, ?),"
                f" status_reason = NULL WHERE id = ? AND status IN ({_ANSWERABLE_SQL})")
_CURRENT_VALUE = "SELECT value FROM answers_current WHERE response_id = ? AND step_id = ?"

# ------------------------------------------------------------------ a batch at a time

# The batch is plain if every update key is new (a plain unique insert records them all; a key
# older than the window is renewed, and counted, as one by one) and
# every response is still at the revision the store computed its step from (the responses update
# moves them all). Both run under a savepoint: if either falls short (a redelivery, a stale
# base), the savepoint is rolled back and the ops run one by one.
_BULK_CLAIM = BulkStatement(
    "INSERT INTO processed_updates (channel, update_key, at) SELECT column1, column2, column3 FROM ({rows}) AS v"
    " WHERE column1 IS NOT NULL ON CONFLICT (channel, update_key) DO UPDATE SET at = excluded.at"
    f" WHERE processed_updates.at < excluded.at - {PROCESSED_WINDOW_S!r}", 3, ("text", "text", "float8"))
_SAVEPOINT, _ROLLBACK_TO, _RELEASE = "SAVEPOINT step_bulk", "ROLLBACK TO SAVEPOINT step_bulk", "RELEASE SAVEPOINT step_bulk"
_BULK_RESPONSES = BulkStatement(
    "UPDATE responses SET state = u.column3, lang = u.column4, channel = u.column5, updated_at = u.column6,"
    " state_rev = state_rev + 1, reply_due = state_rev + 1 FROM ({rows}) AS u WHERE responses.id = u.column1"
    " AND responses.state_rev = u.column2", 6, ("bigint", "bigint", "text", "text", "text", "float8"))
_BULK_STATUS = BulkStatement(
    "UPDATE responses SET status = u.column2, outcome = u.column3, submitted_at = CASE WHEN u.column2 = 'submitted'"
    " THEN COALESCE(submitted_at, u.column4) ELSE submitted_at END FROM ({rows}) AS u WHERE responses.id = u.column1",
    4, ("bigint", "text", "text", "float8"))
# Double taps were dropped on the event loop (the base state is the stored one).
_BULK_ANSWERS = BulkStatement(
    "INSERT INTO answers (response_id, step_id, revision, value, value_num, cleared, answered_at, asked_at, channel)"
    " SELECT a.column1, a.column2, COALESCE((SELECT revision FROM answers WHERE response_id = a.column1"
    " AND step_id = a.column2 ORDER BY revision DESC LIMIT 1), 0) + 1, a.column3, a.column4, a.column5, a.column6,"
    " a.column7, a.column8 FROM ({rows}) AS a WHERE a.column1 IS NOT NULL", 8,
    ("bigint", "text", "text", "bigint", "bigint", "float8", "float8", "text"))
# Then the current values. SQLite: from the answer rows just inserted, found by their ids (an
# INTEGER PRIMARY KEY grows: every new row has an id above the largest before; one writer), read
# back from pages the insert just wrote, without binding the rows again. PostgreSQL (identity
# ids of concurrent workers interleave): from the same bound rows, the revision looked up (one
# row per step and response in a plain batch, so the latest revision is the one just inserted).
_LAST_ANSWER_ID = "SELECT max(id) FROM answers"
_CURRENT_FROM_IDS = (
    "INSERT INTO answers_current (response_id, step_id, revision, value, value_num, answered_at)"
    " SELECT response_id, step_id, revision, value, value_num, answered_at FROM answers WHERE id > ? AND cleared = 0"
    " ON CONFLICT (response_id, step_id) DO UPDATE SET revision = excluded.revision, value = excluded.value,"
    " value_num = excluded.value_num, answered_at = excluded.answered_at")
_BULK_CURRENT = BulkStatement(
    "INSERT INTO answers_current (response_id, step_id, revision, value, value_num, answered_at)"
    " SELECT a.column1, a.column2, (SELECT max(revision) FROM answers WHERE response_id = a.column1"
    " AND step_id = a.column2), a.column3, a.column4, a.column6 FROM ({rows}) AS a"
    " WHERE a.column1 IS NOT NULL AND a.column5 = 0 ON CONFLICT (response_id, step_id) DO UPDATE SET"
    " revision = excluded.revision, value = excluded.value, value_num = excluded.value_num,"
    " answered_at = excluded.answered_at", 8, ("bigint", "text", "text", "bigint", "bigint", "float8", "float8", "text"))
_BULK_CLEAR = BulkStatement(
    "DELETE FROM answers_current WHERE (response_id, step_id) IN"
    " (SELECT column1, column2 FROM ({rows}) AS c WHERE column1 IS NOT NULL)", 2, ("bigint", "text"))
_BULK_STEPS = BulkStatement(
    "INSERT INTO response_steps (response_id, step_id, asked_at, answered_at, changes, trail_pos)"
    " SELECT column1, column2, column3, column4, column5, column6 FROM ({rows}) AS s WHERE column1 IS NOT NULL"
    " ON CONFLICT (response_id, step_id) DO UPDATE SET asked_at = excluded.asked_at,"
    " answered_at = excluded.answered_at, changes = excluded.changes, trail_pos = excluded.trail_pos", 6,
    ("bigint", "text", "float8", "float8", "bigint", "bigint"))
_BULK_STARTED = BulkStatement(
    "UPDATE respondents SET status = 'started', status_at = u.column2, started_at = COALESCE(started_at, u.column2),"
    f" status_reason = NULL FROM ({{rows}}) AS u WHERE respondents.id = u.column1"
    f" AND respondents.status IN ({_ANSWERABLE_SQL})", 2, ("bigint", "float8"))


class StepWrite:
    """One engine step to store atomically (a writer op): ``op(conn)`` returns the response's
    new ``state_rev``, or 0 (nothing written) if ``(channel, update_key)`` was already processed
    (within ``PROCESSED_WINDOW_S``).

    - the (channel, update_key) row is inserted first: a conflict means a redelivered update
      (a key older than the window is a reused id: renewed, and the step is stored);
    - the response row gets the new cursor, status, language, the channel of this update,
      ``state_rev + 1``, and ``reply_due`` = that revision (its replies are owed until the channel
      reports them sent, see ``replies_sent_op``);
    - each AnswerSet adds a revision unless it equals the current value (a double tap; for a
      multiple choice, the same picks in any order); each AnswerCleared adds a cleared revision
      (only if there is a current value). ``answers_current`` is written alongside (the
      statements, not a trigger, since migration 14); an answer moves the respondent to started (from sampled/invited/opened/partial/unreachable/
      refused/ineligible);
    - ``response_steps``: the ``delta`` rows if the stored revision is still ``base_rev`` (the
      revision of ``base``, the state the step started from), else every row of ``state``;
    - StatusChanged: submitted or ended+complete → completed; ended+refused → refused;
      ended+ineligible → ineligible; a live status after partial/refused/ineligible/unreachable
      (the citizen came back) → started. completed and substituted never move.

    Built on the event loop, run on the writer thread; it only reads the states it keeps (the
    engine never mutates a state it returned).

    ``trusted_at``: the step was built on a cached session read at this session epoch
    (``storage.writer.Epoch``, ``epoch``): it is refused with ``StaleSession`` (nothing stored)
    if the epoch moved on before it ran or the stored revision is not ``base_rev``, instead of
    being written over whatever is stored.
    """

    __slots__ = ("response_id", "respondent_id", "state", "cursor", "channel", "update_key", "at", "lang",
                 "answer_rows", "list_checks", "delta", "base_rev", "final", "answered", "bulk", "bulk_rows",
                 "status_row", "trail_in_rows", "trusted_at", "epoch")

    #: a step changes only its own response, which ``base_rev`` checks (``storage.writer``)
    keeps_sessions = True

    def __init__(self, response_id: int, respondent_id: int, state: State, events: Sequence[Event],
                 channel: str, update_key: str, at: float, delta: list[StepRow] | None = None,
                 base_rev: int | None = None, base: State | None = None, *,
                 trusted_at: int | None = None, epoch: Epoch | None = None) -> None:
        self.trusted_at = trusted_at if epoch is not None and base_rev is not None else None
        self.epoch = epoch
        self.response_id = response_id
        self.respondent_id = respondent_id
        self.state = state
        self.channel = channel
        self.update_key = update_key
        self.at = at
        self.lang = state.lang
        if delta is None or base_rev is None or base is None:
            delta = base_rev = base = None
        self.delta = delta
        self.base_rev = base_rev
        # A delta is only computed when the trail fits rows; a full rewrite decides again.
        self.trail_in_rows = delta is not None or trail_fits_rows(state)
        self.cursor = cursor_json(state, with_trail=not self.trail_in_rows)
        rows: list[tuple[Any, ...]] = []
        values: list[Any] = []               # the event's value, _MISSING for a clear
        checks: tuple[tuple[int, Any], ...] = ()   # (row index, list value): order-insensitive double tap
        final = None
        answered = False
        meta = state.meta
        for ev in events:
            tev = type(ev)
            if tev is AnswerSet:
                value = ev.value  # type: ignore[union-attr]
                m = meta.get(ev.step_id)  # type: ignore[union-attr]
                if type(value) is int:
                    rows.append((response_id, ev.step_id, int.__repr__(value), value, 0, ev.at,  # type: ignore[union-attr]
                                 m.asked_at if m is not None else None, channel))
                else:
                    if type(value) is list:
                        checks += ((len(rows), value),)
                    rows.append((response_id, ev.step_id, value_json(value), None, 0, ev.at,  # type: ignore[union-attr]
                                 m.asked_at if m is not None else None, channel))
                values.append(value)
                answered = True
            elif tev is AnswerCleared:
                rows.append((response_id, ev.step_id, None, None, 1, ev.at, None, channel))  # type: ignore[union-attr]
                values.append(_MISSING)
            elif tev is StatusChanged:
                final = ev
        self.answer_rows = rows
        self.list_checks = checks
        self.final = final
        self.answered = answered
        # The batched path: against a known base, with one event per step (each row is then
        # decided from the base state alone, which is what is stored when the batch runs). The
        # answer rows are chosen here, on the event loop; the writer thread only binds them.
        self.bulk = False
        self.bulk_rows = rows
        self.status_row: tuple[Any, ...] | None = None
        if base is not None and (len(rows) < 2 or len({r[1] for r in rows}) == len(rows)):
            self.bulk = True
            stored = base.answers
            if rows and (stored or _MISSING in values):
                kept = []
                for r, value in zip(rows, values):
                    old = stored.get(r[1], _MISSING)
                    if old is _MISSING:
                        if value is not _MISSING:         # a new answer (a clear of nothing is nothing)
                            kept.append(r)
                    elif value is _MISSING or not _is_double_tap(old, value):
                        kept.append(r)                    # a clear, or a changed answer
                self.bulk_rows = kept
            if state.status != base.status or state.outcome != base.outcome:
                self.status_row = (response_id, state.status, state.outcome, at)

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
        trusted = self.trusted_at
        if trusted is not None and trusted != self.epoch.value:  # type: ignore[union-attr]
            raise StaleSession("the cached session is out of date / phiên đã cũ")
        if ex(_PROCESSED_SQL, (self.channel, self.update_key, self.at)).rowcount == 0:
            return 0
        at = self.at
        st = self.state
        head = (self.cursor, st.status, st.outcome, st.lang, self.channel, at, st.status, at, self.response_id)
        if self.base_rev is not None and ex(_RESPONSE_AT_REV, (*head, self.base_rev)).rowcount == 1:
            rev = self.base_rev + 1
            if self.delta:
                conn.executemany(_STEPS_UPSERT, self.delta)
        elif trusted is not None:
            # Raising rolls the update key back with the rest (the writer's savepoint per op).
            raise StaleSession("the response moved on since the session was cached / phiếu đã thay đổi")
        else:
            row = ex(_RESPONSE_ANY_REV, head).fetchall()
            if not row:
                raise ResponseGone(f"no response {self.response_id} / không có phiếu trả lời {self.response_id}")
            rev = int(row[0][0])
            rows, fits = step_rows(self.response_id, st)
            if self.trail_in_rows and not fits:   # the cursor was made without the trail
                ex("UPDATE responses SET state = ? WHERE id = ?", (cursor_json(st, with_trail=True), self.response_id))
            write_state_rows_op(conn, self.response_id, rows)
        for r in self._answer_rows(conn):   # in event order: a step may be set then cleared
            added = ex(_ANSWER_SQL, r).fetchall()
            if added:
                if r[4]:
                    ex(_CURRENT_CLEAR, (r[0], r[1]))
                else:
                    ex(CURRENT_SET, (r[0], r[1], added[0][0], r[2], r[3], r[5]))
        if self.answered:
            ex(_STARTED_SQL, (at, at, self.respondent_id))
        if self.final is not None:
            respondent_transition_op(conn, self.respondent_id, self.answered, self.final, at)
        return rev

    @staticmethod
    def run_many(conn: sqlite3.Connection, ops: list["StepWrite"]) -> list[int]:
        """The same effects as ``[op(conn) for op in ops]``, with one statement per table.

        Only when the batch is plain (each response once, each update new, each base revision
        current: the first two statements, under a savepoint, find out, and are rolled back
        otherwise); otherwise the ops run one by one, in order.
        """
        n = len(ops)
        if n == 1 or not all(map(_is_bulk, ops)) or len(set(map(_response_id, ops))) != n \
                or len(set(map(_update, ops))) != n or not _trusted_current(ops):
            return _one_by_one(conn, ops)
        ex = conn.execute
        ex(_SAVEPOINT)
        if _BULK_CLAIM.run(conn, list(map(_key_row, ops))) != n \
                or _BULK_RESPONSES.run(conn, list(map(_head_row, ops))) != n:
            ex(_ROLLBACK_TO)
            ex(_RELEASE)
            return _one_by_one(conn, ops)
        ex(_RELEASE)
        revs = [op.base_rev + 1 for op in ops]  # type: ignore[operator]
        # The ops touch disjoint rows: written in key order, each b-tree is walked once, left
        # to right, instead of at random (fewer page visits for the same rows).
        ops = sorted(ops, key=_response_id)
        status = [op.status_row for op in ops if op.status_row is not None]
        if status:
            _BULK_STATUS.run(conn, status)
        answers = list(chain.from_iterable(map(_bulk_rows, ops)))
        if answers:
            if backend_of(conn) == SQLITE:
                last = ex(_LAST_ANSWER_ID).fetchone()[0] or 0
                _BULK_ANSWERS.run(conn, answers)
                ex(_CURRENT_FROM_IDS, (last,))
            else:
                _BULK_ANSWERS.run(conn, answers)
                _BULK_CURRENT.run(conn, answers)
            cleared = [(r[0], r[1]) for r in answers if r[4]]
            if cleared:
                _BULK_CLEAR.run(conn, cleared)
        steps = list(chain.from_iterable(map(_delta, ops)))
        if steps:
            _BULK_STEPS.run(conn, steps)
        started = list(map(_started_row, filter(_is_answered, ops)))
        if started:
            _BULK_STARTED.run(conn, started)
        finals: dict[str, list[tuple[Any, ...]]] = {}
        for op in ops:
            if op.final is not None:
                kind = _transition(op.answered, op.final)
                if kind is not None:
                    finals.setdefault(kind, []).append(_transition_row(kind, op.respondent_id, op.final, op.at))
        for kind, rows in finals.items():   # after "started", as op by op
            _TRANSITIONS[kind].run(conn, rows)
        STATS.bulk_batches += 1
        STATS.bulk_ops += n
        return revs


@dataclass(slots=True)
class StepWriteStats:
    """How step writes went (tests and benchmarks check that batching happens, not assume it)."""

    bulk_batches: int = 0       # batches written with one statement per table
    bulk_ops: int = 0
    one_by_one_ops: int = 0     # ops written alone (a lone op, or a batch that was not plain)


STATS = StepWriteStats()

def _trusted_current(ops: list[StepWrite]) -> bool:
    """No op of the batch was built on a cached session the epoch has moved past (a batch holds
    the ops of one writer: one epoch)."""
    return all(op.trusted_at is None or op.trusted_at == op.epoch.value for op in ops)  # type: ignore[union-attr]


def _one_by_one(conn: sqlite3.Connection, ops: list[StepWrite]) -> list[int]:
    STATS.one_by_one_ops += len(ops)
    return [op(conn) for op in ops]


# Rows of the batched statements, read off the ops in C (no Python frame per op on the writer).
_key_row = attrgetter("channel", "update_key", "at")
_head_row = attrgetter("response_id", "base_rev", "cursor", "lang", "channel", "at")
_started_row = attrgetter("respondent_id", "at")
_bulk_rows = attrgetter("bulk_rows")
_delta = attrgetter("delta")
_is_bulk = attrgetter("bulk")
_is_answered = attrgetter("answered")
_response_id = attrgetter("response_id")
_update = attrgetter("channel", "update_key")


# ------------------------------------------------------------------ replies sent

_REPLIES_SENT = BulkStatement(
    "UPDATE responses SET reply_due = 0 FROM ({rows}) AS u WHERE responses.id = u.column1"
    " AND responses.reply_due = u.column2", 2, ("bigint", "bigint"))


def replies_sent_op(rows: Sequence[tuple[int, int]]) -> Callable[[sqlite3.Connection], int]:
    """A writer op: the replies of these ``(response_id, state_rev)`` steps were sent, so nothing
    is owed for them any more (a response that has committed a newer step since keeps owing
    that one's replies)."""
    rows = list(rows)
    return keeps_sessions(lambda conn: _REPLIES_SENT.run(conn, rows))   # reply_due only


def commit_step_op(conn: sqlite3.Connection, response_id: int, respondent_id: int, state: State,
                   channel: str, events: Sequence[Event], update_key: str, at: float) -> bool:
    """Store one engine step in ``conn``'s transaction (every paradata row rewritten); False if
    ``update_key`` was seen. For tools and tests; channels go through the conversation store."""
    return StepWrite(response_id, respondent_id, state, events, channel, update_key, at)(conn) > 0
