"""Invitation credentials on Zalo, end to end (real client code against the emulator, real
storage): the code written with a space is counted like any other, no silent takeover, the
holder answers by typed words, and the brute-force measurement of docs/claim_texts.md."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from engine import claim_texts
from bot.zalo.sender import ZaloSender
from fieldwork.outbox import OutboxSender
from bot.zalo.pacer import Pacer
from bot.zalo.channel import ZaloChannel
from bot.zalo.client import ZaloBotClient
from demo.emulators.zalo import ZaloEmulator
from demo.emulators.zalo_script import next_prompt
from storage.credentials import new_short_code
from storage.claims import HOUR, ClaimPolicy
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.respondents import RespondentIn, insert_respondents
from storage.responses import current_answers, get_response_for_respondent
from storage.rounds import create_round, open_round
from storage.units import UnitIn, insert_units
from support.guessing import check_guessing_bounded, wrong_codes
from survey_defs.loader import get_survey

TOKEN = "888:zalo-credentials-test"


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


class World:
    def __init__(self, db, store, respondents, emu, client, channel, clock, stop, tasks):
        self.db, self.store, self.respondents, self.emu = db, store, respondents, emu
        self.client, self.channel, self.clock, self.stop, self.tasks = client, channel, clock, stop, tasks

    def code(self, i: int) -> str:
        return self.respondents[i].card_code

    async def answers(self, i: int) -> dict:
        row = await get_response_for_respondent(self.db, self.respondents[i].id)
        return await current_answers(self.db, row.id)


@pytest.fixture
async def world(tmp_path):
    db = await Database.open(tmp_path / "zalo.db")
    rnd = await create_round(db, code="LC-2025", survey=get_survey("sipas-households"))
    await open_round(db, rnd.id)
    ids = await insert_units(db, "demo", [UnitIn(kind="village", code="V1", name="Bản Nà Cại")])
    resp = await insert_respondents(db, rnd.id, [RespondentIn(ids["V1"], f"hộ thứ {i + 1}") for i in range(6)])
    clock = Clock()
    store = SqliteConversationStore(db, clock=clock)
    emu = await ZaloEmulator(token=TOKEN).start()
    client = ZaloBotClient(TOKEN, emu.base_url, timeout=5)
    pacer = Pacer(rate=None, per_chat_rate=None)
    channel = await ZaloChannel(client, store, pacer=pacer).start()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(channel.run_polling(stop, poll_timeout=1)),
             asyncio.create_task(OutboxSender(db, ZaloSender(client, pacer), poll_interval=0.05)
                                 .run(until_idle=False, stop=stop))]
    w = World(db, store, resp, emu, client, channel, clock, stop, tasks)
    yield w
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    await channel.stop(drain_timeout=2)
    await client.close()
    await emu.stop()
    await db.close()


async def _holder_with_two_answers(w: World, user_id: str, i: int):
    u = w.emu.user(user_id, "Lò Thị Mai")
    u.send_text(f"KS {w.code(i)}")
    assert (await next_prompt(u))[-1].startswith("Câu 1/")
    u.send_text("1")                                   # consent: Có
    assert (await next_prompt(u))[-1].startswith("Câu 2/")
    u.send_text("40")                                  # age
    assert (await next_prompt(u))[-1].startswith("Câu 3/")
    return u


async def _ask(u, timeout: float = 5.0) -> str:
    while True:
        text = await u.wait_for_reply(timeout)
        if "vừa được gửi từ một tài khoản" in text:
            return text


async def test_a_code_with_a_space_is_a_counted_claim():
    """The bypass of the old in-memory limiter: "BJW5 4PD" was never counted as a wrong attempt
    because it did not look like a code, though it was then normalised and claimed."""
    from storage.credentials import Credential, read_credential

    code = new_short_code()
    assert read_credential(f"{code[:4]} {code[4:]}") == Credential("code", code)


async def test_spaced_wrong_codes_are_limited_per_chat(world: World):
    u = world.emu.user("zl-space")
    for n in range(5):
        c = new_short_code()
        u.send_text(f"{c[:4]} {c[4:]}")
        assert "không đúng" in await u.wait_for_reply()
    u.send_text(f"{world.code(5)[:4]} {world.code(5)[4:]}")          # the right code, spaced: waits
    assert "thử lại sau" in await u.wait_for_reply()


async def test_a_second_chat_is_held_and_the_holder_types_not_me(world: World):
    holder = await _holder_with_two_answers(world, "zl-holder", 0)
    other = world.emu.user("zl-other", "Người lạ")
    code = world.code(0)
    other.send_text(f"ks {code[:3]}-{code[3:].lower()}")
    held = await other.wait_for_reply()
    assert "đang được dùng ở một cuộc trò chuyện khác" in held and "gửi lại mã" in held
    for text in ("quay lại", "xem lại", "1", "gửi", "dừng", f"KS {code}"):
        other.send_text(text)
        reply = await other.wait_for_reply()
        assert "Câu" not in reply and "40" not in reply, (text, reply)
    ask = await _ask(holder)
    assert "KHÔNG PHẢI TÔI" in ask and "NOT ME" in ask and "Zalo" in ask
    other.send_text("không phải tôi")                  # the claimant cannot answer for the holder
    assert "Câu" not in await other.wait_for_reply()
    holder.send_text("Không phải tôi!")
    assert await holder.wait_for_reply() == claim_texts.DENIED_OLD
    assert await other.wait_for_reply() == claim_texts.NOT_ALLOWED
    other.send_text(f"KS {code}")
    assert await other.wait_for_reply() == claim_texts.NOT_ALLOWED
    holder.send_text("1")                              # the holder goes on, nothing changed
    assert (await next_prompt(holder))[-1].startswith("Câu 4/")
    answers = await world.answers(0)
    assert answers["q_consent"] in (1, "1") and answers["q_age"] in (40, "40") and len(answers) == 3


async def test_the_holder_types_allow_and_the_new_chat_continues(world: World):
    holder = await _holder_with_two_answers(world, "zl-old-phone", 1)
    new = world.emu.user("zl-new-phone", "Điện thoại mới")
    new.send_text(f"KS {world.code(1)}")
    await new.wait_for_reply()
    await _ask(holder)
    holder.send_text("cho phép")
    assert await holder.wait_for_reply() == claim_texts.ALLOWED_OLD
    assert "đã cho phép" in await new.wait_for_reply()
    new.send_text(f"KS {world.code(1)}")
    q = (await next_prompt(new))[-1]
    assert q.startswith("Câu 3/")
    new.send_text("quay lại")
    assert "40" in (await next_prompt(new))[-1]       # vouched for: everything visible
    holder.send_text("1")                              # the old chat no longer answers
    assert "mã khảo sát" in await holder.wait_for_reply()


async def test_without_an_answer_the_new_chat_continues_blind_to_earlier_answers(world: World):
    holder = await _holder_with_two_answers(world, "zl-lost", 2)
    new = world.emu.user("zl-replacement")
    new.send_text(world.code(2).lower())
    await new.wait_for_reply()
    await _ask(holder)
    world.clock.t += ClaimPolicy().handover_timeout_s + 1
    new.send_text(f"KS {world.code(2)}")
    got = await next_prompt(new)
    assert got[0] == claim_texts.CONTINUED_HIDDEN and got[-1].startswith("Câu 3/") and "40" not in got[-1]
    assert "quay lại" not in got[-1]                   # no back hint: the earlier steps are hidden
    new.send_text("quay lại")
    assert any("giữ kín" in t for t in await next_prompt(new))
    new.send_text("xem lại")
    review = "\n".join(await next_prompt(new))
    assert "(đã trả lời trên thiết bị trước)" in review and "40" not in review
    holder.send_text("1")
    assert "mã khảo sát" in await holder.wait_for_reply()


# ------------------------------------------------------------------ the brute-force measurement

def _variants(code: str, n: int) -> str:
    return (f"{code[:4]} {code[4:]}", f"{code[:3]}-{code[3:]}".lower(), f"Mã KS: {code.lower()}",
            f"ks {code[:2]}-{code[2:5]} {code[5:]}")[n % 4]


async def _guess(w: World, users: list, codes: list[str], step_s: float) -> Counter:
    told: Counter = Counter()
    for n, code in enumerate(codes):
        user = users[n % len(users)]
        w.clock.t += step_s
        user.send_text(_variants(code, n))
        reply = await user.wait_for_reply()
        told["refused" if reply == claim_texts.REFUSED else reply.split(".", 1)[0]] += 1
    return told


async def test_brute_force_on_zalo_is_bounded_by_the_documented_limits(world: World):
    w, policy = world, ClaimPolicy()
    wrong = wrong_codes(r.card_code for r in w.respondents)
    t_start = w.clock.t
    one = w.emu.user("zl-bot")
    told = await _guess(w, [one], wrong[:1000], 7.2)          # one chat, 2 hours
    one.send_text(_variants(w.code(0), 0))
    assert "thử lại sau" in await one.wait_for_reply()          # limited: not even looked up
    bots = [w.emu.user(f"zl-bot-{i}") for i in range(100)]
    told += await _guess(w, bots, wrong[1000:], 3.6)           # 100 chats, 1 hour: a campaign
    honest = w.emu.user("zl-citizen")
    honest.send_text(_variants(w.code(1), 1))
    assert "chậm lại" in await honest.wait_for_reply()
    await check_guessing_bounded(w.db, "zalo", t_start, told, policy)
    w.clock.t += policy.campaign_spacing_s + 1
    honest.send_text(_variants(w.code(1), 2))
    assert (await next_prompt(honest))[-1].startswith("Câu 1/")
    w.clock.t += HOUR
    one.send_text(_variants(w.code(0), 3))
    assert (await next_prompt(one))[-1].startswith("Câu 1/")


async def test_hostile_claims_junk_long_and_replayed(world: World):
    u = world.emu.user("zl-hostile")
    for junk in ("x" * 10_000, "🙂" * 40, "KS " + "Z" * 70, "\x00\x01KS\u200b", "mã số: 😀😀😀"):
        u.send_text(junk)
        reply = await u.wait_for_reply()
        assert "Câu" not in reply and "Traceback" not in reply
    ev = u.send_text(f"KS {new_short_code()}")          # one wrong code, delivered five times
    assert "không đúng" in await u.wait_for_reply()
    for _ in range(4):
        u.redeliver(ev)
    await asyncio.sleep(0.5)
    assert await world.db.fetchval("SELECT COUNT(*) FROM claim_attempts WHERE chat_id = 'zl-hostile'"
                                   " AND outcome = 'failed'") == 1
    assert u.unread() == []                             # a redelivery is answered once
    u.send_text(f"KS {world.code(4)}")                  # not limited by the replays
    assert (await next_prompt(u))[-1].startswith("Câu 1/")
    # a replayed claim of someone else's code asks its holder only once
    holder = await _holder_with_two_answers(world, "zl-h2", 3)
    other = world.emu.user("zl-o2")
    ev = other.send_text(f"KS {world.code(3)}")
    await other.wait_for_reply()
    for _ in range(3):
        other.redeliver(ev)
    await _ask(holder)
    await asyncio.sleep(0.5)
    assert [t for t in holder.unread() if "vừa được gửi" in t] == []
    assert await world.db.fetchval("SELECT COUNT(*) FROM claim_handovers") == 1
