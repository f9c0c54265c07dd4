"""The Zalo adapter end to end: real client code over loopback HTTP against the emulator, the pure
engine, and the SQLite conversation store."""

from __future__ import annotations

import asyncio
import json
import random

import aiohttp
import pytest
from aiohttp import web

import engine
from engine.types import Start, TypedText
from bot.zalo.texts import render_reply
from bot.zalo.client import SECRET_HEADER
from demo.emulators.zalo_script import answer_until_done, is_prompt, next_prompt, scripted_answer
from storage.responses import current_answers, get_response_for_respondent
from survey_defs.loader import get_survey
from support.zalo_world import TOKEN, World, _close, _world









@pytest.fixture
async def polling(tmp_path):
    w = await _world(tmp_path)
    stop = asyncio.Event()
    task = asyncio.create_task(w.channel.run_polling(stop, poll_timeout=1))
    yield w
    stop.set()
    await asyncio.wait_for(task, 5)
    await _close(w)


async def _answers(w: World, i: int) -> dict:
    row = await get_response_for_respondent(w.db, w.respondents[i].id)
    return await current_answers(w.db, row.id)


async def test_citizens_complete_households_by_typed_numbers(polling):
    w = polling
    users = [w.emu.user(f"zl-{i}", f"Người dân {i}") for i in range(3)]
    codes = [f"ks {w.code(0).lower()}", f"Mã KS: {w.code(1)}", w.code(2)[:3] + "-" + w.code(2)[3:]]

    async def citizen(i):
        users[i].send_text(codes[i])
        return await answer_until_done(users[i], random.Random(i), timeout=10)

    sent = await asyncio.gather(*(citizen(i) for i in range(3)))
    assert all(n > 80 for n in sent)
    for i, u in enumerate(users):
        answers = await _answers(w, i)
        assert len(answers) > 80 and answers["q_consent"] in (1, "1")
        row = await get_response_for_respondent(w.db, w.respondents[i].id)
        assert row.status == "submitted"
        assert all(len(t) <= 2000 for t in u.received)
    assert w.channel.stats.send_failures == 0


async def test_questions_are_numbered_with_a_hint():
    survey = get_survey("sipas-households")
    r = engine.step(survey, engine.new_state(survey), Start(), 0.0)
    text = render_reply(r.replies[-1])
    assert "1. Có\n2. Không\n👉 Trả lời 1–2" in text
    st = r.state
    for a in ("1", "45", "1", "1", "1"):
        st = engine.step(survey, st, TypedText(a), 1.0).state
    # walk to the first multiple-choice question and check its rendering
    for _ in range(40):
        res = engine.step(survey, st, TypedText("1"), 2.0)
        last = res.replies[-1]
        if last.multi:
            shown = render_reply(last)
            assert "☐" in shown and "Chưa chọn ý nào" in shown and "gõ 0 để xong" in shown
            res2 = engine.step(survey, res.state, TypedText("1 3"), 3.0)
            shown2 = render_reply(res2.replies[-1])
            assert "Đã chọn: 1, 3" in shown2 and "1. ☑" in shown2
            return
        st = res.state
    raise AssertionError("no multiple-choice question reached")


async def test_channel_switch_midway_continues_the_same_response(polling):
    w = polling
    survey = get_survey("sipas-households")
    # Start on another channel (what the Telegram adapter does through the same store).
    claim = await w.store.claim_invite(w.code(3), "telegram", "tg-555")
    session, state = claim.session, claim.session.state
    res = engine.step(survey, state, Start(), 1.0)
    assert await w.store.commit_step(session, res.state, res.events, "telegram", "tg-u1")
    state = res.state
    for k, a in enumerate(("1", "52", "1")):
        res = engine.step(survey, state, TypedText(a), 2.0 + k)
        assert await w.store.commit_step(session, res.state, res.events, "telegram", f"tg-u{k + 2}")
        state = res.state
    before = await _answers(w, 3)
    assert before["q_age"] in (52, "52") and len(before) == 3

    u = w.emu.user("zl-switch", "Lò Thị Lan")
    u.send_text(f"KS {w.code(3)}")
    held = await u.wait_for_reply(5)                   # the Telegram chat holds it with answers
    assert "đang được dùng ở một cuộc trò chuyện khác" in held and "Câu" not in held
    assert (await w.store.decide_handover("telegram", "tg-555", allow=True)).status == "allowed"
    u.send_text(f"KS {w.code(3)}")
    first = (await next_prompt(u, 5))[-1]
    assert first.startswith("Câu 4/")                  # continues where Telegram left off
    rng = random.Random(3)
    u.send_text(scripted_answer(first, rng))
    await answer_until_done(u, rng, timeout=10)
    after = await _answers(w, 3)
    for k, v in before.items():
        assert after[k] == v
    assert len(after) > 80
    assert await w.store.session_for_chat("telegram", "tg-555") is None   # the allowed chat took over


