"""The outbox: messages to send (invites, reminders, notices) are rows first, messages second.

Life of a row: pending → sending (claimed by a sender) → sent | pending again (retry after a
429 or a network error, with ``not_before``) | dead (too many attempts, or a permanent error) |
cancelled (the respondent completed, refused, became unreachable, or the round closed).

Crash safety: a sender that dies leaves rows in ``sending``; ``requeue_stale`` puts rows claimed
longer ago than a timeout (the claim's lease) back to pending. With several workers on
PostgreSQL, each claims with ``FOR UPDATE SKIP LOCKED`` and the lease is the same: a live
worker's rows are never taken from it as long as its sends finish within the lease. A message
whose ``sending`` row is requeued may have reached the platform just before the crash: the ``dedupe_key`` makes enqueueing idempotent, and
senders that can (Telegram does not offer idempotency keys) should mark sent immediately after
the API call returns; the window is the one API call in flight at the crash.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from storage.db import Database
from storage.dialect import skip_locked
from storage.util import dumps, loads_obj, now
from storage.writer import keeps_sessions

OutboxKind = Literal["invite", "reminder", "notice"]
OutboxStatus = Literal["pending", "sending", "sent", "failed", "dead", "cancelled"]

# Lower number = sent first. Replies to citizens who are answering never go through the outbox
# (they are sent inline), so these only order bulk traffic among itself.
PRIORITY_NOTICE = 10
PRIORITY_REMINDER = 50
PRIORITY_INVITE = 100


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A message to enqueue. ``dedupe_key`` names the message's purpose, e.g.
    ``"invite:<round>:<respondent>"`` or ``"reminder:<respondent>:2"``: enqueueing the same key
    twice stores one row, so a re-run of "send invites" never sends twice."""

    channel: str
    chat_id: str
    kind: OutboxKind
    dedupe_key: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    round_id: int | None = None
    respondent_id: int | None = None
    priority: int | None = None
    not_before: float = 0.0


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    round_id: int | None
    respondent_id: int | None
    channel: str
    chat_id: str
    kind: str
    priority: int
    payload: dict[str, Any]
    dedupe_key: str
    status: str
    attempts: int
    not_before: float
    last_error: str | None
    created_at: float
    claimed_at: float | None
    sent_at: float | None
    provider_message_id: str | None


_COLS = ("id, round_id, respondent_id, channel, chat_id, kind, priority, payload, dedupe_key, status,"
         " attempts, not_before, last_error, created_at, claimed_at, sent_at, provider_message_id")


def _msg(r: Sequence[Any]) -> OutboxMessage:
    return OutboxMessage(r[0], r[1], r[2], r[3], r[4], r[5], r[6], loads_obj(r[7]), r[8], r[9], r[10],
                         r[11], r[12], r[13], r[14], r[15], r[16])


def _default_priority(kind: str) -> int:
    return {"notice": PRIORITY_NOTICE, "reminder": PRIORITY_REMINDER}.get(kind, PRIORITY_INVITE)


def enqueue_op(conn: sqlite3.Connection, items: Sequence[OutboxItem], at: float) -> int:
    n = 0
    for it in items:
        n += conn.execute(
            "INSERT INTO outbox (round_id, respondent_id, channel, chat_id, kind, priority, payload, dedupe_key,"
            " not_before, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
            (it.round_id, it.respondent_id, it.channel, str(it.chat_id), it.kind,
             _default_priority(it.kind) if it.priority is None else it.priority, dumps(dict(it.payload)),
             it.dedupe_key, it.not_before, at)).rowcount
    return n


async def enqueue_outbox(db: Database, items: Iterable[OutboxItem]) -> int:
    """Enqueue messages idempotently (by dedupe key) in one transaction; returns how many were new."""
    its = list(items)
    at = now()
    return await db.write(keeps_sessions(lambda conn: enqueue_op(conn, its, at)))


