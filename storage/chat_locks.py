"""One update of a chat at a time, across every worker: per-chat ordering.

A channel loads a chat's session, runs the engine and commits the step; two updates of one
chat handled at once would both start from the same stored state and the second commit would
overwrite the first one's step. With one process (SQLite), a per-chat asyncio lock shared by
every store of the process on that database is enough; with
several workers behind a load balancer, two updates of one chat may reach two workers, so on
PostgreSQL the lock is also a PostgreSQL advisory lock on the chat (``pg_try_advisory_lock``
on a pooled async connection, retried with a short back-off so no thread is held while
waiting). A worker that dies while holding it loses its session and with it the lock.

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
                pool = getattr(self.db, "lock_pool", None)
                if pool is None:
                    yield
                else:
                    k = chat_key(channel, str(chat_id))
                    async with (await pool()).connection() as conn:
                        await self._take(conn, k)
                        try:
                            yield
                        finally:
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
