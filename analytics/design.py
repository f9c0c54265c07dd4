"""The sample design of a round, resolved on its data, and its Rao–Wu bootstrap weights.

Every plan file declares how its sample was drawn (``design:`` in ``sampling/plans/*.yaml``):

- Plan 2024: districts are strata, communes the first-stage units (PSUs), then villages,
  then households;
- Plan 2025: every commune is taken, so communes are strata and villages the PSUs;
- Plan 2021: a quota by agency and field of service: the fields are strata and the
  respondents themselves the units.

The variance of a composite index follows that design, as R's ``survey`` and Stata's ``svy`` do
for the "ultimate cluster" (Kalton 1979): only the first stage is resampled, within strata, because
the later stages' variation is already inside the first-stage units' totals. The bootstrap is Rao
and Wu's rescaling bootstrap (Rao & Wu 1988; Rao, Wu & Yue 1992) with m_h = n_h − 1 units drawn
with replacement in a stratum of n_h: a unit drawn r times gets the multiplier
``1 − λ + λ · n_h / (n_h − 1) · r`` with ``λ = sqrt(1 − f_h)`` (``λ = 1`` without a finite
population correction), which makes the replicate variance of a linear statistic equal to the
textbook unbiased estimator; the naive n-of-n bootstrap understates it by (n_h − 1)/n_h (a
commune of 3 villages: intervals about 18% too narrow).

Replicate weights are made once per design and data set (:class:`Replicates`), one stream per
stratum seeded by (seed, stage, stratum), so the same data and seed always give the same intervals
and one stratum's weights do not depend on the others.

A stratum with a single PSU (a district where only one commune could be taken, a commune with one
village) has nothing to be resampled against. R calls this a "lonely PSU"; hailong follows R's
``options(survey.lonely.psu = "average")`` by default: the stratum contributes nothing, and the
variance is scaled up by H / (H − L) (H strata, L of them lonely), i.e. the lonely strata are given
the average contribution of the others. ``"certainty"`` (R's option of the same name: the stratum
contributes nothing, as if its PSU had been taken with certainty) is the alternative.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from sampling.plan_schema import PlanError, load_plan

__all__ = ["RESPONDENT", "Design", "DesignError", "ResolvedDesign", "Replicates", "default_design",
           "design_from_plan", "design_for_plan", "rao_wu_weights", "resolve", "level_column"]

#: The last stage of every design: the respondent (one per household in the household plans).
RESPONDENT = "respondent"

LonelyPsu = Literal["average", "certainty"]


class DesignError(ValueError):
    """A design that cannot be applied to the data (a column it names is missing, a bad value)."""


@dataclass(frozen=True, slots=True)
class Design:
    """How the sample was drawn, in columns of the wide analytics table.

    - ``strata``: column whose values are the strata of the first stage (None: one stratum);
    - ``stages``: the column of each sampling stage's units, first-stage units (PSUs) first; the
      last is usually :data:`RESPONDENT` (the rows themselves);
    - ``fpc``: optional column holding, on every row, the number of first-stage units in the
      population of the row's stratum (R's ``fpc = ~N``); None: no finite population correction,
      the conservative with-replacement approximation R uses by default;
    - ``lonely_psu``: what a stratum with a single PSU contributes (module docstring);
    - ``source``: where the design comes from, for the report ("plan laichau-2024").
    """

    strata: str | None = None
    stages: tuple[str, ...] = (RESPONDENT,)
    fpc: str | None = None
    lonely_psu: LonelyPsu = "average"
    source: str = ""

    def __post_init__(self) -> None:
        if not self.stages:
            raise DesignError("a design needs at least one stage / thiết kế cần ít nhất một giai đoạn")
        if self.lonely_psu not in ("average", "certainty"):
            raise DesignError(f"lonely_psu must be 'average' or 'certainty', not {self.lonely_psu!r}")

    def describe(self, lang: str = "vi") -> str:
        """One sentence for reports: strata, stages and the lonely-PSU rule."""
        def name(col: str) -> str:
            base = col[:-3] if col.endswith("_id") else col
            vi = {"province": "tỉnh", "district": "huyện", "commune": "xã", "village": "thôn/bản",
                  "agency": "cơ quan", "field": "lĩnh vực", RESPONDENT: "người trả lời"}
            return vi.get(base, base) if lang == "vi" else base
        stages = " → ".join(name(s) for s in self.stages)
        if lang == "vi":
            strata = f"phân tầng theo {name(self.strata)}" if self.strata else "không phân tầng"
            lonely = "trung bình" if self.lonely_psu == "average" else "chắc chắn"
            return (f"{strata}; các giai đoạn chọn mẫu: {stages}; tầng chỉ có một đơn vị mẫu cấp một: "
                    f"quy tắc “{lonely}” (như R survey.lonely.psu = \"{self.lonely_psu}\")")
        strata = f"strata: {name(self.strata)}" if self.strata else "unstratified"
        return f"{strata}; stages: {stages}; lonely PSU rule: {self.lonely_psu}"


def level_column(level: str) -> str:
    """The wide-table column of a plan's unit level ("district" → "district_id")."""
    if level in (RESPONDENT, "household"):
        return RESPONDENT
    return level if level.endswith("_id") else f"{level}_id"


