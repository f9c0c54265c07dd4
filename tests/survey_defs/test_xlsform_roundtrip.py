"""YAML → XLSForm → YAML keeps the definition; the workbook is a valid XLSForm; the CLI moves files.

The shipped questionnaires must come back with the same content hash (the hash pins what a round
fields), and pyxform, the XLSForm reference converter, must turn the exported workbook into an
XForm without an error or a warning (what KoboToolbox and ODK load). ODK Validate is off: it
needs Java.
"""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from pyxform.xls2xform import convert
from typer.testing import CliRunner

from hailong.cli import app
from engine import compile_survey
from survey_defs.errors import DefinitionError
from survey_defs.loader import get_survey, load_survey, parse_survey
from survey_defs.schema import Survey
from survey_defs.validate import survey_counts
from survey_defs.xlsform.exporter import export_xlsform
from survey_defs.xlsform.importer import import_workbook
from survey_defs.yaml_writer import survey_to_yaml

FIXTURES = Path(__file__).parents[1] / "fixtures" / "xlsform"
ALL_FEATURES = FIXTURES / "all_features.yaml"
SHIPPED = ["sipas-households", "sipas-services-2021"]
runner = CliRunner()


def _surveys() -> list[Survey]:
    return [get_survey(s) for s in SHIPPED] + [load_survey(ALL_FEATURES)]


@pytest.fixture(scope="module", params=[*SHIPPED, "all-features"])
def exported(request: pytest.FixtureRequest) -> tuple[Survey, bytes]:
    survey = load_survey(ALL_FEATURES) if request.param == "all-features" else get_survey(request.param)
    return survey, export_xlsform(survey)


def test_yaml_to_xlsform_to_yaml_keeps_the_content_hash(exported: tuple[Survey, bytes]) -> None:
    survey, data = exported
    back = import_workbook(data, f"{survey.id}.xlsx")
    assert back.warnings == []
    assert back.survey.content_hash == survey.content_hash
    assert back.survey == survey


def test_pyxform_converts_the_export_to_an_xform_without_errors_or_warnings(exported: tuple[Survey, bytes]) -> None:
    survey, data = exported
    warnings: list[str] = []
    result = convert(data, warnings=warnings, validate=False, file_type=".xlsx")
    assert warnings == []
    xform = result.xform
    assert f'id="{survey.id}"' in xform and f'version="{survey.version}"' in xform
    for q in survey.questions:  # every question and matrix item is a node of the form
        ids = [it.id for it in q.items or []] or [q.id]
        for ident in ids:
            assert f"/{ident}" in xform, ident
    if survey.id == "sipas-households":  # II.E only after a complaint, as in the YAML
        assert 'nodeset="/data/satisfaction_services/q9_ii_e" relevant=" /data/perception/q8/q8_complaint  = \'1\'"' \
            in xform


def test_no_exported_cell_is_a_formula(exported: tuple[Survey, bytes]) -> None:
    survey, data = exported
    wb = openpyxl.load_workbook(io.BytesIO(data), data_only=False)
    kinds = {cell.data_type for ws in wb.worksheets for row in ws.iter_rows() for cell in row if cell.value is not None}
    assert "f" not in kinds
    if survey.id == "all-features":  # a label that starts with '=' is stored as the text itself
        labels = [c.value for c in wb["choices"]["C"]]
        assert "=1+1 không phải công thức" in labels
        cell = next(c for c in wb["choices"]["C"] if c.value == "=1+1 không phải công thức")
        assert cell.data_type == "s"
        hints = [c.value for row in wb["survey"].iter_rows() for c in row if isinstance(c.value, str)]
        assert "+84 là mã vùng" in hints and "@mention is text" in hints and "-1 is not allowed" in hints


def test_the_export_is_deterministic() -> None:
    survey = get_survey("sipas-services-2021")
    assert export_xlsform(survey) == export_xlsform(survey)


