"""Comparisons: against the provincial target and against a previous round.

Target: the Lai Châu reform plan for 2021 (docs/sources.md) sets satisfaction "trên 85%" for the province and
every department, district and city; the value is ``AnalyticsSettings.target``. A unit "meets" the
target when its point value is at or above it; the interval says whether that is clear
(lower bound ≥ target, upper bound < target) or within the noise of the sample.

Previous round: the difference in points, flagged as a real change only when the two 95%
intervals do not overlap (a conservative test: overlapping intervals can still differ, but
non-overlapping ones certainly do at about the 5% level or better).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from analytics.indices import IndexTable

STATUS_VI = {"met": "Đạt", "not_met": "Chưa đạt", "unclear": "Chưa phân biệt được", "no_data": "Không có dữ liệu"}
STATUS_EN = {"met": "Meets target", "not_met": "Below target", "unclear": "Within sampling noise",
             "no_data": "No data"}


def against_target(value: pd.Series, lo: pd.Series | None = None, hi: pd.Series | None = None,
                   target: float = 85.0) -> pd.DataFrame:
    """Gap to the target in points and a status: met (interval wholly ≥ target), not met
    (interval wholly < target), unclear (the interval contains the target), no data (NaN)."""
    v = value.astype(float)
    lo = v if lo is None else lo.astype(float).fillna(v)
    hi = v if hi is None else hi.astype(float).fillna(v)
    status = np.select([v.isna(), lo >= target, hi < target], ["no_data", "met", "not_met"], "unclear")
    out = pd.DataFrame({"value": v, "lo": lo, "hi": hi, "target": target, "gap": v - target,
                        "meets_point": (v >= target).where(v.notna()), "status": status}, index=value.index)
    out["status_vi"] = out["status"].map(STATUS_VI)
    out["status_en"] = out["status"].map(STATUS_EN)
    return out


def against_previous(current: pd.DataFrame, previous: pd.DataFrame, on: Sequence[str]) -> pd.DataFrame:
    """Join two rounds' results (columns ``on`` + value, lo, hi) and compare.

    ``diff`` = current − previous in points; ``significant`` when the intervals do not overlap;
    ``direction`` is "up"/"down"/"same" only when significant, else "unclear". Units present in
    only one round are kept with NaN on the other side.
    """
    on = list(on)
    cur = current[on + ["value", "lo", "hi"]]
    prev = previous[on + ["value", "lo", "hi"]].rename(columns={"value": "previous", "lo": "previous_lo",
                                                               "hi": "previous_hi"})
    m = cur.merge(prev, on=on, how="outer")
    m["diff"] = m["value"] - m["previous"]
    both = m["value"].notna() & m["previous"].notna()
    separate = (m["lo"] > m["previous_hi"]) | (m["hi"] < m["previous_lo"])
    m["significant"] = both & separate
    m["direction"] = np.where(~both, "no_data",
                              np.where(~m["significant"], "unclear", np.where(m["diff"] > 0, "up", "down")))
    m["direction_vi"] = m["direction"].map({"up": "Tăng", "down": "Giảm", "unclear": "Chưa phân biệt được",
                                            "no_data": "Không có dữ liệu"})
    return m


def overall_frame(table: IndexTable) -> pd.DataFrame:
    """The overall index of a table as columns (keys…, value, lo, hi) for ``against_previous``."""
    lo, hi = table.intervals.get("overall", (None, None))
    out = table.keys.copy().reset_index(drop=True)
    out["n"] = table.n.to_numpy()
    out["value"] = table.overall.to_numpy()
    out["lo"] = lo.to_numpy() if lo is not None else np.nan
    out["hi"] = hi.to_numpy() if hi is not None else np.nan
    return out


def compare_table(table: IndexTable, target: float = 85.0, previous: IndexTable | None = None,
                  on: Sequence[str] | None = None) -> pd.DataFrame:
    """Overall index per group with target status and, if given, the change since ``previous``."""
    cur = overall_frame(table)
    t = against_target(cur["value"], cur["lo"], cur["hi"], target)
    cur = pd.concat([cur, t[["target", "gap", "status", "status_vi", "status_en"]]], axis=1)
    if previous is not None:
        keys = list(on) if on else [c for c in table.by if c.endswith("_id")] or table.by
        cmp = against_previous(cur, overall_frame(previous), keys)
        cur = cur.merge(cmp[keys + ["previous", "previous_lo", "previous_hi", "diff", "significant",
                                    "direction", "direction_vi"]], on=keys, how="left")
    return cur
