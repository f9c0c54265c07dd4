"""Leases: a job that must run on one worker at a time (the reminder and deadline scheduler).

A worker calls ``acquire(db, name, holder, ttl)`` before each run of the job and runs it only
if it holds the lease. The holder renews it by acquiring again (its expiry moves forward);
another worker gets it only once it has expired, so when the holder dies the job moves to
another worker within ``ttl`` plus that worker's polling interval. ``generation`` grows at each
hand-over: a holder that was too slow to renew learns it lost the lease (``Lease.held`` is
False) instead of running the job beside the new holder.

One statement does the whole decision (an upsert whose update applies only when the row is
the caller's or has expired), so two workers racing for an expired lease cannot both win: on
SQLite the writes are serial, on PostgreSQL the row's lock orders them.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database
from storage.util import now
from storage.writer import keeps_sessions

SCHEDULER = "scheduler"

_ACQUIRE = (
    "INSERT INTO leases (name, holder, generation, acquired_at, renewed_at, expires_at) VALUES (?1, ?2, 1, ?3, ?3, ?4)"
    " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,"
    " renewed_at = excluded.renewed_at,"
    " acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END,"
    " generation = leases.generation + CASE WHEN leases.holder = excluded.holder THEN 0 ELSE 1 END"
    " WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.renewed_at"
    " RETURNING holder, generation, expires_at")


@dataclass(frozen=True, slots=True)
class Lease:
    """The state of a lease after an ``acquire``: ``held`` by the caller or not."""

    name: str
    holder: str
    generation: int
    expires_at: float
    held: bool


async def acquire(db: Database, name: str, holder: str, ttl: float, *, at: float | None = None) -> Lease:
    """Take or renew lease ``name`` for ``holder`` for ``ttl`` seconds, if it is free, expired or
    already the holder's. Returns who holds it now."""
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    if not holder or len(holder) > 200:
        raise ValueError("holder must be a non-empty name of at most 200 characters")
    t = now() if at is None else at

    def op(conn):  # type: ignore[no-untyped-def]
        row = conn.execute(_ACQUIRE, (name, holder, t, t + ttl)).fetchone()
        if row is None:
            row = conn.execute("SELECT holder, generation, expires_at FROM leases WHERE name = ?", (name,)).fetchone()
        return Lease(name, row[0], int(row[1]), float(row[2]), row[0] == holder)

    return await db.write(keeps_sessions(op))


async def release(db: Database, name: str, holder: str) -> bool:
    """Give the lease up at once (a clean shutdown), so another worker need not wait for it to expire."""
    def op(conn):  # type: ignore[no-untyped-def]
        return conn.execute("UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?", (name, holder)).rowcount

    return bool(await db.write(keeps_sessions(op)))


async def current(db: Database, name: str) -> Lease | None:
    """Who holds lease ``name`` (for status screens); None if it was never taken."""
    row = await db.fetchone("SELECT holder, generation, expires_at FROM leases WHERE name = ?", (name,))
    if row is None:
        return None
    return Lease(name, row[0], int(row[1]), float(row[2]), False)
