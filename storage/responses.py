"""Responses, their answer history, processed channel updates, expiry, paper import, analytics reads.

How a conversation's engine state is laid out in rows is in ``storage.state_rows``; the hot path
that stores one engine step (and a group commit's worth of them) is ``storage.step_write``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.types import State
from storage.audit import audit_op
from storage.db import Database, StorageError
from storage.dialect import parse_db_url
from storage.pg import read_rows_pg
from storage.respondents import FINAL_STATUSES, RespondentIn, insert_respondent_op
from storage.redact import mask
from storage.state_rows import (
    ResponseGone,
    StoredState,
    cursor_json,
    load_state_op,
    state_to_json,
    step_rows,
    trail_fits_rows,
)
from storage.step_write import CURRENT_SET, PROCESSED_WINDOW_S, StepWrite, commit_step_op, write_state_rows_op
from storage.util import dumps, now

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ResponseGone", "StoredState", "StepWrite", "commit_step_op", "load_state_op", "state_to_json"]

DAY = 86_400.0
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


async def purge_processed_updates(db: Database, older_than: float, chunk: int = 5_000) -> int:
    """Forget update keys older than ``older_than``; returns how many.

    Keys older than ``storage.step_write.PROCESSED_WINDOW_S`` no longer stop an update (a reused
    id is a new update), so ``prune_processed_updates`` deletes them. Deleted ``chunk`` rows per
    transaction, so that a day's keys never hold up the writer (and the citizens' answers behind
    it) for long.
    """
    total = 0
    while True:
        n = await db.write(lambda conn: conn.execute(
            "DELETE FROM processed_updates WHERE (channel, update_key) IN (SELECT channel, update_key"
            " FROM processed_updates WHERE at < ? LIMIT ?)", (older_than, chunk)).rowcount)
        total += n
        if n < chunk:
            return total


async def prune_processed_updates(db: Database, at: float | None = None) -> int:
    """Delete the update keys that are past the redelivery window at ``at`` (default: now)."""
    return await purge_processed_updates(db, (now() if at is None else at) - PROCESSED_WINDOW_S)


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
        state = load_state_op(conn, r[0], r[9]).state
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
         cursor_json(state, with_trail=not trail_fits_rows(state)), at, at,
         at if state.status == "submitted" else None),
    ).fetchone()[0])
    rows, _ = step_rows(rid, state)
    if rows:
        write_state_rows_op(conn, rid, rows)
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
            name = conn.execute("SELECT name FROM contacts WHERE respondent_id = ?", (rid,)).fetchone()
            for step, value in it.answers.items():
                if type(value) is str:      # free text without identities (storage.redact)
                    value = mask(value, [name[0]] if name and name[0] else [])
                vjson = dumps(value)
                num = value if type(value) is int else None
                conn.execute("INSERT INTO answers (response_id, step_id, revision, value, value_num, cleared,"
                             " answered_at) VALUES (?, ?, 1, ?, ?, 0, ?)", (resp, step, vjson, num, t))
                conn.execute(CURRENT_SET, (resp, step, 1, vjson, num, t))
            final = "completed" if it.outcome == "complete" else it.outcome
            conn.execute("UPDATE respondents SET status = ?, status_at = ?, finished_at = ?,"
                         " started_at = COALESCE(started_at, ?) WHERE id = ?", (final, t, t, t, rid))
            out.append(resp)
        audit_op(conn, actor, "responses.paper_import", {"count": len(out)}, round_id, at)
        return out

    return await db.write(op)


# ------------------------------------------------------------------ analytics reads (no personal data)

def _ro_connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    conn.execute("PRAGMA busy_timeout = 15000")
    return conn


def _read_rows(path: str, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and every row of one read-only query, on either backend (by URL). On
    PostgreSQL the rows come through a server-side cursor in large chunks (``storage.pg``)."""
    where = parse_db_url(path)
    if where.is_postgres:
        return read_rows_pg(where.target, sql, params)
    conn = _ro_connect(where.target)
    try:
        cur = conn.execute(sql, params)
        return [d[0] for d in cur.description], cur.fetchall()
    finally:
        conn.close()


def _frame(path: str, sql: str, params: Sequence[Any] = ()) -> "pd.DataFrame":
    # pandas only here and in the other analytics reads below: the bot imports storage and never
    # reads a frame, and pandas costs ~0.5 s of start-up (python -X importtime).
    import pandas as pd

    columns, rows = _read_rows(path, sql, params)
    return pd.DataFrame.from_records(rows, columns=columns)


def read_current_answers(path: str, round_id: int | None = None) -> "pd.DataFrame":
    """Long table of current answers: response_id, step_id, value_num (int or NA), value (JSON text).

    Reads ``answers_current`` in one query (one row per answered step), for analytics' wide pivot.
    Synchronous and read-only: analytics runs it off the event loop.
    """
    import pandas as pd   # analytics only: the bot and the CLI import this module without pandas

    sql = "SELECT a.response_id, a.step_id, a.value_num, a.value FROM answers_current AS a"
    params: tuple[Any, ...] = ()
    if round_id is not None:
        sql += " JOIN responses AS r ON r.id = a.response_id WHERE r.round_id = ?"
        params = (round_id,)
    _, rows = _read_rows(path, sql, params)
    df = pd.DataFrame.from_records(rows, columns=["response_id", "step_id", "value_num", "value"])
    df["value_num"] = df["value_num"].astype("Int64")
    return df


def read_responses(path: str, round_id: int | None = None) -> "pd.DataFrame":
    """One row per response with its respondent's unit, disposition and re-check outcome.

    No personal data: names, phones and chat ids live in tables this never touches.
    """
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
    return _frame(path, sql, params)


def read_units(path: str) -> "pd.DataFrame":
    """The unit tree (id, frame, kind, code, name, admin_type, flags, parent_id, quota)."""
    return _frame(path, "SELECT id AS unit_id, frame, kind, code, name, admin_type, is_admin_centre, is_commune_hq,"
                        " parent_id, sort_order, neighbour_order, quota FROM units ORDER BY id")
