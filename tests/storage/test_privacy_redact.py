"""Free text without identities (issue 15, item 4): phones, e-mails, ID-card numbers and the
respondent's own name are masked before a free-text answer reaches the analysis tables; numbers
that are not phones stay; hostile input (huge, unicode tricks) is handled."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import step
from engine.types import Start, TypedText
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.redact import EMAIL, ID_CARD, MAX_TEXT, NAME, PHONE, is_phone_digits, mask, mask_text
from demo.seed import seed_round
from survey_defs.schema import Survey

MASKED = [
    ("sđt 0912345678", f"sđt {PHONE}"),
    ("gọi 0912 345 678 nhé", f"gọi {PHONE} nhé"),
    ("0912.345.678", PHONE),
    ("0912-345-678.", f"{PHONE}."),
    ("+84 912 345 678", PHONE),
    ("+84912345678", PHONE),
    ("(+84) 912-345-678", PHONE),
    ("84 912 345 678", PHONE),
    ("sdt:0385123456", f"sdt:{PHONE}"),
    ("bàn 0213 3876 543", f"bàn {PHONE}"),                     # Lai Châu landline (0213)
    ("0912345678, 0987654321", f"{PHONE}, {PHONE}"),
    ("０９１２３４５６７８", PHONE),                              # full-width digits
    ("09\u200b1234\u200d5678", PHONE),                          # zero-width characters inside
    ("0\u00a0912\u00a0345\u00a0678", PHONE),                    # no-break spaces
    ("٠٩١٢٣٤٥٦٧٨", PHONE),                                     # Arabic-Indic digits
    ("CCCD 001 234 567 890", f"CCCD {ID_CARD}"),
    ("số căn cước 035123456789", f"số căn cước {ID_CARD}"),     # begins like a mobile: still an ID
    ("CMND: 123456789", f"CMND: {ID_CARD}"),
    ("chứng minh thư 123456789", f"chứng minh thư {ID_CARD}"),
    ("mail nguyen.a+x@gmail.com nhé", f"mail {EMAIL} nhé"),
    ("a.b [at] laichau [dot] gov [dot] vn", EMAIL),
]

KEPT = [
    "phí 1.500.000 đồng",
    "mất 2.000.000đ và 150000000 đồng",
    "năm 2024, 2025-2026",
    "tôi 45 tuổi, đi 12 km, chờ 3 ngày",
    "mã hồ sơ 123456789",                                      # 9 digits without an ID word
    "0123 4567",                                               # too short
    "1234567890",                                              # 10 digits not starting with 0
    "01234567890123",                                          # 14 digits
    "giờ 08:30 ngày 12/05/2025",
    "Hài lòng, cán bộ nhiệt tình 😀",
]


@pytest.mark.parametrize("text,expected", MASKED)
def test_identities_are_masked(text, expected):
    assert mask(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_numbers_that_are_not_identities_stay(text):
    assert mask(text) == text


def test_the_respondents_own_name_in_any_spelling():
    name = "Nguyễn Văn An"
    assert mask("Tôi là Nguyễn Văn An, sđt 0912345678", [name]) == f"Tôi là {NAME}, sđt {PHONE}"
    assert mask("NGUYEN VAN AN góp ý", [name]) == f"{NAME} góp ý"
    assert mask("ông Văn An nói", [name]) == f"ông {NAME} nói"
    assert mask("Nguyễn\u200b Văn   An", [name]) == NAME
    # a single word of the name is a common word ("an" = safe): not masked
    assert mask("thủ tục an toàn", [name]) == "thủ tục an toàn"
    assert mask("Anh An đến", [name]) == "Anh An đến"
    # without a name, nothing is guessed
    assert mask("Tôi là Nguyễn Văn An") == "Tôi là Nguyễn Văn An"
    assert mask("x", ["", "  "]) == "x"


def test_counts_say_what_was_masked():
    text, counts = mask_text("Lò Văn Bình 0912345678 a@b.vn CCCD 001234567890", ["Lò Văn Bình"])
    assert counts == {"email": 1, "phone": 1, "id_card": 1, "name": 1}
    assert text == f"{NAME} {PHONE} {EMAIL} CCCD {ID_CARD}"


def test_phone_digits_rule():
    assert is_phone_digits("0912345678") and is_phone_digits("84912345678") and is_phone_digits("02133876543")
    assert not is_phone_digits("0112345678") and not is_phone_digits("912345678") and not is_phone_digits("0912")


def test_hostile_input_is_fast_and_bounded():
    t0 = time.perf_counter()
    huge = ("0 9 1 2 . " * 50_000) + "0912345678" * 5_000 + "Nguyễn " * 10_000 + "@" * 50_000
    out = mask(huge, ["Nguyễn Văn An"])
    assert time.perf_counter() - t0 < 2.0
    assert len(out) <= MAX_TEXT + 10
    assert "0912345678" not in out
    assert mask("") == ""
    assert mask("\x00\x01 0912345678 \ufeff") == f"\x00\x01 {PHONE} "
    # right-to-left override and combining marks do not hide a number
    assert mask("\u202e0912345678\u202c") == PHONE


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.text(max_size=40))
def test_masking_never_fails_and_is_idempotent(text, name):
    once = mask(text, [name])
    assert isinstance(once, str)
    assert mask(once, [name]) == once


def text_survey() -> Survey:
    return Survey.model_validate({
        "id": "txt", "version": "1", "title": {"vi": "Thử", "en": "Test"}, "languages": ["vi", "en"],
        "sections": [{"id": "s", "title": {"vi": "P", "en": "P"}, "questions": [
            {"id": "q_comment", "type": "text", "required": False,
             "text": {"vi": "Ý kiến khác?", "en": "Other comments?"}},
            {"id": "q_last", "type": "yesno", "text": {"vi": "Xong?", "en": "Done?"}},
        ]}],
    })


async def test_the_store_never_writes_the_original(tmp_path):
    db = await Database.open(tmp_path / "m.db")
    try:
        seeded = await seed_round(db, text_survey(), respondents=1)   # contact name "Nguyễn Văn 1"
        store = SqliteConversationStore(db)
        claim = await store.claim_invite(seeded.respondents[0].token, "telegram", "c1")
        s = claim.session
        survey = await store.survey(s.state.survey_hash)
        res = step(survey, s.state, Start(), time.time())
        assert await store.commit_step(s, res.state, res.events, "telegram", "u1")
        res = step(survey, res.state, TypedText("Tôi là Nguyễn Văn 1, sđt 0912 345 678, mail a@b.vn"), time.time())
        assert await store.commit_step(s, res.state, res.events, "telegram", "u2")
        stored = [json.loads(r[0]) for r in await db.fetchall(
            "SELECT value FROM answers WHERE step_id = 'q_comment' UNION ALL "
            "SELECT value FROM answers_current WHERE step_id = 'q_comment'")]
        assert stored == [f"Tôi là {NAME}, sđt {PHONE}, mail {EMAIL}"] * 2
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("m.db*"))   # the database and its WAL
        assert b"0912 345 678" not in raw and b"a@b.vn" not in raw
    finally:
        await db.close()
