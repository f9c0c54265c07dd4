"""The official indices, each formula written once (docs/methodology.md).

Method (Decision 1001/QĐ-BNV as read in docs/methodology.md, which gives the confidence labels; documents in docs/sources.md):

- item satisfaction index: share of valid answers in the item's "satisfied" values (4 "Hài lòng"
  and 5 "Rất hài lòng" on the 5-point scale), × 100 — [unconfirmed as to exact wording], the usual
  MoHA "4 + 5 over all answers" convention. Missing and not-applicable answers are excluded from
  the denominator ([unconfirmed], the usual practice); an item with no valid answer is NaN, never 0.
- component (block, e.g. "II.A") index: mean of its item indices [unconfirmed];
- pillar index ("policy" I, "services" II): mean of its item indices, pooled over its components
  (so a 10-item block weighs 10 times a 1-item block) — our reading, documented as a choice;
- overall index (SIPAS): setting ``aggregation``: "pooled" = mean of all satisfaction item indices
  (default: it reproduces the 2024 national value, (23 × 83.84 + 16 × 84.09) / 39 = 83.94
  [derived]) or "pillars" = mean of the pillar indices (83.965 on the same figures);
- perception and expectation indicators: share choosing each option (multiple choice: share of
  respondents picking each option) [confirmed: MoHA reports them as shares];
- response rates per unit from disposition counts (AAPOR RR1, COOP1, REF1, CON1).

Everything is computed from one primitive: per group and per item, the number of satisfied and of
valid answers (``Counts``). Those counts are additive, so a village table rolls up to communes,
districts and the province by summing, and the bootstrap (``uncertainty.py``) resamples them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from analytics.settings import AGE_BANDS, DEFAULT_SETTINGS, AnalyticsSettings
from analytics.text import label, vi_key
from fieldwork.dispositions import AAPOR_GROUP, Disposition
from survey_defs.schema import IndexRole, Question, QuestionType, Survey

_NA_LABELS = ("không áp dụng", "không biết", "not applicable", "don't know", "khong ap dung",
              "khong biet")


def _plain(s: str) -> str:
    return unicodedata.normalize("NFC", s).strip().lower()


@dataclass(frozen=True, slots=True)
class IndexItem:
    """One answer key that feeds an index or an indicator (a question or a matrix item)."""

    step_id: str
    question_id: str
    kind: str                               # satisfaction | perception | expectation
    pillar: str | None
    component: str | None
    criterion: str | None
    text: dict[str, str]
    qtype: str                              # question type (matrix items: "matrix")
    options: tuple[tuple[object, str, str], ...]   # (value, label vi, label en)
    valid: tuple[object, ...]               # values counted in the denominator
    satisfied: tuple[object, ...]           # values counted as satisfied (satisfaction items)

    @property
    def multi(self) -> bool:
        return self.qtype == QuestionType.multi.value

    @property
    def name(self) -> str:
        """Short display name: the criterion if the definition gives one, else the question text."""
        return self.criterion or label(self.text)


def _valid_values(survey: Survey, q: Question, settings: AnalyticsSettings) -> tuple[object, ...]:
    out = []
    for o in survey.options_of(q):
        if o.value in settings.na_values:
            continue
        if any(_plain(v).startswith(na) for v in o.label.values() for na in _NA_LABELS):
            continue
        out.append(o.value)
    return tuple(out)


def index_items(survey: Survey, kinds: Iterable[str] = ("satisfaction",),
                settings: AnalyticsSettings = DEFAULT_SETTINGS) -> list[IndexItem]:
    """The items of the given kinds, in questionnaire order.

    A matrix item takes its own ``index`` role, or its question's role if it has none; a
    satisfaction item's satisfied values come from ``Survey.satisfied_values`` (the role's
    ``satisfied`` list, else the scale's).
    """
    kinds = set(kinds)
    out: list[IndexItem] = []
    for q in survey.questions:
        opts = tuple((o.value, label(o.label, "vi"), label(o.label, "en")) for o in survey.options_of(q))
        valid = _valid_values(survey, q, settings)
        entries: list[tuple[str, IndexRole | None, dict[str, str], str]] = []
        if q.type is QuestionType.matrix:
            for it in q.items or []:
                entries.append((it.id, it.index or q.index, dict(it.text), "matrix"))
        elif q.type is not QuestionType.note:
            entries.append((q.id, q.index, dict(q.text), q.type.value))
        for step_id, role, text, qtype in entries:
            if role is None or role.kind not in kinds:
                continue
            sat = tuple(v for v in survey.satisfied_values(q, role) if v in valid) \
                if role.kind == "satisfaction" else ()
            out.append(IndexItem(step_id=step_id, question_id=q.id, kind=role.kind,
                                 pillar=role.pillar, component=role.component,
                                 criterion=role.criterion, text=text, qtype=qtype,
                                 options=opts, valid=valid, satisfied=sat))
    return out


# ---------------------------------------------------------------- the counting primitive

def _isin(values: np.ndarray, targets: Sequence[object]) -> np.ndarray:
    if values.dtype.kind in "fiub":
        nums = [t for t in targets if isinstance(t, (int, float)) and not isinstance(t, bool)]
        out = np.zeros(values.shape, dtype=bool)
        for t in nums:
            out |= values == t
        return out
    return pd.Series(values).isin(list(targets)).to_numpy()


def item_states(df: pd.DataFrame, items: Sequence[IndexItem]) -> np.ndarray:
    """n × k int8 matrix: 0 = missing / not applicable / invalid, 1 = valid, 2 = valid and satisfied.

    Computed once per data set; every grouping then only counts states.
    """
    n = len(df)
    out = np.zeros((n, len(items)), dtype=np.int8)
    for j, it in enumerate(items):
        if it.step_id not in df.columns:
            continue
        col = df[it.step_id].to_numpy()
        st = out[:, j]
        st[_isin(col, it.valid)] = 1
        if it.satisfied:
            st[_isin(col, it.satisfied)] = 2
    return out


def group_codes(df: pd.DataFrame, by: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer group code per row and the table of group keys (a missing key is its own group)."""
    if not by:
        return np.zeros(len(df), dtype=np.int64), pd.DataFrame(index=[0])
    g = df.groupby(list(by), dropna=False, sort=True, observed=True)
    codes = g.ngroup().to_numpy(dtype=np.int64)
    keys = g.size().index.to_frame(index=False)
    return codes, keys


