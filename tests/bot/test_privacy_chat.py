"""The citizen's rights in the chat (issue 15, item 2): a citizen asks /dulieu and then /xoa in the
middle of the questionnaire, on Telegram (real PTB against the emulator) and on Zalo (the real
client against the emulator). The transcript is checked message by message, then the database:
contact data and chat binding gone, the questionnaire ended, the requests logged with their
deadline; a redelivered /xoa does nothing twice."""

from __future__ import annotations

import asyncio


from bot.zalo.pacer import Pacer
from bot.zalo.channel import ZaloChannel
from bot.zalo.client import ZaloBotClient
from demo.emulators.zalo import ZaloEmulator
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.respondents import ContactIn, RespondentIn, insert_respondents
from storage.rights import DEADLINE_DAYS, list_requests
from storage.rounds import create_round, open_round
from storage.units import UnitIn, insert_units
from survey_defs.loader import get_survey
from support.telegram_world import make_world

PHONE = "0912345678"
NAME = "Lò Thị Mai"


async def _db_state(db: Database, pid: int) -> dict:
    return {
        "contacts": await db.fetchval("SELECT COUNT(*) FROM contacts WHERE respondent_id = ?", (pid,)),
        "bindings": await db.fetchval("SELECT COUNT(*) FROM chat_bindings WHERE respondent_id = ?", (pid,)),
        "status": await db.fetchval("SELECT status FROM respondents WHERE id = ?", (pid,)),
        "answers": await db.fetchval("SELECT COUNT(*) FROM answers_current AS a JOIN responses AS r"
                                     " ON r.id = a.response_id WHERE r.respondent_id = ?", (pid,)),
    }


async def _check_requests(db: Database) -> None:
    reqs = await list_requests(db, status=None)
    assert [(r.kind, r.status) for r in reqs] == [("access", "done"), ("erase", "done")]
    assert all(r.due_at - r.received_at == DEADLINE_DAYS * 86_400 for r in reqs)
    actions = [r[0] for r in await db.fetchall("SELECT action FROM audit_log WHERE action LIKE 'privacy.%' ORDER BY id")]
    assert actions == ["privacy.request.access", "privacy.request.erase"]


async def test_telegram_mydata_then_delete_mid_survey(tmp_path):
    w = await make_world(tmp_path, surveys=("sipas-households",), per_survey=2)
    try:
        token = w.tokens["sipas-households"][0]
        pid = w.respondent_ids[token]
        await w.db.write(lambda c: c.execute("INSERT INTO contacts (respondent_id, name, phone) VALUES (?, ?, ?)",
                                             (pid, NAME, PHONE)))
        user = w.emu.user(4242, "Mai")
        await user.start(token)
        first = await user.wait_for_keyboard()
        assert "Sở Nội vụ" in first.text and "/dulieu" in first.text      # the notice comes with the question
        await user.press_button("1. ")                                     # consent: Có
        await user.wait_for_keyboard()
        await user.send_text("52")                                         # age
        await user.wait_for_keyboard()

        await user.send_text("/dulieu")
        mine = (await user.wait_for_reply()).text
        assert "Dữ liệu hailong lưu về Ông/Bà" in mine and "09******78" in mine and "L. T. M." in mine
        assert PHONE not in mine and NAME not in mine
        assert "Ông/Bà bao nhiêu tuổi?: 52" in mine and "/xoa" in mine
        before = await _db_state(w.db, pid)
        assert before == {"contacts": 1, "bindings": 1, "status": "started", "answers": 2}
        session = await w.store.session_for_chat("telegram", "4242")
        assert session is not None and session.state.current == "q_household_rep"   # place unchanged

        await user.send_text("/xoa")
        gone = (await user.wait_for_reply()).text
        assert "Đã rút lại đồng ý" in gone and "ẩn danh" in gone and "Phiếu chưa xong đã dừng" in gone
        after = await _db_state(w.db, pid)
        assert after == {"contacts": 0, "bindings": 0, "status": "refused", "answers": 2}
        assert await w.store.session_for_chat("telegram", "4242") is None
        await _check_requests(w.db)

        # after the erasure: nothing linked to this chat any more, in English too
        await user.send_text("/mydata")
        assert "không lưu dữ liệu" in (await user.wait_for_reply()).text
        transcript = [m.text for m in user.transcript()]
        assert transcript.index("/dulieu") < transcript.index("/xoa") < transcript.index("/mydata")
    finally:
        await w.close()


async def test_zalo_mydata_then_delete_mid_survey_and_redelivery(tmp_path):
    survey = get_survey("sipas-households")
    db = await Database.open(tmp_path / "z.db")
    rnd = await create_round(db, code="LC-Z", survey=survey)
    await open_round(db, rnd.id)
    ids = await insert_units(db, "demo", [UnitIn(kind="village", code="V1", name="Bản Nà Cại")])
    [resp] = await insert_respondents(db, rnd.id, [RespondentIn(ids["V1"], "hộ thứ 1",
                                                                contact=ContactIn(name=NAME, phone=PHONE))])
    store = SqliteConversationStore(db)
    emu = await ZaloEmulator(token="777:privacy").start()
    client = ZaloBotClient("777:privacy", emu.base_url, timeout=5)
    channel = await ZaloChannel(client, store, pacer=Pacer(rate=None, per_chat_rate=None)).start()
    stop = asyncio.Event()
    task = asyncio.create_task(channel.run_polling(stop, poll_timeout=1))
    try:
        user = emu.user("zl-mai", "Mai")
        user.send_text(resp.card_code)
        got = await user.wait_quiet()
        assert any("Sở Nội vụ" in t and "/xoa" in t for t in got)
        user.send_text("1")                                                # consent
        await user.wait_quiet()
        user.send_text("/dulieu")
        mine = "\n".join(await user.wait_quiet())
        assert "09******78" in mine and PHONE not in mine and "Có" in mine
        assert all(len(t) <= 2000 for t in user.received)
        event = user.send_text("/xoa")
        gone = "\n".join(await user.wait_quiet())
        assert "Đã rút lại đồng ý" in gone
        assert await _db_state(db, resp.id) == {"contacts": 0, "bindings": 0, "status": "refused", "answers": 1}
        n = len(user.received)
        user.redeliver(event)                                              # a platform retry
        await asyncio.sleep(0.5)
        assert len(user.received) == n                                     # not answered twice
        await _check_requests(db)
        # the next message from this chat is a stranger's: asked for a code, no survey resumes
        user.send_text("2")
        again = "\n".join(await user.wait_quiet())
        assert "mã" in again.lower() and "Câu" not in again
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await channel.stop(drain_timeout=2)
        await client.close()
        await emu.stop()
        await db.close()
