"""Outgoing pacing for Telegram: global and per-chat limits, interactive replies before bulk sends.

Why not PTB's ``AIORateLimiter``: it has no notion of priority, so a broadcast of 5 000 invites
would make a citizen who is answering right now wait minutes for the next question. Here every
request waits for a *global* token (about 30/s) and a *per-chat* token (about 1/s, with a small
burst), and a waiting interactive request always takes the next global token before any waiting
bulk request. Bulk senders (invites, reminders) pass ``rate_limit_args={"priority": "bulk"}``.

``RetryAfter`` (HTTP 429) pauses *all* sends for the given time (Telegram's flood wait is per bot)
and retries the request a bounded number of times. ``Forbidden`` (403: the citizen blocked the bot)
and every other error are raised to the caller untouched, so it can mark the respondent
unreachable instead of retrying forever. ``getUpdates`` and ``answerCallbackQuery`` are never
delayed: they are answers to the citizen's own action and are not counted by Telegram's limits.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from typing import Any, Callable, Coroutine

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger("hailong.ratelimit")

INTERACTIVE = 0
BULK = 1
_PRIORITIES = {"interactive": INTERACTIVE, "bulk": BULK}
_UNLIMITED = frozenset({"getUpdates", "answerCallbackQuery", "getMe", "setWebhook", "deleteWebhook",
                        "getWebhookInfo", "setMyCommands", "getMyCommands", "close", "logOut"})


def retry_seconds(err: RetryAfter) -> float:
    """Seconds to wait, whatever PTB's retry_after representation (int now, timedelta later)."""
    value: Any = getattr(err, "_retry_after", None)
    if value is None:
        value = err.retry_after
    return float(value.total_seconds() if hasattr(value, "total_seconds") else value)


class _Bucket:
    __slots__ = ("rate", "capacity", "tokens", "stamp")

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)

    def wait_time(self, now: float) -> float:
        self.refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate


class PriorityRateLimiter(BaseRateLimiter[dict[str, Any]]):
    """A ``BaseRateLimiter`` with two priorities; see the module docstring.

    Args:
        overall_per_s: global sends per second (Telegram: about 30).
        per_chat_per_s: sends per second to one chat (Telegram: about 1).
        per_chat_burst: how many sends one chat may take back to back before pacing starts
            (a question edit + the next question is 2 requests per answer).
        max_retries: how often a request is retried after a 429 before the error is raised.
        group_per_min: sends per minute to one group chat (Telegram: about 20).
    """

    def __init__(self, overall_per_s: float = 30.0, per_chat_per_s: float = 1.0,
                 per_chat_burst: float = 3.0, max_retries: int = 3, group_per_min: float = 20.0) -> None:
        if overall_per_s <= 0 or per_chat_per_s <= 0:
            raise ValueError("rates must be positive")
        self.overall_per_s = overall_per_s
        self.per_chat_per_s = per_chat_per_s
        self.per_chat_burst = per_chat_burst
        self.max_retries = max_retries
        self.group_per_min = group_per_min
        self._global = _Bucket(overall_per_s, overall_per_s)
        self._chats: dict[Any, _Bucket] = {}
        self._chat_locks: dict[Any, asyncio.Lock] = {}
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []  # heap: (priority, order, fut)
        self._order = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._paused_until = 0.0
        self.retries = 0  # how many 429s were honoured (for tests and metrics)
        # Interactive messages sent (replies): debited from the send budget the workers share
        # (storage.send_budget), so that bulk yields to replies across workers too.
        self.sent_interactive = 0

    async def initialize(self) -> None:
        if self._dispatcher is None or self._dispatcher.done():
            self._wakeup = asyncio.Event()
            self._dispatcher = asyncio.create_task(self._dispatch(), name="hailong-ratelimit")

    async def shutdown(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            try:
                await self._dispatcher
            except asyncio.CancelledError:
                pass
            self._dispatcher = None
        for _, _, fut in self._waiters:
            if not fut.done():
                fut.cancel()
        self._waiters.clear()

    async def _dispatch(self) -> None:
        """Hands out global tokens: the lowest (priority, arrival) waiter first."""
        while True:
            while not self._waiters:
                self._wakeup.clear()
                await self._wakeup.wait()
            now = time.monotonic()
            if now < self._paused_until:
                await asyncio.sleep(self._paused_until - now)
                continue
            wait = self._global.wait_time(now)
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            _, _, fut = heapq.heappop(self._waiters)
            if fut.done():  # cancelled waiter: its token stays in the bucket
                continue
            self._global.tokens -= 1.0
            fut.set_result(None)

    async def _global_token(self, priority: int) -> None:
        if self._dispatcher is None:
            await self.initialize()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), fut))
        self._wakeup.set()
        await fut

    def _chat_bucket(self, chat_id: Any) -> _Bucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            is_group = isinstance(chat_id, int) and chat_id < 0 or isinstance(chat_id, str)
            if is_group:
                bucket = _Bucket(self.group_per_min / 60.0, 1.0)
            else:
                bucket = _Bucket(self.per_chat_per_s, self.per_chat_burst)
            if len(self._chats) > 50_000:  # forget idle chats (their buckets are full anyway)
                now = time.monotonic()
                for key in [k for k, b in self._chats.items() if now - b.stamp > 60]:
                    self._chats.pop(key, None)
                    self._chat_locks.pop(key, None)
            self._chats[chat_id] = bucket
        return bucket

    async def _chat_token(self, chat_id: Any) -> None:
        lock = self._chat_locks.get(chat_id)
        if lock is None:
            lock = self._chat_locks[chat_id] = asyncio.Lock()
        async with lock:  # requests of one chat take tokens in arrival order
            bucket = self._chat_bucket(chat_id)
            while True:
                wait = bucket.wait_time(time.monotonic())
                if wait <= 0:
                    bucket.tokens -= 1.0
                    return
                await asyncio.sleep(wait)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if endpoint in _UNLIMITED:
            return await callback(*args, **kwargs)
        priority = _PRIORITIES.get(str((rate_limit_args or {}).get("priority", "interactive")), INTERACTIVE)
        chat_id = data.get("chat_id")
        attempt = 0
        while True:
            if chat_id is not None:
                await self._chat_token(chat_id)
            await self._global_token(priority)
            try:
                result = await callback(*args, **kwargs)
                if priority == INTERACTIVE:
                    self.sent_interactive += 1
                return result
            except RetryAfter as err:
                attempt += 1
                delay = retry_seconds(err)
                self.retries += 1
                if attempt > self.max_retries:
                    raise
                log.info("429 on %s: waiting %.1fs, attempt %d/%d", endpoint, delay, attempt, self.max_retries)
                # Telegram's flood wait applies to the bot: hold every send, not just this one.
                self._paused_until = max(self._paused_until, time.monotonic() + delay)
                await asyncio.sleep(delay)