def design_from_plan(plan: Any, lonely_psu: LonelyPsu = "average") -> Design:
    """The design a sampling plan declares (``plan.design``), in wide-table columns."""
    spec = getattr(plan, "design", None)
    if spec is None:
        raise DesignError(f"plan {getattr(plan, 'id', '?')} declares no design")
    return Design(strata=level_column(spec.strata) if spec.strata else None,
                  stages=tuple(level_column(s) for s in spec.stages), lonely_psu=lonely_psu,
                  source=f"plan {plan.id}")


def design_for_plan(plan_id: str | None, lonely_psu: LonelyPsu = "average") -> Design | None:
    """The design of a shipped plan by id (a round's ``sampling_plan_id``); None if unknown."""
    if not plan_id:
        return None
    try:
        return design_from_plan(load_plan(plan_id), lonely_psu)
    except (PlanError, DesignError):
        return None


def default_design(df: pd.DataFrame, lonely_psu: LonelyPsu = "average") -> Design:
    """The design assumed when the round's plan is unknown, from the columns the data has.

    Villages present: the 2025 design (communes as strata, villages the PSUs); service fields
    present: the 2021 design (fields as strata, respondents as units); otherwise respondents as a
    simple random sample. Reports say which design was assumed.
    """
    def has(c: str) -> bool:
        return c in df.columns and bool(df[c].notna().any())

    if has("village_id"):
        return Design(strata="commune_id" if has("commune_id") else None, stages=("village_id", RESPONDENT),
                      lonely_psu=lonely_psu, source="default (2025 design)")
    if has("field_id"):
        return Design(strata="field_id", stages=(RESPONDENT,), lonely_psu=lonely_psu,
                      source="default (2021 design)")
    return Design(stages=(RESPONDENT,), lonely_psu=lonely_psu, source="default (simple random sample)")


