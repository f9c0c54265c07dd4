"""95% intervals, standard errors and design effects for every index, and rankings that do not
rank anybody last by noise.

- Single item (a proportion): the Wilson score interval (Wilson 1927; recommended over the Wald
  interval by Brown, Cai & DasGupta 2001 because it stays inside [0, 100] and keeps its coverage
  near 0% and 100%, where satisfaction items often sit).
- Composite indices (component, pillar, overall), for every group of every table: the variance
  follows the round's sample design (:mod:`analytics.design`, declared in the plan file).
  ``AnalyticsSettings.variance``:

  - ``"bootstrap"`` (default): Rao–Wu rescaling bootstrap at the first stage within strata, with
    replicate weights made once per design (:class:`analytics.design.Replicates`) and applied to
    cluster-level counts as matrix products (one BLAS call per group, never a loop per replicate);
  - ``"linearisation"``: the Taylor-series (ultimate cluster) variance of R's ``svymean`` / Stata's
    ``svy: mean``, exact and fast; the reference test reproduces R's published results with it;
  - ``"srs"``: respondents treated as a simple random sample (too narrow for a clustered
    sample: a setting for comparison, never the default).

  The interval is the estimate ± t × SE with the design's degrees of freedom (first-stage units
  minus strata, as Stata and R's ``degf`` count them), clipped to [0, 100]. A group that lies
  inside one first-stage unit (a 2024 commune or any village) is measured conditionally on that
  unit: its own next stage is resampled (villages of the commune; households of the village).
- Design effect (deff) of every composite: its design variance over the variance it would have if
  the same respondents were a simple random sample (linearised); effective sample size = n / deff.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from analytics.design import Replicates, ResolvedDesign, default_design, resolve
from analytics.indices import (IndexTable, Structure, composites, group_codes, item_index, item_states,
                              overall_index)
from analytics.settings import DEFAULT_SETTINGS, AnalyticsSettings
from analytics.tdist import t_quantile

KINDS = ("component", "pillar", "overall")


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


# ---------------------------------------------------------------- the design-based core

#: Replicate-weight elements per batch of groups (float32: 8 M elements ≈ 32 MB).
_BATCH_ELEMENTS = 8_000_000


@dataclass
class Precision:
    """Per group and composite: estimate, standard error, interval, design effect, effective n.

    Arrays are keyed by kind: "component" (groups × components), "pillar" (groups × pillars),
    "overall" (groups). ``df`` (design degrees of freedom) and ``stage`` (the design stage whose
    units were resampled: 0 = first stage) are per group.
    """

    estimate: dict[str, np.ndarray]
    se: dict[str, np.ndarray]
    lo: dict[str, np.ndarray]
    hi: dict[str, np.ndarray]
    deff: dict[str, np.ndarray]
    n_eff: dict[str, np.ndarray]
    n: dict[str, np.ndarray]
    df: np.ndarray
    stage: np.ndarray
    method: str


def _split(q: np.ndarray, c: int, p: int) -> dict[str, np.ndarray]:
    """(…, C + P + 1) → {"component": …, "pillar": …, "overall": …}."""
    return {"component": q[..., :c], "pillar": q[..., c:c + p], "overall": q[..., c + p]}


def _membership(structure: Structure, k: int) -> np.ndarray:
    """k × (C + P + 1): items of each component, pillar and of the pooled overall index."""
    return np.concatenate([structure.comp_m, structure.pillar_m, np.ones((k, 1))], axis=1)


def _composite_estimates(num_g: np.ndarray, den_g: np.ndarray, structure: Structure,
                         aggregation: str) -> np.ndarray:
    idx = item_index(num_g, den_g)
    comp, pil, overall = composites(idx, structure, aggregation)
    return np.concatenate([comp, pil, overall[..., None]], axis=-1)


def _influence(num: np.ndarray, den: np.ndarray, g: np.ndarray, num_g: np.ndarray, den_g: np.ndarray,
               structure: Structure, aggregation: str) -> tuple[np.ndarray, np.ndarray]:
    """Linearised influence of every row on every composite of its group (rows × Q), and per
    row and composite whether the row answers any of the composite's items.

    Item index r_j = 100 S_j / V_j has influence 100 (s_ij − p_j v_ij) / V_j; a composite is the
    mean of its non-missing item indices, so its influence is the mean of theirs.
    """
    k = num.shape[1]
    m = _membership(structure, k)
    c, p = len(structure.components), len(structure.pillars)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(den_g > 0, num_g / np.where(den_g > 0, den_g, 1.0), 0.0)
        inv = np.where(den_g > 0, 100.0 / np.where(den_g > 0, den_g, 1.0), 0.0)
    dt = num.dtype if num.dtype.kind == "f" else np.float64      # float32 rows stay float32
    m = m.astype(dt)
    d = (num - ratio.astype(dt)[g] * den) * inv.astype(dt)[g]
    cnt = (den_g > 0).astype(float) @ m                         # non-missing items per composite
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (d @ m) / np.where(cnt > 0, cnt, 1.0).astype(dt)[g]
    answers = ((den > 0).astype(dt) @ m) > 0
    if aggregation == "pillars" and p:
        pil_ok = cnt[:, c:c + p] > 0
        n_pil = pil_ok.sum(axis=1)
        z[:, c + p] = (z[:, c:c + p] * pil_ok[g]).sum(axis=1) / np.where(n_pil > 0, n_pil, 1)[g]
    return z, answers


def _sum_by(codes: np.ndarray, values: np.ndarray, n: int, order: np.ndarray | None = None) -> np.ndarray:
    """Column sums of ``values`` (rows × q) per code in 0..n−1: one sort (or the given ``order``
    of the codes) and one ``reduceat`` over every column at once (a bincount per column costs q
    passes over the rows)."""
    out = np.zeros((n, values.shape[1]))
    if len(codes) == 0:
        return out
    if order is None:
        order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    have = counts > 0
    out[have] = np.add.reduceat(values[order], starts[have], axis=0)
    return out


def _state_sums(codes: np.ndarray, states: np.ndarray, n: int) -> np.ndarray:
    """Satisfied and valid answers per code (n × 2k) from item states, one integer bincount per
    item (the unweighted fast path: no float matrix of the rows is summed)."""
    k = states.shape[1]
    out = np.empty((n, 2 * k))
    if n == len(codes) and (np.bincount(codes, minlength=n) == 1).all():
        # one row per code (households as the clusters of a village table): placed, not counted
        out[codes, :k] = states == 2
        out[codes, k:] = states >= 1
        return out
    base = codes * 3
    cols = np.asfortranarray(states)          # contiguous columns: one pass each
    for j in range(k):
        cnt = np.bincount(base + cols[:, j], minlength=3 * n).reshape(n, 3)
        out[:, j] = cnt[:, 2]
        out[:, k + j] = cnt[:, 1] + cnt[:, 2]
    return out


def design_precision(num: np.ndarray | None, den: np.ndarray | None, gid: np.ndarray, n_groups: int,
                     structure: Structure, aggregation: str, replicates: Replicates,
                     method: str = "bootstrap", confidence: float = 0.95,
                     states: np.ndarray | None = None) -> Precision:
    """Estimates, SEs, intervals and design effects of every composite of every group.

    ``num``/``den`` (rows × items): each row's contribution to an item's numerator (satisfied) and
    denominator (valid answers), multiplied by its weight if any; or, unweighted, ``states`` (the
    item states of ``indices.item_states``: 0 missing, 1 valid, 2 satisfied). ``gid``: the group
    of each row (−1: in no group). The design and its replicate weights come with ``replicates``.
    """
    d: ResolvedDesign = replicates.design
    c, p = len(structure.components), len(structure.pillars)
    qn = c + p + 1
    if (gid >= 0).all():
        rows = np.arange(len(gid))
        g = gid.astype(np.int64)
    else:
        rows = np.flatnonzero(gid >= 0)
        g = gid[rows].astype(np.int64)
        states = states[rows] if states is not None else None
        num = num[rows] if num is not None else None
        den = den[rows] if den is not None else None
    if states is not None:
        num, den = (states == 2).astype(np.float32), (states >= 1).astype(np.float32)
    assert num is not None and den is not None
    k = num.shape[1]
    n_rows_g = np.bincount(g, minlength=n_groups)

    # the stage each group is resampled at: the first at which it spans two units or more (its
    # smallest and largest unit codes differ), from one sort of the rows by group
    n_st = d.n_stages
    g_order = np.argsort(g, kind="stable")
    g_starts = np.concatenate([[0], np.cumsum(n_rows_g)[:-1]])
    nonempty = n_rows_g > 0
    stage = np.full(n_groups, n_st - 1, dtype=np.int64)
    decided = np.zeros(n_groups, dtype=bool)
    for s in range(n_st):
        u = d.codes[s][rows][g_order]
        spans = np.zeros(n_groups, dtype=bool)
        if len(u):
            lo_u = np.minimum.reduceat(u, g_starts[nonempty])
            hi_u = np.maximum.reduceat(u, g_starts[nonempty])
            spans[nonempty] = lo_u != hi_u
        stage[spans & ~decided] = s
        decided |= spans
    row_stage = stage[g]
    unit = np.empty(len(rows), dtype=np.int64)
    for s in range(n_st):
        sel = row_stage == s
        unit[sel] = d.codes[s][rows[sel]]
    big = max(len(x) for x in d.parent) + 1
    cl_key, cl = np.unique(g * big + unit, return_inverse=True)
    cl = cl.astype(np.int64)
    cl_group = cl_key // big
    cl_unit = cl_key % big
    cl_stage = stage[cl_group]
    n_cl = len(cl_key)
    # cluster and group sums of numerators and denominators (n_cl × 2k, n_groups × 2k); counted
    # from the item states when there are any (whole numbers: the same sums, without sorting a
    # float matrix of every cluster; a village table's clusters are its 100 000 households)
    if states is None:
        x_cl = _sum_by(cl, np.concatenate([num, den], axis=1), n_cl)
        x_g = _sum_by(cl_group, x_cl, n_groups)
    else:
        x_cl = _state_sums(cl, states, n_cl)
        x_g = _state_sums(g, states, n_groups)
    num_g, den_g = x_g[:, :k], x_g[:, k:]
    est = _composite_estimates(num_g, den_g, structure, aggregation)
    # the stratum each cluster is resampled in: a design stratum (stage 0) or its parent unit
    cl_parent = np.empty(n_cl, dtype=np.int64)
    cl_nh = np.empty(n_cl, dtype=np.int64)
    cl_f = np.zeros(n_cl)
    for s in range(n_st):
        sel = cl_stage == s
        par = d.parent[s][cl_unit[sel]]
        cl_parent[sel] = par
        cl_nh[sel] = d.size[s][par]
        if s == 0:
            cl_f[sel] = d.fpc_rate[par]
    big_p = max(len(x) for x in d.size) + 1
    gs_key, gs_first, gs = np.unique((cl_group * (n_st + 1) + cl_stage) * big_p + cl_parent,
                                     return_index=True, return_inverse=True)
    gs_group = cl_group[gs_first]
    gs_nh = cl_nh[gs_first]
    gs_f = cl_f[gs_first]
    n_strata = np.bincount(gs_group, minlength=n_groups)
    n_lonely = np.bincount(gs_group, weights=(gs_nh < 2), minlength=n_groups)
    df = np.bincount(gs_group, weights=gs_nh - 1, minlength=n_groups).astype(float)
    df[n_rows_g == 0] = np.nan
    contributing = n_strata - n_lonely
    with np.errstate(invalid="ignore", divide="ignore"):
        if d.design.lonely_psu == "average":
            factor = np.where(contributing > 0, n_strata / np.where(contributing > 0, contributing, 1), np.nan)
        else:
            factor = np.where(contributing > 0, 1.0, np.nan)

    z, answers = _influence(num, den, g, num_g, den_g, structure, aggregation)
    sums = _sum_by(g, np.concatenate([answers, z * z], axis=1), n_groups, g_order)
    n_q, zz = sums[:, :qn], sums[:, qn:]
    with np.errstate(invalid="ignore", divide="ignore"):
        v_srs = n_q / np.where(n_q > 1, n_q - 1, np.nan) * zz

    if method == "bootstrap":
        with _blas().limit(limits=1, user_api="blas"):   # see _bootstrap_se
            se = _bootstrap_se(x_cl, cl_group, cl_stage, cl_unit, n_groups, structure, aggregation,
                               replicates, k, qn)
        se = se * np.sqrt(factor)[:, None]
    elif method == "linearisation":
        t = _sum_by(cl, z, n_cl)
        s1 = _sum_by(gs, t, len(gs_key))
        s2 = _sum_by(gs, t * t, len(gs_key))
        with np.errstate(invalid="ignore", divide="ignore"):
            nh = gs_nh[:, None].astype(float)
            part = np.where(nh > 1, (1 - gs_f)[:, None] * nh / (nh - 1) * (s2 - s1 * s1 / nh), 0.0)
        v = _sum_by(gs_group, part, n_groups) * factor[:, None]
        se = np.sqrt(np.maximum(v, 0.0))
    elif method == "srs":
        se = np.sqrt(v_srs)
        df = np.where(n_rows_g > 1, n_rows_g - 1.0, np.nan)
    else:
        raise ValueError(f"unknown variance method {method!r}: use bootstrap, linearisation or srs")
    se = np.where(np.isnan(est), np.nan, se)
    tq = np.array([t_quantile(0.5 + confidence / 2, x) if x > 0 else np.nan for x in df])
    half = tq[:, None] * se
    lo, hi = np.clip(est - half, 0.0, 100.0), np.clip(est + half, 0.0, 100.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        deff = np.where(v_srs > 0, se * se / v_srs, np.nan)
        n_eff = np.where(deff > 0, n_q / deff, np.nan)
    return Precision(_split(est, c, p), _split(se, c, p), _split(lo, c, p), _split(hi, c, p),
                     _split(deff, c, p), _split(n_eff, c, p), _split(n_q, c, p), df, stage, method)


_BLAS: list[ThreadpoolController] = []


def _blas() -> ThreadpoolController:
    """The process's BLAS thread pools, found once (looking them up costs ~6 ms, a limit 0.2 ms)."""
    if not _BLAS:
        _BLAS.append(ThreadpoolController())
    return _BLAS[0]


