"""The Telegram webhook is authenticated and bounded, and staff content only reaches staff: real PTB
against the emulator, real storage; hostile requests are posted straight to the bot's webhook."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp
import pytest
from pydantic import ValidationError

from bot.settings import Settings
from bot.webhook_guard import MAX_BODY_BYTES, MAX_JSON_DEPTH
from support.telegram_world import World, make_world

HAILONG = str(Path(sys.executable).with_name("hailong"))
SECRET = "right-secret_42"
STAFF = 999


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAILONG_")}
    env.update(extra)
    return env


def test_settings_require_a_well_formed_secret_in_webhook_mode() -> None:
    base = dict(telegram_token="1:x", telegram_mode="webhook", _env_file=None,
                telegram_webhook_url="https://khaosat.example.gov.vn/telegram")
    with pytest.raises(ValidationError) as missing:
        Settings(**base)
    assert "HAILONG_TELEGRAM_WEBHOOK_SECRET" in str(missing.value) and "cần" in str(missing.value)
    for bad in ("short", "has space in it", "ü" * 20, "x" * 257):
        with pytest.raises(ValidationError):
            Settings(**base, telegram_webhook_secret=bad)
    assert Settings(**base, telegram_webhook_secret=SECRET).telegram_webhook_secret is not None


async def test_hailong_run_refuses_webhook_mode_without_a_secret(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        HAILONG, "run", "--channel", "telegram", "--token", "123:abc", "--db", str(tmp_path / "x.db"),
        "--mode", "webhook", "--webhook-url", "https://khaosat.example.gov.vn/telegram",
        cwd=str(tmp_path), env=_clean_env(COLUMNS="300"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = (out + err).decode("utf-8", "replace")
    assert proc.returncode == 2, text
    assert "HAILONG_TELEGRAM_WEBHOOK_SECRET" in text and "cần" in text and "needs" in text
    assert "Traceback" not in text
    assert not (tmp_path / "x.db").exists()


@pytest.fixture
async def hook(tmp_path: Path):
    w = await make_world(tmp_path, telegram_mode="webhook", listen_port=0, staff_ids=(STAFF,),
                         telegram_webhook_url="http://127.0.0.1:{port}/telegram", telegram_webhook_secret=SECRET)
    yield w
    await w.close()


def _url(w: World) -> str:
    return f"http://127.0.0.1:{w.channel.webhook_port}/telegram"


def _message(update_id: int, chat_id: int, sender: int, text: str) -> dict:
    entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text.startswith("/") else []
    return {"update_id": update_id,
            "message": {"message_id": update_id, "date": 0, "text": text, "entities": entities,
                        "chat": {"id": chat_id, "type": "private", "first_name": "X"},
                        "from": {"id": sender, "is_bot": False, "first_name": "X"}}}


async def _post(s: aiohttp.ClientSession, url: str, body: bytes, secret: str | None = SECRET) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    async with s.post(url, data=body, headers=headers) as r:
        await r.read()
        return r.status


def _nested(depth: int) -> bytes:
    """A valid update (from a chat the bot never saw) carrying lists nested to ``depth`` in all."""
    update = _message(77, 5005, 5005, "xin chào")
    update["message"]["x"] = "PLACEHOLDER"
    inner = "[" * (depth - 2) + "]" * (depth - 2)   # the update object and "message" count too
    return json.dumps(update).replace('"PLACEHOLDER"', inner).encode()


async def test_hostile_requests_are_refused_and_replays_change_nothing(hook: World) -> None:
    w, url = hook, _url(hook)
    token = w.tokens["sipas-households"][0]
    citizen = w.emu.user(4001, "Lan")                       # the chats exist on the emulator's side
    w.emu.user(5005, "Khách")
    start = json.dumps(_message(900001, 4001, 4001, f"/start {token}")).encode()
    async with aiohttp.ClientSession() as s:
        # forged: no secret, a wrong one, a prefix of the right one
        for secret in (None, "wrong-secret", SECRET[:-1], SECRET + "x"):
            assert await _post(s, url, start, secret) == 403
        assert await w.store.session_for_chat("telegram", "4001") is None
        # junk with the right secret: 400, never 500
        for body in (b"{not json", b"[]", b'"text"', b"42", b"\xff\xfe\x00", b"",
                     b"[" * 100_000 + b"]" * 100_000, _nested(MAX_JSON_DEPTH + 1)):
            assert await _post(s, url, body) == 400, body[:40]
        # a body deep but within the limit is an ordinary (ignored) update
        assert await _post(s, url, _nested(MAX_JSON_DEPTH)) == 200
        # too long: 413, declared or streamed
        big = json.dumps({"update_id": 78, "pad": "x" * MAX_BODY_BYTES}).encode()
        assert await _post(s, url, big) == 413

        async def chunks():
            for i in range(0, len(big), 4096):
                yield big[i:i + 4096]
        async with s.post(url, data=chunks(), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as r:
            assert r.status == 413
        # the genuine update is served once; its replay (same update id) changes and sends nothing
        assert await _post(s, url, start) == 200
        await citizen.wait_for_keyboard()
        n = len(w.emu.bot_messages(4001))
        state = (await w.store.session_for_chat("telegram", "4001")).state
        assert await _post(s, url, start) == 200
        await asyncio.sleep(0.3)
        assert len(w.emu.bot_messages(4001)) == n
        assert (await w.store.session_for_chat("telegram", "4001")).state == state
    assert w.channel.stats.webhook_rejected >= 14
    assert w.channel.stats.errors == 0


async def test_staff_content_goes_only_to_the_staff_members_own_chat(hook: World) -> None:
    """A crafted private-chat update whose sender is a staff member but whose chat is someone
    else's (what an attacker posts to a webhook) gets no staff answer anywhere."""
    w, url = hook, _url(hook)
    table = "📊 BẢNG TIẾN ĐỘ / progress table"

    async def status() -> str:
        return table

    w.channel.status_provider = status
    w.emu.user(6666, "Kẻ gian")
    staff = w.emu.user(STAFF, "Cán bộ")
    async with aiohttp.ClientSession() as s:
        for n, command in enumerate(("/status", "/whoami")):
            assert await _post(s, url, json.dumps(_message(910 + n, 6666, STAFF, command)).encode()) == 200
        await w.emu.wait_until(lambda: len(w.emu.bot_messages(6666)) >= 2, timeout=10, chat_id=6666)
        await asyncio.sleep(0.3)
        texts = [m.text for m in w.emu.bot_messages(6666)]
        assert all(table not in t and "survey staff" not in t and str(STAFF) not in t for t in texts), texts
        assert all("/start" in t for t in texts)               # treated as a stranger's text
        assert w.emu.bot_messages(STAFF) == []
        # the staff member in their own chat is answered, in that chat
        assert await _post(s, url, json.dumps(_message(920, STAFF, STAFF, "/status")).encode()) == 200
        assert (await staff.wait_for_reply()).text == table
        assert len(w.emu.bot_messages(6666)) == len(texts)
