"""Responses, their answer history, processed channel updates, expiry, paper import, analytics reads.

The hot path is ``commit_step_op``: one writer op per channel update, storing the processed update
key, the engine state and the answer events together, so that an acknowledged answer is on disk
exactly once. Answer history (``answers``) keeps every revision; ``answers_current`` holds the
current value of every answered step, maintained in the same transaction, so analytics reads one
row per answer without working out revisions.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.engine_types import AnswerCleared, AnswerSet, Event, State, StatusChanged
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
    """Move the respondent's disposition after a StatusChanged (rules in ``commit_step_op``).

    The "answered → started" move is done by ``commit_step_op`` itself.
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


def commit_step_op(conn: sqlite3.Connection, response_id: int, respondent_id: int, state_json: str,
                   status: str, outcome: str | None, lang: str, channel: str,
                   events: Sequence[Event], update_key: str, at: float,
                   asked_at: Mapping[str, float | None]) -> bool:
    """Store one engine step atomically; False (nothing written) if ``update_key`` was seen.

    - the (channel, update_key) row is inserted first: a conflict means a redelivered update;
    - the response row gets the new state, status, language and the channel of this update;
    - each AnswerSet adds a revision unless it equals the current value (a double tap); each
      AnswerCleared adds a cleared revision (only if there is a current value). Triggers
      (migration 3) keep ``answers_current`` in step; an answer moves the respondent to started
      (from sampled/invited/opened/partial/unreachable/refused/ineligible);
    - StatusChanged: submitted or ended+complete → completed; ended+refused → refused;
      ended+ineligible → ineligible; a live status after partial/refused/ineligible/unreachable
      (the citizen came back) → started. completed and substituted never move.

    Statements for a one-answer step: 5 (update key, state, latest revision, answer, respondent).
    """
    ex = conn.execute
    if ex("INSERT INTO processed_updates (channel, update_key, at) VALUES (?, ?, ?)"
          " ON CONFLICT DO NOTHING", (channel, update_key, at)).rowcount == 0:
        return False
    if ex("UPDATE responses SET state = ?, status = ?, outcome = ?, lang = ?, channel = ?, updated_at = ?,"
          " submitted_at = CASE WHEN ? = 'submitted' THEN COALESCE(submitted_at, ?) ELSE submitted_at END"
          " WHERE id = ?",
          (state_json, status, outcome, lang, channel, at, status, at, response_id)).rowcount == 0:
        raise ResponseGone(f"no response {response_id} / không có phiếu trả lời {response_id}")
    answered = False
    final: StatusChanged | None = None
    for ev in events:
        tev = type(ev)
        if tev is AnswerSet or tev is AnswerCleared:
            step = ev.step_id  # type: ignore[union-attr]
            last = ex("SELECT value, revision, cleared FROM answers WHERE response_id = ? AND step_id = ?"
                      " ORDER BY revision DESC LIMIT 1", (response_id, step)).fetchone()
            if tev is AnswerSet:
                value = ev.value  # type: ignore[union-attr]
                vjson = dumps(value)
                if last is not None and not last[2] and _same_value(last[0], vjson, value):
                    continue  # double tap: the current value again
                ex("INSERT INTO answers (response_id, step_id, revision, value, value_num, cleared, answered_at,"
                   " asked_at, channel) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
                   (response_id, step, 1 if last is None else last[1] + 1, vjson,
                    value if type(value) is int else None, ev.at, asked_at.get(step), channel))  # type: ignore[union-attr]
                answered = True
            elif last is not None and not last[2]:
                ex("INSERT INTO answers (response_id, step_id, revision, value, value_num, cleared, answered_at,"
                   " asked_at, channel) VALUES (?, ?, ?, NULL, NULL, 1, ?, NULL, ?)",
                   (response_id, step, last[1] + 1, ev.at, channel))  # type: ignore[union-attr]
        elif tev is StatusChanged:
            final = ev  # type: ignore[assignment]
    if answered:
        ex("UPDATE respondents SET status = 'started', status_at = ?, started_at = COALESCE(started_at, ?),"
           f" status_reason = NULL WHERE id = ? AND status IN ({_ANSWERABLE_SQL})", (at, at, respondent_id))
    if final is not None:
        respondent_transition_op(conn, respondent_id, answered, final, at)
    return True


_STATE_FIELDS = ("survey_id", "survey_hash", "lang", "status", "outcome", "current", "answers", "picks",
                 "trail", "meta", "seq")
_STATE_FAST = tuple(f.name for f in State.__dataclass_fields__.values()) == _STATE_FIELDS


_KEY_JSON: dict[str, str] = {}


def _key_json(k: str) -> str:
    j = _KEY_JSON.get(k)
    if j is None:
        j = json.dumps(k, ensure_ascii=False)
        if len(_KEY_JSON) < 100_000:
            _KEY_JSON[k] = j
    return j


