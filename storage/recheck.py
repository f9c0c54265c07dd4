"""Re-check (phúc tra): a share of completed responses is verified by supervisors (Fatherland
Front, Veterans' Association). The draw (which respondents, with which seed and stratum) and
each outcome are stored; responses whose outcome is ``not_confirmed`` are excluded from indices
(analytics reads the outcome through ``storage.responses.read_responses``), with the note kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from storage.audit import audit_op
from storage.db import Database, StorageError
from storage.util import now

RecheckOutcome = Literal["confirmed", "not_confirmed", "unreachable"]
RECHECK_OUTCOMES = ("confirmed", "not_confirmed", "unreachable")


class RecheckError(StorageError):
    """A re-check draw or outcome cannot be stored (bilingual message)."""


@dataclass(frozen=True, slots=True)
class RecheckDraw:
    """One drawn respondent; ``stratum`` is typically the unit code the draw was stratified by."""

    respondent_id: int
    stratum: str | None = None


@dataclass(frozen=True, slots=True)
class RecheckRow:
    id: int
    round_id: int
    respondent_id: int
    response_id: int | None
    stratum: str | None
    drawn_at: float
    seed: str
    outcome: str | None
    note: str | None
    recorded_by: str | None
    recorded_at: float | None


_COLS = ("id, round_id, respondent_id, response_id, stratum, drawn_at, seed, outcome, note, recorded_by,"
         " recorded_at")


async def record_recheck_draw(db: Database, round_id: int, seed: str | int, drawn: Sequence[RecheckDraw],
                              actor: str) -> int:
    """Store a draw (idempotent per respondent: drawing again keeps earlier rows and outcomes).

    Returns the number of newly drawn respondents. Raises RecheckError if a drawn respondent is
    not a completed respondent of this round.
    """
    items = list(drawn)
    seed_s = str(seed)

    def op(conn: sqlite3.Connection) -> int:
        at = now()
        n = 0
        for d in items:
            row = conn.execute(
                "SELECT p.status, rs.id FROM respondents AS p LEFT JOIN responses AS rs ON rs.respondent_id = p.id"
                " WHERE p.id = ? AND p.round_id = ?", (d.respondent_id, round_id)).fetchone()
            if row is None or row[0] != "completed":
                raise RecheckError(f"người trả lời {d.respondent_id} chưa hoàn thành trong đợt này / respondent "
                                   f"{d.respondent_id} is not a completed respondent of round {round_id}")
            n += conn.execute(
                "INSERT INTO recheck (round_id, respondent_id, response_id, stratum, drawn_at, seed)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (round_id, respondent_id) DO NOTHING",
                (round_id, d.respondent_id, row[1], d.stratum, at, seed_s)).rowcount
        audit_op(conn, actor, "recheck.draw", {"seed": seed_s, "drawn": len(items), "new": n}, round_id, at)
        return n

    return await db.write(op)


async def record_recheck_outcome(db: Database, round_id: int, respondent_id: int, outcome: RecheckOutcome,
                                 recorded_by: str, note: str | None = None) -> RecheckRow:
    """Record (or correct: audited) the supervisor's outcome for a drawn respondent."""
    if outcome not in RECHECK_OUTCOMES:
        raise RecheckError(f"kết quả phúc tra không hợp lệ / unknown outcome {outcome!r}; expected one of "
                           f"{', '.join(RECHECK_OUTCOMES)}")
    if outcome == "not_confirmed" and not (note and note.strip()):
        raise RecheckError("'not_confirmed' cần ghi chú (lý do loại khỏi chỉ số) / 'not_confirmed' needs a note "
                           "(why the response is excluded)")

    def op(conn: sqlite3.Connection) -> RecheckRow:
        old = conn.execute(f"SELECT {_COLS} FROM recheck WHERE round_id = ? AND respondent_id = ?",
                           (round_id, respondent_id)).fetchone()
        if old is None:
            raise RecheckError(f"người trả lời {respondent_id} không nằm trong mẫu phúc tra / respondent "
                               f"{respondent_id} was not drawn for re-check in round {round_id}")
        at = now()
        conn.execute("UPDATE recheck SET outcome = ?, note = ?, recorded_by = ?, recorded_at = ? WHERE id = ?",
                     (outcome, note, recorded_by, at, old[0]))
        audit_op(conn, recorded_by, "recheck.outcome",
                 {"respondent_id": respondent_id, "outcome": outcome, "previous": old[7], "note": note},
                 round_id, at)
        return RecheckRow(*tuple(conn.execute(f"SELECT {_COLS} FROM recheck WHERE id = ?", (old[0],)).fetchone()))

    return await db.write(op)


async def list_recheck(db: Database, round_id: int) -> list[RecheckRow]:
    rows = await db.fetchall(f"SELECT {_COLS} FROM recheck WHERE round_id = ? ORDER BY stratum, id", (round_id,))
    return [RecheckRow(*tuple(r)) for r in rows]


async def excluded_by_recheck(db: Database, round_id: int) -> dict[int, str | None]:
    """response id → note, for responses whose re-check was not confirmed (excluded from indices)."""
    rows = await db.fetchall("SELECT response_id, note FROM recheck WHERE round_id = ? AND outcome = 'not_confirmed'"
                             " AND response_id IS NOT NULL", (round_id,))
    return {r[0]: r[1] for r in rows}
