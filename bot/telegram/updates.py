"""Telegram updates are acknowledged only once they are durable (polling and webhook).

Why not PTB's ``Updater``: it puts the updates of one ``getUpdates`` answer in the queue and, on
its very next ``getUpdates``, passes ``offset = last id + 1``, which *confirms* them to Telegram
(never delivered again) while their handlers may still be running. With concurrent handlers a
crash (or a storage failure) in that gap loses an answer nobody stored and Telegram never sends
again; it was seen 3 times in 20 kills.

Here an update has a *durable point*: the moment its step is committed (``commit_step``
returned) or, for an update that stores nothing (a notice, a stale button), the moment its
handling ended. ``Durability`` keeps one future per update in flight; the channel marks the
point (``reached``) or a storage failure (``failed``). ``DurablePolling`` fetches a batch,
dispatches every update of it concurrently through PTB (its handlers and concurrency limit),
waits until every update of the batch is durable, and only then confirms the batch with the
next ``getUpdates(offset=…)``. After a confirming call that brought nothing new, it polls
without an offset ("the earliest unconfirmed update"), so an update id that starts again low
(Telegram picks a random id after a week without updates) is still fetched. The webhook
answers 200 only when its update is durable and 500 on a storage failure (``failed``), so that
Telegram retries it.

Cost: the next batch is fetched only when the current one is durable (a few milliseconds: one
engine step and one group commit per update, not the replies). Replies are not waited for: a
reply that a commit promised is recorded with the commit and sent again after a crash
(``storage.api.ConversationStore.owed_replies``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from telegram import Update
from telegram.error import InvalidToken, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application

from bot.telegram.ratelimit import retry_seconds

log = logging.getLogger("hailong.telegram")


class Durability:
    """One future per update in flight, resolved at its durable point (or failed)."""

    def __init__(self) -> None:
        self._pending: dict[int, asyncio.Future[None]] = {}

    def expect(self, update_id: int) -> "asyncio.Future[None]":
        """The future of ``update_id`` (the same one while it is pending: a webhook retry of an
        update still being handled waits for the same outcome)."""
        fut = self._pending.get(update_id)
        if fut is None:
            fut = self._pending[update_id] = asyncio.get_running_loop().create_future()
        return fut

    def reached(self, update_id: int) -> None:
        """The update is durable (or needs nothing stored): it may be acknowledged."""
        fut = self._pending.pop(update_id, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def failed(self, update_id: int, exc: BaseException) -> None:
        """Storage could not take the update: it must not be acknowledged."""
        fut = self._pending.pop(update_id, None)
        if fut is not None and not fut.done():
            fut.set_exception(exc)

    def __len__(self) -> int:
        return len(self._pending)


class DurablePolling:
    """Long polling that confirms a batch of updates only once every update of it is durable.

    ``error_callback`` gets polling errors (network trouble, a conflict with another poller);
    they are retried with a growing pause (up to 30 s). An invalid token ends the polling.
    """

    def __init__(self, application: Application, durability: Durability, *, timeout: int,
                 interval: float = 0.0, allowed_updates: Sequence[str] | None = None,
                 error_callback: Callable[[TelegramError], None] | None = None) -> None:
        self.application = application
        self.durability = durability
        self.timeout = timeout
        self.interval = interval
        self.allowed_updates = list(allowed_updates) if allowed_updates else None
        self.error_callback = error_callback
        self.offset: int | None = None       # set while a handled batch still has to be confirmed
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name="hailong-telegram-polling")

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop fetching; wait (bounded) for the batch in hand; confirm it if it is durable."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._task), drain_timeout)
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
            self._task = None
        if self.offset is not None:
            # Like PTB on a clean stop: tell Telegram the handled batch is done, so that a
            # restart does not receive it again (it would be a harmless no-op anyway).
            with contextlib.suppress(TelegramError, asyncio.TimeoutError):
                await self.application.bot.get_updates(offset=self.offset, timeout=0, limit=1,
                                                       allowed_updates=self.allowed_updates)
            self.offset = None

    async def _fetch(self) -> tuple[Update, ...] | None:
        """One ``getUpdates``; None if stopping interrupted it."""
        fetch = asyncio.ensure_future(self.application.bot.get_updates(
            offset=self.offset, timeout=self.timeout, allowed_updates=self.allowed_updates))
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait((fetch, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(BaseException):
                await fetch
            return None
        return fetch.result()

    async def _loop(self) -> None:
        pause = 0.0
        while not self._stop.is_set():
            if pause:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), pause)
                if self._stop.is_set():
                    return
            try:
                updates = await self._fetch()
            except InvalidToken:
                log.error("Telegram refused the bot token: polling stopped / token bị từ chối")
                raise
            except RetryAfter as exc:
                pause = 0.5 + retry_seconds(exc)
                continue
            except TimedOut:
                pause = 0.0
                continue
            except TelegramError as exc:
                if self.error_callback is not None:
                    self.error_callback(exc)
                pause = 1.0 if pause == 0 else min(30.0, pause * 1.5)
                continue
            except Exception:  # noqa: BLE001 - unreadable answer: nothing confirmed, poll again
                log.exception("getUpdates answer could not be processed; polling again")
                pause = 1.0 if pause == 0 else min(30.0, pause * 1.5)
                continue
            pause = self.interval
            if updates is None:
                return
            if not updates:
                self.offset = None        # the previous batch is confirmed now
                continue
            if not await self._handle(updates):
                return                    # stopping with updates not durable: never confirmed
            self.offset = updates[-1].update_id + 1

    async def _handle(self, updates: Sequence[Update]) -> bool:
        """Dispatch a batch through PTB; True once every update of it is durable."""
        futures = [self.durability.expect(u.update_id) for u in updates]
        for update in updates:
            task = asyncio.create_task(self._process(update))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        results = await asyncio.gather(*futures, return_exceptions=True)
        return not any(isinstance(r, BaseException) for r in results)

    async def _process(self, update: Update) -> None:
        app = self.application
        try:
            await app.update_processor.process_update(update, app.process_update(update))
        except Exception:  # noqa: BLE001 - PTB already reported it to the error handlers
            pass
        finally:
            # Whatever happened in the handler (it marks its own durable point), the update is
            # settled now; one that failed on storage was marked ``failed`` before this.
            self.durability.reached(update.update_id)

    async def wait_handlers(self, timeout: float = 10.0) -> None:
        """Wait (bounded) for the handlers still running (on stop)."""
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=timeout)

