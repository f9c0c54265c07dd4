"""No text reaches a spreadsheet as a live formula (issue 12, item 5): the rule, and every CSV and
XLSX writer of hailong read back with hostile frame, contact, unit, note and survey text.

Read-back checks are independent of ``survey_defs.spreadsheet_safety``: an XLSX cell must not be a
formula (openpyxl ``data_type != "f"``) and a hostile text must come back as the same text, marked
quote-prefix; a CSV cell must not start with ``= + - @ TAB CR`` unless it is a plain number, and a
hostile text must come back with OWASP's leading apostrophe.
"""

from __future__ import annotations

import asyncio
import csv
import re
import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from hailong.cli import app
from survey_defs.spreadsheet_safety import (XLSX_ENGINE_KWARGS, SafeDictWriter, SafeWorkbook, is_formula_like,
                                         neutralise, neutralised_frame, safe_csv_writer, write_frame_sheet)
from storage.db import Database
from storage.respondents import ContactIn, RespondentIn, insert_respondents, list_respondents, set_status
from storage.rounds import create_round, open_round
from storage.units import UnitIn, insert_units
from survey_defs.loader import get_survey

DATA = Path(__file__).resolve().parents[2] / "sampling" / "data"
CMD = "=cmd|' /C calc'!A0"
PAYLOADS = [CMD, "+SUM(1,1)", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)", "\t=1+1", "\r=HYPERLINK(\"http://x\")",
            "-5 điểm", "=1+1"]
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
runner = CliRunner()


def _dangerous(text: str) -> bool:
    return text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.fullmatch(text)


