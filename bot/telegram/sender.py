"""The outbox's Telegram sender: one outbox row becomes one Bot API message.

PTB's errors become the outbox's delivery outcomes (``fieldwork/outbox.py``: 429 → retry later,
403 → unreachable, 400 → dead, network → backoff). :func:`build_telegram_bot` makes the bulk
``ExtBot`` (aiohttp transport, priority rate limiter) and :func:`main` runs the Telegram outbox
alone (``python -m bot.telegram.sender``), for operators who send from another process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import ExtBot

from bot.settings import Settings
from bot.telegram.ratelimit import PriorityRateLimiter
from bot.telegram.transport import AiohttpRequest
from fieldwork.invites import telegram_link
from fieldwork.outbox import (OutboxSender, PermanentFailure, RetryLater, SenderStats, TransientFailure,
                              Undeliverable, text_of)
from storage.db import Database
from storage.outbox import OutboxMessage

__all__ = ["TelegramSender", "build_telegram_bot", "run_telegram_outbox", "main"]


class TelegramSender:
    """Delivers rows with a python-telegram-bot ``Bot``/``ExtBot``.

    With an ``ExtBot`` whose rate limiter is ``bot.telegram.ratelimit.PriorityRateLimiter``, every send
    carries ``rate_limit_args={"priority": "bulk"}``: bulk waits behind interactive replies.
    A payload may carry ``"button": {"text": …, "url": …}`` (the invite's deep link), or
    ``"buttons"``: rows of ``{"text": …, "callback_data": …}`` (a hand-over request's answers,
    ``engine.claim_texts.ask_buttons``; their data is checked by storage when pressed).
    """

    channel = "telegram"

    def __init__(self, bot: Any, priority: str = "bulk", mini_app_url: str | None = None) -> None:
        self.bot = bot
        self.priority = priority
        self.mini_app_url = mini_app_url    # reminders also offer the questionnaire page (bot/web)

    def interactive_sent(self) -> int:
        """Replies this process has sent so far through the bot's rate limiter (0 without one):
        the outbox debits them from the send budget shared by the workers."""
        return int(getattr(getattr(self.bot, "rate_limiter", None), "sent_interactive", 0))

    async def send(self, message: OutboxMessage) -> str | None:
        text = text_of(message)
        kwargs: dict[str, Any] = {}
        if getattr(self.bot, "rate_limiter", None) is not None:
            kwargs["rate_limit_args"] = {"priority": self.priority}
        button = message.payload.get("button")
        token = message.payload.get("start_token")
        if not button and isinstance(token, str) and getattr(self.bot, "username", None):
            button = {"text": "Bắt đầu khảo sát / Start the survey", "url": telegram_link(self.bot.username, token)}
        if isinstance(button, dict) and button.get("url") and button.get("text"):
            kwargs["reply_markup"] = InlineKeyboardMarkup(
                [[InlineKeyboardButton(str(button["text"]), url=str(button["url"]))]])
        if self.mini_app_url and "reminder" in message.payload and "reply_markup" in kwargs:
            kwargs["reply_markup"] = InlineKeyboardMarkup([*kwargs["reply_markup"].inline_keyboard, [
                InlineKeyboardButton("📝 Trả lời trên trang / Answer on a page", web_app=WebAppInfo(self.mini_app_url))]])
        elif self.mini_app_url and "reminder" in message.payload:
            kwargs["reply_markup"] = InlineKeyboardMarkup([[
                InlineKeyboardButton("📝 Trả lời trên trang / Answer on a page", web_app=WebAppInfo(self.mini_app_url))]])
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



# ------------------------------------------------------------------ building senders, standalone run

def build_telegram_bot(token: str, base_url: str = "https://api.telegram.org/bot", *,
                       rate: float = 30.0, per_chat: float = 1.0, burst: float = 3.0,
                       max_retries: int = 3, pool: int = 64) -> Any:
    """A PTB ``ExtBot`` for bulk sending: aiohttp transport and the priority rate limiter.

    Run the sender inside the bot's process when the bot is live (same limiter: interactive
    replies go first and the global 30/s is shared); a separate sender process has its own budget.
    """
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
    """``python -m bot.telegram.sender``: a standalone Telegram outbox sender (operators, tests)."""
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


