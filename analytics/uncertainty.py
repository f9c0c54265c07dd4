"""95% intervals for every index, and rankings that do not rank anybody last by noise.

- Single item (a proportion): the Wilson score interval (Wilson 1927; recommended over the Wald
  interval by Brown, Cai & DasGupta 2001 because it stays inside [0, 100] and keeps its coverage
  near 0% and 100%, where satisfaction items often sit). It treats answers as independent, so it is
  somewhat narrow for a clustered sample; it is what the brief asks for single items.
- Composite indices (component, pillar, overall): a cluster bootstrap. The sample is clustered
  by village (the primary sampling unit, SIPAS_METHOD.md §3.1: about 30 households per village),
  so villages, not respondents, are resampled with replacement within each group, and the whole
  index is recomputed per replicate (percentile interval). A group with fewer than two villages
  (a village itself, or a demographic cell within one village) resamples respondents instead.
  Resampling is done on cluster-level counts (replicate weights × count matrix), never on rows,
  and is seeded: the same data and seed give the same interval.
"""

from __future__ import annotations

import warnings
from statistics import NormalDist
from typing import Sequence

import numpy as np
import pandas as pd

from analytics.indices import (Counts, IndexTable, Structure, composites, counts_from_states,
                               group_codes, item_index, item_states)
from analytics.settings import DEFAULT_SETTINGS, AnalyticsSettings


