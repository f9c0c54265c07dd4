"""The citizen's rights (issue 15, item 2), storage and reply side: /dulieu shows masked contact
data and answers, /xoa erases at once and ends an unfinished questionnaire, every request is
logged with its 15-day deadline and audited, staff log and close requests made outside the chat,
overdue ones are found. The chat transcripts on Telegram and Zalo are in tests/bot/test_privacy_chat.py."""

from __future__ import annotations

import time

import pytest

from engine import step
from engine.types import Choose, Start
from bot.rights import MAX_MESSAGE, render_erased, render_my_data, rights_command
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.rights import (DEADLINE_DAYS, RightsError, add_request, close_request, erase_chat, list_requests,
                            mask_value, my_data, overdue_requests)
from storage.rounds import update_round
from demo.seed import seed_round
from survey_defs.loader import get_survey
from support.db import table_columns


@pytest.fixture
async def world(db_url):
    """On SQLite and on PostgreSQL (tests/conftest.py)."""
    survey = get_survey("sipas-households")
    db = await Database.open(db_url)
    seeded = await seed_round(db, survey, respondents=3)
    store = SqliteConversationStore(db)
    claim = await store.claim_invite(seeded.respondents[0].token, "zalo", "z-100200300")
    s = claim.session
    res = step(survey, s.state, Start(), time.time())
    assert await store.commit_step(s, res.state, res.events, "zalo", "k1")
    s = await store.session_for_chat("zalo", "z-100200300")
    res = step(survey, s.state, Choose("q_consent", 1), time.time())
    assert await store.commit_step(s, res.state, res.events, "zalo", "k2")
    yield db, store, seeded, survey
    await db.close()


def test_commands_are_recognised_and_nothing_else():
    assert rights_command("/dulieu") == rights_command("/mydata") == rights_command(" /DULIEU ") == "access"
    assert rights_command("/xoa") == rights_command("/delete") == rights_command("/xoa@HailongBot now") == "erase"
    for other in (None, "", "xoa", "dulieu", "/x", "/xoaa", "/start xoa", "hài lòng", "/dulieu" * 1000):
        assert rights_command(other) is None, other


def test_masking_of_contact_values():
    assert mask_value("phone", "0912345678") == "09******78"
    assert mask_value("name", "Nguyễn Văn An") == "N. V. A."
    assert mask_value("telegram_id", "770055443322") == "…322"
    assert mask_value("address", "Bản Nậm Sỏ, Tân Uyên") == "Bản …"
    assert mask_value("phone", None) is None and mask_value("phone", "12") == "**"


async def test_mydata_shows_masked_contact_and_answers_and_is_logged(world):
    db, store, seeded, survey = world
    data = await my_data(db, "zalo", "z-100200300")
    assert data is not None and data.round_code == "R1" and data.status == "started"
    assert data.contact["phone"] == "09******00" and data.contact["name"] == "N. V. 1."
    assert data.answers == [("q_consent", "1")] and data.consents and data.consents[0][3] is True
    msgs = render_my_data(data, survey, "vi")
    text = "\n".join(msgs)
    assert "0900000000" not in text and "Nguyễn Văn 1" not in text and "09******00" in text
    assert "Có" in text and "/xoa" in text and all(len(m) <= MAX_MESSAGE for m in msgs)
    en = "\n".join(render_my_data(data, survey, "en"))
    assert "Yes" in en and "/delete" in en
    reqs = await list_requests(db, status=None)
    assert [(r.kind, r.status, r.channel) for r in reqs] == [("access", "done", "zalo")]
    assert reqs[0].due_at - reqs[0].received_at == DEADLINE_DAYS * 86_400
    audit = await db.fetchall("SELECT action FROM audit_log WHERE action LIKE 'privacy.request%'")
    assert [r[0] for r in audit] == ["privacy.request.access"]
    # an unknown chat: nothing shown, the request still logged (without any chat id)
    assert await my_data(db, "zalo", "nobody") is None
    assert "không lưu dữ liệu" in render_my_data(None, survey, "vi")[0]
    assert "chat_id" not in table_columns("privacy_requests") and "round_id" in table_columns("privacy_requests")


