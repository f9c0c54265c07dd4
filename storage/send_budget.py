"""The channel's send budget, shared by every worker: a token bucket row per channel.

Telegram allows a bot about 30 messages per second in all, whatever number of processes send
for it; two workers with a 30/s limiter each would send 60/s and be throttled (429s, then a
ban). So the budget lives in the database (``send_budget``, migration 0012): a worker takes
tokens before it claims outbox rows (``take_tokens``) and claims no more rows than it got;
replies a worker sent in conversations are debited afterwards (``debit``, the bucket may go
below zero), so bulk sending yields to citizens who are answering, across workers.

The bucket refills at ``rate`` tokens per second up to ``burst``. Taking is one short write
(the row is locked for the rest of that group commit on PostgreSQL), so a worker asks for a
second's worth at most and comes back for more: the sum over workers stays within
``rate × elapsed + burst``.
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any

from storage.db import Database
from storage.dialect import backend_of, POSTGRES
from storage.util import now
from storage.writer import keeps_sessions


def _refill(conn: sqlite3.Connection | Any, channel: str, rate: float, burst: float, t: float) -> tuple[float, float]:
    """The bucket's tokens and time at ``t`` (row locked on PostgreSQL until the transaction
    ends). The bucket's time never goes back: an op computed a moment before another worker's
    (or by a worker whose clock is behind) adds nothing and leaves the later time in place, so
    no interval is ever counted twice."""
    lock = " FOR UPDATE" if backend_of(conn) == POSTGRES else ""
    conn.execute("INSERT INTO send_budget (channel, tokens, updated_at) VALUES (?, ?, ?)"
                 " ON CONFLICT (channel) DO NOTHING", (channel, burst, t))
    tokens, updated = conn.execute(f"SELECT tokens, updated_at FROM send_budget WHERE channel = ?{lock}",
                                   (channel,)).fetchone()
    at = max(t, float(updated))
    return min(burst, float(tokens) + (at - float(updated)) * rate), at


def take_tokens_op(conn: sqlite3.Connection | Any, channel: str, want: int, rate: float, burst: float,
                   t: float, spent: int = 0) -> int:
    """Take up to ``want`` whole tokens; returns how many were taken (0 if the bucket is empty).
    ``spent``: sends made outside the outbox since the last call (replies), debited first, in
    the same transaction (one round trip instead of two)."""
    tokens, at = _refill(conn, channel, rate, burst, t)
    tokens -= max(0, int(spent))
    got = max(0, min(int(want), math.floor(tokens)))
    conn.execute("UPDATE send_budget SET tokens = ?, updated_at = ? WHERE channel = ?",
                 (tokens - got, at, channel))
    return got


def debit_op(conn: sqlite3.Connection | Any, channel: str, n: int, rate: float, burst: float, t: float) -> float:
    """Spend ``n`` tokens already used (replies sent); the bucket may go below zero. Returns
    the tokens left."""
    tokens, at = _refill(conn, channel, rate, burst, t)
    tokens -= n
    conn.execute("UPDATE send_budget SET tokens = ?, updated_at = ? WHERE channel = ?", (tokens, at, channel))
    return tokens


async def take_tokens(db: Database, channel: str, want: int, *, rate: float, burst: float | None = None,
                      at: float | None = None, spent: int = 0) -> int:
    """Tokens for ``want`` sends from the shared bucket (see the module docstring), after
    debiting ``spent`` replies sent since the last call."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    if want <= 0 and spent <= 0:
        return 0
    b = float(burst if burst is not None else rate)
    # The time is read when the op runs (on the writer thread), not when it was queued.
    return await db.write(keeps_sessions(lambda conn: take_tokens_op(conn, channel, max(0, want), rate, b,
                                                                     now() if at is None else at, spent)))


async def debit(db: Database, channel: str, n: int, *, rate: float, burst: float | None = None,
                at: float | None = None) -> float:
    """Record ``n`` sends made outside the outbox (conversation replies) against the budget."""
    b = float(burst if burst is not None else rate)
    return await db.write(keeps_sessions(lambda conn: debit_op(conn, channel, n, rate, b,
                                                               now() if at is None else at)))