@dataclass
class Counts:
    """Per group (rows of ``keys``) and item (columns): satisfied and valid answers, responses."""

    keys: pd.DataFrame
    items: list[IndexItem]
    sat: np.ndarray
    valid: np.ndarray
    n: np.ndarray

    @property
    def by(self) -> list[str]:
        return list(self.keys.columns)

    def rollup(self, by: Sequence[str]) -> "Counts":
        """Sum to a coarser grouping (counts are additive: village → commune → district → ...)."""
        by = list(by)
        if not by:
            codes = np.zeros(len(self.keys), dtype=np.int64)
            keys = pd.DataFrame(index=[0])
        else:
            codes, keys = group_codes(self.keys, by)
        g = len(keys)
        return Counts(keys=keys, items=self.items, sat=_sum_rows(self.sat, codes, g),
                      valid=_sum_rows(self.valid, codes, g), n=np.bincount(codes, self.n, g).astype(np.int64))

    def reindex(self, units: pd.DataFrame) -> "Counts":
        """Align on a full list of units (key columns of ``units``): a unit with no responses gets
        zero counts, hence NaN indices, instead of silently disappearing from the tables."""
        cols = [c for c in self.by if c in units.columns]
        full = units[cols].drop_duplicates().reset_index(drop=True)
        pos = full.merge(self.keys.reset_index().rename(columns={"index": "_pos"}), on=cols, how="left")["_pos"]
        have = pos.notna().to_numpy()
        idx = pos.fillna(0).to_numpy(dtype=np.int64)
        k = len(self.items)
        sat = np.zeros((len(full), k), dtype=np.int64)
        valid = np.zeros((len(full), k), dtype=np.int64)
        n = np.zeros(len(full), dtype=np.int64)
        sat[have] = self.sat[idx[have]]
        valid[have] = self.valid[idx[have]]
        n[have] = self.n[idx[have]]
        extra = self.keys.merge(full, on=cols, how="left", indicator=True)["_merge"].eq("left_only").to_numpy()
        if extra.any():  # responses from units missing in the list are kept, not dropped
            full = pd.concat([full, self.keys.loc[extra, cols]], ignore_index=True)
            sat = np.vstack([sat, self.sat[extra]])
            valid = np.vstack([valid, self.valid[extra]])
            n = np.concatenate([n, self.n[extra]])
        return Counts(keys=full, items=self.items, sat=sat, valid=valid, n=n)


