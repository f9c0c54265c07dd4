"""The Zalo Bot API client against the emulator over loopback HTTP, and text splitting."""

from __future__ import annotations

import asyncio
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.zalo.client import (
    MAX_TEXT, ZaloApiError, ZaloBotClient, ZaloForbidden, ZaloNetworkError, ZaloRetryAfter,
    ZaloUnauthorized, ZaloUpdateError, parse_update, split_text, text_length,
)
from demo.emulators.zalo import ZaloEmulator

TOKEN = "123:test-token"


@pytest.fixture
async def emu():
    async with ZaloEmulator(token=TOKEN) as e:
        yield e


@pytest.fixture
async def client(emu):
    async with ZaloBotClient(TOKEN, emu.base_url, timeout=5) as c:
        yield c


# ------------------------------------------------------------------ splitting

def test_split_keeps_short_text_whole():
    assert split_text("Câu 1/22. Trả lời 1–5") == ["Câu 1/22. Trả lời 1–5"]
    assert split_text("") == []


def test_split_prefers_lines_and_keeps_numbered_options_together():
    stem = "Ông/bà đánh giá thế nào về thái độ của công chức? " * 30
    options = "\n".join(f"{i}. Lựa chọn {i}: rất hài lòng với dịch vụ" for i in range(1, 30))
    parts = split_text(stem + "\n" + options)
    assert all(text_length(p) <= MAX_TEXT for p in parts)
    assert parts[1].startswith("1. Lựa chọn 1")            # options start a fresh message
    assert "".join(parts).replace("\n", "").replace(" ", "") == (stem + options).replace("\n", "").replace(" ", "")


def test_split_sentence_then_word_boundaries():
    text = ("Một câu khá dài về thủ tục hành chính. " * 80).strip()
    parts = split_text(text)
    assert len(parts) > 1 and all(p.endswith(".") for p in parts[:-1])
    words = ("hài lòng " * 400).strip()
    parts = split_text(words)
    assert all(text_length(p) <= MAX_TEXT for p in parts)
    assert all(w in ("hài", "lòng") for p in parts for w in p.split())


def test_split_never_separates_combining_tone_marks_or_surrogates():
    nfd = unicodedata.normalize("NFD", "nguyễnđường" * 500)    # one giant "word"
    parts = split_text(nfd)
    assert "".join(parts) == nfd
    assert all(not unicodedata.combining(p[0]) for p in parts)
    emoji = "😀" * 1500
    parts = split_text(emoji)
    assert [text_length(p) for p in parts] == [2000, 1000] and "".join(parts) == emoji


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aăâbđêôơư ờữ\n.?1)😀") + ["\u0301"]), max_size=6000))
def test_split_property_fits_and_loses_only_whitespace(text):
    parts = split_text(text)
    assert all(0 < text_length(p) <= MAX_TEXT for p in parts)
    squash = lambda s: "".join(s.split())  # noqa: E731
    assert squash("".join(parts)) == squash(text)


# ------------------------------------------------------------------ parsing updates

def test_parse_update_shapes():
    raw = {"event_name": "message.text.received", "message": {
        "from": {"id": "u1", "display_name": "Lan"}, "chat": {"id": "u1", "chat_type": "PRIVATE"},
        "text": "4", "message_id": "m1", "date": 1730000000123}}
    up = parse_update(raw)
    assert up.is_text and up.message.text == "4" and up.message.date_ms == 1730000000123
    wrapped = parse_update({"ok": True, "result": raw})
    assert wrapped == up
    numeric = parse_update({"event_name": "message.sticker.received",
                            "message": {"from": {"id": 5}, "chat": {"id": 5}, "message_id": 7, "sticker": "s"}})
    assert numeric.message.chat.id == "5" and not numeric.is_text
    for bad in (None, [], {}, {"event_name": ""}, {"event_name": "x", "message": "m"},
                {"event_name": "x", "message": {"chat": {"id": "c"}}}):
        with pytest.raises(ZaloUpdateError):
            parse_update(bad)


# ------------------------------------------------------------------ over HTTP

async def test_get_me_and_webhook_info(client):
    me = await client.get_me()
    assert me.id and me.account_name
    info = await client.set_webhook("http://127.0.0.1:9/hook", "s3cret-token")
    assert info.url.endswith("/hook")
    assert (await client.get_webhook_info()).url.endswith("/hook")
    await client.delete_webhook()
    assert (await client.get_webhook_info()).url == ""
    with pytest.raises(ValueError):
        await client.set_webhook("http://127.0.0.1:9/hook", "short")


async def test_get_updates_one_event_at_a_time_and_timeout(emu, client):
    assert await client.get_updates(timeout=0) is None
    u = emu.user("u1", "Lò Văn A")
    u.send_text("xin chào")
    u.send_sticker()
    first = await client.get_updates(timeout=1)
    second = await client.get_updates(timeout=1)
    assert first.message.text == "xin chào" and second.event_name == "message.sticker.received"
    poll = asyncio.create_task(client.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    u.send_text("5")
    assert (await poll).message.text == "5"


async def test_send_message_errors_are_mapped(emu, client):
    u = emu.user("u2")
    with pytest.raises(ZaloForbidden):                     # never wrote to the bot
        await client.send_message("u2", "hello")
    u.send_text("hi")
    sent = await client.send_message("u2", "Chào bạn")
    assert sent.message_id and sent.date_ms > 0
    assert await u.wait_for_reply(1) == "Chào bạn"
    with pytest.raises(ValueError):
        await client.send_message("u2", "x" * 2001)
    with pytest.raises(ZaloApiError) as exc:              # the server also refuses > 2000
        await client.call("sendMessage", {"chat_id": "u2", "text": "x" * 2001})
    assert exc.value.code == 400
    emu.flood(1, retry_after=2)
    with pytest.raises(ZaloRetryAfter) as exc:
        await client.send_message("u2", "again")
    assert exc.value.retry_after == 2 and exc.value.retryable
    u.block()
    with pytest.raises(ZaloForbidden):
        await client.send_message("u2", "blocked")


async def test_send_text_splits_and_photo_and_action(emu, client):
    u = emu.user("u3")
    u.send_text("hi")
    sent = await client.send_text("u3", ("Câu dài. " * 300).strip())
    assert len(sent) == 2
    got = [await u.wait_for_reply(1), await u.wait_for_reply(1)]
    assert all(len(t) <= MAX_TEXT for t in got)
    await client.send_photo("u3", "https://example.invalid/card.png", "Thẻ mời")
    await client.send_chat_action("u3", "typing")
    kinds = [e.kind for e in u.transcript if e.direction == "out"]
    assert kinds == ["text", "text", "photo", "action"]


async def test_bad_token_and_unreachable_server(emu):
    async with ZaloBotClient("wrong", emu.base_url) as c:
        with pytest.raises(ZaloUnauthorized):
            await c.get_me()
    async with ZaloBotClient(TOKEN, "http://127.0.0.1:9", timeout=1) as c:
        with pytest.raises(ZaloNetworkError) as exc:
            await c.get_me()
        assert TOKEN not in str(exc.value)
