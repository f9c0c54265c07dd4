"""Exports that do not re-identify (issue 15, item 5): age bands, dates, unlinkable record
numbers, k-anonymity over village × age band × sex × ethnicity with what was done reported;
the full-detail export only for the analyst role, with a warning; every export audited."""

from __future__ import annotations

import sqlite3

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from analytics.analysis import analyse
from analytics.disclosure import SUPPRESSED, public_raw
from analytics.exports import SHEETS, anonymised_raw, export, tables
from analytics.settings import AnalyticsSettings
from demo.synthetic import populate_db, small_survey, synthetic_wide
from hailong.cli import app
from survey_defs.loader import get_survey

QI = ["village_id", "age_band", "sex", "ethnicity"]


@pytest.fixture(scope="module")
def analysis():
    s = small_survey()
    df = synthetic_wide(s, 600, seed=11)
    return analyse(df, s, "R1", AnalyticsSettings(bootstrap_b=50))


def _raw(n: int = 400, seed: int = 5) -> pd.DataFrame:
    """A raw table shaped like anonymised_raw's, with skewed small groups."""
    rng = np.random.default_rng(seed)
    villages = rng.choice([f"V{i}" for i in range(12)], n, p=np.r_[[0.2] * 3, [0.3 / 9] * 9 + [0.1 / 9] * 0][:12]
                          / np.r_[[0.2] * 3, [0.3 / 9] * 9].sum())
    return pd.DataFrame({
        "response_id": rng.permutation(n) + 1000,
        "round": "R1",
        "province_id": "P", "province_name": "Lai Châu",
        "commune_id": [f"C{int(v[1:]) // 4}" for v in villages],
        "commune_name": [f"Xã {int(v[1:]) // 4}" for v in villages],
        "village_id": villages, "village_name": [f"Bản {v}" for v in villages],
        "sex": rng.choice(["Nam", "Nữ"], n), "age_band": rng.choice(["18–24", "25–34", "35–49", "50–60", ">60"], n),
        "ethnicity": rng.choice(["Kinh", "Thái", "Mông", "Dao"], n, p=[0.4, 0.3, 0.25, 0.05]),
        "q_age": rng.integers(18, 90, n).astype(float),
        "q_sex": rng.integers(1, 3, n).astype(float),
        "submitted_at": pd.to_datetime(1.75e9 + rng.integers(0, 10 * 86400, n), unit="s", utc=True),
        "p1": rng.integers(1, 6, n).astype(float),
    })


@pytest.mark.parametrize("k", [2, 3, 5, 10])
def test_every_published_combination_is_shared_by_k_rows(k):
    raw = _raw()
    pub, rep = public_raw(raw, k)
    sizes = pub.groupby(QI, dropna=False).size()
    assert sizes.min() >= k and rep.smallest_group >= k
    assert rep.rows_in == 400 and rep.rows_out == len(pub) == 400      # coarsened, not dropped
    assert rep.actions, "some groups were under k and the report says what was done"
    assert sum(n for _, n in rep.actions) > 0
    # the kept answers are untouched, whatever was coarsened
    assert sorted(pub["p1"]) == sorted(raw["p1"])


