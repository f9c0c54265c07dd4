"""One analysis of a round: every table the exports and the report need, computed once.

``analyse`` counts answers once (item states), derives every unit level by rolling counts up,
adds intervals, rankings, target status, previous-round change, perceptions, expectations,
response rates and quality flags. Exports and the report only format what is here, so the
numbers in the XLSX, the CSV, the SPSS file and the HTML report are the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from analytics.compare import compare_table
from analytics.design import Design, default_design
from analytics.indices import (IndexItem, IndexTable, counts_from_states, group_codes, index_items,
                               indices_by_levels, indices_from_counts, item_states, option_shares,
                               response_rates, satisfaction_indices)
from analytics.quality import exclude_flagged, flag_summary, quality_flags, with_and_without
from analytics.sensitivity import weight_sensitivity
from analytics.settings import (DEFAULT_SETTINGS, GROUPINGS, SERVICE_LEVELS, UNIT_LEVELS,
                                AnalyticsSettings)
from analytics.uncertainty import add_intervals, rank_table, replicates_for
from survey_defs.schema import Survey

LEVEL_LABELS_VI = {"province": "Tỉnh", "district": "Huyện", "commune": "Xã", "village": "Thôn, bản",
                   "agency": "Cơ quan", "field": "Lĩnh vực"}
GROUP_LABELS_VI = {"sex": "Giới tính", "age_band": "Nhóm tuổi", "ethnicity": "Dân tộc",
                   "education": "Học vấn", "occupation": "Nghề nghiệp", "mode": "Hình thức trả lời",
                   "channel": "Kênh"}


@dataclass
class Analysis:
    survey: Survey
    settings: AnalyticsSettings
    round_code: str
    data: pd.DataFrame                      # the wide table actually analysed (after exclusions)
    all_data: pd.DataFrame                  # before exclusions (for the with/without table)
    items: list[IndexItem]
    overall: IndexTable                     # one group: the whole round
    levels: dict[str, IndexTable]           # unit levels and service dimensions
    groups: dict[str, IndexTable]           # demographic and mode groupings
    perceptions: pd.DataFrame
    expectations: pd.DataFrame
    rates: pd.DataFrame | None
    flags: pd.DataFrame
    flags_summary: pd.DataFrame
    with_without: pd.DataFrame
    previous: dict[str, IndexTable] = field(default_factory=dict)
    units: pd.DataFrame | None = None
    design: Design | None = None            # the sample design the intervals follow
    #: official vs design-weighted vs raked index per unit (``sensitivity.weight_sensitivity``)
    sensitivity: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    #: the previous round as a whole (for the report's "change on the previous round") and its code
    previous_overall: IndexTable | None = None
    previous_code: str = ""

    def unit_table(self, level: str) -> pd.DataFrame:
        """Overall index per unit of a level, with interval, target status, rank range and change."""
        t = self.levels[level]
        prev = self.previous.get(level)
        out = compare_table(t, self.settings.target, prev, [f"{level}_id"] if prev is not None else None)
        name_col = f"{level}_name" if f"{level}_name" in t.keys.columns else None
        ranks = rank_table(t, name_col)
        out["rank"] = ranks["rank"].reindex(t.overall.index).to_numpy()
        out["rank_range"] = ranks["rank_range"].reindex(t.overall.index).to_numpy()
        out["tier"] = ranks["tier"].reindex(t.overall.index).to_numpy()
        out["indistinguishable_from"] = ranks["indistinguishable_from"].reindex(t.overall.index).to_numpy()
        for stat, values in t.precision.get("overall", {}).items():     # se, deff, n_eff
            out[stat] = values.to_numpy()
        for p in t.pillars.columns:
            out[f"pillar:{p}"] = t.pillars[p].to_numpy()
        for c in t.components.columns:
            out[f"component:{c}"] = t.components[c].to_numpy()
        return out


def analyse(df: pd.DataFrame, survey: Survey, round_code: str = "",
            settings: AnalyticsSettings = DEFAULT_SETTINGS, units: pd.DataFrame | None = None,
            dispositions: pd.DataFrame | None = None, previous_df: pd.DataFrame | None = None,
            groupings: Sequence[str] = GROUPINGS, intervals: bool = True, frame: pd.DataFrame | None = None,
            margins: pd.DataFrame | None = None, previous_code: str = "") -> Analysis:
    """Compute everything for a round. ``units``: the full unit list (a unit with no response is
    shown with NaN); ``dispositions``: long counts (unit level id columns, disposition, count);
    ``previous_df``: the previous round's wide table (same unit ids) for the change columns;
    ``frame`` (``LoadedRound.frame``): adds the design-weighted index beside the official one;
    ``margins`` (``weights.read_margins``): adds the raked index."""
    items = index_items(survey, ("satisfaction",), settings)
    flags = quality_flags(df, survey, settings)
    data = exclude_flagged(df, flags, list(settings.exclude_flags))
    states = item_states(data, items)
    overall = satisfaction_indices(data, items, (), settings)
    levels_present = [lv for lv in (*UNIT_LEVELS, *SERVICE_LEVELS) if f"{lv}_id" in data.columns
                      and data[f"{lv}_id"].notna().any()]
    hier = [lv for lv in UNIT_LEVELS if lv in levels_present]
    levels = indices_by_levels(data, items, hier, settings, states)
    for lv in SERVICE_LEVELS:
        if lv in levels_present:
            keys = [c for c in (f"{lv}_id", f"{lv}_name") if c in data.columns]
            levels[lv] = satisfaction_indices(data, items, keys, settings)
    if units is not None:
        for lv in list(levels):
            keys = [c for c in (f"{lv}_id", f"{lv}_name") if c in data.columns]
            if all(k in units.columns for k in keys):
                codes, gk = group_codes(data, keys)
                counts = counts_from_states(states, codes, gk, items).reindex(units[keys].dropna(subset=[keys[0]]))
                levels[lv] = indices_from_counts(counts, settings)
    groups = {}
    for g in groupings:
        if g in data.columns and data[g].notna().any():
            groups[g] = satisfaction_indices(data, items, [g], settings)
    design = settings.design if settings.design is not None else default_design(data, settings.lonely_psu)
    sensitivity, notes = None, []
    if intervals:
        reps = replicates_for(data, settings.with_(design=design))   # the design's replicates, made once
        notes += reps.design.notes
        for t in (overall, *levels.values(), *groups.values()):
            add_intervals(t, data, settings, states=states, replicates=reps)
        if frame is not None or margins is not None:
            tabs = {lv: t for lv, t in levels.items() if lv != "village"}
            if "province" not in tabs:
                tabs = {"all": overall, **tabs}
            sensitivity, wnotes = weight_sensitivity(data, states, tabs, design, reps, settings, frame, margins)
            notes += wnotes
    perceptions = option_shares(data, index_items(survey, ("perception",), settings))
    expectations = option_shares(data, index_items(survey, ("expectation",), settings))
    rates = None
    if dispositions is not None and len(dispositions):
        by = [c for c in dispositions.columns if c not in ("disposition", "count")]
        rates = response_rates(dispositions, by)
    ww = with_and_without(df, survey, flags, list(settings.exclude_flags) or
                          ["straightline", "too_fast", "not_applicable_answered", "contradiction"], (), settings)
    previous: dict[str, IndexTable] = {}
    previous_overall = None
    if previous_df is not None and len(previous_df):
        pitems = items
        prev_reps = replicates_for(previous_df, settings.with_(design=None)) if intervals else None
        previous_overall = satisfaction_indices(previous_df, items, (), settings)
        if intervals:
            add_intervals(previous_overall, previous_df, settings, replicates=prev_reps)
        for lv, t in indices_by_levels(previous_df, pitems, hier, settings).items():
            if intervals:
                add_intervals(t, previous_df, settings, replicates=prev_reps)
            previous[lv] = t
    return Analysis(survey=survey, settings=settings, round_code=round_code, data=data, all_data=df,
                    items=items, overall=overall, levels=levels, groups=groups, perceptions=perceptions,
                    expectations=expectations, rates=rates, flags=flags, flags_summary=flag_summary(flags),
                    with_without=ww, previous=previous, units=units, design=design,
                    sensitivity=sensitivity, notes=notes, previous_overall=previous_overall,
                    previous_code=previous_code)


def component_name(survey: Survey, comp: str) -> str:
    """Display name of a component ("II.A Tiếp cận dịch vụ") from the definition, if it names it."""
    t = survey.components.get(comp) if hasattr(survey, "components") else None
    return f"{comp} {t.get('vi', '')}".strip() if t else comp


def pillar_name(survey: Survey, pillar: str) -> str:
    t = survey.pillars.get(pillar) if hasattr(survey, "pillars") else None
    return t.get("vi", pillar) if t else pillar


def nan_to_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else float(x)