def _num_json(x: float | None) -> str:
    if x is None:
        return "null"
    if type(x) is int:
        return str(x)
    if x - x != 0:  # nan or infinity: let json decide (it writes NaN/Infinity as State.to_json does)
        return json.dumps(x)
    return f"{x:.6f}"


def _meta_fragment(k: str, m: Any) -> str:
    return (f'{_key_json(k)}:{{"asked_at":{_num_json(m.asked_at)},"answered_at":{_num_json(m.answered_at)},'
            f'"changes":{int(m.changes)}}}')


class MetaJsonCache:
    """Incremental JSON of ``State.meta`` per response, for the hot path.

    The engine never mutates an ``AnswerMeta``: it replaces the entry of a step it changes (copy
    on write). So between two steps of one conversation, the meta entries are the same objects
    except the one or two just touched; only those are formatted again. The check is by object
    identity and key, plus the field values, so a mutated or reloaded entry is simply formatted
    again: the cache can make serialisation faster, never different.
    Bounded: at most ``max_responses`` conversations are remembered (oldest dropped first).
    """

    __slots__ = ("_by_response", "max_responses")

    def __init__(self, max_responses: int = 20_000) -> None:
        self._by_response: dict[int, tuple[list[str], list[Any], list[tuple[Any, Any, Any]], list[str]]] = {}
        self.max_responses = max_responses

    def meta_json(self, response_id: int, meta: Mapping[str, Any]) -> str:
        keys = list(meta)
        vals = list(meta.values())
        sig = [(m.asked_at, m.answered_at, m.changes) for m in vals]
        old = self._by_response.pop(response_id, None)
        if old is None:
            frags = [_meta_fragment(k, m) for k, m in zip(keys, vals)]
        else:
            okeys, ovals, osig, ofrags = old
            n = min(len(keys), len(okeys))
            i = 0
            while i < n and vals[i] is ovals[i] and keys[i] is okeys[i] and sig[i] == osig[i]:
                i += 1
            frags = ofrags[:i] + [_meta_fragment(keys[j], vals[j]) for j in range(i, len(keys))]
        if len(self._by_response) >= self.max_responses:
            for rid in list(self._by_response)[: self.max_responses // 4]:
                del self._by_response[rid]
        self._by_response[response_id] = (keys, vals, sig, frags)
        return "{" + ",".join(frags) + "}"


def state_to_json(state: State, meta_cache: MetaJsonCache | None = None, response_id: int = 0) -> str:
    """``State.to_json`` for the hot path, several times faster: no ``asdict`` deep copy, paradata
    timestamps written with 6 decimals (microseconds, what ``time.time()`` resolves) instead of
    Python's shortest-repr float formatting (~1 µs per number on this hardware; a finished
    questionnaire carries ~170), and, with ``meta_cache``, only the meta entries that changed since
    the previous step of the same response are formatted. ``State.from_json`` reads it back.

    Falls back to ``State.to_json`` if State gained fields this function does not know, so it can
    never silently drop one.
    """
    if not _STATE_FAST:
        return state.to_json()
    head = json.dumps({
        "survey_id": state.survey_id, "survey_hash": state.survey_hash, "lang": state.lang,
        "status": state.status, "outcome": state.outcome, "current": state.current,
        "answers": state.answers, "picks": state.picks, "trail": state.trail,
    }, ensure_ascii=False, separators=(",", ":"))
    if meta_cache is not None:
        meta = meta_cache.meta_json(response_id, state.meta)
    else:
        meta = "{" + ",".join(_meta_fragment(k, m) for k, m in state.meta.items()) + "}"
    return f'{head[:-1]},"meta":{meta},"seq":{int(state.seq)}}}'


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


def _response_from_row(r: Sequence[Any]) -> ResponseRow:
    return ResponseRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], State.from_json(r[9]),
                       r[10], r[11], r[12])


async def get_response(db: Database, response_id: int) -> ResponseRow | None:
    r = await db.fetchone(f"SELECT {_RCOLS} FROM responses WHERE id = ?", (response_id,))
    return None if r is None else _response_from_row(r)


async def get_response_for_respondent(db: Database, respondent_id: int) -> ResponseRow | None:
    r = await db.fetchone(f"SELECT {_RCOLS} FROM responses WHERE respondent_id = ?", (respondent_id,))
    return None if r is None else _response_from_row(r)


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
    return int(conn.execute(
        "INSERT INTO responses (respondent_id, round_id, survey_hash, mode, channel, lang, status, outcome,"
        " state, started_at, updated_at, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (respondent_id, round_id, state.survey_hash, mode, channel, state.lang, state.status, state.outcome,
         state_to_json(state), at, at, at if state.status == "submitted" else None),
    ).fetchone()[0])


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
