"""Chat and page on one response: a citizen starts in the Telegram emulator's chat (real PTB, real
engine and storage), opens the Mini App button of the first question, and finishes on the page."""

from __future__ import annotations

import random
from urllib.parse import unquote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from demo.page_client import PageClient, answer_whole_page_survey
from bot.web.app import PageApp, PageConfig
from storage.responses import current_answers, get_response_for_respondent
from survey_defs.loader import get_survey
from support.processes import free_port
from support.telegram_world import make_world, open_mini_app


@pytest.fixture
async def mixed(tmp_path):
    port = free_port()
    world = await make_world(tmp_path, page_public_url=f"http://127.0.0.1:{port}/p")
    page = PageApp(world.store, world.db, PageConfig(key=world.settings.page_key(), telegram_token=world.emu.token,
                                                     public_url=world.settings.page_public_url))
    root = web.Application()
    page.mount(root)
    server = TestServer(root, host="127.0.0.1", port=port)
    await server.start_server()
    yield world, page, server
    await server.close()
    await world.close()




async def test_start_in_chat_finish_on_the_mini_app_one_response(mixed) -> None:
    world, page_app, server = mixed
    survey = get_survey("sipas-households")
    token = world.tokens["sipas-households"][0]
    user = world.emu.user(4242, "Lò Thị Mai")
    await user.start(token)
    first = await user.wait_for_keyboard()
    apps = world.emu.web_app_buttons(4242, first.message_id)
    assert apps and apps[0][1].endswith("/p/tg") and "trang" in apps[0][0]
    await user.press_button("1. ")                     # consent: Có, in the chat
    await user.wait_for_keyboard()
    await user.send_text("40")                         # age, typed in the chat
    await user.wait_for_keyboard()
    client = PageClient(str(server.make_url("")))
    try:
        page = await open_mini_app(client, world.emu.mini_app_url(user, apps[0][1]))
        assert page.kind == "section" and page.section == "screening"
        assert page.fields["q_age"].value == "40"       # the chat's answer, on the page
        last, chosen = await answer_whole_page_survey(client, page, survey, random.Random(9),
                                                      answers={"q_consent": 1, "q_age": 40})
        assert last.kind == "end"
    finally:
        await client.close()
    rid = world.respondent_ids[token]
    resp = await get_response_for_respondent(world.db, rid)
    assert resp is not None
    assert await current_answers(world.db, resp.id) == chosen
    assert (await world.db.fetchone("SELECT COUNT(*) FROM responses WHERE respondent_id = ?", (rid,)))[0] == 1
    modes = dict(await world.db.fetchall(
        "SELECT step_id, channel FROM answers WHERE response_id = ? AND cleared = 0", (resp.id,)))
    assert modes["q_consent"] == "telegram" and modes["q_age"] == "telegram"
    assert {modes[s] for s in chosen if s not in ("q_consent", "q_age")} == {"web"}
    # back in the chat: the questionnaire is done, whatever the chat shows
    await user.send_text("5")
    reply = await user.wait_for_reply()
    assert "đã được gửi" in reply.text.lower() or "đã hoàn thành" in reply.text.lower() or "cảm ơn" in reply.text.lower()


async def test_a_stale_mini_app_open_is_refused(mixed) -> None:
    world, page_app, server = mixed
    token = world.tokens["sipas-households"][1]
    user = world.emu.user(4343, "Vàng A Sính")
    await user.start(token)
    first = await user.wait_for_keyboard()
    url = world.emu.web_app_buttons(4343, first.message_id)[0][1]
    stale = world.emu.mini_app_url(user, url, auth_date=int(page_app.clock()) - 7200)
    init = unquote(stale.split("tgWebAppData=", 1)[1].split("&tgWebAppVersion", 1)[0])
    client = PageClient(str(server.make_url("")))
    try:
        async with client.session.post(client.base_url + "/p/tg", data={"initData": init}) as resp:
            assert resp.status == 403 and "url" not in await resp.json()
    finally:
        await client.close()


async def test_reminders_carry_the_mini_app_button() -> None:
    from bot.telegram.sender import TelegramSender, build_telegram_bot
    from demo.emulators.telegram import TelegramEmulator
    from storage.outbox import OutboxMessage

    async with TelegramEmulator() as emu:
        user = emu.user(6001, "Mai")
        await user.send_text("xin chào")                  # a chat the bot may write to
        bot = build_telegram_bot(emu.token, emu.base_url)
        await bot.initialize()
        try:
            sender = TelegramSender(bot, mini_app_url="http://127.0.0.1:9/p/tg")
            for n, payload in enumerate(({"reminder": 1, "text": "Nhắc: phiếu còn dang dở."},
                                         {"text": "Thông báo khác."})):
                await sender.send(OutboxMessage(n + 1, None, None, "telegram", "6001", "reminder", 100, payload,
                                                f"k{n}", "sending", 0, 0.0, None, 0.0, None, None, None))
            reminder, notice = emu.bot_messages(6001)[-2:]
            assert emu.web_app_buttons(6001, reminder.message_id) == [
                ("📝 Trả lời trên trang / Answer on a page", "http://127.0.0.1:9/p/tg")]
            assert emu.web_app_buttons(6001, notice.message_id) == []
        finally:
            await bot.shutdown()