def test_the_export_reads_like_an_xlsform() -> None:
    """Spot checks an Excel user sees: groups, select rows, yes/no list, conditions, hailong columns."""
    wb = openpyxl.load_workbook(io.BytesIO(export_xlsform(get_survey("sipas-households"))))
    assert wb.sheetnames == ["survey", "choices", "settings", "hailong_texts", "hailong_end_rules"]
    rows = [[c.value for c in r] for r in wb["survey"].iter_rows()]
    head = rows[0]
    assert head[:4] == ["type", "name", "label::Vietnamese (vi)", "label::English (en)"]
    by_name = {r[1]: dict(zip(head, r)) for r in rows[1:] if r[1] and r[0] != "end_group"}
    assert by_name["q_consent"]["type"] == "select_one yesno" and by_name["q_consent"]["hailong_type"] == "yesno"
    assert by_name["q_age"]["type"] == "integer" and by_name["q_age"]["hailong_min"] == 10
    assert by_name["q_ethnic_other"]["relevant"] == "${q_ethnic} = '2'"
    assert by_name["q2_other"]["relevant"] == "selected(${q2}, '7')" and by_name["q2_other"]["required"] is None
    assert by_name["q9_ii_a1"]["type"] == "select_one sat5"
    assert (by_name["q9_ii_a1"]["hailong_index"], by_name["q9_ii_a1"]["hailong_component"]) == ("satisfaction",
                                                                                                 "II.A")
    assert by_name["q1"]["type"] == "begin_group" and by_name["q1"]["appearance"] == "table-list"
    rules = [[c.value for c in r] for r in wb["hailong_end_rules"].iter_rows()]
    assert rules[2][:3] == ["under_18", "${q_age} < 18", "ineligible"]
    settings = [[c.value for c in r] for r in wb["settings"].iter_rows()]
    assert dict(zip(settings[0], settings[1]))["default_language"] == "Vietnamese (vi)"


def test_a_workbook_edited_in_excel_imports_with_the_edits() -> None:
    survey = get_survey("sipas-households")
    wb = openpyxl.load_workbook(io.BytesIO(export_xlsform(survey)))
    ws = wb["survey"]
    head = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        cells = dict(zip(head, row))
        if cells["name"].value == "q_age":
            cells["hailong_max"].value = 110
            cells["label::Vietnamese (vi)"].value = "Năm nay Ông/Bà bao nhiêu tuổi?"
        if cells["name"].value == "q_comment":
            cells["relevant"].value = "${q_consent} = '1' and ${q_age} >= 60"
    buf = io.BytesIO()
    wb.save(buf)
    edited = import_workbook(buf.getvalue(), "edited.xlsx").survey
    age = edited.question_by_id["q_age"]
    assert age.max == 110 and age.text["vi"] == "Năm nay Ông/Bà bao nhiêu tuổi?"
    assert edited.question_by_id["q_comment"].relevant.model_dump(by_alias=True, exclude_none=True) == \
        {"all": [{"equals": ("q_consent", 1)}, {"ge": ("q_age", 60.0)}]}
    assert edited.content_hash != survey.content_hash
    unchanged = {q.id for q in survey.questions} - {"q_age", "q_comment"}
    assert all(edited.question_by_id[q] == survey.question_by_id[q] for q in unchanged)
    compile_survey(edited)  # the engine takes it


def test_documented_normalisations() -> None:
    """What XLSForm cannot tell apart comes back in one documented form (docs/authoring.md)."""
    text = ALL_FEATURES.read_text(encoding="utf-8")
    text = text.replace("satisfied: [4, 5]", "satisfied: [5, 4]")
    text = text.replace("relevant: {in: [q_code, [a1, \"b'2\"]]}", "relevant: {in: [q_code, [a1]]}")
    text = text.replace("relevant: {not: {not: {equals: [q_sat, 5]}}}",
                        "relevant: {all: [{equals: [q_sat, 5]}]}")
    written = parse_survey(text, "norm.yaml")
    back = import_workbook(export_xlsform(written), "norm.xlsx").survey
    assert back.content_hash != written.content_hash
    assert back.scale_by_id["sat5"].satisfied == [4, 5]                              # option order
    assert back.question_by_id["q_lone"].relevant.model_dump(by_alias=True) == {"equals": ("q_code", "a1")}
    assert back.question_by_id["q_txt"].relevant.model_dump(by_alias=True) == {"equals": ("q_sat", 5)}
    again = import_workbook(export_xlsform(back), "again.xlsx").survey
    assert again.content_hash == back.content_hash                                    # a fixed point