def test_no_exact_age_no_timestamp_no_linkable_id():
    raw = _raw()
    pub, _ = public_raw(raw, 5)
    assert not {"response_id", "q_age", "q_sex", "submitted_at"} & set(pub.columns)
    assert list(pub["record"]) == list(range(1, len(pub) + 1))
    assert pub["submitted_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    # the output does not depend on the response ids: renumbered responses give the same table
    other = raw.copy()
    other["response_id"] = np.arange(len(raw))[::-1]
    pd.testing.assert_frame_equal(public_raw(other, 5)[0], pub)
    # nor on the input order
    pd.testing.assert_frame_equal(public_raw(raw.sample(frac=1, random_state=3), 5)[0], pub)


def test_a_lonely_respondent_is_coarsened_and_the_report_says_so():
    raw = _raw()
    lonely = raw.iloc[[0]].copy()
    lonely[["village_id", "village_name", "commune_id", "commune_name"]] = ["V99", "Bản Xa", "C99", "Xã Xa"]
    lonely["ethnicity"] = "Hà Nhì"
    pub, rep = public_raw(pd.concat([raw, lonely], ignore_index=True), 5)
    assert "V99" not in set(pub["village_id"]) and "Hà Nhì" not in set(pub["ethnicity"])
    assert (pub[QI] == SUPPRESSED).any(axis=1).sum() >= 1
    text = rep.table().to_string()
    assert "k" in text and "village" in text


def test_fewer_than_k_rows_publishes_nothing():
    pub, rep = public_raw(_raw(4), 5)
    assert len(pub) == 0 and rep.rows_out == 0 and "none published" in rep.actions[0][0]
    with pytest.raises(ValueError):
        public_raw(_raw(), 0)


def test_hostile_values_do_not_break_the_check():
    raw = _raw(50)
    raw.loc[0, "village_id"] = None
    raw.loc[1, "sex"] = np.nan
    raw.loc[2, "ethnicity"] = "=HYPERLINK(\"http://x\")"
    raw.loc[3, "village_name"] = "x" * 10_000
    pub, rep = public_raw(raw, 3)
    assert pub.groupby(QI, dropna=False).size().min() >= 3


def test_workbook_has_the_privacy_sheet_and_public_raw(analysis, tmp_path):
    tabs = tables(analysis)
    assert SHEETS["privacy"] in tabs and SHEETS["warning"] not in tabs
    raw = tabs[SHEETS["raw"]]
    assert "response_id" not in raw.columns and "record" in raw.columns
    p = export(analysis, "xlsx", tmp_path / "pub.xlsx", k=3)[0]
    wb = openpyxl.load_workbook(p, read_only=True)
    assert SHEETS["privacy"] in wb.sheetnames
    full = tables(analysis, "full")
    assert SHEETS["warning"] in full and "response_id" in full[SHEETS["raw"]].columns
    assert len(full[SHEETS["raw"]]) == len(anonymised_raw(analysis.data, analysis.survey))
    with pytest.raises(ValueError):
        export(analysis, "csv", tmp_path / "x", detail="everything")


def test_cli_full_detail_needs_the_analyst_role_and_every_export_is_audited(tmp_path):
    db = str(tmp_path / "e.db")
    populate_db(db, get_survey("sipas-households"), 40, seed=2, round_code="R9")
    runner = CliRunner()
    base = ["export", "--round", "R9", "--db", db, "--bootstrap", "50", "--format", "csv"]
    r = runner.invoke(app, [*base, "--out", str(tmp_path / "pub"), "--k", "3", "--actor", "an"])
    assert r.exit_code == 0, r.output
    assert "k = 3" in r.output
    r = runner.invoke(app, [*base, "--out", str(tmp_path / "full"), "--detail", "full"])
    assert r.exit_code == 2 and "analyst" in r.output
    r = runner.invoke(app, [*base, "--out", str(tmp_path / "full"), "--detail", "full", "--role", "analyst"])
    assert r.exit_code == 0, r.output
    assert "WARNING" in r.output or "WARNING" in (r.stderr if r.stderr_bytes is not None else "")
    for bad in (["--k", "0"], ["--k", "-5"], ["--detail", "=cmd"], ["--role", "root"]):
        r = runner.invoke(app, [*base, "--out", str(tmp_path / "bad"), *bad])
        assert r.exit_code == 2, (bad, r.output)
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT actor, details FROM audit_log WHERE action = 'export' ORDER BY id").fetchall()
    finally:
        conn.close()
    assert len(rows) == 2 and rows[0][0] == "an"
    assert '"detail":"full"' in rows[1][1] and '"role":"analyst"' in rows[1][1]