def _sum_rows(m: np.ndarray, codes: np.ndarray, g: int) -> np.ndarray:
    out = np.zeros((g, m.shape[1]), dtype=np.int64)
    for j in range(m.shape[1]):
        out[:, j] = np.bincount(codes, weights=m[:, j], minlength=g)
    return out


def counts_from_states(states: np.ndarray, codes: np.ndarray, keys: pd.DataFrame,
                       items: Sequence[IndexItem]) -> Counts:
    """Count states per group with one integer ``bincount`` per item (no per-row Python)."""
    g = len(keys)
    k = states.shape[1]
    sat = np.empty((g, k), dtype=np.int64)
    valid = np.empty((g, k), dtype=np.int64)
    base = codes * 3
    for j in range(k):
        c = np.bincount(base + states[:, j], minlength=3 * g).reshape(g, 3)
        sat[:, j] = c[:, 2]
        valid[:, j] = c[:, 1] + c[:, 2]
    n = np.bincount(codes, minlength=g).astype(np.int64)
    return Counts(keys=keys, items=list(items), sat=sat, valid=valid, n=n)


def item_counts(df: pd.DataFrame, items: Sequence[IndexItem], by: Sequence[str],
                states: np.ndarray | None = None) -> Counts:
    """Satisfied and valid answer counts per group and item, computed once for a grouping."""
    if states is None:
        states = item_states(df, items)
    codes, keys = group_codes(df, by)
    return counts_from_states(states, codes, keys, items)


# ---------------------------------------------------------------- formulas on counts

@dataclass(frozen=True)
class Structure:
    """Membership matrices of items in components and pillars (k × C, k × P)."""

    components: list[str]
    pillars: list[str]
    comp_m: np.ndarray
    pillar_m: np.ndarray

    @classmethod
    def of(cls, items: Sequence[IndexItem]) -> "Structure":
        comps = list(dict.fromkeys(it.component for it in items if it.component))
        pils = list(dict.fromkeys(it.pillar for it in items if it.pillar))
        cm = np.array([[it.component == c for c in comps] for it in items], dtype=float).reshape(len(items), len(comps))
        pm = np.array([[it.pillar == p for p in pils] for it in items], dtype=float).reshape(len(items), len(pils))
        return cls(comps, pils, cm, pm)