def test_what_cannot_be_written_is_refused_with_the_place() -> None:
    text = ALL_FEATURES.read_text(encoding="utf-8")
    text = text.replace('aliases: {vi: ["một", "mot"]', 'aliases: {vi: ["một; hai"]')
    with pytest.raises(DefinitionError) as info:
        export_xlsform(parse_survey(text, "x.yaml"))
    assert [str(p) for p in info.value.problems] == [
        "all-features: scale 'sat5': option 1 alias 'một; hai' contains ';', the alias separator; remove the ';' "
        "from the alias"]


def _book(sheets: dict[str, list[list[str | None]]]) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_hand_written_conventions() -> None:
    """A plain XLSForm as KoboToolbox users write it: no groups, one language column, shared lists."""
    sheets = {
        "survey": [["type", "name", "label", "required", "hailong_type", "relevant"],
                   ["select_one yn", "q1", "Ông/Bà đã đến chưa?", "yes"],
                   ["select_one yn", "q2", "Có ích không?", "yes", None, "${q1} = '1'"],
                   ["select_one yn", "q3", "Lần nữa?", None, "single"],
                   ["select one sat", "q4", "Hài lòng không?", "TRUE"],
                   ["note", "q5", "Cảm ơn"]],
        "choices": [["list name", "name", "label"], ["yn", "1", "Có"], ["yn", "0", "Không"],
                    ["sat", "1", "Chưa"], ["sat", "2", "Rồi"]],
        "settings": [["form_title", "form_id", "version", "default_language"],
                     ["Đến thăm", "visit", "3", "Vietnamese (vi)"]],
    }
    s = import_workbook(_book(sheets), "kobo.xlsx").survey
    assert (s.id, s.version, s.languages, s.title) == ("visit", "3", ["vi"], {"vi": "Đến thăm"})
    assert [(sec.id, sec.title) for sec in s.sections] == [("part_1", {"vi": "Đến thăm"})]
    q = s.question_by_id
    assert [sc.id for sc in s.scales] == ["yn"]           # used by two select_one rows: a shared scale
    assert (q["q1"].type.value, q["q1"].scale) == ("scale", "yn") and q["q2"].relevant.equals == ("q1", 1)
    assert q["q3"].type.value == "single" and [o.value for o in q["q3"].options] == [1, 0] and not q["q3"].required
    assert q["q4"].type.value == "single" and q["q4"].required  # 'select one' and 'TRUE' are XLSForm spellings
    assert q["q5"].type.value == "note"
    # The same form in English only: hailong needs Vietnamese, and says where.
    sheets["settings"][1][3] = "English (en)"
    with pytest.raises(DefinitionError) as info:
        import_workbook(_book(sheets), "kobo.xlsx")
    first = info.value.problems[0]
    assert (first.sheet, first.line, first.column) == ("settings", 2, "A")
    assert str(first) == ("kobo.xlsx: sheet 'settings', row 2, column A (form_title): survey: title has no "
                          "Vietnamese text ('vi'); add vi: … to the title (Vietnamese with full diacritics)")


@pytest.mark.parametrize("survey", _surveys(), ids=lambda s: s.id)
def test_the_yaml_writer_reads_back_to_the_same_definition(survey: Survey) -> None:
    text = survey_to_yaml(survey, "a comment\nsecond line")
    assert text.startswith("# a comment\n# second line\nid: ")
    assert parse_survey(text, "w.yaml").content_hash == survey.content_hash


# ---------------------------------------------------------------------------- CLI

def test_cli_export_then_import_round_trips(tmp_path: Path) -> None:
    xlsx = tmp_path / "households.xlsx"
    out = tmp_path / "sipas-households.yaml"
    res = runner.invoke(app, ["survey", "export", "sipas-households", "--format", "xlsform", "--out", str(xlsx)])
    assert res.exit_code == 0, res.output
    survey = get_survey("sipas-households")
    h = survey.content_hash[:12]
    steps = survey_counts(survey)["steps"]
    assert f"OK {xlsx}: sipas-households {survey.version} (xlsform) · hash {h}" in res.output
    res = runner.invoke(app, ["survey", "import", str(xlsx), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"sections 8 · steps {steps} · satisfaction 39 · hash {h}" in res.output
    assert load_survey(out).content_hash == get_survey("sipas-households").content_hash
    assert out.read_text(encoding="utf-8").startswith("# Imported from households.xlsx")
    again = runner.invoke(app, ["survey", "import", str(xlsx), "--out", str(out)])
    assert "(không đổi / unchanged)" in again.output
    valid = runner.invoke(app, ["survey", "validate", str(out)])
    assert valid.exit_code == 0 and "OK" in valid.output


def test_cli_export_of_a_yaml_path_and_failures(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["survey", "export", str(ALL_FEATURES), "--out", str(tmp_path / "a.xlsx")])
    assert ok.exit_code == 0, ok.output
    unknown = runner.invoke(app, ["survey", "export", "nope", "--out", str(tmp_path / "b.xlsx")])
    assert unknown.exit_code == 1 and "no shipped questionnaire 'nope'" in unknown.output
    wrong = runner.invoke(app, ["survey", "export", "sipas-households", "--out", str(tmp_path / "b.csv")])
    assert wrong.exit_code == 1 and "--out must be an .xlsx file" in wrong.output
    fmt = runner.invoke(app, ["survey", "export", "sipas-households", "--format", "xml", "--out",
                              str(tmp_path / "b.xlsx")])
    assert fmt.exit_code != 0 and not (tmp_path / "b.xlsx").exists()


def test_cli_import_reports_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(io.BytesIO(export_xlsform(get_survey("sipas-services-2021"))))
    ws = wb["survey"]
    ws["A3"].value = "select_one yes_no_typo"
    head = [c.value for c in ws[1]]
    ws.cell(row=10, column=head.index("relevant") + 1).value = "${q_agency} == 3"
    buf = tmp_path / "broken.xlsx"
    wb.save(buf)
    out = tmp_path / "out.yaml"
    res = runner.invoke(app, ["survey", "import", str(buf), "--out", str(out)])
    assert res.exit_code == 1
    lines = [line for line in res.output.splitlines() if line.startswith("broken.xlsx: ")]
    assert len(lines) == 2, res.output
    assert lines[0].startswith("broken.xlsx: sheet 'survey', row 3, column A (type): the choice list "
                               "'yes_no_typo' is not in the choices sheet")
    assert lines[1].startswith("broken.xlsx: sheet 'survey', row 10, column ")
    assert "'==' is not an XLSForm operator" in lines[1]
    assert "Traceback" not in res.output and not out.exists()
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a workbook")
    res = runner.invoke(app, ["survey", "import", str(junk), "--out", str(out)])
    assert res.exit_code == 1 and "junk.xlsx: the file is not an Excel workbook (.xlsx)" in res.output
    res = runner.invoke(app, ["survey", "import", str(tmp_path / "missing.xlsx"), "--out", str(out)])
    assert res.exit_code == 1 and "missing.xlsx: file not found" in res.output
    res = runner.invoke(app, ["survey", "import", str(buf), "--out", str(tmp_path / "out.txt")])
    assert res.exit_code == 1 and "--out must be a .yaml file" in res.output
