"""Exports that do not re-identify: the public raw-data table and its small-cell check.

In a village of 40 households, "woman, 67, Hmong, answered on 3 May at 14:02:11" is one person.
The public raw table therefore carries:

- the 1001 age band, never the exact age (the ``q_age`` answer is left out);
- the submission *date* (Asia/Ho_Chi_Minh), never the timestamp;
- a record number instead of the response id: rows are ordered by place, date and a hash of
  their own values, then numbered, so neither the number nor the order leads back to a
  response, a respondent or a contact;
- k-anonymity over the quasi-identifiers village × age band × sex × ethnicity: every
  combination that is shown is shared by at least ``k`` rows. Rows in smaller groups are
  coarsened step by step (village → commune; age band, ethnicity, sex suppressed; commune →
  district → province) until their group reaches ``k``; if the last, fully coarsened group of a
  province is still too small, rows of the largest groups are coarsened into it; if the whole
  table has fewer than ``k`` rows nothing can protect it and no row is published. Each step is
  reported (``DisclosureReport``) and written next to the data ("Bảo vệ dữ liệu").

The full-detail table (``analytics.exports.anonymised_raw``: response ids, exact age, the
timestamp) stays available to the analyst role, with a warning (``hailong export --detail full``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.load import DEMOGRAPHIC_STEPS
from analytics.settings import SERVICE_LEVELS, UNIT_LEVELS

#: Smallest group a public row may fall in (configurable per export: ``--k``).
DEFAULT_K = 5
SUPPRESSED = "*"

#: (demographic column, the questionnaire steps that carry the same fact)
_DEMOGRAPHICS = {"age_band": DEMOGRAPHIC_STEPS["age"], "sex": DEMOGRAPHIC_STEPS["sex"],
                 "ethnicity": DEMOGRAPHIC_STEPS["ethnicity"]}


@dataclass
class DisclosureReport:
    """What the small-cell check did to the public raw table."""

    k: int
    rows_in: int
    rows_out: int = 0
    quasi_identifiers: list[str] = field(default_factory=list)
    #: (what was done, bilingual; rows affected), in the order done
    actions: list[tuple[str, int]] = field(default_factory=list)
    smallest_group: int = 0

    def table(self) -> pd.DataFrame:
        rows = [("Ngưỡng k (số dòng tối thiểu mỗi nhóm) / k (smallest group shown)", self.k),
                ("Biến nhận dạng gián tiếp / quasi-identifiers", " × ".join(self.quasi_identifiers)),
                ("Số dòng trước kiểm tra / rows before", self.rows_in),
                ("Số dòng công bố / rows published", self.rows_out),
                ("Nhóm nhỏ nhất sau kiểm tra / smallest group after", self.smallest_group)]
        rows += [(what, n) for what, n in self.actions]
        rows += [("Tuổi: chỉ nhóm tuổi, không có tuổi chính xác / age: band only, never the exact age", ""),
                 ("Thời điểm nộp: chỉ ngày / submission: the date only", ""),
                 ("Mã phiếu: số thứ tự không liên kết được / response id: an unlinkable record number", ""),
                 ("Câu trả lời tự do: không công bố / free text: not published", "")]
        return pd.DataFrame(rows, columns=["Nội dung / item", "Giá trị / value"])


def _unit_levels(df: pd.DataFrame) -> list[str]:
    """Unit levels present, coarsest first (province … village, or agency, field)."""
    return [lv for lv in (*UNIT_LEVELS, *SERVICE_LEVELS) if f"{lv}_id" in df.columns]


def _group_sizes(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    key = df[cols].astype(str)
    return key.groupby(cols, sort=False, dropna=False)[cols[0]].transform("size")


def _record_order(df: pd.DataFrame, place: list[str]) -> np.ndarray:
    """Row order: place, date, then a hash of the row's own values (nothing that links back)."""
    digest = [hashlib.sha256("\x1f".join(map(str, row)).encode("utf-8")).hexdigest()
              for row in df.astype(str).itertuples(index=False)]
    sort = df[[c for c in (*place, "submitted_date") if c in df.columns]].astype(str).copy()
    sort["_h"] = digest
    return np.asarray(sort.sort_values(list(sort.columns), kind="mergesort").index)


