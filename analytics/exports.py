"""Exports for analysts: XLSX (one workbook), CSV (UTF-8 with BOM), Parquet and SPSS .sav.

Every table is built once here as a DataFrame (``tables``) and each writer only serialises it, so
what Excel, pandas or SPSS read back is exactly what was computed.

Personal data never leaves: the raw-data table is built from an allowlist of columns (unit ids
and names, mode, channel, demographics as bands, timing, and answers), so a contact column that
somehow reached the wide table is still not exported. Free-text answers ("Ý kiến khác") are left
out of the raw data because citizens write names and phone numbers in them.

Two levels of detail (``detail``): ``public`` (the default) publishes the raw table through
``analytics.disclosure.public_raw`` (age bands, submission dates, record numbers, k-anonymity
over village × age band × sex × ethnicity) with a sheet saying what the check did; ``full``
(the analyst role, ``hailong export --detail full``) keeps response ids, the exact age and the
timestamp, and carries a warning sheet.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analytics.analysis import (GROUP_LABELS_VI, LEVEL_LABELS_VI, Analysis, component_name,
                                pillar_name)
from analytics.sensitivity import LABELS
from analytics.disclosure import DEFAULT_K, DisclosureReport, public_raw
from analytics.settings import SERVICE_LEVELS, UNIT_LEVELS
from analytics.text import label, vi_key
from engine.normalize import fold
from survey_defs.schema import QuestionType, Survey
from survey_defs.spreadsheet_safety import XLSX_ENGINE_KWARGS, neutralised_frame, write_frame_sheet

FORMATS = ("csv", "xlsx", "parquet", "sav")
DETAILS = ("public", "full")
FULL_DETAIL_WARNING = ("CẢNH BÁO: dữ liệu chi tiết (mã phiếu, tuổi chính xác, thời điểm nộp) có thể nhận diện người "
                       "trả lời; chỉ dành cho cán bộ phân tích, không công bố, không chia sẻ. / WARNING: full-detail "
                       "data (response ids, exact age, submission time) can identify respondents: for the analyst "
                       "role only, never publish or share it.")

META_COLUMNS = ("response_id", "round", "mode", "channel",
                *[f"{lv}_{k}" for lv in (*UNIT_LEVELS, *SERVICE_LEVELS) for k in ("id", "name")],
                "urban_rural", "sex", "age_band", "ethnicity", "education", "occupation",
                "submitted_at", "duration_s", "answered_steps", "median_step_s")
META_LABELS_VI = {"response_id": "Mã phiếu", "round": "Đợt khảo sát", "mode": "Hình thức (chat/trang/giấy)",
                  "urban_rural": "Thành thị/nông thôn",
                  "channel": "Kênh", "sex": "Giới tính", "age_band": "Nhóm tuổi", "ethnicity": "Dân tộc",
                  "education": "Học vấn", "occupation": "Nghề nghiệp", "submitted_at": "Thời điểm nộp",
                  "duration_s": "Thời gian trả lời (giây)", "answered_steps": "Số câu đã trả lời",
                  "median_step_s": "Trung vị giây mỗi câu"}
for _lv, _vi in LEVEL_LABELS_VI.items():
    META_LABELS_VI[f"{_lv}_id"] = f"Mã {_vi.lower()}"
    META_LABELS_VI[f"{_lv}_name"] = f"Tên {_vi.lower()}"

SHEETS = {"levels": "Chỉ số - {level}", "groups": "Chỉ số theo nhóm", "components": "Thành phần, tiêu chí",
          "sensitivity": "Độ nhạy trọng số", "method": "Phương pháp ước lượng",
          "perceptions": "Nhận định", "expectations": "Mong đợi", "rates": "Tỷ lệ phản hồi",
          "quality": "Chất lượng dữ liệu", "codebook": "Từ điển biến", "raw": "Dữ liệu thô",
          "privacy": "Bảo vệ dữ liệu", "warning": "Cảnh báo"}

COL = {"n": "Số phiếu", "value": "Chỉ số (%)", "lo": "KTC 95% - cận dưới", "hi": "KTC 95% - cận trên",
       "se": "Sai số chuẩn (điểm)", "deff": "Hiệu ứng thiết kế (deff)", "n_eff": "Cỡ mẫu hiệu dụng",
       "target": "Chỉ tiêu (%)", "gap": "Chênh lệch so với chỉ tiêu (điểm)", "status_vi": "Đánh giá so với chỉ tiêu",
       "rank": "Thứ hạng", "rank_range": "Khoảng thứ hạng có thể", "tier": "Nhóm thứ hạng",
       "indistinguishable_from": "Không phân biệt được với", "previous": "Kỳ trước (%)",
       "diff": "Thay đổi (điểm)", "direction_vi": "Xu hướng (có ý nghĩa thống kê)"}


# ---------------------------------------------------------------- tables

def unit_level_table(a: Analysis, level: str) -> pd.DataFrame:
    """Indices by unit of one level (rows in Vietnamese alphabetical order of the unit name)."""
    t = a.unit_table(level)
    cols: dict[str, str] = {f"{level}_id": META_LABELS_VI.get(f"{level}_id", "Mã"),
                            f"{level}_name": META_LABELS_VI.get(f"{level}_name", "Tên")}
    cols.update({k: v for k, v in COL.items() if k in t.columns})
    out = t[[c for c in cols if c in t.columns]].rename(columns=cols)
    for c in t.columns:
        if c.startswith("pillar:"):
            out[f"Trụ cột: {pillar_name(a.survey, c[7:])}"] = t[c].to_numpy()
        elif c.startswith("component:"):
            out[component_name(a.survey, c[10:])] = t[c].to_numpy()
    name = cols.get(f"{level}_name")
    if name in out.columns:
        order = sorted(range(len(out)), key=lambda i: vi_key(out[name].iloc[i]))
        out = out.iloc[order].reset_index(drop=True)
    return out


def components_table(a: Analysis) -> pd.DataFrame:
    """Whole-round index of every pillar, component and criterion (item) with its interval."""
    t = a.overall
    rows = []
    lo_p, hi_p = t.intervals.get("pillar", (None, None))
    lo_c, hi_c = t.intervals.get("component", (None, None))
    lo_i, hi_i = t.intervals.get("item", (None, None))

    def prec(kind: str, col: str | None) -> dict[str, float]:
        """SE, design effect and effective n of one composite (empty for items)."""
        out = {}
        for stat in ("se", "deff", "n_eff"):
            v = t.precision.get(kind, {}).get(stat)
            out[COL[stat]] = np.nan if v is None else float((v if col is None else v[col]).iloc[0])
        return out

    rows.append({"Loại": "Chỉ số chung", "Mã": "overall", "Tên": "Chỉ số hài lòng chung",
                 "Trụ cột": "", "Thành phần": "", "Chỉ số (%)": t.overall.iloc[0],
                 COL["lo"]: t.intervals["overall"][0].iloc[0] if "overall" in t.intervals else np.nan,
                 COL["hi"]: t.intervals["overall"][1].iloc[0] if "overall" in t.intervals else np.nan,
                 "Số trả lời hợp lệ": int(t.n.iloc[0]), **prec("overall", None)})
    for p in t.pillars.columns:
        rows.append({"Loại": "Trụ cột", "Mã": p, "Tên": pillar_name(a.survey, p), "Trụ cột": p,
                     "Thành phần": "", "Chỉ số (%)": t.pillars[p].iloc[0],
                     COL["lo"]: lo_p[p].iloc[0] if lo_p is not None else np.nan,
                     COL["hi"]: hi_p[p].iloc[0] if hi_p is not None else np.nan,
                     "Số trả lời hợp lệ": int(t.n.iloc[0]), **prec("pillar", p)})
    pil_of = {it.component: it.pillar for it in a.items}
    for c in t.components.columns:
        rows.append({"Loại": "Thành phần", "Mã": c, "Tên": component_name(a.survey, c),
                     "Trụ cột": pil_of.get(c) or "", "Thành phần": c, "Chỉ số (%)": t.components[c].iloc[0],
                     COL["lo"]: lo_c[c].iloc[0] if lo_c is not None else np.nan,
                     COL["hi"]: hi_c[c].iloc[0] if hi_c is not None else np.nan,
                     "Số trả lời hợp lệ": int(t.n.iloc[0]), **prec("component", c)})
    for it in a.items:
        rows.append({"Loại": "Tiêu chí", "Mã": it.step_id, "Tên": it.name, "Trụ cột": it.pillar or "",
                     "Thành phần": it.component or "", "Chỉ số (%)": t.items[it.step_id].iloc[0],
                     COL["lo"]: lo_i[it.step_id].iloc[0] if lo_i is not None else np.nan,
                     COL["hi"]: hi_i[it.step_id].iloc[0] if hi_i is not None else np.nan,
                     "Số trả lời hợp lệ": int(t.n_valid[it.step_id].iloc[0])})
    return pd.DataFrame(rows)


def groups_table(a: Analysis) -> pd.DataFrame:
    rows = []
    for g, t in a.groups.items():
        lo, hi = t.intervals.get("overall", (None, None))
        for i, key in enumerate(t.keys[g]):
            rows.append({"Nhóm": GROUP_LABELS_VI.get(g, g), "Mã nhóm": g, "Giá trị": _value_label(a.survey, g, key),
                         COL["n"]: int(t.n.iloc[i]), COL["value"]: t.overall.iloc[i],
                         COL["lo"]: lo.iloc[i] if lo is not None else np.nan,
                         COL["hi"]: hi.iloc[i] if hi is not None else np.nan})
    return pd.DataFrame(rows, columns=["Nhóm", "Mã nhóm", "Giá trị", COL["n"], COL["value"], COL["lo"], COL["hi"]])


def _value_label(survey: Survey, step: str, value: Any) -> str:
    q = survey.question_by_id.get(step)
    if q is not None and not (isinstance(value, float) and np.isnan(value)):
        for o in survey.options_of(q):
            if o.value == value or str(o.value) == str(value) or (
                    isinstance(value, float) and isinstance(o.value, int) and value == o.value):
                return label(o.label)
    return "Không rõ" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def sensitivity_table(a: Analysis) -> pd.DataFrame:
    """Official (unweighted) index beside the design-weighted and raked ones, each column saying
    which it is (``analytics.sensitivity``)."""
    s = a.sensitivity
    if s is None:
        return pd.DataFrame()
    names = {"level": "Cấp", "unit_id": "Mã đơn vị", "unit_name": "Tên đơn vị", "n": COL["n"],
             "official": LABELS["official"], "official_lo": "Chính thức - KTC 95% cận dưới",
             "official_hi": "Chính thức - KTC 95% cận trên",
             "design_weighted": LABELS["design_weighted"],
             "design_weighted_lo": "Trọng số thiết kế - KTC 95% cận dưới",
             "design_weighted_hi": "Trọng số thiết kế - KTC 95% cận trên",
             "design_weighted_kish_deff": "Trọng số thiết kế - hệ số Kish",
             "raked": LABELS["raked"], "raked_kish_deff": "Hiệu chỉnh - hệ số Kish"}
    out = s[[c for c in names if c in s.columns]].rename(columns=names)
    out["Cấp"] = [LEVEL_LABELS_VI.get(x, "Toàn tỉnh" if x == "all" else x) for x in s["level"]]
    return out


def method_table(a: Analysis) -> pd.DataFrame:
    """How the intervals were computed: design, variance method, replicates, seed, notes."""
    s = a.settings
    method_vi = {"bootstrap": "bootstrap Rao–Wu (chọn lại n−1 đơn vị mẫu cấp một trong mỗi tầng)",
                 "linearisation": "tuyến tính hóa Taylor (như svymean của R)",
                 "srs": "coi như mẫu ngẫu nhiên đơn giản (chỉ để so sánh, hẹp hơn thực tế)"}[s.variance]
    rows = [("Thiết kế mẫu / sample design", a.design.describe("vi") if a.design else "—"),
            ("Nguồn thiết kế / design source", a.design.source if a.design else "—"),
            ("Phương sai / variance", method_vi),
            ("Số lần lặp bootstrap / replicates", str(s.bootstrap_b) if s.variance == "bootstrap" else "—"),
            ("Hạt giống / seed", str(s.seed)),
            ("Khoảng tin cậy / interval", f"{s.confidence:.0%}: ước lượng ± t × SE, bậc tự do của thiết kế; "
                                          "tiêu chí đơn lẻ: Wilson"),
            ("Chỉ số chính thức / official index", "không trọng số / unweighted (theo phương pháp)")]
    rows += [("Ghi chú / note", n) for n in a.notes]
    return pd.DataFrame(rows, columns=["Mục", "Nội dung"])


def shares_table(shares: pd.DataFrame) -> pd.DataFrame:
    return shares.rename(columns={"step_id": "Mã câu", "kind": "Loại", "component": "Nhóm câu",
                                  "criterion": "Nội dung", "value": "Mã phương án", "label": "Phương án",
                                  "n": "Số lượng", "base": "Cơ số", "share": "Tỷ lệ (%)"})


def rates_table(a: Analysis) -> pd.DataFrame:
    if a.rates is None:
        return pd.DataFrame({"Ghi chú": ["Không có dữ liệu tình trạng mẫu / no disposition data"]})
    return a.rates.rename(columns={"response_rate": "Tỷ lệ trả lời RR1 (%)",
                                   "cooperation_rate": "Tỷ lệ hợp tác COOP1 (%)",
                                   "refusal_rate": "Tỷ lệ từ chối REF1 (%)", "contact_rate": "Tỷ lệ tiếp cận CON1 (%)",
                                   "sampled": "Số mẫu", "eligible": "Số đủ điều kiện"})


def quality_table(a: Analysis) -> pd.DataFrame:
    s = a.flags_summary.rename(columns={"flag": "Cảnh báo", "label_vi": "Nội dung", "n": "Số phiếu",
                                        "share": "Tỷ lệ (%)"})
    ww = a.with_without.iloc[0]
    extra = pd.DataFrame([
        {"Cảnh báo": "index_all", "Nội dung": "Chỉ số chung - tất cả phiếu", "Số phiếu": ww["n_all"],
         "Tỷ lệ (%)": ww["index_all"]},
        {"Cảnh báo": "index_clean", "Nội dung": "Chỉ số chung - bỏ phiếu có cảnh báo", "Số phiếu": ww["n_clean"],
         "Tỷ lệ (%)": ww["index_clean"]}])
    return pd.concat([s, extra], ignore_index=True)


def _steps(survey: Survey) -> list[tuple[str, Any, Any]]:
    """(step id, question, matrix item or None) for every answer key, in order."""
    out = []
    for q in survey.questions:
        if q.type is QuestionType.matrix:
            out.extend((it.id, q, it) for it in q.items or [])
        elif q.type is not QuestionType.note:
            out.append((q.id, q, None))
    return out


def codebook(survey: Survey) -> pd.DataFrame:
    """One row per exported variable: name, question text (vi, en), type, codes and labels, role."""
    rows = []
    for sid, q, it in _steps(survey):
        text = it.text if it is not None else q.text
        role = (it.index if it is not None and it.index else None) or q.index
        opts = survey.options_of(q)
        rows.append({"Biến": sid, "Câu hỏi": q.id, "Loại": q.type.value,
                     "Nội dung (vi)": label(q.text) + (f" — {label(text)}" if it is not None else ""),
                     "Nội dung (en)": label(q.text, "en") + (f" — {label(text, 'en')}" if it is not None else ""),
                     "Mã và nhãn": "; ".join(f"{o.value} = {label(o.label)}" for o in opts),
                     "Vai trò chỉ số": role.kind if role else "", "Trụ cột": (role.pillar or "") if role else "",
                     "Thành phần": (role.component or "") if role else "",
                     "Giá trị hài lòng": ", ".join(map(str, survey.satisfied_values(q, role))) if role and role.kind == "satisfaction" else "",
                     "Ghi chú": "không xuất (văn bản tự do có thể chứa thông tin cá nhân)" if q.type is QuestionType.text else ""})
        if q.type is QuestionType.multi:
            for o in opts:
                rows.append({"Biến": multi_column(q.id, o.value), "Câu hỏi": q.id, "Loại": "multi 0/1",
                             "Nội dung (vi)": f"{label(q.text)} — {label(o.label)}",
                             "Nội dung (en)": f"{label(q.text, 'en')} — {label(o.label, 'en')}",
                             "Mã và nhãn": "0 = Không chọn; 1 = Có chọn"})
    for c in META_COLUMNS:
        rows.append({"Biến": c, "Câu hỏi": "", "Loại": "meta", "Nội dung (vi)": META_LABELS_VI.get(c, c)})
    return pd.DataFrame(rows)


def multi_column(qid: str, value: Any) -> str:
    return f"{qid}_{re.sub(r'[^0-9A-Za-z_]', '_', str(value))}"


def anonymised_raw(df: pd.DataFrame, survey: Survey) -> pd.DataFrame:
    """Raw answers from an allowlist of columns; multi-choice as a summary + one 0/1 per option."""
    cols: dict[str, pd.Series] = {}
    for c in META_COLUMNS:
        if c in df.columns:
            cols[c] = df[c]
    for sid, q, it in _steps(survey):
        if q.type is QuestionType.text or sid not in df.columns:
            continue
        col = df[sid]
        if q.type is QuestionType.multi:
            answered = col.map(lambda v: isinstance(v, (list, tuple)))
            cols[sid] = col.map(lambda v: ";".join(map(str, v)) if isinstance(v, (list, tuple)) else None)
            for o in survey.options_of(q):
                pick = col.map(lambda v, o=o: float(o.value in v) if isinstance(v, (list, tuple)) else np.nan)
                cols[multi_column(q.id, o.value)] = pick.where(answered)
        else:
            cols[sid] = col
    out = pd.concat(cols, axis=1) if cols else pd.DataFrame(index=df.index)
    return out.reset_index(drop=True)


def raw_table(a: Analysis, detail: str = "public", k: int = DEFAULT_K
              ) -> tuple[pd.DataFrame, DisclosureReport | None]:
    """The raw-data table at this level of detail, and (public) what the small-cell check did."""
    if detail not in DETAILS:
        raise ValueError(f"mức chi tiết không hỗ trợ / unknown detail {detail!r}; dùng / use {', '.join(DETAILS)}")
    raw = anonymised_raw(a.data, a.survey)
    if detail == "full":
        return raw, None
    return public_raw(raw, k)


def tables(a: Analysis, detail: str = "public", k: int = DEFAULT_K) -> dict[str, pd.DataFrame]:
    """Every exported table, keyed by sheet name, in workbook order."""
    out: dict[str, pd.DataFrame] = {}
    if detail == "full":
        out[SHEETS["warning"]] = pd.DataFrame({"Cảnh báo / warning": [FULL_DETAIL_WARNING]})
    for lv in a.levels:
        out[SHEETS["levels"].format(level=LEVEL_LABELS_VI.get(lv, lv))] = unit_level_table(a, lv)
    out[SHEETS["components"]] = components_table(a)
    if a.sensitivity is not None:
        out[SHEETS["sensitivity"]] = sensitivity_table(a)
    if a.groups:
        out[SHEETS["groups"]] = groups_table(a)
    out[SHEETS["perceptions"]] = shares_table(a.perceptions)
    out[SHEETS["expectations"]] = shares_table(a.expectations)
    out[SHEETS["rates"]] = rates_table(a)
    out[SHEETS["quality"]] = quality_table(a)
    out[SHEETS["method"]] = method_table(a)
    out[SHEETS["codebook"]] = codebook(a.survey)
    raw, report = raw_table(a, detail, k)
    out[SHEETS["raw"]] = raw
    if report is not None:
        out[SHEETS["privacy"]] = report.table()
    return out


# ---------------------------------------------------------------- writers

def _ascii_name(sheet: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", fold(sheet)).strip("_")


def file_names(a: Analysis, detail: str = "public", k: int = DEFAULT_K) -> dict[str, str]:
    """Sheet name → file stem (ASCII, for CSV/Parquet files)."""
    return {s: _ascii_name(s) for s in tables(a, detail, k)}


def write_xlsx(a: Analysis, path: Path, detail: str = "public", k: int = DEFAULT_K) -> Path:
    tabs = tables(a, detail, k)
    with pd.ExcelWriter(path, engine="xlsxwriter", engine_kwargs=XLSX_ENGINE_KWARGS) as xw:
        book = xw.book
        pct = book.add_format({"num_format": "0.00"})
        for sheet, t in tabs.items():
            t = t.copy()
            for c in t.columns:
                if t[c].dtype == object:
                    t[c] = t[c].map(lambda v: ";".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
                elif pd.api.types.is_datetime64_any_dtype(t[c]):
                    t[c] = t[c].dt.tz_localize(None) if getattr(t[c].dt, "tz", None) is not None else t[c]
            ws = write_frame_sheet(xw, t, sheet[:31])
            ws.freeze_panes(1, 0)
            for j, c in enumerate(t.columns):
                width = min(max(len(str(c)), 8) + 2, 48)
                ws.set_column(j, j, width, pct if t[c].dtype.kind == "f" else None)
    return path


def write_csv(a: Analysis, directory: Path, detail: str = "public", k: int = DEFAULT_K) -> list[Path]:
    """One CSV per table, UTF-8 with BOM so Excel shows Vietnamese correctly."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for sheet, t in tables(a, detail, k).items():
        p = directory / f"{_ascii_name(sheet)}.csv"
        neutralised_frame(t).to_csv(p, index=False, encoding="utf-8-sig")
        paths.append(p)
    return paths