async def claim_outbox_batch(db: Database, channel: str, limit: int, *, at: float | None = None,
                             kinds: Sequence[str] | None = None, worker: str | None = None) -> list[OutboxMessage]:
    """Claim up to ``limit`` due pending messages (priority, then age), marking them sending.

    Claiming is a write, so two senders never claim the same row: on SQLite one writer at a time;
    on PostgreSQL the rows are picked ``FOR UPDATE SKIP LOCKED``, so several workers claim
    disjoint batches at once without waiting for each other. ``worker`` is recorded with the
    claim (``claimed_by``); ``claimed_at`` starts the row's lease (``requeue_stale``). Messages to
    respondents who completed, refused, were found ineligible or substituted are cancelled
    instead of claimed (a reminder queued yesterday must not reach someone who finished this morning).
    """
    t = now() if at is None else at
    kinds_l = list(kinds) if kinds else None

    def op(conn: sqlite3.Connection) -> list[OutboxMessage]:
        lock = skip_locked(conn)
        conn.execute(
            "UPDATE outbox SET status = 'cancelled', last_error = 'respondent finished' WHERE id IN ("
            "SELECT id FROM outbox WHERE status = 'pending' AND channel = ? AND kind = 'reminder'"
            " AND respondent_id IN (SELECT id FROM respondents"
            f" WHERE status IN ('completed', 'refused', 'ineligible', 'substituted', 'unreachable')){lock})",
            (channel,))
        sql = ("SELECT id FROM outbox WHERE channel = ? AND status = 'pending' AND not_before <= ?")
        params: list[Any] = [channel, t]
        if kinds_l:
            sql += f" AND kind IN ({','.join('?' * len(kinds_l))})"
            params.extend(kinds_l)
        sql += f" ORDER BY priority, id LIMIT ?{lock}"
        params.append(limit)
        ids = [r[0] for r in conn.execute(sql, params).fetchall()]
        out: list[OutboxMessage] = []
        for i in ids:
            r = conn.execute(f"UPDATE outbox SET status = 'sending', claimed_at = ?, claimed_by = ?,"
                             f" attempts = attempts + 1 WHERE id = ? RETURNING {_COLS}", (t, worker, i)).fetchone()
            out.append(_msg(r))
        return out

    return await db.write(keeps_sessions(op))


async def mark_sent(db: Database, outbox_id: int, provider_message_id: str | None = None,
                    at: float | None = None) -> None:
    """The platform accepted the message."""
    t = now() if at is None else at
    await db.write(keeps_sessions(lambda conn: conn.execute(
        "UPDATE outbox SET status = 'sent', sent_at = ?, provider_message_id = ?, last_error = NULL"
        " WHERE id = ?", (t, provider_message_id, outbox_id))))


