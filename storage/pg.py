"""PostgreSQL behind the same storage API: a psycopg 3 connection that speaks like ``sqlite3``.

Every storage module writes ops as ``op(conn)`` over a DB-API connection with SQLite's SQL
(``conn.execute(sql, params).fetchone()``, ``executemany``, ``rowcount``, ``in_transaction``).
``PgConnection`` gives them that interface over a psycopg 3 connection: each statement goes
through ``storage.dialect.translate`` (placeholders, ``BEGIN IMMEDIATE``), rows come back as
``Row`` (a tuple that can also be read by column name, like ``sqlite3.Row``), and an integrity
violation is raised as ``sqlite3.IntegrityError`` (the storage modules and their callers catch
that one class whatever the backend; the psycopg error is its ``__cause__``).

The same group-commit writer (``storage.writer``) drives one ``PgConnection`` on its thread:
one transaction per batch, committed with ``synchronous_commit = on`` (PostgreSQL's default:
COMMIT returns once the WAL is flushed), so an acknowledged answer is durable on PostgreSQL as
on SQLite. Reads use psycopg_pool's ``ConnectionPool`` on a few threads (``PgDatabase``), each
read block in one REPEATABLE READ snapshot when it asks for one.

A connection that broke (the server restarted, a network cut) fails its batch with
``StorageUnavailable`` and is opened again before the next one.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool

from storage.dialect import LOCK_MIGRATE, POSTGRES, advisory_key, migration_statements, translate
from storage.errors import StorageError, StorageUnavailable
from storage.migration_files import MigrationError, migration_plan, split_sql

T = TypeVar("T")

CONNECT_TIMEOUT_S = 10


class Row(tuple):  # type: ignore[type-arg]
    """A result row: a tuple, also indexable by column name (``row["id"]``), like ``sqlite3.Row``."""

    __slots__ = ()
    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._index[key])
            except KeyError:
                raise IndexError(f"No item with that key: {key!r}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


_ROW_CLASSES: dict[tuple[str, ...], type[Row]] = {}


def _row_class(names: tuple[str, ...]) -> type[Row]:
    cls = _ROW_CLASSES.get(names)
    if cls is None:
        cls = type("Row", (Row,), {"__slots__": (), "_index": {n: i for i, n in enumerate(names)}})
        if len(_ROW_CLASSES) < 4096:
            _ROW_CLASSES[names] = cls
    return cls


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    desc = cursor.description
    cls = _row_class(tuple(c.name for c in desc) if desc else ())
    return lambda values: cls(values)


class PgCursor:
    """The part of ``sqlite3.Cursor`` the storage modules use."""

    __slots__ = ("_cur",)

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def description(self) -> Any:
        return self._cur.description

    def fetchone(self) -> Row | None:
        if self._cur.description is None:
            return None
        return self._cur.fetchone()

    def fetchall(self) -> list[Row]:
        if self._cur.description is None:
            return []
        return self._cur.fetchall()

    def fetchmany(self, size: int = 1) -> list[Row]:
        if self._cur.description is None:
            return []
        return self._cur.fetchmany(size)

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


def _raise_mapped(exc: psycopg.Error) -> None:
    if isinstance(exc, psycopg.errors.IntegrityError):
        raise sqlite3.IntegrityError(str(exc).strip()) from exc
    raise exc


class PgConnection:
    """A psycopg 3 connection with ``sqlite3.Connection``'s interface (see module docstring).

    Autocommit mode: BEGIN/COMMIT are explicit, as the writer issues them on SQLite.
    ``typed_values``: ``storage.bulk`` types its ``VALUES`` lists here (see there).
    """

    typed_values = True
    dialect = POSTGRES

    def __init__(self, conninfo: str, *, read_only: bool = False,
                 conn: psycopg.Connection[Any] | None = None) -> None:
        self.conninfo = conninfo
        self.read_only = read_only
        self._conn: psycopg.Connection[Any] | None = conn
        if conn is None:
            self._reconnect()

    @classmethod
    def wrap(cls, conn: psycopg.Connection[Any]) -> "PgConnection":
        """Adapt a connection from a pool (configured by ``configure_connection``)."""
        return cls("", conn=conn)

    def _reconnect(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.OperationalError as exc:
            raise StorageUnavailable("cantopen", str(exc).strip()) from exc
        configure_connection(conn, read_only=self.read_only)
        self._conn = conn

    @property
    def raw(self) -> psycopg.Connection[Any]:
        assert self._conn is not None
        return self._conn

    @property
    def in_transaction(self) -> bool:
        conn = self._conn
        if conn is None or conn.closed:
            return False
        return conn.info.transaction_status != pq.TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            if self.conninfo and not self.in_transaction:
                self._reconnect()
                conn = self._conn
            assert conn is not None
        stmt = translate(sql)
        bound = stmt.bind(params if params is not None else ())
        try:
            return PgCursor(conn.execute(stmt.sql, bound))
        except psycopg.Error as exc:
            _raise_mapped(exc)
            raise   # unreachable: _raise_mapped always raises

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> PgCursor:
        stmt = translate(sql)
        cur = self.raw.cursor()
        try:
            cur.executemany(stmt.sql, [stmt.bind(p) for p in seq])
        except psycopg.Error as exc:
            _raise_mapped(exc)
        return PgCursor(cur)

    def commit(self) -> None:
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def configure_connection(conn: psycopg.Connection[Any], *, read_only: bool = False) -> None:
    """Autocommit (explicit BEGIN/COMMIT), ``Row`` results, durable commits, UTC sessions."""
    conn.autocommit = True
    conn.row_factory = _row_factory  # type: ignore[assignment]
    conn.execute("SET synchronous_commit = on")
    conn.execute("SET TIME ZONE 'UTC'")
    if read_only:
        conn.execute("SET default_transaction_read_only = on")


# ------------------------------------------------------------------ migrations

def read_schema_version_pg(conn: PgConnection) -> int:
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0) if row else 0


def migrate_pg(conn: PgConnection, directory: Path, target: int | None = None) -> tuple[int, int]:
    """The numbered migrations (``storage/migrations``), translated by ``storage.dialect``.

    Each in one transaction with its schema_version row, under a transaction-level advisory
    lock, so that several workers starting at once apply each migration exactly once.
    """
    before = read_schema_version_pg(conn)
    current = before
    for mig in migration_plan(directory, target, before):
        if mig.version <= current:  # applied by another worker meanwhile
            continue
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT pg_advisory_xact_lock(?)", (advisory_key(LOCK_MIGRATE, 0),))
            now_version = read_schema_version_pg(conn)
            if now_version >= mig.version:
                conn.execute("COMMIT")
                current = now_version
                continue
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                         " version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)")
            for stmt in migration_statements(split_sql(mig.sql()), POSTGRES):
                conn.raw.execute(stmt)   # DDL as written: no placeholders, '%' is literal
            conn.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                         (mig.version, mig.name, time.time()))
            conn.execute("COMMIT")
        except (psycopg.Error, sqlite3.Error, ValueError) as exc:
            try:
                conn.rollback()
            except psycopg.Error:
                pass
            raise MigrationError(
                f"migration {mig.path.name} thất bại, cơ sở dữ liệu giữ nguyên phiên bản {current} / "
                f"failed, database left at version {current}: {exc}") from exc
        current = mig.version
    return before, current


# ------------------------------------------------------------------ reads

#: Rows per round trip of a bulk read (a server-side cursor: memory stays flat for a national round).
BULK_CHUNK = 20_000


def read_rows_pg(conninfo: str, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and all rows of one query, read in bulk through a named (server-side)
    cursor, ``BULK_CHUNK`` rows per round trip, in one read-only snapshot (analytics)."""
    stmt = translate(sql)
    with psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        conn.read_only = True
        with conn.cursor(name="hailong_bulk_read") as cur:
            cur.itersize = BULK_CHUNK
            cur.execute(stmt.sql, stmt.bind(params))
            rows: list[tuple[Any, ...]] = []
            while True:
                chunk = cur.fetchmany(BULK_CHUNK)
                if not chunk:
                    break
                rows.extend(chunk)
            columns = [d.name for d in cur.description] if cur.description else []
        conn.rollback()
    return columns, rows


