"""AiohttpRequest and PriorityRateLimiter against the emulator, through the real PTB Bot."""

from __future__ import annotations

import asyncio
import time

import pytest
from telegram import Bot
from telegram.error import Forbidden, NetworkError, RetryAfter
from telegram.ext import ExtBot

from bot.ptb_request import AiohttpRequest
from bot.ratelimit import PriorityRateLimiter
from bot.settings import Settings
from bot.tg_emulator import FloodLimits, TelegramEmulator


@pytest.fixture
async def emu():
    e = TelegramEmulator()
    await e.start()
    yield e
    await e.stop()


def aio_bot(emu: TelegramEmulator, limiter: PriorityRateLimiter | None = None) -> Bot:
    if limiter is None:
        return Bot(emu.token, base_url=emu.base_url, request=AiohttpRequest(64),
                   get_updates_request=AiohttpRequest(2))
    return ExtBot(emu.token, base_url=emu.base_url, request=AiohttpRequest(64),
                  get_updates_request=AiohttpRequest(2), rate_limiter=limiter)


async def test_aiohttp_request_many_in_flight(emu: TelegramEmulator) -> None:
    async with aio_bot(emu) as bot:
        for uid in range(300):
            emu.user(10_000 + uid)
        sent = await asyncio.gather(*(bot.send_message(10_000 + uid, f"Câu {uid} — Rất hài lòng ✓")
                                      for uid in range(300)))
        assert len({m.message_id for m in sent}) == 1  # one message per chat
        assert emu.messages(10_123)[0].text == "Câu 123 — Rất hài lòng ✓"


async def test_aiohttp_request_multipart_and_long_poll(emu: TelegramEmulator) -> None:
    async with aio_bot(emu) as bot:
        user = emu.user(20)
        doc = await bot.send_document(20, document=b"\x00\x01binary", filename="phieu.xlsx", caption="Phiếu")
        assert emu.files[doc.document.file_id] == b"\x00\x01binary"
        poll = asyncio.create_task(bot.get_updates(timeout=3))
        await asyncio.sleep(0.05)
        await user.send_text("5")
        ups = await asyncio.wait_for(poll, 3)
        assert ups[0].message.text == "5"


async def test_aiohttp_request_network_error() -> None:
    bot = Bot("1:x", base_url="http://127.0.0.1:9/bot", request=AiohttpRequest(2, connect_timeout=1))
    with pytest.raises(NetworkError):
        async with bot:
            pass


async def test_aiohttp_request_requires_initialize() -> None:
    req = AiohttpRequest()
    with pytest.raises(RuntimeError):
        await req.do_request("http://127.0.0.1:9/", "POST")


async def test_limiter_keeps_within_flood_limits(emu: TelegramEmulator) -> None:
    emu.limits = FloodLimits(enabled=True, global_per_s=30, per_chat_per_s=5, per_chat_burst=2)
    # a little under the server's rate, as in production (clocks of both sides differ slightly)
    limiter = PriorityRateLimiter(overall_per_s=30, per_chat_per_s=4.5, per_chat_burst=2)
    async with aio_bot(emu, limiter) as bot:
        emu.user(30)
        t0 = time.monotonic()
        await asyncio.gather(*(bot.send_message(30, f"m{i}") for i in range(7)))
        elapsed = time.monotonic() - t0
    assert emu.stats["429"] == 0 and limiter.retries == 0
    assert [m.text for m in emu.messages(30)] == [f"m{i}" for i in range(7)]  # in order
    assert elapsed >= 0.9  # 2 at once, then 5 more at 5/s


async def test_limiter_puts_interactive_before_bulk(emu: TelegramEmulator) -> None:
    limiter = PriorityRateLimiter(overall_per_s=20, per_chat_per_s=100, per_chat_burst=100)
    async with aio_bot(emu, limiter) as bot:
        for uid in range(100, 160):
            emu.user(uid)
        # the first 20 invites take the full bucket, the other 30 queue
        bulk = [asyncio.create_task(bot.send_message(uid, "Lời mời", rate_limit_args={"priority": "bulk"}))
                for uid in range(100, 150)]
        await asyncio.sleep(0.05)
        inter = [asyncio.create_task(bot.send_message(uid, "Câu tiếp theo")) for uid in range(150, 160)]
        done_inter = await asyncio.gather(*inter)
        pending_bulk = sum(not t.done() for t in bulk)
        await asyncio.gather(*bulk)
    assert len(done_inter) == 10
    # the 10 interactive replies overtook the queued invites: many invites were still waiting
    assert pending_bulk >= 15


async def test_limiter_honours_retry_after(emu: TelegramEmulator) -> None:
    # the server is stricter than the limiter: it answers 429 and the limiter waits and retries
    emu.limits = FloodLimits(enabled=True, global_per_s=30, per_chat_per_s=1, per_chat_burst=1)
    limiter = PriorityRateLimiter(overall_per_s=30, per_chat_per_s=50, per_chat_burst=50, max_retries=3)
    async with aio_bot(emu, limiter) as bot:
        emu.user(40)
        await bot.send_message(40, "1")
        await bot.send_message(40, "2")
    assert emu.stats["429"] >= 1 and limiter.retries >= 1
    assert [m.text for m in emu.messages(40)] == ["1", "2"]


async def test_limiter_gives_up_after_bounded_retries(emu: TelegramEmulator) -> None:
    emu.limits = FloodLimits(enabled=True, global_per_s=30, per_chat_per_s=0.01, per_chat_burst=1)
    limiter = PriorityRateLimiter(overall_per_s=30, per_chat_per_s=50, per_chat_burst=50, max_retries=0)
    async with aio_bot(emu, limiter) as bot:
        emu.user(41)
        await bot.send_message(41, "1")
        with pytest.raises(RetryAfter):
            await bot.send_message(41, "2")


async def test_limiter_raises_forbidden_through(emu: TelegramEmulator) -> None:
    limiter = PriorityRateLimiter()
    async with aio_bot(emu, limiter) as bot:
        emu.user(50)
        emu.block(50)
        t0 = time.monotonic()
        with pytest.raises(Forbidden):
            await bot.send_message(50, "xin chào")
        assert time.monotonic() - t0 < 1.0
    assert limiter.retries == 0


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HAILONG_TELEGRAM_TOKEN", "42:abc")
    monkeypatch.setenv("HAILONG_STAFF_IDS", "7, 8;9")
    monkeypatch.setenv("HAILONG_TELEGRAM_BASE_URL", "http://127.0.0.1:8081/bot")
    s = Settings()
    assert s.staff_ids == [7, 8, 9] and s.is_staff(8) and not s.is_staff(10) and not s.is_staff("x")
    assert s.telegram_token is not None and "42:abc" not in repr(s)
    assert s.timezone == "Asia/Ho_Chi_Minh" and s.signing_key() == Settings().signing_key()
    (tmp_path / ".env").write_text("HAILONG_TIMEZONE=Mars/Olympus\n")
    with pytest.raises(ValueError, match="time zone"):
        Settings()
