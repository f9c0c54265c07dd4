"""The database: SQLite in WAL mode, numbered migrations, one group-commit writer, read connections.

Durability: "acknowledged = on disk". In WAL mode ``synchronous=NORMAL`` may lose the last
transactions on power loss (the WAL is not fsynced at commit), so the writer uses
``synchronous=FULL``; group commit (``storage.writer``) makes that cheap by sharing one fsync among
every answer of a batch.

Concurrency: one writer connection (on its own thread, driven by ``Writer``) and ``readers``
aiosqlite connections. In WAL mode readers never wait for the writer and see every committed
transaction, so a coroutine reads its own acknowledged writes.

Migrations: ``storage/migrations/NNNN_name.sql`` applied in order at start-up, each in its own
transaction, recorded in ``schema_version``. A database written by a newer hailong (a version
above the newest file) is refused with ``DatabaseTooNew`` rather than misread.

PostgreSQL: ``Database.open`` takes a URL as well as a path (``storage.dialect.parse_db_url``);
``postgresql://…`` opens a ``PgDatabase``: the same writer (group commit) over a psycopg 3
connection, reads on psycopg_pool's pool, the same migrations translated by ``storage.dialect``
(see ``storage.pg``). The repository functions and ``storage.api.ConversationStore`` are the
same for both.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from storage import pg
from storage.dialect import POSTGRES, SQLITE, Backend, parse_db_url
from storage.private_files import create_private_if_missing
from storage.errors import StorageError  # re-exported: storage modules import it from here
from storage.migration_files import (  # noqa: F401  (re-exported: callers import them from here)
    MIGRATIONS_DIR, DatabaseTooNew, Migration, MigrationError, available_migrations,
    code_schema_version, migration_plan, split_sql,
)
from storage.writer import Op, Writer

T = TypeVar("T")

DEFAULT_DB_FILE = "hailong.db"
BUSY_TIMEOUT_MS = 15_000
WAL_AUTOCHECKPOINT_PAGES = 5_000
PAGE_SIZE = 8192


class NotADatabase(StorageError):
    """The path exists but is not a SQLite database (or cannot be opened)."""


def default_db_path() -> str:
    """``$HAILONG_DB`` or ``./hailong.db``: one place decides, every command agrees."""
    return os.environ.get("HAILONG_DB") or DEFAULT_DB_FILE


def _configure(conn: sqlite3.Connection, *, writer: bool, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    if writer:
        # Only a new, empty database takes this (an existing one keeps its page size). A group
        # commit of many conversations touches every conversation's rows; with 8 KiB pages more
        # neighbours share a page, so fewer pages go to the WAL per answer (measured: ~15% more
        # durable answers per second at 10 000 conversations, none lost when batches are random).
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise NotADatabase(f"cannot switch the database to WAL mode (got {mode!r})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        # 128 MiB at most (used only as the database grows): with 10 000 conversations in flight
        # every group commit touches index pages all over answers/response_steps; a cache that
        # holds them saves a read per page per batch (measured: ~20% of the writer's CPU).
        conn.execute("PRAGMA cache_size = -131072")
        conn.execute("PRAGMA temp_store = MEMORY")
        # Checkpoint (copy the WAL back into the database, one more fsync) every 5 000 pages
        # (40 MiB) instead of SQLite's 1 000: a group commit of 10 000 conversations writes
        # ~2 000 pages, so the default checkpointed after almost every commit; a larger WAL also
        # copies a page that several commits changed once. Measured: ~15% more durable answers
        # per second. The WAL file is truncated back to 64 MiB after a checkpoint.
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit = {64 * 1024 * 1024}")
    else:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA cache_size = -32768")


def connect_writer(path: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A writer connection: autocommit mode (BEGIN/COMMIT are explicit), WAL, FULL sync, FKs.

    ``busy_timeout_ms``: how long a write waits for a lock held by another process before it
    fails with ``StorageUnavailable`` (tests shorten it)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                           cached_statements=512, timeout=busy_timeout_ms / 1000)
    try:
        _configure(conn, writer=True, busy_timeout_ms=busy_timeout_ms)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise NotADatabase(
            f"không mở được cơ sở dữ liệu {path}: {exc} / cannot open database {path}: {exc}"
        ) from exc
    return conn


def read_schema_version(conn: sqlite3.Connection) -> int:
    """0 for an empty database; raises NotADatabase for a file that is not SQLite."""
    try:
        has = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
    except sqlite3.DatabaseError as exc:
        raise NotADatabase(f"không phải cơ sở dữ liệu SQLite / not a SQLite database: {exc}") from exc
    if not has:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, directory: Path = MIGRATIONS_DIR,
            target: int | None = None) -> tuple[int, int]:
    """Bring the schema up to ``target`` (default: newest); returns (before, after).

    Each migration runs in one IMMEDIATE transaction together with its schema_version row, and
    the current version is re-read inside it, so two processes starting at once cannot apply a
    migration twice. Raises DatabaseTooNew before touching anything if the file is newer.
    """
    before = read_schema_version(conn)
    current = before
    for mig in migration_plan(directory, target, before):
        if mig.version <= current:  # applied by another process meanwhile
            continue
        sql = mig.sql()
        try:
            conn.execute("BEGIN IMMEDIATE")
            now_version = read_schema_version(conn)
            if now_version >= mig.version:  # another process did it meanwhile
                conn.execute("COMMIT")
                current = now_version
                continue
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            # executescript would COMMIT first; run statement by statement inside our transaction.
            for stmt in split_sql(sql):
                conn.execute(stmt)
            conn.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                         (mig.version, mig.name, time.time()))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise MigrationError(
                f"migration {mig.path.name} thất bại, cơ sở dữ liệu giữ nguyên phiên bản {current} / "
                f"failed, database left at version {current}: {exc}"
            ) from exc
        current = mig.version
    return before, current


class Database:
    """One hailong database: ``await Database.open(path)``; ``await db.close()`` (or ``async with``).

    Writes: ``await db.write(op)`` where ``op(conn) -> T`` runs in a group-committed transaction.
    Reads: ``await db.fetchall(sql, params)``, ``fetchone``, or ``async with db.reading() as r``
    for several queries in one consistent snapshot. Only ``storage/`` modules call these.

    ``backend`` is ``"sqlite"`` here, ``"postgresql"`` for a ``PgDatabase``; ``url`` is what was
    opened (a path for SQLite).
    """

    backend: Backend = SQLITE

    def __init__(self, path: str, writer: Writer, readers: list[aiosqlite.Connection],
                 schema_version: int) -> None:
        self.path = path
        self.writer = writer
        self._readers = readers
        self._free: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for r in readers:
            self._free.put_nowait(r)
        self.schema_version = schema_version
        self.cache: dict[str, Any] = {}  # per-database caches of storage modules (e.g. surveys)
        self._read_pool = _ReadPool(path, max(1, len(readers)))

    @classmethod
    async def open(cls, path: str | os.PathLike[str] | None = None, *, readers: int = 2,
                   max_batch: int = 2000, max_wait: float = 0.002,
                   migrations_dir: Path = MIGRATIONS_DIR, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> "Database":
        """Open (creating if needed) and migrate to the newest schema.

        Raises DatabaseTooNew, MigrationError or NotADatabase with a bilingual message.
        """
        p = str(path if path is not None else default_db_path())
        where = parse_db_url(p)
        if where.is_postgres:
            return await PgDatabase.open_url(where.target, readers=readers, max_batch=max_batch,
                                             max_wait=max_wait, migrations_dir=migrations_dir)
        p = where.target
        if p == ":memory:" or p.startswith("file::memory:"):
            raise StorageError("an in-memory database cannot be shared by the writer and the readers; "
                               "use a file / hãy dùng một tệp")
        parent = Path(p).parent
        if not parent.exists():
            raise StorageError(f"thư mục không tồn tại / directory does not exist: {parent}")
        try:
            create_private_if_missing(p)  # names, phones, tokens: owner-only; -wal/-shm take its mode
        except OSError as exc:
            raise StorageError(f"không tạo được cơ sở dữ liệu {p}: {exc.strerror} / "
                               f"cannot create the database {p}: {exc.strerror}") from exc

        def _prepare() -> int:
            conn = connect_writer(p)
            try:
                return migrate(conn, migrations_dir)[1]
            finally:
                conn.close()

        version = await asyncio.to_thread(_prepare)
        writer = Writer(lambda: connect_writer(p, busy_timeout_ms), max_batch=max_batch, max_wait=max_wait,
                        watch_others=True)
        await writer.start()
        conns: list[aiosqlite.Connection] = []
        try:
            for _ in range(max(1, readers)):
                c = await aiosqlite.connect(p, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
                conns.append(c)
                c.row_factory = sqlite3.Row
                await c.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                await c.execute("PRAGMA query_only = ON")
        except BaseException:
            for c in conns:
                await c.close()
            await writer.close()
            raise
        return cls(p, writer, conns, version)

    @property
    def url(self) -> str:
        return self.path

    async def close(self) -> None:
        await self.writer.close()
        for r in self._readers:
            await r.close()
        self._readers = []
        await asyncio.to_thread(self._read_pool.close)

    async def __aenter__(self) -> "Database":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ writes

    def write(self, op: Op[T]) -> "asyncio.Future[T]":
        """Run ``op(conn)`` in the next group-committed transaction: ``await db.write(op)``
        returns once durable. (The writer's future itself, not a coroutine around it: one
        suspension less per answer on the hot path.)"""
        return self.writer.submit(op)

    # ------------------------------------------------------------------ reads

    @asynccontextmanager
    async def reading(self, snapshot: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """Borrow a read connection; ``snapshot=True`` wraps the block in one read transaction."""
        conn = await self._free.get()
        try:
            if snapshot:
                await conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    await conn.execute("COMMIT")
            else:
                yield conn
        finally:
            self._free.put_nowait(conn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on a read thread, in one read transaction (a consistent snapshot).

        For reads that need several queries (e.g. a session: its cursor, current answers and
        paradata): one hop to a thread for all of them instead of one per query. ``fn`` must only
        read (the connection is ``query_only``) and must not touch the event loop.
        """
        return await asyncio.get_running_loop().run_in_executor(self._read_pool.executor, self._read_pool.run, fn)

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        async with self.reading() as conn:
            return list(await conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        async with self.reading() as conn:
            async with conn.execute(sql, params) as cur:
                return await cur.fetchone()

    async def fetchval(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]


class _ReadPool:
    """Plain sqlite3 read connections, one per pool thread (for ``Database.read``)."""

    def __init__(self, path: str, threads: int) -> None:
        self.path = path
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hailong-reader")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   cached_statements=128, timeout=BUSY_TIMEOUT_MS / 1000)
            _configure(conn, writer=False)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        with self._lock:
            for c in self._all:
                c.close()
            self._all.clear()


class PgDatabase(Database):
    """The same ``Database`` on PostgreSQL: ``path`` is the URL (see ``storage.pg``)."""

    backend: Backend = POSTGRES

    def __init__(self, url: str, writer: Writer, pool: pg.PgReadPool, schema_version: int) -> None:
        self.path = url
        self.writer = writer
        self.schema_version = schema_version
        self.cache = {}
        self._pool = pool
        self._readers = []
        self._lock_conns: list[Any] = [None] * pg.LOCK_CONNECTIONS
        self._lock_opening = asyncio.Lock()

    async def lock_connection(self, key: int) -> Any:
        """The async connection holding this worker's advisory locks on ``key``
        (``storage.chat_locks``; keys are spread over a few connections, each opened on first
        use and again after it was lost)."""
        i = key % len(self._lock_conns)
        conn = self._lock_conns[i]
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        async with self._lock_opening:
            conn = self._lock_conns[i]
            if conn is None or conn.closed or conn.broken:
                self._lock_conns[i] = conn = await pg.open_lock_connection(self.path)
        return conn

    @classmethod
    async def open_url(cls, url: str, *, readers: int = 2, max_batch: int = 2000, max_wait: float = 0.002,
                       migrations_dir: Path = MIGRATIONS_DIR) -> "PgDatabase":
        # Reads wait for the server's round trips with the GIL released: more threads than SQLite's.
        version, pool = await asyncio.to_thread(pg.open_pg_parts, url, migrations_dir, max(4, 2 * readers))
        writer = Writer(lambda: pg.PgConnection(url), max_batch=max_batch, max_wait=max_wait)
        try:
            await writer.start()
        except BaseException:
            await asyncio.to_thread(pool.close)
            raise
        return cls(url, writer, pool, version)

    async def close(self) -> None:
        await self.writer.close()
        await asyncio.to_thread(self._pool.close)
        for conn in self._lock_conns:
            if conn is not None:
                await conn.close()

    @asynccontextmanager
    async def reading(self, snapshot: bool = False) -> AsyncIterator[Any]:
        async with pg.pg_reading(self._pool, snapshot) as reader:
            yield reader

    async def read(self, fn: Callable[[Any], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool.executor, self._pool.run, fn)

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool.executor, self._pool.run, lambda c: c.execute(sql, params).fetchall(), False)

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool.executor, self._pool.run, lambda c: c.execute(sql, params).fetchone(), False)


@asynccontextmanager
async def open_database(path: str | os.PathLike[str] | None = None, **kw: Any) -> AsyncIterator[Database]:
    """``async with open_database(path) as db:`` — open, migrate, and always close."""
    db = await Database.open(path, **kw)
    try:
        yield db
    finally:
        await db.close()