def _codes(df: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted integer code per row of a design column and the text key of every code; a missing
    value is its own unit ("_na"). Hash-factorised, then ordered by key, so codes do not depend on
    the order of the rows."""
    if col == RESPONDENT:
        # rows in the order the data comes (load_round: by respondent), not by response id: ids of
        # responses depend on when people answered, and a rerun must give the same intervals
        values = np.arange(len(df))
    else:
        v = df[col]
        values = v.astype(object).where(v.notna(), "_na").to_numpy()
    codes, uniques = pd.factorize(values, sort=False)
    keys = np.asarray([str(x) for x in uniques], dtype=object)
    order = np.argsort(keys.astype(str), kind="stable")
    remap = np.empty(len(order), dtype=np.int64)
    remap[order] = np.arange(len(order))
    return remap[codes], keys[order].astype(str)


@dataclass
class ResolvedDesign:
    """A design applied to one data set: integer codes of every row's stratum and units.

    Stage-s unit codes are nested in their parents (a unit is its parent plus its own key), so
    two villages with the same name in different communes are different units. For every stage:
    ``parent[s][u]`` is the parent of unit u (for stage 0, its stratum), ``rank[s][u]`` its place
    among its parent's units (sorted by key), ``size[s][p]`` the number of units of parent p.
    """

    design: Design
    n_rows: int
    stratum: np.ndarray
    stratum_keys: np.ndarray
    codes: list[np.ndarray]
    unit_keys: list[np.ndarray]
    parent: list[np.ndarray]
    rank: list[np.ndarray]
    size: list[np.ndarray]
    fpc_rate: np.ndarray              # per stratum: n_h / N_h (0 without a correction)
    notes: list[str] = field(default_factory=list)

    @property
    def n_stages(self) -> int:
        return len(self.codes)

    def chain_key(self, stage: int, unit: int) -> str:
        """A stable text identity of a unit (its stratum and ancestors' keys), for seeding."""
        parts = [str(self.unit_keys[stage][unit])]
        p = int(self.parent[stage][unit])
        for s in range(stage - 1, -1, -1):
            parts.append(str(self.unit_keys[s][p]))
            p = int(self.parent[s][p])
        parts.append(str(self.stratum_keys[p]))
        return "/".join(reversed(parts))


def resolve(design: Design, df: pd.DataFrame) -> ResolvedDesign:
    """Codes of the design's strata and stages on ``df``.

    A stage whose column is absent is skipped (with a note), never guessed; the respondent stage
    always exists. Raises :class:`DesignError` when no stage is left or ``fpc`` is unusable.
    """
    n = len(df)
    notes: list[str] = []
    stages = [c for c in design.stages if c == RESPONDENT or c in df.columns]
    for c in design.stages:
        if c not in stages:
            notes.append(f"cột {c} không có trong dữ liệu: bỏ qua giai đoạn này / column {c} is missing: stage skipped")
    if not stages:
        stages = [RESPONDENT]
    if design.strata and design.strata in df.columns:
        stratum, stratum_keys = _codes(df, design.strata)
    else:
        if design.strata:
            notes.append(f"cột tầng {design.strata} không có: coi như một tầng / strata column {design.strata} "
                         "is missing: one stratum")
        stratum, stratum_keys = np.zeros(n, dtype=np.int64), np.array(["_all"])
    codes: list[np.ndarray] = []
    unit_keys: list[np.ndarray] = []
    parents: list[np.ndarray] = []
    ranks: list[np.ndarray] = []
    sizes: list[np.ndarray] = []
    parent_of_row = stratum
    n_parents = len(stratum_keys)
    for col in stages:
        kcode, kk = _codes(df, col)
        combined = parent_of_row * len(kk) + kcode
        uniq, code = np.unique(combined, return_inverse=True)
        code = code.astype(np.int64)
        parent = (uniq // len(kk)).astype(np.int64)
        own = (uniq % len(kk)).astype(np.int64)
        size = np.bincount(parent, minlength=n_parents).astype(np.int64)
        # uniq is sorted by (parent, key): the rank is the position after the parent's first unit
        first = np.concatenate([[0], np.cumsum(size)[:-1]])
        rank = np.arange(len(uniq)) - first[parent]
        codes.append(code)
        unit_keys.append(kk[own])
        parents.append(parent)
        ranks.append(rank.astype(np.int64))
        sizes.append(size)
        parent_of_row = code
        n_parents = len(uniq)
    fpc_rate = np.zeros(len(stratum_keys))
    if design.fpc:
        if design.fpc not in df.columns:
            raise DesignError(f"fpc column {design.fpc} is missing / thiếu cột fpc {design.fpc}")
        pop = pd.to_numeric(df[design.fpc], errors="coerce").to_numpy(dtype=float)
        per = pd.Series(pop).groupby(stratum).first().reindex(range(len(stratum_keys))).to_numpy()
        n_h = sizes[0].astype(float)
        if np.isnan(per).any() or (per < n_h).any():
            raise DesignError("fpc must give, per stratum, a population count at least its sampled units")
        fpc_rate = n_h / per
    return ResolvedDesign(design, n, stratum, stratum_keys.astype(str), codes, unit_keys, parents, ranks,
                          sizes, fpc_rate, notes)


def _seed(*parts: object) -> list[int]:
    """Seed words for numpy from any parts (text hashed by CRC-32, stable across runs)."""
    out = []
    for p in parts:
        out.append(int(p) if isinstance(p, (int, np.integer)) else zlib.crc32(str(p).encode()))
    return out


def rao_wu_weights(rng: np.random.Generator, n: int, b: int, fpc_rate: float = 0.0) -> np.ndarray:
    """B × n Rao–Wu multipliers for one stratum of n units (m = n − 1 drawn with replacement).

    ``w = 1 − λ + λ · n/(n − 1) · r`` with r the times a unit is drawn and λ = sqrt(1 − f).
    A stratum of one unit (a lonely PSU) keeps multiplier 1 in every replicate.
    """
    if n < 2:
        return np.ones((b, n), dtype=np.float32)
    return _multipliers(n, fpc_rate)[_draw_counts(rng, n, b)]


def _draw_counts(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    """B × n: how often each of n units is drawn among the n − 1 draws of every replicate."""
    draws = rng.integers(0, n, size=(b, n - 1))
    draws += np.arange(0, b * n, n)[:, None]           # replicate i counts in bins i·n … i·n + n − 1
    return np.bincount(draws.ravel(), minlength=b * n).reshape(b, n)


def _multipliers(n: int, fpc_rate: float = 0.0) -> np.ndarray:
    """The multiplier of a unit drawn r = 0 … n − 1 times, as float32: looking the B × n draw
    counts up in this table costs one gather instead of three float64 passes and a cast, and gives
    the same values bit for bit."""
    lam = float(np.sqrt(max(0.0, 1.0 - fpc_rate)))
    return (1.0 - lam + lam * n / (n - 1) * np.arange(n)).astype(np.float32)


class Replicates:
    """The Rao–Wu replicate weights of one resolved design, made once and shared by every table.

    ``stage0``: B × P multipliers of the first-stage units (every stratum at once). Tables whose
    groups lie inside one first-stage unit (a 2024 commune, a village) are measured conditionally
    on that unit, by resampling its own next stage: :meth:`block` gives those weights, seeded by
    the unit, so they are the same whichever table asks.
    """

    def __init__(self, resolved: ResolvedDesign, b: int, seed: int):
        self.design = resolved
        self.b = int(b)
        self.seed = int(seed)
        d = resolved
        p0 = len(d.parent[0])
        w = np.empty((self.b, p0), dtype=np.float32)
        order = np.lexsort((d.rank[0], d.parent[0]))
        bounds = np.concatenate([[0], np.cumsum(d.size[0])])
        for h in range(len(d.stratum_keys)):
            units = order[bounds[h]:bounds[h + 1]]
            if len(units) == 0:
                continue
            rng = np.random.default_rng(_seed(self.seed, 0, d.stratum_keys[h]))
            w[:, units] = rao_wu_weights(rng, len(units), self.b, float(d.fpc_rate[h]))
        self.stage0 = w

    def block(self, stage: int, parent: int) -> np.ndarray:
        """B × m multipliers of the m stage-``stage`` units inside unit ``parent`` of the stage
        above, in rank order (no finite population correction below the first stage)."""
        d = self.design
        m = int(d.size[stage][parent])
        rng = np.random.default_rng(_seed(self.seed, stage, d.chain_key(stage - 1, parent)))
        return rao_wu_weights(rng, m, self.b)

    def block_into(self, out: np.ndarray, stage: int, parent: int, ranks: np.ndarray) -> None:
        """``block(stage, parent)[:, ranks]`` written into ``out`` (B × len(ranks)) without the
        intermediate float arrays: the bootstrap of a village table asks for 2 000 blocks."""
        d = self.design
        m = int(d.size[stage][parent])
        if m < 2:
            out[...] = 1.0
            return
        rng = np.random.default_rng(_seed(self.seed, stage, d.chain_key(stage - 1, parent)))
        r = _draw_counts(rng, m, self.b)
        if len(ranks) != m or not np.array_equal(ranks, np.arange(m)):
            r = r[:, ranks]
        np.take(_multipliers(m), r, out=out, mode="clip")
