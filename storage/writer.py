"""The single writer: every write goes through one thread that commits in groups.

Why: with ``synchronous=FULL`` every commit costs an fsync (hundreds of microseconds on this
machine, milliseconds on an SD card or a busy VM). One transaction per answer caps a bot at a few
thousand answers per second however many citizens answer at once. Here callers ``await
writer.submit(op)``; ops queue up; a dedicated writer thread takes everything queued (at most
``max_batch``), runs it in ONE transaction, commits (one fsync), and only then resolves every
caller's future. So a coroutine learns its answer is durable before it sends the reply, and
10 000 concurrent citizens cost a few fsyncs per batch instead of 10 000.

The thread never waits for the event loop: it hands a finished batch's results to the loop with
one ``call_soon_threadsafe`` (the loop resolves the futures of the whole batch in one callback)
and goes straight on with the ops that queued up during the fsync. Batches therefore size
themselves: one op alone is committed at once (no lingering at low load), and under load each
batch holds whatever arrived during the previous commit. The loop and the thread work in
parallel (SQLite releases the GIL while it works), which is what two cores are for.

Batched SQL: an op may be an object whose class has a ``run_many(conn, ops) -> list`` static
method (``BatchOp``). Consecutive ops of the same class in a batch are handed to it together, so
it can run each statement once for all of them (``executemany``) instead of once per op. Ops
without it are plain callables ``op(conn) -> T``. Both run on the writer thread and must not
touch the event loop.

An op that raises (a constraint, a bug) fails only its own future: the batch is then rolled back
and run again with a SAVEPOINT per op, each op on its own (``op(conn)``), so the rest of it
commits (savepoints cost two statements per op, so they are only paid when something failed).
If the transaction itself fails (BEGIN, COMMIT), every op of the batch fails (nothing of it is
durable) and callers see the error.

When the *database* fails rather than an op (the disk is full, the write lock is held by another
process past the busy timeout, an I/O error; ``storage.errors``), running the ops one by one
would only fail again (and wait the busy timeout a second time; SQLite may also have rolled the
transaction back by itself, so savepoints no longer exist): every op of the batch then fails at
once with ``StorageUnavailable`` naming SQLite's own error, and the next batch tries again, so
the writer recovers by itself once the disk has room or the lock is released.

Reads never go through the writer: they use ``Database``'s read connections.

The session epoch (:class:`Epoch`): a counter the thread moves on before it runs any op that
does not say ``keeps_sessions = True`` (a claim, an erase, a pause, a round closed: anything that
could change which response a chat is bound to, or a state behind a channel's back), and when
another connection (another process) committed since the last batch (SQLite's ``PRAGMA
data_version``, read inside the write transaction). A channel's cached session
(``storage.conversations``) is trusted only while the epoch it was read at is current, and a step
built on one is refused on this thread if the epoch moved before it ran.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import deque
from time import thread_time
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Protocol, TypeVar, runtime_checkable

from storage.errors import as_unavailable, is_transient_conflict, unavailable_reason

T = TypeVar("T")
RETRIES = 3
Op = Callable[[sqlite3.Connection], T]


class WriterClosed(RuntimeError):
    """submit() after close(): the database is shutting down."""


@runtime_checkable
class BatchOp(Protocol):
    """An op that can also run together with other ops of its class (see module docstring).

    ``run_many(conn, ops)`` must have exactly the effects of ``[op(conn) for op in ops]`` and
    return their results in order; it may raise, then the batch is retried op by op.
    """

    run_many: ClassVar[Callable[[sqlite3.Connection, list[Any]], list[Any]]]

    def __call__(self, conn: sqlite3.Connection) -> Any: ...


@dataclass(slots=True)
class WriterStats:
    """Counters for tests and benchmarks (batching is observable, not assumed)."""

    batches: int = 0
    ops: int = 0
    failed_ops: int = 0
    failed_batches: int = 0
    unavailable_batches: int = 0    # batches failed because the database could not be written
    max_batch_seen: int = 0
    conflict_retries: int = 0       # batches run again after a deadlock with another worker
    cpu_s: float = 0.0              # the writer thread's CPU time in batches (time.thread_time)


_Item = tuple[Any, "asyncio.Future[Any]"]


def keeps_sessions(op: T) -> T:
    """Mark a writer op that changes nothing a chat's cached session depends on (no binding,
    response, round or respondent: outbox rows, leases, the send budget), so that it does not
    move the session epoch (see the module docstring). Returns ``op``."""
    op.keeps_sessions = True  # type: ignore[attr-defined]
    return op


class Epoch:
    """The session epoch (see the module docstring): moved on by the writer thread only; read
    on the event loop (an int attribute: one read is atomic)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class Writer:
    """Group-commit writer over one ``sqlite3.Connection`` owned by one thread.

    ``connect`` opens the connection; it is called on the writer thread (sqlite3 connections are
    best used from the thread that made them). The connection must be in autocommit mode
    (``isolation_level=None``): the writer issues BEGIN/COMMIT itself.

    ``max_wait``: kept for compatibility and as an upper bound; the thread does not linger, a
    batch is what queued during the previous commit (see module docstring).
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, max_batch: int = 2000,
                 max_wait: float = 0.002, watch_others: bool = False) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._connect = connect
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._conn: sqlite3.Connection | None = None
        self._pending: deque[_Item] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._idle = False          # the thread waits on _cond (set/read under the lock)
        self._closing = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._thread_id: int | None = None
        self.stats = WriterStats()
        self.epoch = Epoch()
        # SQLite: other processes' commits move the epoch on (PRAGMA data_version)
        self._watch_others = watch_others
        self._data_version: int | None = None

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        started: asyncio.Future[None] = loop.create_future()
        self._stopped = loop.create_future()
        self._thread = threading.Thread(target=self._main, args=(started,), name="hailong-writer",
                                        daemon=True)
        self._thread.start()
        await started

    def _main(self, started: asyncio.Future[None]) -> None:
        loop = self._loop
        assert loop is not None
        self._thread_id = threading.get_ident()
        try:
            self._conn = self._connect()
        except BaseException as exc:  # report the failure to start(), then end the thread
            loop.call_soon_threadsafe(_settle, started, exc, None)
            loop.call_soon_threadsafe(_settle, self._stopped, None, None)
            return
        if self._watch_others:
            self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        loop.call_soon_threadsafe(_settle, started, None, None)
        try:
            self._serve(loop)
        finally:
            try:
                self._conn.close()
            finally:
                self._conn = None
                loop.call_soon_threadsafe(_settle, self._stopped, None, None)

    async def close(self) -> None:
        """Finish every op already submitted, then close the connection."""
        if self._thread is None:
            return
        with self._cond:
            self._closing = True
            self._cond.notify()
        assert self._stopped is not None
        await self._stopped
        self._thread.join()
        self._thread = None

    # ------------------------------------------------------------------ submitting

    def submit(self, op: Op[T]) -> asyncio.Future[T]:
        """Queue ``op``; the returned future resolves once its transaction is durable.

        Await it: ``result = await writer.submit(op)``. The op's exception, if any, is raised there.
        Must be called from the event loop the writer was started on.
        """
        if self._closing or self._thread is None:
            raise WriterClosed("the database writer is closed / bộ ghi cơ sở dữ liệu đã đóng")
        loop = self._loop
        assert loop is not None
        fut: asyncio.Future[T] = loop.create_future()
        self._pending.append((op, fut))   # deque.append is atomic: no lock on the hot path
        if self._idle:                    # only a sleeping thread needs a wake-up
            with self._cond:
                self._cond.notify()
        return fut

    async def run(self, op: Op[T]) -> T:
        """``await writer.run(op)``: submit and wait (the common case)."""
        return await self.submit(op)

    # ------------------------------------------------------------------ the thread

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        pending = self._pending
        cond = self._cond
        while True:
            if not pending:
                with cond:
                    # Re-check under the lock: submit() appends then reads _idle, we set _idle
                    # then re-read the deque, so a wake-up is never lost.
                    self._idle = True
                    while not pending and not self._closing:
                        cond.wait()
                    self._idle = False
                    if not pending and self._closing:
                        return
            take = min(len(pending), self.max_batch)
            batch = [pending.popleft() for _ in range(take)]
            c0 = thread_time()
            try:
                results = self._run_batch_retrying([op for op, _ in batch])
            except BaseException as exc:  # a bug in the writer itself: fail the batch, keep serving
                err = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
                results = [(False, err)] * len(batch)
            self.stats.cpu_s += thread_time() - c0
            try:
                loop.call_soon_threadsafe(_resolve, batch, results)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return

    def _run_batch_retrying(self, ops: list[Any]) -> list[tuple[bool, Any]]:
        """``_run_batch``, run again (up to ``RETRIES`` times) when PostgreSQL aborted it for a
        deadlock or a serialization failure with another worker's transaction: nothing of it was
        stored and the same batch will most likely pass (SQLite never reports these)."""
        for attempt in range(RETRIES + 1):
            results = self._run_batch(ops)
            if attempt == RETRIES or not any(not ok and is_transient_conflict(v) for ok, v in results):
                return results
            self.stats.conflict_retries += 1
            time.sleep(0.001 * (attempt + 1))
        return results

    def _run_batch(self, ops: list[Any]) -> list[tuple[bool, Any]]:
        """One transaction for the whole batch, one commit.

        Fast path: run every op straight in the transaction (runs of ``BatchOp`` together). If
        one raises, roll the whole transaction back and run the batch again with a SAVEPOINT per
        op, so that the failing op fails alone. Ops are therefore required to be re-runnable: no
        effects outside ``conn`` (they never are committed twice: the first attempt was rolled
        back).
        """
        conn = self._conn
        assert conn is not None
        results: list[tuple[bool, Any]] = []
        epoch = self.epoch
        try:
            self._begin(conn)
            n = len(ops)
            i = 0
            while i < n:
                op = ops[i]
                kind = type(op)
                if not getattr(op, "keeps_sessions", False):
                    epoch.value += 1
                many = getattr(kind, "run_many", None)
                if many is None:
                    results.append((True, op(conn)))
                    i += 1
                else:
                    j = i + 1
                    while j < n and type(ops[j]) is kind:
                        j += 1
                    values = many(conn, ops[i:j])
                    if len(values) != j - i:
                        raise RuntimeError(f"{kind.__name__}.run_many returned {len(values)} results for {j - i} ops")
                    results.extend((True, v) for v in values)
                    i = j
                if not conn.in_transaction:
                    raise sqlite3.OperationalError("an op ended the batch transaction itself")
            conn.execute("COMMIT")
        except Exception as exc:
            _rollback(conn)
            if unavailable_reason(exc) is not None:
                return self._fail_batch(ops, exc)
            return self._run_batch_isolated(ops, first_error=exc)
        self._count(len(ops), 0)
        return results

    def _run_batch_isolated(self, ops: list[Any], first_error: Exception) -> list[tuple[bool, Any]]:
        """Slow path: a SAVEPOINT per op; any failure of the transaction itself (BEGIN, a
        savepoint statement, an op that ended the transaction, COMMIT) fails every op of the batch:
        then nothing of it is durable and every caller is told so."""
        conn = self._conn
        assert conn is not None
        results: list[tuple[bool, Any]] = []
        failed = 0
        try:
            execute = conn.execute
            self._begin(conn)
            for op in ops:
                if not getattr(op, "keeps_sessions", False):
                    self.epoch.value += 1
                execute("SAVEPOINT op")
                try:
                    value = op(conn)
                except Exception as exc:
                    if unavailable_reason(exc) is not None or not conn.in_transaction:
                        raise   # the database failed, not this op (see the module docstring)
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
            if unavailable_reason(exc) is not None:
                return self._fail_batch(ops, exc)
            self.stats.failed_batches += 1
            return [(False, exc)] * len(ops)
        self._count(len(ops), failed)
        return results

    def _begin(self, conn: sqlite3.Connection) -> None:
        """Open a batch's write transaction; then, with ``watch_others``, move the epoch on if
        another connection committed since the last batch (inside the write transaction: nobody
        else can commit until this one ends)."""
        conn.execute("BEGIN IMMEDIATE")
        if not self._watch_others:
            return
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self.epoch.value += 1
            self._data_version = version

    def _fail_batch(self, ops: list[Any], exc: Exception) -> list[tuple[bool, Any]]:
        """The database is unavailable: every op fails with the real error, nothing is stored."""
        self.stats.failed_batches += 1
        self.stats.unavailable_batches += 1
        err = as_unavailable(exc)
        return [(False, err)] * len(ops)

    def _count(self, n: int, failed: int) -> None:
        stats = self.stats
        stats.batches += 1
        stats.ops += n
        stats.failed_ops += failed
        if n > stats.max_batch_seen:
            stats.max_batch_seen = n


def _resolve(batch: list[_Item], results: list[tuple[bool, Any]]) -> None:
    """On the event loop, once per batch: resolve every caller's future."""
    for (_, fut), (ok, value) in zip(batch, results):
        if fut.done():  # the caller gave up (cancelled); its op is committed regardless
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


def _settle(fut: asyncio.Future[Any] | None, exc: BaseException | None, value: Any) -> None:
    if fut is None or fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass
