"""Paper questionnaires through the CLI, and loading a round from a real storage database."""

from __future__ import annotations

from pathlib import Path

import sqlite3

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from analytics.load import load_round
from analytics.paper import read_entry_file, steps_of, validate_rows
from demo.synthetic import household_answers, populate_db
from hailong.cli import app
from survey_defs.loader import get_survey

runner = CliRunner()


@pytest.fixture(scope="module")
def survey():
    return get_survey("sipas-households")


@pytest.fixture()
def db(tmp_path, survey):
    p = str(tmp_path / "h.db")
    populate_db(p, survey, 60, seed=4)
    return p


def _row(survey, seed: int = 9) -> dict[str, str]:
    """One valid paper questionnaire as the cells a clerk would type."""
    w = household_answers(survey, 1, seed=seed).iloc[0]
    out = {"unit_code": "D01C01V01", "household_ref": "12"}
    for s in steps_of(survey):
        v = w.get(s.id)
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out[s.id] = ""
        elif isinstance(v, list):
            out[s.id] = ";".join(map(str, v))
        elif isinstance(v, float):
            out[s.id] = str(int(v))
        else:
            out[s.id] = str(v)
    return out


def _write(tmp_path, rows, name="in.csv") -> str:
    p = tmp_path / name
    pd.DataFrame(rows).to_csv(p, index=False, encoding="utf-8-sig")
    return str(p)


def test_template_xlsx_has_validation_and_codebook(tmp_path, survey):
    out = tmp_path / "t.xlsx"
    r = runner.invoke(app, ["responses", "template", "--survey", "sipas-households", "--out", str(out)])
    assert r.exit_code == 0, r.output
    wb = openpyxl.load_workbook(out)
    ws = wb["Nhập phiếu"]
    header = [c.value for c in ws[1]]
    assert header[:2] == ["unit_code", "household_ref"] and "q9_ii_e3" in header and "q2" in header
    assert ws.cell(2, header.index("q5") + 1).value.startswith("Câu 5")
    assert len(ws.data_validations.dataValidation) > 50
    assert "Từ điển biến" in wb.sheetnames
    # the untouched template reads as no data rows
    assert len(read_entry_file(out)) == 0


def test_import_round_trip(tmp_path, survey, db):
    rows = [_row(survey, 9), _row(survey, 10)]
    f = _write(tmp_path, rows)
    r = runner.invoke(app, ["responses", "import", f, "--round", "LC-2025", "--db", db])
    assert r.exit_code == 0, r.output
    lr = load_round(db, "LC-2025")
    paper = lr.data[lr.data["response_id"] > 60].sort_values("response_id").reset_index(drop=True)
    assert len(paper) == 2 and len(lr.data) == 62 and (paper["mode"] == "paper").all()
    for i, row in enumerate(rows):
        for sid in ("q5", "q9_i_a1", "q9_ii_b3", "q_age"):
            assert paper.loc[i, sid] == float(row[sid])
        assert paper.loc[i, "q2"] == [int(x) for x in row["q2"].split(";")]
        assert paper.loc[i, "village_id"] == "D01C01V01"


@pytest.mark.parametrize("mutate, column, fragment", [
    (lambda r: r.update(q5="7"), "q5", "không có trong phương án"),
    (lambda r: r.update(q_age="130"), "q_age", "ngoài khoảng"),
    (lambda r: r.update(q8_complaint="0", q9_ii_e1="4"), "q9_ii_e1", "không áp dụng"),
    (lambda r: r.update(q_sex=""), "q_sex", "bắt buộc"),
    (lambda r: r.update(q_sex="không trả lời"), "q_sex", "bắt buộc"),
    (lambda r: r.update(q2="1;2;3;4;5;6;7;8"), "q2", "không có trong phương án"),
    (lambda r: r.update(unit_code="XX99"), "unit_code", "không có trong khung mẫu"),
])
def test_import_errors_name_row_and_column(tmp_path, survey, db, mutate, column, fragment):
    good = _row(survey, 9)
    bad = dict(good)
    mutate(bad)
    if column == "q9_ii_e1":
        bad.update({k: "" for k in ("q9_ii_e2", "q9_ii_e3")})
    f = _write(tmp_path, [good, bad])
    before = sqlite3.connect(db).execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    r = runner.invoke(app, ["responses", "import", f, "--round", "LC-2025", "--db", db])
    assert r.exit_code == 1
    rows, errors = validate_rows(read_entry_file(f), survey, {"D01C01V01"} if column != "unit_code" else {"D01C01V01"})
    hit = [e for e in errors if e.column == column]
    assert hit and hit[0].row == 3 and fragment in hit[0].message, errors
    after = sqlite3.connect(db).execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    assert after == before                              # nothing half-imported


