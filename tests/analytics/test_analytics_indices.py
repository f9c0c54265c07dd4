"""Hand-computed fixtures for every index formula (SIPAS_METHOD.md §2.2)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analytics.indices import (Counts, IndexItem, age_band, index_items, indices_by_levels,
                               indices_from_counts, item_index, option_shares, overall_from_pillars,
                               response_rates, satisfaction_indices)
from analytics.settings import AnalyticsSettings
from demo.synthetic import small_survey, synthetic_wide
from analytics.text import vi_key

NA = 9  # "Không áp dụng" in the test scale
nan = np.nan

# p3 has no valid answer at all (NA or missing): its index is NaN and it drops out of the means.
ROWS = [
    dict(response_id=1, village_id="V1", village_name="Bản Một", commune_id="C1", commune_name="Xã A",
         sex=1, p1=5, p2=4, p3=NA, s1=4, s2=NA, s3=2),
    dict(response_id=2, village_id="V1", village_name="Bản Một", commune_id="C1", commune_name="Xã A",
         sex=2, p1=4, p2=2, p3=nan, s1=5, s2=5, s3=NA),
    dict(response_id=3, village_id="V2", village_name="Bản Hai", commune_id="C1", commune_name="Xã A",
         sex=1, p1=1, p2=5, p3=NA, s1=nan, s2=3, s3=4),
    dict(response_id=4, village_id="V2", village_name="Bản Hai", commune_id="C1", commune_name="Xã A",
         sex=2, p1=NA, p2=4, p3=nan, s1=2, s2=4, s3=3),
]
UNITS = pd.DataFrame({"village_id": ["V1", "V2", "V3"], "village_name": ["Bản Một", "Bản Hai", "Bản Ba"]})


@pytest.fixture(scope="module")
def survey():
    return small_survey()


@pytest.fixture(scope="module")
def df():
    return pd.DataFrame(ROWS)


def test_index_items_reads_roles_and_excludes_not_applicable(survey):
    items = index_items(survey)
    assert [it.step_id for it in items] == ["p1", "p2", "p3", "s1", "s2", "s3"]
    assert items[0].valid == (1, 2, 3, 4, 5)          # 9 "Không áp dụng" is not valid
    assert items[0].satisfied == (4, 5)
    assert items[3].pillar == "services" and items[3].component == "II.A"
    assert [it.step_id for it in index_items(survey, ("expectation",))] == ["e1", "e2"]
    # an explicit NA code setting works as well
    items2 = index_items(survey, settings=AnalyticsSettings(na_values=(3,)))
    assert 3 not in items2[0].valid


def test_item_index_formula():
    out = item_index(np.array([2, 0, 0]), np.array([3, 5, 0]))
    assert out[0] == pytest.approx(200 / 3)
    assert out[1] == 0.0
    assert math.isnan(out[2])                          # no valid answers -> NaN, never 0


def test_overall_hand_computed(survey, df):
    t = satisfaction_indices(df, survey)
    items = t.items.iloc[0]
    assert items["p1"] == pytest.approx(200 / 3)     # 5,4,1 valid (NA excluded): 2 of 3
    assert items["p2"] == pytest.approx(75.0)        # 4,2,5,4: 3 of 4
    assert math.isnan(items["p3"])                   # only NA / missing
    assert items["s1"] == pytest.approx(200 / 3)     # 4,5,2
    assert items["s2"] == pytest.approx(200 / 3)     # 5,3,4
    assert items["s3"] == pytest.approx(100 / 3)     # 2,4,3
    assert t.n_valid.iloc[0].tolist() == [3, 4, 0, 3, 3, 3]
    comp = t.components.iloc[0]
    assert comp["I.A"] == pytest.approx((200 / 3 + 75) / 2)
    assert math.isnan(comp["I.B"])
    assert comp["II.A"] == pytest.approx(200 / 3)
    assert comp["II.B"] == pytest.approx(100 / 3)
    pil = t.pillars.iloc[0]
    assert pil["policy"] == pytest.approx((200 / 3 + 75) / 2)          # 70.833
    assert pil["services"] == pytest.approx((200 / 3 * 2 + 100 / 3) / 3)  # 55.556
    pooled = (200 / 3 + 75 + 200 / 3 + 200 / 3 + 100 / 3) / 5
    assert t.overall.iloc[0] == pytest.approx(pooled)                  # 61.667
    t2 = satisfaction_indices(df, survey, settings=AnalyticsSettings(aggregation="pillars"))
    assert t2.overall.iloc[0] == pytest.approx((pil["policy"] + pil["services"]) / 2)  # 63.194
    assert t.n.iloc[0] == 4


def test_by_village_with_empty_unit(survey, df):
    t = satisfaction_indices(df, survey, ["village_id", "village_name"], units=UNITS)
    ov = dict(zip(t.keys["village_id"], t.overall))
    assert ov["V1"] == pytest.approx((100 + 50 + 100 + 100 + 0) / 5)
    assert ov["V2"] == pytest.approx((0 + 100 + 0 + 50 + 50) / 5)
    assert math.isnan(ov["V3"])                       # no responses: NaN, shown, not dropped
    assert dict(zip(t.keys["village_id"], t.n)) == {"V1": 2, "V2": 2, "V3": 0}
    tidy = t.tidy()
    v3 = tidy[(tidy.village_id == "V3") & (tidy.measure_type == "overall")]
    assert len(v3) == 1 and v3["value"].isna().all() and (v3["n"] == 0).all()


def test_by_demographic_group(survey, df):
    t = satisfaction_indices(df, survey, ["sex"])
    by = dict(zip(t.keys["sex"], t.items["p2"]))
    assert by[1] == pytest.approx(100.0)              # 4, 5
    assert by[2] == pytest.approx(50.0)               # 2, 4


def test_levels_rollup_equals_direct(survey):
    df = synthetic_wide(survey, 3000, seed=5)
    items = index_items(survey)
    tables = indices_by_levels(df, items, ["province", "district", "commune", "village"])
    assert list(tables) == ["province", "district", "commune", "village"]
    for lv in tables:
        direct = satisfaction_indices(df, items, [f"{lv}_id", f"{lv}_name"])
        pd.testing.assert_series_equal(tables[lv].overall, direct.overall)
        pd.testing.assert_frame_equal(tables[lv].components, direct.components)


def test_2024_national_check():
    """Pillars 83.84 (23 items) and 84.09 (16 items): pooled 83.94, pillars rule 83.965."""
    assert round(overall_from_pillars([83.84, 84.09], [23, 16], "pooled"), 2) == 83.94
    assert overall_from_pillars([83.84, 84.09], [23, 16], "pillars") == pytest.approx(83.965)
    # and the same through the item-level machinery: 39 items, each pillar's items at its value
    items = [IndexItem(f"i{k}", "q9", "satisfaction", "policy" if k < 23 else "services",
                       "I.A" if k < 23 else "II.A", None, {"vi": "x"}, "matrix", (), (1, 2, 3, 4, 5), (4, 5))
             for k in range(39)]
    sat = np.array([[8384] * 23 + [8409] * 16])
    counts = Counts(keys=pd.DataFrame(index=[0]), items=items, sat=sat,
                    valid=np.full((1, 39), 10000), n=np.array([10000]))
    pooled = indices_from_counts(counts, AnalyticsSettings(aggregation="pooled"))
    pillars = indices_from_counts(counts, AnalyticsSettings(aggregation="pillars"))
    assert pooled.pillars.iloc[0].tolist() == pytest.approx([83.84, 84.09])
    assert pooled.overall.iloc[0] == pytest.approx((23 * 83.84 + 16 * 84.09) / 39)
    assert round(pooled.overall.iloc[0], 2) == 83.94
    assert pillars.overall.iloc[0] == pytest.approx(83.965)


def test_unknown_aggregation_is_a_clear_error():
    with pytest.raises(ValueError, match="pooled"):
        overall_from_pillars([1.0], [1], "median")


def test_option_shares_single_and_multi(survey):
    df = pd.DataFrame({"g": ["a", "a", "a", "b"],
                       "q5": [1, 1, 3, nan],
                       "q2": [[1, 2], [2], nan, [3]]})
    out = option_shares(df, index_items(survey, ("perception",)), ["g"])
    q5a = out[(out.g == "a") & (out.step_id == "q5")].set_index("value")
    assert q5a.loc[1, "share"] == pytest.approx(200 / 3)
    assert q5a.loc[2, "share"] == 0.0
    assert q5a.loc[3, "share"] == pytest.approx(100 / 3)
    assert (q5a["base"] == 3).all()
    q5b = out[(out.g == "b") & (out.step_id == "q5")]
    assert q5b["share"].isna().all()                 # no valid answer: NaN, not 0
    q2a = out[(out.g == "a") & (out.step_id == "q2")].set_index("value")
    assert q2a["base"].tolist() == [2, 2, 2]         # two respondents answered
    assert q2a["share"].tolist() == pytest.approx([50.0, 100.0, 0.0])
    q2b = out[(out.g == "b") & (out.step_id == "q2")].set_index("value")
    assert q2b.loc[3, "share"] == 100.0
    assert set(q2a["label"]) == {"Loa phát thanh", "Họp dân", "Internet"}


def test_response_rates_hand_computed():
    disp = pd.DataFrame([
        {"unit": "A", "disposition": "complete", "count": 20},
        {"unit": "A", "disposition": "partial", "count": 2},
        {"unit": "A", "disposition": "refused", "count": 3},
        {"unit": "A", "disposition": "invited", "count": 5},
        {"unit": "A", "disposition": "ineligible", "count": 4},
        {"unit": "A", "disposition": "substituted", "count": 1},
        {"unit": "B", "disposition": "ineligible", "count": 2},
    ])
    out = response_rates(disp, ["unit"]).set_index("unit")
    # AAPOR: I=20, P=2, R=3, NC=5 invited + 1 substituted, NE=4 (out of the denominator)
    assert out.loc["A", "eligible"] == 31 and out.loc["A", "sampled"] == 35
    assert out.loc["A", "response_rate"] == pytest.approx(100 * 20 / 31)
    assert out.loc["A", "cooperation_rate"] == pytest.approx(80.0)
    assert out.loc["A", "refusal_rate"] == pytest.approx(100 * 3 / 31)
    assert out.loc["A", "contact_rate"] == pytest.approx(100 * 25 / 31)
    assert math.isnan(out.loc["B", "response_rate"])


def test_age_band_boundaries():
    bands = age_band(pd.Series([17, 18, 24, 25, 34, 35, 49, 50, 60, 61, None]))
    assert bands.tolist()[1:10] == ["18–24", "18–24", "25–34", "25–34", "35–49", "35–49",
                                    "50–60", "50–60", ">60"]
    assert pd.isna(bands.iloc[0]) and pd.isna(bands.iloc[10])


def test_vietnamese_order():
    names = ["Đoàn Kết", "Tân Phong", "Ân Thi", "An Bình", "Bản số 10", "Bản số 2", "Zeta", "Ăn"]
    assert sorted(names, key=vi_key) == ["An Bình", "Ăn", "Ân Thi", "Bản số 2", "Bản số 10",
                                         "Đoàn Kết", "Tân Phong", "Zeta"]
