"""Repository functions fieldwork and analytics call: frames, respondents, outbox, re-check,
progress, expiry, paper import, analytics reads, audit."""

from __future__ import annotations

import json
import re
import time

import pandas as pd
import pytest

from engine.types import AnswerSet, StatusChanged
from storage.credentials import CODE_ALPHABET as CARD_ALPHABET, format_code, is_valid_code, normalise_code as normalise_card_code
from storage.audit import list_audit
from storage.conversations import SqliteConversationStore
from storage.outbox import (
    OutboxItem,
    cancel_pending,
    claim_outbox_batch,
    enqueue_outbox,
    get_outbox,
    mark_failed,
    mark_sent,
    outbox_counts,
    reminder_candidates,
    requeue_stale,
)
from storage.recheck import RecheckDraw, RecheckError, excluded_by_recheck, record_recheck_draw, record_recheck_outcome
from storage.respondents import (
    RespondentIn,
    contacts_for,
    get_respondent,
    mark_invited,
    progress_by_unit,
    substitute,
)
from storage.responses import (
    get_response,
    PaperResponseIn,
    current_answers,
    expire_idle,
    list_idle,
    read_current_answers,
    read_responses,
    read_units,
    store_paper_responses,
)
from storage.rounds import RoundError, close_round, create_round, rounds_to_close, update_round
from demo.seed import seed_round, tiny_survey
from storage.units import FrameError, UnitIn, insert_units, list_units


@pytest.fixture
async def seeded(db):
    return await seed_round(db, tiny_survey(), respondents=6, communes=2, quota=3)


async def answer(store, seeded, i, events, key, chat=None):
    claim = await store.claim_invite(seeded.respondents[i].token, "telegram", chat or f"c{i}")
    s = claim.session
    st = s.state
    st.status = "active"
    assert await store.commit_step(s, st, events, "telegram", key)
    return s


# ------------------------------------------------------------------ frames

async def test_units_import_is_all_or_nothing_and_upserts(db):
    ok = [UnitIn("district", "D1", "Huyện Sìn Hồ", admin_type=None),
          UnitIn("commune", "X1", "Xã Pa Tần", parent_code="D1", admin_type="III", is_admin_centre=True)]
    ids = await insert_units(db, "lc2024", ok)
    assert set(ids) == {"D1", "X1"}
    with pytest.raises(FrameError, match="unknown parent code 'NOPE'"):
        await insert_units(db, "lc2024", [UnitIn("commune", "X2", "Xã Tả Phìn", parent_code="D1"),
                                          UnitIn("village", "V1", "Bản Nậm Cấu", parent_code="NOPE")])
    assert await db.fetchval("SELECT COUNT(*) FROM units WHERE code = 'X2'") == 0  # nothing half-imported
    with pytest.raises(FrameError, match="admin type"):
        await insert_units(db, "lc2024", [UnitIn("commune", "X3", "Xã", admin_type="IV")])  # type: ignore[arg-type]
    again = await insert_units(db, "lc2024", [UnitIn("commune", "X1", "Xã Pa Tần (mới)", parent_code="D1")])
    assert again["X1"] == ids["X1"]
    names = [u.name for u in await list_units(db, frame="lc2024", kind="commune")]
    assert names == ["Xã Pa Tần (mới)"]


# ------------------------------------------------------------------ respondents

async def test_tokens_and_card_codes(db, seeded):
    tokens = {r.token for r in seeded.respondents}
    codes = {r.card_code for r in seeded.respondents}
    assert len(tokens) == len(codes) == 6
    for r in seeded.respondents:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,64}", r.token)
        # one scheme: storage.credentials: 7 characters, the last a check character
        assert len(r.card_code) == 7 and set(r.card_code) <= set(CARD_ALPHABET) and is_valid_code(r.card_code)
        assert normalise_card_code(f"ks {r.card_code.lower()}") == r.card_code
        assert normalise_card_code(f"Mã KS: {r.card_code[:3]}-{r.card_code[3:]}") == r.card_code
        assert normalise_card_code(format_code(r.card_code)) == r.card_code
    assert normalise_card_code("O0I1L5") is None


