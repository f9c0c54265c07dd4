"""The outbox's Zalo sender: one outbox row becomes one (or, split, several) Zalo messages,
through the channel's pacer at bulk priority, with Zalo's errors mapped to the outbox's outcomes
(``fieldwork/outbox.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.zalo.client import ZaloApiError, ZaloForbidden, ZaloNetworkError, ZaloRetryAfter
from bot.zalo.pacer import Priority
from fieldwork.outbox import PermanentFailure, RetryLater, TransientFailure, Undeliverable, text_of
from storage.outbox import OutboxMessage

__all__ = ["ZaloSender"]


class ZaloSender:
    """Delivers rows with ``bot.zalo.client.ZaloBotClient`` through ``bot.zalo.pacer.Pacer`` (bulk
    priority: citizens answering now go first). Long texts are split by the client; the ids of
    all parts are kept, comma-separated."""

    channel = "zalo"

    def __init__(self, client: Any, pacer: Any) -> None:
        self.client = client
        self.pacer = pacer

    def interactive_sent(self) -> int:
        """Replies this process has sent so far through the pacer: the outbox debits them from
        the send budget shared by the workers."""
        stats = getattr(self.pacer, "stats", None)
        return int(getattr(stats, "sent_interactive", 0))

    async def send(self, message: OutboxMessage) -> str | None:
        text = text_of(message)
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


