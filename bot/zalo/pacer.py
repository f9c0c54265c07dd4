"""Outgoing message pacing: stay within a platform's limits, answer active citizens first.

Chat platforms throttle bots (Telegram about 30 messages/s overall and 1/s per chat; Zalo does not
publish its limits, so hailong defaults to a cautious 10/s overall and 1/s per chat). Sending
faster only earns 429 answers and, on some platforms, longer bans. The pacer sits between a
channel and its HTTP client:

* **Two token buckets**: one global (``rate`` messages/s, burst ``burst``), one per chat
  (``per_chat_rate``, burst ``per_chat_burst`` so that a short "invalid answer" notice and the
  re-asked question go out together). ``None`` switches a limit off (benchmarks, the emulator).
* **Two priorities**: ``INTERACTIVE`` (replies to citizens who are answering right now) always goes
  before ``BULK`` (invites, reminders from the outbox): a broadcast never makes a citizen wait.
  Within a chat, interactive messages go before queued bulk ones, each kept in FIFO order, and a
  chat has at most one message in flight, so its messages arrive in the order they were queued.
* **429 backoff**: a rate-limit answer re-queues the message at the head of its chat, honouring
  the server's retry hint when there is one (exponential backoff otherwise), and pauses every
  chat briefly (a 429 usually means the bot as a whole is too fast). Network errors and 5xx are
  retried the same way; retries are bounded (``max_retries``) and then the caller's future fails.
  Anything else (403 blocked, 400) fails at once: the caller decides (e.g. mark unreachable).

Usage::

    pacer = Pacer(rate=10, per_chat_rate=1)
    await pacer.start()
    await pacer.send(chat_id, lambda: client.send_message(chat_id, text))          # interactive
    fut = pacer.submit(chat_id, lambda: client.send_message(chat_id, invite), Priority.BULK)
    await pacer.aclose()         # drains what is queued, then stops

The pacer is platform-neutral: ``classify`` maps an exception to a ``RetryDecision``; the default
understands ``bot.zalo.client`` errors and anything with a numeric ``retry_after`` attribute
(python-telegram-bot's ``RetryAfter`` has one).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import time
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Awaitable, Callable, Generic, TypeVar

from bot.zalo.client import ZaloApiError, ZaloNetworkError, ZaloRetryAfter

T = TypeVar("T")


class Priority(IntEnum):
    INTERACTIVE = 0
    BULK = 1


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What to do after a failed send: ``retry`` after ``delay`` seconds (None = backoff), and
    whether the failure says the bot as a whole is too fast (``throttle``)."""

    retry: bool
    delay: float | None = None
    throttle: bool = False


FAIL = RetryDecision(False)


def default_classify(exc: BaseException) -> RetryDecision:
    """Zalo errors (and any exception carrying ``retry_after``) to a retry decision."""
    if isinstance(exc, ZaloRetryAfter):
        return RetryDecision(True, exc.retry_after, throttle=True)
    if isinstance(exc, ZaloApiError):
        return RetryDecision(True) if exc.retryable else FAIL
    if isinstance(exc, (ZaloNetworkError, asyncio.TimeoutError, ConnectionError)):
        return RetryDecision(True)
    hint = getattr(exc, "retry_after", None)
    if isinstance(hint, (int, float)) and not isinstance(hint, bool):
        return RetryDecision(True, float(hint), throttle=True)
    if hasattr(hint, "total_seconds"):                 # datetime.timedelta (PTB ≥ 22)
        return RetryDecision(True, float(hint.total_seconds()), throttle=True)
    return FAIL


class PacerClosed(RuntimeError):
    """``submit`` after ``aclose``."""


