"""The group-commit writer: batching, per-op failure isolation, durability before resolution."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from storage.db import Database
from storage.writer import Writer, WriterClosed


@pytest.fixture
async def sqlite_db(tmp_path):
    """For the tests of SQLite's own settings (WAL, PRAGMAs, page size, a full disk)."""
    d = await Database.open(tmp_path / "w.db")
    yield d
    await d.close()


def _insert(i: int):
    def op(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO audit_log (at, actor, action, details) VALUES (0, 'test', ?, '{}')", (f"a{i}",))
        return i
    return op


async def test_many_concurrent_submits_share_few_transactions(db):
    before = db.writer.stats.batches
    results = await asyncio.gather(*(db.write(_insert(i)) for i in range(2000)))
    assert results == list(range(2000))
    batches = db.writer.stats.batches - before
    assert 1 <= batches <= 20, batches
    assert await db.fetchval("SELECT COUNT(*) FROM audit_log WHERE actor = 'test'") == 2000


async def test_failing_op_fails_only_itself(db):
    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO audit_log (at, actor, action, details) VALUES (0, 'test', 'bad', '{}')")
        conn.execute("INSERT INTO units (frame, kind, code, name) VALUES ('', 'planet', 'x', 'x')")  # CHECK fails

    def boom(conn: sqlite3.Connection) -> None:
        raise ValueError("bug in op")

    ops = [_insert(1), bad, _insert(2), boom, _insert(3)]
    res = await asyncio.gather(*(db.write(o) for o in ops), return_exceptions=True)
    assert res[0] == 1 and res[2] == 2 and res[4] == 3
    assert isinstance(res[1], sqlite3.IntegrityError)
    assert isinstance(res[3], ValueError)
    actions = [r[0] for r in await db.fetchall("SELECT action FROM audit_log WHERE actor = 'test' ORDER BY id")]
    assert actions == ["a1", "a2", "a3"]  # the failed op's first insert was rolled back too


async def test_result_is_visible_to_readers_once_resolved(db):
    for i in range(20):
        await db.write(_insert(i))
        assert await db.fetchval("SELECT COUNT(*) FROM audit_log WHERE action = ?", (f"a{i}",)) == 1


async def test_durable_in_another_connection(sqlite_db, tmp_path):
    db = sqlite_db
    await db.write(_insert(7))
    other = sqlite3.connect(tmp_path / "w.db")
    try:
        assert other.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'a7'").fetchone()[0] == 1
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()


async def test_durable_in_another_connection_on_postgresql(pg_url):
    """Resolved = committed with synchronous_commit on (the WAL flushed), seen by any connection."""
    import psycopg

    db = await Database.open(pg_url)
    try:
        await db.write(_insert(7))
        assert await db.write(lambda c: c.execute("SHOW synchronous_commit").fetchone()[0]) == "on"
        with psycopg.connect(pg_url) as other:
            assert other.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'a7'").fetchone()[0] == 1
            assert other.execute("SHOW fsync").fetchone()[0] == "on"
    finally:
        await db.close()


async def test_writer_uses_full_sync_and_foreign_keys(sqlite_db):
    db = sqlite_db
    def pragmas(conn: sqlite3.Connection) -> tuple[int, int]:
        return conn.execute("PRAGMA synchronous").fetchone()[0], conn.execute("PRAGMA foreign_keys").fetchone()[0]
    # synchronous=FULL is 2
    assert await db.write(pragmas) == (2, 1)


async def test_new_databases_get_8k_pages_existing_ones_keep_theirs(sqlite_db, tmp_path):
    db = sqlite_db
    def settings(conn: sqlite3.Connection) -> tuple[int, int]:
        return conn.execute("PRAGMA page_size").fetchone()[0], conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]

    assert await db.write(settings) == (8192, 5000)
    old = sqlite3.connect(tmp_path / "old.db")
    old.execute("PRAGMA page_size = 4096")
    old.execute("CREATE TABLE kept (x)")
    old.execute("INSERT INTO kept VALUES (1)")
    old.commit()
    old.close()
    d = await Database.open(tmp_path / "old.db")
    try:
        assert (await d.write(settings))[0] == 4096
        assert await d.fetchval("SELECT x FROM kept") == 1
    finally:
        await d.close()


