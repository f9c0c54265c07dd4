"""What the report says, section by section, as an analyst would write it.

Order: a one-page summary (the headline with its interval, the target verdict, the change on the
previous round, the best and worst units, the response rates), then the pillars and components
(one chart per component), the unit rankings (charts with intervals coloured by verdict, narrow
sorted tables), respondent groups, perceptions and expectations (charts), response rates, data
quality, weighting sensitivity and the method. Every label is Vietnamese; no column name of the
data (``not_invited``, ``complete``) reaches the reader.
"""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pandas as pd

from analytics import report_charts as rc
from analytics.analysis import GROUP_LABELS_VI, LEVEL_LABELS_VI, Analysis, component_name, pillar_name
from analytics.compare import against_target
from analytics.exports import _value_label
from analytics.indices import index_items, response_rates
from analytics.numbers import vn_int, vn_number, vn_pct, vn_points, vn_range
from analytics.quality import FLAG_LABELS_VI
from analytics.report_model import Chart, Headline, Heading, KeyFigures, Para, Report, Section, Table
from analytics.sensitivity import LABELS
from analytics.settings import SERVICE_LEVELS, UNIT_LEVELS
from analytics.text import label, vi_key
from analytics.indices import DISPOSITIONS
from fieldwork.dispositions import LABELS_VI as DISPOSITION_VI, Disposition

VERDICT_VI = {"met": "Đạt", "not_met": "Chưa đạt", "unclear": "Chưa khẳng định được", "no_data": "Không có dữ liệu"}
PARENT = {"village": "commune", "commune": "district", "district": "province"}
MAX_CHART_UNITS = 60          # a longer ranking shows the lowest and highest 25 (the table has all)
FLAG_EXPLAIN_VI = {
    "straightline": "cùng một mức cho mọi tiêu chí của mọi khối câu hỏi hài lòng, và thời gian mỗi câu dưới "
                    "một nửa trung vị của đợt",
    "too_fast": "trung vị thời gian mỗi câu dưới ngưỡng đọc tối thiểu (không áp dụng cho phiếu giấy)",
    "not_applicable_answered": "có trả lời cho câu lẽ ra không được hỏi (thường do nhập liệu)",
    "contradiction": "hai câu trả lời mâu thuẫn nhau theo quy tắc của bảng hỏi",
    "identical_all": "hài lòng (hoặc không) như nhau với mọi tiêu chí, trả lời với tốc độ bình thường hoặc "
                     "phiếu giấy: có thể là thật, không bị cảnh báo",
}

_MODE_VI = {"paper": "phiếu giấy", "page": "trên trang phiếu", "chat": "qua chat"}


# ---------------------------------------------------------------- small helpers

def _f(x: object) -> float:
    try:
        return float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _first(s: pd.Series | pd.DataFrame | None) -> float:
    return float("nan") if s is None else _f(np.asarray(s).ravel()[0])


def _level_vi(level: str) -> str:
    return LEVEL_LABELS_VI.get(level, level)


def _status(values: pd.Series, lo: pd.Series | None, hi: pd.Series | None, target: float) -> list[str]:
    return list(against_target(values.astype(float), lo, hi, target)["status"])


def _strip_number(text: str) -> str:
    """ "Câu 1. Ông/Bà …" → "Ông/Bà …" (the chart title says which question already)."""
    return re.sub(r"^(Câu|Q)\s*\d+[a-z]?\.\s*", "", text).strip()


def unit_names(a: Analysis, level: str, keys: pd.DataFrame) -> list[str]:
    """Display names of a level's units; a name used by two units gets its parent ("Tổ dân phố
    số 14 (Phường Đoàn Kết)"), and a unit without a name shows its code."""
    ids = keys[f"{level}_id"].astype(str).tolist() if f"{level}_id" in keys.columns else [""] * len(keys)
    names = (keys[f"{level}_name"].tolist() if f"{level}_name" in keys.columns else ids)
    names = [str(n) if isinstance(n, str) and n else i for n, i in zip(names, ids)]
    parents = parent_names(a, level)
    counts = pd.Series(names).value_counts()
    return [f"{n} ({parents[i]})" if counts[n] > 1 and parents.get(i) else
            (f"{n} ({i})" if counts[n] > 1 else n) for n, i in zip(names, ids)]


def parent_names(a: Analysis, level: str) -> dict[str, str]:
    """unit id → name of its parent unit (village → commune, commune → district)."""
    parent = PARENT.get(level)
    out: dict[str, str] = {}
    for src in (a.units, a.all_data):
        if src is None or parent is None:
            continue
        cols = [f"{level}_id", f"{parent}_name"]
        if all(c in src.columns for c in cols):
            for i, p in src[cols].dropna().drop_duplicates().itertuples(index=False):
                out.setdefault(str(i), str(p))
    return out


