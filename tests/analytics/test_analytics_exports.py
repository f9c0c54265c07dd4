"""Export round-trip: what export writes, read back, equals the computed indices; no personal data."""

from __future__ import annotations

import re

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest

from analytics.analysis import analyse
from analytics.exports import export, tables
from analytics.report import build_html, write_report
from analytics.settings import AnalyticsSettings
from demo.synthetic import small_survey, synthetic_wide

PERSONAL = ("name", "phone", "chat_id", "telegram_id", "zalo_id", "address", "token", "card_code")


@pytest.fixture(scope="module")
def analysis():
    s = small_survey()
    df = synthetic_wide(s, 1500, seed=3)
    # personal data that must never leave, even if it slipped into the wide table
    df["name"] = "Nguyễn Văn A"
    df["phone"] = "0912345678"
    df["chat_id"] = "123456"
    df["comment"] = "gọi tôi số 0912345678"
    units = pd.concat([df[["district_id", "district_name"]].drop_duplicates(),
                       pd.DataFrame({"district_id": ["D09"], "district_name": ["Huyện Trống"]})])
    return analyse(df, s, "R1", AnalyticsSettings(bootstrap_b=100), units=units)


def test_xlsx_round_trip(analysis, tmp_path):
    p = export(analysis, "xlsx", tmp_path / "out.xlsx")[0]
    wb = openpyxl.load_workbook(p, read_only=True)
    assert "Chỉ số - Huyện" in wb.sheetnames and "Dữ liệu thô" in wb.sheetnames
    assert {"Thành phần, tiêu chí", "Nhận định", "Mong đợi", "Tỷ lệ phản hồi", "Từ điển biến"} <= set(wb.sheetnames)
    back = pd.read_excel(p, sheet_name="Chỉ số - Huyện")
    t = analysis.levels["district"]
    got = dict(zip(back["Mã huyện"], back["Chỉ số (%)"]))
    for key, value in zip(t.keys["district_id"], t.overall):
        if np.isnan(value):
            assert np.isnan(got[key])          # the empty district is there, with no value
        else:
            assert got[key] == pytest.approx(value, abs=1e-9)
    assert "D09" in got
    comp = pd.read_excel(p, sheet_name="Thành phần, tiêu chí").set_index("Mã")
    ov = analysis.overall
    assert comp.loc["overall", "Chỉ số (%)"] == pytest.approx(ov.overall.iloc[0])
    for c in ov.components.columns:
        assert comp.loc[c, "Chỉ số (%)"] == pytest.approx(ov.components[c].iloc[0])
    for it in analysis.items:
        assert comp.loc[it.step_id, "Chỉ số (%)"] == pytest.approx(ov.items[it.step_id].iloc[0])
    raw = pd.read_excel(p, sheet_name="Dữ liệu thô")
    assert len(raw) == len(analysis.data)
    assert not any(c in raw.columns for c in PERSONAL) and "comment" not in raw.columns
    assert not raw.astype(str).apply(lambda s: s.str.contains("0912345678")).any().any()


def test_csv_has_bom_and_round_trips(analysis, tmp_path):
    paths = export(analysis, "csv", tmp_path / "csv")
    p = next(x for x in paths if x.name == "chi_so_huyen.csv")
    assert p.read_bytes().startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(p, encoding="utf-8-sig")
    assert "Tên huyện" in back.columns
    t = analysis.levels["district"]
    got = dict(zip(back["Mã huyện"], back["Chỉ số (%)"]))
    for key, value in zip(t.keys["district_id"], t.overall):
        assert (np.isnan(value) and np.isnan(got[key])) or got[key] == pytest.approx(value)
    raw = pd.read_csv(next(x for x in paths if x.name == "du_lieu_tho.csv"), encoding="utf-8-sig")
    assert {"q2", "q2_1", "q2_2", "q2_3"} <= set(raw.columns)
    assert not any(c in raw.columns for c in PERSONAL)


def test_parquet_round_trip(analysis, tmp_path):
    paths = export(analysis, "parquet", tmp_path / "pq")
    back = pd.read_parquet(next(x for x in paths if x.name == "thanh_phan_tieu_chi.parquet")).set_index("Mã")
    assert back.loc["overall", "Chỉ số (%)"] == pytest.approx(analysis.overall.overall.iloc[0])


def test_sav_labels_and_multi_columns(analysis, tmp_path):
    # full detail keeps the analysis's row order (the public export reorders its rows)
    p = export(analysis, "sav", tmp_path / "out.sav", detail="full")[0]
    df, meta = pyreadstat.read_sav(str(p))
    labels = meta.column_names_to_labels
    assert labels["p1"] == "Chính sách — Thông tin đa dạng"
    assert meta.variable_value_labels["p1"][4.0] == "Hài lòng"
    assert meta.variable_value_labels["q2_1"] == {0.0: "Không chọn", 1.0: "Có chọn"}
    # the multi-choice summary and its 0/1 columns agree
    src = analysis.data.reset_index(drop=True)
    picked = src["q2"].map(lambda v: 1.0 if isinstance(v, list) and 2 in v else (0.0 if isinstance(v, list) else np.nan))
    np.testing.assert_array_equal(df["q2_2"].to_numpy(), picked.to_numpy())
    assert not any(c in df.columns for c in PERSONAL)
    # recompute an item index from the SPSS file: equals the analysis
    p1 = df["p1"]
    valid = p1.isin([1, 2, 3, 4, 5])
    assert 100 * p1[valid].isin([4, 5]).mean() == pytest.approx(analysis.overall.items["p1"].iloc[0])


def test_unsupported_format(analysis, tmp_path):
    with pytest.raises(ValueError, match="unsupported format"):
        export(analysis, "pdf", tmp_path / "x.pdf")


def test_report_headline_equals_index(analysis, tmp_path):
    p = write_report(analysis, tmp_path / "rep")
    text = p.read_text(encoding="utf-8")
    assert "Chỉ số hài lòng chung" in text and "data:image/png;base64," in text
    m = re.search(r'id="headline" data-value="([^"]+)"', text)
    assert float(m.group(1)) == pytest.approx(analysis.overall.overall.iloc[0])
    shown = f"{analysis.overall.overall.iloc[0]:.2f}".replace(".", ",")
    assert shown in text
    assert "Huyện Trống" in text                   # a unit with no responses is shown
    assert "0912345678" not in text and "Nguyễn Văn A" not in text
    assert build_html(analysis).count("<img") >= 4  # units (3 levels), components, weakest
    assert set(tables(analysis)) >= {"Chỉ số - Tỉnh", "Chỉ số - Xã"}
