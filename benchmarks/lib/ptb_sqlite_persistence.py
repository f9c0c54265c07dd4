"""A durable python-telegram-bot persistence on SQLite, as a careful engineer would write one for
survey answers: the fair baseline of benchmarks/telegram_e2e.py.

PTB's own ``PicklePersistence`` keeps everything in memory and rewrites one pickle file every
``update_interval`` (60 s): answers given since the last flush are lost in a crash, and the
shutdown flush of a large bot takes long. Here every answer is committed before the bot
acknowledges it: the handler calls :meth:`SqlitePersistence.save_user` (one transaction, WAL and
``synchronous = FULL`` like hailong's store) and only then answers the citizen. The connection
lives on one worker thread (what ``aiosqlite`` does), so the event loop never waits on fsync.

PTB's periodic ``update_persistence`` still calls :meth:`update_user_data` for every user touched;
a row whose JSON has not changed since it was saved is skipped, so durable data is written once.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from telegram.ext import BasePersistence, PersistenceInput
from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class SqlitePersistence(BasePersistence[dict[str, Any], dict[str, Any], dict[str, Any]]):
    """User data and conversation states in one SQLite file, each write its own transaction."""

    def __init__(self, path: str, update_interval: float = 60) -> None:
        super().__init__(store_data=PersistenceInput(bot_data=False, chat_data=False, user_data=True,
                                                     callback_data=False), update_interval=update_interval)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-persistence")
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS user_data (user_id INTEGER PRIMARY KEY, data TEXT NOT NULL)")
        self._conn.execute("CREATE TABLE IF NOT EXISTS conversations (name TEXT NOT NULL, key TEXT NOT NULL,"
                           " state TEXT, PRIMARY KEY (name, key))")
        self._saved: dict[int, str] = {}

    # ------------------------------------------------------------------ writing (one commit each)

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.execute(sql, params)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    async def _commit(self, sql: str, params: tuple[Any, ...]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self._write, sql, params)

    async def save_user(self, user_id: int, data: dict[str, Any]) -> None:
        """Commit one user's data now (called by the handler before it replies)."""
        text = _dumps(data)
        if self._saved.get(user_id) == text:
            return
        await self._commit("INSERT INTO user_data (user_id, data) VALUES (?, ?)"
                           " ON CONFLICT (user_id) DO UPDATE SET data = excluded.data", (user_id, text))
        self._saved[user_id] = text

    # ------------------------------------------------------------------ BasePersistence

    async def get_user_data(self) -> dict[int, dict[str, Any]]:
        rows = self._conn.execute("SELECT user_id, data FROM user_data").fetchall()
        self._saved = {uid: text for uid, text in rows}
        return {uid: json.loads(text) for uid, text in rows}

    async def get_chat_data(self) -> dict[int, dict[str, Any]]:
        return {}

    async def get_bot_data(self) -> dict[str, Any]:
        return {}

    async def get_callback_data(self) -> CDCData | None:
        return None

    async def get_conversations(self, name: str) -> ConversationDict:
        rows = self._conn.execute("SELECT key, state FROM conversations WHERE name = ?", (name,)).fetchall()
        return {tuple(json.loads(k)): json.loads(s) for k, s in rows if s is not None}

    async def update_conversation(self, name: str, key: ConversationKey, new_state: object | None) -> None:
        await self._commit("INSERT INTO conversations (name, key, state) VALUES (?, ?, ?)"
                           " ON CONFLICT (name, key) DO UPDATE SET state = excluded.state",
                           (name, _dumps(list(key)), None if new_state is None else _dumps(new_state)))

    async def update_user_data(self, user_id: int, data: dict[str, Any]) -> None:
        await self.save_user(user_id, data)

    async def update_chat_data(self, chat_id: int, data: dict[str, Any]) -> None:
        return None

    async def update_bot_data(self, data: dict[str, Any]) -> None:
        return None

    async def update_callback_data(self, data: CDCData) -> None:
        return None

    async def drop_chat_data(self, chat_id: int) -> None:
        return None

    async def drop_user_data(self, user_id: int) -> None:
        await self._commit("DELETE FROM user_data WHERE user_id = ?", (user_id,))
        self._saved.pop(user_id, None)

    async def refresh_user_data(self, user_id: int, user_data: dict[str, Any]) -> None:
        return None

    async def refresh_chat_data(self, chat_id: int, chat_data: dict[str, Any]) -> None:
        return None

    async def refresh_bot_data(self, bot_data: dict[str, Any]) -> None:
        return None

    async def flush(self) -> None:
        """Everything is committed already; wait for the worker, then close the file."""
        await asyncio.get_running_loop().run_in_executor(self._pool, self._conn.close)
        self._pool.shutdown(wait=True)


def durable_answers(path: str) -> int:
    """Answers committed in the persistence file (read by another connection: what survives)."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return 0
    try:
        rows = con.execute("SELECT data FROM user_data").fetchall()
    except sqlite3.Error:
        return 0
    finally:
        con.close()
    return sum(len(json.loads(d).get("answers", {})) for (d,) in rows)
