"""The report says what an analyst would send: summary first, verdict colours, readable charts,
Vietnamese labels, sorted narrow tables, duplicate village names told apart, and a Word version."""

from __future__ import annotations

import re

import docx
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_hex
from typer.testing import CliRunner

from analytics import report_charts as rc
from analytics.numbers import vn_int, vn_number, vn_pct, vn_points, vn_range
from analytics.report import build_html, render_html, write_report
from analytics.report_content import build_report
from analytics.report_model import Chart, Headline, Table
from support.report import report_analysis

RAW_NAMES = ("not_invited", "complete", "status_vi", "indistinguishable_from", "rank_range", "straightline",
             "not_applicable_answered", "response_rate", "commune_name", "village_id", "nan", "NaN", "None")


@pytest.fixture(scope="module")
def analysis():
    return report_analysis()


@pytest.fixture(scope="module")
def report(analysis):
    return build_report(analysis)


@pytest.fixture(scope="module")
def html_text(report):
    return render_html(report)


def _visible(html: str) -> str:
    text = re.sub(r'src="data:image/png;base64,[^"]+"', "", html)
    text = re.sub(r"<style>.*?</style>", "", text, flags=re.S)
    return re.sub(r"<[^>]+>", " ", text)


def test_numbers_have_one_vietnamese_format() -> None:
    assert vn_number(83.9412) == "83,94" and vn_number(1234.5, 1) == "1.234,5"
    assert vn_int(138.0) == "138" and vn_int(np.int64(12345)) == "12.345"
    assert vn_pct(80.0) == "80,00%" and vn_range(78.88, 86.36) == "78,88–86,36"
    assert vn_points(1.2) == "+1,20" and vn_points(-0.35) == "\u22120,35" and vn_points(0.0) == "0,00"
    assert vn_number(float("nan")) == "—" and vn_int(None) == "—" and vn_range(1.0, float("nan")) == "—"


def test_summary_comes_first_with_headline_target_change_units_and_rates(analysis, report) -> None:
    first = report.sections[0]
    assert first.anchor == "tom-tat"
    h = next(b for b in first.blocks if isinstance(b, Headline))
    ov = analysis.overall
    assert h.value == pytest.approx(float(ov.overall.iloc[0]))
    lo, hi = ov.intervals["overall"]
    assert vn_range(lo.iloc[0], hi.iloc[0]) in h.interval
    assert "85%" in h.verdict_text and h.verdict in ("met", "not_met", "unclear")
    prev = float(analysis.previous_overall.overall.iloc[0])
    assert "LC2024" in h.change_text and vn_points(h.value - prev) in h.change_text
    text = _visible(render_html(report))
    start, end = text.index("Tóm tắt") if "Tóm tắt" in text else 0, text.index("1. Chỉ số theo trụ cột")
    summary = text[start:end]
    for must in ("Tỷ lệ trả lời (RR1)", "Tỷ lệ hợp tác (COOP1)", "Cao nhất", "Thấp nhất", "Trụ cột"):
        assert must in summary, must
    # the best and worst communes named are the real extremes
    t = analysis.unit_table("commune").dropna(subset=["value"]).sort_values("value")
    assert str(t["commune_name"].iloc[0]) in summary and str(t["commune_name"].iloc[-1]) in summary


def test_no_raw_column_names_and_no_dot_decimals(html_text) -> None:
    text = _visible(html_text)
    for raw in RAW_NAMES:
        assert not re.search(rf"(?<![\w-]){re.escape(raw)}(?![\w-])", text), raw
    assert "Xã Không Phiếu" in text and "Không có dữ liệu" in text       # a unit with no response is shown


def test_duplicate_village_names_carry_their_commune(report, html_text) -> None:
    text = _visible(html_text)
    assert "Bản Nậm 1 (Xã 1.1)" in text and "Bản Nậm 1 (Xã 2.3)" in text
    t = next(b for s in report.sections if s.anchor == "xep-hang" for b in s.blocks
             if isinstance(b, Table) and "Thôn, bản" in b.columns)
    names = [r[1] for r in t.rows]
    assert len(names) == len(set(names)) == 19                       # 18 villages + the empty one
    assert all(re.fullmatch(r"Bản Nậm \d \(Xã \d\.\d\)", n) for n in names if n.startswith("Bản Nậm"))


NUMBER_CELL = re.compile(r"[+\u2212]?\d{1,3}(\.\d{3})*(,\d{1,2})?\*?|\d{1,3}(,\d{2})?–\d{1,3}(,\d{2})?|"
                         r"\d+ \(\d+–\d+\)|—|")


def test_tables_are_narrow_sorted_and_numbers_vietnamese(report) -> None:
    for t in report.tables():
        assert len(t.columns) <= 8, t.columns
        assert all(len(r) == len(t.columns) for r in t.rows)
        assert len(t.rows) <= 200
        for r in t.rows:                                  # right-aligned cells are numbers, one format
            for v, a in zip(r, t.align):
                if a == "r":
                    assert NUMBER_CELL.fullmatch(v), (t.columns, v)
    ranks = [b for s in report.sections if s.anchor == "xep-hang" for b in s.blocks if isinstance(b, Table)]
    assert ranks, "no ranking table"
    for t in ranks:
        j = t.columns.index("Chỉ số (%)")
        vals = [float(r[j].replace(".", "").replace(",", ".")) for r in t.rows if r[j] != "—"]
        assert vals == sorted(vals, reverse=True)
        assert "Thay đổi (điểm)" in t.columns                          # previous round given


