"""The weights sensitivity table: the official (unweighted) index beside the design-weighted and
the raked index, per unit of every level (:mod:`analytics.weights` says what each weighting is).

The weighted indices use the same formulas and the same replicate weights as the official one
(``uncertainty.design_precision`` with each row's counts multiplied by its weight), so a
difference between the columns is the weighting alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.design import Design, Replicates
from analytics.indices import IndexTable, Structure
from analytics.settings import AnalyticsSettings
from analytics.uncertainty import design_precision, table_rows
from analytics.weights import WeightError, design_weights, rake

#: Column labels, Vietnamese first: every weighted figure says it is not the official index.
LABELS = {"official": "Chỉ số chính thức (không trọng số)",
          "design_weighted": "Chỉ số có trọng số thiết kế (tham khảo)",
          "raked": "Chỉ số hiệu chỉnh theo cơ cấu dân số (tham khảo)"}


def weight_sensitivity(data: pd.DataFrame, states: np.ndarray, tables: dict[str, IndexTable],
                       design: Design, replicates: Replicates, settings: AnalyticsSettings,
                       frame: pd.DataFrame | None = None, margins: pd.DataFrame | None = None
                       ) -> tuple[pd.DataFrame | None, list[str]]:
    """One row per unit of each table in ``tables`` (level → table): official value and interval,
    design-weighted value and interval, raked value; plus notes on what could not be computed."""
    notes: list[str] = []
    w_design: np.ndarray | None = None
    w_raked: np.ndarray | None = None
    if frame is not None and len(frame):
        try:
            w_design = design_weights(data, design, frame)
        except WeightError as exc:
            notes.append(str(exc))
    if margins is not None:
        try:
            w_raked, dropped = rake(data, margins, w_design)
            if dropped:
                notes.append(f"{dropped} phiếu thiếu nhóm tuổi/giới tính/thành thị–nông thôn không được hiệu chỉnh / "
                             f"{dropped} responses lacking a raking variable are left out of the raked index")
        except WeightError as exc:
            notes.append(str(exc))
    if w_design is None and w_raked is None:
        return None, notes
    sat, valid = (states == 2), (states >= 1)
    rows = []
    for level, t in tables.items():
        gid = table_rows(data, t)
        st = Structure.of(t.meta)
        lo, hi = t.intervals.get("overall", (pd.Series(np.nan, index=t.overall.index),) * 2)
        out = t.keys.copy().reset_index(drop=True)
        out = pd.DataFrame({"level": level,
                            "unit_id": out.iloc[:, 0].to_numpy() if out.shape[1] else "all",
                            "unit_name": out[f"{level}_name"].to_numpy() if f"{level}_name" in out.columns
                            else (out.iloc[:, 0].to_numpy() if out.shape[1] else "Toàn tỉnh"),
                            "n": t.n.to_numpy(), "official": t.overall.to_numpy(),
                            "official_lo": lo.to_numpy(), "official_hi": hi.to_numpy()})
        for name, w in (("design_weighted", w_design), ("raked", w_raked)):
            if w is None:
                continue
            ww = w.astype(np.float64)[:, None]
            pr = design_precision(sat * ww, valid * ww, gid, len(t.keys), st, t.aggregation, replicates,
                                  settings.variance, settings.confidence)
            out[name] = pr.estimate["overall"]
            if name == "design_weighted":
                out["design_weighted_lo"] = pr.lo["overall"]
                out["design_weighted_hi"] = pr.hi["overall"]
            out[f"{name}_kish_deff"] = _kish_by_group(w, gid, len(t.keys))
        rows.append(out)
    return pd.concat(rows, ignore_index=True), notes


def _kish_by_group(w: np.ndarray, gid: np.ndarray, n: int) -> np.ndarray:
    """Kish's weighting effect n Σw² / (Σw)² per group (``weights.kish_deff``, vectorised)."""
    keep = (gid >= 0) & (w > 0)
    g, ww = gid[keep], w[keep]
    cnt = np.bincount(g, minlength=n)
    s1, s2 = np.bincount(g, ww, n), np.bincount(g, ww * ww, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, cnt * s2 / (s1 * s1), np.nan)