async def test_junk_non_text_and_redelivery_are_harmless(polling):
    w = polling
    u = w.emu.user("zl-junk", "Vàng A Páo")
    u.send_sticker()
    assert "mã khảo sát" in await u.wait_for_reply(5)
    u.send_text("xin chào")
    assert "mã khảo sát" in await u.wait_for_reply(5)
    u.send_text(f"KS {w.code(4)}")
    q1 = (await next_prompt(u, 5))[-1]
    assert q1.startswith("Câu 1/")
    for send in (u.send_image, u.send_sticker, u.send_unsupported):
        send()
        assert "trả lời bằng số" in await u.wait_for_reply(5)
    for junk in ("🙂🙂🙂", "asdf qwer", "9", "x" * 10_000):
        u.send_text(junk)
        assert (await next_prompt(u, 5))[-1].startswith("Câu 1/")
    ev = u.send_text("1")
    q2 = (await next_prompt(u, 5))[-1]
    assert q2.startswith("Câu 2/")
    seen = len(u.received)
    u.redeliver(ev)                                       # same message id: nothing happens
    u.send_unsupported()
    assert "trả lời bằng số" in await u.wait_for_reply(5)
    assert len(u.received) == seen + 1
    assert w.channel.stats.duplicates >= 1
    assert list((await _answers(w, 4)).keys()) == ["q_consent"]


async def test_unknown_codes_are_refused_politely_and_limited(polling):
    from storage.credentials import new_short_code

    w = polling
    u = w.emu.user("zl-guess")
    for i in range(3):
        u.send_text(f"KS {new_short_code()}")           # well-formed, but no such household
        assert "không đúng" in await u.wait_for_reply(5)
    for typo in ("KS AAAAA0", "hello123"):              # a typo (check character) counts too
        u.send_text(typo)
        assert "chưa đúng" in await u.wait_for_reply(5)
    u.send_text(f"KS {w.code(5)}")                      # even the right code waits now
    assert "thử lại sau" in await u.wait_for_reply(5)


async def test_429_backoff_and_blocked_citizen_marked_unreachable(polling):
    w = polling
    u = w.emu.user("zl-flood")
    w.emu.flood(3, retry_after=0.05)
    u.send_text(f"KS {w.code(0)}")
    prompt = (await next_prompt(u, 5))[-1]
    assert prompt.startswith("Câu 1/") and w.channel.pacer.stats.throttled >= 3
    u.block()
    u.send_text("1")
    for _ in range(100):
        row = await w.db.fetchone("SELECT status FROM respondents WHERE id = ?", (w.respondents[0].id,))
        if row[0] == "unreachable":
            break
        await asyncio.sleep(0.02)
    assert row[0] == "unreachable" and w.channel.stats.unreachable == 1


async def test_webhook_checks_the_secret_before_reading(tmp_path):
    w = await _world(tmp_path)
    app = w.channel.webhook_app("/zalo", "right-secret-123")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/zalo"
    try:
        async with aiohttp.ClientSession() as s:
            for headers in ({}, {SECRET_HEADER: "wrong-secret-123"}, {SECRET_HEADER: "right-secret-12"}):
                async with s.post(url, data=b"{not json", headers=headers) as r:
                    assert r.status == 403                       # refused before the body is parsed
            async with s.post(url, data=b"{not json", headers={SECRET_HEADER: "right-secret-123"}) as r:
                assert r.status == 400
        u = w.emu.user("zl-hook", "Tòng Thị Mai")
        await w.client.set_webhook(url, "wrong-secret-123")
        ev = u.send_text(f"KS {w.code(1)}")
        for _ in range(200):
            if w.emu.webhook_log:
                break
            await asyncio.sleep(0.02)
        assert not w.emu.webhook_log[0].delivered and w.emu.webhook_log[0].status == 403
        assert u.received == [] and w.channel.stats.updates == 0
        await w.client.set_webhook(url, "right-secret-123")
        u.redeliver(ev)
        first = (await next_prompt(u, 5))[-1]
        assert first.startswith("Câu 1/")
        rng = random.Random(7)
        u.send_text(scripted_answer(first, rng))
        await answer_until_done(u, rng, timeout=10)
        row = await get_response_for_respondent(w.db, w.respondents[1].id)
        assert row.status == "submitted"
        assert all(d.delivered for d in w.emu.webhook_log[1:])
    finally:
        await runner.cleanup()
        await _close(w)