async def mark_failed(db: Database, outbox_id: int, error: str, *, retry_after: float | None = None,
                      permanent: bool = False, max_attempts: int = 5, at: float | None = None) -> str:
    """A send failed. Retried (pending, not before now + retry_after, default exponential backoff)
    unless ``permanent`` or attempts reached ``max_attempts`` (then dead). Returns the new status."""
    t = now() if at is None else at

    def op(conn: sqlite3.Connection) -> str:
        row = conn.execute("SELECT attempts FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
        if row is None:
            return "dead"
        attempts = row[0]
        if permanent or attempts >= max_attempts:
            conn.execute("UPDATE outbox SET status = 'dead', last_error = ? WHERE id = ?", (error, outbox_id))
            return "dead"
        delay = retry_after if retry_after is not None else min(3600.0, 30.0 * 2 ** max(0, attempts - 1))
        conn.execute("UPDATE outbox SET status = 'pending', last_error = ?, not_before = ? WHERE id = ?",
                     (error, t + delay, outbox_id))
        return "pending"

    return await db.write(keeps_sessions(op))


async def requeue_stale(db: Database, older_than: float, at: float | None = None) -> int:
    """Put rows stuck in ``sending`` (claimed more than ``older_than`` seconds ago: the sender
    crashed) back to pending. Run at sender start-up and periodically."""
    t = now() if at is None else at
    return await db.write(keeps_sessions(lambda conn: conn.execute(
        "UPDATE outbox SET status = 'pending', last_error = 'requeued after sender crash'"
        " WHERE status = 'sending' AND claimed_at < ?", (t - older_than,)).rowcount))


async def cancel_pending(db: Database, respondent_id: int, kinds: Sequence[str] = ("reminder",),
                         reason: str = "cancelled") -> int:
    """Cancel pending messages of a respondent (e.g. reminders after completion)."""
    ks = list(kinds)
    return await db.write(lambda conn: conn.execute(
        f"UPDATE outbox SET status = 'cancelled', last_error = ? WHERE respondent_id = ? AND status = 'pending'"
        f" AND kind IN ({','.join('?' * len(ks))})", (reason, respondent_id, *ks)).rowcount)


async def get_outbox(db: Database, outbox_id: int) -> OutboxMessage | None:
    r = await db.fetchone(f"SELECT {_COLS} FROM outbox WHERE id = ?", (outbox_id,))
    return None if r is None else _msg(r)


async def list_outbox(db: Database, *, round_id: int | None = None, status: str | None = None,
                      kind: str | None = None, respondent_id: int | None = None,
                      limit: int = 100_000) -> list[OutboxMessage]:
    where, params = [], []
    for col, val in (("round_id", round_id), ("status", status), ("kind", kind), ("respondent_id", respondent_id)):
        if val is not None:
            where.append(f"{col} = ?")
            params.append(val)
    sql = f"SELECT {_COLS} FROM outbox"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id LIMIT ?"
    params.append(limit)
    return [_msg(r) for r in await db.fetchall(sql, params)]


async def outbox_counts(db: Database, round_id: int | None = None) -> dict[tuple[str, str], int]:
    """(kind, status) → count, for progress screens and the broadcast benchmark."""
    sql = "SELECT kind, status, COUNT(*) FROM outbox"
    params: tuple[Any, ...] = ()
    if round_id is not None:
        sql += " WHERE round_id = ?"
        params = (round_id,)
    sql += " GROUP BY kind, status"
    return {(r[0], r[1]): r[2] for r in await db.fetchall(sql, params)}


@dataclass(frozen=True, slots=True)
class ReminderCandidate:
    """A respondent a reminder may be due for, with what has been sent to them already."""

    respondent_id: int
    status: str                    # invited / opened / started / partial
    reminders_sent: int            # reminders with status sent
    reminders_queued: int          # pending or sending
    last_reminder_at: float | None
    invited_at: float | None
    last_activity_at: float | None  # last update of their response, if any


async def reminder_candidates(db: Database, round_id: int,
                              statuses: Sequence[str] = ("invited", "opened", "started", "partial")
                              ) -> list[ReminderCandidate]:
    """Respondents of a round in ``statuses`` with their reminder history (derived from the
    outbox: a reminder is an outbox row of kind 'reminder'). The policy (days, quiet hours, max)
    is applied by the scheduler, not here."""
    st = list(statuses)
    rows = await db.fetchall(
        "SELECT p.id, p.status,"
        " (SELECT COUNT(*) FROM outbox o WHERE o.respondent_id = p.id AND o.kind = 'reminder' AND o.status = 'sent'),"
        " (SELECT COUNT(*) FROM outbox o WHERE o.respondent_id = p.id AND o.kind = 'reminder'"
        "   AND o.status IN ('pending', 'sending')),"
        " (SELECT MAX(COALESCE(o.sent_at, o.created_at)) FROM outbox o WHERE o.respondent_id = p.id"
        "   AND o.kind = 'reminder' AND o.status IN ('sent', 'pending', 'sending')),"
        " p.invited_at, rs.updated_at"
        " FROM respondents AS p LEFT JOIN responses AS rs ON rs.respondent_id = p.id"
        f" WHERE p.round_id = ? AND p.status IN ({','.join('?' * len(st))}) ORDER BY p.id",
        (round_id, *st))
    return [ReminderCandidate(*tuple(r)) for r in rows]