async def test_respondent_needs_a_reason_and_contacts_stay_apart(db, seeded):
    from storage.respondents import RespondentError, insert_respondents

    with pytest.raises(RespondentError):
        await insert_respondents(db, seeded.round.id, [RespondentIn(seeded.unit_ids["C1"], "  ")])
    contacts = await contacts_for(db, [r.id for r in seeded.respondents])
    assert contacts[seeded.respondents[0].id].name == "Nguyễn Văn 1"


async def test_mark_invited_and_substitute(db, seeded):
    ids = [r.id for r in seeded.respondents[:3]]
    assert await mark_invited(db, ids) == 3
    assert await mark_invited(db, ids) == 0
    await enqueue_outbox(db, [OutboxItem("telegram", "1", "reminder", "rem:x", respondent_id=ids[0])])
    new = await substitute(db, ids[0], RespondentIn(seeded.unit_ids["C1"], "hộ thay thế: hộ liền kề"),
                           actor="cán bộ A", reason="chuyển đi / moved away")
    assert new.substitute_of == ids[0] and new.status == "sampled"
    assert (await get_respondent(db, ids[0])).status == "substituted"
    assert await db.fetchval("SELECT COUNT(*) FROM outbox WHERE respondent_id = ? AND status = 'pending'", (ids[0],)) == 0
    assert [a.action for a in await list_audit(db, round_id=seeded.round.id)][0] == "respondent.substitute"


async def test_progress_by_unit(db, seeded):
    store = SqliteConversationStore(db)
    await answer(store, seeded, 0, (AnswerSet("q1", 1, 1.0), StatusChanged("submitted", "complete", 1.0)), "a")
    await answer(store, seeded, 2, (AnswerSet("q1", 1, 1.0),), "b")
    await answer(store, seeded, 1, (StatusChanged("ended", "refused", 1.0),), "c")
    prog = {p.code: p for p in await progress_by_unit(db, seeded.round.id)}
    c1, c2 = prog["C1"], prog["C2"]  # respondents 0, 2, 4 in C1; 1, 3, 5 in C2
    assert (c1.quota, c1.total, c1.completed, c1.started, c1.shortfall) == (3, 3, 1, 2, 2)
    assert c1.counts == {"completed": 1, "started": 1, "sampled": 1}
    assert c2.counts == {"refused": 1, "sampled": 2}
    assert c1.response_rate == pytest.approx(1 / 3)


# ------------------------------------------------------------------ outbox

async def test_outbox_idempotent_claim_retry_dead_requeue(db, seeded):
    r0, r1 = seeded.respondents[0].id, seeded.respondents[1].id
    items = [OutboxItem("telegram", "100", "invite", f"invite:{r0}", {"text": "Mời"}, seeded.round.id, r0),
             OutboxItem("telegram", "101", "reminder", f"rem:{r1}:1", {}, seeded.round.id, r1),
             OutboxItem("zalo", "z", "invite", "invite:z", {}, seeded.round.id, None)]
    assert await enqueue_outbox(db, items) == 3
    assert await enqueue_outbox(db, items) == 0  # a re-run never duplicates
    t = time.time()
    batch = await claim_outbox_batch(db, "telegram", 10, at=t)
    assert [m.kind for m in batch] == ["reminder", "invite"]  # reminders before bulk invites
    assert all(m.status == "sending" and m.attempts == 1 for m in batch)
    assert await claim_outbox_batch(db, "telegram", 10, at=t) == []
    rem, inv = batch
    await mark_sent(db, inv.id, "555")
    assert (await get_outbox(db, inv.id)).provider_message_id == "555"
    assert await mark_failed(db, rem.id, "429 Too Many Requests", retry_after=30, at=t) == "pending"
    assert await claim_outbox_batch(db, "telegram", 10, at=t + 10) == []
    again = await claim_outbox_batch(db, "telegram", 10, at=t + 31)
    assert [m.id for m in again] == [rem.id] and again[0].attempts == 2
    # crash: left in "sending", requeued after the lease
    assert await requeue_stale(db, older_than=60, at=t + 40) == 0
    assert await requeue_stale(db, older_than=60, at=t + 100) == 1
    assert await mark_failed(db, rem.id, "403 Forbidden", permanent=True) == "dead"
    assert (await outbox_counts(db, seeded.round.id))[("reminder", "dead")] == 1


async def test_reminders_cancelled_for_finished_respondents(db, seeded):
    store = SqliteConversationStore(db)
    r0 = seeded.respondents[0].id
    await enqueue_outbox(db, [OutboxItem("telegram", "c0", "reminder", "rem:0:1", {}, seeded.round.id, r0),
                              OutboxItem("telegram", "c0", "notice", "note:0", {}, seeded.round.id, r0)])
    await answer(store, seeded, 0, (AnswerSet("q1", 1, 1.0), StatusChanged("submitted", "complete", 1.0)), "k")
    claimed = await claim_outbox_batch(db, "telegram", 10)
    assert [m.kind for m in claimed] == ["notice"]
    assert await cancel_pending(db, r0, kinds=("reminder", "notice")) == 0


async def test_reminder_candidates(db, seeded):
    r = seeded.respondents
    await mark_invited(db, [x.id for x in r])
    await enqueue_outbox(db, [OutboxItem("telegram", "c", "reminder", "rem:1", {}, seeded.round.id, r[1].id)])
    batch = await claim_outbox_batch(db, "telegram", 5)
    await mark_sent(db, batch[0].id)
    await enqueue_outbox(db, [OutboxItem("telegram", "c", "reminder", "rem:2", {}, seeded.round.id, r[1].id)])
    cands = {c.respondent_id: c for c in await reminder_candidates(db, seeded.round.id)}
    assert len(cands) == 6
    c = cands[r[1].id]
    assert (c.status, c.reminders_sent, c.reminders_queued) == ("invited", 1, 1) and c.last_reminder_at


# ------------------------------------------------------------------ expiry and round close

async def test_expire_idle_and_comeback(db, seeded):
    store = SqliteConversationStore(db)
    s = await answer(store, seeded, 0, (AnswerSet("q1", 1, 1.0),), "k1")
    assert await list_idle(db, at=time.time() + 13 * 86400) == []
    idle = await expire_idle(db, at=time.time() + 15 * 86400)
    assert [i.respondent_id for i in idle] == [s.respondent_id]
    assert (await get_respondent(db, s.respondent_id)).status == "partial"
    st = (await store.session_for_chat("telegram", "c0")).state
    assert await store.commit_step(s, st, (AnswerSet("q2", 4, 2.0),), "telegram", "k2")
    assert (await get_respondent(db, s.respondent_id)).status == "started"


async def test_close_round_makes_started_partial(db, seeded):
    store = SqliteConversationStore(db)
    s = await answer(store, seeded, 0, (AnswerSet("q1", 1, 1.0),), "k1")
    await enqueue_outbox(db, [OutboxItem("telegram", "c", "invite", "inv:9", {}, seeded.round.id, seeded.respondents[5].id)])
    await close_round(db, seeded.round.id, actor="cán bộ B", reason="hết hạn")
    assert (await get_respondent(db, s.respondent_id)).status == "partial"
    assert (await outbox_counts(db, seeded.round.id))[("invite", "cancelled")] == 1
    actions = [a.action for a in await list_audit(db, round_id=seeded.round.id)]
    assert "round.close" in actions


async def test_round_settings_and_deadline(db):
    survey = tiny_survey()
    with pytest.raises(RoundError):
        await create_round(db, code="X", survey=survey, expiry_days=0)
    r = await create_round(db, code="X", survey=survey, closes_at=time.time() - 1)
    with pytest.raises(RoundError, match="already exists"):
        await create_round(db, code="X", survey=survey)
    from storage.rounds import open_round

    await open_round(db, r.id)
    assert [x.id for x in await rounds_to_close(db)] == [r.id]
    r2 = await update_round(db, r.id, closes_at=time.time() + 3600, allow_walk_in=True, settings={"quiet": [21, 7]})
    assert r2.allow_walk_in and r2.settings == {"quiet": [21, 7]}
    assert await rounds_to_close(db) == []