def _bootstrap_se(x_cl: np.ndarray, cl_group: np.ndarray, cl_stage: np.ndarray, cl_unit: np.ndarray,
                  n_groups: int, structure: Structure, aggregation: str, reps: Replicates, k: int,
                  qn: int) -> np.ndarray:
    """Standard deviation over the Rao–Wu replicates of every composite of every group.

    Groups with a similar number of clusters are processed together: their replicate weights
    are written into one (groups × B × m) array, padded with zero weight, and one stacked matmul
    (a BLAS gemm per group) turns them and the m × 2k cluster counts into every replicate's
    counts. The arrays of a batch are views of buffers made once for the call: a village table
    (2 000 groups of ~50 households, B = 1 000) runs a dozen batches of ~80 MB, and fresh arrays
    cost a page fault per 4 KB each time. The caller runs it with BLAS on one thread: the
    products are small (m is tens of clusters), so OpenBLAS's threads mostly hand work over and
    spin; on a shared 2-CPU machine that tripled the CPU of a 100 000-response analysis. float32
    keeps the products exact enough (counts × weights stay far below 2**24 for counts; weighted
    sums keep 7 significant digits) and halves the cost.
    """
    d = reps.design
    b = reps.b
    x = x_cl.astype(np.float32)
    order = np.argsort(cl_group, kind="stable")
    bounds = np.searchsorted(cl_group[order], np.arange(n_groups + 1))
    sizes = np.diff(bounds)
    se = np.full((n_groups, qn), np.nan)
    groups = [int(gg) for gg in np.argsort(sizes, kind="stable") if sizes[gg] > 0]
    batches: list[list[int]] = []
    i = 0
    while i < len(groups):
        j = i + 1
        while j < len(groups) and (j - i + 1) * b * sizes[groups[j]] <= _BATCH_ELEMENTS:
            j += 1
        batches.append(groups[i:j])
        i = j
    if not batches:
        return se
    most = max(len(bt) for bt in batches)
    m_most = max(len(bt) * int(sizes[bt[-1]]) for bt in batches)
    w_buf = np.empty(m_most * b, dtype=np.float32)
    xs_buf, xv_buf = np.empty(m_most * k, dtype=np.float32), np.empty(m_most * k, dtype=np.float32)
    s_buf, v_buf = np.empty(most * b * k, dtype=np.float32), np.empty(most * b * k, dtype=np.float32)
    for batch in batches:
        nb, m_max = len(batch), int(sizes[batch[-1]])
        w = w_buf[:nb * b * m_max].reshape(nb, b, m_max)
        xs = xs_buf[:nb * m_max * k].reshape(nb, m_max, k)
        xv = xv_buf[:nb * m_max * k].reshape(nb, m_max, k)
        for t, gg in enumerate(batch):
            members = order[bounds[gg]:bounds[gg + 1]]
            m = len(members)
            s = int(cl_stage[members[0]])
            units = cl_unit[members]
            if s == 0:
                np.take(reps.stage0, units, axis=1, out=w[t, :, :m], mode="clip")
            else:
                reps.block_into(w[t, :, :m], s, int(d.parent[s][units[0]]), d.rank[s][units])
            w[t, :, m:] = 0.0
            xs[t, :m], xv[t, :m] = x[members, :k], x[members, k:]
            xs[t, m:], xv[t, m:] = 0.0, 0.0
        # satisfied and valid counts of every replicate, each contiguous (the item indices divide
        # one by the other: strided halves of one product cost 2.5× as much)
        sat = np.matmul(w, xs, out=s_buf[:nb * b * k].reshape(nb, b, k))
        valid = np.matmul(w, xv, out=v_buf[:nb * b * k].reshape(nb, b, k))
        rep = _replicate_composites(sat, valid, structure, aggregation)   # (groups, B, Q)
        se[batch] = _replicate_sd(rep)
    return se


