"""Read-only queries behind the staff console's fieldwork pages, limited to a set of units.

Each function reads; none writes. ``units`` is the set of unit ids the caller may see (an
officer's subtree, ``storage.staff.unit_subtree``) or None for the whole round. The rules that
turn these counts into rates, shortfalls and dispositions stay where they are
(``fieldwork.dispositions``, ``storage.respondents.UnitProgress``); the console only displays.
No query here returns a phone number, a chat id or a name: personal data has its own calls
(``storage.respondents.contacts_for``) that the console makes only for roles allowed to see it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from storage.db import Database
from storage.util import loads_obj


def _in(column: str, units: Collection[int] | None) -> tuple[str, list[Any]]:
    if units is None:
        return "", []
    ids = sorted(units)
    if not ids:
        return " AND 1 = 0", []  # no unit in scope: nothing (portable: PostgreSQL wants a boolean)
    return f" AND {column} IN ({','.join('?' * len(ids))})", ids


async def counts_by_channel(db: Database, round_id: int, units: Collection[int] | None = None
                            ) -> dict[str, dict[str, int]]:
    """channel → respondent status → count. A respondent's channel is the one their response
    runs on, else the one their invitation went through, else ``none`` (card not used yet)."""
    cond, params = _in("p.unit_id", units)
    rows = await db.fetchall(
        "SELECT COALESCE(rs.channel, (SELECT MIN(o.channel) FROM outbox AS o WHERE o.respondent_id = p.id"
        "   AND o.kind = 'invite'), 'none'), p.status, COUNT(*)"
        " FROM respondents AS p LEFT JOIN responses AS rs ON rs.respondent_id = p.id"
        f" WHERE p.round_id = ?{cond} GROUP BY 1, 2", (round_id, *params))
    out: dict[str, dict[str, int]] = {}
    for ch, st, n in rows:
        out.setdefault(str(ch), {})[str(st)] = int(n)
    return out


@dataclass(frozen=True, slots=True)
class ReminderWave:
    """Reminder number ``number`` (1st, 2nd…): how many were sent and what their recipients did
    after it (started or completed later than the reminder was sent)."""

    number: int
    target: str            # not_started / partial
    sent: int
    failed: int
    pending: int
    started_after: int
    completed_after: int


async def reminder_waves(db: Database, round_id: int, units: Collection[int] | None = None) -> list[ReminderWave]:
    """The effect of each reminder wave, by reminder number and target group."""
    cond, params = _in("p.unit_id", units)
    rows = await db.fetchall(
        "SELECT o.payload, o.status, o.sent_at, p.started_at, p.finished_at, p.status"
        " FROM outbox AS o JOIN respondents AS p ON p.id = o.respondent_id"
        f" WHERE o.round_id = ? AND o.kind = 'reminder'{cond}", (round_id, *params))
    acc: dict[tuple[int, str], list[int]] = {}
    for payload, status, sent_at, started_at, finished_at, p_status in rows:
        meta = loads_obj(payload)
        key = (int(meta.get("reminder") or 0), str(meta.get("target") or "—"))
        a = acc.setdefault(key, [0, 0, 0, 0, 0])
        if status == "sent":
            a[0] += 1
            if sent_at is not None and started_at is not None and started_at >= sent_at:
                a[3] += 1
            if sent_at is not None and p_status == "completed" and finished_at is not None and finished_at >= sent_at:
                a[4] += 1
        elif status in ("failed", "dead"):
            a[1] += 1
        elif status in ("pending", "sending"):
            a[2] += 1
    return [ReminderWave(k[0], k[1], *v) for k, v in sorted(acc.items())]


@dataclass(frozen=True, slots=True)
class FailedSend:
    kind: str
    channel: str
    status: str
    attempts: int
    error: str
    unit_id: int | None


async def failed_sends(db: Database, round_id: int, units: Collection[int] | None = None,
                       limit: int = 200) -> list[FailedSend]:
    """Outbox messages that failed or were given up, newest first (no chat id, no text)."""
    cond, params = _in("p.unit_id", units)
    rows = await db.fetchall(
        "SELECT o.kind, o.channel, o.status, o.attempts, COALESCE(o.last_error, ''), p.unit_id"
        " FROM outbox AS o LEFT JOIN respondents AS p ON p.id = o.respondent_id"
        f" WHERE o.round_id = ? AND o.status IN ('failed', 'dead'){cond} ORDER BY o.id DESC LIMIT ?",
        (round_id, *params, limit))
    return [FailedSend(r[0], r[1], r[2], int(r[3]), _short(r[4]), r[5]) for r in rows]


@dataclass(frozen=True, slots=True)
class Unreachable:
    respondent_id: int
    unit_id: int
    card_code: str
    reason: str
    at: float | None


async def unreachable_respondents(db: Database, round_id: int, units: Collection[int] | None = None,
                                  limit: int = 200) -> list[Unreachable]:
    """Respondents the channels could not reach (blocked the bot, no such chat)."""
    cond, params = _in("unit_id", units)
    rows = await db.fetchall(
        "SELECT id, unit_id, card_code, COALESCE(status_reason, ''), status_at FROM respondents"
        f" WHERE round_id = ? AND status = 'unreachable'{cond} ORDER BY status_at DESC, id LIMIT ?",
        (round_id, *params, limit))
    return [Unreachable(int(r[0]), int(r[1]), r[2], _short(r[3]), r[4]) for r in rows]


def _short(text: str, n: int = 160) -> str:
    """Errors from the platforms, cut; digit runs that look like chat ids are masked."""
    return re.sub(r"\d{7,}", "…", str(text))[:n]


@dataclass(frozen=True, slots=True)
class WorklistRow:
    """A re-check row with the facts a supervisor needs (no answers)."""

    respondent_id: int
    unit_id: int
    card_code: str
    household_ref: str | None
    finished_at: float | None
    outcome: str | None
    note: str | None
    recorded_by: str | None
    recorded_at: float | None


async def recheck_worklist(db: Database, round_id: int, units: Collection[int] | None = None) -> list[WorklistRow]:
    cond, params = _in("p.unit_id", units)
    rows = await db.fetchall(
        "SELECT r.respondent_id, p.unit_id, p.card_code, p.household_ref, p.finished_at, r.outcome, r.note,"
        " r.recorded_by, r.recorded_at FROM recheck AS r JOIN respondents AS p ON p.id = r.respondent_id"
        f" WHERE r.round_id = ?{cond} ORDER BY p.unit_id, r.id", (round_id, *params))
    return [WorklistRow(*tuple(r)) for r in rows]


async def respondent_unit(db: Database, round_id: int, respondent_id: int) -> int | None:
    """The unit of a respondent of this round (None if not of this round): for scope checks."""
    return await db.fetchval("SELECT unit_id FROM respondents WHERE id = ? AND round_id = ?", (respondent_id, round_id))


async def data_version(db: Database, round_id: int) -> tuple[Any, ...]:
    """Changes whenever anything the results depend on changes (responses, re-check outcomes,
    units): the console caches an analysis under it instead of recomputing per page view."""
    row = await db.fetchone(
        "SELECT (SELECT COUNT(*) FROM responses WHERE round_id = ?),"
        " (SELECT MAX(updated_at) FROM responses WHERE round_id = ?),"
        " (SELECT COUNT(*) FROM recheck WHERE round_id = ? AND outcome IS NOT NULL),"
        " (SELECT MAX(recorded_at) FROM recheck WHERE round_id = ?),"
        " (SELECT COUNT(*) FROM respondents WHERE round_id = ?)", (round_id,) * 5)
    return tuple(row) if row is not None else ()
