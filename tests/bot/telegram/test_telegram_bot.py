"""The Telegram channel end to end: real PTB against the emulator, real engine and SQLite storage."""

from __future__ import annotations

import pytest

from storage.responses import current_answers, get_response_for_respondent
from survey_defs.loader import get_survey
from support.telegram_world import World, answer_survey, make_world


@pytest.fixture
async def world(tmp_path):
    w = await make_world(tmp_path, surveys=("sipas-households",), staff_ids=(999,))
    yield w
    await w.close()


async def stored(world: World, token: str) -> dict:
    resp = await get_response_for_respondent(world.db, world.respondent_ids[token])
    assert resp is not None
    return await current_answers(world.db, resp.id)


async def test_households_complete_with_buttons_and_typing(world: World) -> None:
    survey = get_survey("sipas-households")
    token = world.tokens["sipas-households"][0]
    user = world.emu.user(1001, "Lan")
    await user.start(token)
    await user.wait_for_keyboard()
    choices = await answer_survey(world, survey, user, seed=1)
    assert choices.presses > 10 and choices.typed > 5
    assert await stored(world, token) == choices.answers
    # every question message lost its keyboard once answered; the last message thanks
    assert [m.text[:40] for m in world.emu.bot_messages(1001) if m.keyboard] == []
    assert "cảm ơn" in world.emu.bot_messages(1001)[-1].text.lower()


async def _start(world: World, uid: int, token: str):
    user = world.emu.user(uid, f"Dân {uid}")
    await user.start(token)
    await user.wait_for_keyboard()
    return user


async def _state(world: World, uid: int):
    session = await world.store.session_for_chat("telegram", str(uid))
    assert session is not None
    return session.state


async def test_back_changes_the_previous_answer(world: World) -> None:
    token = world.tokens["sipas-households"][1]
    user = await _start(world, 1002, token)
    await user.press_button("1. ")          # consent: Có
    await user.wait_for_keyboard()
    await user.send_text("40")              # age
    await user.wait_for_keyboard()
    await user.press_button("Quay lại")     # back to age
    q = await user.wait_for_keyboard()
    assert "40" in q.text                   # shows the current answer
    await user.send_text("52")
    await user.wait_for_keyboard()
    assert (await stored(world, token))["q_age"] == 52
    age_msgs = [m for m in world.emu.bot_messages(1002) if "52" in m.text and "→" in m.text]
    assert age_msgs, "the re-answered question shows the chosen answer"


async def test_pause_and_resume_after_restart(world: World) -> None:
    survey = get_survey("sipas-households")
    token = world.tokens["sipas-households"][2]
    user = await _start(world, 1003, token)
    await user.press_button("1. ")
    await user.wait_for_keyboard()
    await user.send_text("33")
    await user.wait_for_keyboard()
    await user.press_button("Tạm dừng")
    paused = await user.wait_for_reply()
    assert "tạm dừng" in paused.text.lower()
    assert (await _state(world, 1003)).status == "paused"
    await world.restart()
    user = world.emu.user(1003)
    await user.send_text("/continue")
    q = await user.wait_for_keyboard()
    assert (await _state(world, 1003)).current == "q_household_rep" and "Câu 3/" in q.text
    choices = await answer_survey(world, survey, user, seed=3)
    expected = {"q_consent": 1, "q_age": 33, **choices.answers}
    assert await stored(world, token) == expected


async def test_button_pressed_after_restart_closes_the_question_with_its_text(world: World) -> None:
    token = world.tokens["sipas-households"][0]
    user = await _start(world, 1004, token)
    question = user.last_keyboard_message()
    assert question is not None and question.text
    original, original_keyboard = question.text, list(question.keyboard)
    await world.restart()                 # the bot forgets which message it showed last
    await user.press_button("1. ")        # consent: yes, pressed on the message sent before
    await user.wait_for_keyboard()
    await world.emu.wait_drained()
    closed = next(m for m in world.emu.bot_messages(1004) if m.message_id == question.message_id)
    # the pressed message keeps its text, shows the answer, then asks the next question
    answered = closed.text[len(original):]
    assert closed.text.startswith(original) and answered.startswith("\n→") and "\n\n" in answered
    assert closed.keyboard and closed.keyboard != original_keyboard
    assert [m.message_id for m in world.emu.bot_messages(1004) if m.keyboard] == [question.message_id]
    assert (await stored(world, token)) == {"q_consent": 1}


