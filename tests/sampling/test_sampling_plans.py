"""Plan settings the seeds write: the respondent criteria the screening asks, and what the
re-check share is a share of."""

from __future__ import annotations

import pytest

from engine import new_state, step
from engine.types import Start, TypedText
from sampling.plan_schema import Plan, load_plan
from sampling.recheck import draw_recheck
from survey_defs.loader import get_survey

#: criterion → (screening question, end rule) in survey_defs/sipas-households.yaml
SCREENING = {"household_representative": ("q_household_rep", "not_household_rep"),
             "age_18_plus": ("q_age", "under_18"),
             "legal_capacity": ("q_legal_capacity", "no_legal_capacity"),
             "literate": ("q_literate", "cannot_read_write")}


@pytest.mark.parametrize("plan_id", ["laichau-2024", "laichau-2025"])
def test_screening_asks_every_criterion_the_plan_lists(plan_id: str) -> None:
    """Seed 002, II.1.b: "Đối tượng khảo sát (lấy ý kiến): Là người dân đại diện cho hộ gia đình,
    đủ từ 18 tuổi trở lên, có đủ năng lực hành vi, biết đọc, biết viết." Seed 001 (OCR): "La nguoi
    dan dai dien cho ho gia dinh, du 18 tudi tré 1én, c6 du ning luc hanh vi, biét doc, biét viét."
    Each criterion the plan lists is a screening question whose "no" ends the interview as
    ineligible."""
    plan = load_plan(plan_id)
    assert plan.eligibility == ["household_representative", "age_18_plus", "legal_capacity", "literate"]
    survey = get_survey("sipas-households")
    rules = {r.id: r for r in survey.end_rules}
    for criterion in plan.eligibility:
        qid, rule = SCREENING[criterion]
        assert qid in survey.question_by_id and rules[rule].outcome == "ineligible"


@pytest.mark.parametrize("no_at, rule", [(4, "no_legal_capacity"), (3, "cannot_read_write")])
def test_no_legal_capacity_or_literacy_ends_as_ineligible(no_at: int, rule: str) -> None:
    """Consent yes, age 45, representative yes, then "không" to literacy or to legal capacity: the
    interview ends, ineligible, with the rule's message."""
    survey = get_survey("sipas-households")
    state = new_state(survey, "vi")
    r = step(survey, state, Start(), 1.0)
    answers = ["1", "45", "1", "1", "1"]
    answers[no_at] = "0"
    for i, text in enumerate(answers[:no_at + 1]):
        r = step(survey, r.state, TypedText(text), 2.0 + i)
    assert (r.state.status, r.state.outcome) == ("active", None)   # asked back first
    assert "Đúng không?" in r.replies[-1].text
    r = step(survey, r.state, TypedText("có"), 10.0)
    assert (r.state.status, r.state.outcome) == ("ended", "ineligible")
    message = {x.id: x.message["vi"] for x in survey.end_rules}[rule]
    assert any(message in reply.text for reply in r.replies)


def test_bad_eligibility_criterion_is_refused() -> None:
    data = load_plan("laichau-2025").model_dump()
    data["eligibility"] = ["literate", "owns a phone"]
    with pytest.raises(Exception, match="eligibility"):
        Plan.model_validate(data)


def test_recheck_base_is_a_plan_setting() -> None:
    """Seed 003, V.1: "phúc tra kết quả phát, thu phiếu điều tra xã hội học đối với tối thiểu 20% cỡ
    mẫu điều tra xã hội học" — a share of the SAMPLE (619), at least. Seed 002, III.1: "thực hiện
    phúc tra 20% trên tổng số phiếu khảo sát thu về" — a share of the RETURNED questionnaires."""
    assert (load_plan("laichau-2021-services").recheck_base, load_plan("laichau-2021-services").recheck_share) \
        == ("sample", 0.20)
    assert load_plan("laichau-2024").recheck_base == "returned"
    assert (load_plan("laichau-2025").recheck_base, load_plan("laichau-2025").recheck_share) == ("returned", 0.10)
    completed = [(f"U{i % 10}", i) for i in range(300)]                  # 300 of 619 returned
    returned = draw_recheck(completed, 0.20, seed=1)
    sample = draw_recheck(completed, 0.20, seed=1, base_size=619)
    assert (returned.target, returned.base) == (60, 300)
    assert (sample.target, sample.base) == (124, 619)                   # ceil(0.2 × 619): "tối thiểu"
    assert sample.total >= 124
    # never more than what came back
    assert draw_recheck(completed[:50], 0.20, seed=1, base_size=619).total == 50
    with pytest.raises(ValueError):
        draw_recheck(completed, 0.2, seed=1, base_size=-1)
