"""The Zalo Bot API emulator: webhook delivery, flood control, citizens' API, standalone mode."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import aiohttp
from aiohttp import web

from bot.zalo.client import SECRET_HEADER, ZaloBotClient, ZaloRetryAfter
from demo.emulators.zalo import ZaloEmulator
from demo.bot_stack import child_env

TOKEN = "t-emulator"


async def _receiver(status: int = 200):
    """A tiny webhook receiver recording (headers, body); returns (runner, url, got)."""
    got: list[tuple[str, dict]] = []
    statuses = [status]

    async def hook(request: web.Request) -> web.Response:
        got.append((request.headers.get(SECRET_HEADER, ""), await request.json()))
        return web.Response(status=statuses[0])

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}/hook", got, statuses


async def test_webhook_posts_events_in_order_with_secret():
    runner, url, got, _ = await _receiver()
    try:
        async with ZaloEmulator(token=TOKEN) as emu, ZaloBotClient(TOKEN, emu.base_url) as c:
            emu.user("u1").send_text("queued before webhook")
            await c.set_webhook(url, "a-very-secret-value")
            u = emu.user("u1")
            for i in range(5):
                u.send_text(str(i))
            for _ in range(100):
                if len(got) == 6:
                    break
                await asyncio.sleep(0.02)
            assert [b["message"].get("text") for _, b in got] == ["queued before webhook", "0", "1", "2", "3", "4"]
            assert {h for h, _ in got} == {"a-very-secret-value"}
            assert all(d.delivered for d in emu.webhook_log)
    finally:
        await runner.cleanup()


async def test_webhook_failures_are_retried_then_recorded():
    runner, url, got, statuses = await _receiver(status=403)
    try:
        async with ZaloEmulator(token=TOKEN, webhook_retries=2) as emu, ZaloBotClient(TOKEN, emu.base_url) as c:
            await c.set_webhook(url, "wrong-secret-xx")
            emu.user("u1").send_text("hello")
            for _ in range(100):
                if emu.webhook_log:
                    break
                await asyncio.sleep(0.02)
            (entry,) = emu.webhook_log
            assert entry.status == 403 and entry.attempts == 3 and not entry.delivered
            assert len(got) == 3
    finally:
        await runner.cleanup()


async def test_get_updates_conflicts_with_webhook():
    async with ZaloEmulator(token=TOKEN) as emu, ZaloBotClient(TOKEN, emu.base_url) as c:
        await c.set_webhook("http://127.0.0.1:9/x", "secret-secret")
        try:
            await c.get_updates(timeout=0)
        except Exception as exc:  # noqa: BLE001
            assert getattr(exc, "code", None) == 409
        else:
            raise AssertionError("getUpdates must fail while a webhook is set")


async def test_rate_limits_answer_429_with_retry_after():
    async with ZaloEmulator(token=TOKEN, global_rate=100, per_chat_rate=1, per_chat_burst=2) as emu:
        async with ZaloBotClient(TOKEN, emu.base_url) as c:
            emu.user("u1").send_text("hi")
            await c.send_message("u1", "1")
            await c.send_message("u1", "2")
            try:
                await c.send_message("u1", "3")
            except ZaloRetryAfter as exc:
                assert 0 < exc.retry_after <= 1
            else:
                raise AssertionError("third message within a second must be refused")
            assert emu.stats["429"] == 1


async def test_redeliver_keeps_message_id_and_concurrent_polls_get_distinct_events():
    async with ZaloEmulator(token=TOKEN) as emu, ZaloBotClient(TOKEN, emu.base_url) as c:
        u = emu.user("u9", "Tòng Văn B")
        polls = [asyncio.create_task(c.get_updates(timeout=3)) for _ in range(3)]
        await asyncio.sleep(0.05)
        ev = u.send_text("1")
        u.redeliver(ev)
        u.send_image(caption="ảnh")
        ups = await asyncio.gather(*polls)
        ids = [x.message.message_id for x in ups]
        assert ids.count(ev["message"]["message_id"]) == 2 and len(set(ids)) == 2
        assert [e.kind for e in u.transcript] == ["text", "image"]


async def test_control_api_for_other_processes():
    async with ZaloEmulator(token=TOKEN) as emu, ZaloBotClient(TOKEN, emu.base_url) as c:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{emu.base_url}/_emulator/send",
                              json={"user_id": "u5", "display_name": "Lan", "text": "KS 4F7K2Q"}) as r:
                ev = (await r.json())["result"]
            up = await c.get_updates(timeout=1)
            assert up.message.message_id == ev["message"]["message_id"]
            waiter = asyncio.create_task(s.post(f"{emu.base_url}/_emulator/wait", json={"chat_id": "u5", "timeout": 2}))
            await asyncio.sleep(0.05)
            await c.send_message("u5", "Xin chào Lan")
            r = await waiter
            assert (await r.json())["result"] == "Xin chào Lan"
            async with s.get(f"{emu.base_url}/_emulator/transcript", params={"chat_id": "u5"}) as r:
                assert [e["direction"] for e in (await r.json())["result"]] == ["in", "out"]
            async with s.post(f"{emu.base_url}/_emulator/send", json={"nope": 1}) as r:
                assert r.status == 400


def test_standalone_process_serves_the_api():
    proc = subprocess.Popen([sys.executable, "-m", "demo.emulators.zalo", "--port", "0", "--token", "abc"],
                            stdout=subprocess.PIPE, text=True, env=child_env())
    try:
        line = proc.stdout.readline()
        base = line.split(": ", 1)[1].split()[0]

        async def probe():
            async with ZaloBotClient("abc", base) as c:
                return await c.get_me()

        assert asyncio.run(probe()).account_name
    finally:
        proc.terminate()
        proc.wait(5)