def item_index(sat: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Item satisfaction index (docs/methodology.md): 100 × satisfied / valid answers.

    Denominator = valid answers only (missing and not applicable excluded, [unconfirmed] usual
    practice). No valid answer → NaN (unknown), never 0 (which would read as "nobody satisfied").
    """
    sat = np.asarray(sat, dtype=float)
    valid = np.asarray(valid, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid > 0, 100.0 * sat / np.where(valid > 0, valid, 1.0), np.nan)


def nan_mean_over(values: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """Mean of the non-missing columns of ``values`` (… × k) within each group of ``membership``
    (k × m): the component and pillar means. A group with no non-missing item is NaN."""
    ok = ~np.isnan(values)
    dt = values.dtype if values.dtype.kind == "f" else np.float64
    mem = membership.astype(dt, copy=False)
    if ok.all():   # the usual case (every item answered somewhere): one product, same result
        num = values.astype(dt, copy=False) @ mem
        den = np.broadcast_to(mem.sum(axis=0), num.shape)
    else:
        num = np.where(ok, values, 0.0).astype(dt, copy=False) @ mem
        den = ok.astype(dt) @ mem
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def overall_index(item_idx: np.ndarray, pillar_idx: np.ndarray, aggregation: str) -> np.ndarray:
    """Overall satisfaction index (SIPAS), docs/methodology.md [derived]:

    - "pooled": mean of all satisfaction item indices — reproduces the published 2024 national
      SIPAS: (23 × 83.84 + 16 × 84.09) / 39 = 83.94;
    - "pillars": mean of the pillar indices ((83.84 + 84.09) / 2 = 83.965, which does not match
      the 2024 publication; kept because the Lai Châu rule is unknown).
    """
    if aggregation == "pooled":
        return nan_mean_over(item_idx, np.ones((item_idx.shape[-1], 1)))[..., 0]
    if aggregation == "pillars":
        return nan_mean_over(pillar_idx, np.ones((pillar_idx.shape[-1], 1)))[..., 0]
    raise ValueError(f"unknown aggregation rule {aggregation!r}: use 'pooled' or 'pillars'")


def composites(item_idx: np.ndarray, structure: Structure, aggregation: str
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Component, pillar and overall indices from item indices (works on any leading shape, so the
    bootstrap calls it on B replicates at once)."""
    comp = nan_mean_over(item_idx, structure.comp_m)
    pil = nan_mean_over(item_idx, structure.pillar_m)
    return comp, pil, overall_index(item_idx, pil, aggregation)


def overall_from_pillars(pillar_values: Sequence[float], pillar_items: Sequence[int],
                         aggregation: str = "pooled") -> float:
    """Overall index from published pillar values and their item counts (the 2024 check).

    Under "pooled" the mean of all item indices equals the item-count-weighted mean of the pillar
    means; under "pillars" it is their plain mean.
    """
    v = np.asarray(pillar_values, dtype=float)
    w = np.asarray(pillar_items, dtype=float)
    if aggregation == "pooled":
        return float((v * w).sum() / w.sum())
    if aggregation == "pillars":
        return float(v.mean())
    raise ValueError(f"unknown aggregation rule {aggregation!r}: use 'pooled' or 'pillars'")


@dataclass
class IndexTable:
    """Point indices for one grouping. DataFrames are indexed by the group keys."""

    by: list[str]
    keys: pd.DataFrame
    n: pd.Series
    items: pd.DataFrame          # groups × step_id
    n_valid: pd.DataFrame        # groups × step_id
    n_satisfied: pd.DataFrame
    components: pd.DataFrame     # groups × component
    pillars: pd.DataFrame        # groups × pillar
    overall: pd.Series
    meta: list[IndexItem]
    aggregation: str
    intervals: dict[str, tuple[pd.DataFrame | pd.Series, pd.DataFrame | pd.Series]] = field(default_factory=dict)
    #: per kind ("overall", "pillar", "component"): {"se", "deff", "n_eff"} shaped like the values;
    #: "df": {"df": design degrees of freedom per group} (``uncertainty.add_intervals``)
    precision: dict[str, dict[str, pd.DataFrame | pd.Series]] = field(default_factory=dict)

    def tidy(self) -> pd.DataFrame:
        """One row per group and measure: measure_type (overall/pillar/component/item), measure,
        value, n (responses or valid answers), lo/hi when intervals were computed."""
        frames = []

        def add(kind: str, table: pd.DataFrame, nvalid: pd.DataFrame | None) -> None:
            long = table.stack(future_stack=True).rename("value").reset_index()
            long.columns = [*self.by, "measure", "value"] if self.by else ["_g", "measure", "value"]
            long.insert(len(self.by), "measure_type", kind)
            if nvalid is not None:
                long["n"] = nvalid.stack(future_stack=True).to_numpy()
            else:
                long["n"] = np.repeat(self.n.to_numpy(), table.shape[1])
            if kind in self.intervals:
                lo, hi = self.intervals[kind]
                long["lo"] = pd.DataFrame(lo).stack(future_stack=True).to_numpy()
                long["hi"] = pd.DataFrame(hi).stack(future_stack=True).to_numpy()
            for stat, values in self.precision.get(kind, {}).items():
                long[stat] = pd.DataFrame(values).stack(future_stack=True).to_numpy()
            frames.append(long)

        add("overall", self.overall.to_frame("overall"), None)
        add("pillar", self.pillars, None)
        add("component", self.components, None)
        add("item", self.items, self.n_valid)
        out = pd.concat(frames, ignore_index=True)
        if not self.by:
            out = out.drop(columns="_g")
        for c in ("lo", "hi", "se", "deff", "n_eff"):
            if c not in out.columns:
                out[c] = np.nan
        return out


def _index_of(keys: pd.DataFrame) -> pd.Index:
    if keys.shape[1] == 0:
        return pd.Index(["all"], name="group")
    if keys.shape[1] == 1:
        return pd.Index(keys.iloc[:, 0], name=keys.columns[0])
    return pd.MultiIndex.from_frame(keys)


def indices_from_counts(counts: Counts, settings: AnalyticsSettings = DEFAULT_SETTINGS) -> IndexTable:
    """Every satisfaction index for every group, from the counts alone (vectorised)."""
    items = counts.items
    st = Structure.of(items)
    idx = item_index(counts.sat, counts.valid)
    comp, pil, overall = composites(idx, st, settings.aggregation)
    index = _index_of(counts.keys)
    steps = [it.step_id for it in items]
    return IndexTable(
        by=counts.by, keys=counts.keys, n=pd.Series(counts.n, index=index, name="n"),
        items=pd.DataFrame(idx, index=index, columns=steps),
        n_valid=pd.DataFrame(counts.valid, index=index, columns=steps),
        n_satisfied=pd.DataFrame(counts.sat, index=index, columns=steps),
        components=pd.DataFrame(comp, index=index, columns=st.components),
        pillars=pd.DataFrame(pil, index=index, columns=st.pillars),
        overall=pd.Series(overall, index=index, name="overall"),
        meta=list(items), aggregation=settings.aggregation)


def satisfaction_indices(df: pd.DataFrame, survey_or_items: Survey | Sequence[IndexItem],
                         by: Sequence[str] = (), settings: AnalyticsSettings = DEFAULT_SETTINGS,
                         units: pd.DataFrame | None = None) -> IndexTable:
    """Item, component, pillar and overall indices by ``by`` (any columns of the wide table).

    ``units``: optional full list of units (columns named like ``by``) so that a unit with no
    responses appears with NaN indices and n = 0.
    """
    items = (index_items(survey_or_items, ("satisfaction",), settings)
             if isinstance(survey_or_items, Survey) else list(survey_or_items))
    counts = item_counts(df, items, by)
    if units is not None and by:
        counts = counts.reindex(units)
    return indices_from_counts(counts, settings)


def level_keys(level: str) -> list[str]:
    """Key columns of a unit level: the id and the name (``commune_id``, ``commune_name``)."""
    return [f"{level}_id", f"{level}_name"]


def indices_by_levels(df: pd.DataFrame, items: Sequence[IndexItem], levels: Sequence[str],
                      settings: AnalyticsSettings = DEFAULT_SETTINGS,
                      states: np.ndarray | None = None) -> dict[str, IndexTable]:
    """Point indices for each level of the unit hierarchy (coarse → fine, e.g. province … village).

    The finest level is counted once from the rows; coarser levels are sums of those counts.
    Levels missing from the data (no district after the 2025 merger) are skipped.
    """
    present = [lv for lv in levels if f"{lv}_id" in df.columns and df[f"{lv}_id"].notna().any()]
    if not present:
        return {}
    finest: list[str] = [c for lv in present for c in level_keys(lv) if c in df.columns]
    # Group rows once, by the finest unit id only (one factorize); the other key columns of a
    # group are read from its first row, since a unit has exactly one parent chain.
    codes, uniques = pd.factorize(df[f"{present[-1]}_id"], use_na_sentinel=False)
    codes = codes.astype(np.int64)
    _, first = np.unique(codes, return_index=True)
    keys = df[finest].iloc[first].reset_index(drop=True)
    if states is None:
        states = item_states(df, items)
    base = counts_from_states(states, codes, keys, items)
    out: dict[str, IndexTable] = {}
    for lv in present:
        keys = [c for c in level_keys(lv) if c in df.columns]
        counts = base.rollup(keys)
        out[lv] = indices_from_counts(counts, settings)
    return out


# ---------------------------------------------------------------- perceptions and expectations

def option_shares(df: pd.DataFrame, items: Sequence[IndexItem], by: Sequence[str] = ()) -> pd.DataFrame:
    """Share choosing each option, per group and item (perception and expectation indicators).

    Single choice / scale / yes-no: base = valid answers to the item. Multiple choice: base =
    respondents who answered the question; the share is the share picking each option (shares
    add up to more than 100%). Returns long rows: by…, step_id, kind, value, label, n, base, share.
    """
    codes, keys = group_codes(df, by)
    g = len(keys)
    rows = []
    for it in items:
        if it.step_id not in df.columns:
            continue
        values = [o[0] for o in it.options if o[0] in it.valid] or [o[0] for o in it.options]
        labels = {o[0]: o[1] for o in it.options}
        col = df[it.step_id]
        m = len(values)
        if it.multi:
            answered = np.fromiter((isinstance(v, (list, tuple)) and len(v) > 0 for v in col.to_numpy(dtype=object)),
                                   dtype=bool, count=len(col))
            base = np.bincount(codes[answered], minlength=g)
            ex = col[answered].explode()
            pos = {v: i for i, v in enumerate(values)}
            pos.update({float(v): i for i, v in enumerate(values) if isinstance(v, int)})
            opt = pd.Series(ex.to_numpy(dtype=object)).map(pos).fillna(-1).to_numpy(dtype=np.int64)
            rowpos = np.flatnonzero(answered).repeat(col[answered].map(len).to_numpy())
            ok = opt >= 0
            cnt = np.bincount(codes[rowpos[ok]] * m + opt[ok], minlength=g * m).reshape(g, m)
            bases = np.repeat(base[:, None], m, axis=1)
        else:
            arr = col.to_numpy()
            opt = np.full(len(arr), -1, dtype=np.int64)
            for i, v in enumerate(values):
                opt[_isin(arr, [v])] = i
            ok = opt >= 0
            cnt = np.bincount(codes[ok] * m + opt[ok], minlength=g * m).reshape(g, m)
            bases = np.repeat(cnt.sum(axis=1)[:, None], m, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(bases > 0, 100.0 * cnt / np.where(bases > 0, bases, 1), np.nan)
        block = keys.loc[keys.index.repeat(m)].reset_index(drop=True) if by else pd.DataFrame(index=range(g * m))
        block["step_id"] = it.step_id
        block["kind"] = it.kind
        block["component"] = it.component
        block["criterion"] = it.name
        block["value"] = np.tile(np.array(values, dtype=object), g)
        block["label"] = [labels[v] for v in block["value"]]
        block["n"] = cnt.ravel()
        block["base"] = bases.ravel()
        block["share"] = share.ravel()
        rows.append(block)
    if not rows:
        return pd.DataFrame(columns=[*by, "step_id", "kind", "component", "criterion", "value",
                                     "label", "n", "base", "share"])
    return pd.concat(rows, ignore_index=True)


def indicator_shares(df: pd.DataFrame, survey: Survey, kind: str, by: Sequence[str] = (),
                     settings: AnalyticsSettings = DEFAULT_SETTINGS) -> pd.DataFrame:
    """Perception (``kind="perception"``) or expectation indicators as shares per option."""
    return option_shares(df, index_items(survey, (kind,), settings), by)


# ---------------------------------------------------------------- response rates

DISPOSITIONS = tuple(d.value for d in Disposition)


def response_rates(dispositions: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Response, cooperation, refusal and contact rates per unit from disposition counts.

    Input: either wide (one column per disposition of ``fieldwork.dispositions.Disposition``,
    counts) or long (columns ``disposition`` and ``count``). The formulas are AAPOR's (Standard
    Definitions, 10th ed., 2023), with the disposition groups of ``fieldwork.dispositions``
    (I complete, P partial, R refusal/break-off, NC non-contact, UH unknown, NE not eligible), so
    the CLI's progress figures and the analysis tables agree; vectorised over units here:

    - RR1 = I / (I + P + R + NC + UH);  COOP1 = I / (I + P + R);  REF1 = R / (I + P + R + NC + UH);
    - CON1 = (I + P + R) / (I + P + R + NC + UH).
    Rates are percentages; a zero denominator gives NaN (shown as such), never 0.
    """
    by = list(by)
    d = dispositions
    if "disposition" in d.columns:
        d = d.pivot_table(index=by, columns="disposition", values="count", aggfunc="sum",
                          fill_value=0).reset_index()
        d.columns.name = None
    d = d.copy()
    unknown = [c for c in d.columns if c not in by and c not in DISPOSITIONS]
    if unknown:
        raise ValueError(f"unknown disposition(s) {unknown}; expected {list(DISPOSITIONS)}")
    for c in DISPOSITIONS:
        if c not in d.columns:
            d[c] = 0
    d = d.groupby(by, dropna=False, sort=False)[list(DISPOSITIONS)].sum().reset_index()
    grp = {g: [dd.value for dd, gg in AAPOR_GROUP.items() if gg == g] for g in ("I", "P", "R", "NC", "UH", "NE")}
    s = {g: d[cols].sum(axis=1) for g, cols in grp.items()}
    all_ = s["I"] + s["P"] + s["R"] + s["NC"] + s["UH"]
    reached = s["I"] + s["P"] + s["R"]

    def pct(a: pd.Series, b: pd.Series) -> pd.Series:
        return (100.0 * a / b.where(b > 0)).astype(float)

    d["sampled"] = d[list(DISPOSITIONS)].sum(axis=1)
    d["eligible"] = all_
    d["response_rate"] = pct(s["I"], all_)
    d["cooperation_rate"] = pct(s["I"], reached)
    d["refusal_rate"] = pct(s["R"], all_)
    d["contact_rate"] = pct(reached, all_)
    return d


# ---------------------------------------------------------------- helpers for the wide table

def age_band(age: pd.Series) -> pd.Series:
    """Age in years → band label of §1.2 (18–24, 25–34, 35–49, 50–60, >60); under 18 → NaN."""
    a = pd.to_numeric(age, errors="coerce")
    bins = [17.5] + [hi + 0.5 for _, hi, _ in AGE_BANDS[:-1]] + [np.inf]
    return pd.cut(a, bins=bins, labels=[lbl for _, _, lbl in AGE_BANDS]).astype(object)


def sort_units(table: pd.DataFrame, name_col: str) -> pd.DataFrame:
    """Rows in Vietnamese alphabetical order of ``name_col``."""
    return table.iloc[sorted(range(len(table)), key=lambda i: vi_key(table[name_col].iloc[i]))]