def test_wrong_column_and_missing_required_column(tmp_path, survey, db):
    good = _row(survey, 9)
    good["q99_unknown"] = "1"
    del good["q5"]
    f = _write(tmp_path, [good])
    _, errors = validate_rows(read_entry_file(f), survey, {"D01C01V01"})
    cols = {e.column: e for e in errors}
    assert cols["q99_unknown"].row == 1 and "không có trong bảng hỏi" in cols["q99_unknown"].message
    assert "q5" in cols and "thiếu" in cols["q5"].message
    r = runner.invoke(app, ["responses", "import", f, "--round", "LC-2025", "--db", db])
    assert r.exit_code == 1


def test_import_user_errors(tmp_path, db):
    r = runner.invoke(app, ["responses", "import", str(tmp_path / "none.csv"), "--round", "LC-2025", "--db", db])
    assert r.exit_code == 2
    r = runner.invoke(app, ["responses", "import", str(tmp_path / "none.csv"), "--round", "NOPE", "--db", db])
    assert r.exit_code == 2 and "NOPE" in r.output


def test_load_excludes_failed_recheck_and_withdrawn(db, survey):
    conn = sqlite3.connect(db)
    ids = [r[0] for r in conn.execute("SELECT id FROM responses ORDER BY id LIMIT 3")]
    conn.execute("INSERT INTO recheck (round_id, respondent_id, response_id, drawn_at, seed, outcome)"
                 " VALUES (1, ?, ?, 0, 's', 'not_confirmed')", (ids[0], ids[0]))
    conn.execute("INSERT INTO recheck (round_id, respondent_id, response_id, drawn_at, seed, outcome)"
                 " VALUES (1, ?, ?, 0, 's', 'confirmed')", (ids[2], ids[2]))
    conn.execute("UPDATE respondents SET status = 'refused' WHERE id = ?", (ids[1],))
    conn.commit()
    lr = load_round(db, "LC-2025")
    assert len(lr.data) == 58
    assert lr.excluded == {"not_submitted": 0, "withdrawn": 1, "recheck_not_confirmed": 1}
    assert ids[0] not in set(lr.data["response_id"]) and ids[2] in set(lr.data["response_id"])
    assert not {"name", "phone", "token", "card_code", "attrs"} & set(lr.data.columns)


