"""Invitation credentials on Telegram, end to end (real PTB against the emulator, real storage):
no silent takeover of a response by a second chat, the holder's buttons, the hand-over timeout,
and the brute-force measurement of docs/claim_texts.md."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from engine import claim_texts
from fieldwork.outbox import OutboxSender
from storage.claims import HOUR, ClaimPolicy
from storage.respondents import get_respondent
from storage.responses import current_answers, get_response_for_respondent
from support.guessing import check_guessing_bounded, wrong_codes
from support.telegram_world import World, make_world


class Clock:
    """The store's clock (ledger, hand-over timeout), moved by the test; the bot's stays real."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def world(tmp_path):
    clock = Clock()
    w = await make_world(tmp_path, store_kw={"clock": clock})
    w.clock = clock  # type: ignore[attr-defined]
    stop = asyncio.Event()
    outbox = asyncio.create_task(OutboxSender(w.db, w.channel.bulk_sender(), poll_interval=0.05)
                                 .run(until_idle=False, stop=stop))
    yield w
    stop.set()
    await asyncio.wait_for(outbox, 5)
    await w.close()


async def _holder_with_two_answers(world: World, uid: int, token: str):
    user = world.emu.user(uid, "Lò Văn Hùng")
    await user.start(token)
    await user.wait_for_keyboard()
    await user.press_button("1. ")                # consent: Có
    await user.wait_for_keyboard()
    await user.send_text("40")                    # age
    await user.wait_for_keyboard()
    return user


async def _answers(world: World, token: str) -> dict:
    resp = await get_response_for_respondent(world.db, world.respondent_ids[token])
    return await current_answers(world.db, resp.id)


async def _ask_message(world: World, user):
    await world.emu.wait_until(lambda: any("vừa được gửi từ một tài khoản" in m.text
                                           for m in world.emu.bot_messages(user.chat_id)), 10, user.chat_id)
    return next(m for m in world.emu.bot_messages(user.chat_id) if "vừa được gửi từ một tài khoản" in m.text)


async def test_a_second_chat_is_held_and_not_me_refuses_it(world: World) -> None:
    token = world.tokens["sipas-households"][0]
    holder = await _holder_with_two_answers(world, 3001, token)
    other = world.emu.user(3002, "Kẻ lạ")
    await other.start(token)
    held = await other.wait_for_reply()
    assert "đang được dùng ở một cuộc trò chuyện khác" in held.text and "already in use" in held.text
    # nothing else: no question, no answer, no keyboard; and no command reaches the response
    for text in ("/back", "quay lại", "xem lại", "/start", "1", "gửi", "/stop"):
        await other.send_text(text)
        reply = await other.wait_for_reply()
        assert "Câu" not in reply.text and "40" not in reply.text and not reply.keyboard, text
    ask = await _ask_message(world, holder)
    assert [b[0] for b in ask.buttons] == [claim_texts.ALLOW_LABEL, claim_texts.DENY_LABEL]
    assert "Telegram" in ask.text and "Not me" in ask.text
    # the other chat cannot answer the request for the holder, nor forge its buttons
    allow_data, nonce_data = ask.buttons[0][1], ask.buttons[1][1]
    for forged in (nonce_data, "ho|" + "A" * 16 + "|y", "ho|junk", "ho|" + "x" * 200 + "|y"):
        qid = await other.press(held.message_id, forged)
        assert (await other.wait_callback_answer(qid)).text
    await holder.press(ask.message_id, nonce_data)          # 🚫 Không phải tôi
    assert (await holder.wait_for_reply()).text == claim_texts.DENIED_OLD
    await world.emu.wait_until(lambda: any(m.text == claim_texts.NOT_ALLOWED
                                           for m in world.emu.bot_messages(3002)), 10, 3002)
    assert not ask.keyboard                                  # the request lost its buttons
    qid = await holder.press(ask.message_id, allow_data)     # a second (replayed) press: already answered
    assert "không còn hiệu lực" in (await holder.wait_callback_answer(qid)).text
    await other.start(token)
    assert (await other.wait_for_reply()).text == claim_texts.NOT_ALLOWED
    # the holder goes on where they were; nothing changed in between
    await holder.send_text("/start")
    q = await holder.wait_for_keyboard()
    assert "Câu 3/" in q.text
    assert await _answers(world, token) == {"q_consent": 1, "q_age": 40}
    assert world.channel.stats.errors == 0


async def test_the_holder_allows_the_move_and_the_new_chat_continues(world: World) -> None:
    token = world.tokens["sipas-households"][1]
    holder = await _holder_with_two_answers(world, 3011, token)
    new = world.emu.user(3012, "Điện thoại mới")
    await new.start(token)
    await new.wait_for_reply()
    ask = await _ask_message(world, holder)
    await holder.press(ask.message_id, ask.buttons[0][1])    # ✅ Cho phép
    assert (await holder.wait_for_reply()).text == claim_texts.ALLOWED_OLD
    await world.emu.wait_until(lambda: any("đã cho phép" in m.text for m in world.emu.bot_messages(3012)), 10, 3012)
    await new.start(token)
    q = await new.wait_for_keyboard()
    assert "Câu 3/" in q.text
    await new.press_button("Quay lại")                       # vouched for: everything visible
    assert "40" in (await new.wait_for_keyboard()).text
    await holder.send_text("1")                              # the old chat no longer answers
    assert "/start" in (await holder.wait_for_reply()).text
    assert await _answers(world, token) == {"q_consent": 1, "q_age": 40}