def write_parquet(a: Analysis, directory: Path, detail: str = "public", k: int = DEFAULT_K) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for sheet, t in tables(a, detail, k).items():
        t = t.copy()
        for c in t.columns:
            if t[c].dtype == object:  # mixed codes (1, "x") are stored as text
                t[c] = t[c].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
        p = directory / f"{_ascii_name(sheet)}.parquet"
        t.to_parquet(p, index=False)
        paths.append(p)
    return paths


def _spss_name(name: str, taken: set[str]) -> str:
    s = re.sub(r"[^0-9A-Za-z_]", "_", name)
    if not s or not s[0].isalpha():
        s = "v" + s
    s = s[:60]
    base, k = s, 1
    while s.lower() in taken:
        k += 1
        s = f"{base}_{k}"
    taken.add(s.lower())
    return s


def sav_frame(a: Analysis, detail: str = "public", k: int = DEFAULT_K
              ) -> tuple[pd.DataFrame, dict[str, str], dict[str, dict[Any, str]]]:
    """The raw data as SPSS wants it: safe variable names, variable labels (question text, vi) and
    value labels (option codes → Vietnamese labels; 0/1 for multi-choice option columns)."""
    raw = raw_table(a, detail, k)[0]
    survey = a.survey
    var_labels: dict[str, str] = {}
    value_labels: dict[str, dict[Any, str]] = {}
    taken: set[str] = set()
    rename = {c: _spss_name(c, taken) for c in raw.columns}
    steps = {sid: (q, it) for sid, q, it in _steps(survey)}
    for c in raw.columns:
        name = rename[c]
        if c in steps:
            q, it = steps[c]
            var_labels[name] = label(q.text) + (f" — {label(it.text)}" if it is not None else "")
            opts = survey.options_of(q)
            if q.type is not QuestionType.multi and opts and all(isinstance(o.value, int) for o in opts):
                value_labels[name] = {float(o.value): label(o.label) for o in opts}
        elif c in META_LABELS_VI:
            var_labels[name] = META_LABELS_VI[c]
        else:
            for q in survey.questions:
                if q.type is QuestionType.multi:
                    for o in survey.options_of(q):
                        if multi_column(q.id, o.value) == c:
                            var_labels[name] = f"{label(q.text)} — {label(o.label)}"
                            value_labels[name] = {0.0: "Không chọn", 1.0: "Có chọn"}
    out = raw.rename(columns=rename)
    for c in out.columns:
        s = out[c]
        if s.dtype == object:
            num = pd.to_numeric(s, errors="coerce")
            if num.notna().sum() == s.notna().sum() and c in value_labels:
                out[c] = num.astype(float)
            else:
                out[c] = s.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
        elif str(s.dtype) in ("Int64", "Float64", "boolean"):
            out[c] = s.astype(float)
        elif pd.api.types.is_datetime64_any_dtype(s) and getattr(s.dt, "tz", None) is not None:
            out[c] = s.dt.tz_localize(None)
    return out, var_labels, value_labels


