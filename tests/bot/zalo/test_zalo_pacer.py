"""The outgoing pacer: rates, priorities, per-chat order, 429 backoff and bounded retries."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.zalo.pacer import Pacer, PacerClosed, Priority
from bot.zalo.client import ZaloBotClient, ZaloForbidden, ZaloNetworkError
from demo.emulators.zalo import ZaloEmulator

TOKEN = "t-pacer"


def _recorder():
    log: list[tuple[str, str, float]] = []

    def make(chat: str, label: str):
        async def send():
            log.append((chat, label, time.monotonic()))
            await asyncio.sleep(0)
            return label
        return send

    return log, make


async def test_global_rate_is_respected():
    log, make = _recorder()
    async with Pacer(rate=100, burst=5, per_chat_rate=None) as p:
        t0 = time.monotonic()
        futs = [p.submit(f"c{i}", make(f"c{i}", str(i))) for i in range(45)]
        assert [await f for f in futs] == [str(i) for i in range(45)]
    assert time.monotonic() - t0 >= (45 - 5) / 100 * 0.9
    stamps = [t for _, _, t in log]
    for i in range(len(stamps) - 20):          # any 20 consecutive sends span >= (20 - burst) / rate
        assert stamps[i + 20] - stamps[i] >= (20 - 5) / 100 * 0.9


async def test_per_chat_rate_and_order():
    log, make = _recorder()
    async with Pacer(rate=None, per_chat_rate=10, per_chat_burst=1) as p:
        t0 = time.monotonic()
        futs = [p.submit("same", make("same", str(i))) for i in range(6)]
        other = p.submit("other", make("other", "x"))
        await asyncio.gather(*futs, other)
    elapsed = time.monotonic() - t0
    assert elapsed >= 5 / 10 * 0.9
    assert [lab for c, lab, _ in log if c == "same"] == [str(i) for i in range(6)]
    assert [c for c, _, _ in log].index("other") <= 1        # another chat is not held up


async def test_interactive_goes_before_bulk():
    log, make = _recorder()
    async with Pacer(rate=50, burst=1, per_chat_rate=None) as p:
        bulk = [p.submit(f"b{i}", make(f"b{i}", "bulk"), Priority.BULK) for i in range(15)]
        await asyncio.sleep(0.01)
        reply = p.submit("citizen", make("citizen", "reply"))
        await asyncio.gather(reply, *bulk)
    order = [c for c, _, _ in log]
    assert order.index("citizen") <= 2


async def test_interactive_before_bulk_within_one_chat():
    log, make = _recorder()
    async with Pacer(rate=None, per_chat_rate=20, per_chat_burst=1) as p:
        futs = [p.submit("c", make("c", f"reminder{i}"), Priority.BULK) for i in range(3)]
        futs.append(p.submit("c", make("c", "question")))
        await asyncio.gather(*futs)
    labels = [lab for _, lab, _ in log]
    assert labels.index("question") <= 1 and labels.count("question") == 1


async def test_bounded_retries_then_failure():
    calls = 0

    async def always_down():
        nonlocal calls
        calls += 1
        raise ZaloNetworkError("sendMessage", "connection refused")

    async with Pacer(rate=None, per_chat_rate=None, max_retries=3, base_backoff=0.01) as p:
        with pytest.raises(ZaloNetworkError):
            await p.send("c", always_down)
        assert calls == 4 and p.stats.failed == 1 and p.stats.retried == 3


async def test_forbidden_fails_at_once_and_closed_pacer_refuses():
    calls = 0

    async def blocked():
        nonlocal calls
        calls += 1
        raise ZaloForbidden("sendMessage", 403, "blocked")

    p = Pacer(rate=None, per_chat_rate=None)
    await p.start()
    with pytest.raises(ZaloForbidden):
        await p.send("c", blocked)
    assert calls == 1
    await p.aclose()
    with pytest.raises(PacerClosed):
        p.submit("c", blocked)


async def test_429_from_the_emulator_is_backed_off_and_nothing_is_lost():
    async with ZaloEmulator(token=TOKEN, per_chat_rate=20, per_chat_burst=1) as emu, \
            ZaloBotClient(TOKEN, emu.base_url) as client:
        users = [emu.user(f"u{i}") for i in range(4)]
        for u in users:
            u.send_text("hi")
        emu.flood(3, retry_after=0.05)
        async with Pacer(rate=None, per_chat_rate=None, base_backoff=0.02) as p:   # pacer not told the limit
            futs = [p.submit(u.chat_id, (lambda c=u.chat_id, i=i: client.send_message(c, f"m{i}")))
                    for i in range(8) for u in users]
            await asyncio.gather(*futs)
            assert p.stats.throttled >= 3
        for u in users:
            assert u.received == [f"m{i}" for i in range(8)]          # each once, in order


async def test_pacer_within_emulator_limits_gets_no_429():
    async with ZaloEmulator(token=TOKEN, global_rate=60, per_chat_rate=10, per_chat_burst=2) as emu, \
            ZaloBotClient(TOKEN, emu.base_url) as client:
        users = [emu.user(f"v{i}") for i in range(6)]
        for u in users:
            u.send_text("hi")
        async with Pacer(rate=50, burst=5, per_chat_rate=8, per_chat_burst=2) as p:
            futs = [p.submit(u.chat_id, (lambda c=u.chat_id, i=i: client.send_message(c, f"m{i}")))
                    for i in range(5) for u in users]
            await asyncio.gather(*futs)
        assert emu.stats["429"] == 0 and emu.stats["delivered"] == 30