def _replicate_sd(rep: np.ndarray) -> np.ndarray:
    """(groups, B, Q) → (groups, Q): the standard deviation over the replicates in float64; a
    group with a NaN replicate (a composite with no valid item in it) ignores those, and a
    composite with no valid replicate stays NaN. ``nanstd`` costs twice ``std`` and only a few
    groups need it, so it runs on those alone (both sum in the same order: the same numbers)."""
    nan_g = np.isnan(rep).any(axis=(1, 2))
    if not nan_g.any():
        return rep.std(axis=1, ddof=1, dtype=np.float64)
    out = np.empty((rep.shape[0], rep.shape[2]))
    if not nan_g.all():
        out[~nan_g] = rep[~nan_g].std(axis=1, ddof=1, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out[nan_g] = np.nanstd(rep[nan_g].astype(np.float64), axis=1, ddof=1)
    return out


def _replicate_composites(sat: np.ndarray, valid: np.ndarray, structure: Structure,
                          aggregation: str) -> np.ndarray:
    """(…, B, k) replicate counts, satisfied and valid → (…, B, C + P + 1) composites; ``sat`` is
    overwritten with the item indices.

    The formulas of :func:`analytics.indices.composites` (item index, then the mean of the
    non-missing items of each component, pillar and the pooled overall), written for the
    replicate array: the missing item indices (an item nobody answered validly in a replicate:
    few) are found once, zeroed, and taken off each mean's item count by a bincount over them,
    instead of a float mask the size of the array multiplied by every membership matrix. The
    same products, so the same numbers bit for bit.
    """
    k = sat.shape[-1]
    idx = np.multiply(sat, 100.0, out=sat)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(idx, valid, out=idx)                                  # 0/0 → NaN (no valid answer)
    flat = idx.reshape(-1)
    bad = np.flatnonzero(np.isnan(flat))
    flat[bad] = 0.0
    bad_row, bad_item = np.divmod(bad, k)
    n_rows = len(flat) // k

    def mean_over(mem: np.ndarray) -> np.ndarray:
        mem = mem.astype(np.float32)
        num = idx @ mem
        den = np.broadcast_to(mem.sum(axis=0), num.shape)
        if len(bad_row):
            miss = np.stack([np.bincount(bad_row, weights=mem[bad_item, q], minlength=n_rows)
                             for q in range(mem.shape[1])], axis=-1).reshape(num.shape)
            den = (den - miss).astype(np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    comp = mean_over(structure.comp_m)
    pil = mean_over(structure.pillar_m)
    if aggregation == "pooled":
        overall = mean_over(np.ones((k, 1)))[..., 0]
    else:          # "pillars" averages the pillar indices (the zeroed items are not read again)
        overall = overall_index(idx, pil, aggregation)
    return np.concatenate([comp, pil, overall[..., None]], axis=-1)


# ---------------------------------------------------------------- tables

def table_rows(df: pd.DataFrame, table: IndexTable) -> np.ndarray:
    """The row of ``table`` each data row belongs to (−1: its group is not in the table)."""
    gcodes, gkeys = group_codes(df, table.by)
    if table.by:
        pos = table.keys.reset_index().rename(columns={"index": "_row"})
        m = gkeys.reset_index().rename(columns={"index": "_g"}).merge(pos, on=table.by, how="left")
        row_of_g = m.sort_values("_g")["_row"].to_numpy(dtype=float)
    else:
        row_of_g = np.zeros(len(gkeys))
    out = row_of_g[gcodes]
    return np.where(np.isnan(out), -1, out).astype(np.int64)


def replicates_for(df: pd.DataFrame, settings: AnalyticsSettings = DEFAULT_SETTINGS) -> Replicates:
    """The design of ``settings`` (or the default one for these columns) resolved on ``df``, with
    its replicate weights: make it once per data set and pass it to every :func:`add_intervals`."""
    design = settings.design if settings.design is not None else default_design(df, settings.lonely_psu)
    return Replicates(resolve(design, df), settings.bootstrap_b, settings.seed)


def add_intervals(table: IndexTable, df: pd.DataFrame, settings: AnalyticsSettings = DEFAULT_SETTINGS,
                  states: np.ndarray | None = None, replicates: Replicates | None = None) -> IndexTable:
    """Fill ``table.intervals`` (Wilson for items, the design's variance for composites) and
    ``table.precision`` (SE, degrees of freedom, design effect, effective sample size), in place."""
    lo, hi = wilson(table.n_satisfied.to_numpy(), table.n_valid.to_numpy(), settings.confidence)
    table.intervals["item"] = (pd.DataFrame(lo, index=table.items.index, columns=table.items.columns),
                               pd.DataFrame(hi, index=table.items.index, columns=table.items.columns))
    if states is None:
        states = item_states(df, table.meta)
    if replicates is None:
        replicates = replicates_for(df, settings)
    gid = table_rows(df, table)
    st = Structure.of(table.meta)
    pr = design_precision(None, None, gid, len(table.keys), st, table.aggregation, replicates,
                          settings.variance, settings.confidence, states=states)
    set_precision(table, pr, st)
    return table


def set_precision(table: IndexTable, pr: Precision, st: Structure) -> None:
    """Write a :class:`Precision` into ``table.intervals`` / ``table.precision`` as DataFrames."""
    idx = table.items.index
    cols = {"component": st.components, "pillar": st.pillars}

    def frame(kind: str, arr: np.ndarray) -> pd.DataFrame | pd.Series:
        if kind == "overall":
            return pd.Series(arr, index=idx)
        return pd.DataFrame(arr, index=idx, columns=cols[kind])

    for kind in KINDS:
        table.intervals[kind] = (frame(kind, pr.lo[kind]), frame(kind, pr.hi[kind]))
        table.precision[kind] = {"se": frame(kind, pr.se[kind]), "deff": frame(kind, pr.deff[kind]),
                                 "n_eff": frame(kind, pr.n_eff[kind])}
    table.precision["df"] = {"df": pd.Series(pr.df, index=idx)}
    table.precision["method"] = {"method": pd.Series(pr.method, index=idx)}


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
