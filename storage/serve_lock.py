"""One bot process per database: an exclusive lock file beside the SQLite file.

Two ``hailong run`` on one database would both poll the same bot (Telegram answers the second
``getUpdates`` with 409 Conflict and the two steal each other's updates), both send the outbox and
both run the reminder scheduler. SQLite itself allows it, so the bot process holds
``<database>.lock`` with ``fcntl.flock(LOCK_EX | LOCK_NB)`` for its whole life; a second one is
refused with a bilingual message naming the holder's pid.

Why ``flock`` on a separate file: the lock belongs to the open file description, so the kernel
releases it when the process dies in any way (SIGKILL, OOM, power loss: no stale lock to clean
up by hand), and it never interferes with SQLite's own locks on the database file. The lock file
is never deleted (deleting it while another process waits would let two hold "the" lock).
Other commands (``invites send --enqueue-only``, ``status``, exports…) do not take it: they are
ordinary SQLite clients and may run beside the bot.

PostgreSQL (a ``postgresql://`` URL): the lock is a PostgreSQL advisory lock instead of the file,
held on a connection of its own for the process's whole life (the server releases it when the
process or its connection dies). Several workers may serve one database in webhook mode
(``shared_ok=True``): each holds the lock in *shared* mode; what they share is coordinated in the
database (docs/durability.md §7). A worker that polls, or one started without ``shared_ok``, holds
it *exclusively*: only one such process runs, and never beside webhook workers (a poller deletes
the bot's webhook at start, which would silence every webhook worker; a webhook worker would set
it again under a running poller). The key is per schema, so two provinces in two schemas of one
PostgreSQL database do not block each other.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import Any

import psycopg

from storage.db import StorageError
from storage.dialect import LOCK_SERVE, DbUrl, advisory_key, parse_db_url


class DatabaseInUse(StorageError):
    """Another process already serves this database (``shared``: the refused process was a
    webhook worker that found an exclusive server, or the other way round)."""

    def __init__(self, db_path: str, holder: str, *, shared: bool | None = None) -> None:
        who = f" (pid {holder})" if holder else ""
        if shared is None:
            super().__init__(
                f"một tiến trình hailong run khác{who} đang phục vụ cơ sở dữ liệu {db_path}; chỉ được chạy một / "
                f"another hailong run{who} is already serving the database {db_path}; only one may run at a time")
        elif shared:
            super().__init__(
                f"một tiến trình hailong run (polling) đang phục vụ riêng cơ sở dữ liệu {db_path}; không thể chạy "
                f"thêm worker webhook bên cạnh / a polling hailong run serves the database {db_path} alone; "
                f"webhook workers cannot run beside it")
        else:
            super().__init__(
                f"các worker webhook đang phục vụ cơ sở dữ liệu {db_path}; không thể chạy hailong run polling "
                f"bên cạnh (chỉ một) / webhook workers are serving the database {db_path}; a polling hailong "
                f"run cannot run beside them (only one may run at a time)")
        self.holder = holder


def lock_path(db_path: str | os.PathLike[str]) -> Path:
    """Where the lock of ``db_path`` lives (beside it, same directory)."""
    return Path(f"{os.fspath(db_path)}.lock")


class ServeLock:
    """The held lock; :meth:`release` (or process exit) frees it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)                 # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> "ServeLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class PgServeLock(ServeLock):
    """The serve lock on PostgreSQL: an advisory lock held by a connection of its own."""

    def __init__(self, url: str, conn: psycopg.Connection[Any] | None) -> None:
        self.path = Path(url)
        self._fd = None
        self._conn = conn

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()                 # the session ends: the server drops its locks
            self._conn = None


def _serve_key(conn: psycopg.Connection[Any]) -> int:
    """The serve lock's key for the connection's schema (``current_schema()``)."""
    row = conn.execute("SELECT current_schema()").fetchone()
    schema = str(row[0] if row and row[0] is not None else "")
    return advisory_key(LOCK_SERVE, int.from_bytes(hashlib.blake2b(schema.encode(), digest_size=6).digest(), "big"))


def _acquire_pg(where: DbUrl, shared_ok: bool) -> ServeLock:
    try:
        conn = psycopg.connect(where.target, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise StorageError(f"không kết nối được PostgreSQL / cannot connect to PostgreSQL: "
                           f"{str(exc).strip()}") from None
    try:
        key = _serve_key(conn)
        take = "pg_try_advisory_lock_shared" if shared_ok else "pg_try_advisory_lock"
        row = conn.execute(f"SELECT {take}(%s)", (key,)).fetchone()
        if row and row[0]:
            return PgServeLock(where.target, conn)
        # Refused: say by whom. Another exclusive server when we wanted it alone, unless the
        # holders are webhook workers (only shared holders).
        held = conn.execute("SELECT bool_or(mode = 'ExclusiveLock') FROM pg_locks WHERE locktype = 'advisory'"
                            " AND granted AND ((classid::bigint << 32) | objid::bigint) = %s AND objsubid = 1",
                            (key,)).fetchone()
    except BaseException:
        conn.close()
        raise
    conn.close()
    exclusive_holder = bool(held and held[0])
    if shared_ok:
        raise DatabaseInUse(where.redacted(), "", shared=True)
    raise DatabaseInUse(where.redacted(), "", shared=None if exclusive_holder else False)


def acquire_serve_lock(db_path: str | os.PathLike[str], *, shared_ok: bool = False) -> ServeLock:
    """Take the database's serve lock without waiting; raise :class:`DatabaseInUse` if held.

    ``shared_ok``: the caller may run beside other workers (webhook mode on PostgreSQL); on
    SQLite it changes nothing (one process per file)."""
    where = parse_db_url(os.fspath(db_path))
    if where.is_postgres:
        return _acquire_pg(where, shared_ok)
    db_path = where.target
    path = lock_path(db_path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StorageError(f"không tạo được tệp khóa {path} ({exc.strerror}) / cannot create the lock file "
                           f"{path} ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
        raise DatabaseInUse(os.fspath(db_path), holder if holder.isdigit() else "") from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode("ascii"))
    return ServeLock(path, fd)