class _Bucket:
    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, max(1.0, burst), max(1.0, burst), now

    def wait(self, now: float) -> float:
        """Seconds until a token is available (0 = available now). Does not take it."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1.0


@dataclass(slots=True)
class _Job(Generic[T]):
    send: Callable[[], Awaitable[T]]
    future: asyncio.Future[T]
    priority: Priority
    attempts: int = 0


@dataclass(slots=True)
class _Chat:
    chat_id: str
    queues: tuple[collections.deque[_Job[Any]], collections.deque[_Job[Any]]] = field(
        default_factory=lambda: (collections.deque(), collections.deque()))
    not_before: float = 0.0
    busy: bool = False
    gen: int = 0            # bumps on every (re)scheduling; stale ready/delayed entries are skipped
    failures: int = 0

    def head(self) -> _Job[Any] | None:
        for q in self.queues:
            if q:
                return q[0]
        return None


@dataclass(slots=True)
class PacerStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    throttled: int = 0
    sent_interactive: int = 0   # replies (debited from the workers' shared send budget)


class Pacer:
    """An async sender with a global and a per-chat rate, two priorities and bounded retries."""

    def __init__(
        self,
        *,
        rate: float | None = 10.0,
        burst: float | None = None,
        per_chat_rate: float | None = 1.0,
        per_chat_burst: float = 3.0,
        max_retries: int = 5,
        base_backoff: float = 0.5,
        max_backoff: float = 30.0,
        throttle_pause: float = 1.0,
        max_in_flight: int = 64,
        classify: Callable[[BaseException], RetryDecision] = default_classify,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate is not None and rate <= 0 or per_chat_rate is not None and per_chat_rate <= 0:
            raise ValueError("rates must be positive (or None for no limit)")
        self.rate, self.per_chat_rate, self.per_chat_burst = rate, per_chat_rate, per_chat_burst
        self.max_retries, self.base_backoff, self.max_backoff = max_retries, base_backoff, max_backoff
        self.throttle_pause = throttle_pause
        self.classify = classify
        self._clock = clock
        self._global = _Bucket(rate, burst or rate, clock()) if rate else None
        self._chats: dict[str, _Chat] = {}
        self._buckets: dict[str, _Bucket] = {}   # outlive _Chat entries: idle chats keep their rate
        self._ready: tuple[collections.deque[tuple[str, int]], collections.deque[tuple[str, int]]] = (
            collections.deque(), collections.deque())
        self._delayed: list[tuple[float, int, str, int]] = []
        self._seq = itertools.count()
        self._paused_until = 0.0
        self._slots = asyncio.Semaphore(max_in_flight)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._pending = 0
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.stats = PacerStats()

    # ------------------------------------------------------------ public API
    async def start(self) -> "Pacer":
        if self._loop_task is None:
            self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="pacer")
        return self

    async def __aenter__(self) -> "Pacer":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def submit(self, chat_id: str, send: Callable[[], Awaitable[T]],
               priority: Priority = Priority.INTERACTIVE) -> asyncio.Future[T]:
        """Queue ``send`` (a zero-argument coroutine factory, called once per attempt) for
        ``chat_id``; the returned future gets its result or its final exception."""
        if self._closed:
            raise PacerClosed("pacer is closed")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat(chat_id)
        was_head = chat.head()
        chat.queues[priority].append(_Job(send, fut, priority))
        self._pending += 1
        self._idle.clear()
        if not chat.busy and (was_head is None or priority < was_head.priority):
            self._schedule(chat)
        return fut

    async def send(self, chat_id: str, send: Callable[[], Awaitable[T]],
                   priority: Priority = Priority.INTERACTIVE) -> T:
        """``submit`` and wait for the outcome."""
        return await self.submit(chat_id, send, priority)

    @property
    def pending(self) -> int:
        """Messages queued or in flight."""
        return self._pending

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or in flight; False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def aclose(self, drain_timeout: float | None = 10.0) -> None:
        """Stop accepting, send what is queued (up to ``drain_timeout`` s), cancel the rest."""
        self._closed = True
        if self._loop_task is not None and drain_timeout:
            await self.drain(drain_timeout)
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        for chat in self._chats.values():
            for q in chat.queues:
                while q:
                    job = q.popleft()
                    if not job.future.done():
                        job.future.cancel()
        self._chats.clear()
        self._pending = 0
        self._idle.set()

    # ------------------------------------------------------------ scheduling
    def _schedule(self, chat: _Chat) -> None:
        """Put ``chat`` (not busy, with work) in the ready queue of its head's priority, or in the
        delayed heap if it must wait."""
        head = chat.head()
        if head is None:
            if not chat.busy:
                self._chats.pop(chat.chat_id, None)
            return
        chat.gen += 1
        now = self._clock()
        if chat.not_before > now:
            heapq.heappush(self._delayed, (chat.not_before, next(self._seq), chat.chat_id, chat.gen))
        else:
            self._ready[head.priority].append((chat.chat_id, chat.gen))
        self._wake.set()

    def _promote_due(self, now: float) -> float | None:
        """Move due delayed chats to ready; return the time of the next delayed chat."""
        while self._delayed and self._delayed[0][0] <= now:
            _, _, chat_id, gen = heapq.heappop(self._delayed)
            chat = self._chats.get(chat_id)
            if chat is not None and chat.gen == gen and not chat.busy:
                head = chat.head()
                if head is not None:
                    self._ready[head.priority].append((chat_id, gen))
        return self._delayed[0][0] if self._delayed else None

    def _pick(self) -> _Chat | None:
        for q in self._ready:
            while q:
                chat_id, gen = q.popleft()
                chat = self._chats.get(chat_id)
                if chat is not None and chat.gen == gen and not chat.busy and chat.head() is not None:
                    return chat
        return None

    async def _run(self) -> None:
        while True:
            now = self._clock()
            next_due = self._promote_due(now)
            wait = self._paused_until - now
            if wait <= 0 and self._global is not None:
                wait = self._global.wait(now)
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if not (self._ready[0] or self._ready[1]):
                self._wake.clear()
                timeout = None if next_due is None else max(0.0, next_due - now)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                continue
            chat = self._pick()
            if chat is None:
                continue
            if self.per_chat_rate is not None:
                bucket = self._buckets.get(chat.chat_id)
                if bucket is None:
                    if len(self._buckets) > 4096:
                        self._prune_buckets(now)
                    bucket = self._buckets[chat.chat_id] = _Bucket(self.per_chat_rate, self.per_chat_burst, now)
                chat_wait = bucket.wait(now)
                if chat_wait > 0:
                    chat.not_before = now + chat_wait
                    self._schedule(chat)
                    continue
                bucket.take()
            await self._slots.acquire()
            if self._global is not None:
                self._global.take()
            job = chat.queues[0].popleft() if chat.queues[0] else chat.queues[1].popleft()
            chat.busy = True
            task = asyncio.get_running_loop().create_task(self._attempt(chat, job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _prune_buckets(self, now: float) -> None:
        """Forget per-chat buckets that have refilled completely (they would start full anyway)."""
        for chat_id, b in list(self._buckets.items()):
            if chat_id not in self._chats and b.wait(now) == 0.0 and b.tokens >= b.burst:
                del self._buckets[chat_id]

    async def _attempt(self, chat: _Chat, job: _Job[Any]) -> None:
        try:
            if job.future.cancelled():
                self._finish()
                return
            try:
                result = await job.send()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - the caller's future gets it
                self._failed(chat, job, exc)
            else:
                chat.failures = 0
                self.stats.sent += 1
                if job.priority == Priority.INTERACTIVE:
                    self.stats.sent_interactive += 1
                if not job.future.done():
                    job.future.set_result(result)
                self._finish()
        finally:
            self._slots.release()
            chat.busy = False
            self._schedule(chat)

    def _failed(self, chat: _Chat, job: _Job[Any], exc: BaseException) -> None:
        decision = self.classify(exc)
        job.attempts += 1
        if not decision.retry or job.attempts > self.max_retries:
            self.stats.failed += 1
            if not job.future.done():
                job.future.set_exception(exc)
            self._finish()
            return
        self.stats.retried += 1
        delay = decision.delay
        if delay is None:
            delay = min(self.max_backoff, self.base_backoff * 2 ** (job.attempts - 1))
        now = self._clock()
        chat.not_before = max(chat.not_before, now + delay)
        if decision.throttle:
            self.stats.throttled += 1
            self._paused_until = max(self._paused_until, now + min(delay, self.throttle_pause))
        chat.queues[job.priority].appendleft(job)

    def _finish(self) -> None:
        self._pending -= 1
        if self._pending <= 0:
            self._pending = 0
            self._idle.set()


__all__ = ["Pacer", "Priority", "RetryDecision", "default_classify", "PacerClosed", "PacerStats"]
