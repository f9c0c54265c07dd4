"""The replies each channel sent, as the outbox reads them to debit the workers' shared send
budget (fieldwork.outbox.SendBudget): the Telegram rate limiter and the Zalo pacer count
interactive sends only (bulk ones come out of the budget already), and failed sends not at all."""

from __future__ import annotations

import pytest

from bot.telegram.ratelimit import PriorityRateLimiter
from bot.telegram.sender import TelegramSender
from bot.zalo.pacer import Pacer, Priority
from bot.zalo.sender import ZaloSender


async def test_the_telegram_limiter_counts_replies_not_bulk_nor_failures() -> None:
    limiter = PriorityRateLimiter(overall_per_s=1000, per_chat_per_s=1000, per_chat_burst=1000)

    async def ok() -> bool:
        return True

    async def broken() -> bool:
        raise RuntimeError("network")

    try:
        for _ in range(3):
            await limiter.process_request(ok, (), {}, "sendMessage", {"chat_id": 5}, None)        # a reply
        await limiter.process_request(ok, (), {}, "sendMessage", {"chat_id": 6}, {"priority": "bulk"})
        await limiter.process_request(ok, (), {}, "answerCallbackQuery", {}, None)             # not a message
        with pytest.raises(RuntimeError):
            await limiter.process_request(broken, (), {}, "sendMessage", {"chat_id": 5}, None)
        assert limiter.sent_interactive == 3

        class Bot:
            rate_limiter = limiter

        assert TelegramSender(Bot()).interactive_sent() == 3
        assert TelegramSender(object()).interactive_sent() == 0                                # no limiter
    finally:
        await limiter.shutdown()


async def test_the_zalo_pacer_counts_replies_not_bulk() -> None:
    pacer = Pacer(rate=None, per_chat_rate=None, max_retries=0)
    await pacer.start()
    try:
        async def ok() -> str:
            return "m"

        for i in range(2):
            await pacer.send(f"u{i}", ok, Priority.INTERACTIVE)
        await pacer.send("u9", ok, Priority.BULK)
        assert pacer.stats.sent == 3 and pacer.stats.sent_interactive == 2
        assert ZaloSender(object(), pacer).interactive_sent() == 2
    finally:
        await pacer.aclose()