async def test_without_an_answer_the_new_chat_continues_blind_to_earlier_answers(world: World) -> None:
    token = world.tokens["sipas-households"][2]
    holder = await _holder_with_two_answers(world, 3021, token)
    new = world.emu.user(3022, "Mất điện thoại")
    await new.start(token)
    await new.wait_for_reply()
    await _ask_message(world, holder)
    world.clock.t += ClaimPolicy().handover_timeout_s + 1    # type: ignore[attr-defined]
    await new.start(token)
    replies = await new.wait_for_replies(2)
    assert replies[0].text == claim_texts.CONTINUED_HIDDEN
    q = await new.wait_for_keyboard()
    assert "Câu 3/" in q.text and "40" not in q.text
    assert not any("Quay lại" in b[0] for b in q.buttons)
    await new.send_text("quay lại")
    assert "giữ kín" in (await new.wait_for_reply()).text
    await new.send_text("xem lại")
    review = await new.wait_for_reply()
    assert "(đã trả lời trên thiết bị trước)" in review.text and "40" not in review.text
    await new.press_button("1. ")                            # answers the next question itself
    await new.wait_for_keyboard()
    answers = await _answers(world, token)
    assert answers["q_consent"] == 1 and answers["q_age"] == 40 and len(answers) == 3
    await holder.send_text("1")
    assert "/start" in (await holder.wait_for_reply()).text


# ------------------------------------------------------------------ the brute-force measurement

def _variants(code: str, n: int) -> str:
    return (f"{code[:4]} {code[4:]}", f"{code[:3]}-{code[3:]}".lower(), f"KS {code.lower()}",
            f"ks-{code[:2]} {code[2:5]}-{code[5:]}")[n % 4]


async def _guess(world: World, users: list, codes: list[str], step_s: float) -> Counter:
    """Send ``codes`` as /start payloads from ``users`` round-robin, the store's clock moving
    ``step_s`` per guess; returns what the guessers were told."""
    told: Counter = Counter()
    for n, code in enumerate(codes):
        user = users[n % len(users)]
        world.clock.t += step_s                               # type: ignore[attr-defined]
        await user.start(_variants(code, n))
        reply = (await user.wait_for_reply()).text
        told["refused" if reply == claim_texts.REFUSED else reply.split(".", 1)[0]] += 1
    return told


async def test_brute_force_on_telegram_is_bounded_by_the_documented_limits(tmp_path) -> None:
    clock = Clock()
    policy = ClaimPolicy()
    w = await make_world(tmp_path, store_kw={"clock": clock})
    w.clock = clock  # type: ignore[attr-defined]
    try:
        wrong = wrong_codes(r[0] for r in await w.db.fetchall("SELECT card_code FROM respondents"))
        right = (await w.db.fetchall("SELECT card_code FROM respondents ORDER BY id"))
        t_start = clock.t
        # 1. one chat, 1 000 wrong codes over 2 hours, then a right one
        one = w.emu.user(4000, "Máy dò")
        told = await _guess(w, [one], wrong[:1000], 7.2)
        await one.start(_variants(right[0][0], 1))
        assert "thử lại sau" in (await one.wait_for_reply()).text    # limited: not even looked up
        # 2. 100 chats, 10 wrong codes each, over 1 hour (a campaign), then a right one
        bots = [w.emu.user(5000 + i, f"Máy {i}") for i in range(100)]
        told += await _guess(w, bots, wrong[1000:], 3.6)
        honest = w.emu.user(6000, "Người dân")
        await honest.start(_variants(right[1][0], 2))
        slowed = (await honest.wait_for_reply()).text
        assert "chậm lại" in slowed                                  # the campaign slows everyone
        await check_guessing_bounded(w.db, "telegram", t_start, told, policy)
        # each run is followed by a right code: it works once the wait is over
        clock.t += policy.campaign_spacing_s + 1
        await honest.start(_variants(right[1][0], 3))
        assert "Câu 1/" in (await honest.wait_for_keyboard()).text
        clock.t += HOUR
        await one.start(right[0][0])
        assert "Câu 1/" in (await one.wait_for_keyboard()).text
        assert (await get_respondent(w.db, w.respondent_ids[w.tokens["sipas-households"][0]])).status == "opened"
    finally:
        await w.close()


async def test_hostile_claims_junk_and_very_long_payloads(world: World) -> None:
    user = world.emu.user(3031, "Kẻ phá")
    for junk in ("A" * 5000, "🙂" * 40, "KS " + "Z" * 70, "\x00KS\u200b", "../../etc/passwd", "' OR 1=1 --"):
        await user.start(junk)
        reply = await user.wait_for_reply()
        assert reply.text in (claim_texts.REFUSED,) or "thử lại sau" in reply.text, junk
    assert world.channel.stats.errors == 0
    n = await world.db.fetchval("SELECT COUNT(*) FROM claim_attempts WHERE chat_id = '3031'")
    assert n == 5                                        # five looked at, the sixth refused unread
