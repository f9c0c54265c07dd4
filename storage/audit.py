"""Audit log of staff actions (who did what, when, with which details).

Every staff-visible change made through storage functions (opening a round, substituting a
respondent, recording a re-check outcome…) writes its audit row in the same transaction as the
change itself, so the log can never disagree with the data.
"""

from __future__ import annotations

import getpass
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from storage.db import Database, open_database
from storage.util import dumps, loads_obj, now


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    action: str
    round_id: int | None
    details: dict[str, Any]


def audit_op(conn: sqlite3.Connection, actor: str, action: str,
             details: Mapping[str, Any] | None = None, round_id: int | None = None,
             at: float | None = None) -> None:
    """Write one audit row inside the caller's transaction (for use inside writer ops)."""
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, round_id, details) VALUES (?, ?, ?, ?, ?)",
        (now() if at is None else at, actor, action, round_id, dumps(dict(details or {}))),
    )


async def audit(db: Database, actor: str, action: str, details: Mapping[str, Any] | None = None,
                round_id: int | None = None) -> None:
    """Record a staff action that has no storage change of its own (e.g. an export, a print run)."""
    at = now()
    await db.write(lambda conn: audit_op(conn, actor, action, details, round_id, at))


async def list_audit(db: Database, *, round_id: int | None = None, action: str | None = None,
                     limit: int = 1000) -> list[AuditEntry]:
    """Newest first."""
    where, params = [], []
    if round_id is not None:
        where.append("round_id = ?")
        params.append(round_id)
    if action is not None:
        where.append("action = ?")
        params.append(action)
    sql = "SELECT id, at, actor, action, round_id, details FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    rows = await db.fetchall(sql, params)
    return [AuditEntry(r["id"], r["at"], r["actor"], r["action"], r["round_id"], loads_obj(r["details"]))
            for r in rows]


def default_actor(actor: str | None = None) -> str:
    """The given actor, else ``staff:<login name>`` (a shell without one: ``staff``)."""
    if actor:
        return actor
    try:
        return f"staff:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "staff"


async def record_export(db_path: str, round_code: str, actor: str | None, details: Mapping[str, Any]) -> None:
    """Audit an export of a round's data (opens the database for this one row)."""
    async with open_database(db_path) as db:
        rid = await db.fetchval("SELECT id FROM rounds WHERE code = ?", (round_code,))
        await audit(db, default_actor(actor), "export", {"round": round_code, **details}, rid)