def test_trim_update_keeps_what_the_adapter_reads() -> None:
    from telegram import Bot, Update

    from bot.telegram.transport import PRESSED, trim_update
    from bot.telegram.transport import chat_of

    chat = {"id": 5, "type": "private", "first_name": "Lan"}
    raw = {"update_id": 9, "callback_query": {
        "id": "q1", "from": {"id": 5, "is_bot": False, "first_name": "Lan"}, "chat_instance": "c", "data": "d",
        "message": {"message_id": 77, "from": {"id": 1, "is_bot": True, "first_name": "B"}, "chat": chat,
                    "date": 1700000000, "text": "Câu 1/9\nÔng/bà có đồng ý?",
                    "reply_markup": {"inline_keyboard": [[{"text": "1. Có", "callback_data": "x"}]]}}}}
    trim_update(raw)
    update = Update.de_json(raw, Bot("1:x"))
    q = update.callback_query
    assert q.message is None and q.data == "d" and q.from_user.id == 5
    assert q.api_kwargs[PRESSED] == {"chat_id": 5, "chat_type": "private", "message_id": 77,
                                     "text": "Câu 1/9\nÔng/bà có đồng ý?"}
    assert chat_of(update) == (5, "private")
    group = {"update_id": 11, "callback_query": {"id": "q3", "message": {
        "message_id": 1, "date": 1, "chat": {"id": -100, "type": "supergroup"}}}}
    trim_update(group)
    assert group["callback_query"][PRESSED]["chat_type"] == "supergroup"
    for junk in (None, 3, "x", {"callback_query": []}, {"callback_query": {"message": "m"}},
                 {"callback_query": {"message": {"chat": {"id": "5"}, "message_id": 1}}}):
        before = repr(junk)
        trim_update(junk)      # never raises; anything unexpected is left for PTB as it came
        assert repr(junk) == before


async def test_stale_and_forged_buttons_change_nothing(world: World) -> None:
    token = world.tokens["sipas-households"][3]
    user = await _start(world, 1004, token)
    first = user.last_keyboard_message()
    assert first is not None
    old_data = first.buttons[1][1]          # "Không" on the consent question
    await user.press_button("1. ")
    await user.wait_for_keyboard()
    before = await _state(world, 1004)
    n_msgs = len(world.emu.bot_messages(1004))
    # 1. the old question's button, pressed again (replayed data on an edited message)
    qid = await user.press(first.message_id, old_data)
    assert (await user.wait_callback_answer(qid)).text == "Câu đó đã qua. Vui lòng trả lời câu hiện tại."
    # 2. forged, malformed, and another chat's signed data
    other = await _start(world, 1005, world.tokens["sipas-households"][4])
    foreign = other.last_keyboard_message().buttons[0][1]
    current = user.last_keyboard_message()
    for data in ("v1|c|q_age|18|%d|AAAAAAAAAAAA" % before.seq, "garbage", "v1|c|q_age", foreign,
                 "v1|k|stop||%d|xxxxxxxxxxxx" % before.seq, "🙂" * 16):
        qid = await user.press(current.message_id, data)
        answer = await user.wait_callback_answer(qid)
        assert answer.text and "không hợp lệ" in answer.text
    await world.emu.wait_drained()
    after = await _state(world, 1004)
    assert after.answers == before.answers and after.seq == before.seq and after.status == "active"
    assert len(world.emu.bot_messages(1004)) == n_msgs
    assert await stored(world, token) == {"q_consent": 1}
    assert world.channel.stats.forged >= 6 and world.channel.stats.stale >= 1


