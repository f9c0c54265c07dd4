"""Telegram: an update is acknowledged only once it is durable, whatever storage does.

Real PTB against the emulator, real engine and SQLite. A full disk is SQLite's own SQLITE_FULL
(``demo.seed.fill_disk``: ``PRAGMA max_page_count`` on the writer connection); a lock is a
second connection holding the write lock past the busy timeout (SQLITE_BUSY).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from engine import compile_survey, step as engine_step
from engine.types import TypedText
from bot.telegram.channel import TelegramChannel
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.responses import current_answers, get_response_for_respondent
from demo.emulators.telegram import SimUser
from demo.seed import create_small_page_database, fill_disk, free_disk
from survey_defs.loader import get_survey
from support.telegram_world import World, make_world


async def reopen(world: World, **db_kw) -> None:
    """The bot restarted on the same file with other database options (e.g. a short busy timeout)."""
    await world.channel.stop()
    await world.db.close()
    world.db = await Database.open(str(world.path), **db_kw)
    world.store = SqliteConversationStore(world.db)
    world.channel = TelegramChannel(world.settings, world.store)
    await world.channel.start()


async def no_reply(user, seconds: float) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await user.wait_for_reply(timeout=seconds)


async def stored(world: World, token: str) -> dict:
    resp = await get_response_for_respondent(world.db, world.respondent_ids[token])
    return {} if resp is None else await current_answers(world.db, resp.id)


async def test_polling_confirms_an_update_only_once_it_is_stored(tmp_path: Path) -> None:
    """PTB's Updater confirmed a batch on its next getUpdates while handlers still ran: a crash
    then lost the answer. Now an update stays with Telegram until its step is committed."""
    w = await make_world(tmp_path)
    release = threading.Event()
    try:
        lan = w.emu.user(5001, "Lan")
        await lan.start(w.tokens["sipas-households"][0])
        await lan.wait_for_keyboard()
        blocked = w.db.write(lambda conn: release.wait(30))   # the writer is busy for a while
        await lan.press_button("1. ")                        # consent: its commit waits
        pressed = w.emu.pending_update_ids()[-1]
        mai = w.emu.user(5002, "Mai")
        await mai.send_text("xin chào")                      # another citizen writes meanwhile
        await asyncio.sleep(1.5)                             # several polls' worth of time
        assert pressed in w.emu.pending_update_ids(), "confirmed to Telegram before it was stored"
        assert await stored(w, w.tokens["sipas-households"][0]) == {}
        release.set()
        await blocked
        await lan.wait_for_keyboard()                        # the next question, no resend
        assert "vui lòng bấm /start" in (await mai.wait_for_reply()).text.lower()
        assert await stored(w, w.tokens["sipas-households"][0]) == {"q_consent": 1}
        await w.emu.wait_drained()                           # and then confirmed
    finally:
        release.set()
        await w.close()


async def answer_plainly(world: World, user) -> tuple[str, object]:
    """Answer the current question (the first option, or 47 for a number); returns (step, value)."""
    state = (await world.store.session_for_chat("telegram", str(user.chat_id))).state
    sp = compile_survey(get_survey("sipas-households")).by_id[state.current]
    assert sp.type in ("yesno", "single", "matrix", "number"), sp.type
    if sp.type == "number":
        await user.send_text("47")
        return sp.id, 47
    await user.press_button("1. ")
    return sp.id, sp.values[0]


async def test_a_full_disk_keeps_the_update_and_the_bot_recovers_by_itself(tmp_path: Path) -> None:
    """The disk fills up while a citizen answers: the answer that cannot be stored stays with
    Telegram (no reply, not confirmed), and once there is room again the bot stores it and
    replies by itself; the citizen never sends anything twice."""
    create_small_page_database(tmp_path / "hailong.db")
    w = await make_world(tmp_path)
    token = w.tokens["sipas-households"][1]
    try:
        lan = w.emu.user(5003, "Lan")
        await lan.start(token)
        await lan.wait_for_keyboard()
        await fill_disk(w.db)
        given: dict[str, object] = {}
        full_at = None
        for n in range(17):
            step_id, value = await answer_plainly(w, lan)
            given[step_id] = value
            try:
                await lan.wait_for_keyboard(timeout=2.0)
            except asyncio.TimeoutError:
                full_at = n
                break
        assert full_at is not None, "the disk never filled up"
        assert w.channel.stats.storage_unavailable >= 1 and w.channel.stats.errors == 0
        assert w.emu.pending_update_ids(), "an answer that storage could not take was confirmed"
        assert step_id not in await stored(w, token)
        await asyncio.sleep(1.0)                             # retried meanwhile, still full
        assert step_id not in await stored(w, token)
        await free_disk(w.db)                                # room again: nobody resends anything
        await lan.wait_for_keyboard(timeout=40)
        for _ in range(2):
            step_id, value = await answer_plainly(w, lan)
            given[step_id] = value
            await lan.wait_for_keyboard()
        await w.emu.wait_drained()
        assert await stored(w, token) == given               # every answer once, none lost
    finally:
        await w.close()


async def test_webhook_answers_500_while_the_database_is_locked_and_telegram_retries(tmp_path: Path) -> None:
    w = await make_world(tmp_path, telegram_mode="webhook", listen_port=0,
                         telegram_webhook_url="http://127.0.0.1:{port}/telegram",
                         telegram_webhook_secret="right-secret_42")
    other: sqlite3.Connection | None = None
    try:
        await reopen(w, busy_timeout_ms=200)
        other = sqlite3.connect(w.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")                     # another process holds the write lock
        lan = w.emu.user(5005, "Lan")
        await lan.start(w.tokens["sipas-households"][3])
        await no_reply(lan, 2.0)
        assert "500" in (w.emu.bot.webhook_last_error or (0, ""))[1]
        assert w.emu.pending_update_ids(), "the webhook acknowledged an update it did not store"
        other.execute("ROLLBACK")                            # the lock is released
        first = await lan.wait_for_keyboard(timeout=20)
        assert "Câu 1/" in first.text
        assert w.channel.stats.storage_unavailable >= 1
    finally:
        if other is not None:
            other.close()
        await w.close()


async def test_an_update_id_seen_long_ago_is_a_new_update(tmp_path: Path) -> None:
    """After a week without updates Telegram picks the next update id at random: ids the bot has
    stored can come back. A /start with such an id is answered, by the running bot too."""
    w = await make_world(tmp_path)
    now = [0.0]
    try:
        import time as _time

        await w.channel.stop()
        w.store = SqliteConversationStore(w.db, clock=lambda: _time.time() + now[0])
        w.channel = TelegramChannel(w.settings, w.store, clock=lambda: _time.time() + now[0])
        await w.channel.start()
        lan = w.emu.user(5006, "Lan")
        await lan.start(w.tokens["sipas-households"][4])     # update 1
        await lan.wait_for_keyboard()
        await lan.press_button("1. ")                        # update 2
        await lan.wait_for_keyboard()
        await w.emu.wait_drained()
        now[0] = 8 * 86_400.0                                # a week and a day without updates
        w.emu.restart_update_ids(1)
        mai = w.emu.user(5007, "Mai")
        await mai.start(w.tokens["sipas-households"][0])     # update 1 again: a new update
        first = await mai.wait_for_keyboard(timeout=10)
        assert "Câu 1/" in first.text
        await mai.press_button("1. ")                        # update 2 again
        await mai.wait_for_keyboard(timeout=10)
        assert await stored(w, w.tokens["sipas-households"][0]) == {"q_consent": 1}
    finally:
        await w.close()


async def test_hailong_run_prunes_update_keys_past_the_window(tmp_path: Path) -> None:
    import time as _time

    from hailong.run import run_channels
    from storage.step_write import PROCESSED_WINDOW_S

    w = await make_world(tmp_path)
    await w.channel.stop()
    old = _time.time() - PROCESSED_WINDOW_S - 60
    await w.db.write(lambda c: c.executemany("INSERT INTO processed_updates VALUES ('telegram', ?, ?)",
                                             [(str(i), old) for i in range(12_000)] + [("recent", _time.time())]))
    await w.db.close()
    stop = asyncio.Event()
    task = asyncio.create_task(run_channels(w.settings, ["telegram"], stop, fieldwork_jobs=False))
    try:
        check = await Database.open(str(w.path))
        try:
            for _ in range(200):
                if await check.fetchval("SELECT COUNT(*) FROM processed_updates") == 1:
                    break
                await asyncio.sleep(0.05)
            assert [tuple(r) for r in await check.fetchall("SELECT update_key FROM processed_updates")] == [("recent",)]
        finally:
            await check.close()
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await w.emu.stop()


async def consented(w: World, user_id: int, token: str) -> SimUser:
    """A citizen who opened the invite ``token`` and pressed the consent: the age is asked."""
    lan = w.emu.user(user_id, "Lan")
    await lan.start(token)
    await lan.wait_for_keyboard()
    await lan.press_button("1. ")                        # consent
    await lan.wait_for_keyboard()
    return lan


async def test_a_reply_lost_in_a_crash_is_shown_after_the_restart_once(tmp_path: Path) -> None:
    """The bot committed an answer and died before replying; Telegram redelivers the update,
    which finds its step committed. The restarted bot shows the current question anyway, once."""
    w = await make_world(tmp_path)
    token = w.tokens["sipas-households"][0]
    try:
        lan = await consented(w, 5008, token)
        await w.channel.stop()                               # the bot is down ...
        upd = await lan.send_text("47")                      # ... the citizen answers the age
        # What the dead bot had done with it: the step committed, no reply sent.
        session = await w.store.session_for_chat("telegram", "5008")
        survey = await w.store.survey(session.state.survey_hash)
        res = engine_step(survey, session.state, TypedText("47"), 1.0)
        assert await w.store.commit_step(session, res.state, res.events, "telegram", str(upd["update_id"]))
        await reopen(w)
        shown = await lan.wait_for_keyboard()
        assert "Câu 3/" in shown.text
        await w.emu.wait_drained()                           # the redelivered "47" was a no-op
        await asyncio.sleep(0.5)
        assert len(lan.new_bot_messages()) == 1             # the question, once
        assert await stored(w, token) == {"q_consent": 1, "q_age": 47}
        await lan.press_button("1. ")                        # answers the question shown again
        assert "Câu 4/" in (await lan.wait_for_keyboard()).text
        await asyncio.sleep(0.3)
        seen = len(w.emu.bot_messages(5008))
        await reopen(w)                                      # nothing owed now: nothing sent
        await asyncio.sleep(0.5)
        assert len(w.emu.bot_messages(5008)) == seen
    finally:
        await w.close()


async def test_a_redelivered_press_whose_worker_died_before_replying_shows_the_question(tmp_path: Path) -> None:
    """Several workers: the worker that committed a pressed answer died before replying, after
    this worker had started (its start-up sweep could not see the owed reply). Telegram
    redelivers the press here. Its question has passed (the step moved the ``seq`` on), so it
    must not get the stale-button notice and nothing more: it is recognised as the redelivery
    and the current question is shown, once. A later press on that old button is just stale."""
    w = await make_world(tmp_path)
    token = w.tokens["sipas-households"][0]
    try:
        lan = w.emu.user(5011, "Lan")
        await lan.start(token)
        assert "Câu 1/" in (await lan.wait_for_keyboard()).text
        await asyncio.sleep(0.3)                             # this worker's "sent" mark is written
        dead = SqliteConversationStore(w.db)                 # the other worker, about to die
        session = await dead.session_for_chat("telegram", "5011")
        survey = await dead.survey(session.state.survey_hash)
        res = engine_step(survey, session.state, TypedText("1"), 1.0)      # the consent, pressed
        redelivered = w.emu.bot.next_update_id               # the press's update, as Telegram numbers it
        assert await dead.commit_step(session, res.state, res.events, "telegram", str(redelivered))
        q1 = lan.last_keyboard_message()
        consent = next(d for label, d in q1.buttons if label.startswith("1. "))
        await lan.press(q1.message_id, consent or "")        # ... and delivered again, here
        assert w.emu.bot.next_update_id == redelivered + 1
        assert "Câu 2/" in (await lan.wait_for_keyboard()).text
        await w.emu.wait_drained()
        await asyncio.sleep(0.3)
        assert len(lan.new_bot_messages()) == 1              # the question, once
        qid = await lan.press(q1.message_id, consent or "")  # a real stale press now
        toast = await lan.wait_callback_answer(qid)
        assert toast.text and "đã qua" in toast.text
        await asyncio.sleep(0.3)
        assert lan.new_bot_messages() == []
        assert await stored(w, token) == {"q_consent": 1}    # stored once
    finally:
        await w.close()


async def test_a_press_on_a_question_answered_elsewhere_meanwhile_is_stale_not_written_over(tmp_path: Path) -> None:
    """The bot answers a chat's next update from the session its last step committed (the
    cache, storage.conversations). The citizen answered the consent on the page meanwhile
    (another store on the database), then presses the consent button in the chat: the step
    built on the cached session is refused when written, the update is handled again on a fresh
    read, and the press is what it is now: a stale button. The page's answer stands, once."""
    w = await make_world(tmp_path)
    token = w.tokens["sipas-households"][0]
    try:
        lan = await consented(w, 5012, token)
        await lan.send_text("47")                            # age: the chat's session is cached now
        q3 = await lan.wait_for_keyboard()
        assert "Câu 3/" in q3.text
        page = SqliteConversationStore(w.db)
        session = await page.session_for_chat("telegram", "5012")
        survey = await page.survey(session.state.survey_hash)
        step_id = session.state.current
        res = engine_step(survey, session.state, TypedText("1"), 1.0)      # "yes" on the page
        assert await page.commit_step(session, res.state, res.events, "page", "page-1")
        no = next(d for label, d in q3.buttons if label.startswith("2. "))
        qid = await lan.press(q3.message_id, no or "")     # "no" in the chat, on the old question
        toast = await lan.wait_callback_answer(qid)
        assert toast.text and "đã qua" in toast.text
        assert w.channel.stats.stale_cache == 1 and w.channel.stats.stale == 1
        answers = await stored(w, token)
        assert answers["q_consent"] == 1 and answers["q_age"] == 47 and answers[step_id] == 1
    finally:
        await w.close()
