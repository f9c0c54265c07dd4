"""The Zalo webhook under hostile requests: forged, junk, deeply nested, too long and replayed
bodies, posted to the real adapter's aiohttp app (real client, emulator, SQLite storage)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.webhook_guard import MAX_BODY_BYTES, MAX_JSON_DEPTH
from bot.zalo.client import SECRET_HEADER
from support.zalo_world import _close, _world

HAILONG = str(Path(sys.executable).with_name("hailong"))
SECRET = "right-secret-123"


async def _post(s: aiohttp.ClientSession, url: str, body: bytes, secret: str | None = SECRET) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    async with s.post(url, data=body, headers=headers) as r:
        await r.read()
        return r.status


async def test_hostile_webhook_requests(tmp_path: Path) -> None:
    w = await _world(tmp_path)
    runner = web.AppRunner(w.channel.webhook_app("/zalo", SECRET), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/zalo"
    try:
        u = w.emu.user("zl-hostile", "Lò Văn Pọm")
        claim = json.dumps(u.send_text(f"KS {w.code(0)}")).encode()   # queued, never polled: we post it
        deep_event = u.send_text("1")
        deep_event["message"]["x"] = "PLACEHOLDER"
        async with aiohttp.ClientSession() as s:
            for secret in (None, "", "wrong-secret-123", SECRET[:-1]):
                assert await _post(s, url, claim, secret) == 403
            assert u.received == [] and await w.store.session_for_chat("zalo", "zl-hostile") is None
            for depth, expected in ((MAX_JSON_DEPTH + 1, 400), (MAX_JSON_DEPTH, 200)):
                inner = "[" * (depth - 2) + "]" * (depth - 2)
                body = json.dumps(deep_event).replace('"PLACEHOLDER"', inner).encode()
                assert await _post(s, url, body) == expected, depth
            junk = (b"{not json", b"[]", b"null", b"\xff\xfe", b"", b'{"event_name": 5}',
                    b'{"event_name": "message.text.received", "message": "x"}',
                    b"[" * 100_000 + b"]" * 100_000,             # was a 500 (RecursionError)
                    b'{"a":' * 40_000 + b"1" + b"}" * 40_000)
            for body in junk:
                assert await _post(s, url, body) == 400, body[:40]
            big = json.dumps({"event_name": "message.text.received", "pad": "x" * MAX_BODY_BYTES}).encode()
            assert await _post(s, url, big) == 413
            # the genuine event is served once; its replay (same message id) sends nothing more
            assert await _post(s, url, claim) == 200
            first = await u.wait_quiet()
            assert any(t.startswith("Câu 1/") for t in first)
            state = (await w.store.session_for_chat("zalo", "zl-hostile")).state
            for _ in range(3):
                assert await _post(s, url, claim) == 200
            await asyncio.sleep(0.3)
            assert u.unread() == []
            assert (await w.store.session_for_chat("zalo", "zl-hostile")).state == state
        assert w.channel.stats.webhook_rejected >= 4 + 1 + len(junk) - 2 + 1
    finally:
        await runner.cleanup()
        await _close(w)


async def test_hailong_run_refuses_zalo_webhook_mode_without_a_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAILONG_")}
    env.update(HAILONG_ZALO_TOKEN="777:zalo", HAILONG_ZALO_MODE="webhook", COLUMNS="300",
               HAILONG_ZALO_WEBHOOK_URL="https://khaosat.example.gov.vn/zalo")
    proc = await asyncio.create_subprocess_exec(
        HAILONG, "run", "--channel", "zalo", "--db", str(tmp_path / "x.db"), cwd=str(tmp_path), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = (out + err).decode("utf-8", "replace")
    assert proc.returncode == 2, text
    assert "HAILONG_ZALO_WEBHOOK_SECRET" in text and "cần" in text and "needs" in text
    assert "Traceback" not in text and not (tmp_path / "x.db").exists()