def test_export_and_report_cli(tmp_path, db):
    out = tmp_path / "x.xlsx"
    r = runner.invoke(app, ["export", "--round", "LC-2025", "--db", db, "--format", "xlsx", "--out", str(out),
                            "--bootstrap", "60"])
    assert r.exit_code == 0, r.output
    lr = load_round(db, "LC-2025")
    from analytics.indices import satisfaction_indices
    expected = satisfaction_indices(lr.data, lr.survey).overall.iloc[0]
    comp = pd.read_excel(out, sheet_name="Thành phần, tiêu chí").set_index("Mã")
    assert comp.loc["overall", "Chỉ số (%)"] == pytest.approx(expected)
    r = runner.invoke(app, ["report", "--round", "LC-2025", "--db", db, "--out", str(tmp_path / "rep"),
                            "--bootstrap", "60"])
    assert r.exit_code == 0, r.output
    assert "Chỉ số hài lòng chung" in (tmp_path / "rep" / "index.html").read_text(encoding="utf-8")
    r = runner.invoke(app, ["export", "--round", "LC-2025", "--db", db, "--format", "pdf", "--out", "x"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["export", "--round", "LC-2025", "--db", db, "--aggregation", "median", "--out", "x"])
    assert r.exit_code == 2


def test_a_database_from_a_newer_hailong_is_refused_not_misread(db):
    from analytics.load import LoadError

    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (999, 'future', 0)")
    with pytest.raises(LoadError, match="newer than this hailong"):
        load_round(db, "LC-2025")
    res = CliRunner().invoke(app, ["export", "--round", "LC-2025", "--db", db, "--format", "csv", "--out", db + ".csv"])
    assert res.exit_code == 2 and "upgrade hailong" in res.output


def test_blank_and_no_answer_rating_items_are_missing_not_errors(tmp_path, survey, db):
    good = _row(survey, 9)
    blank = dict(good, q9_i_c3="", q9_ii_a1="Không trả lời", q9_ii_b2="  ktl ", q5="-")
    f = _write(tmp_path, [good, blank])
    rows, errors = validate_rows(read_entry_file(f), survey, {"D01C01V01"})
    assert errors == []
    assert rows[1].missing == ["q5", "q9_i_c3", "q9_ii_a1", "q9_ii_b2"] and rows[0].missing == []
    assert not {"q5", "q9_i_c3", "q9_ii_a1", "q9_ii_b2"} & set(rows[1].answers)
    r = runner.invoke(app, ["responses", "import", f, "--round", "LC-2025", "--db", db])
    assert r.exit_code == 0, r.output
    assert "4 ô đánh giá" in r.output and "không tính vào mẫu số" in r.output and "out of the item" in r.output
    lr = load_round(db, "LC-2025")
    paper = lr.data[lr.data["response_id"] > 60]                        # the two just imported
    assert len(paper) == 2 and (paper["mode"] == "paper").all() and paper["q9_i_c3"].isna().sum() == 1       # stored as missing, not as a value
    # the blank leaves the denominator: the item's valid count is one less than its neighbour's
    from analytics.analysis import analyse
    from analytics.settings import AnalyticsSettings
    a = analyse(paper, lr.survey, "LC-2025", AnalyticsSettings(bootstrap_b=50), intervals=False)
    assert int(a.overall.n_valid["q9_i_c3"].iloc[0]) == 1 and int(a.overall.n_valid["q9_i_c2"].iloc[0]) == 2


def test_one_line_per_problem(tmp_path, survey):
    good = _row(survey, 9)
    empty = {k: (v if i < 12 else "") for i, (k, v) in enumerate(good.items())}    # profile only: 79 blanks
    partly = dict(good, q_edu="", q_occ="không trả lời", q9_i_a1="", q9_i_a2="")   # two profile answers missing
    minor = dict(good, q_age="15", q_ethnic="2", q_ethnic_other="")               # under 18: screened out
    f = _write(tmp_path, [good, partly, minor, empty])
    _, errors = validate_rows(read_entry_file(f), survey, {"D01C01V01"})
    by_row: dict[int, list] = {}
    for e in errors:
        by_row.setdefault(e.row, []).append(e)
    assert 2 not in by_row
    assert len(by_row[3]) == 1 and by_row[3][0].column == "q_edu", by_row[3]
    assert "2 required answers missing: q_edu, q_occ" in by_row[3][0].message
    assert len(by_row[4]) == 1 and "dừng khảo sát" in by_row[4][0].message and "q_ethnic_other" not in str(errors)
    assert len(by_row[5]) == 1 and "no rating item answered" in by_row[5][0].message, by_row[5]


def test_template_for_a_custom_questionnaire_file(tmp_path):
    src = Path(__file__).resolve().parents[2] / "survey_defs" / "sipas-services-2021.yaml"
    custom = tmp_path / "custom.yaml"
    custom.write_text(src.read_text(encoding="utf-8").replace("id: sipas-services-2021", "id: lc-custom-2026", 1),
                      encoding="utf-8")
    out = tmp_path / "t.csv"
    r = runner.invoke(app, ["responses", "template", "--survey", str(custom), "--out", str(out)])
    assert r.exit_code == 0, r.output
    header = out.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert header[:2] == ["unit_code", "household_ref"] and len(header) > 20
    for junk in (str(tmp_path / "missing.yaml"), str(tmp_path), "no-such-survey", "x" * 5000):
        r = runner.invoke(app, ["responses", "template", "--survey", junk, "--out", str(tmp_path / "j.csv")])
        assert r.exit_code == 2, (junk[:40], r.output)
        assert "Lỗi / Error" in r.output and "Traceback" not in r.output and len(r.output) < 3000
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed\n", encoding="utf-8")
    r = runner.invoke(app, ["responses", "template", "--survey", str(bad), "--out", str(tmp_path / "b.csv")])
    assert r.exit_code == 2 and "bad.yaml" in r.output