def test_every_chart_has_title_axis_labels_and_legend(report) -> None:
    charts = report.charts()
    keys = {c.key for c in charts}
    assert {"composites", "rank-commune", "rank-village", "groups", "rates"} <= keys
    assert any(k.startswith("component-") for k in keys) and any(k.startswith("perception-") for k in keys)
    assert any(k.startswith("expectation-") for k in keys)
    for c in charts:
        fig = c.draw()
        try:
            ax = fig.axes[0]
            assert ax.get_title(loc="left") or ax.get_title(), c.key
            assert ax.get_xlabel() and ax.get_ylabel(), c.key
            leg = ax.get_legend()
            assert leg is not None and [t.get_text() for t in leg.get_texts() if t.get_text()], c.key
            w, h = fig.get_size_inches()
            assert w <= 6.8, (c.key, w)                                  # A4 text width
        finally:
            plt.close(fig)


def test_ranking_colours_follow_the_verdict_not_the_point() -> None:
    # two units with the same point estimate above the target: one certain, one not
    fig = rc.ranking_chart(["A", "B", "C"], [88.0, 88.0, 70.0], [86.0, 80.0, 60.0], [90.0, 95.0, 80.0],
                           ["met", "unclear", "not_met"], 85.0, "t")
    try:
        ax = fig.axes[0]
        markers = {round(ln.get_ydata()[0]): to_hex(ln.get_color()) for ln in ax.lines
                   if ln.get_marker() not in (None, "None", "") and len(ln.get_xdata()) == 1}
        labels = [t.get_text() for t in ax.get_yticklabels()]
        by_name = {labels[y]: col for y, col in markers.items()}
        assert by_name["A"] == rc.VERDICT_COLOURS["met"]
        assert by_name["B"] == rc.VERDICT_COLOURS["unclear"]
        assert by_name["C"] == rc.VERDICT_COLOURS["not_met"]
        assert "Chỉ tiêu 85%" in [t.get_text() for t in ax.get_legend().get_texts()]
        assert ax.get_xlim()[0] >= 50                                     # not squashed on 0–100
    finally:
        plt.close(fig)


def test_word_report_has_headings_charts_and_tables(report, html_text, tmp_path) -> None:
    from analytics.report_docx import write_docx

    p = write_docx(report, tmp_path / "rep" / "bao-cao.docx")          # charts already drawn for the HTML
    assert p.suffix == ".docx" and p.stat().st_size > 50_000
    d = docx.Document(str(p))
    heads = [par.text for par in d.paragraphs if par.style.name.startswith("Heading")]
    for s in report.sections:
        assert s.title in heads, s.title
    assert any("Xếp hạng theo xã" == h for h in heads)
    assert len(d.inline_shapes) == len(report.charts())
    assert len(d.tables) >= len(report.tables())
    body = "\n".join(par.text for par in d.paragraphs)
    assert f"Chỉ số hài lòng chung: {vn_pct(report.headline_value)}" in body
    sec = d.sections[0]
    assert abs(sec.page_width.cm - 21.0) < 0.1 and abs(sec.page_height.cm - 29.7) < 0.1
    cells = {c.text for t in d.tables for r in t.rows for c in r.cells}
    assert "Chưa khẳng định được" in cells or "Đạt" in cells or "Chưa đạt" in cells


def test_unknown_report_format_is_refused(analysis, tmp_path) -> None:
    with pytest.raises(ValueError, match="unsupported report format"):
        write_report(analysis, tmp_path, fmt="pdf")


def test_report_cli_writes_docx_and_refuses_junk_format(tmp_path) -> None:
    from demo.synthetic import populate_db
    from hailong.cli import app
    from survey_defs.loader import get_survey

    db = str(tmp_path / "h.db")
    populate_db(db, get_survey("sipas-households"), 60, seed=2)
    runner = CliRunner()
    r = runner.invoke(app, ["report", "--round", "LC-2025", "--db", db, "--out", str(tmp_path / "rep"),
                            "--format", "docx", "--bootstrap", "60"])
    assert r.exit_code == 0, r.output
    assert list((tmp_path / "rep").glob("*.docx"))
    for junk in ("pdf", "x" * 500, "docx; rm -rf /", ""):
        r = runner.invoke(app, ["report", "--round", "LC-2025", "--db", db, "--out", str(tmp_path / "r2"),
                                "--format", junk])
        assert r.exit_code == 2, (junk, r.output)
        assert "Lỗi / Error" in r.output and "html" in r.output and "docx" in r.output
        assert "Traceback" not in r.output


def test_charts_keep_their_png(report) -> None:
    c = next(b for b in report.charts() if isinstance(b, Chart))
    assert c.png() is c.png() and c.png().startswith(b"\x89PNG")
