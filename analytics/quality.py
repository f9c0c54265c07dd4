"""Data-quality flags: straight-lining, answering too fast, contradictions, impossible answers.

A flag is a signal for the analyst, not a verdict: a citizen who is satisfied with everything may
honestly answer "Hài lòng" to a whole block. So nothing is excluded by default; the analyst picks
the flags to exclude (``AnalyticsSettings.exclude_flags`` / ``hailong export --exclude-flag``) and
the report shows the index with and without the flagged responses side by side.

Flags (vectorised over the wide table, one boolean column each):

- ``straightline``: the same answer to *every* satisfaction item of *every* matrix block
  (at least ``straightline_min_blocks`` blocks and ``straightline_min_items`` items answered,
  "not applicable" left aside) **and** answered fast: a median time per step below
  ``speeding_ratio`` (default 0.5) of the round's median. One identical block is not suspicious
  in a SIPAS matrix (the items of a block ask about the same office, and a satisfied citizen
  honestly answers "Hài lòng" to all of them); the literature treats nondifferentiation as a
  sign of satisficing only together with other evidence, above all speed (Zhang & Conrad 2014,
  "Speeding in web surveys: the tendency to answer very fast and its association with
  straightlining", Survey Research Methods 8(2); Kim et al. 2019, "Straightlining: overview of
  measurement, comparison of indicators, and effects in mail–web mixed-mode surveys", Social
  Science Computer Review 37(2); Reuning & Plutzer 2020, "Valid vs. invalid straightlining",
  Survey Research Methods 14(5)). The identical pattern alone is counted in ``identical_all``
  for information; paper responses carry no timing and are never flagged for it.
- ``too_fast``: median seconds per answered step below ``min_step_seconds`` (default 1.5 s: a
  5-point item takes 2–3 s to read on a phone). Paper responses carry no timing and are never
  flagged.
- ``not_applicable_answered``: an answer stored for a step whose relevance condition is false
  (the chat engine drops those, so this catches bad imports and legacy data).
- ``contradiction``: at least one survey-specific rule below holds; ``contradiction_rules`` lists
  which. The household-survey rules, each defensible from the questionnaire (docs/methodology.md):

  1. ``harassment_vs_polite`` — Q5 says *many* civil servants harass people, yet every item of
     block II.C (civil servants: polite, clear guidance, follow the rules) is "Rất hài lòng".
  2. ``informal_payment_vs_fees`` — Q6 says *many* people pay money beyond what is prescribed,
     yet "fees as prescribed" (II.B item 3) is "Rất hài lòng".
  3. ``no_procedure_vs_service_praise`` — Q8 says the respondent never did a procedure at the
     provincial centre nor at the commune point, yet every one of the 13 items of II.A–II.D (the
     place, the procedures, the civil servants, the results) is "Rất hài lòng": praise of an
     experience the respondent says they never had. (II.E is asked only of people who made a
     complaint, so no rule is needed for it.) 1001 asks Q9 of everyone, so a single extreme answer
     without experience is allowed; only the full set of extremes is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from pydantic import TypeAdapter

from analytics.indices import IndexTable, index_items, satisfaction_indices
from analytics.settings import DEFAULT_SETTINGS, AnalyticsSettings
from survey_defs.conditions import as_number, compare_of, matches, value_forms
from survey_defs.schema import (All, Answered, Any_, Compare, Condition, Equals, In, Not,
                                QuestionType, Survey, condition_refs)

FLAGS = ("straightline", "too_fast", "not_applicable_answered", "contradiction")
FLAG_LABELS_VI = {
    "straightline": "Cùng một mức cho mọi tiêu chí, trả lời rất nhanh",
    "too_fast": "Trả lời quá nhanh",
    "not_applicable_answered": "Trả lời câu hỏi không áp dụng",
    "contradiction": "Trả lời mâu thuẫn",
}

IDENTICAL_LABEL_VI = "Cùng một mức cho mọi tiêu chí (thông tin, không phải cảnh báo)"


@dataclass(frozen=True, slots=True)
class ContradictionRule:
    """A survey-specific contradiction: ``when`` (a structured condition) holds for the response."""

    id: str
    text_vi: str
    text_en: str
    when: Condition


_COND = TypeAdapter(Condition)


def rule(id: str, text_vi: str, text_en: str, when: dict[str, Any]) -> ContradictionRule:
    """Build a rule from the YAML-like condition syntax of survey definitions."""
    return ContradictionRule(id, text_vi, text_en, _COND.validate_python(when))


# Household questionnaire (sipas-households) rules; step ids as in survey_defs/sipas-households.yaml.
_SERVICE_ITEMS = [f"q9_ii_a{i}" for i in (1, 2, 3)] + [f"q9_ii_b{i}" for i in (1, 2, 3, 4)] + \
    [f"q9_ii_c{i}" for i in (1, 2, 3)] + [f"q9_ii_d{i}" for i in (1, 2, 3)]
HOUSEHOLD_RULES: list[ContradictionRule] = [
    rule("harassment_vs_polite",
         "Cho rằng nhiều công chức gây phiền hà nhưng rất hài lòng với mọi tiêu chí về công chức",
         "Says many civil servants harass, yet very satisfied with every civil-servant item",
         {"all": [{"equals": ["q5", 3]}, {"equals": ["q9_ii_c1", 5]}, {"equals": ["q9_ii_c2", 5]},
                  {"equals": ["q9_ii_c3", 5]}]}),
    rule("informal_payment_vs_fees",
         "Cho rằng nhiều người phải chi tiền ngoài quy định nhưng rất hài lòng với phí, lệ phí đúng quy định",
         "Says many pay informal money, yet very satisfied that fees are as prescribed",
         {"all": [{"equals": ["q6", 3]}, {"equals": ["q9_ii_b3", 5]}]}),
    rule("no_procedure_vs_service_praise",
         "Chưa từng làm thủ tục ở cấp tỉnh hay cấp xã nhưng rất hài lòng với tất cả 13 tiêu chí về nơi làm "
         "thủ tục, thủ tục, công chức và kết quả giải quyết",
         "Never did a procedure at province or commune level, yet very satisfied with all 13 items on "
         "service access, procedures, civil servants and results",
         {"all": [{"equals": ["q8_province_centre", 0]}, {"equals": ["q8_commune_point", 0]},
                  *({"equals": [sid, 5]} for sid in _SERVICE_ITEMS)]}),
]

RULES_BY_SURVEY: dict[str, list[ContradictionRule]] = {"sipas-households": HOUSEHOLD_RULES}


# ---------------------------------------------------------------- vectorised conditions

def _col(df: pd.DataFrame, key: str) -> pd.Series:
    return df[key] if key in df.columns else pd.Series([np.nan] * len(df), index=df.index, dtype=object)


def _member(s: pd.Series, values: Sequence[Any]) -> np.ndarray:
    """``matches`` of survey_defs.conditions over a column (numbers vectorised)."""
    forms = frozenset().union(*(value_forms(v) for v in values)) if values else frozenset()
    if s.dtype.kind in "fiu":   # a numeric column: only the numeric forms can match
        nums = [f for f in forms if isinstance(f, (int, float)) and not isinstance(f, bool)]
        return s.isin(nums).to_numpy()
    return _per_distinct(s, lambda v: matches(v, forms), bool, False)


_BOOL = object()    # marks a boolean's key in _per_distinct (True == 1 would merge them)


def _per_distinct(s: pd.Series, fn: Callable[[Any], Any], dtype: type, missing: Any) -> np.ndarray:
    """``fn`` over an object column, called once per distinct value rather than once per row
    (100 000 responses hold a few dozen distinct answers; a list, a multiple choice, is keyed
    as a tuple of its picks, a boolean apart from the equal number); ``missing`` where the
    cell is None or NaN."""
    keys = [tuple(v) if (t := type(v)) is list else (_BOOL, v) if t is bool else v for v in s.to_numpy(dtype=object)]
    try:
        codes, uniques = pd.factorize(pd.Series(keys, dtype=object), use_na_sentinel=True)
    except TypeError:       # an unhashable cell (a dict from bad data): row by row
        return s.map(fn).to_numpy(dtype=dtype)
    table = np.array([fn(u[1] if type(u) is tuple and len(u) == 2 and u[0] is _BOOL else u) for u in uniques]
                     + [missing], dtype=dtype)
    return table[codes]     # code -1 (missing) picks the last entry


def _numbers(s: pd.Series) -> np.ndarray:
    """``as_number`` of survey_defs.conditions over a column (NaN where it gives None)."""
    if s.dtype.kind in "fiu":
        return s.to_numpy(dtype=float)
    return _per_distinct(s, lambda v: np.nan if (n := as_number(v)) is None else n, float, np.nan)


def evaluate(cond: Condition, df: pd.DataFrame) -> np.ndarray:
    """A structured condition over every row at once, with the one condition semantics
    (``survey_defs/conditions.py``, which the engine compiles): a missing answer makes
    equals/in/compare false; for a multiple-choice answer "equals" means "among the picks".
    A test plays both on the same answers (tests/survey_defs/test_conditions.py)."""
    if isinstance(cond, Equals):
        return _member(_col(df, cond.equals[0]), [cond.equals[1]])
    if isinstance(cond, In):
        return _member(_col(df, cond.in_[0]), list(cond.in_[1]))
    if isinstance(cond, Not):
        return ~evaluate(cond.not_, df)
    if isinstance(cond, All):
        out = np.ones(len(df), dtype=bool)
        for c in cond.all:
            out &= evaluate(c, df)
        return out
    if isinstance(cond, Any_):
        out = np.zeros(len(df), dtype=bool)
        for c in cond.any:
            out |= evaluate(c, df)
        return out
    if isinstance(cond, Answered):
        return _answered(_col(df, cond.answered))
    if isinstance(cond, Compare):
        op, key, bound = compare_of(cond)
        x = _numbers(_col(df, key))
        with np.errstate(invalid="ignore"):
            r = {"lt": x < bound, "le": x <= bound, "gt": x > bound, "ge": x >= bound}[op]
        return r & ~np.isnan(x)
    raise TypeError(f"unknown condition {cond!r}")


def _answered(s: pd.Series) -> np.ndarray:
    """Which cells hold an answer (the engine's ``key in answers``): not None, not NaN."""
    return s.notna().to_numpy(dtype=bool)      # None and NaN are missing in an object column too


def step_relevance(survey: Survey) -> dict[str, list[Condition]]:
    """For each answer key, the relevance conditions that must all hold (section, question, item)."""
    out: dict[str, list[Condition]] = {}
    for sec in survey.sections:
        for q in sec.questions:
            base = [c for c in (sec.relevant, q.relevant) if c is not None]
            if q.type is QuestionType.matrix:
                for it in q.items or []:
                    out[it.id] = base + ([it.relevant] if it.relevant is not None else [])
            elif q.type is not QuestionType.note:
                out[q.id] = base
    return out


# ---------------------------------------------------------------- flags

def quality_flags(df: pd.DataFrame, survey: Survey, settings: AnalyticsSettings = DEFAULT_SETTINGS,
                  rules: Sequence[ContradictionRule] | None = None) -> pd.DataFrame:
    """One row per response (same index as ``df``): a boolean column per flag, the ids of the
    contradiction rules that hold, and ``flags`` (comma-separated names)."""
    n = len(df)
    out = pd.DataFrame(index=df.index)
    if "response_id" in df.columns:
        out["response_id"] = df["response_id"].to_numpy()
    out["identical_all"], out["straightline"] = straightlining(df, survey, settings)
    # too fast
    secs = _timing(df)
    fast = (secs < settings.min_step_seconds).fillna(False).to_numpy(dtype=bool)
    if "mode" in df.columns:
        fast &= (df["mode"] != "paper").to_numpy()
    out["too_fast"] = fast
    # answers to steps that did not apply
    na = np.zeros(n, dtype=bool)
    for sid, conds in step_relevance(survey).items():
        if not conds or sid not in df.columns:
            continue
        applies = np.ones(n, dtype=bool)
        for c in conds:
            applies &= evaluate(c, df)
        na |= _answered(df[sid]) & ~applies
    out["not_applicable_answered"] = na
    # contradictions
    rules = RULES_BY_SURVEY.get(survey.id, []) if rules is None else list(rules)
    hits = []
    for r in rules:
        if not all(ref in df.columns for ref in condition_refs(r.when)):
            continue  # the rule does not fit this survey version's columns
        hits.append((r.id, evaluate(r.when, df)))
    out["contradiction"] = np.logical_or.reduce([h for _, h in hits]) if hits else np.zeros(n, dtype=bool)
    if hits:
        out["contradiction_rules"] = _names_of_rows(np.column_stack([h for _, h in hits]), [r for r, _ in hits])
    else:
        out["contradiction_rules"] = ""
    fm = out[list(FLAGS)].to_numpy(dtype=bool)
    out["flags"] = _names_of_rows(fm, list(FLAGS))
    out["flagged"] = fm.any(axis=1)
    return out


def _names_of_rows(m: np.ndarray, names: list[str]) -> np.ndarray:
    """For each row of the boolean matrix ``m``, the comma-separated names of its true columns;
    each distinct row is joined once (100 000 responses show a few dozen patterns)."""
    if m.shape[0] == 0:
        return np.empty(0, dtype=object)
    patterns, inverse = np.unique(m, axis=0, return_inverse=True)
    cols = np.array(names, dtype=object)
    text = np.array([", ".join(cols[p]) for p in patterns], dtype=object)
    return text[inverse.reshape(-1)]


def _timing(df: pd.DataFrame) -> pd.Series:
    """Median seconds per answered step (NaN without timing, e.g. paper)."""
    if "median_step_s" in df.columns:
        return pd.to_numeric(df["median_step_s"], errors="coerce")
    if {"duration_s", "answered_steps"} <= set(df.columns):
        return pd.to_numeric(df["duration_s"], errors="coerce") / pd.to_numeric(df["answered_steps"], errors="coerce")
    return pd.Series(np.nan, index=df.index)


def straightlining(df: pd.DataFrame, survey: Survey, settings: AnalyticsSettings = DEFAULT_SETTINGS
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(identical, flagged): the same value on every answered satisfaction matrix item across at
    least ``straightline_min_blocks`` blocks, and that *plus* speeding (median step time below
    ``speeding_ratio`` × the median over the round's timed responses)."""
    n = len(df)
    items = [it for it in index_items(survey, ("satisfaction",), settings)
             if it.qtype == "matrix" and it.step_id in df.columns]
    if not items:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    vals = np.full((n, len(items)), np.nan)
    for j, it in enumerate(items):                 # "not applicable" and junk are not answers here
        col = pd.to_numeric(df[it.step_id], errors="coerce").to_numpy(dtype=float)
        vals[:, j] = np.where(np.isin(col, [v for v in it.valid if isinstance(v, (int, float))]), col, np.nan)
    answered = ~np.isnan(vals)
    with np.errstate(invalid="ignore"):
        same = np.nanmax(np.where(answered, vals, -np.inf), axis=1) == np.nanmin(np.where(answered, vals, np.inf), axis=1)
    block_ids = sorted({it.question_id for it in items})
    n_blocks = sum(answered[:, [j for j, it in enumerate(items) if it.question_id == b]].any(axis=1)
                   for b in block_ids)
    identical = same & (answered.sum(axis=1) >= settings.straightline_min_items) & \
        (n_blocks >= min(settings.straightline_min_blocks, len(block_ids)))
    secs = _timing(df)
    timed = secs.notna() & (secs > 0)
    if "mode" in df.columns:
        timed &= df["mode"] != "paper"
    ref = float(secs[timed].median()) if timed.any() else float("nan")
    fast = (timed & (secs < settings.speeding_ratio * ref)).to_numpy(dtype=bool) if ref == ref else np.zeros(n, dtype=bool)
    return identical, identical & fast


def exclude_flagged(df: pd.DataFrame, flags: pd.DataFrame, exclude: Sequence[str]) -> pd.DataFrame:
    """Rows of ``df`` without responses carrying any of the ``exclude`` flags."""
    bad = [f for f in exclude if f not in FLAGS]
    if bad:
        raise ValueError(f"unknown flag(s) {bad}; expected some of {list(FLAGS)}")
    if not exclude:
        return df
    drop = flags[list(exclude)].to_numpy(dtype=bool).any(axis=1)
    return df.loc[~drop]


def flag_summary(flags: pd.DataFrame) -> pd.DataFrame:
    """Counts and shares of each flag (for the report)."""
    n = len(flags)
    rows = [{"flag": f, "label_vi": FLAG_LABELS_VI[f], "n": int(flags[f].sum()),
             "share": (100.0 * flags[f].sum() / n) if n else np.nan} for f in FLAGS]
    rows.append({"flag": "any", "label_vi": "Có ít nhất một cảnh báo", "n": int(flags["flagged"].sum()),
                 "share": (100.0 * flags["flagged"].sum() / n) if n else np.nan})
    if "identical_all" in flags.columns:        # information, not a flag: satisfied with everything
        k = int(flags["identical_all"].sum())
        rows.append({"flag": "identical_all", "label_vi": IDENTICAL_LABEL_VI, "n": k,
                     "share": (100.0 * k / n) if n else np.nan})
    return pd.DataFrame(rows)


def with_and_without(df: pd.DataFrame, survey: Survey, flags: pd.DataFrame, exclude: Sequence[str],
                     by: Sequence[str] = (), settings: AnalyticsSettings = DEFAULT_SETTINGS) -> pd.DataFrame:
    """Overall index by ``by`` with all responses and without the flagged ones, side by side."""
    full: IndexTable = satisfaction_indices(df, survey, by, settings)
    kept = exclude_flagged(df, flags, exclude or list(FLAGS))
    clean = satisfaction_indices(kept, survey, by, settings)
    out = full.keys.copy().reset_index(drop=True) if by else pd.DataFrame(index=[0])
    out["n_all"] = full.n.to_numpy()
    out["index_all"] = full.overall.to_numpy()
    c = clean.overall.rename("index_clean")
    cn = clean.n.rename("n_clean")
    if by:
        out = out.merge(clean.keys.assign(index_clean=c.to_numpy(), n_clean=cn.to_numpy()), on=list(by), how="left")
    else:
        out["n_clean"] = cn.to_numpy()
        out["index_clean"] = c.to_numpy()
    out["n_clean"] = out["n_clean"].fillna(0).astype(int)
    out["difference"] = out["index_clean"] - out["index_all"]
    return out
