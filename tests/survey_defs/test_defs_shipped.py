"""The shipped questionnaires load, validate and match their sources (SIPAS_METHOD.md, seed 003)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from survey_defs.loader import UnknownSurveyError, get_survey, load_survey, parse_survey, shipped_paths
from survey_defs.schema import Equals, QuestionType, Survey
from survey_defs.validate import iter_steps, survey_counts, validate_survey

SEEDS = Path("/work/shared/seeds")


def _roles(survey: Survey, kind: str) -> list[tuple[str, object]]:
    out = []
    for sid, q, it in iter_steps(survey):
        role = it.index if it is not None else q.index
        if role is not None and role.kind == kind:
            out.append((sid, role))
    return out


def test_shipped_paths_and_ids() -> None:
    names = [p.name for p in shipped_paths()]
    assert names == ["sipas-households.yaml", "sipas-services-2021.yaml"]
    for p in shipped_paths():
        survey = load_survey(p)
        assert survey.id == p.stem
        assert validate_survey(survey, p.name) == []
        assert survey.languages == ["vi", "en"]


def test_get_survey_is_cached_and_rejects_unknown_ids() -> None:
    assert get_survey("sipas-households") is get_survey("sipas-households")
    with pytest.raises(UnknownSurveyError) as info:
        get_survey("sipas-2099")
    assert isinstance(info.value, LookupError)
    assert str(info.value) == ("không có bảng hỏi 'sipas-2099' / no shipped questionnaire 'sipas-2099'; "
                               "available: sipas-households, sipas-services-2021")


# ---------------------------------------------------------------------- households (1001 method)

def test_households_satisfaction_items_39_split_by_pillar_and_component() -> None:
    s = get_survey("sipas-households")
    sat = _roles(s, "satisfaction")
    assert len(sat) == 39
    assert Counter(r.pillar for _, r in sat) == {"policy": 23, "services": 16}
    assert Counter(r.component for _, r in sat) == {
        "I.A": 2, "I.B": 2, "I.C": 9, "I.D": 10, "II.A": 3, "II.B": 4, "II.C": 3, "II.D": 3, "II.E": 3}
    assert all(r.criterion for _, r in sat)
    assert [sid for sid, _ in sat][:3] == ["q9_i_a1", "q9_i_a2", "q9_i_b1"]
    assert [sid for sid, _ in sat][-1] == "q9_ii_e3"
    sat5 = s.scale_by_id["sat5"]
    assert sat5.satisfied == [4, 5]
    assert [o.label["vi"] for o in sat5.options] == [
        "Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng", "Rất hài lòng"]
    for sid, q, it in iter_steps(s):
        if it is not None and it.index is not None and it.index.kind == "satisfaction":
            assert q.scale == "sat5"
            assert s.satisfied_values(q, it.index) == [4, 5]
    assert set(s.components) >= {r.component for _, r in sat}


def test_households_perception_and_expectation_indicators() -> None:
    s = get_survey("sipas-households")
    per = Counter(r.component for _, r in _roles(s, "perception"))
    assert per == {"Q1": 9, "Q2": 1, "Q3": 7, "Q4": 1, "Q5": 1, "Q6": 1, "Q7": 3, "Q8": 7}
    exp = _roles(s, "expectation")
    assert [sid for sid, _ in exp] == [f"q10_{n}" for n in range(1, 11)]
    assert s.question_by_id["q10"].scale == "wish4"
    q = s.question_by_id
    assert (q["q1"].scale, q["q3"].scale, q["q7"].scale, q["q8"].scale) == ("interest4", "suit4", "suit4", "yes_no")
    assert [o.value for o in s.scale_by_id["yes_no"].options] == [1, 0]
    assert len(q["q2"].options or []) == 7 and q["q2"].min_picks == 1 and q["q2"].type is QuestionType.multi
    assert [len(q[k].options or []) for k in ("q4", "q5", "q6")] == [4, 3, 3]
    assert [s.scale_by_id[k].options[0].label["vi"] for k in ("interest4", "suit4", "wish4")] == [
        "Không quan tâm theo dõi", "Không phù hợp", "Không mong muốn"]
    comment = q["q_comment"]
    assert comment.type is QuestionType.text and not comment.required and comment.max_length == 2000


def test_households_consent_screening_and_profile() -> None:
    s = get_survey("sipas-households")
    order = [sid for sid, _q, _it in iter_steps(s)]
    assert order[:4] == ["q_consent", "q_age", "q_household_rep", "q_literate"]
    age = s.question_by_id["q_age"]
    assert (age.type, age.min, age.max) == (QuestionType.number, 10, 120)
    rules = {r.id: r for r in s.end_rules}
    assert rules["refused"].outcome == "refused" and rules["refused"].when == Equals(equals=("q_consent", 0))
    assert rules["under_18"].when.lt == ("q_age", 18)
    assert rules["not_household_rep"].when == Equals(equals=("q_household_rep", 0))
    assert rules["cannot_read_write"].when == Equals(equals=("q_literate", 0))
    assert all(r.outcome == "ineligible" for k, r in rules.items() if k != "refused")
    q = s.question_by_id
    assert [o.label["vi"] for o in q["q_ethnic"].options or []] == ["Kinh", "Khác"]
    assert q["q_ethnic_other"].relevant == Equals(equals=("q_ethnic", 2))
    assert len(q["q_edu"].options or []) == 6 and len(q["q_occ"].options or []) == 7
    assert [o.value for o in q["q_sex"].options or []] == [1, 2]


def test_households_complaint_block_is_asked_only_after_a_complaint() -> None:
    s = get_survey("sipas-households")
    assert s.question_by_id["q9_ii_e"].relevant == Equals(equals=("q8_complaint", 1))
    q8_ids = [it.id for it in s.question_by_id["q8"].items or []]
    assert len(q8_ids) == 7 and q8_ids[-1] == "q8_complaint"
    gated = [q.id for q in s.questions if q.relevant is not None]
    assert gated == ["q_ethnic_other", "q2_other", "q9_ii_e"]


# ---------------------------------------------------------------------- services 2021 (seed 003)

def test_services_22_criteria_in_five_components() -> None:
    s = get_survey("sipas-services-2021")
    sat = _roles(s, "satisfaction")
    assert len(sat) == 22
    assert Counter(r.component for _, r in sat) == {"1": 4, "2": 5, "3": 6, "4": 3, "5": 4}
    assert {k: v["vi"] for k, v in s.components.items()} == {
        "1": "Tiếp cận dịch vụ", "2": "Thủ tục hành chính", "3": "Công chức", "4": "Kết quả",
        "5": "Tiếp nhận và xử lý góp ý, phản ánh, kiến nghị"}
    assert s.question_by_id["q_c5"].relevant == Equals(equals=("q_feedback", 1))
    order = [sid for sid, _q, _it in iter_steps(s)]
    assert order.index("q_feedback") < order.index("c5_1")
    assert s.question_by_id["q_overall"].index is None
    assert not s.question_by_id["q_sex"].required and not s.question_by_id["q_age_band"].required


def test_services_criteria_are_worded_as_in_the_seed() -> None:
    seed = sorted(SEEDS.glob("003_*.txt"))
    if not seed:
        pytest.skip("seed 003 not available on this machine")
    text = seed[0].read_text(encoding="utf-8")
    for sid, role in _roles(get_survey("sipas-services-2021"), "satisfaction"):
        assert role.criterion in text, f"{sid}: criterion not verbatim in seed 003: {role.criterion}"


def test_services_agencies_and_one_field_question_per_agency() -> None:
    s = get_survey("sipas-services-2021")
    agency = s.question_by_id["q_agency"]
    labels = [o.label["vi"] for o in agency.options or []]
    assert len(labels) == 17 and labels[0] == "Sở Kế hoạch và Đầu tư" and labels[12] == "Sở Nội vụ"
    assert labels[-2:] == ["Bộ phận Một cửa UBND huyện, thành phố", "Bộ phận Một cửa UBND xã, phường, thị trấn"]
    fields = [q for q in s.questions if q.id.startswith("q_field_")]
    gate = sorted(q.relevant.equals[1] for q in fields if isinstance(q.relevant, Equals))
    assert gate == [o.value for o in agency.options or []]  # each agency: exactly one field question
    for q in fields:
        assert q.relevant.equals[0] == "q_agency"
        assert (q.options or [])[-1].value == 9  # "Lĩnh vực khác"
    commune = s.question_by_id["q_field_commune"]
    assert [o.label["vi"] for o in commune.options or []][:2] == ["Lao động - Thương binh và Xã hội",
                                                                  "Tư pháp - Hộ tịch"]


# ---------------------------------------------------------------------- texts

_VI_MARKS = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ]", re.I)


@pytest.mark.parametrize("survey_id", ["sipas-households", "sipas-services-2021"])
def test_texts_are_vietnamese_with_diacritics_and_english(survey_id: str) -> None:
    s = get_survey(survey_id)
    texts = [q.text for q in s.questions] + [it.text for q in s.questions for it in q.items or []]
    for t in texts:
        assert t["vi"].strip() and t["en"].strip()
        assert unicodedata.is_normalized("NFC", t["vi"]), t["vi"]
    # Question texts (whole sentences) all carry diacritics; a text without any was typed unaccented.
    for q in s.questions:
        assert _VI_MARKS.search(q.text["vi"]), q.text["vi"]
    # Phone-sized messages.
    assert max(len(q.text["vi"]) for q in s.questions) <= 160
    assert max(len(it.text["vi"]) for q in s.questions for it in q.items or []) <= 90


# ---------------------------------------------------------------------- content hash

def test_content_hash_is_stable_and_tracks_content(tmp_path: Path) -> None:
    src = shipped_paths()[0]
    a, b = load_survey(src), load_survey(src)
    assert a is not b and a.content_hash == b.content_hash
    assert re.fullmatch(r"[0-9a-f]{64}", a.content_hash)
    text = src.read_text(encoding="utf-8")
    # Comments and layout do not change the version.
    relaid = tmp_path / src.name
    relaid.write_text("# a new comment\n" + text.replace("\n\n", "\n"), encoding="utf-8")
    assert load_survey(relaid).content_hash == a.content_hash
    # A changed label does.
    changed = parse_survey(text.replace('label: {vi: "Hài lòng", en: "Satisfied"}',
                                        'label: {vi: "Hài lòng", en: "Content"}', 1), src.name)
    assert changed.content_hash != a.content_hash


def test_counts_used_by_the_cli() -> None:
    c = survey_counts(get_survey("sipas-households"))
    assert (c["satisfaction"], c["perception"], c["expectation"]) == (39, 30, 10)
    assert c["steps"] == 91 and c["sections"] == 8
    c = survey_counts(get_survey("sipas-services-2021"))
    assert c["satisfaction"] == 22
