"""Survey rounds (đợt khảo sát) and the questionnaire versions they pin.

A round pins one questionnaire version by content hash: the definition JSON is stored once in
``survey_versions``, so a response is always replayed against the exact definition it was started
on, even after the YAML file changed. A round moves draft → open → closed (a closed round may be
reopened by staff, which is audited).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from storage.audit import audit_op
from storage.consent import store_consent_op
from storage.db import Database, StorageError
from storage.util import dumps, loads_obj, now
from survey_defs.schema import Survey

RoundStatus = Literal["draft", "open", "closed"]

_UNSET: Any = object()


class RoundError(StorageError):
    """A round cannot be created or changed as asked (bilingual message)."""


@dataclass(frozen=True, slots=True)
class Round:
    id: int
    code: str
    name: str
    survey_id: str
    survey_hash: str
    sampling_plan_id: str | None
    frame: str | None
    status: RoundStatus
    opens_at: float | None
    closes_at: float | None
    opened_at: float | None
    closed_at: float | None
    reminder_policy: dict[str, Any]
    settings: dict[str, Any]
    allow_walk_in: bool
    walk_in_unit_id: int | None
    expiry_days: int
    recheck_share: float | None
    created_at: float


@dataclass(frozen=True, slots=True)
class UnitSelection:
    """A unit chosen for a round, with the rule that chose it (written reason kept for staff)."""

    unit_id: int
    reason: str
    rule: str | None = None
    quota: int | None = None
    sort_order: int | None = None


@dataclass(frozen=True, slots=True)
class RoundUnit:
    round_id: int
    unit_id: int
    reason: str
    rule: str | None
    quota: int | None
    sort_order: int | None


_COLS = ("id, code, name, survey_id, survey_hash, sampling_plan_id, frame, status, opens_at, closes_at,"
         " opened_at, closed_at, reminder_policy, settings, allow_walk_in, walk_in_unit_id, expiry_days,"
         " recheck_share, created_at")


def round_from_row(r: Sequence[Any]) -> Round:
    return Round(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
                 loads_obj(r[12]), loads_obj(r[13]), bool(r[14]), r[15], r[16], r[17], r[18])


def get_round_op(conn: sqlite3.Connection, round_id: int) -> Round | None:
    r = conn.execute(f"SELECT {_COLS} FROM rounds WHERE id = ?", (round_id,)).fetchone()
    return None if r is None else round_from_row(r)


# ------------------------------------------------------------------ survey versions

def survey_json(survey: Survey) -> str:
    return json.dumps(survey.model_dump(mode="json", by_alias=True), ensure_ascii=False,
                      separators=(",", ":"))


def store_survey_op(conn: sqlite3.Connection, survey: Survey, definition: str | None = None) -> str:
    h = survey.content_hash
    conn.execute(
        "INSERT INTO survey_versions (hash, survey_id, version, definition, stored_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING",
        (h, survey.id, survey.version, definition or survey_json(survey), now()),
    )
    store_consent_op(conn, survey, h)     # the exact consent notice, for receipts (storage.consent)
    return h


async def store_survey(db: Database, survey: Survey) -> str:
    """Store a definition (idempotent); returns its content hash."""
    definition = survey_json(survey)
    return await db.write(lambda conn: store_survey_op(conn, survey, definition))


async def load_survey(db: Database, survey_hash: str) -> Survey:
    """The definition stored under ``survey_hash`` (parsed once per database, then cached).

    Raises KeyError if unknown. The parsed model is checked against its hash so a corrupted row
    is caught rather than silently answered against.
    """
    cache: dict[str, Survey] = db.cache.setdefault("surveys", {})
    s = cache.get(survey_hash)
    if s is not None:
        return s
    raw = await db.fetchval("SELECT definition FROM survey_versions WHERE hash = ?", (survey_hash,))
    if raw is None:
        raise KeyError(f"no stored questionnaire version {survey_hash}")
    s = Survey.model_validate(json.loads(raw))
    if s.content_hash != survey_hash:
        raise StorageError(f"stored questionnaire {survey_hash[:12]}… does not match its hash "
                           f"({s.content_hash[:12]}…) / phiếu lưu trữ không khớp mã băm")
    cache[survey_hash] = s
    return s


# ------------------------------------------------------------------ rounds

async def create_round(db: Database, *, code: str, survey: Survey, name: str = "",
                       sampling_plan_id: str | None = None, frame: str | None = None,
                       opens_at: float | None = None, closes_at: float | None = None,
                       reminder_policy: Mapping[str, Any] | None = None,
                       settings: Mapping[str, Any] | None = None, allow_walk_in: bool = False,
                       expiry_days: int = 14, recheck_share: float | None = None,
                       actor: str = "system") -> Round:
    """Create a draft round pinned to ``survey`` (its definition is stored by hash).

    Raises RoundError if the code is taken or a setting is out of range.
    """
    code = code.strip()
    if not code:
        raise RoundError("thiếu mã đợt khảo sát / a round needs a code")
    if expiry_days < 1:
        raise RoundError(f"số ngày hết hạn phải ≥ 1 / expiry_days must be at least 1, got {expiry_days}")
    if recheck_share is not None and not 0 <= recheck_share <= 1:
        raise RoundError(f"tỷ lệ phúc tra phải trong [0, 1] / recheck_share must be in [0, 1], got {recheck_share}")
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        raise RoundError("ngày đóng phải sau ngày mở / closes_at must be after opens_at")
    definition = survey_json(survey)

    def op(conn: sqlite3.Connection) -> Round:
        h = store_survey_op(conn, survey, definition)
        if conn.execute("SELECT 1 FROM rounds WHERE code = ?", (code,)).fetchone():
            raise RoundError(f"mã đợt đã tồn tại / a round with code {code!r} already exists")
        at = now()
        rid = conn.execute(
            "INSERT INTO rounds (code, name, survey_id, survey_hash, sampling_plan_id, frame, opens_at,"
            " closes_at, reminder_policy, settings, allow_walk_in, expiry_days, recheck_share, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (code, name, survey.id, h, sampling_plan_id, frame, opens_at, closes_at,
             dumps(dict(reminder_policy or {})), dumps(dict(settings or {})), int(allow_walk_in),
             expiry_days, recheck_share, at),
        ).fetchone()[0]
        audit_op(conn, actor, "round.create", {"code": code, "survey": survey.id, "hash": h}, rid, at)
        r = get_round_op(conn, rid)
        assert r is not None
        return r

    return await db.write(op)


async def get_round(db: Database, round_id: int) -> Round | None:
    r = await db.fetchone(f"SELECT {_COLS} FROM rounds WHERE id = ?", (round_id,))
    return None if r is None else round_from_row(r)


async def get_round_by_code(db: Database, code: str) -> Round | None:
    r = await db.fetchone(f"SELECT {_COLS} FROM rounds WHERE code = ?", (code.strip(),))
    return None if r is None else round_from_row(r)


async def list_rounds(db: Database, status: RoundStatus | None = None) -> list[Round]:
    if status is None:
        rows = await db.fetchall(f"SELECT {_COLS} FROM rounds ORDER BY id")
    else:
        rows = await db.fetchall(f"SELECT {_COLS} FROM rounds WHERE status = ? ORDER BY id", (status,))
    return [round_from_row(r) for r in rows]


def _transition(conn: sqlite3.Connection, round_id: int, to: RoundStatus, actor: str,
                reason: str | None) -> Round:
    r = get_round_op(conn, round_id)
    if r is None:
        raise RoundError(f"không có đợt khảo sát / no round with id {round_id}")
    allowed = {"open": ("draft", "closed", "open"), "closed": ("open", "draft", "closed")}[to]
    if r.status not in allowed:
        raise RoundError(f"không thể chuyển đợt {r.code} từ {r.status} sang {to} / "
                         f"cannot move round {r.code} from {r.status} to {to}")
    if r.status == to:
        return r
    if to == "open" and conn.execute("SELECT 1 FROM round_purges WHERE round_id = ?", (round_id,)).fetchone():
        raise RoundError(f"đợt {r.code} đã xóa dữ liệu cá nhân, không mở lại được / round {r.code} was purged "
                         "and cannot be reopened")
    at = now()
    col = "opened_at" if to == "open" else "closed_at"
    conn.execute(f"UPDATE rounds SET status = ?, {col} = ? WHERE id = ?", (to, at, round_id))
    if to == "closed":
        # Final dispositions: a conversation begun but not finished when the round closes is partial.
        conn.execute("UPDATE respondents SET status = 'partial', status_at = ?, status_reason = 'round closed'"
                     " WHERE round_id = ? AND status = 'started'", (at, round_id))
        conn.execute("UPDATE outbox SET status = 'cancelled', last_error = 'round closed'"
                     " WHERE round_id = ? AND status = 'pending'", (round_id,))
    action = {"open": "round.reopen" if r.status == "closed" else "round.open", "closed": "round.close"}[to]
    audit_op(conn, actor, action, {"code": r.code, "from": r.status, "reason": reason}, round_id, at)
    out = get_round_op(conn, round_id)
    assert out is not None
    return out


async def open_round(db: Database, round_id: int, actor: str = "system", reason: str | None = None) -> Round:
    """Open a draft (or reopen a closed) round; invites and answers are accepted only while open."""
    return await db.write(lambda conn: _transition(conn, round_id, "open", actor, reason))


async def close_round(db: Database, round_id: int, actor: str = "system", reason: str | None = None) -> Round:
    """Close a round: claims answer "closed", reminders stop; collected answers are kept."""
    return await db.write(lambda conn: _transition(conn, round_id, "closed", actor, reason))


async def update_round(db: Database, round_id: int, *, actor: str = "system",
                       name: str = _UNSET, opens_at: float | None = _UNSET, closes_at: float | None = _UNSET,
                       reminder_policy: Mapping[str, Any] = _UNSET, settings: Mapping[str, Any] = _UNSET,
                       allow_walk_in: bool = _UNSET, expiry_days: int = _UNSET,
                       recheck_share: float | None = _UNSET, sampling_plan_id: str | None = _UNSET) -> Round:
    """Change a round's settings (only the arguments given); audited with the new values."""
    changes: dict[str, Any] = {}
    for col, val in (("name", name), ("opens_at", opens_at), ("closes_at", closes_at),
                     ("allow_walk_in", allow_walk_in), ("expiry_days", expiry_days),
                     ("recheck_share", recheck_share), ("sampling_plan_id", sampling_plan_id)):
        if val is not _UNSET:
            changes[col] = int(val) if col == "allow_walk_in" else val
    if reminder_policy is not _UNSET:
        changes["reminder_policy"] = dumps(dict(reminder_policy))
    if settings is not _UNSET:
        changes["settings"] = dumps(dict(settings))
    if "expiry_days" in changes and (changes["expiry_days"] is None or changes["expiry_days"] < 1):
        raise RoundError("expiry_days must be at least 1 / số ngày hết hạn phải ≥ 1")
    rs = changes.get("recheck_share")
    if rs is not None and not 0 <= rs <= 1:
        raise RoundError("recheck_share must be in [0, 1] / tỷ lệ phúc tra phải trong [0, 1]")

    def op(conn: sqlite3.Connection) -> Round:
        if get_round_op(conn, round_id) is None:
            raise RoundError(f"không có đợt khảo sát / no round with id {round_id}")
        if changes:
            sets = ", ".join(f"{c} = ?" for c in changes)
            conn.execute(f"UPDATE rounds SET {sets} WHERE id = ?", (*changes.values(), round_id))
            audit_op(conn, actor, "round.update", changes, round_id)
        r = get_round_op(conn, round_id)
        assert r is not None
        return r

    return await db.write(op)