async def test_storage_failure_answers_500_so_the_platform_retries(tmp_path):
    w = await _world(tmp_path)
    app = w.channel.webhook_app("/zalo", "right-secret-123")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/zalo"
    real = w.store.claim_invite
    calls = 0

    async def flaky(*a, **kw):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("disk full")
        return await real(*a, **kw)

    w.store.claim_invite = flaky  # type: ignore[method-assign]
    try:
        await w.client.set_webhook(url, "right-secret-123")
        u = w.emu.user("zl-retry")
        u.send_text(f"KS {w.code(2)}")
        assert (await next_prompt(u, 5))[-1].startswith("Câu 1/")
        assert w.emu.stats["webhook_retries"] >= 1 and calls == 2
    finally:
        await runner.cleanup()
        await _close(w)


def test_event_json_roundtrip_is_what_webhook_sends():
    ev = {"event_name": "message.text.received", "message": {"from": {"id": "1"}, "chat": {"id": "1"},
                                                             "message_id": "m", "date": 1, "text": "1"}}
    assert json.loads(json.dumps(ev, ensure_ascii=False)) == ev and is_prompt("Câu 1/2\nx")


async def test_hailong_run_channel_zalo_polls_the_emulator(tmp_path):
    from hailong.run import run_channels
    from bot.settings import Settings

    w = await _world(tmp_path, n=1)
    await w.channel.stop(drain_timeout=1)           # the runner builds its own channel
    await w.db.close()                                # run_channels opens the database itself
    settings = Settings(db=tmp_path / "zalo.db", zalo_token=TOKEN, zalo_base_url=w.emu.base_url,
                        zalo_poll_timeout=1, zalo_rate_limit=False, _env_file=None)
    stop = asyncio.Event()
    task = asyncio.create_task(run_channels(settings, ["zalo"], stop))
    try:
        u = w.emu.user("zl-run")
        u.send_text(f"KS {w.code(0)}")
        assert (await next_prompt(u, 10))[-1].startswith("Câu 1/")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await w.client.close()
        await w.emu.stop()


def test_zalo_settings_validate_webhook_configuration():
    from pydantic import ValidationError

    from bot.settings import Settings

    with pytest.raises(ValidationError):
        Settings(zalo_token="t", zalo_mode="webhook", _env_file=None)
    with pytest.raises(ValidationError):
        Settings(zalo_token="t", zalo_webhook_secret="short", _env_file=None)
    s = Settings(zalo_token="t", zalo_mode="webhook", zalo_webhook_url="https://x.example/zalo",
                 zalo_webhook_secret="long-enough-secret", _env_file=None)
    assert s.zalo_rate_overall == 10 and s.zalo_rate_per_chat == 1


async def test_skip_words_skip_an_optional_free_text_question_on_zalo(polling):
    """«bỏ qua» on an optional comment box skips it (the hint says so); it was stored as the comment."""
    w = polling
    user = w.emu.user("zl-skip", "Người dân bỏ qua")
    user.send_text(w.code(3))
    rng = random.Random(3)
    skipped_at = []
    for _ in range(500):
        prompt = (await next_prompt(user, 10))[-1]
        answer = scripted_answer(prompt, rng)
        if answer is None:
            break
        if "gõ «bỏ qua» để bỏ qua" in prompt and answer not in ("gửi",):
            answer = ("bỏ qua", "Bỏ qua", "bo qua", "skip")[len(skipped_at) % 4]
            skipped_at.append(prompt.splitlines()[0])
        user.send_text(answer)
    assert skipped_at, "no optional question was shown"
    answers = await _answers(w, 3)
    assert not any(isinstance(v, str) and v.strip().lower() in ("bỏ qua", "bo qua", "skip") for v in answers.values())
    row = await get_response_for_respondent(w.db, w.respondents[3].id)
    assert row.status == "submitted"