async def test_junk_groups_channels_and_edits_are_handled(world: World) -> None:
    token = world.tokens["sipas-households"][0]
    user = await _start(world, 1006, token)
    before = await _state(world, 1006)
    for send in (user.send_sticker, user.send_photo, user.send_voice, user.send_document, user.send_location):
        await send()
        reply = await user.wait_for_reply()
        assert "bấm nút hoặc gõ số" in reply.text
    upd = await user.send_text("hôm nay trời đẹp quá " * 300)   # 6 000 characters of nonsense
    invalid = await user.wait_for_keyboard()
    assert "Câu 1/" in invalid.text
    await user.edit_text(upd["message"]["message_id"], "1")
    assert "sửa" in (await user.wait_for_reply()).text
    group = world.emu.group(-500, "Thôn Nà Khuổng")
    await group.send_text(77, "/start@hailong_test_bot")
    await world.emu.wait_until(lambda: any(m.from_bot for m in world.emu.messages(-500)))
    assert "nhắn riêng" in world.emu.bot_messages(-500)[0].text
    await group.send_text(77, "xin chào mọi người")
    await world.emu.channel_post(-1009, "Thông báo của xã")
    await world.emu.wait_drained()
    await user.send_text("/help")
    await user.wait_for_keyboard()
    assert len(world.emu.bot_messages(-500)) == 1 and world.emu.bot_messages(-1009) == []
    after = await _state(world, 1006)
    assert after.answers == before.answers == {}
    assert world.channel.stats.errors == 0


async def test_invites_unknown_and_stop(world: World) -> None:
    user = world.emu.user(1007)
    await user.start("NOT-A-REAL-TOKEN-123")
    assert "không đúng" in (await user.wait_for_reply()).text
    await user.start()
    assert "phiếu mời" in (await user.wait_for_reply()).text     # no walk-in in this round
    await user.send_text("xin chào")
    assert "/start" in (await user.wait_for_reply()).text
    token = world.tokens["sipas-households"][1]
    await user.start(token)
    await user.wait_for_keyboard()
    await user.send_text("/stop")
    assert "dừng khảo sát" in (await user.wait_for_reply()).text
    from storage.respondents import get_respondent
    assert (await get_respondent(world.db, world.respondent_ids[token])).status == "refused"
    await user.start(token)
    assert "từ chối" in (await user.wait_for_reply()).text


async def test_blocked_citizen_is_marked_unreachable(world: World) -> None:
    from storage.respondents import get_respondent

    token = world.tokens["sipas-households"][2]
    user = await _start(world, 1008, token)
    world.emu.block(1008)
    await user.press_button("1. ")
    await world.emu.wait_drained()
    for _ in range(200):
        if (await get_respondent(world.db, world.respondent_ids[token])).status == "unreachable":
            break
        await __import__("asyncio").sleep(0.01)
    assert (await get_respondent(world.db, world.respondent_ids[token])).status == "unreachable"
    assert (await stored(world, token)) == {"q_consent": 1}    # the answer itself was kept


async def test_staff_commands(world: World) -> None:
    staff = world.emu.user(999, "Cán bộ")
    await staff.send_text("/whoami")
    assert "999" in (reply := await staff.wait_for_reply()).text and "cán bộ" in reply.text
    citizen = world.emu.user(1010)
    await citizen.send_text("/whoami")
    reply = await citizen.wait_for_reply()
    assert "1010" in reply.text and "cán bộ" not in reply.text
    await citizen.send_text("/status")       # not staff: the citizen experience
    assert "/start" in (await citizen.wait_for_reply()).text


async def test_updates_of_one_citizen_are_handled_in_order(world: World) -> None:
    token = world.tokens["sipas-households"][3]
    user = await _start(world, 1011, token)
    # typed without waiting: consent yes, age, representative yes, literate yes, legal capacity
    # yes, sex 2
    for text in ("1", "45", "1", "1", "1", "2"):
        await user.send_text(text)
    await world.emu.wait_until(lambda: (len(world.emu.bot_messages(1011)) >= 7), 10)
    await world.emu.wait_drained()
    for _ in range(300):
        if len(await stored(world, token)) == 6:
            break
        await __import__("asyncio").sleep(0.01)
    assert await stored(world, token) == {"q_consent": 1, "q_age": 45, "q_household_rep": 1,
                                          "q_literate": 1, "q_legal_capacity": 1, "q_sex": 2}