class PgReader:
    """What ``Database.reading()`` yields on PostgreSQL: ``aiosqlite``'s calls the storage
    modules use (``await r.execute_fetchall(sql, params)``, ``await r.execute(sql)``), run on a
    pool thread with one borrowed connection for the whole block."""

    def __init__(self, conn: PgConnection, run: Callable[..., Any]) -> None:
        self._conn = conn
        self._run = run

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._run(lambda: self._conn.execute(sql, params).fetchall())

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._run(lambda: self._conn.execute(sql, params).fetchall())


class PgReadPool:
    """psycopg_pool's ``ConnectionPool`` of read-only connections, used from ``threads`` threads."""

    def __init__(self, conninfo: str, threads: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hailong-pg-reader")
        self.pool = ConnectionPool(conninfo, min_size=1, max_size=threads + 1, open=False,
                                   kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
                                   configure=lambda c: configure_connection(c, read_only=True),
                                   name="hailong-readers")

    def open(self) -> None:
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except Exception as exc:
            self.pool.close()
            raise StorageUnavailable("cantopen", str(exc).strip()) from exc

    def run(self, fn: Callable[[PgConnection], T], snapshot: bool = True) -> T:
        with self.pool.connection() as raw:
            conn = PgConnection.wrap(raw)
            if not snapshot:
                return fn(conn)
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                return fn(conn)
            finally:
                conn.rollback()

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.pool.close()


def open_pg_parts(conninfo: str, migrations_dir: Path, readers: int) -> tuple[int, PgReadPool]:
    """Migrate (blocking; run off the event loop) and open the read pool."""
    try:
        conn = PgConnection(conninfo)
    except StorageUnavailable as exc:
        raise StorageError(f"không kết nối được PostgreSQL / cannot connect to PostgreSQL: {exc.detail}") from exc
    try:
        version = migrate_pg(conn, migrations_dir)[1]
    except MigrationError:
        raise
    finally:
        conn.close()
    pool = PgReadPool(conninfo, max(1, readers))
    pool.open()
    return version, pool


#: Connections per worker for advisory locks (a chat's key always goes to the same one).
LOCK_CONNECTIONS = 4


async def open_lock_connection(conninfo: str) -> psycopg.AsyncConnection[Any]:
    """An asyncio connection (psycopg 3) for a worker's advisory locks (``storage.chat_locks``)."""
    try:
        return await psycopg.AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.OperationalError as exc:
        raise StorageUnavailable("cantopen", str(exc).strip()) from exc


@asynccontextmanager
async def pg_reading(pool: PgReadPool, snapshot: bool) -> AsyncIterator[PgReader]:
    """Borrow one pooled connection for an ``async with db.reading()`` block."""
    loop = asyncio.get_running_loop()
    raw = await loop.run_in_executor(pool.executor, pool.pool.getconn)
    conn = PgConnection.wrap(raw)

    async def run(fn: Callable[[], T]) -> T:
        return await loop.run_in_executor(pool.executor, fn)

    try:
        if snapshot:
            await run(lambda: conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        yield PgReader(conn, run)
    finally:
        try:
            if conn.in_transaction:
                await run(conn.rollback)
        finally:
            pool.pool.putconn(raw)