def write_sav(a: Analysis, path: Path, detail: str = "public", k: int = DEFAULT_K) -> Path:
    # lazy: pyreadstat adds ~0.3 s of import (python -X importtime), paid by SPSS exports only
    import pyreadstat

    df, var_labels, value_labels = sav_frame(a, detail, k)
    pyreadstat.write_sav(df, str(path), column_labels=[var_labels.get(c, c) for c in df.columns],
                         variable_value_labels=value_labels)
    return path


def export(a: Analysis, fmt: str, out: Path, detail: str = "public", k: int = DEFAULT_K) -> list[Path]:
    """Write the analysis in ``fmt``; CSV and Parquet write one file per table into ``out``.

    ``detail``: ``public`` (k-anonymous raw data, the default) or ``full`` (analyst role only)."""
    out = Path(out)
    if fmt not in FORMATS:
        raise ValueError(f"định dạng không hỗ trợ / unsupported format {fmt!r}; dùng / use {', '.join(FORMATS)}")
    if detail not in DETAILS:
        raise ValueError(f"mức chi tiết không hỗ trợ / unknown detail {detail!r}; dùng / use {', '.join(DETAILS)}")
    if k < 1:
        raise ValueError(f"k phải ≥ 1 / k must be at least 1, got {k}")
    if fmt == "xlsx":
        out.parent.mkdir(parents=True, exist_ok=True)
        return [write_xlsx(a, out, detail, k)]
    if fmt == "csv":
        return write_csv(a, out, detail, k)
    if fmt == "parquet":
        return write_parquet(a, out, detail, k)
    out.parent.mkdir(parents=True, exist_ok=True)
    return [write_sav(a, out, detail, k)]