async def test_redelivered_update_is_a_no_op(world: World) -> None:
    from telegram import Update

    token = world.tokens["sipas-households"][4]
    user = await _start(world, 1012, token)
    n = len(world.emu.bot_messages(1012))
    raw = await user.send_text("1")
    await user.wait_for_keyboard()
    await world.emu.wait_drained()
    n_after = len(world.emu.bot_messages(1012))
    update = Update.de_json(raw, world.channel.application.bot)
    await world.channel.application.process_update(update)   # Telegram delivers it again
    assert len(world.emu.bot_messages(1012)) == n_after > n
    assert world.channel.stats.duplicates >= 1
    assert await stored(world, token) == {"q_consent": 1}


async def test_services_questionnaire_many_citizens_at_once(tmp_path) -> None:
    import asyncio

    w = await make_world(tmp_path, surveys=("sipas-services-2021",), per_survey=12)
    try:
        survey = get_survey("sipas-services-2021")

        async def citizen(i: int, token: str):
            user = await _start(w, 2000 + i, token)
            return token, await answer_survey(w, survey, user, seed=100 + i, type_share=0.25)

        results = await asyncio.gather(*(citizen(i, t) for i, t in enumerate(w.tokens["sipas-services-2021"])))
        for token, choices in results:
            assert await stored(w, token) == choices.answers
            assert len(choices.answers) >= 15
        assert w.channel.stats.errors == 0
    finally:
        await w.close()


async def test_walk_in_when_the_round_allows_it(tmp_path) -> None:
    w = await make_world(tmp_path, surveys=("sipas-services-2021",), per_survey=1, walk_in=True)
    try:
        user = w.emu.user(3001, "Khách")
        await user.start()
        q = await user.wait_for_keyboard()
        assert "Câu 1/" in q.text
        session = await w.store.session_for_chat("telegram", "3001")
        assert session is not None and session.state.status == "active"
    finally:
        await w.close()


async def test_webhook_checks_the_secret_token(tmp_path) -> None:
    import aiohttp

    w = await make_world(tmp_path, telegram_mode="webhook", listen_port=0,
                         telegram_webhook_url="http://127.0.0.1:{port}/telegram",
                         telegram_webhook_secret="right-secret_42")
    try:
        port = w.channel.webhook_port
        assert w.emu.bot.webhook_url == f"http://127.0.0.1:{port}/telegram"
        # the emulator delivers with the right secret: a citizen is served
        user = await _start(w, 4001, w.tokens["sipas-households"][0])
        await user.press_button("1. ")
        await user.wait_for_keyboard()
        # a forged delivery with a wrong (or no) secret is refused and nothing is processed
        fake = {"update_id": 999999, "message": {"message_id": 50, "date": 0, "text": "/stop",
                                                 "chat": {"id": 4001, "type": "private"},
                                                 "from": {"id": 4001, "is_bot": False, "first_name": "X"}}}
        n = len(w.emu.bot_messages(4001))
        async with aiohttp.ClientSession() as s:
            for headers in ({"X-Telegram-Bot-Api-Secret-Token": "wrong-secret"}, {}):
                async with s.post(f"http://127.0.0.1:{port}/telegram", json=fake, headers=headers) as r:
                    assert r.status == 403
        assert len(w.emu.bot_messages(4001)) == n
        assert (await _state(w, 4001)).status == "active"
        assert not await w.store.is_processed("telegram", "999999")
    finally:
        await w.close()


async def test_flood_control_is_honoured(tmp_path) -> None:
    from demo.emulators.telegram_rules import FloodLimits

    # the server is stricter than our limiter's configuration: 429s come back and are retried
    w = await make_world(tmp_path, per_survey=3, telegram_rate_limit=True, telegram_rate_per_chat=20,
                         telegram_rate_burst=20, telegram_rate_overall=30)
    w.emu.limits = FloodLimits(enabled=True, global_per_s=30, per_chat_per_s=2, per_chat_burst=2)
    try:
        token = w.tokens["sipas-households"][0]
        user = await _start(w, 5001, token)
        for text in ("1", "41", "1"):
            await user.send_text(text)
            await user.wait_for_keyboard(timeout=15)
        assert w.emu.stats["429"] >= 1
        assert await stored(w, token) == {"q_consent": 1, "q_age": 41, "q_household_rep": 1}
        assert "Câu 4/" in user.last_keyboard_message().text
    finally:
        await w.close()
