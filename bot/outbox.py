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
   served first; Zalo: ``bot.pacer.Pacer`` with ``Priority.BULK``) and **mark it sent with the
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
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from storage.db import Database
from storage.outbox import (
    OutboxMessage,
    claim_outbox_batch,
    list_outbox,
    mark_failed,
    mark_sent,
    requeue_stale,
)
from storage.respondents import mark_invited
from storage.responses import mark_unreachable

log = logging.getLogger("hailong.outbox")

__all__ = [
    "ChannelSender",
    "OutboxSender",
    "PermanentFailure",
    "RetryLater",
    "SendError",
    "SenderStats",
    "TelegramSender",
    "TransientFailure",
    "Undeliverable",
    "ZaloSender",
    "InviteEnqueueResult",
    "build_telegram_bot",
    "enqueue_invites",
    "run_telegram_outbox",
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
    """Sends one outbox row on one channel; returns the provider's message id (if any)."""

    channel: str

    async def send(self, message: OutboxMessage) -> str | None: ...


def _text_of(message: OutboxMessage) -> str:
    text = message.payload.get("text")
    if not isinstance(text, str) or not text.strip():
        raise PermanentFailure("outbox payload has no text")
    return text


# ------------------------------------------------------------------ Telegram

class TelegramSender:
    """Delivers rows with a python-telegram-bot ``Bot``/``ExtBot``.

    With an ``ExtBot`` whose rate limiter is ``bot.ratelimit.PriorityRateLimiter``, every send
    carries ``rate_limit_args={"priority": "bulk"}``: bulk waits behind interactive replies.
    A payload may carry ``"button": {"text": …, "url": …}`` (the invite's deep link), or
    ``"buttons"``: rows of ``{"text": …, "callback_data": …}`` (a hand-over request's answers,
    ``engine.claim_texts.ask_buttons``; their data is checked by storage when pressed).
    """

    channel = "telegram"

    def __init__(self, bot: Any, priority: str = "bulk") -> None:
        self.bot = bot
        self.priority = priority

    async def send(self, message: OutboxMessage) -> str | None:
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup
        from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

        text = _text_of(message)
        kwargs: dict[str, Any] = {}
        if getattr(self.bot, "rate_limiter", None) is not None:
            kwargs["rate_limit_args"] = {"priority": self.priority}
        button = message.payload.get("button")
        token = message.payload.get("start_token")
        if not button and isinstance(token, str) and getattr(self.bot, "username", None):
            from sampling.invites import telegram_link

            button = {"text": "Bắt đầu khảo sát / Start the survey", "url": telegram_link(self.bot.username, token)}
        if isinstance(button, dict) and button.get("url") and button.get("text"):
            kwargs["reply_markup"] = InlineKeyboardMarkup(
                [[InlineKeyboardButton(str(button["text"]), url=str(button["url"]))]])
        rows = message.payload.get("buttons")
        if not button and isinstance(rows, list) and rows:
            kwargs["reply_markup"] = InlineKeyboardMarkup(
                [[InlineKeyboardButton(str(b["text"]), callback_data=str(b["callback_data"])) for b in row
                  if isinstance(b, dict) and b.get("text") and b.get("callback_data")]
                 for row in rows if isinstance(row, list)])
        chat: int | str = message.chat_id
        try:
            chat = int(message.chat_id)
        except ValueError:
            pass
        try:
            sent = await self.bot.send_message(chat_id=chat, text=text, **kwargs)
        except RetryAfter as exc:
            ra = exc.retry_after
            delay = float(ra.total_seconds() if hasattr(ra, "total_seconds") else ra)
            raise RetryLater(f"429: {exc}", delay) from exc
        except Forbidden as exc:
            raise Undeliverable(f"403: {exc}") from exc
        except BadRequest as exc:
            if "chat not found" in str(exc).lower():
                raise Undeliverable(f"400: {exc}") from exc
            raise PermanentFailure(f"400: {exc}") from exc
        except (TimedOut, NetworkError) as exc:
            raise TransientFailure(f"network: {exc}") from exc
        return str(sent.message_id)


# ------------------------------------------------------------------ Zalo

class ZaloSender:
    """Delivers rows with ``bot.zalo_client.ZaloBotClient`` through ``bot.pacer.Pacer`` (bulk
    priority: citizens answering now go first). Long texts are split by the client; the ids of
    all parts are kept, comma-separated."""

    channel = "zalo"

    def __init__(self, client: Any, pacer: Any) -> None:
        self.client = client
        self.pacer = pacer

    async def send(self, message: OutboxMessage) -> str | None:
        from bot.pacer import Priority
        from bot.zalo_client import ZaloApiError, ZaloForbidden, ZaloNetworkError, ZaloRetryAfter

        text = _text_of(message)
        chat = str(message.chat_id)
        try:
            parts = await self.pacer.send(chat, lambda: self.client.send_text(chat, text), Priority.BULK)
        except ZaloRetryAfter as exc:
            raise RetryLater(f"429: {exc}", exc.retry_after) from exc
        except ZaloForbidden as exc:
            raise Undeliverable(f"403: {exc}") from exc
        except ZaloApiError as exc:
            if exc.retryable:
                raise TransientFailure(str(exc)) from exc
            raise PermanentFailure(str(exc)) from exc
        except (ZaloNetworkError, asyncio.TimeoutError, ConnectionError) as exc:
            raise TransientFailure(f"network: {exc}") from exc
        ids = [str(getattr(p, "message_id", "")) for p in (parts or [])]
        return ",".join(i for i in ids if i) or None


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
    """

    def __init__(self, db: Database, sender: ChannelSender, *, concurrency: int = 32,
                 stale_after: float = 60.0, max_attempts: int = 5, poll_interval: float = 0.5,
                 on_sent: Callable[[OutboxMessage], None] | None = None,
                 kinds: Sequence[str] | None = None) -> None:
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
        self.stats = SenderStats()

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
                if free > 0:
                    rows = await claim_outbox_batch(self.db, self.channel, free, kinds=self.kinds)
                for m in rows:
                    t = asyncio.create_task(self._deliver(m))
                    active.add(t)
                    t.add_done_callback(active.discard)
                if rows and len(active) < self.concurrency:
                    continue
                if active:
                    await asyncio.wait(set(active), return_when=asyncio.FIRST_COMPLETED,
                                       timeout=self.poll_interval)
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
                if stop is not None:
                    try:
                        await asyncio.wait_for(stop.wait(), wait)
                    except asyncio.TimeoutError:
                        pass
                else:
                    await asyncio.sleep(wait)
            if active:
                await asyncio.gather(*active, return_exceptions=True)
        finally:
            for t in list(active):
                t.cancel()
            self.stats.finished_at = time.monotonic()
        return self.stats


# ------------------------------------------------------------------ building senders, standalone run

def build_telegram_bot(token: str, base_url: str = "https://api.telegram.org/bot", *,
                       rate: float = 30.0, per_chat: float = 1.0, burst: float = 3.0,
                       max_retries: int = 3, pool: int = 64) -> Any:
    """A PTB ``ExtBot`` for bulk sending: aiohttp transport and the priority rate limiter.

    Run the sender inside the bot's process when the bot is live (same limiter: interactive
    replies go first and the global 30/s is shared); a separate sender process has its own budget.
    """
    from telegram.ext import ExtBot

    from bot.ptb_request import AiohttpRequest
    from bot.ratelimit import PriorityRateLimiter

    return ExtBot(token, base_url=base_url,
                  request=AiohttpRequest(connection_pool_size=pool, read_timeout=10.0, pool_timeout=30.0),
                  rate_limiter=PriorityRateLimiter(overall_per_s=rate, per_chat_per_s=per_chat,
                                                   per_chat_burst=burst, max_retries=max_retries))


async def run_telegram_outbox(db_path: str, token: str, base_url: str, *, rate: float = 30.0,
                              stale_after: float = 60.0, concurrency: int = 32,
                              until_idle: bool = True) -> SenderStats:
    """Open the database and a bulk bot, deliver the Telegram outbox, close everything."""
    bot = build_telegram_bot(token, base_url, rate=rate)
    db = await Database.open(db_path)
    try:
        await bot.initialize()
        sender = OutboxSender(db, TelegramSender(bot), concurrency=concurrency, stale_after=stale_after)
        return await sender.run(until_idle=until_idle)
    finally:
        try:
            await bot.shutdown()
        finally:
            await db.close()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m bot.outbox``: a standalone Telegram outbox sender (operators, tests)."""
    import argparse
    import json

    from bot.settings import Settings

    p = argparse.ArgumentParser(description="Deliver the Telegram outbox of a hailong database.")
    p.add_argument("--db", default=None)
    p.add_argument("--token", default=None)
    p.add_argument("--base-url", default=None)
    p.add_argument("--rate", type=float, default=None)
    p.add_argument("--stale-after", type=float, default=60.0)
    p.add_argument("--concurrency", type=int, default=32)
    args = p.parse_args(argv)
    s = Settings()
    token = args.token or (s.telegram_token.get_secret_value() if s.telegram_token else None)
    if not token:
        raise SystemExit("cần token của bot / a bot token is needed (--token or HAILONG_TELEGRAM_TOKEN)")
    logging.basicConfig(level=logging.WARNING)
    stats = asyncio.run(run_telegram_outbox(
        str(args.db or s.db), token, args.base_url or s.telegram_base_url,
        rate=args.rate or s.telegram_rate_overall, stale_after=args.stale_after,
        concurrency=args.concurrency))
    print(json.dumps({"sent": stats.sent, "dead": stats.dead, "retried": stats.retried,
                      "requeued": stats.requeued, "rate": round(stats.rate, 2)}), flush=True)


if __name__ == "__main__":
    main()


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
    from sampling.invites import invite_text, telegram_link
    from storage.outbox import OutboxItem, enqueue_outbox
    from storage.respondents import chats_for, contacts_for, list_respondents

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