def assert_csv_safe(path: Path, expected: set[str]) -> None:
    """No cell of ``path`` can run as a formula; each of ``expected`` is there, apostrophe-prefixed."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert cells, path
    live = [c for c in cells if _dangerous(c)]
    assert not live, f"{path.name}: formula-like cells {live[:5]}"
    for text in expected:
        assert "'" + text in cells, f"{path.name}: {text!r} not written as '{text!r}"


def assert_xlsx_safe(path: Path, expected: set[str]) -> None:
    """No cell of any sheet is a formula; each of ``expected`` is a quote-prefixed text cell."""
    wb = openpyxl.load_workbook(path)
    found: set[str] = set()
    n = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                n += c.value is not None
                assert c.data_type != "f", f"{path.name}!{ws.title}!{c.coordinate} is a formula: {c.value!r}"
                if isinstance(c.value, str) and _dangerous(c.value):
                    assert c.data_type == "s" and c.quotePrefix, f"{ws.title}!{c.coordinate} {c.value!r}"
                    found.add(c.value)
    assert n, path
    assert expected <= found, f"{path.name}: missing {expected - found}"


# ------------------------------------------------------------------ the rule


@pytest.mark.parametrize("text", PAYLOADS + ["+84 91 234 5678", "-", "=", "@", "- không có nhà",
                                             "\t", "\r\n=1"])
def test_formula_like_text_is_neutralised(text: str) -> None:
    assert is_formula_like(text)
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("value", [-5, -0.25, 3, 0.0, Decimal("-1.5"), np.int64(-3), np.float64(-2.5), True,
                                   None, "", "Nguyễn Văn A", "a=b", "-5", "+3.25", "+84912345678", "-.5",
                                   "1e-3", "-1E+5", "'=already"])
def test_numbers_and_plain_text_stay_as_they_are(value: object) -> None:
    assert not is_formula_like(value)
    assert neutralise(value) is value


def test_a_plain_number_followed_by_a_newline_is_still_text() -> None:
    assert is_formula_like("-5\n") and is_formula_like("-5\n=1+1")


def test_csv_writers_neutralise_rows_headers_and_dicts(tmp_path: Path) -> None:
    p = tmp_path / "w.csv"
    with p.open("w", encoding="utf-8-sig", newline="") as fh:
        w = safe_csv_writer(fh)
        w.writerow(["=h", "name"])
        w.writerows([[CMD, -5], ["-5 điểm", "-5"]])
    assert_csv_safe(p, {"=h", CMD, "-5 điểm"})
    rows = list(csv.reader(p.open(encoding="utf-8-sig", newline="")))
    assert rows[1][1] == "-5" and rows[2][1] == "-5"          # a number is written as a number
    q = tmp_path / "d.csv"
    with q.open("w", encoding="utf-8-sig", newline="") as fh:
        d = SafeDictWriter(fh, fieldnames=["a", "@b"])
        d.writeheader()
        d.writerow({"a": "+SUM(1,1)", "@b": 1})
        d.writerows([{"a": "@x", "@b": -2.5}])
    assert_csv_safe(q, {"@b", "+SUM(1,1)", "@x"})
    assert list(csv.reader(q.open(encoding="utf-8-sig")))[2][1] == "-2.5"


def test_frames_keep_numbers_as_numbers(tmp_path: Path) -> None:
    df = pd.DataFrame({"name": [CMD, "-5 điểm", "ok"], "score": [-5, 2, -1], "x": [-0.5, 1.5, np.nan],
                       "mixed": [-3, "-3", "@a"], "cat": pd.Categorical(["=a", "b", "=a"])})
    out = neutralised_frame(df)
    assert out["score"].tolist() == [-5, 2, -1] and out["score"].dtype == df["score"].dtype
    assert out["mixed"].tolist() == [-3, "-3", "'@a"] and out["cat"].tolist() == ["'=a", "b", "'=a"]
    assert df["name"].tolist()[0] == CMD                       # the input is not changed
    path = tmp_path / "f.xlsx"
    with pd.ExcelWriter(path, engine="xlsxwriter", engine_kwargs=XLSX_ENGINE_KWARGS) as xw:
        write_frame_sheet(xw, df, "S")
    assert_xlsx_safe(path, {CMD, "-5 điểm", "@a", "=a"})
    ws = openpyxl.load_workbook(path)["S"]
    assert [ws.cell(r, 2).value for r in (2, 3, 4)] == [-5, 2, -1] and ws.cell(2, 2).data_type == "n"
    assert ws.cell(2, 3).value == -0.5 and ws.cell(2, 4).value == -3 and ws.cell(3, 4).value == "-3"


def test_an_excel_writer_without_the_safe_options_is_refused(tmp_path: Path) -> None:
    with pd.ExcelWriter(tmp_path / "x.xlsx", engine="xlsxwriter") as xw:
        with pytest.raises(ValueError):
            write_frame_sheet(xw, pd.DataFrame({"a": [CMD]}), "S")


def test_safe_workbook_writes_text_not_formulas(tmp_path: Path) -> None:
    path = tmp_path / "b.xlsx"
    wb = SafeWorkbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("S")
    bold = wb.add_format({"bold": True})
    wb.write_row(ws, 0, 0, ["h", "=h"], bold)
    wb.write_row(ws, 1, 0, [CMD, -5, "-5", 2.5, "", None])
    wb.close()
    assert_xlsx_safe(path, {CMD, "=h"})
    s = openpyxl.load_workbook(path)["S"]
    assert s["B1"].font.b and s["B1"].quotePrefix                # the row's format is kept
    assert s["B2"].value == -5 and s["B2"].data_type == "n" and s["C2"].value == "-5" and s["D2"].value == 2.5
    plain = tmp_path / "p.xlsx"
    wb = SafeWorkbook(str(plain))
    wb.add_worksheet("S").write(0, 0, "=1+1")                     # even a plain write() stays text
    wb.close()
    cell = openpyxl.load_workbook(plain)["S"]["A1"]
    assert cell.data_type == "s" and cell.value == "=1+1"


# ------------------------------------------------------------------ sample draw --out


@pytest.fixture(scope="module")
def hostile_frame(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Lai Châu 2025 demo frame with household heads named like formulas."""
    d = tmp_path_factory.mktemp("frame") / "laichau-2025"
    shutil.copytree(DATA / "laichau-2025", d)
    df = pd.read_csv(d / "households.csv", dtype=str, keep_default_na=False)
    df["head_name"] = [PAYLOADS[i % len(PAYLOADS)] for i in range(len(df))]
    df.to_csv(d / "households.csv", index=False)
    return d


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_sample_draw_out_has_no_formula(hostile_frame: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"sel{suffix}"
    r = runner.invoke(app, ["sample", "draw", "--plan", "laichau-2025", "--frame", str(hostile_frame),
                            "--out", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    # frames store names trimmed, so "\t=1+1" is the name "=1+1"
    expected = {CMD, "+SUM(1,1)", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)", "-5 điểm", "=1+1"}
    (assert_csv_safe if suffix == ".csv" else assert_xlsx_safe)(out, expected)


# ------------------------------------------------------------------ invites make, recheck export


def _seed_round(path: Path) -> None:
    """A round whose units, household refs and contacts are all formula-like, half completed."""
    async def go() -> None:
        db = await Database.open(path)
        try:
            ids = await insert_units(db, "demo", [UnitIn("commune", "X01", "@SUM(1+1)"),
                                                  UnitIn("village", "V01", CMD, parent_code="X01", quota=20)])
            rnd = await create_round(db, code="LC2025", survey=get_survey("sipas-households"), recheck_share=1.0)
            await open_round(db, rnd.id)
            items = [RespondentIn(ids["V01"], "hộ", household_ref=PAYLOADS[i % len(PAYLOADS)],
                                  attrs={"sub_hamlet": "-Xóm 1"},
                                  contact=ContactIn(name=PAYLOADS[(i + 1) % len(PAYLOADS)], phone="+84 91 234 5678",
                                                    address=PAYLOADS[(i + 2) % len(PAYLOADS)],
                                                    telegram_id=str(1000 + i)))
                     for i in range(16)]
            await insert_respondents(db, rnd.id, items, actor="test")
            for r in (await list_respondents(db, rnd.id))[:8]:
                await set_status(db, r.id, "completed", actor="test")
        finally:
            await db.close()
    asyncio.run(go())


def _invoke(*args: str) -> None:
    r = runner.invoke(app, list(args), catch_exceptions=False)
    assert r.exit_code == 0, r.output


def test_invite_list_has_no_formula(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    _seed_round(Path(db))
    _invoke("invites", "make", "--round", "LC2025", "--out", str(tmp_path / "invites.csv"),
            "--bot-username", "hailong_test_bot", "--db", db)
    assert_csv_safe(tmp_path / "invites.csv", {CMD, "@SUM(1+1)", "-Xóm 1", *PAYLOADS})


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_recheck_export_has_no_formula(tmp_path: Path, suffix: str) -> None:
    db = str(tmp_path / "r.db")
    _seed_round(Path(db))
    _invoke("recheck", "draw", "--round", "LC2025", "--db", db)
    first = asyncio.run(_first_completed(Path(db)))
    _invoke("recheck", "record", "--round", "LC2025", "--respondent", str(first), "--outcome", "not_confirmed",
            "--note", "=HYPERLINK(\"http://evil\",\"bấm\")", "--db", db)
    out = tmp_path / f"recheck{suffix}"
    _invoke("recheck", "export", "--round", "LC2025", "--out", str(out), "--db", db)
    expected = {CMD, "@SUM(1+1)", "-Xóm 1", "+84 91 234 5678", "=HYPERLINK(\"http://evil\",\"bấm\")"}
    (assert_csv_safe if suffix == ".csv" else assert_xlsx_safe)(out, expected)
    if suffix == ".csv":
        header = next(csv.reader(out.open(encoding="utf-8-sig")))
        assert header[0] == "Mã người trả lời / respondent" and "Điện thoại / phone" in header


async def _first_completed(path: Path) -> int:
    db = await Database.open(path)
    try:
        rnd = await db.fetchval("SELECT id FROM rounds WHERE code = 'LC2025'")
        return (await list_respondents(db, rnd, statuses=("completed",)))[0].id
    finally:
        await db.close()


# ------------------------------------------------------------------ analytics exports and the paper template


def _hostile_survey():  # noqa: ANN202
    from demo.synthetic import small_survey
    from survey_defs.schema import Survey

    data = small_survey().model_dump(mode="json", exclude_none=True)
    q = data["sections"][0]["questions"][0]
    q["text"] = {"vi": CMD, "en": "-5 điểm"}
    q["options"][0]["label"] = {"vi": "@SUM(1+1)", "en": "+SUM(1,1)"}
    return Survey.model_validate(data)


def test_analytics_exports_have_no_formula(tmp_path: Path) -> None:
    from analytics.analysis import analyse
    from analytics.exports import export
    from analytics.settings import AnalyticsSettings
    from demo.synthetic import synthetic_wide

    s = _hostile_survey()
    df = synthetic_wide(s, 300, seed=5)
    for level in ("district", "commune", "village"):
        if f"{level}_name" in df.columns:
            df.loc[df[f"{level}_id"] == df[f"{level}_id"].iloc[0], f"{level}_name"] = CMD
    units = df[["district_id", "district_name"]].drop_duplicates()
    a = analyse(df, s, "R1", AnalyticsSettings(bootstrap_b=50), units=units)
    xlsx = export(a, "xlsx", tmp_path / "a.xlsx")[0]
    assert_xlsx_safe(xlsx, {CMD, "@SUM(1+1)"})
    paths = export(a, "csv", tmp_path / "csv")
    for p in paths:
        assert_csv_safe(p, set())
    cells = {c for p in paths for row in csv.reader(p.open(encoding="utf-8-sig")) for c in row}
    assert "'" + CMD in cells and "'@SUM(1+1)" in cells
    assert any(c.startswith("-") and _NUMBER.fullmatch(c) for c in cells)  # gaps to target stay numbers
    assert not any(c.startswith("'-") and _NUMBER.fullmatch(c[1:]) for c in cells)
    wb = openpyxl.load_workbook(xlsx, read_only=True)
    assert any(isinstance(v, float) and v < 0 for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
               for v in row)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_paper_template_has_no_formula(tmp_path: Path, suffix: str) -> None:
    from analytics.paper import read_entry_file, write_template

    out = write_template(_hostile_survey(), tmp_path / f"t{suffix}")
    if suffix == ".csv":
        assert_csv_safe(out, {CMD})
    else:
        assert_xlsx_safe(out, {CMD, "-5 điểm"})   # question text (entry sheet) and codebook
    assert read_entry_file(out).empty                           # the question-text row is still recognised


# ------------------------------------------------------------------ no writer bypasses the rule

ROOT = Path(__file__).resolve().parents[2]
_RAW_WRITERS = re.compile(r"csv\.writer\(|csv\.DictWriter\(|xlsxwriter\.Workbook\(|openpyxl\.Workbook\(|"
                          r"\.to_excel\(|\.to_csv\(")


def test_every_spreadsheet_writer_goes_through_the_shared_rule() -> None:
    """A new CSV/XLSX writer must use survey_defs/spreadsheet_safety (the only place the rule lives)."""
    offenders = []
    packages = [d for d in ROOT.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name != "tests"]
    assert {"sampling", "analytics", "survey_defs"} <= {d.name for d in packages}
    for package in packages:
        for path in package.rglob("*.py"):
            if path.name == "spreadsheet_safety.py":
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                code = line.split("#", 1)[0]
                if _RAW_WRITERS.search(code) and "neutralised_frame(" not in code:
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
                if "ExcelWriter(" in code and "XLSX_ENGINE_KWARGS" not in code:
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
