"""One update of a chat at a time, across every worker: per-chat ordering.

A channel loads a chat's session, runs the engine and commits the step; two updates of one
chat handled at once would both start from the same stored state and the second commit would
overwrite the first one's step. With one process (SQLite), a per-chat asyncio lock shared by
every store of the process on that database is enough; with
several workers behind a load balancer, two updates of one chat may reach two workers, so on
PostgreSQL the lock is also a PostgreSQL advisory lock on the chat (``pg_try_advisory_lock``,
retried with a short back-off so nothing is held while waiting). One session may hold any
number of advisory locks, so a worker's chat locks go through a few async connections (psycopg
3's ``AsyncConnection``, a chat always on the same one: two short statements per update); the
process-local lock in front of it makes sure a chat is taken once per worker. A worker that dies
loses its session and with it its locks; a lost connection is opened again for the next lock.

The key is the chat (the one thing known before the session is loaded); a respondent whose
credential moved to another chat (docs/credentials.md) answers on one chat at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from storage.dialect import LOCK_CHAT, advisory_key

#: Back-off between attempts to take a chat lock another worker holds (seconds).
RETRY_FIRST_S = 0.002
RETRY_MAX_S = 0.05


def chat_key(channel: str, chat_id: str) -> int:
    """A stable 64-bit advisory lock key for a chat (the same in every worker)."""
    h = int.from_bytes(hashlib.blake2b(f"{channel}\x00{chat_id}".encode(), digest_size=8).digest(), "big")
    return advisory_key(LOCK_CHAT, h)


# (database, channel, chat) -> (lock, users): the process's locks, shared by every store (an
# entry lives while someone holds or waits for it). Used from one event loop at a time.
_LOCAL: dict[tuple[str, str, str], tuple[asyncio.Lock, int]] = {}


class ChatLocks:
    """Per-chat locks for one ``Database`` (``storage.db``); see the module docstring."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self._local = _LOCAL
        self.waits = 0   # how often another worker held a chat (tests, metrics)

    @asynccontextmanager
    async def hold(self, channel: str, chat_id: str) -> AsyncIterator[None]:
        key = (str(self.db.path), channel, str(chat_id))
        lock, users = self._local.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._local[key] = (lock, users + 1)
        try:
            async with lock:
                locker = getattr(self.db, "lock_connection", None)
                if locker is None:
                    yield
                else:
                    k = chat_key(channel, str(chat_id))
                    conn = await locker(k)
                    await self._take(conn, k)
                    try:
                        yield
                    finally:
                        if not conn.closed:
                            await conn.execute("SELECT pg_advisory_unlock(%s)", (k,))
        finally:
            lock_now, n = self._local[key]
            if n <= 1:
                del self._local[key]
            else:
                self._local[key] = (lock_now, n - 1)

    async def _take(self, conn: Any, k: int) -> None:
        delay = RETRY_FIRST_S
        while True:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (k,))
            row = await cur.fetchone()
            if row[0]:
                return
            self.waits += 1
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)
