"""Zalo: nothing a citizen sent is lost when storage cannot take it (a full disk: SQLite's own
SQLITE_FULL through ``demo.seed.fill_disk``), on the webhook and in polling mode."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from aiohttp import web

from bot.zalo.pacer import Pacer
from bot.zalo.channel import ZaloChannel
from bot.zalo.client import ZaloBotClient, parse_update
from demo.emulators.zalo import ZaloEmulator
import engine
from engine.types import TypedText
from demo.emulators.zalo_script import next_prompt, scripted_answer
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.respondents import RespondentIn, insert_respondents
from storage.responses import answer_history, get_response_for_respondent
from storage.rounds import create_round, open_round
from demo.seed import create_small_page_database, fill_disk, free_disk
from storage.units import UnitIn, insert_units
from survey_defs.loader import get_survey

TOKEN = "778:zalo-durability-test"
SECRET = "durable-secret-123"


async def setup(tmp_path: Path, **emu_kw):
    path = tmp_path / "zalo.db"
    create_small_page_database(path)
    db = await Database.open(path)
    rnd = await create_round(db, code="LC-2025", survey=get_survey("sipas-households"))
    await open_round(db, rnd.id)
    ids = await insert_units(db, "demo", [UnitIn(kind="village", code="V1", name="Bản Nà Cại")])
    people = await insert_respondents(db, rnd.id, [RespondentIn(ids["V1"], f"hộ {i}") for i in range(3)])
    store = SqliteConversationStore(db)
    emu = await ZaloEmulator(token=TOKEN, **emu_kw).start()
    client = ZaloBotClient(TOKEN, emu.base_url, timeout=5)
    channel = await ZaloChannel(client, store, pacer=Pacer(rate=None, per_chat_rate=None)).start()
    return db, people, emu, client, channel


async def teardown(db: Database, emu: ZaloEmulator, client: ZaloBotClient, channel: ZaloChannel) -> None:
    """What ``setup`` started, stopped in reverse order (the channel drains its queue first)."""
    await channel.stop(drain_timeout=2)
    await client.close()
    await emu.stop()
    await db.close()


async def history(db: Database, respondent_id: int) -> list[tuple[str, object]]:
    row = await get_response_for_respondent(db, respondent_id)
    return [] if row is None else [(a.step_id, a.value) for a in await answer_history(db, row.id)]


async def test_webhook_refuses_what_it_cannot_store_and_the_platform_delivers_it_later(tmp_path: Path) -> None:
    db, people, emu, client, channel = await setup(tmp_path, webhook_retries=200)
    runner = web.AppRunner(channel.webhook_app("/zalo", SECRET), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        await client.set_webhook(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/zalo", SECRET)
        rng = random.Random(3)
        lan = emu.user("zl-full", "Lan")
        lan.send_text(f"KS {people[0].card_code}")
        prompt = (await next_prompt(lan, 10))[-1]
        await fill_disk(db)
        sent = 0
        while True:                       # answer until the disk is full: no reply comes
            lan.send_text(scripted_answer(prompt, rng) or "")
            sent += 1
            try:
                prompt = (await next_prompt(lan, 2.0))[-1]
            except TimeoutError:
                break
            assert sent < 40, "the disk never filled up"
        before = await history(db, people[0].id)
        await asyncio.sleep(1.0)
        assert emu.stats["webhook_retries"] >= 2 and emu.pending_events >= 1
        assert await history(db, people[0].id) == before
        await free_disk(db)               # room again: the platform's next retry is stored
        prompt = (await next_prompt(lan, 20))[-1]
        assert len(await history(db, people[0].id)) == len(before) + 1
        lan.send_text(scripted_answer(prompt, rng) or "")
        await next_prompt(lan, 10)
        hist = await history(db, people[0].id)
        assert len(hist) == len(before) + 2 and len({s for s, _ in hist}) == len(hist)   # none twice
        assert emu.stats["webhook_failed"] == 0
    finally:
        await runner.cleanup()
        await teardown(db, emu, client, channel)


async def test_polling_asks_in_both_languages_to_send_again_and_recovers(tmp_path: Path) -> None:
    db, people, emu, client, channel = await setup(tmp_path)
    stop = asyncio.Event()
    task = asyncio.create_task(channel.run_polling(stop, poll_timeout=1))
    try:
        rng = random.Random(4)
        mai = emu.user("zl-poll", "Mai")
        mai.send_text(f"KS {people[1].card_code}")
        prompt = (await next_prompt(mai, 10))[-1]
        await fill_disk(db)
        for _ in range(40):
            answer = scripted_answer(prompt, rng) or ""
            mai.send_text(answer)
            reply = await mai.wait_for_reply(5)
            if "send your message again" in reply:
                break
            prompt = reply if "Câu" in reply else (await next_prompt(mai, 5))[-1]
        else:
            raise AssertionError("the disk never filled up")
        assert "Vui lòng gửi lại" in reply and "Please send your message again" in reply
        before = await history(db, people[1].id)
        await free_disk(db)
        mai.send_text(answer)             # the citizen sends it again, as asked
        await next_prompt(mai, 10)
        hist = await history(db, people[1].id)
        assert len(hist) == len(before) + 1 and len({s for s, _ in hist}) == len(hist)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await teardown(db, emu, client, channel)


async def test_replies_queued_when_the_bot_died_are_sent_after_the_restart_once(tmp_path: Path) -> None:
    """Replies wait in the pacer's memory; Zalo never redelivers an event answered 200. The bot
    committed an answer and died with its reply still queued: the restarted bot sends the current
    question, once, and then nothing more on the next restart."""

    db, people, emu, client, channel = await setup(tmp_path)
    stop = asyncio.Event()
    task = asyncio.create_task(channel.run_polling(stop, poll_timeout=1))
    try:
        hoa = emu.user("zl-crash", "Hoa")
        hoa.send_text(f"KS {people[2].card_code}")
        first = (await next_prompt(hoa, 10))[-1]
        assert "Câu 1/" in first
        stop.set()
        await asyncio.wait_for(task, 5)
        await channel.stop(drain_timeout=2)                # the bot is gone
        store = channel.store
        session = await store.session_for_chat("zalo", "zl-crash")
        survey = await store.survey(session.state.survey_hash)
        res = engine.step(survey, session.state, TypedText("1"), 1.0)   # consent, committed ...
        assert await store.commit_step(session, res.state, res.events, "zalo", "m-lost")   # ... reply lost
        hoa.unread()                                         # what the citizen has read so far
        channel = await ZaloChannel(client, SqliteConversationStore(db),
                                    pacer=Pacer(rate=None, per_chat_rate=None)).start()
        again = (await next_prompt(hoa, 10))[-1]
        assert "Câu 2/" in again
        await asyncio.sleep(0.5)
        assert hoa.unread() == []                            # once
        await channel.stop(drain_timeout=2)
        channel = await ZaloChannel(client, SqliteConversationStore(db),
                                    pacer=Pacer(rate=None, per_chat_rate=None)).start()
        await asyncio.sleep(0.5)
        assert hoa.unread() == []                            # nothing owed any more
    finally:
        stop.set()
        await teardown(db, emu, client, channel)


async def test_a_redelivered_event_whose_worker_died_before_replying_shows_the_question(tmp_path: Path) -> None:
    """Several workers: the worker that committed an answer died before replying, after this
    worker had started (so its start-up sweep could not see the owed reply). The platform
    redelivers the event here: it is a duplicate (nothing stored twice), and the citizen is
    shown the current question, once; a further redelivery shows nothing more."""

    db, people, emu, client, channel = await setup(tmp_path)
    stop = asyncio.Event()
    task = asyncio.create_task(channel.run_polling(stop, poll_timeout=1))
    try:
        hoa = emu.user("zl-dead", "Hoa")
        hoa.send_text(f"KS {people[0].card_code}")
        assert "Câu 1/" in (await next_prompt(hoa, 10))[-1]
        await asyncio.sleep(0.3)                             # this worker's "sent" mark is written
        dead = SqliteConversationStore(db)                   # the other worker, about to die
        session = await dead.session_for_chat("zalo", "zl-dead")
        survey = await dead.survey(session.state.survey_hash)
        res = engine.step(survey, session.state, TypedText("1"), 1.0)
        assert await dead.commit_step(session, res.state, res.events, "zalo", "m-redelivered")
        hoa.unread()
        raw = {"event_name": "message.text.received", "message": {
            "from": {"id": "zl-dead", "display_name": "Hoa"}, "chat": {"id": "zl-dead", "chat_type": "PRIVATE"},
            "text": "1", "message_id": "m-redelivered", "date": 1730000000123}}
        before = await history(db, people[0].id)
        assert await channel.handle_update(parse_update(raw)) == "duplicate"
        again = (await next_prompt(hoa, 10))[-1]
        assert "Câu 2/" in again
        assert await channel.handle_update(parse_update(raw)) == "duplicate"   # redelivered again
        await asyncio.sleep(0.5)
        assert hoa.unread() == []                            # shown once
        assert await history(db, people[0].id) == before     # nothing stored twice
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await teardown(db, emu, client, channel)
