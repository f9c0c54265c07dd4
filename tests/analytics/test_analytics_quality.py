"""Quality flags and comparisons, on hand-made responses."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analytics.compare import against_previous, against_target
from analytics.quality import exclude_flagged, flag_summary, quality_flags, rule, with_and_without
from analytics.settings import AnalyticsSettings
from demo.synthetic import small_survey

nan = np.nan


@pytest.fixture(scope="module")
def survey():
    return small_survey()


def frame():
    return pd.DataFrame([
        # 1: one identical block (policy: 4, 4, 4) is not straight-lining by itself
        dict(response_id=1, mode="chat", median_step_s=4.0, q5=1, q8=1, p1=4, p2=4, p3=4, s1=4, s2=5, s3=4),
        # 2: too fast (1 s per step)
        dict(response_id=2, mode="chat", median_step_s=1.0, q5=1, q8=1, p1=4, p2=3, p3=5, s1=4, s2=5, s3=4),
        # 3: paper, no timing, answered the service block although q8 = 0 (not applicable)
        dict(response_id=3, mode="paper", median_step_s=nan, q5=1, q8=0, p1=1, p2=3, p3=5, s1=2, s2=5, s3=4),
        # 4: many harass (q5 = 3) but very satisfied with politeness (s3 = 5): contradiction rule
        dict(response_id=4, mode="chat", median_step_s=3.0, q5=3, q8=1, p1=2, p2=3, p3=5, s1=4, s2=5, s3=5),
        # 5: clean; a block with a missing item is not straight-lining
        dict(response_id=5, mode="chat", median_step_s=3.0, q5=2, q8=1, p1=4, p2=4, p3=nan, s1=1, s2=5, s3=4),
    ])


RULES = [rule("harass_vs_polite", "Nhiều công chức gây phiền hà nhưng rất hài lòng về sự lịch sự",
              "Harassment vs polite", {"all": [{"equals": ["q5", 3]}, {"equals": ["s3", 5]}]})]


def quality_frame():
    """Timed chat responses (round median 3.8 s per step) and two paper ones."""
    return pd.DataFrame([
        # 1: the same answer to all 6 items of both blocks, and fast for this round (1.6 s < 0.5 × 3.8 s)
        dict(response_id=1, mode="chat", median_step_s=1.6, q5=1, q8=1, p1=4, p2=4, p3=4, s1=4, s2=4, s3=4),
        # 2: too fast in absolute terms (1 s per step), answers vary
        dict(response_id=2, mode="chat", median_step_s=1.0, q5=1, q8=1, p1=4, p2=3, p3=5, s1=4, s2=5, s3=4),
        # 3: paper, no timing, answered the service block although q8 = 0 (not applicable)
        dict(response_id=3, mode="paper", median_step_s=nan, q5=1, q8=0, p1=1, p2=3, p3=5, s1=2, s2=5, s3=4),
        # 4: many harass (q5 = 3) but very satisfied with politeness (s3 = 5): contradiction rule
        dict(response_id=4, mode="chat", median_step_s=6.0, q5=3, q8=1, p1=2, p2=3, p3=5, s1=4, s2=5, s3=5),
        # 5: clean; a block with a missing item
        dict(response_id=5, mode="chat", median_step_s=6.0, q5=2, q8=1, p1=4, p2=4, p3=nan, s1=1, s2=5, s3=4),
        # 6: satisfied with everything at a normal pace: identical, not a warning
        dict(response_id=6, mode="chat", median_step_s=6.0, q5=1, q8=1, p1=5, p2=5, p3=5, s1=5, s2=5, s3=5),
        # 7: paper, identical everywhere, no timing: cannot be speeding, not flagged
        dict(response_id=7, mode="paper", median_step_s=nan, q5=1, q8=1, p1=4, p2=4, p3=4, s1=4, s2=4, s3=4),
        # 8: identical on the policy block only ("not applicable" = 9 on the service block), fast
        dict(response_id=8, mode="chat", median_step_s=1.6, q5=1, q8=1, p1=4, p2=4, p3=4, s1=9, s2=9, s3=9),
    ])


def test_flags(survey):
    f = quality_flags(quality_frame(), survey, AnalyticsSettings(min_step_seconds=1.5),
                      rules=RULES).set_index("response_id")
    assert f["straightline"].tolist() == [True, False, False, False, False, False, False, False]
    assert f["identical_all"].tolist() == [True, False, False, False, False, True, True, False]
    assert f["too_fast"].tolist() == [False, True, False, False, False, False, False, False]
    assert f["not_applicable_answered"].tolist() == [False, False, True, False, False, False, False, False]
    assert f["contradiction"].tolist() == [False, False, False, True, False, False, False, False]
    assert f.loc[4, "contradiction_rules"] == "harass_vs_polite"
    assert f.loc[5, "flags"] == "" and not f.loc[5, "flagged"] and not f.loc[6, "flagged"]
    s = flag_summary(f).set_index("flag")
    assert s.loc["any", "n"] == 4 and s.loc["straightline", "share"] == pytest.approx(100 / 8)
    assert s.loc["identical_all", "n"] == 3                 # shown for information, not counted in "any"


def test_straightlining_needs_speed_relative_to_the_round(survey):
    df = quality_frame()
    slow = df.assign(median_step_s=df["median_step_s"].where(df["response_id"] != 1, 3.0))
    f = quality_flags(slow, survey, rules=RULES).set_index("response_id")
    assert not f["straightline"].any() and f.loc[1, "identical_all"]
    # a whole round of fast readers: 1.6 s is that round's normal pace, not speeding
    fast_round = df.assign(median_step_s=np.where(df["mode"] == "chat", 1.6, nan))
    assert not quality_flags(fast_round, survey, rules=RULES)["straightline"].any()
    # junk in the answer columns is not an identical answer
    junk = df.astype({"p1": object}).assign(p1=lambda d: d["p1"].where(d["response_id"] != 1, "=cmd|x"))
    f = quality_flags(junk, survey, AnalyticsSettings(straightline_min_items=6), rules=RULES).set_index("response_id")
    assert not f.loc[1, "straightline"]


def test_rules_that_do_not_fit_the_survey_are_skipped(survey):
    bad = [rule("x", "x", "x", {"equals": ["no_such_step", 1]})]
    f = quality_flags(frame(), survey, rules=bad)
    assert not f["contradiction"].any()


def test_exclude_and_report_with_without(survey):
    df = frame()
    f = quality_flags(df, survey, rules=RULES)
    kept = exclude_flagged(df, f, ["too_fast", "contradiction"])
    assert kept["response_id"].tolist() == [1, 3, 5]
    with pytest.raises(ValueError, match="unknown flag"):
        exclude_flagged(df, f, ["nonsense"])
    ww = with_and_without(df, survey, f, ["too_fast"])
    # all: p1 4,4,1,2,4 -> 60; p2 4,3,3,3,4 -> 40; p3 4,5,5,5 -> 100; s1 4,4,2,4,1 -> 60;
    # s2 all 5 -> 100; s3 4,4,4,5,4 -> 100. pooled = 460/6
    assert ww.loc[0, "index_all"] == pytest.approx(460 / 6)
    assert ww.loc[0, "n_all"] == 5 and ww.loc[0, "n_clean"] == 4
    # without response 2: p1 4,1,2,4 -> 50; p2 4,3,3,4 -> 50; p3 4,5,5 -> 100; s1 4,2,4,1 -> 50;
    # s2 100; s3 4,4,5,4 -> 100 -> 450/6
    assert ww.loc[0, "index_clean"] == pytest.approx(450 / 6)
    assert ww.loc[0, "difference"] == pytest.approx(-10 / 6)


def test_against_target():
    v = pd.Series([90.0, 84.0, 86.0, nan], index=list("abcd"))
    lo = pd.Series([86.0, 80.0, 83.0, nan], index=list("abcd"))
    hi = pd.Series([93.0, 84.9, 89.0, nan], index=list("abcd"))
    t = against_target(v, lo, hi, 85.0)
    assert t["status"].tolist() == ["met", "not_met", "unclear", "no_data"]
    assert t.loc["b", "gap"] == pytest.approx(-1.0)
    assert t.loc["a", "status_vi"] == "Đạt"


def test_against_previous():
    cur = pd.DataFrame({"u": ["a", "b", "c"], "value": [85.0, 80.0, 70.0], "lo": [83.0, 78.0, 65.0],
                        "hi": [87.0, 82.0, 75.0]})
    prev = pd.DataFrame({"u": ["a", "b", "d"], "value": [80.0, 79.0, 60.0], "lo": [78.0, 77.0, 55.0],
                         "hi": [82.0, 81.0, 65.0]})
    m = against_previous(cur, prev, ["u"]).set_index("u")
    assert m.loc["a", "diff"] == pytest.approx(5.0) and bool(m.loc["a", "significant"])
    assert m.loc["a", "direction"] == "up"
    assert m.loc["b", "direction"] == "unclear" and not bool(m.loc["b", "significant"])
    assert m.loc["c", "direction"] == "no_data" and math.isnan(m.loc["c", "previous"])
    assert m.loc["d", "direction"] == "no_data"


def test_household_rules_fire_on_the_shipped_questionnaire():
    from demo.synthetic import household_answers
    from survey_defs.loader import get_survey

    s = get_survey("sipas-households")
    df = household_answers(s, 6, seed=2)
    for c in [c for c in df.columns if c.startswith("q9_ii_")]:
        df[c] = 4.0
    df.loc[0, "q5"] = 3
    df.loc[0, ["q9_ii_c1", "q9_ii_c2", "q9_ii_c3"]] = 5
    df.loc[1, "q6"] = 3
    df.loc[1, "q9_ii_b3"] = 5
    df.loc[2, ["q8_province_centre", "q8_commune_point"]] = 0
    items = [f"q9_ii_{b}{i}" for b, k in (("a", 3), ("b", 4), ("c", 3), ("d", 3)) for i in range(1, k + 1)]
    df.loc[2, items] = 5
    df.loc[3:, ["q5", "q6"]] = 1
    df.loc[[0, 1], ["q8_province_centre"]] = 1
    f = quality_flags(df, s)
    assert f.loc[0, "contradiction_rules"] == "harassment_vs_polite"
    assert "informal_payment_vs_fees" in f.loc[1, "contradiction_rules"]
    assert "no_procedure_vs_service_praise" in f.loc[2, "contradiction_rules"]
    assert not f.loc[3:, "contradiction"].any()