def _verdict_counts(status: list[str], level: str) -> str:
    c = pd.Series(status).value_counts()
    parts = [f"{c.get(k, 0)} {VERDICT_VI[k].lower()}" for k in ("met", "not_met", "unclear") if c.get(k, 0)]
    if c.get("no_data", 0):
        parts.append(f"{c['no_data']} không có dữ liệu")
    return f"{len(status)} {_level_vi(level).lower()}: " + ", ".join(parts)


def ranking_level(a: Analysis) -> str | None:
    """The level the summary ranks: communes if there are several, else districts, agencies…"""
    for lv in ("commune", "district", "agency", "field", "village"):
        if lv in a.levels and len(a.levels[lv].keys) > 1:
            return lv
    return None


# ---------------------------------------------------------------- the summary page

def _headline(a: Analysis) -> Headline:
    ov = a.overall
    s = a.settings
    value = _first(ov.overall)
    lo, hi = ov.intervals.get("overall", (None, None))
    lo_v, hi_v = _first(lo), _first(hi)
    st = _status(pd.Series([value]), pd.Series([lo_v]), pd.Series([hi_v]), s.target)[0]
    gap = value - s.target
    verdict_text = {
        "met": f"Đạt chỉ tiêu {vn_number(s.target, 0)}%: cả khoảng tin cậy ở trên chỉ tiêu "
               f"(cao hơn {vn_number(gap)} điểm).",
        "not_met": f"Chưa đạt chỉ tiêu {vn_number(s.target, 0)}%: cả khoảng tin cậy ở dưới chỉ tiêu "
                   f"(thấp hơn {vn_number(-gap)} điểm).",
        "unclear": f"Chưa khẳng định được so với chỉ tiêu {vn_number(s.target, 0)}%: khoảng tin cậy chứa chỉ tiêu "
                   f"(ước lượng {'cao' if gap >= 0 else 'thấp'} hơn {vn_number(abs(gap))} điểm).",
        "no_data": "Không có dữ liệu."}[st]
    prev = a.previous_overall
    if prev is not None and len(prev.overall):
        pv = _first(prev.overall)
        plo, phi = prev.intervals.get("overall", (None, None))
        plo_v, phi_v = _first(plo), _first(phi)
        diff = value - pv
        sig = not (np.isnan(plo_v) or np.isnan(lo_v)) and (lo_v > phi_v or hi_v < plo_v)
        change = (f"So với đợt {a.previous_code or 'trước'} ({vn_pct(pv)}, KTC 95%: {vn_range(plo_v, phi_v)}%): "
                  f"{vn_points(diff)} điểm — "
                  + ("thay đổi có ý nghĩa thống kê (hai khoảng tin cậy không chồng nhau)." if sig else
                     "chưa khẳng định được là có thay đổi (hai khoảng tin cậy chồng nhau)."))
    else:
        change = ("Chưa có đợt trước để so sánh (chạy báo cáo với --previous MÃ_ĐỢT để thêm so sánh với "
                  "năm trước).")
    return Headline(value=value, text=f"Chỉ số hài lòng chung: {vn_pct(value)}",
                    interval=f"khoảng tin cậy 95%: {vn_range(lo_v, hi_v)}%", verdict=st,
                    verdict_text=verdict_text, change_text=change)


def total_rates(a: Analysis) -> dict[str, float] | None:
    """RR1, COOP1, REF1, CON1 and counts for the whole round (from the per-unit dispositions)."""
    if a.rates is None or not len(a.rates):
        return None
    d = a.rates[[c for c in DISPOSITIONS if c in a.rates.columns]].sum().to_frame().T
    d["_all"] = "all"
    r = response_rates(d, ["_all"]).iloc[0]
    return {k: _f(r[k]) for k in ("response_rate", "cooperation_rate", "refusal_rate", "contact_rate",
                                  "sampled", "eligible", *DISPOSITIONS)}