def z_value(confidence: float) -> float:
    """Two-sided normal quantile (1.959964 for 95%)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(k: np.ndarray | float, n: np.ndarray | float, confidence: float = 0.95
           ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for k successes in n trials, in percent; n = 0 gives NaN.

    p̂ = k/n; centre = (p̂ + z²/2n) / (1 + z²/n); half = z √(p̂(1−p̂)/n + z²/4n²) / (1 + z²/n).
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = z_value(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        nn = np.where(n > 0, n, np.nan)
        p = k / nn
        denom = 1 + z * z / nn
        centre = (p + z * z / (2 * nn)) / denom
        half = z * np.sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / denom
    return 100.0 * np.clip(centre - half, 0, 1), 100.0 * np.clip(centre + half, 0, 1)


def _replicate_weights(rng: np.random.Generator, m: int, b: int) -> np.ndarray:
    """B × m matrix: how many times each of m clusters is drawn in each bootstrap replicate."""
    draws = rng.integers(0, m, size=(b, m))
    flat = (np.arange(b)[:, None] * m + draws).ravel()
    return np.bincount(flat, minlength=b * m).reshape(b, m).astype(np.float32)


def _percentiles(arr: np.ndarray, alpha: float, axis: int = 0) -> np.ndarray:
    """Percentile interval over replicates (``axis``), ignoring NaN replicates (a replicate in
    which a component had no valid answer). Same linear interpolation as ``np.nanpercentile``,
    but vectorised: numpy's own NaN path loops in Python over every column."""
    a = np.sort(np.moveaxis(arr.astype(np.float64), axis, -1), axis=-1)   # NaN sorts last
    n = (~np.isnan(a)).sum(axis=-1)
    out = []
    for q in (alpha, 100 - alpha):
        pos = np.maximum(n - 1, 0) * (q / 100.0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
        vlo = np.take_along_axis(a, lo[..., None], axis=-1)[..., 0]
        vhi = np.take_along_axis(a, hi[..., None], axis=-1)[..., 0]
        v = vlo + (vhi - vlo) * (pos - lo)
        out.append(np.where(n > 0, v, np.nan))
    return np.stack(out)


#: Replicate-weight elements per batch of groups (float32: 8 M elements ≈ 32 MB).
_BATCH_ELEMENTS = 8_000_000


def cluster_bootstrap(cluster_sat: np.ndarray, cluster_valid: np.ndarray, cluster_group: np.ndarray,
                      n_groups: int, structure: Structure, aggregation: str,
                      b: int = 1000, seed: int = 0, confidence: float = 0.95
                      ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Percentile intervals of component, pillar and overall indices per group.

    ``cluster_sat``/``cluster_valid``: (clusters × items) counts; ``cluster_group``: the group of
    each cluster. Each group's clusters are resampled with replacement ``b`` times (the random
    stream of group g is seeded by (seed, g), so one group's interval does not depend on others).
    Groups of similar size are processed together: their replicate weights are stacked (padded
    with zero weight) and one batched matmul gives every replicate's counts, so 2 000 villages cost
    a few dozen numpy calls rather than 2 000 Python iterations.
    """
    alpha = (1 - confidence) / 2 * 100
    c, p = len(structure.components), len(structure.pillars)
    out = {"component": (np.full((n_groups, c), np.nan), np.full((n_groups, c), np.nan)),
           "pillar": (np.full((n_groups, p), np.nan), np.full((n_groups, p), np.nan)),
           "overall": (np.full(n_groups, np.nan), np.full(n_groups, np.nan))}
    order = np.argsort(cluster_group, kind="stable")
    bounds = np.searchsorted(cluster_group[order], np.arange(n_groups + 1))
    sizes = np.diff(bounds)
    k = cluster_sat.shape[1]
    # float32 is exact here (counts × weights stay far below 2**24) and halves the matmul cost
    x = np.concatenate([cluster_sat, cluster_valid], axis=1).astype(np.float32)
    groups = [int(g) for g in np.argsort(sizes, kind="stable") if sizes[g] > 0]
    i = 0
    while i < len(groups):
        j = i + 1
        while j < len(groups) and (j - i + 1) * b * sizes[groups[j]] <= _BATCH_ELEMENTS:
            j += 1
        batch = groups[i:j]
        m_max = int(sizes[batch[-1]])
        w = np.zeros((len(batch), b, m_max), dtype=np.float32)
        xb = np.zeros((len(batch), m_max, 2 * k), dtype=np.float32)
        for t, g in enumerate(batch):
            members = order[bounds[g]:bounds[g + 1]]
            w[t, :, :len(members)] = _replicate_weights(np.random.default_rng([seed, g]), len(members), b)
            xb[t, :len(members)] = x[members]
        # one BLAS gemm per group: numpy's stacked matmul (and matmul with out=) are 3–4× slower
        both = np.stack([w[t] @ xb[t] for t in range(len(batch))])    # (groups, B, 2k)
        with np.errstate(invalid="ignore", divide="ignore"):
            idx = 100.0 * both[..., :k] / both[..., k:]   # item_index in float32; 0/0 → NaN
        comp, pil, overall = composites(idx, structure, aggregation)
        with warnings.catch_warnings():  # all-NaN replicates (no valid answer) stay NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            for name, arr in (("component", comp), ("pillar", pil)):
                if arr.shape[-1]:
                    q = _percentiles(arr, alpha, axis=1)
                    out[name][0][batch], out[name][1][batch] = q[0], q[1]
            q = _percentiles(overall, alpha, axis=1)
            out["overall"][0][batch], out["overall"][1][batch] = q[0], q[1]
        i = j
    return out


def cluster_counts(df: pd.DataFrame, table: IndexTable, cluster: str = "village_id",
                   states: np.ndarray | None = None) -> tuple[Counts, np.ndarray]:
    """Counts per (group of ``table``, cluster) and the table row each cluster belongs to.

    Groups with fewer than two clusters use respondents as clusters (see module docstring).
    """
    items = table.meta
    if states is None:
        states = item_states(df, items)
    gcodes, gkeys = group_codes(df, table.by)
    if cluster in df.columns:
        ckey = df[cluster].astype(object).where(df[cluster].notna(), "_na").to_numpy()
        per_group = pd.Series(ckey).groupby(gcodes).nunique().reindex(range(len(gkeys)), fill_value=0)
        few = per_group.to_numpy()[gcodes] < 2
    else:
        ckey = np.zeros(len(df), dtype=object)
        few = np.ones(len(df), dtype=bool)
    ckey = ckey.copy()
    ckey[few] = np.char.add("_r", np.arange(len(df))[few].astype(str)).astype(object)
    frame = pd.DataFrame({"_g": gcodes, "_c": ckey})
    codes, keys = group_codes(frame, ["_g", "_c"])
    counts = counts_from_states(states, codes, keys, items)
    # map the data's group codes onto the rows of the (maybe reindexed) table
    pos = table.keys.reset_index().rename(columns={"index": "_row"})
    if table.by:
        m = gkeys.reset_index().rename(columns={"index": "_g"}).merge(pos, on=table.by, how="left")
        row_of_g = m.sort_values("_g")["_row"].to_numpy()
    else:
        row_of_g = np.zeros(len(gkeys))
    rows = row_of_g[keys["_g"].to_numpy()]
    return counts, rows


def add_intervals(table: IndexTable, df: pd.DataFrame, settings: AnalyticsSettings = DEFAULT_SETTINGS,
                  cluster: str = "village_id", states: np.ndarray | None = None,
                  clusters: tuple[Counts, np.ndarray] | None = None) -> IndexTable:
    """Fill ``table.intervals``: Wilson for items, cluster bootstrap for composites (in place)."""
    lo, hi = wilson(table.n_satisfied.to_numpy(), table.n_valid.to_numpy(), settings.confidence)
    table.intervals["item"] = (pd.DataFrame(lo, index=table.items.index, columns=table.items.columns),
                               pd.DataFrame(hi, index=table.items.index, columns=table.items.columns))
    counts, rows = clusters if clusters is not None else cluster_counts(df, table, cluster, states)
    ok = ~np.isnan(rows.astype(float))
    st = Structure.of(table.meta)
    res = cluster_bootstrap(counts.sat[ok], counts.valid[ok], rows[ok].astype(np.int64),
                            len(table.keys), st, table.aggregation, settings.bootstrap_b,
                            settings.seed, settings.confidence)
    idx = table.items.index
    table.intervals["component"] = (pd.DataFrame(res["component"][0], index=idx, columns=st.components),
                                    pd.DataFrame(res["component"][1], index=idx, columns=st.components))
    table.intervals["pillar"] = (pd.DataFrame(res["pillar"][0], index=idx, columns=st.pillars),
                                 pd.DataFrame(res["pillar"][1], index=idx, columns=st.pillars))
    table.intervals["overall"] = (pd.Series(res["overall"][0], index=idx, name="lo"),
                                  pd.Series(res["overall"][1], index=idx, name="hi"))
    return table


def add_intervals_by_levels(tables: dict[str, IndexTable], df: pd.DataFrame,
                            settings: AnalyticsSettings = DEFAULT_SETTINGS,
                            states: np.ndarray | None = None, cluster_level: str = "village"
                            ) -> dict[str, IndexTable]:
    """Intervals for each level's table. For unit levels coarser than the village the cluster
    counts are the village-level counts rolled up, so the rows are counted once."""
    if states is None and tables:
        states = item_states(df, next(iter(tables.values())).meta)
    for lv, table in tables.items():
        add_intervals(table, df, settings, f"{cluster_level}_id", states)
    return tables


# ---------------------------------------------------------------- rankings

def rank_with_overlap(values: pd.Series, lo: pd.Series, hi: pd.Series,
                      names: pd.Series | None = None) -> pd.DataFrame:
    """Rank units by index (1 = highest) and say which ranks the data can actually tell apart.

    - ``rank``: rank of the point value (ties share the best rank; NaN units are unranked);
    - ``rank_best`` / ``rank_worst``: 1 + number of units whose interval lies wholly above this
      unit's, and the number of ranked units minus those wholly below it: the ranks this unit
      could hold given the uncertainty;
    - ``tier``: groups of units not distinguishable from the tier's leader (consecutive units, in
      value order, whose interval overlaps the first unit of the tier);
    - ``indistinguishable_from``: the other units whose interval overlaps this unit's;
    - ``certainly_last``: only true when every other unit's interval lies wholly above.
    """
    df = pd.DataFrame({"value": values.astype(float), "lo": lo.astype(float), "hi": hi.astype(float)})
    df["name"] = names.astype(str).to_numpy() if names is not None else [str(i) for i in df.index]
    ranked = df["value"].notna().to_numpy()
    v, l, h = df["value"].to_numpy(), df["lo"].to_numpy(), df["hi"].to_numpy()
    l = np.where(np.isnan(l), v, l)
    h = np.where(np.isnan(h), v, h)
    n_ranked = int(ranked.sum())
    df["rank"] = df["value"].rank(ascending=False, method="min")
    above = (l[None, :] > h[:, None]) & ranked[None, :]   # [i, j]: j is certainly above i
    below = (h[None, :] < l[:, None]) & ranked[None, :]
    df["rank_best"] = np.where(ranked, 1 + above.sum(axis=1), np.nan)
    df["rank_worst"] = np.where(ranked, n_ranked - below.sum(axis=1), np.nan)
    overlap = ~(above | below) & ranked[None, :] & ranked[:, None]
    np.fill_diagonal(overlap, False)
    names_arr = df["name"].to_numpy()
    df["indistinguishable_from"] = [", ".join(names_arr[overlap[i]]) if ranked[i] else ""
                                    for i in range(len(df))]
    tier = np.full(len(df), np.nan)
    order = [i for i in np.argsort(-np.nan_to_num(v, nan=-np.inf), kind="stable") if ranked[i]]
    t, leader = 0, None
    for i in order:
        if leader is None or l[leader] > h[i]:
            t += 1
            leader = i
        tier[i] = t
    df["tier"] = tier
    df["certainly_last"] = ranked & (df["rank_best"].to_numpy() == n_ranked) & (n_ranked > 1)
    df["rank_range"] = [f"{int(a)}–{int(b)}" if r and a != b else (f"{int(a)}" if r else "")
                        for a, b, r in zip(np.nan_to_num(df["rank_best"]), np.nan_to_num(df["rank_worst"]), ranked)]
    return df.sort_values(["rank", "name"], na_position="last")


def rank_table(table: IndexTable, name_col: str | None = None) -> pd.DataFrame:
    """Ranking of the groups of ``table`` on the overall index with its bootstrap interval."""
    if "overall" not in table.intervals:
        raise ValueError("intervals not computed: call add_intervals first")
    lo, hi = table.intervals["overall"]
    names = None
    if name_col and name_col in table.keys.columns:
        names = pd.Series(table.keys[name_col].to_numpy(), index=table.overall.index)
    out = rank_with_overlap(table.overall, lo, hi, names)
    out.insert(0, "n", table.n.reindex(out.index).to_numpy())
    return out


def item_intervals(sat: Sequence[int], valid: Sequence[int], confidence: float = 0.95) -> pd.DataFrame:
    """Wilson intervals for given counts, as a table (used by reports and tests)."""
    lo, hi = wilson(np.asarray(sat), np.asarray(valid), confidence)
    return pd.DataFrame({"sat": sat, "valid": valid, "index": item_index(np.asarray(sat), np.asarray(valid)),
                         "lo": lo, "hi": hi})
