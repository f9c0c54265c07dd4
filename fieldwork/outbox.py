"""The outbox sender: delivers queued invites, reminders and notices at the channel's rate.

Rows first, messages second (``storage.outbox``): whoever wants a message sent enqueues a row
with a *dedupe key* naming its purpose (``invite:<round>:<respondent>:<channel>``,
``reminder:<respondent>:<k>``), so re-running "send invites" or a reminder tick never creates a
second row. This module turns rows into platform messages:

1. **Recover**: rows left in ``sending`` by a sender that died are put back to ``pending``
   (``requeue_stale``), at start-up and periodically.
2. **Claim** a batch of due rows (``claim_outbox_batch`` marks them ``sending`` in one write,
   so two senders never take the same row) — only as many as there are free delivery slots, so
   few rows sit in ``sending`` at any moment.
3. **Deliver** each row through a ``ChannelSender`` (Telegram: PTB ``ExtBot`` with the priority
   rate limiter and ``rate_limit_args={"priority": "bulk"}``, so citizens who are answering are
   served first; Zalo: ``bot.zalo.pacer.Pacer`` with ``Priority.BULK``); the senders live with
   their channels (``bot/telegram/sender.py``, ``bot/zalo/sender.py``) and **mark it sent with the
   provider's message id immediately, per message** — not per batch.
4. On **429** the row goes back to ``pending`` with ``not_before`` = now + retry_after (the limiter
   has usually retried already); on **403** (citizen blocked the bot) the row is ``dead`` and the
   respondent ``unreachable``; on a permanent error (400) ``dead``; on a network error it is
   retried with exponential backoff, ``dead`` after ``max_attempts``.

Delivery guarantee — at-least-once, with the duplicate window made as small as it can be:
no platform we use offers an idempotency key, so a sender killed *after* the platform accepted a
message and *before* our "sent" mark is durable cannot know whether it went out. Such rows are
still ``sending`` and are requeued, i.e. possibly sent twice. The alternative, at-most-once
(never resend a row found in ``sending``), would silently lose every invite that was claimed but
not yet sent, which is most of them — so we choose at-least-once and shrink the window: rows are
claimed only when a delivery slot is free, each row is marked the moment its API call returns
(group commit makes that cheap), and the window is one HTTP round trip plus one commit for the
few messages in flight at the crash. Rows claimed but not yet handed to the platform (waiting
for a rate-limit token) are requeued without any risk. ``SenderStats.requeued`` reports how
many rows a start-up recovered, so an operator knows the upper bound of possible duplicates.

Several workers (``hailong run`` on PostgreSQL, docs/durability.md §7): each runs this loop with a
``SendBudget``. Before claiming, a worker takes tokens from the channel's bucket in the database
(``storage.send_budget``) and claims no more rows than it got, so the channel's rate limit holds
for all workers together; the replies its channel sent since the last take (the sender's
``interactive_sent()``) are debited in the same write, so bulk yields to citizens who are
answering on any worker. Rows are claimed ``FOR UPDATE SKIP LOCKED`` under the worker's name;
a dead worker's rows come back after ``stale_after`` (the lease).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fieldwork.invites import invite_text, telegram_link
from storage.db import Database
from storage.outbox import (OutboxItem, OutboxMessage, claim_outbox_batch, enqueue_outbox, list_outbox,
                            mark_failed, mark_sent, requeue_stale)
from storage.respondents import chats_for, contacts_for, list_respondents, mark_invited
from storage.responses import mark_unreachable
from storage.send_budget import take_tokens

log = logging.getLogger("hailong.outbox")

__all__ = [
    "ChannelSender",
    "OutboxSender",
    "PermanentFailure",
    "RetryLater",
    "SendError",
    "SendBudget",
    "SenderStats",
    "TransientFailure",
    "Undeliverable",
    "InviteEnqueueResult",
    "enqueue_invites",
]


# ------------------------------------------------------------------ errors a channel sender raises

class SendError(Exception):
    """Base of delivery failures; ``str()`` is stored as the row's last error."""