async def test_reads_do_not_wait_behind_a_slow_write(db):
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow(conn: sqlite3.Connection) -> None:
        loop.call_soon_threadsafe(started.set)
        conn.execute("INSERT INTO audit_log (at, actor, action, details) VALUES (0, 'test', 'slow', '{}')")
        import time
        time.sleep(0.5)

    fut = db.writer.submit(slow)
    await started.wait()
    t0 = loop.time()
    assert await db.fetchval("SELECT COUNT(*) FROM audit_log WHERE action = 'slow'") == 0  # not yet committed
    assert loop.time() - t0 < 0.3
    await fut
    assert await db.fetchval("SELECT COUNT(*) FROM audit_log WHERE action = 'slow'") == 1


async def test_max_batch_is_respected(tmp_path):
    d = await Database.open(tmp_path / "b.db", max_batch=7)
    try:
        await asyncio.gather(*(d.write(_insert(i)) for i in range(50)))
        assert d.writer.stats.max_batch_seen <= 7
    finally:
        await d.close()


async def test_close_drains_then_refuses(tmp_path):
    d = await Database.open(tmp_path / "c.db")
    futs = [d.writer.submit(_insert(i)) for i in range(100)]
    await d.writer.close()
    assert [f.result() for f in futs] == list(range(100))
    with pytest.raises(WriterClosed):
        d.writer.submit(_insert(0))
    for r in d._readers:
        await r.close()


