"""The HTML report of a round, in Vietnamese: headline, charts (embedded PNG) and tables.

One self-contained file (``index.html``: images as base64) that can be e-mailed or opened offline.
The numbers come from the same ``Analysis`` as the exports.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from analytics import charts
from analytics.analysis import LEVEL_LABELS_VI, Analysis, component_name
from analytics.exports import (components_table, groups_table, method_table, quality_table, rates_table,
                               sensitivity_table, shares_table, unit_level_table)
from analytics.text import label

MAX_UNITS_IN_CHART = 80


_MODE_VI = {"paper": "phiếu giấy", "page": "trên trang phiếu", "chat": "qua chat"}

def vn_number(x: object, digits: int = 2) -> str:
    """Vietnamese number format: decimal comma (83,94); NaN → "—"."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "—"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}".replace(",", ".")
    if isinstance(x, (float, np.floating)):
        s = f"{float(x):,.{digits}f}"
        return s.replace(",", "\u00a0").replace(".", ",").replace("\u00a0", ".")
    return str(x)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(df: pd.DataFrame, max_rows: int = 500) -> str:
    d = df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in d.columns)
    body = []
    for _, row in d.iterrows():
        cells = []
        for v in row:
            num = isinstance(v, (float, np.floating, int, np.integer)) and not isinstance(v, bool)
            cells.append(f'<td class="{"n" if num else ""}">{html.escape(vn_number(v) if num else ("" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p class='note'>… {len(df) - max_rows} dòng nữa trong tệp xuất.</p>" if len(df) > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


CSS = """body{font-family:'DejaVu Sans',Arial,sans-serif;max-width:1100px;margin:2em auto;color:#222}
h1{font-size:1.5em}h2{border-bottom:2px solid #1f5fa8;padding-bottom:.2em;margin-top:2em}
.headline{font-size:1.3em;background:#eef4fb;padding:1em;border-left:6px solid #1f5fa8}
.headline b{font-size:1.6em}table{border-collapse:collapse;font-size:.8em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 6px}th{background:#f0f0f0}td.n{text-align:right}
.note{color:#555;font-size:.85em}img{max-width:100%}"""


def build_html(a: Analysis) -> str:
    """The report as one HTML string."""
    s = a.settings
    ov = a.overall
    value = float(ov.overall.iloc[0])
    lo, hi = ov.intervals.get("overall", (pd.Series([np.nan]), pd.Series([np.nan])))
    n = int(ov.n.iloc[0])
    prec = ov.precision.get("overall", {})
    deff = float(prec["deff"].iloc[0]) if "deff" in prec else float("nan")
    n_eff = float(prec["n_eff"].iloc[0]) if "n_eff" in prec else float("nan")
    variance_vi = {"bootstrap": "bootstrap Rao–Wu theo thiết kế mẫu (chọn lại n−1 đơn vị mẫu cấp một trong mỗi tầng)",
                   "linearisation": "tuyến tính hóa Taylor theo thiết kế mẫu",
                   "srs": "coi các phiếu như mẫu ngẫu nhiên đơn giản (chỉ để so sánh)"}[s.variance]
    modes = a.data["mode"].value_counts().to_dict() if "mode" in a.data.columns else {}
    title = label(a.survey.title)
    rule = ("trung bình cộng của tất cả các tiêu chí hài lòng (gộp)" if s.aggregation == "pooled"
            else "trung bình cộng của các trụ cột")
    parts = [f"<h1>Báo cáo kết quả khảo sát — đợt {html.escape(a.round_code)}</h1>",
             f"<p>{html.escape(title)} (phiên bản {html.escape(a.survey.version)})</p>",
             f'<div class="headline" id="headline" data-value="{value!r}">Chỉ số hài lòng chung: '
             f"<b>{vn_number(value)}%</b> (khoảng tin cậy 95%: {vn_number(float(lo.iloc[0]))}–"
             f"{vn_number(float(hi.iloc[0]))}%) — chỉ tiêu {vn_number(s.target, 0)}%</div>",
             f"<p>Hiệu ứng thiết kế (deff) của chỉ số chung: <b>{vn_number(deff)}</b>; cỡ mẫu hiệu dụng: "
             f"<b>{vn_number(n_eff, 0)}</b> phiếu (số phiếu mà một mẫu ngẫu nhiên đơn giản cần để đạt cùng độ "
             "chính xác).</p>",
             f"<p>Số phiếu được tính: <b>{vn_number(n)}</b>"
             + "".join(f"; {_MODE_VI.get(k, 'qua chat')}: {vn_number(int(v))}" for k, v in modes.items())
             + (f"; số phiếu loại theo cảnh báo chất lượng: {vn_number(len(a.all_data) - len(a.data))}"
                if len(a.all_data) != len(a.data) else "") + ".</p>",
             "<p class='note'>Phương pháp: chỉ số của mỗi tiêu chí = tỷ lệ % người trả lời “Hài lòng” hoặc "
             "“Rất hài lòng” trên số trả lời hợp lệ (không tính câu bỏ trống, “không áp dụng”); chỉ số thành "
             f"phần, trụ cột = trung bình các tiêu chí; chỉ số chung = {rule}. Quy tắc chính thức (QĐ 1001/QĐ-BNV, "
             "QĐ 864/QĐ-UBND) chưa được xác nhận từ văn bản gốc; quy tắc gộp tái tạo đúng chỉ số SIPAS quốc gia "
             "năm 2024 (83,94%). Khoảng tin cậy 95%: Wilson cho từng tiêu chí; chỉ số tổng hợp: "
             f"{variance_vi}, ước lượng ± t × sai số chuẩn với bậc tự do của thiết kế. Thiết kế mẫu: "
             f"{html.escape(a.design.describe('vi') if a.design else '—')}. Chỉ số chính thức không dùng trọng số. "
             "Đơn vị có khoảng tin cậy chồng lấn không phân biệt được thứ hạng.</p>"]
    parts.append("<h2>Chỉ số theo đơn vị</h2>")
    for lv, t in a.levels.items():
        tab = unit_level_table(a, lv)
        lvl = LEVEL_LABELS_VI.get(lv, lv)
        if 1 < len(t.keys) <= MAX_UNITS_IN_CHART:
            names = t.keys[f"{lv}_name"] if f"{lv}_name" in t.keys.columns else t.keys.iloc[:, 0]
            lo_, hi_ = t.intervals.get("overall", (pd.Series(np.nan, index=t.overall.index),) * 2)
            png = charts.index_dot_chart(list(names), t.overall.to_numpy(), lo_.to_numpy(), hi_.to_numpy(),
                                         s.target, f"Chỉ số hài lòng chung theo {lvl.lower()}")
            parts.append(_img(png, f"Chỉ số theo {lvl}"))
        parts.append(f"<h3>{html.escape(lvl)}</h3>" + _table(tab))
    comps = list(ov.components.columns)
    if comps:
        clo, chi = ov.intervals.get("component", (None, None))
        png = charts.bar_chart([component_name(a.survey, c) for c in comps], ov.components.iloc[0].to_numpy(),
                               clo.iloc[0].to_numpy() if clo is not None else None,
                               chi.iloc[0].to_numpy() if chi is not None else None, s.target,
                               "Chỉ số theo thành phần")
        parts += ["<h2>Chỉ số theo thành phần và tiêu chí</h2>", _img(png, "Thành phần")]
    items = ov.items.iloc[0].dropna().sort_values()
    if len(items):
        weakest = items.head(5)
        ilo, ihi = ov.intervals.get("item", (None, None))
        names = {it.step_id: it.name for it in a.items}
        png = charts.index_dot_chart([names[k] for k in weakest.index], weakest.to_numpy(),
                                     ilo.iloc[0][weakest.index].to_numpy() if ilo is not None else [np.nan] * len(weakest),
                                     ihi.iloc[0][weakest.index].to_numpy() if ihi is not None else [np.nan] * len(weakest),
                                     s.target, "Năm tiêu chí có chỉ số thấp nhất")
        parts.append("<h3>Năm tiêu chí thấp nhất</h3>" + _img(png, "Năm tiêu chí thấp nhất"))
    parts.append(_table(components_table(a)))
    if a.groups:
        parts += ["<h2>Chỉ số theo nhóm người trả lời</h2>", _table(groups_table(a))]
    if a.sensitivity is not None:
        parts += ["<h2>Độ nhạy theo trọng số (tham khảo, không phải chỉ số chính thức)</h2>",
                  "<p class='note'>Chỉ số chính thức không dùng trọng số. Để xem lựa chọn này ảnh hưởng bao "
                  "nhiêu, bảng dưới đặt bên cạnh: chỉ số có trọng số thiết kế (nghịch đảo xác suất được chọn, "
                  "tính từ số đơn vị trong khung mẫu) và, nếu có tệp cơ cấu dân số, chỉ số hiệu chỉnh theo cơ "
                  "cấu tuổi × giới tính × thành thị/nông thôn (raking). Hai cột này chỉ để tham khảo.</p>",
                  _table(sensitivity_table(a))]
    parts += ["<h2>Nhận định của người dân</h2>", _table(shares_table(a.perceptions)),
              "<h2>Nhu cầu, mong đợi</h2>", _table(shares_table(a.expectations)),
              "<h2>Tỷ lệ phản hồi</h2>", _table(rates_table(a)),
              "<h2>Phương pháp ước lượng</h2>", _table(method_table(a)),
              "<h2>Chất lượng dữ liệu</h2>",
              "<p class='note'>Cảnh báo là tín hiệu để xem xét, không phải kết luận; bảng dưới so sánh chỉ số "
              "khi tính tất cả phiếu và khi bỏ các phiếu có cảnh báo.</p>", _table(quality_table(a)),
              f"<p class='note'>Lập lúc {datetime.now():%H:%M %d/%m/%Y} bằng hailong.</p>"]
    return (f"<!DOCTYPE html><html lang='vi'><head><meta charset='utf-8'><title>Báo cáo {html.escape(a.round_code)}"
            f"</title><style>{CSS}</style></head><body>{''.join(parts)}</body></html>")


def write_report(a: Analysis, out_dir: Path) -> Path:
    """Write ``out_dir/index.html``; returns its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    p = out_dir / "index.html"
    p.write_text(build_html(a), encoding="utf-8")
    return p