async def rounds_to_close(db: Database, at: float | None = None) -> list[Round]:
    """Open rounds whose ``closes_at`` has passed (the scheduler closes them)."""
    rows = await db.fetchall(
        f"SELECT {_COLS} FROM rounds WHERE status = 'open' AND closes_at IS NOT NULL AND closes_at <= ?",
        (now() if at is None else at,))
    return [round_from_row(r) for r in rows]


async def set_round_units(db: Database, round_id: int, selections: Sequence[UnitSelection],
                          actor: str = "system") -> int:
    """Record the units selected for a round with their reasons (upsert); returns how many."""
    sel = list(selections)
    for s in sel:
        if not s.reason.strip():
            raise RoundError(f"unit {s.unit_id}: every selected unit needs a written reason / "
                             "mỗi đơn vị được chọn cần lý do")

    def op(conn: sqlite3.Connection) -> int:
        conn.executemany(
            "INSERT INTO round_units (round_id, unit_id, reason, rule, quota, sort_order)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (round_id, unit_id) DO UPDATE SET"
            " reason = excluded.reason, rule = excluded.rule, quota = excluded.quota,"
            " sort_order = excluded.sort_order",
            [(round_id, s.unit_id, s.reason, s.rule, s.quota, s.sort_order) for s in sel])
        audit_op(conn, actor, "round.units", {"count": len(sel)}, round_id)
        return len(sel)

    return await db.write(op)


async def list_round_units(db: Database, round_id: int) -> list[RoundUnit]:
    rows = await db.fetchall(
        "SELECT round_id, unit_id, reason, rule, quota, sort_order FROM round_units WHERE round_id = ?"
        " ORDER BY sort_order, unit_id", (round_id,))
    return [RoundUnit(*tuple(r)) for r in rows]