async def test_commit_failure_fails_every_op_of_the_batch(tmp_path):
    def connect() -> sqlite3.Connection:
        return sqlite3.connect(tmp_path / "x.db", isolation_level=None, check_same_thread=False)

    w = Writer(connect)
    await w.start()
    await w.run(lambda c: c.execute("CREATE TABLE t (a INTEGER)"))

    def ends_transaction(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("RELEASE op")   # misbehaving op: leaves its savepoint...
        conn.execute("COMMIT")       # ...and commits the batch itself

    res = await asyncio.gather(w.submit(ends_transaction), w.submit(lambda c: c.execute("INSERT INTO t VALUES (2)")),
                               return_exceptions=True)
    assert all(isinstance(r, Exception) for r in res)
    assert w.stats.failed_batches >= 1
    # the writer keeps working afterwards
    assert await w.run(lambda c: c.execute("SELECT 1").fetchone()[0]) == 1
    await w.close()


# ------------------------------------------------------------------ the database itself fails

def _page_limit(limit: int | None):
    """An op that caps the database at its current size (SQLite then answers SQLITE_FULL, as on a
    full disk) or, with ``None``, lifts the cap (the disk has room again)."""
    def op(conn: sqlite3.Connection) -> int:
        n = conn.execute("PRAGMA page_count").fetchone()[0] if limit is None or limit == 0 else limit
        return conn.execute(f"PRAGMA max_page_count = {1 << 30 if limit is None else n}").fetchone()[0]
    return op


def _big(i: int):
    def op(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO audit_log (at, actor, action, details) VALUES (0, 'big', ?, ?)",
                     (f"b{i}", "x" * 200_000))
        return i
    return op


async def test_disk_full_fails_the_batch_with_the_real_error_then_recovers(sqlite_db):
    db = sqlite_db
    from storage.errors import StorageUnavailable, is_unavailable

    await db.write(_page_limit(0))          # the disk is full from now on
    res = await asyncio.gather(*(db.write(_big(i)) for i in range(5)), db.write(_insert(1)),
                               return_exceptions=True)
    assert all(isinstance(r, StorageUnavailable) for r in res), res
    assert res[0].reason == "full" and "database or disk is full" in str(res[0]), str(res[0])
    assert "savepoint" not in str(res[0])
    assert all(is_unavailable(r) for r in res)
    assert await db.fetchval("SELECT COUNT(*) FROM audit_log WHERE actor IN ('big', 'test')") == 0
    assert db.writer.stats.unavailable_batches >= 1
    await db.write(_page_limit(None))       # room again: the same writer goes on by itself
    assert await asyncio.gather(*(db.write(_big(i)) for i in range(3))) == [0, 1, 2]
    assert await db.fetchval("SELECT COUNT(*) FROM audit_log WHERE actor = 'big'") == 3


async def test_a_lock_held_elsewhere_fails_after_one_busy_timeout_then_recovers(tmp_path):
    import time

    from storage.errors import StorageUnavailable

    d = await Database.open(tmp_path / "busy.db", busy_timeout_ms=300)
    other = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")    # another process holds the write lock
        t0 = time.monotonic()
        res = await asyncio.gather(d.write(_insert(1)), d.write(_insert(2)), return_exceptions=True)
        waited = time.monotonic() - t0
        assert all(isinstance(r, StorageUnavailable) and r.reason == "busy" for r in res), res
        assert "database is locked" in str(res[0])
        assert waited < 0.55, f"waited {waited:.2f} s: the busy timeout was paid more than once"
        other.execute("ROLLBACK")
        assert await d.write(_insert(3)) == 3
    finally:
        other.close()
        await d.close()


async def test_a_lost_postgresql_connection_fails_the_batch_then_the_writer_reconnects(pg_url):
    """The server ends the writer's session (a restart, a failover): that batch fails with
    StorageUnavailable, nothing of it is stored, and the next batch runs on a new connection."""
    import psycopg

    from storage.errors import StorageUnavailable, is_unavailable

    db = await Database.open(pg_url)
    try:
        await db.write(_insert(1))
        pid = await db.write(lambda c: c.execute("SELECT pg_backend_pid()").fetchone()[0])
        with psycopg.connect(pg_url, autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0] is True
        res = await asyncio.gather(db.write(_insert(2)), return_exceptions=True)
        assert isinstance(res[0], StorageUnavailable) and is_unavailable(res[0]), res
        assert await db.write(_insert(3)) == 3
        assert await db.write(lambda c: c.execute("SELECT pg_backend_pid()").fetchone()[0]) != pid
        actions = [r[0] for r in await db.fetchall("SELECT action FROM audit_log WHERE actor = 'test' ORDER BY id")]
        assert actions == ["a1", "a3"]
    finally:
        await db.close()


async def test_a_deadlock_between_two_workers_is_run_again_not_failed(pg_url):
    """Two workers' batches lock two rows in opposite orders: PostgreSQL aborts one of them
    (deadlock); the writer runs that batch again and both callers get their result."""
    import time

    a = await Database.open(pg_url)
    b = await Database.open(pg_url)
    try:
        await a.write(_insert(1))
        await a.write(_insert(2))
        ids = [r[0] for r in await a.fetchall("SELECT id FROM audit_log ORDER BY id")]

        def crossing(first: int, second: int, tag: str):
            def op(conn) -> str:
                conn.execute("UPDATE audit_log SET actor = ? WHERE id = ?", (tag, first))
                time.sleep(0.3)
                conn.execute("UPDATE audit_log SET actor = ? WHERE id = ?", (tag, second))
                return tag
            return op

        got = await asyncio.gather(a.write(crossing(ids[0], ids[1], "a")), b.write(crossing(ids[1], ids[0], "b")))
        assert got == ["a", "b"]
        assert a.writer.stats.conflict_retries + b.writer.stats.conflict_retries >= 1
        assert len({r[0] for r in await a.fetchall("SELECT actor FROM audit_log")}) == 1   # one ran after the other
    finally:
        await a.close()
        await b.close()