def _summary(a: Analysis) -> Section:
    ov = a.overall
    s = a.settings
    blocks: list = [_headline(a)]
    modes = a.data["mode"].value_counts().to_dict() if "mode" in a.data.columns else {}
    mode_txt = ", ".join(f"{_MODE_VI.get(k, 'qua chat')} {vn_int(v)}" for k, v in modes.items())
    figs = [("Phiếu được tính", vn_int(_first(ov.n)), mode_txt)]
    rates = total_rates(a)
    if rates:
        figs.append(("Tỷ lệ trả lời (RR1)", vn_pct(rates["response_rate"], 1),
                     f"{vn_int(rates['complete'])} hoàn thành / {vn_int(rates['eligible'])} đủ điều kiện"))
        figs.append(("Tỷ lệ hợp tác (COOP1)", vn_pct(rates["cooperation_rate"], 1),
                     f"từ chối (REF1) {vn_pct(rates['refusal_rate'], 1)}"))
    plo, phi = ov.intervals.get("pillar", (None, None))
    for i, p in enumerate(ov.pillars.columns):
        roman = "I" * (i + 1) if i < 3 else str(i + 1)
        figs.append((f"Trụ cột {roman}: {pillar_name(a.survey, p)}", vn_pct(_first(ov.pillars[p])),
                     f"KTC 95%: {vn_range(_first(plo[p]) if plo is not None else np.nan, _first(phi[p]) if phi is not None else np.nan)}%"))
    fs = a.flags_summary.set_index("flag")
    ww = a.with_without.iloc[0]
    if "any" in fs.index:
        figs.append(("Phiếu có cảnh báo chất lượng", vn_pct(fs.loc["any", "share"], 1),
                     f"{vn_int(fs.loc['any', 'n'])} phiếu; chỉ số khi bỏ: {vn_pct(ww['index_clean'])} (mục 7)"))
    blocks.append(KeyFigures(figs))
    lv = ranking_level(a)
    if lv:
        t = a.unit_table(lv)
        names = unit_names(a, lv, t)
        t = t.assign(_name=names).sort_values("value", ascending=False, na_position="last")
        t = t[t["value"].notna()]
        k = min(3, len(t) // 2) or 1
        pick = pd.concat([t.head(k), t.tail(k)]) if len(t) > 2 * k else t
        rows, verdicts = [], []
        for j, (_, r) in enumerate(pick.iterrows()):
            tag = "Cao nhất" if j < k else "Thấp nhất"
            rows.append([tag, r["_name"], vn_int(r["n"]), vn_number(r["value"]), vn_range(r["lo"], r["hi"]),
                         VERDICT_VI.get(r["status"], "")])
            verdicts.append(str(r["status"]))
        blocks.append(Heading(3, f"{_level_vi(lv)} có chỉ số cao nhất và thấp nhất"))
        blocks.append(Table(["", "Đơn vị", "Số phiếu", "Chỉ số (%)", "KTC 95% (%)", "So với chỉ tiêu"], rows,
                            ["l", "l", "r", "r", "r", "l"], verdicts=verdicts, widths=[1.0, 2.6, 0.8, 0.9, 1.5, 2.1]))
        blocks.append(Para(_verdict_counts(list(a.unit_table(lv)["status"]), lv) +
                           ". Thứ hạng giữa các đơn vị có khoảng tin cậy chồng nhau chưa phân biệt được "
                           "(xem mục Xếp hạng).", "note"))
    items = ov.items.iloc[0].dropna().sort_values()
    if len(items):
        names = {it.step_id: it.name for it in a.items}
        low = "; ".join(f"{names[k]} ({vn_pct(v)})" for k, v in items.head(3).items())
        blocks.append(Para(f"Ba tiêu chí có chỉ số thấp nhất: {low}.", "p"))
    blocks.append(Para("Chỉ số của một tiêu chí là tỷ lệ % người trả lời “Hài lòng” hoặc “Rất hài lòng” trên số "
                       "trả lời hợp lệ; chỉ số chung là trung bình các tiêu chí. Khoảng tin cậy 95% tính theo thiết "
                       "kế mẫu. Một đơn vị “đạt” khi cả khoảng tin cậy ở trên chỉ tiêu.", "note"))
    return Section("tom-tat", "Tóm tắt", blocks, new_page=False)


# ---------------------------------------------------------------- pillars, components, criteria

def _composites(a: Analysis) -> Section:
    ov = a.overall
    s = a.settings
    blocks: list = []
    names, vals, los, his = [], [], [], []
    plo, phi = ov.intervals.get("pillar", (None, None))
    clo, chi = ov.intervals.get("component", (None, None))
    pil_of = {it.component: it.pillar for it in a.items}
    for p in ov.pillars.columns:
        names.append(f"Trụ cột: {pillar_name(a.survey, p)}")
        vals.append(_first(ov.pillars[p]))
        los.append(_first(plo[p]) if plo is not None else np.nan)
        his.append(_first(phi[p]) if phi is not None else np.nan)
        for c in ov.components.columns:
            if pil_of.get(c) == p:
                names.append(f"   {component_name(a.survey, c)}")
                vals.append(_first(ov.components[c]))
                los.append(_first(clo[c]) if clo is not None else np.nan)
                his.append(_first(chi[c]) if chi is not None else np.nan)
    if names:
        st = _status(pd.Series(vals), pd.Series(los), pd.Series(his), s.target)
        blocks.append(Chart("composites", "Chỉ số theo trụ cột và thành phần",
                            lambda names=names, vals=vals, los=los, his=his, st=st: rc.ranking_chart(
                                names, vals, los, his, st, s.target, "Chỉ số theo trụ cột và thành phần (toàn đợt)",
                                                     ylabel="Trụ cột, thành phần", sort=False, label_width=46)))
        blocks.append(Table(["Trụ cột, thành phần", "Chỉ số (%)", "KTC 95% (%)", "So với chỉ tiêu"],
                            [[n.strip(), vn_number(v), vn_range(lo, hi), VERDICT_VI[x]]
                             for n, v, lo, hi, x in zip(names, vals, los, his, st)],
                            ["l", "r", "r", "l"], verdicts=st, widths=[4.5, 1, 1.6, 1.7]))
    ilo, ihi = ov.intervals.get("item", (None, None))
    for p in [*ov.pillars.columns, None]:
        comps = [c for c in ov.components.columns if pil_of.get(c) == p]
        if not comps:
            continue
        if p is not None:
            blocks.append(Heading(3, f"Trụ cột: {pillar_name(a.survey, p)} — {vn_pct(_first(ov.pillars[p]))}"))
        for c in comps:
            its = [it for it in a.items if it.component == c]
            v = [_first(ov.items[it.step_id]) for it in its]
            lo = [_first(ilo[it.step_id]) if ilo is not None else np.nan for it in its]
            hi = [_first(ihi[it.step_id]) if ihi is not None else np.nan for it in its]
            st = _status(pd.Series(v), pd.Series(lo), pd.Series(hi), s.target)
            nm = [it.name for it in its]
            nv = [int(_first(ov.n_valid[it.step_id])) for it in its]
            title = f"{component_name(a.survey, c)} — {vn_pct(_first(ov.components[c]))}"
            blocks.append(Heading(4, title))
            blocks.append(Chart(f"component-{c}", title,
                                lambda nm=nm, v=v, lo=lo, hi=hi, st=st, c=c: rc.ranking_chart(
                                    nm, v, lo, hi, st, s.target, f"Chỉ số các tiêu chí: {component_name(a.survey, c)}",
                                    ylabel="Tiêu chí", label_width=44)))
            order = sorted(range(len(v)), key=lambda i: -v[i] if not np.isnan(v[i]) else np.inf)
            blocks.append(Table(["Tiêu chí", "Số trả lời hợp lệ", "Chỉ số (%)", "KTC 95% (%)", "So với chỉ tiêu"],
                                [[nm[i], vn_int(nv[i]), vn_number(v[i]), vn_range(lo[i], hi[i]), VERDICT_VI[st[i]]]
                                 for i in order], ["l", "r", "r", "r", "l"], verdicts=[st[i] for i in order],
                                widths=[4.2, 1.1, 1, 1.6, 1.7]))
    return Section("tru-cot", "1. Chỉ số theo trụ cột, thành phần và tiêu chí", blocks)


# ---------------------------------------------------------------- unit rankings

def _rankings(a: Analysis) -> Section | None:
    s = a.settings
    blocks: list = [Para("Mỗi đơn vị: chỉ số (điểm) và khoảng tin cậy 95% (vạch ngang). Màu theo kết luận so với "
                         "chỉ tiêu: xanh = đạt (cả khoảng ≥ chỉ tiêu), đỏ = chưa đạt (cả khoảng < chỉ tiêu), cam = "
                         "chưa khẳng định được. “Hạng có thể” là khoảng thứ hạng phù hợp với khoảng tin cậy: hai đơn vị "
                         "có khoảng chồng nhau không phân biệt được thứ hạng.", "note")]
    any_level = False
    for lv in (*UNIT_LEVELS, *SERVICE_LEVELS):
        if lv not in a.levels or len(a.levels[lv].keys) < 2:
            continue
        any_level = True
        t = a.unit_table(lv)
        names = unit_names(a, lv, t)
        t = t.assign(_name=names)
        lvl = _level_vi(lv)
        blocks.append(Heading(3, f"Xếp hạng theo {lvl.lower()}"))
        ct = t.sort_values("value", ascending=False, na_position="last")
        note = ""
        if len(ct) > MAX_CHART_UNITS:
            ok = ct[ct["value"].notna()]
            ct = pd.concat([ok.head(25), ok.tail(25)])
            note = f" (25 cao nhất và 25 thấp nhất trong {len(t)}; bảng dưới có đủ)"
        args = (list(ct["_name"]), ct["value"].to_numpy(), ct["lo"].to_numpy(), ct["hi"].to_numpy(),
                list(ct["status"]))
        blocks.append(Chart(f"rank-{lv}", f"Chỉ số hài lòng chung theo {lvl.lower()}",
                            lambda args=args, lvl=lvl, note=note: rc.ranking_chart(
                                *args, s.target, f"Chỉ số hài lòng chung theo {lvl.lower()}{note}", ylabel=lvl)))
        blocks.append(Para(_verdict_counts(list(t["status"]), lv) + ".", "note"))
        has_prev = "diff" in t.columns and t["previous"].notna().any()
        cols = ["Hạng (có thể)", lvl, "Số phiếu", "Chỉ số (%)", "KTC 95% (%)", "So với chỉ tiêu"]
        align = ["r", "l", "r", "r", "r", "l"]
        widths = [1.1, 3.4, 0.9, 1, 1.6, 1.7]
        if has_prev:
            cols += ["Thay đổi (điểm)"]
            align += ["r"]
            widths += [1.1]
        rows, verdicts = [], []
        for _, r in t.sort_values(["value"], ascending=False, na_position="last").iterrows():
            rank = "—" if np.isnan(_f(r["rank"])) else f"{vn_int(r['rank'])} ({r['rank_range']})"
            row = [rank, r["_name"], vn_int(r["n"]), vn_number(r["value"]), vn_range(r["lo"], r["hi"]),
                   VERDICT_VI.get(r["status"], "")]
            if has_prev:
                sig = "*" if bool(r.get("significant", False)) else ""
                row.append(vn_points(r["diff"]) + sig)
            rows.append(row)
            verdicts.append(str(r["status"]))
        blocks.append(Table(cols, rows, align, verdicts=verdicts, widths=widths))
        if has_prev:
            blocks.append(Para(f"Thay đổi so với đợt {a.previous_code or 'trước'}; * = có ý nghĩa thống kê (hai "
                               "khoảng tin cậy không chồng nhau).", "note"))
    return Section("xep-hang", "2. Xếp hạng đơn vị", blocks) if any_level else None


# ---------------------------------------------------------------- respondent groups

def _groups(a: Analysis) -> Section | None:
    if not a.groups:
        return None
    s = a.settings
    names, vals, los, his, ns = [], [], [], [], []
    for g, t in a.groups.items():
        if len(t.keys) < 2:           # one category (e.g. every answer by chat): nothing to compare
            continue
        lo, hi = t.intervals.get("overall", (None, None))
        order = sorted(range(len(t.keys)), key=lambda i: vi_key(_value_label(a.survey, g, t.keys[g].iloc[i])))
        for i in order:
            names.append(f"{GROUP_LABELS_VI.get(g, g)}: {_channel_vi(_value_label(a.survey, g, t.keys[g].iloc[i]))}")
            vals.append(_f(t.overall.iloc[i]))
            los.append(_f(lo.iloc[i]) if lo is not None else np.nan)
            his.append(_f(hi.iloc[i]) if hi is not None else np.nan)
            ns.append(int(t.n.iloc[i]))
    if not names:
        return None
    st = _status(pd.Series(vals), pd.Series(los), pd.Series(his), s.target)
    blocks = [Chart("groups", "Chỉ số theo nhóm người trả lời",
                    lambda: rc.ranking_chart(names, vals, los, his, st, s.target, "Chỉ số hài lòng chung theo nhóm "
                                             "người trả lời", ylabel="Nhóm", sort=False, label_width=40)),
              Table(["Nhóm", "Số phiếu", "Chỉ số (%)", "KTC 95% (%)", "So với chỉ tiêu"],
                    [[n, vn_int(k), vn_number(v), vn_range(lo, hi), VERDICT_VI[x]]
                     for n, k, v, lo, hi, x in zip(names, ns, vals, los, his, st)],
                    ["l", "r", "r", "r", "l"], verdicts=st, widths=[4, 0.9, 1, 1.6, 1.7]),
              Para("Nhóm nhỏ có khoảng tin cậy rộng; khác biệt giữa hai nhóm chỉ đáng kể khi hai khoảng không "
                   "chồng nhau.", "note")]
    return Section("nhom", "3. Chỉ số theo nhóm người trả lời", blocks)


def _channel_vi(v: str) -> str:
    return {"paper": "Phiếu giấy", "chat": "Qua chat", "telegram": "Telegram", "zalo": "Zalo",
            "console": "Bàn phím (thử nghiệm)"}.get(v, v)


# ---------------------------------------------------------------- perceptions and expectations

def _shares(a: Analysis, shares: pd.DataFrame, kind: str, anchor: str, title: str) -> Section | None:
    if shares is None or not len(shares):
        return None
    blocks: list = []
    qtext: dict[str, str] = {}
    for q in a.survey.questions:
        qtext[q.id] = _strip_number(label(q.text))
    qid_of = {it.step_id: it.question_id for it in index_items(a.survey, (kind,), a.settings)}
    shares = shares.assign(_q=shares["step_id"].map(qid_of).fillna(shares["step_id"]))
    for qid, part in shares.groupby("_q", sort=False):
        q = a.survey.question_by_id.get(qid)
        head = label(q.text) if q is not None else str(qid)
        base = int(part["base"].max()) if "base" in part.columns and len(part) else 0
        num = re.match(r"^(Câu|Q)\s*(\d+[a-z]?)", head)
        ctitle = (f"Câu {num.group(2)}: " if num else "") + qtext.get(qid, head)
        steps = list(dict.fromkeys(part["step_id"]))
        multi = q is not None and q.type.value == "multi"
        if len(steps) > 1:
            opts = list(dict.fromkeys(part["label"]))
            rows = []
            mat = np.zeros((len(steps), len(opts)))
            for r, sid in enumerate(steps):
                sub = part[part["step_id"] == sid]
                rows.append(str(sub["criterion"].iloc[0]) if sub["criterion"].notna().iloc[0] else sid)
                for _, x in sub.iterrows():
                    mat[r, opts.index(x["label"])] = _f(x["share"])
            blocks.append(Chart(f"{kind}-{qid}", ctitle,
                                lambda rows=rows, opts=opts, mat=mat, ctitle=ctitle: rc.stacked_shares_chart(
                                    rows, opts, mat, ctitle, ylabel="Nội dung")))
        else:
            labels = [str(x) for x in part["label"]]
            vals = [_f(x) for x in part["share"]]
            blocks.append(Chart(f"{kind}-{qid}", ctitle,
                                lambda labels=labels, vals=vals, ctitle=ctitle, multi=multi: rc.bar_shares_chart(
                                    labels, vals, ctitle,
                                    "Tỷ lệ người chọn (%; chọn nhiều phương án)" if multi else "Tỷ lệ người chọn (%)")))
        blocks.append(Para(f"Cơ số: {vn_int(base)} người trả lời" +
                           ("; mỗi người có thể chọn nhiều phương án nên tổng có thể vượt 100%." if multi else "."),
                           "note"))
    blocks.append(Para("Bảng số liệu đầy đủ (số lượng, cơ số, tỷ lệ từng phương án) có trong tệp xuất "
                       "(hailong export).", "note"))
    return Section(anchor, title, blocks)


# ---------------------------------------------------------------- response rates

def _rates(a: Analysis) -> Section | None:
    if a.rates is None or not len(a.rates):
        return None
    tot = total_rates(a)
    lv = next((x for x in ("commune", "district", "agency", "field", "village")
               if f"{x}_id" in a.rates.columns and a.rates[f"{x}_id"].nunique() > 1), None)
    blocks: list = []
    if tot:
        blocks.append(Para(f"Toàn đợt: {vn_int(tot['sampled'])} trường hợp trong mẫu, {vn_int(tot['eligible'])} đủ điều "
                           f"kiện; tỷ lệ trả lời RR1 {vn_pct(tot['response_rate'], 1)}, hợp tác COOP1 "
                           f"{vn_pct(tot['cooperation_rate'], 1)}, từ chối REF1 {vn_pct(tot['refusal_rate'], 1)}, "
                           f"tiếp cận được CON1 {vn_pct(tot['contact_rate'], 1)}.", "p"))
    if lv:
        keys = [c for c in (f"{lv}_id", f"{lv}_name") if c in a.rates.columns]
        disp = [c for c in DISPOSITIONS if c in a.rates.columns]
        r = response_rates(a.rates[keys + disp], keys)
        names = unit_names(a, lv, r)
        order = sorted(range(len(r)), key=lambda i: vi_key(names[i]))
        r = r.iloc[order].reset_index(drop=True)
        names = [names[i] for i in order]
        series = {"Tỷ lệ trả lời RR1": r["response_rate"].to_numpy(),
                  "Tỷ lệ hợp tác COOP1": r["cooperation_rate"].to_numpy(),
                  "Tỷ lệ từ chối REF1": r["refusal_rate"].to_numpy()}
        lvl = _level_vi(lv)
        blocks.append(Chart("rates", f"Tỷ lệ phản hồi theo {lvl.lower()}",
                            lambda: rc.rates_chart(names, series, f"Tỷ lệ phản hồi theo {lvl.lower()}", ylabel=lvl)))
        broke = r[[Disposition.REFUSED.value, Disposition.STARTED.value, Disposition.OPENED.value]].sum(axis=1)
        unreached = r[[Disposition.INVITED.value, Disposition.UNREACHABLE.value, Disposition.SUBSTITUTED.value,
                       Disposition.NOT_INVITED.value]].sum(axis=1)
        rows = [[names[i], vn_int(r["sampled"].iloc[i]), vn_int(r[Disposition.COMPLETE.value].iloc[i]),
                 vn_int(broke.iloc[i]), vn_int(unreached.iloc[i]), vn_int(r[Disposition.INELIGIBLE.value].iloc[i]),
                 vn_number(r["response_rate"].iloc[i], 1), vn_number(r["cooperation_rate"].iloc[i], 1)]
                for i in range(len(r))]
        blocks.append(Table([lvl, "Mẫu", "Hoàn thành", "Từ chối, bỏ dở", "Chưa liên hệ được", "Không đủ điều kiện",
                             "RR1 (%)", "COOP1 (%)"], rows, ["l", "r", "r", "r", "r", "r", "r", "r"],
                            widths=[3, 0.8, 1.1, 1.1, 1.2, 1.2, 0.9, 1]))
    blocks.append(Para("Định nghĩa theo AAPOR (Standard Definitions, 2023): RR1 = số hoàn thành / số trường hợp đủ "
                       "hoặc có thể đủ điều kiện; COOP1 = số hoàn thành / số đã liên hệ được; REF1 = số từ chối (kể cả "
                       "bỏ dở) / số đủ điều kiện; CON1 = số liên hệ được / số đủ điều kiện. “Chưa liên hệ được” gồm: "
                       + ", ".join(DISPOSITION_VI[d].lower() for d in (Disposition.INVITED, Disposition.UNREACHABLE,
                                                                       Disposition.SUBSTITUTED, Disposition.NOT_INVITED))
                       + ".", "note"))
    return Section("phan-hoi", "6. Tỷ lệ phản hồi", blocks)


# ---------------------------------------------------------------- quality, sensitivity, method

def _quality(a: Analysis) -> Section:
    fs = a.flags_summary
    ww = a.with_without.iloc[0]
    rows = []
    for flag in (*FLAG_LABELS_VI, "any", "identical_all"):
        r = fs[fs["flag"] == flag]
        if len(r):
            rows.append([str(r["label_vi"].iloc[0]), FLAG_EXPLAIN_VI.get(flag, ""), vn_int(r["n"].iloc[0]),
                         vn_number(r["share"].iloc[0], 1)])
    blocks: list = [
        Para("Cảnh báo là tín hiệu để xem xét, không phải kết luận, và không phiếu nào bị loại mặc định: người "
             "phân tích chọn cảnh báo cần loại (--exclude-flag) và báo cáo đặt hai chỉ số cạnh nhau. Trả lời giống "
             "nhau (straight-lining) chỉ bị cảnh báo khi có cả hai dấu hiệu: cùng một mức cho mọi tiêu chí của mọi "
             "khối và trả lời nhanh bất thường so với đợt. Một khối giống nhau thì không: các tiêu chí trong một "
             "khối cùng hỏi về một cơ quan, và người hài lòng thật sẽ trả lời “Hài lòng” cho cả khối (Zhang & Conrad "
             "2014; Kim và cộng sự 2019; Reuning & Plutzer 2020).", "note"),
        Table(["Cảnh báo", "Nghĩa là", "Số phiếu", "Tỷ lệ (%)"], rows, ["l", "l", "r", "r"], widths=[2.4, 4.4, 0.9, 0.9]),
        Table(["", "Số phiếu", "Chỉ số chung (%)"],
              [["Tất cả phiếu", vn_int(ww["n_all"]), vn_number(ww["index_all"])],
               ["Bỏ các phiếu có cảnh báo", vn_int(ww["n_clean"]), vn_number(ww["index_clean"])],
               ["Chênh lệch (điểm)", "", vn_points(ww["difference"])]], ["l", "r", "r"], widths=[3.5, 1.2, 1.6])]
    if len(a.all_data) != len(a.data):
        blocks.append(Para(f"Chỉ số trong báo cáo này đã loại {vn_int(len(a.all_data) - len(a.data))} phiếu có cảnh báo "
                           f"({', '.join(FLAG_LABELS_VI.get(f, f) for f in a.settings.exclude_flags)}).", "p"))
    return Section("chat-luong", "7. Chất lượng dữ liệu", blocks)


def _sensitivity(a: Analysis) -> Section | None:
    sd = a.sensitivity
    if sd is None or not len(sd):
        return None
    cols = ["Đơn vị", "Số phiếu", "Chính thức (%)"]
    keys = ["official"]
    if "design_weighted" in sd.columns:
        cols.append("Trọng số thiết kế (%)")
        keys.append("design_weighted")
    if "raked" in sd.columns:
        cols.append("Hiệu chỉnh cơ cấu (%)")
        keys.append("raked")
    rows = []
    for _, r in sd.iterrows():
        nm = str(r.get("unit_name") or r.get("unit_id") or "")
        top = r["level"] in ("all", "province")
        rows.append([("Toàn tỉnh" + (f" ({nm})" if nm and nm != "all" else "")) if top else nm,
                     vn_int(r["n"]), *[vn_number(r[k]) for k in keys]])
    return Section("do-nhay", "8. Độ nhạy theo trọng số (tham khảo)", [
        Para("Chỉ số chính thức không dùng trọng số. Để thấy lựa chọn này ảnh hưởng bao nhiêu, bảng đặt cạnh: "
             f"{LABELS.get('design_weighted', 'chỉ số có trọng số thiết kế').lower()} (nghịch đảo xác suất được chọn) "
             "và, nếu có tệp cơ cấu dân số, chỉ số hiệu chỉnh theo tuổi × giới tính × thành thị/nông thôn. "
             "Hai cột này chỉ để tham khảo.", "note"),
        Table(cols, rows, ["l"] + ["r"] * (len(cols) - 1), widths=[4] + [1.3] * (len(cols) - 1))])


def _method(a: Analysis) -> Section:
    s = a.settings
    variance_vi = {"bootstrap": "bootstrap Rao–Wu theo thiết kế mẫu (chọn lại n−1 đơn vị mẫu cấp một trong mỗi tầng, "
                                f"{vn_int(s.bootstrap_b)} lần)",
                   "linearisation": "tuyến tính hóa Taylor theo thiết kế mẫu",
                   "srs": "coi các phiếu như mẫu ngẫu nhiên đơn giản (chỉ để so sánh)"}[s.variance]
    rule = ("trung bình cộng của tất cả các tiêu chí hài lòng (gộp)" if s.aggregation == "pooled"
            else "trung bình cộng của các trụ cột")
    ov = a.overall
    prec = ov.precision.get("overall", {})
    rows = [["Chỉ số tiêu chí", "tỷ lệ % trả lời “Hài lòng” (4) hoặc “Rất hài lòng” (5) trên số trả lời hợp lệ; "
                                "câu bỏ trống và “không áp dụng” không tính vào mẫu số"],
            ["Thành phần, trụ cột", "trung bình các chỉ số tiêu chí của thành phần, trụ cột"],
            ["Chỉ số chung", rule],
            ["Thiết kế mẫu", a.design.describe("vi") if a.design else "—"],
            ["Khoảng tin cậy 95%", f"tiêu chí: Wilson; chỉ số tổng hợp: {variance_vi}, ước lượng ± t × sai số chuẩn"],
            ["Hiệu ứng thiết kế (deff)", vn_number(_first(prec.get("deff")))],
            ["Cỡ mẫu hiệu dụng", vn_int(_first(prec.get("n_eff"))) if "n_eff" in prec else "—"],
            ["Trọng số", "chỉ số chính thức không dùng trọng số"],
            ["Hạt giống ngẫu nhiên", str(s.seed)]]
    rows += [["Ghi chú", n] for n in a.notes]
    return Section("phuong-phap", "9. Phương pháp", [
        Table(["Mục", "Cách tính"], rows, ["l", "l"], widths=[2, 6]),
        Para("Cách tính theo phương pháp đo lường SIPAS của Bộ Nội vụ (Quyết định số 1001/QĐ-BNV, giai đoạn "
             "2023–2026) và Phương pháp đo lường của tỉnh (Quyết định số 864/QĐ-UBND ngày 18/6/2024 của UBND tỉnh Lai "
             "Châu, sửa đổi, bổ sung bởi Quyết định số 2032/QĐ-UBND ngày 25/7/2025), như ghi trong tài liệu phương "
             "pháp của hailong (docs/methodology.md); những điểm văn bản chưa nói rõ là tham số có thể thay đổi. Quy "
             "tắc gộp “trung bình các tiêu chí” tái tạo đúng chỉ số "
             "SIPAS quốc gia năm 2024 (83,94%).", "note")])


# ---------------------------------------------------------------- the whole report

def build_report(a: Analysis) -> Report:
    """Every section of the report of ``a``, in reading order."""
    sections = [_summary(a), _composites(a), _rankings(a), _groups(a),
                _shares(a, a.perceptions, "perception", "nhan-dinh", "4. Nhận định của người dân"),
                _shares(a, a.expectations, "expectation", "mong-doi", "5. Nhu cầu, mong đợi của người dân"),
                _rates(a), _quality(a), _sensitivity(a), _method(a)]
    title = f"Báo cáo kết quả khảo sát sự hài lòng — đợt {a.round_code}"
    sub = f"{label(a.survey.title)} (phiên bản {a.survey.version})"
    return Report(title=title, subtitle=sub, round_code=a.round_code, headline_value=_first(a.overall.overall),
                  sections=[x for x in sections if x is not None],
                  footer=f"Lập lúc {datetime.now():%H:%M ngày %d/%m/%Y} bằng hailong.")