class RetryLater(SendError):
    """The platform asked us to slow down (HTTP 429)."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class Undeliverable(SendError):
    """This chat cannot be reached (Telegram/Zalo 403: blocked, deleted): the respondent is
    marked unreachable and the row dead; retrying would only annoy the platform."""


class PermanentFailure(SendError):
    """The request itself is wrong (HTTP 400, text too long…): dead, with the error kept."""


class TransientFailure(SendError):
    """Network trouble or a 5xx: retried with backoff."""


class ChannelSender(Protocol):
    """Sends one outbox row on one channel; returns the provider's message id (if any).

    A sender may also offer ``interactive_sent() -> int``: the replies its channel has sent so
    far (debited from a shared ``SendBudget``)."""

    channel: str

    async def send(self, message: OutboxMessage) -> str | None: ...


@dataclass(frozen=True, slots=True)
class SendBudget:
    """The channel's rate limit for every worker together (``storage.send_budget``).

    ``rate``: messages per second on the channel, all workers and replies included (Telegram
    about 30, Zalo 10); ``burst``: what the bucket holds when nobody sent for a while (default
    a quarter of a second's worth: after a quiet spell the workers together may send that many
    at once, above the rate). A worker takes at most a quarter of a second's worth at once, so
    several workers share the rate instead of one taking it all."""

    rate: float
    burst: float | None = None

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError("rate must be positive")
        if self.burst is not None and not self.burst >= 1:
            raise ValueError("burst must be at least 1")

    @property
    def capacity(self) -> float:
        return float(self.burst if self.burst is not None else max(1.0, self.rate / 4))

    @property
    def take_at_most(self) -> int:
        return max(1, min(int(self.capacity), math.ceil(self.rate / 4)))


def text_of(message: OutboxMessage) -> str:
    """The text of a row (a row without one is a permanent failure: nothing to send)."""
    text = message.payload.get("text")
    if not isinstance(text, str) or not text.strip():
        raise PermanentFailure("outbox payload has no text")
    return text


# ------------------------------------------------------------------ the sender loop

@dataclass
class SenderStats:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    unreachable: int = 0
    requeued: int = 0
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.finished_at or time.monotonic()) - self.started_at

    @property
    def rate(self) -> float:
        """Messages accepted per second over the run."""
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0


class OutboxSender:
    """Claims due rows of one channel and delivers them; see the module docstring.

    Args:
        db: the database.
        sender: the channel sender (``TelegramSender``, ``ZaloSender`` or a test double).
        concurrency: deliveries in flight at once (the rate limiter, not this, sets the pace;
            this bounds how many rows sit in ``sending`` — the crash exposure).
        stale_after: seconds after which a ``sending`` row is considered orphaned by a dead
            sender. Keep it above the longest send (rate-limit wait included); the default of
            60 s protects the rows of another live sender in a second process.
        max_attempts: attempts before a row that keeps failing transiently is dead.
        on_sent: callback per accepted message (progress bars).
        kinds: restrict to these row kinds (e.g. only invites).
        budget: the channel's rate limit shared with other workers (see the module docstring);
            None: this process's own rate limiter alone paces the sends.
        worker: this worker's name, recorded with each claim (``claimed_by``).
    """

    #: Tokens taken but not used for a claim are kept this long, then forgotten (they were
    #: taken for "now": keeping them longer would let sends bunch up above the rate).
    CREDIT_TTL_S = 1.0

    def __init__(self, db: Database, sender: ChannelSender, *, concurrency: int = 32,
                 stale_after: float = 60.0, max_attempts: int = 5, poll_interval: float = 0.5,
                 on_sent: Callable[[OutboxMessage], None] | None = None,
                 kinds: Sequence[str] | None = None, budget: SendBudget | None = None,
                 worker: str | None = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.db = db
        self.sender = sender
        self.channel = sender.channel
        self.concurrency = concurrency
        self.stale_after = stale_after
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.on_sent = on_sent
        self.kinds = list(kinds) if kinds else None
        self.budget = budget
        self.worker = worker
        self.stats = SenderStats()
        self._credit = 0                  # tokens taken from the shared budget, not yet used
        self._credit_at = 0.0
        self._budget_retry_at = 0.0       # the bucket was short: ask again no sooner than this
        self._replies_debited = self._replies_sent()

    def _replies_sent(self) -> int:
        count = getattr(self.sender, "interactive_sent", None)
        return int(count()) if callable(count) else 0

    async def _allowance(self, free: int) -> int:
        """How many rows may be claimed now: ``free`` without a budget, else what the shared
        bucket gave (replies sent since the last call debited in the same write)."""
        budget = self.budget
        if budget is None:
            return free
        t = time.monotonic()
        if self._credit and t - self._credit_at > self.CREDIT_TTL_S:
            self._credit = 0
        want = max(0, min(free, budget.take_at_most) - self._credit)
        replies = self._replies_sent()
        spent = max(0, replies - self._replies_debited)
        if (want and t >= self._budget_retry_at) or spent >= budget.take_at_most:
            got = await take_tokens(self.db, self.channel, want if t >= self._budget_retry_at else 0,
                                    rate=budget.rate, burst=budget.capacity, spent=spent)
            self._replies_debited = replies
            if got:
                self._credit += got
                self._credit_at = t
            if got < want:
                # Back when half the shortfall has refilled: the bucket never fills up (and
                # overflows, wasting the rate) while every worker sleeps.
                self._budget_retry_at = t + min(self.poll_interval, max(0.01, (want - got) / budget.rate / 2))
        return min(free, self._credit)

    async def recover(self) -> int:
        """Requeue rows orphaned in ``sending`` (see ``stale_after``); returns how many."""
        n = await requeue_stale(self.db, self.stale_after)
        if n:
            log.warning("requeued %d outbox rows left in 'sending' by a stopped sender "
                        "(at most that many messages may be delivered twice)", n)
        self.stats.requeued += n
        return n

    async def _pending_left(self) -> tuple[int, float | None]:
        """Pending rows of this channel and the earliest ``not_before`` among them."""
        rows = [m for m in await list_outbox(self.db, status="pending")
                if m.channel == self.channel and (self.kinds is None or m.kind in self.kinds)]
        if not rows:
            return 0, None
        return len(rows), min(m.not_before for m in rows)

    async def _deliver(self, msg: OutboxMessage) -> None:
        try:
            provider_id = await self.sender.send(msg)
        except RetryLater as exc:
            self.stats.retried += 1
            delay = exc.delay if exc.delay is not None else 1.0
            await mark_failed(self.db, msg.id, str(exc), retry_after=delay, max_attempts=self.max_attempts + 5)
            return
        except Undeliverable as exc:
            self.stats.dead += 1
            await mark_failed(self.db, msg.id, str(exc), permanent=True)
            if msg.respondent_id is not None:
                if await mark_unreachable(self.db, msg.respondent_id, f"{self.channel}: {exc}"):
                    self.stats.unreachable += 1
            return
        except PermanentFailure as exc:
            self.stats.dead += 1
            await mark_failed(self.db, msg.id, str(exc), permanent=True)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # TransientFailure and anything unexpected: retry with backoff
            status = await mark_failed(self.db, msg.id, f"{type(exc).__name__}: {exc}",
                                       retry_after=min(60.0, 2.0 ** msg.attempts),
                                       max_attempts=self.max_attempts)
            if status == "dead":
                self.stats.dead += 1
            else:
                self.stats.retried += 1
            return
        # Accepted by the platform: make it durable now, before anything else.
        await mark_sent(self.db, msg.id, provider_id)
        self.stats.sent += 1
        if msg.kind == "invite" and msg.respondent_id is not None:
            await mark_invited(self.db, [msg.respondent_id])
        if self.on_sent is not None:
            self.on_sent(msg)

    @staticmethod
    async def _pause(stop: asyncio.Event | None, wait: float) -> None:
        if stop is not None:
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except asyncio.TimeoutError:
                pass
        else:
            await asyncio.sleep(wait)

    async def run(self, *, until_idle: bool = True, stop: asyncio.Event | None = None,
                  max_seconds: float | None = None) -> SenderStats:
        """Deliver until nothing is left (``until_idle``) or ``stop`` is set.

        With ``until_idle`` rows waiting for ``not_before`` (after a 429) are waited for; rows
        of other channels are not this sender's business.
        """
        self.stats = SenderStats()
        await self.recover()
        active: set[asyncio.Task[None]] = set()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        last_recover = time.monotonic()
        try:
            while True:
                if stop is not None and stop.is_set():
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                free = self.concurrency - len(active)
                rows: list[OutboxMessage] = []
                allowed = await self._allowance(free) if free > 0 else 0
                if allowed > 0:
                    rows = await claim_outbox_batch(self.db, self.channel, allowed, kinds=self.kinds,
                                                    worker=self.worker)
                    if self.budget is not None:
                        self._credit -= len(rows)
                for m in rows:
                    t = asyncio.create_task(self._deliver(m))
                    active.add(t)
                    t.add_done_callback(active.discard)
                if rows and len(active) < self.concurrency:
                    continue
                short = free > 0 and allowed == 0 and self.budget is not None
                budget_wait = max(0.01, self._budget_retry_at - time.monotonic())
                if active:
                    await asyncio.wait(set(active), return_when=asyncio.FIRST_COMPLETED,
                                       timeout=min(self.poll_interval, budget_wait) if short else self.poll_interval)
                    continue
                if short:
                    # The shared bucket is empty (other workers, replies): wait for it, not the queue.
                    await self._pause(stop, budget_wait)
                    continue
                # Nothing claimable and nothing in flight.
                if time.monotonic() - last_recover > max(self.stale_after, 5.0):
                    await self.recover()
                    last_recover = time.monotonic()
                left, earliest = await self._pending_left()
                if until_idle and left == 0:
                    break
                wait = self.poll_interval
                if earliest is not None:
                    wait = min(max(0.05, earliest - time.time()), self.poll_interval * 4)
                await self._pause(stop, wait)
            if active:
                await asyncio.gather(*active, return_exceptions=True)
        finally:
            for t in list(active):
                t.cancel()
            self.stats.finished_at = time.monotonic()
        return self.stats


# ------------------------------------------------------------------ enqueueing invites

@dataclass(frozen=True, slots=True)
class InviteEnqueueResult:
    new: int                 # rows created now
    already: int             # rows that existed (same dedupe key): not duplicated
    no_contact: int          # respondents without an id on this channel (cards / enumerators)
    skipped_status: int      # already started, completed, refused… (no invite needed)


async def enqueue_invites(db: Database, round_id: int, channel: str, *, bot_username: str | None = None,
                          deadline: str | None = None, unit_ids: Sequence[int] | None = None
                          ) -> InviteEnqueueResult:
    """Queue one invite per not-yet-started respondent of the round who has an id on ``channel``
    (a bound chat, else the frame's Telegram/Zalo id). Idempotent: the dedupe key
    ``invite:<round>:<respondent>:<channel>`` means a re-run queues only what is missing."""
    if channel not in ("telegram", "zalo"):
        raise ValueError(f"kênh không hỗ trợ / unsupported channel {channel!r} (telegram, zalo)")
    if channel == "telegram" and not bot_username:
        raise ValueError("cần tên bot Telegram để tạo liên kết / a Telegram bot username is needed for links")
    everyone = await list_respondents(db, round_id)
    if unit_ids is not None:
        wanted = set(unit_ids)
        everyone = [r for r in everyone if r.unit_id in wanted]
    todo = [r for r in everyone if r.status in ("sampled", "invited", "opened")]
    skipped = len(everyone) - len(todo)
    ids = [r.id for r in todo]
    chats = await chats_for(db, ids)
    contacts = await contacts_for(db, ids)
    items: list[OutboxItem] = []
    no_contact = 0
    for r in todo:
        chat_id = next((c for ch, c in reversed(chats.get(r.id, [])) if ch == channel), None)
        if chat_id is None and r.id in contacts:
            c = contacts[r.id]
            chat_id = c.telegram_id if channel == "telegram" else c.zalo_id
        if not chat_id:
            no_contact += 1
            continue
        payload: dict[str, Any] = {"text": invite_text(channel, r.card_code, deadline=deadline)}
        if channel == "telegram":
            payload["button"] = {"text": "Bắt đầu khảo sát / Start the survey",
                                 "url": telegram_link(str(bot_username), r.token)}
        items.append(OutboxItem(channel=channel, chat_id=str(chat_id), kind="invite",
                                dedupe_key=f"invite:{round_id}:{r.id}:{channel}", payload=payload,
                                round_id=round_id, respondent_id=r.id))
    new = await enqueue_outbox(db, items) if items else 0
    return InviteEnqueueResult(new=new, already=len(items) - new, no_contact=no_contact, skipped_status=skipped)