def public_raw(raw: pd.DataFrame, k: int = DEFAULT_K) -> tuple[pd.DataFrame, DisclosureReport]:
    """The public raw table from ``anonymised_raw``'s output, and what was done to protect it."""
    if k < 1:
        raise ValueError(f"k phải ≥ 1 / k must be at least 1, got {k}")
    df = raw.copy()
    rep = DisclosureReport(k=k, rows_in=len(df))
    # The exact age goes; sex and ethnicity stay as the labelled columns only (one place to suppress).
    drop = [c for c in ("response_id",) if c in df.columns]
    drop += [s for steps in _DEMOGRAPHICS.values() for s in steps if s in df.columns and s not in _DEMOGRAPHICS]
    df = df.drop(columns=drop)
    if "submitted_at" in df.columns:
        at = pd.to_datetime(df["submitted_at"], errors="coerce")
        df.insert(list(df.columns).index("submitted_at"), "submitted_date",
                  at.dt.strftime("%Y-%m-%d").where(at.notna(), None))
        df = df.drop(columns="submitted_at")
    for c in df.columns:          # suppression writes "*" into these
        if c in _DEMOGRAPHICS or c.endswith(("_id", "_name")):
            df[c] = df[c].astype(object)
    levels = _unit_levels(df)
    # A canonical order first: every choice below (which rows give up detail) is then a function
    # of the rows' values, never of the response order or ids.
    df = df.loc[_record_order(df, [f"{lv}_id" for lv in levels])].reset_index(drop=True)
    demo = [c for c in _DEMOGRAPHICS if c in df.columns]
    rep.quasi_identifiers = levels[-1:] + demo
    place = [f"{lv}_id" for lv in levels]
    qi = place + demo

    def small() -> pd.Series:
        if not qi or df.empty:
            return pd.Series(False, index=df.index)
        return _group_sizes(df, qi) < k

    def blank(mask: pd.Series, cols: list[str], what: str) -> None:
        cols = [c for c in cols if c in df.columns]
        hit = mask & df[cols].ne(SUPPRESSED).any(axis=1) if cols else mask & False
        n = int(hit.sum())
        if n:
            df.loc[hit, cols] = SUPPRESSED
            rep.actions.append((what, n))

    if len(df) < k:
        rep.actions.append((f"Ít hơn k = {k} dòng: không công bố dòng nào / fewer than k rows: none published",
                            len(df)))
        df = df.iloc[0:0]
    else:
        ladder: list[tuple[list[str], str]] = []
        if len(levels) > 1:
            lv = levels[-1]
            ladder.append(([f"{lv}_id", f"{lv}_name"], f"Gộp {lv} lên cấp trên / {lv} coarsened to the level above"))
        ladder += [([c], f"Ẩn {c} / {c} suppressed") for c in ("age_band", "ethnicity", "sex") if c in df.columns]
        for lv in reversed(levels[1:-1]):
            ladder.append(([f"{lv}_id", f"{lv}_name"], f"Gộp {lv} lên cấp trên / {lv} coarsened to the level above"))
        for cols, what in ladder:
            s = small()
            if not s.any():
                break
            blank(s, cols, what)
        s = small()
        if s.any():
            # The fully coarsened rows of a province still form a group under k: coarsen rows of
            # the largest groups (which stay at k or more) into it.
            every = [c for cols, _ in ladder for c in cols if c in df.columns]
            sizes = _group_sizes(df, qi)
            need = max(0, k - int(s.sum()))
            donors: list[int] = []
            key = df[qi].astype(str).apply(tuple, axis=1)
            for _, rows in sorted(df.index[~s & (sizes > k)].groupby(key[~s & (sizes > k)]).items(),
                                  key=lambda kv: -len(kv[1])):
                if len(donors) >= need:
                    break
                donors += list(rows[: min(len(rows) - k, need - len(donors))])
            pick = pd.Series(df.index.isin(donors), index=df.index) | s
            blank(pick, every, "Ẩn thêm để nhóm đủ k / more suppressed to make the group reach k")
        s = small()
        if s.any():
            rep.actions.append(("Dòng bị loại vì không đạt k / rows withheld (group under k)", int(s.sum())))
            df = df.loc[~s]
    order = _record_order(df, place)
    df = df.loc[order].reset_index(drop=True)
    df.insert(0, "record", np.arange(1, len(df) + 1))
    rep.rows_out = len(df)
    rep.smallest_group = int(_group_sizes(df, qi).min()) if qi and len(df) else len(df)
    return df, rep