async def test_erase_mid_survey_deletes_contact_and_binding_and_ends(world):
    db, store, seeded, survey = world
    pid = seeded.respondents[0].id
    counts = await erase_chat(db, "zalo", "z-100200300")
    assert counts["contacts"] == 1 and counts["chat_bindings"] == 1 and counts["ended"] == 1
    assert await db.fetchval("SELECT COUNT(*) FROM contacts WHERE respondent_id = ?", (pid,)) == 0
    assert await db.fetchval("SELECT COUNT(*) FROM chat_bindings WHERE respondent_id = ?", (pid,)) == 0
    assert await db.fetchval("SELECT status FROM respondents WHERE id = ?", (pid,)) == "refused"
    assert await db.fetchval("SELECT token FROM respondents WHERE id = ?", (pid,)) != seeded.respondents[0].token
    assert await store.session_for_chat("zalo", "z-100200300") is None
    # the old invitation can no longer be claimed
    claim = await store.claim_invite(seeded.respondents[0].token, "zalo", "z-other")
    assert claim.status != "ok"
    # answers are kept de-identified by default (the consent notice says so)
    assert await db.fetchval("SELECT COUNT(*) FROM answers_current WHERE response_id ="
                             " (SELECT id FROM responses WHERE respondent_id = ?)", (pid,)) == 1
    assert "giữ ở dạng ẩn danh" in render_erased(counts, "vi")[0]
    assert await erase_chat(db, "zalo", "z-100200300") is None          # a second /xoa: nothing left
    reqs = await list_requests(db, status=None)
    assert [(r.kind, r.status) for r in reqs] == [("erase", "done"), ("erase", "done")]


async def test_a_round_that_erases_answers(world):
    db, store, seeded, survey = world
    await update_round(db, seeded.round.id, settings={"erase_answers": True})
    counts = await erase_chat(db, "zalo", "z-100200300")
    assert counts["answers_deleted"] == 1 and counts["answers_current_deleted"] == 1
    assert await db.fetchval("SELECT COUNT(*) FROM answers") == 0
    assert "cũng đã được xóa" in render_erased(counts, "vi")[0]
    # a submitted questionnaire whose answers are erased is withdrawn: analytics leaves it out
    pid = seeded.respondents[1].id
    s = (await store.claim_invite(seeded.respondents[1].token, "zalo", "z-2")).session
    res = step(survey, s.state, Start(), time.time())
    assert await store.commit_step(s, res.state, res.events, "zalo", "k3")
    await db.write(lambda c: c.execute("UPDATE respondents SET status = 'completed' WHERE id = ?", (pid,)))
    await db.write(lambda c: c.execute("UPDATE responses SET status = 'submitted' WHERE respondent_id = ?", (pid,)))
    await erase_chat(db, "zalo", "z-2")
    assert await db.fetchval("SELECT status FROM respondents WHERE id = ?", (pid,)) == "refused"


async def test_staff_requests_open_overdue_and_closed(world):
    db, store, seeded, survey = world
    code = seeded.respondents[1].card_code
    t0 = time.time()
    req = await add_request(db, "erase", seeded.round.id, code.lower(), actor="staff:lan", note="gọi điện", at=t0)
    assert req.status == "open" and req.due_at == t0 + DEADLINE_DAYS * 86_400
    assert await overdue_requests(db, t0 + 14 * 86_400) == []
    assert [r.id for r in await overdue_requests(db, t0 + 16 * 86_400)] == [req.id]
    with pytest.raises(RightsError):
        await add_request(db, "erase", seeded.round.id, "KS-NOPE", actor="x")
    with pytest.raises(RightsError):
        await add_request(db, "forget", seeded.round.id, code, actor="x")
    done = await close_request(db, req.id, actor="staff:lan")
    assert done.status == "done" and done.outcome["contacts"] == 1
    assert await db.fetchval("SELECT COUNT(*) FROM contacts WHERE respondent_id = ?",
                             (seeded.respondents[1].id,)) == 0
    with pytest.raises(RightsError, match="already"):
        await close_request(db, req.id, actor="staff:lan")
    other = await add_request(db, "access", seeded.round.id, seeded.respondents[2].card_code, actor="staff:lan")
    refused = await close_request(db, other.id, actor="staff:lan", refuse_reason="không xác minh được / unverified")
    assert refused.status == "refused" and await list_requests(db) == []
