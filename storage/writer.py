"""The single writer: every write goes through one task that commits in groups.

Why: with ``synchronous=FULL`` every commit costs an fsync (hundreds of microseconds on this
machine, milliseconds on an SD card or a busy VM). One transaction per answer caps a bot at a few
thousand answers per second however many citizens answer at once. Here callers ``await
writer.submit(op)``; ops queue up; the writer takes everything queued (at most ``max_batch``,
lingering at most ``max_wait`` seconds while more keep arriving), runs them in ONE transaction on a
dedicated thread, commits (one fsync), and only then resolves every caller's future. So a coroutine
learns its answer is durable before it sends the reply, and 10 000 concurrent citizens cost a few
fsyncs per batch instead of 10 000.

An op that raises (a constraint, a bug) fails only its own future: the batch is then rolled back
and run again with a SAVEPOINT per op, so the rest of it commits (savepoints cost two statements
per op, so they are only paid when something failed). If the transaction itself fails (BEGIN,
COMMIT), every op of the batch fails (nothing of it is durable) and callers see the error.

An op is a plain synchronous function ``op(conn: sqlite3.Connection) -> T``. It runs on the
writer thread, so the whole batch costs one hop between the event loop and the thread rather than
one per statement (which is what aiosqlite would cost per call). Ops must not touch the event loop.
Reads never go through the writer: they use ``Database``'s read connections.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], T]


class WriterClosed(RuntimeError):
    """submit() after close(): the database is shutting down."""


@dataclass(slots=True)
class WriterStats:
    """Counters for tests and benchmarks (batching is observable, not assumed)."""

    batches: int = 0
    ops: int = 0
    failed_ops: int = 0
    failed_batches: int = 0
    max_batch_seen: int = 0


class Writer:
    """Group-commit writer over one ``sqlite3.Connection`` owned by one thread.

    ``connect`` opens the connection; it is called on the writer thread (sqlite3 connections are
    best used from the thread that made them). The connection must be in autocommit mode
    (``isolation_level=None``): the writer issues BEGIN/COMMIT itself.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, max_batch: int = 2000,
                 max_wait: float = 0.002) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._connect = connect
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hailong-writer")
        self._conn: sqlite3.Connection | None = None
        self._pending: deque[tuple[Op[Any], asyncio.Future[Any]]] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._thread_id: int | None = None
        self.stats = WriterStats()

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._conn = await loop.run_in_executor(self._executor, self._open)
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run(), name="hailong-writer")

    def _open(self) -> sqlite3.Connection:
        self._thread_id = threading.get_ident()
        return self._connect()

    async def close(self) -> None:
        """Finish every op already submitted, then close the connection."""
        if self._task is None:
            return
        self._closing = True
        assert self._wake is not None
        self._wake.set()
        await self._task
        self._task = None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_conn)
        self._executor.shutdown(wait=True)

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ submitting

    def submit(self, op: Op[T]) -> asyncio.Future[T]:
        """Queue ``op``; the returned future resolves once its transaction is durable.

        Await it: ``result = await writer.submit(op)``. The op's exception, if any, is raised there.
        """
        if self._closing or self._task is None:
            raise WriterClosed("the database writer is closed / bộ ghi cơ sở dữ liệu đã đóng")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((op, fut))
        assert self._wake is not None
        if not self._wake.is_set():
            self._wake.set()
        return fut

    async def run(self, op: Op[T]) -> T:
        """``await writer.run(op)``: submit and wait (the common case)."""
        return await self.submit(op)

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        wake = self._wake
        assert wake is not None
        pending = self._pending
        while True:
            if not pending:
                if self._closing:
                    return
                wake.clear()
                await wake.wait()
                continue
            # Linger only while more ops keep arriving: at low load a lone answer is committed at
            # once; under load the batch fills up during the previous fsync anyway.
            if len(pending) < self.max_batch and self.max_wait > 0:
                deadline = loop.time() + self.max_wait
                seen = len(pending)
                while True:
                    await asyncio.sleep(0)
                    n = len(pending)
                    if n >= self.max_batch or n == seen or loop.time() >= deadline:
                        break
                    seen = n
            take = min(len(pending), self.max_batch)
            batch = [pending.popleft() for _ in range(take)]
            ops = [op for op, _ in batch]
            try:
                results = await loop.run_in_executor(self._executor, self._run_batch, ops)
            except BaseException as exc:  # the thread hop itself failed: fail the whole batch
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, fut), (ok, value) in zip(batch, results):
                if fut.done():  # the caller gave up (cancelled); its op is committed regardless
                    continue
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)

    def _run_batch(self, ops: list[Op[Any]]) -> list[tuple[bool, Any]]:
        """On the writer thread: one transaction for the whole batch, one commit.

        Fast path: run every op straight in the transaction. If one raises, roll the whole
        transaction back and run the batch again with a SAVEPOINT per op, so that the failing
        op fails alone. Ops are therefore required to be re-runnable: no effects outside ``conn``
        (they never are committed twice: the first attempt was rolled back).
        """
        conn = self._conn
        assert conn is not None
        results: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                results.append((True, op(conn)))
                if not conn.in_transaction:
                    raise sqlite3.OperationalError("an op ended the batch transaction itself")
            conn.execute("COMMIT")
        except Exception as exc:
            _rollback(conn)
            return self._run_batch_isolated(ops, first_error=exc)
        self._count(len(ops), 0)
        return results

    def _run_batch_isolated(self, ops: list[Op[Any]], first_error: Exception) -> list[tuple[bool, Any]]:
        """Slow path: a SAVEPOINT per op; any failure of the transaction itself (BEGIN, a
        savepoint statement, an op that ended the transaction, COMMIT) fails every op of the batch:
        then nothing of it is durable and every caller is told so."""
        conn = self._conn
        assert conn is not None
        results: list[tuple[bool, Any]] = []
        failed = 0
        try:
            execute = conn.execute
            execute("BEGIN IMMEDIATE")
            for op in ops:
                execute("SAVEPOINT op")
                try:
                    value = op(conn)
                except Exception as exc:
                    failed += 1
                    execute("ROLLBACK TO op")
                    execute("RELEASE op")
                    results.append((False, exc))
                else:
                    execute("RELEASE op")
                    results.append((True, value))
                if not conn.in_transaction:
                    raise sqlite3.OperationalError("an op ended the batch transaction itself")
            execute("COMMIT")
        except Exception as exc:
            _rollback(conn)
            self.stats.failed_batches += 1
            return [(False, exc)] * len(ops)
        self._count(len(ops), failed)
        return results

    def _count(self, n: int, failed: int) -> None:
        stats = self.stats
        stats.batches += 1
        stats.ops += n
        stats.failed_ops += failed
        if n > stats.max_batch_seen:
            stats.max_batch_seen = n


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass
