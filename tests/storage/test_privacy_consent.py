"""Consent with a receipt (issue 15, item 1): the shipped notices name the controller, purpose,
data, retention and rights in Vietnamese and English; nothing is preselected and silence is not
consent; each answer to the consent question leaves a receipt (text hash, version, time,
channel); a round shows the exact text its citizens saw."""

from __future__ import annotations

import time

import pytest

from engine import new_state, step
from engine.types import Choose, Command, Start, TypedText
from storage.consent import receipt_counts, receipts, round_consent
from storage.conversations import SqliteConversationStore
from storage.db import Database
from demo.seed import seed_round
from survey_defs.consent import REQUIRED_ELEMENTS, consent_hash, consent_question, consent_text, missing_elements
from survey_defs.loader import get_survey
from support.db import table_columns

SHIPPED = ("sipas-households", "sipas-services-2021")




@pytest.mark.parametrize("sid", SHIPPED)
def test_shipped_notice_is_complete_in_both_languages(sid):
    s = get_survey(sid)
    assert set(s.languages) >= {"vi", "en"}
    assert missing_elements(s) == {}
    q = consent_question(s)
    assert q is not None and q.id == "q_consent" and q.required and q.relevant is None
    assert s.questions[0].id == "q_consent"                  # asked before anything else
    for lang in ("vi", "en"):
        text = consent_text(s, lang)
        assert text and len(text) < 2000                     # one Zalo message
        assert len(q.text[lang]) <= 160 and q.help is not None  # short question, the notice under it
        for keys in REQUIRED_ELEMENTS[lang].values():
            assert any(k.lower() in text.lower() for k in keys)
    # a refusal ends the interview politely
    assert any(r.outcome == "refused" for r in s.end_rules)


@pytest.mark.parametrize("sid", SHIPPED)
def test_nothing_is_preselected_and_silence_is_not_consent(sid):
    s = get_survey(sid)
    res = step(s, new_state(s), Start(), time.time())
    assert res.state.current == "q_consent" and "q_consent" not in res.state.answers
    st = res.state
    for junk in ("", "   ", "ok?", "😀", "x" * 5000, "1 2", "/xyz", "đồng ý?"):
        r = step(s, st, TypedText(junk), time.time())
        assert "q_consent" not in r.state.answers, junk
        assert r.state.current == "q_consent", junk
    r = step(s, st, Choose("q_consent", 0), time.time())
    assert r.state.status == "ended" and r.state.outcome == "refused"


def test_a_notice_without_rights_is_reported():
    s = get_survey("sipas-households")
    data = s.model_dump(mode="json", by_alias=True)
    data["sections"][0]["questions"][0]["text"] = {"vi": "Ông/Bà đồng ý?", "en": "Agree?"}
    data["sections"][0]["questions"][0]["help"] = None
    bare = type(s).model_validate(data)
    missing = missing_elements(bare)
    assert "rights" in missing["vi"] and "controller" in missing["en"]


async def test_each_consent_answer_leaves_a_receipt_and_the_round_shows_the_text(db_url):
    survey = get_survey("sipas-households")
    db = await Database.open(db_url)          # SQLite and PostgreSQL (the trigger has a form for each)
    try:
        seeded = await seed_round(db, survey, respondents=3)
        store = SqliteConversationStore(db)
        shown = await round_consent(db, "R1")
        assert [t.lang for t in shown] == ["vi", "en"]
        assert shown[0].text == consent_text(survey, "vi") and shown[0].version == "2026.2"
        assert shown[0].text_hash == consent_hash(shown[0].text)

        async def answer(i: int, channel: str, value: int, lang: str = "vi") -> int:
            claim = await store.claim_invite(seeded.respondents[i].token, channel, f"chat{i}")
            s = claim.session
            res = step(survey, s.state, Start(), time.time())
            if lang != "vi":
                res = step(survey, res.state, Command("lang", lang), time.time())
            assert await store.commit_step(s, res.state, res.events, channel, f"u{i}a")
            s2 = await store.session_for_chat(channel, f"chat{i}")
            res2 = step(survey, s2.state, Choose("q_consent", value), time.time())
            assert await store.commit_step(s2, res2.state, res2.events, channel, f"u{i}b")
            return s.response_id

        r0 = await answer(0, "zalo", 1)
        r1 = await answer(1, "telegram", 0)
        r2 = await answer(2, "telegram", 1, lang="en")
        got = await receipts(db, r0)
        assert len(got) == 1 and got[0].agreed and got[0].channel == "zalo" and got[0].version == "2026.2"
        assert got[0].text_hash == consent_hash(consent_text(survey, "vi")) and got[0].lang == "vi"
        assert got[0].at == pytest.approx(time.time(), abs=60)
        assert [(x.agreed, x.channel) for x in await receipts(db, r1)] == [(False, "telegram")]
        en = await receipts(db, r2)
        assert en[0].lang == "en" and en[0].text_hash == consent_hash(consent_text(survey, "en"))
        assert await receipt_counts(db, seeded.round.id) == {"agreed": 2, "refused": 1, "none": 0}
        # receipts hold no personal data: only the response id
        assert not {"name", "phone", "chat_id"} & table_columns("consent_receipts")
    finally:
        await db.close()
