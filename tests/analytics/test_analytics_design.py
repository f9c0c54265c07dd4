"""Design-based variance: R's published results reproduced, coverage on a synthetic population
drawn by the 2024 design, Rao–Wu weights, lonely PSUs, designs of the shipped plans."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.design import (RESPONDENT, Design, DesignError, Replicates, default_design, design_from_plan,
                              rao_wu_weights, resolve)
from analytics.indices import IndexItem, Structure
from analytics.tdist import t_quantile
from analytics.uncertainty import design_precision
from sampling.plan_schema import load_plan

API = Path(__file__).resolve().parents[1] / "fixtures" / "r_survey_api"


def _mean_precision(df: pd.DataFrame, design: Design, method: str, b: int = 2, seed: int = 1):
    """hailong's ratio machinery on a continuous variable: numerator pw × api00 / 100, denominator
    pw, so the "index" 100 × Σnum / Σden is the weighted mean svymean reports."""
    items = [IndexItem("api00", "api00", "satisfaction", "p", "c", None, {}, "number", (), (), ())]
    w = df["pw"].to_numpy(dtype=float)
    num = (w * df["api00"].to_numpy(dtype=float) / 100.0)[:, None]
    reps = Replicates(resolve(design, df), b, seed)
    return design_precision(num, w[:, None], np.zeros(len(df), dtype=np.int64), 1, Structure.of(items),
                            "pooled", reps, method)


# ------------------------------------------------------------------ the reference package


def test_reproduces_r_survey_published_means_and_ses() -> None:
    """R ``survey`` documentation (?svydesign; Lumley, Complex Surveys, 2010):

        dstrat <- svydesign(id=~1, strata=~stype, weights=~pw, data=apistrat, fpc=~fpc)
        svymean(~api00, dstrat)   # 662.29, SE 9.4089
        dclus1 <- svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc)
        svymean(~api00, dclus1)   # 644.17, SE 23.542

    Linearisation reproduces both to the published precision; the Rao–Wu bootstrap (with the same
    finite population correction, λ = √(1 − f)) agrees with it within Monte Carlo error."""
    strat = pd.read_csv(API / "apistrat.csv", dtype={"cds": str})
    clus1 = pd.read_csv(API / "apiclus1.csv", dtype={"cds": str})
    d_strat = Design(strata="stype", stages=(RESPONDENT,), fpc="fpc")
    d_clus1 = Design(strata=None, stages=("dnum",), fpc="fpc")
    for df, design, mean, se in ((strat, d_strat, 662.29, 9.4089), (clus1, d_clus1, 644.17, 23.542)):
        lin = _mean_precision(df, design, "linearisation")
        assert round(lin.estimate["overall"][0], 2) == mean
        assert round(lin.se["overall"][0], 4 if se < 10 else 3) == se
        boot = _mean_precision(df, design, "bootstrap", b=4000, seed=7)
        # SE of a bootstrap SE with B replicates ≈ SE / √(2B) ≈ 1.1%: 4% is > 3.5 Monte Carlo SEs
        assert boot.se["overall"][0] == pytest.approx(se, rel=0.04)
    # without the correction (R's default when fpc is not given) the SE is larger: 23.779 for dclus1
    lin_wr = _mean_precision(clus1, Design(stages=("dnum",)), "linearisation")
    assert round(lin_wr.se["overall"][0], 3) == 23.779
    # design degrees of freedom as R's degf: 15 clusters − 1; 200 schools − 3 strata
    assert _mean_precision(clus1, d_clus1, "linearisation").df[0] == 14
    assert _mean_precision(strat, d_strat, "linearisation").df[0] == 197


def test_t_quantiles_match_tables() -> None:
    assert t_quantile(0.975, 2) == pytest.approx(4.302653, abs=1e-6)
    assert t_quantile(0.975, 20) == pytest.approx(2.085963, abs=1e-6)
    assert t_quantile(0.975, 1) == pytest.approx(12.706205, abs=1e-5)
    assert t_quantile(0.025, 5) == pytest.approx(-2.570582, abs=1e-6)
    assert t_quantile(0.975, math.inf) == pytest.approx(1.959964, abs=1e-6)


# ------------------------------------------------------------------ coverage under the 2024 design

#: Communes per district of the Lai Châu 2024 frame (sampling/data/laichau-2024); the two largest
#: districts take 5 communes, the others 3, as the 2024 plan does for Sìn Hồ and Phong Thổ.
COMMUNES = [7, 13, 17, 22, 14, 12, 10, 11]
TAKE = np.array([3, 3, 5, 5, 3, 3, 3, 3])
K = 6


def _population(seed: int = 2024):
    """Villages with a district, commune and village effect; households answering K items."""
    rng = np.random.default_rng(seed)
    rows = []
    for h, n_c in enumerate(COMMUNES):
        de = rng.normal(0, 0.3)
        for c in range(n_c):
            ce = rng.normal(0, 0.35)
            for v in range(int(rng.integers(4, 11))):
                rows.append((h, c, int(rng.integers(30, 47)), 1.3 + de + ce + rng.normal(0, 0.3)))
    vil = pd.DataFrame(rows, columns=["h", "c", "N", "mu"])
    hh_village = np.repeat(np.arange(len(vil)), vil["N"].to_numpy())
    eta = (vil["mu"].to_numpy()[hh_village][:, None] + rng.normal(0, 0.8, (len(hh_village), 1))
           + rng.normal(0, 0.4, K)[None, :])
    sat = rng.random(eta.shape) < 1 / (1 + np.exp(-eta))
    return vil, hh_village, sat


def test_intervals_cover_the_truth_under_the_2024_design() -> None:
    """Seed 002: "Tại mỗi huyện, thành phố lựa chọn 03 đơn vị xã, phường, thị trấn (riêng huyện Sơn
    Hòa, huyện Phong Thổ chọn 5 đơn vị cấp xã); mỗi xã, phường, thị trấn lựa chọn 3 thôn, bản, tổ
    dân phố; mỗi thôn, bản, tổ dân phố lựa chọn 30 hộ gia đình."

    500 seeded samples drawn by that design (as if at random at every stage) from a synthetic
    population with the frame's communes per district; the truth is what the official unweighted
    index estimates (each district weighted by its share of the sample, communes and villages
    equally within it). Rao–Wu intervals of the provincial index and of every district's index
    cover it 93–97% of the time (measured: 96.4% and 95.9%). The previous village bootstrap on the
    same samples (n of n villages, percentile interval): 92.6% and 79.7%. Respondents treated as a
    simple random sample: far below (asserted < 75%)."""
    vil, hh_village, sat = _population()
    start = np.concatenate([[0], np.cumsum(vil["N"].to_numpy())])
    vil["Y"] = pd.Series(sat.mean(axis=1)).groupby(hh_village).mean().to_numpy()
    truth_h = 100 * vil.groupby(["h", "c"])["Y"].mean().groupby("h").mean().to_numpy()
    truth = float((TAKE * truth_h).sum() / TAKE.sum())
    villages_of = {key: g.index.to_numpy() for key, g in vil.groupby(["h", "c"])}
    items = [IndexItem(f"i{j}", f"i{j}", "satisfaction", "I" if j < 3 else "II", f"C{j // 2}", None, {},
                       "matrix", (), (1, 2), (2,)) for j in range(K)]
    st = Structure.of(items)
    design = design_from_plan(load_plan("laichau-2024"))
    assert design.strata == "district_id" and design.stages == ("commune_id", "village_id", RESPONDENT)
    reps, covered, covered_h, covered_srs = 500, 0, 0, 0
    for r in range(reps):
        rng = np.random.default_rng([19, r])
        picks, dist, comm, vill = [], [], [], []
        for h, n_c in enumerate(COMMUNES):
            for c in rng.choice(n_c, TAKE[h], replace=False):
                for v in rng.choice(villages_of[(h, c)], 3, replace=False):
                    picks.append(start[v] + rng.choice(start[v + 1] - start[v], 30, replace=False))
                    dist += [h] * 30
                    comm += [f"{h}-{c}"] * 30
                    vill += [f"{h}-{c}-{v}"] * 30
        rows = np.concatenate(picks)
        df = pd.DataFrame({"district_id": dist, "commune_id": comm, "village_id": vill,
                           "response_id": np.arange(len(rows))})
        states = np.where(sat[rows], 2, 1).astype(np.int8)
        rep = Replicates(resolve(design, df), 200, r)
        whole = design_precision(None, None, np.zeros(len(df), dtype=np.int64), 1, st, "pooled", rep,
                                 states=states)
        covered += whole.lo["overall"][0] <= truth <= whole.hi["overall"][0]
        by_h = design_precision(None, None, df["district_id"].to_numpy(dtype=np.int64), 8, st, "pooled",
                                rep, states=states)
        covered_h += int(((by_h.lo["overall"] <= truth_h) & (truth_h <= by_h.hi["overall"])).sum())
        if r < 100:
            srs = design_precision(None, None, np.zeros(len(df), dtype=np.int64), 1, st, "pooled", rep,
                                   "srs", states=states)
            covered_srs += srs.lo["overall"][0] <= truth <= srs.hi["overall"][0]
    assert 0.93 <= covered / reps <= 0.97, covered / reps
    assert 0.93 <= covered_h / (8 * reps) <= 0.97, covered_h / (8 * reps)
    assert covered_srs / 100 < 0.75


# ------------------------------------------------------------------ replicate weights


def test_rao_wu_weights_are_rescaled_n_minus_one_draws() -> None:
    w = rao_wu_weights(np.random.default_rng(1), 4, 5000)
    # each replicate draws 3 of the 4 units, each draw counting 4/3: weights sum to n
    assert np.allclose(w.sum(axis=1), 4.0)
    assert set(np.unique(np.round(w * 3, 6))) <= {0.0, 4.0, 8.0, 12.0}
    assert abs(w.mean() - 1.0) < 0.01
    # variance of a unit's multiplier: (n/(n−1))² · m · (1/n)(1 − 1/n) = 16/9 · 3 · 3/16 = 1
    assert abs(w[:, 0].var() - 1.0) < 0.05
    assert np.array_equal(rao_wu_weights(np.random.default_rng(1), 4, 5000), w)   # seeded
    assert np.all(rao_wu_weights(np.random.default_rng(1), 1, 10) == 1.0)          # lonely PSU
    f = rao_wu_weights(np.random.default_rng(1), 4, 5000, fpc_rate=0.75)           # λ = 1/2
    assert abs(f[:, 0].var() - 0.25) < 0.02


def _lonely_frame() -> tuple[pd.DataFrame, np.ndarray, Structure]:
    """Three communes (strata): two with 3 villages, one with a single village (a lonely PSU)."""
    rng = np.random.default_rng(5)
    vill = ["A1", "A2", "A3", "B1", "B2", "B3", "C1"]
    df = pd.DataFrame({"commune_id": [v[0] for v in vill for _ in range(20)],
                       "village_id": [v for v in vill for _ in range(20)]})
    df["response_id"] = range(len(df))
    p = np.repeat(rng.uniform(0.3, 0.9, len(vill)), 20)
    states = np.where(rng.random((len(df), 2)) < p[:, None], 2, 1).astype(np.int8)
    items = [IndexItem(f"i{j}", f"i{j}", "satisfaction", "I", "A", None, {}, "matrix", (), (1, 2), (2,))
             for j in range(2)]
    return df, states, Structure.of(items)


def test_lonely_psu_average_and_certainty() -> None:
    """R's survey.lonely.psu: "certainty" — the lonely stratum adds nothing; "average" (hailong's
    default) — the variance is scaled by H / (H − L) = 3 / 2, so the SE by √1.5."""
    df, states, st = _lonely_frame()
    out = {}
    for rule in ("average", "certainty"):
        design = Design("commune_id", ("village_id", RESPONDENT), lonely_psu=rule)
        rep = Replicates(resolve(design, df), 100, 1)
        out[rule] = design_precision(None, None, np.zeros(len(df), dtype=np.int64), 1, st, "pooled",
                                     rep, "linearisation", states=states)
    assert out["average"].se["overall"][0] == pytest.approx(out["certainty"].se["overall"][0] * math.sqrt(1.5))
    assert out["average"].df[0] == 4      # (3 − 1) + (3 − 1) + (1 − 1)
    # the lonely commune's own index is measured within it: its 20 households are resampled
    rep = Replicates(resolve(Design("commune_id", ("village_id", RESPONDENT)), df), 300, 1)
    by_c = design_precision(None, None, pd.factorize(df["commune_id"], sort=True)[0].astype(np.int64), 3, st,
                            "pooled", rep, states=states)
    assert by_c.stage.tolist() == [0, 0, 1] and by_c.df[2] == 19 and by_c.se["overall"][2] > 0


def test_replicates_are_made_once_and_seeded_by_unit() -> None:
    """The same design on the same rows gives the same weights; a stratum's weights do not move
    when another stratum is added (one stream per stratum)."""
    df, _, _ = _lonely_frame()
    design = Design("commune_id", ("village_id", RESPONDENT))
    a = Replicates(resolve(design, df), 50, 3)
    b = Replicates(resolve(design, df.sample(frac=1, random_state=2).reset_index(drop=True)), 50, 3)
    assert np.array_equal(a.stage0, b.stage0)
    more = pd.concat([df, pd.DataFrame({"commune_id": "D", "village_id": ["D1", "D2"] * 5,
                                        "response_id": range(1000, 1010)})], ignore_index=True)
    c = Replicates(resolve(design, more), 50, 3)
    assert np.array_equal(c.stage0[:, :7], a.stage0)


def test_block_into_is_the_block_in_the_asked_order() -> None:
    """The bootstrap writes a unit's next-stage weights straight into its batch: the same numbers
    as ``block`` (seeded by the unit), columns in the asked rank order, 1 for a lone unit."""
    df, _, _ = _lonely_frame()
    rep = Replicates(resolve(Design("commune_id", ("village_id", RESPONDENT)), df), 40, 3)
    d = rep.design
    for parent in range(len(d.size[1])):
        m = int(d.size[1][parent])
        want = rep.block(1, parent)
        for ranks in (np.arange(m), np.arange(m)[::-1].copy(), np.arange(m)[: max(1, m // 2)]):
            out = np.full((40, len(ranks)), np.nan, dtype=np.float32)
            rep.block_into(out, 1, parent, ranks)
            assert np.array_equal(out, want[:, ranks])
    lone = np.zeros((40, 1), dtype=np.float32)
    one = Replicates(resolve(Design("commune_id", ("village_id", RESPONDENT)), df.iloc[:1]), 40, 3)
    one.block_into(lone, 1, 0, np.arange(1))
    assert np.all(lone == 1.0)


# ------------------------------------------------------------------ designs


def test_each_plan_declares_its_design() -> None:
    """Seed 001: "Phạm vi khảo sát: 38 xã, phường" — every commune taken: communes are strata,
    villages the first stage. Seed 003: quota "phân bổ cỡ phiếu điều tra đối với mỗi lĩnh vực/dịch
    vụ": fields are strata, respondents the units."""
    d24 = design_from_plan(load_plan("laichau-2024"))
    assert (d24.strata, d24.stages) == ("district_id", ("commune_id", "village_id", RESPONDENT))
    d25 = design_from_plan(load_plan("laichau-2025"))
    assert (d25.strata, d25.stages) == ("commune_id", ("village_id", RESPONDENT))
    d21 = design_from_plan(load_plan("laichau-2021-services"))
    assert (d21.strata, d21.stages) == ("field_id", (RESPONDENT,))
    assert "laichau-2024" in d24.source and "thôn/bản" in d25.describe("vi")


def test_default_design_and_hostile_designs() -> None:
    df, states, st = _lonely_frame()
    assert default_design(df).stages == ("village_id", RESPONDENT)
    assert default_design(pd.DataFrame({"field_id": ["x"]})).strata == "field_id"
    # a column the design names but the data lacks is skipped with a note, never guessed
    r = resolve(Design("district_id", ("commune_id", "village_id", RESPONDENT)), df)
    assert r.n_stages == 3 and any("district_id" in n for n in r.notes)
    # junk values: missing ids are their own unit, numbers and text mix
    junk = df.copy()
    junk.loc[:4, "village_id"] = None
    junk.loc[5:9, "village_id"] = 12345
    r = resolve(Design("commune_id", ("village_id", RESPONDENT)), junk)
    assert "_na" in set(r.unit_keys[0]) and "12345" in set(r.unit_keys[0])
    with pytest.raises(DesignError):
        Design(stages=())
    with pytest.raises(DesignError):
        Design(lonely_psu="adjust")  # type: ignore[arg-type]
    bad_fpc = df.assign(N=1)       # fewer units in the population than in the sample
    with pytest.raises(DesignError):
        resolve(Design("commune_id", ("village_id", RESPONDENT), fpc="N"), bad_fpc)
