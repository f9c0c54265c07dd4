"""``hailong db copy``: every row of one database into another (SQLite ⇄ PostgreSQL), verified.

How a province moves to PostgreSQL: stop the bot, ``hailong db copy --from sqlite:///x.db --to
postgresql://…``, point ``HAILONG_DB`` at PostgreSQL, start the workers. The copy:

1. migrates both databases to this hailong's schema (the same numbered migrations);
2. refuses a destination that already holds rows (nothing is merged or overwritten);
3. reads the source in one snapshot and writes the destination in one transaction (all or
   nothing), tables in foreign-key order, PostgreSQL through ``COPY``; triggers that maintain
   derived tables (``answers_current``) fire, then the derived table is replaced by the
   source's own rows so that it is identical; identity sequences continue after the copied ids;
4. verifies every table: the row count and an order-independent checksum of every row's
   values must be equal on both sides; and the source again after the copy, so that a bot still
   writing to the source is reported (copy again with it stopped) instead of leaving rows behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from storage.db import Database, StorageError
from storage.dialect import DbUrl, parse_db_url
from storage.pg import PgConnection
from storage.vectors import rebuild_vectors

CHUNK = 5_000
# response_vectors: a faster copy of answers_current that only SQLite's triggers keep in step; it
# is never copied (PostgreSQL would keep it stale) and is packed again on a SQLite destination.
_SKIP = {"schema_version", "response_vectors"}
# Tables a trigger fills from another table's rows: emptied after the copy, then copied as they are.
_DERIVED = ("answers_current", "consent_receipts")   # consent_receipts: migration 0011


class CopyError(StorageError):
    """The copy was refused or did not verify; its message is bilingual."""


@dataclass(frozen=True, slots=True)
class TableCheck:
    """One table on both sides: rows and checksum (hex)."""

    table: str
    rows: int
    checksum: str
    ok: bool


def _norm(v: Any) -> bytes:
    """One value, the same bytes whatever backend returned it."""
    if v is None:
        return b"\x00N"
    if isinstance(v, bool):
        return b"i" + str(int(v)).encode()
    if isinstance(v, int):
        return b"i" + str(v).encode()
    if isinstance(v, float):
        if v.is_integer() and math.isfinite(v) and abs(v) < 2 ** 53:
            return b"i" + str(int(v)).encode()   # 3 and 3.0: SQLite may return either for a REAL column
        return b"f" + repr(v).encode()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return b"b" + bytes(v)
    return b"s" + str(v).encode("utf-8")


class _Side:
    """Raw access to one database: table list, columns, foreign keys, rows."""

    def __init__(self, where: DbUrl) -> None:
        self.where = where
        if where.is_postgres:
            self.pg = PgConnection(where.target)
            self.conn: Any = self.pg
        else:
            self.conn = sqlite3.connect(where.target, isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout = 15000")

    def close(self) -> None:
        self.conn.close()

    def begin_snapshot(self) -> None:
        if self.where.is_postgres:
            self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            self.conn.execute("BEGIN")
            self.conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()   # the snapshot starts here

    def end(self) -> None:
        self.conn.execute("ROLLBACK") if self.where.is_postgres else self.conn.execute("COMMIT")

    def tables(self) -> list[str]:
        if self.where.is_postgres:
            rows = self.conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema ="
                                     " current_schema() AND table_type = 'BASE TABLE'").fetchall()
        else:
            rows = self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                     " AND name NOT LIKE 'sqlite_%'").fetchall()
        return sorted(r[0] for r in rows if r[0] not in _SKIP and not r[0].startswith("_"))

    def columns(self, table: str) -> list[str]:
        if self.where.is_postgres:
            rows = self.conn.execute("SELECT column_name FROM information_schema.columns WHERE table_schema ="
                                     " current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))
            return [r[0] for r in rows.fetchall()]
        return [r[1] for r in self.conn.execute(f'PRAGMA table_info("{table}")').fetchall()]

    def parents(self, table: str) -> set[str]:
        if self.where.is_postgres:
            rows = self.conn.execute(
                "SELECT DISTINCT ccu.table_name FROM information_schema.table_constraints tc"
                " JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name"
                " AND ccu.table_schema = tc.table_schema WHERE tc.constraint_type = 'FOREIGN KEY'"
                " AND tc.table_schema = current_schema() AND tc.table_name = ?", (table,)).fetchall()
            return {r[0] for r in rows} - {table}
        return {r[2] for r in self.conn.execute(f'PRAGMA foreign_key_list("{table}")').fetchall()} - {table}

    def rows(self, table: str, cols: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        sql = f"SELECT {', '.join(_q(c) for c in cols)} FROM {_q(table)}"
        if self.where.is_postgres:
            own = not self.conn.in_transaction      # a server-side cursor lives in a transaction
            if own:
                self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                with self.pg.raw.cursor(name=f"copy_{table}") as cur:
                    cur.itersize = CHUNK
                    cur.execute(sql)
                    yield from cur
            finally:
                if own:
                    self.conn.execute("ROLLBACK")
        else:
            cur = self.conn.execute(sql)
            while True:
                chunk = cur.fetchmany(CHUNK)
                if not chunk:
                    return
                yield from chunk

    def count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {_q(table)}").fetchone()[0])

    def checksum(self, table: str, cols: Sequence[str]) -> tuple[int, str]:
        """Row count and a sum (mod 2^128) of per-row BLAKE2b digests: order-independent."""
        n = total = 0
        for row in self.rows(table, cols):
            h = hashlib.blake2b(b"\x1f".join(_norm(v) for v in row), digest_size=16).digest()
            total = (total + int.from_bytes(h, "big")) % (1 << 128)
            n += 1
        return n, f"{total:032x}"


def _q(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise CopyError(f"tên bảng/cột lạ / unexpected table or column name: {name!r}")
    return f'"{name}"'


def _order(side: _Side, tables: list[str]) -> list[str]:
    """Parents before children (foreign keys)."""
    deps = {t: side.parents(t) & set(tables) for t in tables}
    out: list[str] = []
    while deps:
        ready = sorted(t for t, d in deps.items() if not d - set(out))
        if not ready:
            raise CopyError(f"vòng khóa ngoại / foreign-key cycle among {sorted(deps)}")
        out.extend(ready)
        for t in ready:
            del deps[t]
    return out


def _write(dst: _Side, table: str, cols: list[str], rows: Iterator[tuple[Any, ...]]) -> int:
    n = 0
    collist = ", ".join(_q(c) for c in cols)
    if dst.where.is_postgres:
        with dst.pg.raw.cursor() as cur:
            with cur.copy(f"COPY {_q(table)} ({collist}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
                    n += 1
        return n
    sql = f"INSERT INTO {_q(table)} ({collist}) VALUES ({', '.join('?' * len(cols))})"
    buf: list[tuple[Any, ...]] = []
    for row in rows:
        buf.append(tuple(row))
        if len(buf) >= CHUNK:
            dst.conn.executemany(sql, buf)
            n += len(buf)
            buf = []
    if buf:
        dst.conn.executemany(sql, buf)
        n += len(buf)
    return n


async def _migrate(url: str) -> int:
    db = await Database.open(url, readers=1)
    try:
        return db.schema_version
    finally:
        await db.close()


async def copy_database(src_url: str, dst_url: str) -> list[TableCheck]:
    """Copy every row from ``src_url`` to ``dst_url`` and verify it (see the module docstring).

    Raises ``CopyError`` (nothing written) if the destination holds rows or the schemas differ,
    and after the copy if a table does not verify.
    """
    src_w, dst_w = parse_db_url(src_url), parse_db_url(dst_url)
    if src_w == dst_w:
        raise CopyError("nguồn và đích là một / the source and the destination are the same database")
    v_src, v_dst = await _migrate(src_url), await _migrate(dst_url)
    if v_src != v_dst:
        raise CopyError(f"phiên bản lược đồ khác nhau / schema versions differ: {v_src} ≠ {v_dst}")
    return await asyncio.to_thread(_copy_sync, src_w, dst_w)


def _copy_sync(src_w: DbUrl, dst_w: DbUrl) -> list[TableCheck]:
    src, dst = _Side(src_w), _Side(dst_w)
    try:
        tables = src.tables()
        if set(tables) != set(dst.tables()):
            raise CopyError(f"bảng khác nhau / different tables: {sorted(set(tables) ^ set(dst.tables()))}")
        full = [t for t in tables if dst.count(t)]
        if full:
            raise CopyError(f"cơ sở dữ liệu đích đã có dữ liệu / the destination already holds rows: {full}")
        order = _order(src, tables)
        cols = {t: src.columns(t) for t in tables}
        for t in tables:
            if set(cols[t]) != set(dst.columns(t)):
                raise CopyError(f"cột khác nhau trong bảng / different columns in table {t}")
        src.begin_snapshot()
        dst.conn.execute("BEGIN")
        try:
            for t in order:
                if t not in _DERIVED:
                    _write(dst, t, cols[t], src.rows(t, cols[t]))
            for t in _DERIVED:
                if t in cols:
                    dst.conn.execute(f"DELETE FROM {_q(t)}")
                    _write(dst, t, cols[t], src.rows(t, cols[t]))
            if not dst_w.is_postgres:
                rebuild_vectors(dst.conn)
            if dst_w.is_postgres:
                for t in order:
                    if "id" in cols[t]:
                        dst.conn.execute(
                            f"SELECT setval(pg_get_serial_sequence(?, 'id'), COALESCE(MAX(id), 0) + 1, false)"
                            f" FROM {_q(t)} WHERE pg_get_serial_sequence(?, 'id') IS NOT NULL", (t, t))
            dst.conn.execute("COMMIT")
        except BaseException:
            if dst.conn.in_transaction:
                dst.conn.execute("ROLLBACK")
            raise
        finally:
            src.end()
        checks: list[TableCheck] = []
        changed: list[str] = []
        for t in order:
            n_s, c_s = src.checksum(t, cols[t])
            n_d, c_d = dst.checksum(t, cols[t])
            checks.append(TableCheck(t, n_d, c_d, (n_s, c_s) == (n_d, c_d)))
            if (n_s, c_s) != (n_d, c_d):
                changed.append(f"{t} ({n_s} → {n_d})")
        if changed:
            raise CopyError("kiểm tra không khớp (nguồn vẫn đang được ghi? hãy dừng bot rồi chép lại) / the copy "
                            f"does not verify (is a bot still writing to the source? stop it and copy again): "
                            + ", ".join(changed))
        return checks
    except psycopg.Error as exc:
        raise CopyError(f"PostgreSQL: {str(exc).strip()}") from exc
    finally:
        src.close()
        dst.close()
