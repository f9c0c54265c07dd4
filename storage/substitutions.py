"""Proposed substitutions of a service survey and the staff's decision on each (seed 003).

A field with too few transactions is "báo cáo về UBND tỉnh (qua Sở Nội vụ) để xem xét, giải quyết"
(reported to the provincial committee, which decides). The draw stores one proposal per field that
lacks questionnaires; a decision (approve as proposed, change, reject) is recorded with who took
it and why, in the same transaction as the respondents it fields, so a decided substitution and
its sample are never half-stored. A decision is final: changing it would un-field people who may
already have been invited.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from storage.audit import audit_op
from storage.db import Database, StorageError
from storage.respondents import RespondentIn, insert_respondent_op
from storage.util import dumps, now

__all__ = ["SubstitutionError", "ProposalIn", "SubstitutionRow", "record_proposals", "list_substitutions",
           "get_substitution", "decide_substitution", "DECISIONS"]

Decision = Literal["approved", "changed", "rejected"]
DECISIONS = ("approved", "changed", "rejected")
MAX_NOTE = 2000


class SubstitutionError(StorageError):
    """A proposal or decision that cannot be stored (bilingual message)."""


@dataclass(frozen=True, slots=True)
class ProposalIn:
    agency: str
    from_field: str
    missing: int
    proposal: tuple[tuple[str, int], ...]      # (to_field, count) in the order proposed
    reason: str


@dataclass(frozen=True, slots=True)
class SubstitutionRow:
    id: int
    round_id: int
    agency: str
    from_field: str
    missing: int
    proposal: list[dict[str, Any]]
    reason: str
    status: str
    decided_field: str | None
    decided_count: int | None
    fielded: int
    note: str | None
    decided_by: str | None
    decided_at: float | None
    created_at: float


_COLS = ("id, round_id, agency, from_field, missing, proposal, reason, status, decided_field, decided_count,"
         " fielded, note, decided_by, decided_at, created_at")


def _row(r: Sequence[Any]) -> SubstitutionRow:
    v = list(r)
    v[5] = json.loads(v[5] or "[]")
    return SubstitutionRow(*v)


async def record_proposals(db: Database, round_id: int, proposals: Sequence[ProposalIn], actor: str) -> int:
    """Store the draw's proposals (idempotent per field: a proposal already stored is kept with its
    decision). Returns how many were new."""
    items = list(proposals)

    def op(conn: sqlite3.Connection) -> int:
        at = now()
        n = 0
        for p in items:
            if p.missing <= 0 or not p.agency.strip() or not p.from_field.strip():
                raise SubstitutionError(f"đề xuất không hợp lệ / invalid proposal for {p.agency!r} / {p.from_field!r}")
            n += conn.execute(
                "INSERT INTO sample_substitutions (round_id, agency, from_field, missing, proposal, reason,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (round_id, agency, from_field) DO NOTHING",
                (round_id, p.agency, p.from_field, p.missing,
                 dumps([{"to_field": f, "count": c} for f, c in p.proposal]), p.reason, at)).rowcount
        if items:
            audit_op(conn, actor, "substitutions.propose", {"proposals": len(items), "new": n}, round_id, at)
        return n

    return await db.write(op)


async def list_substitutions(db: Database, round_id: int) -> list[SubstitutionRow]:
    rows = await db.fetchall(f"SELECT {_COLS} FROM sample_substitutions WHERE round_id = ? ORDER BY id",
                             (round_id,))
    return [_row(r) for r in rows]


async def get_substitution(db: Database, round_id: int, sub_id: int) -> SubstitutionRow | None:
    r = await db.fetchone(f"SELECT {_COLS} FROM sample_substitutions WHERE round_id = ? AND id = ?",
                          (round_id, sub_id))
    return _row(r) if r is not None else None


async def decide_substitution(db: Database, round_id: int, sub_id: int, decision: Decision, *,
                              actor: str, note: str | None = None, decided_field: str | None = None,
                              decided_count: int | None = None,
                              respondents: Sequence[RespondentIn] = ()) -> SubstitutionRow:
    """Record the staff's decision on a proposal and field its respondents, atomically.

    Raises SubstitutionError for an unknown proposal, one already decided, an unknown decision, a
    note too long, or respondents given with a rejection.
    """
    if decision not in DECISIONS:
        raise SubstitutionError(f"quyết định không hợp lệ / unknown decision {decision!r}; dùng / use "
                                f"{', '.join(DECISIONS)}")
    if note is not None and len(note) > MAX_NOTE:
        raise SubstitutionError(f"ghi chú quá dài (tối đa {MAX_NOTE} ký tự) / note too long (max {MAX_NOTE})")
    if decision == "rejected" and respondents:
        raise SubstitutionError("từ chối thì không có người được chọn / a rejection fields nobody")
    if decided_count is not None and decided_count < 0:
        raise SubstitutionError("số phiếu phải ≥ 0 / the count must be ≥ 0")
    items = list(respondents)

    def op(conn: sqlite3.Connection) -> SubstitutionRow:
        r = conn.execute(f"SELECT {_COLS} FROM sample_substitutions WHERE round_id = ? AND id = ?",
                         (round_id, sub_id)).fetchone()
        if r is None:
            raise SubstitutionError(f"không có đề xuất thay thế số {sub_id} trong đợt này / no substitution "
                                    f"proposal {sub_id} in this round")
        old = _row(r)
        if old.status != "proposed":
            raise SubstitutionError(f"đề xuất {sub_id} đã được quyết định ({old.status}, {old.decided_by}); quyết "
                                    f"định là cuối cùng / proposal {sub_id} was already decided ({old.status})")
        at = now()
        taken: set[str] = set()
        for it in items:
            insert_respondent_op(conn, round_id, it, taken_codes=taken, at=at)
        conn.execute("UPDATE sample_substitutions SET status = ?, decided_field = ?, decided_count = ?,"
                     " fielded = ?, note = ?, decided_by = ?, decided_at = ? WHERE id = ?",
                     (decision, decided_field, decided_count, len(items), note, actor, at, sub_id))
        audit_op(conn, actor, f"substitutions.{decision}",
                 {"id": sub_id, "agency": old.agency, "from_field": old.from_field, "to_field": decided_field,
                  "count": decided_count, "fielded": len(items), "note": note}, round_id, at)
        return _row(conn.execute(f"SELECT {_COLS} FROM sample_substitutions WHERE id = ?", (sub_id,)).fetchone())

    return await db.write(op)