# ------------------------------------------------------------------ re-check

async def test_recheck_draw_and_outcome(db, seeded):
    store = SqliteConversationStore(db)
    s = await answer(store, seeded, 0, (AnswerSet("q1", 1, 1.0), StatusChanged("submitted", "complete", 1.0)), "k")
    with pytest.raises(RecheckError):
        await record_recheck_draw(db, seeded.round.id, 7, [RecheckDraw(seeded.respondents[1].id)], actor="A")
    assert await record_recheck_draw(db, seeded.round.id, 7, [RecheckDraw(s.respondent_id, "C1")], actor="A") == 1
    assert await record_recheck_draw(db, seeded.round.id, 7, [RecheckDraw(s.respondent_id, "C1")], actor="A") == 0
    with pytest.raises(RecheckError):
        await record_recheck_outcome(db, seeded.round.id, seeded.respondents[1].id, "confirmed", "MTTQ")
    row = await record_recheck_outcome(db, seeded.round.id, s.respondent_id, "not_confirmed", "MTTQ xã",
                                       note="hộ không nhận đã trả lời")
    assert row.outcome == "not_confirmed" and row.response_id == s.response_id
    assert await excluded_by_recheck(db, seeded.round.id) == {s.response_id: "hộ không nhận đã trả lời"}


# ------------------------------------------------------------------ paper import and analytics reads

async def test_paper_import_and_analytics_reads_have_no_personal_data(db, seeded):
    store = SqliteConversationStore(db)
    await answer(store, seeded, 0, (AnswerSet("q1", 1, 1.0), AnswerSet("q3", [1, 2], 1.0)), "k")
    ids = await store_paper_responses(db, seeded.round.id, "tiny", seeded.round.survey_hash, [
        PaperResponseIn(seeded.unit_ids["C2"], {"q1": 1, "q2": 5}),
        PaperResponseIn(seeded.unit_ids["C1"], {"q1": 0}, respondent_id=seeded.respondents[3].id),
    ])
    assert len(ids) == 2
    assert await current_answers(db, ids[0]) == {"q1": 1, "q2": 5}
    assert (await get_respondent(db, seeded.respondents[3].id)).status == "completed"
    with pytest.raises(Exception, match="already has a response"):
        await store_paper_responses(db, seeded.round.id, "tiny", seeded.round.survey_hash, [
            PaperResponseIn(seeded.unit_ids["C1"], {"q1": 1}),
            PaperResponseIn(seeded.unit_ids["C1"], {"q1": 1}, respondent_id=seeded.respondents[3].id)])
    assert await db.fetchval("SELECT COUNT(*) FROM responses WHERE mode = 'paper'") == 2  # all-or-nothing

    ans = read_current_answers(db.path, seeded.round.id)
    assert len(ans) == 5
    q3 = ans[(ans.step_id == "q3")].iloc[0]
    assert q3["value"] == "[1,2]" and pd.isna(q3["value_num"])
    assert int(ans[(ans.response_id == ids[0]) & (ans.step_id == "q2")].value_num.iloc[0]) == 5
    resp = read_responses(db.path, seeded.round.id)
    assert sorted(resp["mode"]) == ["chat", "paper", "paper"]
    flat = resp.astype(str).to_string()
    assert "Nguyễn" not in flat and "09" + "0" * 8 not in flat and "c0" not in flat
    assert not {"name", "phone", "chat_id", "telegram_id"} & set(resp.columns)
    units = read_units(db.path)
    assert "Xã Thử 1" in set(units["name"])


async def test_state_json_round_trip_for_paper(db, seeded):
    ids = await store_paper_responses(db, seeded.round.id, "tiny", seeded.round.survey_hash,
                                      [PaperResponseIn(seeded.unit_ids["C2"], {"q1": 1})])
    st = (await get_response(db, ids[0])).state
    assert st.status == "submitted" and st.answers == {"q1": 1}
    raw = json.loads(await db.fetchval("SELECT state FROM responses WHERE id = ?", (ids[0],)))
    assert "answers" not in raw and "meta" not in raw and raw["status"] == "submitted"  # a cursor only
