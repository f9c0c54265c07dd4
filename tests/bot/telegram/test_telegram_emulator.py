"""The Bot API emulator answers the real PTB client the way Telegram does."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.request import HTTPXRequest

from demo.emulators.telegram import TelegramEmulator
from demo.emulators.telegram_rules import FloodLimits


@pytest.fixture
async def emu():
    e = TelegramEmulator()
    await e.start()
    yield e
    await e.stop()


def make_bot(emu: TelegramEmulator, token: str | None = None) -> Bot:
    return Bot(token or emu.token, base_url=emu.base_url, request=HTTPXRequest(connection_pool_size=8),
               get_updates_request=HTTPXRequest(read_timeout=10))


async def test_get_me_and_bad_token(emu: TelegramEmulator) -> None:
    async with make_bot(emu) as bot:
        assert bot.username == "hailong_test_bot"
    with pytest.raises(InvalidToken):
        async with make_bot(emu, "999:wrong"):
            pass


async def test_long_polling_offsets_and_allowed_updates(emu: TelegramEmulator) -> None:
    async with make_bot(emu) as bot:
        user = emu.user(501, "Lan")
        await user.send_text("xin chào")
        await user.start("TOKEN1")
        ups = await bot.get_updates(timeout=0)
        assert [u.message.text for u in ups] == ["xin chào", "/start TOKEN1"]
        assert ups[1].message.entities[0].type == "bot_command"
        # confirming with offset drops them
        assert await bot.get_updates(offset=ups[-1].update_id + 1, timeout=0) == ()
        # a long poll returns as soon as an update arrives
        poll = asyncio.create_task(bot.get_updates(offset=ups[-1].update_id + 1, timeout=5))
        await asyncio.sleep(0.05)
        await user.send_sticker()
        got = await asyncio.wait_for(poll, 3)
        assert got[0].message.sticker is not None
        # allowed_updates filters
        await user.send_text("x")
        only_cb = await bot.get_updates(offset=got[-1].update_id + 1, timeout=0,
                                        allowed_updates=["callback_query"])
        assert only_cb == ()


async def test_send_edit_press_and_callback_answer(emu: TelegramEmulator) -> None:
    async with make_bot(emu) as bot:
        user = emu.user(502, "Minh")
        kb = InlineKeyboardMarkup([[InlineKeyboardButton("Hài lòng", callback_data="v1|q1|4")],
                                   [InlineKeyboardButton("Rất hài lòng", callback_data="v1|q1|5")]])
        sent = await bot.send_message(502, "<b>Câu 1/3</b> Bạn có hài lòng?", parse_mode="HTML",
                                      reply_markup=kb)
        msg = await user.wait_for_reply(1)
        assert msg.text == "Câu 1/3 Bạn có hài lòng?" and msg.message_id == sent.message_id
        qid = await user.press_button("Rất hài lòng")
        ups = await bot.get_updates(timeout=0)
        cq = ups[-1].callback_query
        assert cq.data == "v1|q1|5" and cq.message.message_id == sent.message_id
        await cq.answer("Đã ghi nhận")
        assert (await user.wait_callback_answer(qid, 1)).text == "Đã ghi nhận"
        with pytest.raises(BadRequest, match="(?i)query is too old"):
            await cq.answer()
        await bot.edit_message_text("Câu 1/3 … → Rất hài lòng", chat_id=502, message_id=sent.message_id)
        current = emu.messages(502)[-1]
        assert current.text.endswith("Rất hài lòng") and current.keyboard == [] and current.edited == 1
        with pytest.raises(BadRequest, match="(?i)not modified"):
            await bot.edit_message_text("Câu 1/3 … → Rất hài lòng", chat_id=502, message_id=sent.message_id)
        with pytest.raises(BadRequest, match="(?i)message to edit not found"):
            await bot.edit_message_reply_markup(chat_id=502, message_id=999, reply_markup=kb)


async def test_validation_like_telegram(emu: TelegramEmulator) -> None:
    async with make_bot(emu) as bot:
        emu.user(503)
        with pytest.raises(BadRequest, match="(?i)can't parse entities"):
            await bot.send_message(503, "<b>unclosed", parse_mode="HTML")
        with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
            await bot.send_message(503, "x", reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("a", callback_data="x" * 65)]]))
        with pytest.raises(BadRequest, match="(?i)too long"):
            await bot.send_message(503, "x" * 4097)
        with pytest.raises(BadRequest, match="(?i)chat not found"):
            await bot.send_message(77, "hello")
        emu.block(503)
        with pytest.raises(Forbidden, match="(?i)blocked"):
            await bot.send_message(503, "hello")


async def test_files_commands_chat_and_noops(emu: TelegramEmulator) -> None:
    async with make_bot(emu) as bot:
        emu.user(504, "Hoa")
        doc = await bot.send_document(504, document=b"a,b\n1,2\n", filename="ket_qua.csv", caption="Kết quả")
        assert doc.document.file_name == "ket_qua.csv" and emu.files[doc.document.file_id] == b"a,b\n1,2\n"
        photo = await bot.send_photo(504, photo=b"\x89PNG fake")
        assert photo.photo[0].file_size == len(b"\x89PNG fake")
        assert emu.messages(504)[-1].kind == "photo"
        from telegram import BotCommand
        assert await bot.set_my_commands([BotCommand("start", "Bắt đầu"), BotCommand("help", "Trợ giúp")])
        assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
        chat = await bot.get_chat(504)
        assert chat.first_name == "Hoa"
        assert await bot.send_chat_action(504, "typing")


async def test_flood_control_answers_429(emu: TelegramEmulator) -> None:
    emu.limits = FloodLimits(enabled=True, global_per_s=30, per_chat_per_s=1, per_chat_burst=2)
    async with make_bot(emu) as bot:
        emu.user(505)
        await bot.send_message(505, "1")
        await bot.send_message(505, "2")
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(505, "3")
        ra = info.value._retry_after  # seconds as given by the server (int or timedelta by PTB setting)
        assert (ra.total_seconds() if hasattr(ra, "total_seconds") else ra) >= 1
        assert emu.stats["429"] == 1


async def test_webhook_delivery_with_secret(emu: TelegramEmulator) -> None:
    received: list[tuple[str | None, dict]] = []
    got = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        got.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with make_bot(emu) as bot:
            await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cr3t-ABC")
            with pytest.raises(Conflict):
                await bot.get_updates(timeout=0)
            await emu.user(506).send_text("chào")
            await asyncio.wait_for(got.wait(), 5)
            assert received[0][0] == "s3cr3t-ABC" and received[0][1]["message"]["text"] == "chào"
            await emu.wait_drained(2)
            info = await bot.get_webhook_info()
            assert info.pending_update_count == 0 and info.url.endswith("/hook")
            await bot.delete_webhook()
            assert (await bot.get_webhook_info()).url == ""
    finally:
        await runner.cleanup()


async def test_group_channel_edited_and_ui(emu: TelegramEmulator) -> None:
    import aiohttp

    async with make_bot(emu) as bot:
        await emu.group(-100, "Thôn Nà Khuổng").send_text(7, "/start@hailong_test_bot")
        await emu.channel_post(-1001, "thông báo")
        user = emu.user(507, "Tú")
        upd = await user.send_text("3")
        await user.edit_text(upd["message"]["message_id"], "4")
        ups = await bot.get_updates(timeout=0)
        kinds = [("group" if u.message and u.message.chat.type == "group" else
                  "channel" if u.channel_post else "edited" if u.edited_message else "msg") for u in ups]
        assert kinds == ["group", "channel", "msg", "edited"]
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{emu.port}/") as r:
            assert r.status == 200 and "Tú" in await r.text()
        async with s.post(f"http://127.0.0.1:{emu.port}/_ui/send", data={"chat_id": "508", "text": "/start"},
                          allow_redirects=False) as r:
            assert r.status == 303
    assert emu.messages(508)[0].text == "/start"
