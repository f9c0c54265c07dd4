"""Wilson intervals against published values, the cluster bootstrap, rankings with overlaps."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from analytics.design import Design, Replicates, resolve
from analytics.indices import Structure, composites, index_items, satisfaction_indices
from analytics.settings import AnalyticsSettings
from demo.synthetic import small_survey, synthetic_wide
from analytics.uncertainty import (_replicate_composites, _replicate_sd, add_intervals, design_precision,
                                   rank_table, rank_with_overlap, wilson)


def test_wilson_published_values():
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I: 81/263 -> 0.2553 to 0.3662
    lo, hi = wilson(81, 263)
    assert float(lo) == pytest.approx(25.53, abs=0.01)
    assert float(hi) == pytest.approx(36.62, abs=0.01)
    # 0/10 -> 0 to 0.2775 (same table, method 3); 10/10 mirrors it
    lo, hi = wilson(0, 10)
    assert float(lo) == pytest.approx(0.0, abs=1e-9) and float(hi) == pytest.approx(27.75, abs=0.01)
    lo, hi = wilson(10, 10)
    assert float(lo) == pytest.approx(72.25, abs=0.01) and float(hi) == pytest.approx(100.0, abs=1e-9)
    lo, hi = wilson(np.array([0]), np.array([0]))
    assert math.isnan(lo[0]) and math.isnan(hi[0])


@pytest.fixture(scope="module")
def survey():
    return small_survey()


@pytest.fixture(scope="module")
def data(survey):
    return synthetic_wide(survey, 2000, seed=11)


def test_bootstrap_contains_point_and_is_deterministic(survey, data):
    s = AnalyticsSettings(bootstrap_b=300, seed=7)
    by = ["district_id", "district_name"]
    t1 = add_intervals(satisfaction_indices(data, survey, by), data, s)
    t2 = add_intervals(satisfaction_indices(data, survey, by), data, s)
    lo, hi = t1.intervals["overall"]
    assert ((lo <= t1.overall) & (t1.overall <= hi)).all()
    assert (hi - lo > 0.5).all()                                  # real width, not degenerate
    pd.testing.assert_series_equal(lo, t2.intervals["overall"][0])
    clo, chi = t1.intervals["component"]
    assert ((clo <= t1.components) & (t1.components <= chi)).all().all()
    t3 = add_intervals(satisfaction_indices(data, survey, by), data, s.with_(seed=8))
    assert not np.allclose(lo.to_numpy(), t3.intervals["overall"][0].to_numpy())
    ilo, ihi = t1.intervals["item"]
    assert ((ilo <= t1.items) & (t1.items <= ihi)).all().all()


def _two_village_precision(survey, method: str, b: int = 4000):
    """Two villages of 30 in one commune: one all satisfied, one all dissatisfied."""
    items = index_items(survey)[:1]
    states = np.array([[2]] * 30 + [[1]] * 30, dtype=np.int8)
    df = pd.DataFrame({"commune_id": "C1", "village_id": ["V1"] * 30 + ["V2"] * 30,
                       "response_id": range(60)})
    reps = Replicates(resolve(Design("commune_id", ("village_id", "respondent")), df), b, 1)
    return design_precision(None, None, np.zeros(60, dtype=np.int64), 1, Structure.of(items), "pooled",
                            reps, method, states=states)


def test_rao_wu_resamples_n_minus_one_villages(survey):
    """Rao–Wu draws n − 1 = 1 of the 2 villages and doubles its weight: every replicate is 0 or
    100, so the SE is 50, the unbiased between-village value that linearisation gives exactly. The
    old n-of-n village bootstrap gave replicates 0, 50, 100 and an SE of 35.4 (×√(1/2)), and its
    percentile interval treated two villages as if they were many; with 1 degree of freedom the
    t interval now spans everything."""
    lin = _two_village_precision(survey, "linearisation")
    assert lin.se["overall"][0] == pytest.approx(50.0, abs=1e-4)
    assert lin.df[0] == 1 and lin.stage[0] == 0
    boot = _two_village_precision(survey, "bootstrap")
    assert boot.se["overall"][0] == pytest.approx(50.0, rel=0.02)
    assert boot.lo["overall"][0] == 0.0 and boot.hi["overall"][0] == 100.0
    srs = _two_village_precision(survey, "srs")
    assert srs.se["overall"][0] < 10 and srs.deff["overall"][0] == pytest.approx(1.0)
    assert lin.deff["overall"][0] == pytest.approx(50.0 ** 2 / srs.se["overall"][0] ** 2)


@pytest.mark.parametrize("aggregation", ["pooled", "pillars"])
def test_replicate_composites_are_the_index_formulas(survey, aggregation):
    """The bootstrap's composites of replicate counts (missing items zeroed and taken off each
    mean's count) are ``indices.composites`` of the item indices, bit for bit, including items
    and whole components with no valid answer in a replicate; the SD keeps NaN replicates out."""
    st = Structure.of(index_items(survey))
    k = len(st.comp_m)
    rng = np.random.default_rng(4)
    valid = rng.integers(0, 4, (6, 50, k)).astype(np.float32)
    valid[1, :, st.comp_m[:, 0] > 0] = 0.0                   # a component nobody answered
    sat = np.floor(valid * rng.random(valid.shape)).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        comp, pil, overall = composites(100.0 * sat / valid, st, aggregation)
    want = np.concatenate([comp, pil, overall[..., None]], axis=-1)
    got = _replicate_composites(sat.copy(), valid, st, aggregation)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.isnan(got).any() and not np.isnan(got).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sd_want = np.nanstd(want.astype(np.float64), axis=1, ddof=1)
    assert np.array_equal(_replicate_sd(want), sd_want, equal_nan=True)
    clean = want[~np.isnan(want).any(axis=(1, 2))]
    assert np.array_equal(_replicate_sd(clean), clean.std(axis=1, ddof=1, dtype=np.float64))


def test_single_village_group_falls_back_to_respondents(survey, data):
    s = AnalyticsSettings(bootstrap_b=200)
    t = add_intervals(satisfaction_indices(data, survey, ["village_id"]), data, s)
    lo, hi = t.intervals["overall"]
    assert (hi - lo > 0).all() and ((lo <= t.overall) & (t.overall <= hi)).all()


def test_empty_unit_interval_is_nan(survey, data):
    units = pd.DataFrame({"district_id": ["D01", "D02", "D03", "D99"]})
    t = add_intervals(satisfaction_indices(data, survey, ["district_id"], units=units), data,
                      AnalyticsSettings(bootstrap_b=100))
    lo, hi = t.intervals["overall"]
    assert math.isnan(t.overall.loc["D99"]) and math.isnan(lo.loc["D99"]) and math.isnan(hi.loc["D99"])
    r = rank_table(t)
    assert r.loc["D99", "rank_range"] == "" and math.isnan(r.loc["D99", "rank"])


def test_ranking_marks_overlaps():
    names = pd.Series(["A", "B", "C", "D"])
    v = pd.Series([90.0, 85.0, 84.0, 60.0])
    lo = pd.Series([88.0, 80.0, 79.0, 55.0])
    hi = pd.Series([92.0, 90.0, 89.0, 65.0])
    r = rank_with_overlap(v, lo, hi, names).set_index("name")
    assert r["rank"].tolist() == [1, 2, 3, 4]
    assert r.loc["A", "rank_range"] == "1–3"
    assert r.loc["C", "rank_best"] == 1 and r.loc["C", "rank_worst"] == 3
    assert r.loc["D", "rank_range"] == "4" and bool(r.loc["D", "certainly_last"])
    assert r.loc["A", "indistinguishable_from"] == "B, C"
    assert r.loc["D", "indistinguishable_from"] == ""
    assert r["tier"].tolist() == [1, 1, 1, 2]
    # widen D: now it overlaps C, so it is no longer "certainly last"
    hi2 = hi.copy()
    hi2[3] = 86.0
    r2 = rank_with_overlap(v, lo, hi2, names).set_index("name")
    assert not bool(r2.loc["D", "certainly_last"])
    assert r2.loc["D", "rank_range"] == "2–4"
    assert not r2["certainly_last"].any()
