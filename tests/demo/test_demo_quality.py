"""The demo's citizens are realistic for the quality flags: a few answer every criterion alike (some
because they are content, some tapping through), and only the hurried ones can be flagged."""

from __future__ import annotations

import numpy as np

from analytics.quality import flag_summary, quality_flags
from demo.synthetic import household_answers
from demo.citizens import UNIFORM_SHARE, CitizenPlan, Mind
from survey_defs.loader import get_survey


def _plan(i: int, propensity: float = 0.8) -> CitizenPlan:
    return CitizenPlan(i, f"H{i}", "V1", "C1", "zalo", "code", f"zl{i}", "t" * 32, "KS X", "complete", 10_000 + i,
                       propensity, 30)


def test_a_few_citizens_answer_everything_alike_and_half_of_them_hurry() -> None:
    minds = [Mind(_plan(i)) for i in range(4000)]
    uniform = [m for m in minds if m.uniform is not None]
    share = len(uniform) / len(minds)
    assert abs(share - UNIFORM_SHARE) < 0.015, share
    hurried = sum(m.hurried for m in uniform) / len(uniform)
    assert 0.4 < hurried < 0.6, hurried
    assert not any(m.hurried for m in minds if m.uniform is None)
    m = uniform[0]
    bodies = ["Lịch sự, tôn trọng", "Đủ ghế ngồi, bàn viết", "Đúng hẹn", "Công bằng"]
    assert {m.satisfaction(b) for b in bodies * 5} == {m.uniform}
    others = [x for x in minds[:300] if x.uniform is None]
    assert all(len({x.satisfaction(b) for b in bodies * 5}) > 1 for x in others[:50])


def test_the_rule_flags_a_plausible_share_of_a_realistic_round() -> None:
    survey = get_survey("sipas-households")
    df = household_answers(survey, 600, seed=11)
    rng = np.random.default_rng(5)
    df["mode"] = "chat"
    df["median_step_s"] = np.round(rng.lognormal(np.log(6.0), 0.35, len(df)), 2)   # a normal round's pace
    sat = [c for c in df.columns if c.startswith("q9_") and df[c].notna().any()]
    content = df.index[:30]                  # 5%: satisfied with everything, normal pace: not suspicious
    hurried = df.index[30:48]                # 3%: one answer everywhere, tapping through
    for idx in (content, hurried):
        df.loc[idx, sat] = df.loc[idx, sat].where(df.loc[idx, sat].isna(), 4.0)
    df.loc[hurried, "median_step_s"] = 1.2
    f = quality_flags(df, survey)
    s = flag_summary(f).set_index("flag")
    assert set(df.loc[f["straightline"], "response_id"]) == set(df.loc[hurried, "response_id"])
    assert s.loc["straightline", "share"] == 3.0 and s.loc["identical_all", "share"] >= 8.0
    # under the old per-block rule most of this round was "straight-lining" (56.8% of the demo)
    old_rule = sum(df[[c for c in sat if c.startswith(p)]].nunique(axis=1).eq(1).to_numpy()
                   for p in ("q9_i_a", "q9_ii_c")) > 0
    assert old_rule.mean() > 0.15
