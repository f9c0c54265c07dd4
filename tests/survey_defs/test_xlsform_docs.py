"""The XLSForm section of docs/authoring.md: its example workbook imports, runs, and is what the page shows."""

from __future__ import annotations

import io
import re
import runpy
from pathlib import Path

import openpyxl
from pyxform.xls2xform import convert
from rich.console import Console

from bot.console import chat
from survey_defs.xlsform import columns
from survey_defs.xlsform.importer import import_workbook, import_xlsform
from survey_defs.yaml_writer import survey_to_yaml

DOCS = Path(__file__).resolve().parents[2] / "docs"
EXAMPLE = DOCS / "xlsform-example.xlsx"
GUIDE = (DOCS / "authoring.md").read_text(encoding="utf-8")
SECTION = GUIDE[GUIDE.index("## Questionnaires in Excel (XLSForm)"):]


def _cells(data: bytes) -> dict[str, list[list[str]]]:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    return {ws.title: [["" if c.value is None else str(c.value) for c in row] for row in ws.iter_rows()]
            for ws in wb.worksheets}


def test_the_shipped_example_is_what_the_script_writes(tmp_path: Path) -> None:
    script = runpy.run_path(str(DOCS / "make_xlsform_example.py"))
    fresh = script["write"](tmp_path / "example.xlsx")
    assert _cells(fresh.read_bytes()) == _cells(EXAMPLE.read_bytes())


def test_the_example_imports_as_the_guide_says() -> None:
    result = import_xlsform(EXAMPLE)
    assert result.warnings == []
    s = result.survey
    assert (s.id, s.version, s.languages) == ("khao-sat-mot-cua", "2026.1", ["vi", "en"])
    assert [sec.id for sec in s.sections] == ["screening", "service"]
    q = s.question_by_id
    assert q["q_consent"].type.value == "yesno"
    assert (q["q_age"].type.value, q["q_age"].min, q["q_age"].max) == ("number", 10, 120)
    assert s.sections[1].relevant.ge == ("q_age", 18.0)
    assert "q_field" not in q
    assert [o.value for o in q["q_field_1"].options] == [1, 2] and q["q_field_1"].relevant.equals == ("q_agency", 1)
    assert [o.value for o in q["q_field_2"].options] == [3, 4] and q["q_field_2"].relevant.equals == ("q_agency", 2)
    assert (q["q_channels"].max_picks, q["q_channels"].exclusive) == (2, [9])
    assert q["q_channels_other"].relevant.equals == ("q_channels", 8) and not q["q_channels_other"].required
    assert q["q_access"].type.value == "matrix" and q["q_access"].scale == "sat5"
    roles = [(it.id, it.index.kind, it.index.component) for it in q["q_access"].items]
    assert roles == [("q_access_seats", "satisfaction", "II.A"), ("q_access_staff", "satisfaction", "II.C")]
    assert s.scale_by_id["sat5"].satisfied == [4, 5]
    assert s.scale_by_id["sat5"].options[3].aliases == {"vi": ["hai long", "ok"]}
    assert q["q_visits"].constraint.le == ("q_visits", 20.0) and q["q_visits"].constraint_message["en"]
    assert [(r.id, r.outcome) for r in s.end_rules] == [("refused", "refused"), ("under_18", "ineligible")]
    assert s.title == {"vi": "Khảo sát bộ phận một cửa", "en": "One-stop shop survey"}
    assert set(s.components) == {"II.A", "II.C"}


def test_pyxform_converts_the_example() -> None:
    warnings: list[str] = []
    convert(EXAMPLE.read_bytes(), warnings=warnings, validate=False, file_type=".xlsx")
    assert warnings == []


def test_a_citizen_can_answer_the_imported_example_in_the_console(tmp_path: Path) -> None:
    survey = import_xlsform(EXAMPLE).survey
    path = tmp_path / "khao-sat-mot-cua.yaml"
    path.write_text(survey_to_yaml(survey), encoding="utf-8")
    lines = ["có", "40", "2", "1", "1 8", "xong", "Zalo", "4", "5", "3", "bỏ qua", "gửi"]
    buf = io.StringIO()
    code = chat(stdin=io.StringIO("".join(x + "\n" for x in lines)), console=Console(file=buf, width=120),
                file=str(path))
    out = buf.getvalue()
    assert code == 0, out
    assert "status: submitted (complete)" in out
    assert re.search(r"q_field_2 +│ Thủ tục thuộc lĩnh vực nào\? +│ Hộ tịch", out)
    assert "q_field_1" not in out.split("Câu trả lời đã thu")[1]


def _tables(text: str) -> list[list[list[str]]]:
    """Markdown tables whose header cells are all `code`: rows of cell texts without backticks."""
    out: list[list[list[str]]] = []
    block: list[list[str]] = []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-") for c in cells):
                block.append(cells)
            continue
        if block and all(c.startswith("`") for c in block[0]):
            out.append([[c.strip("`") for c in row] for row in block])
        block = []
    return out


def test_the_guide_tables_show_the_example_cells() -> None:
    sheets = _cells(EXAMPLE.read_bytes())
    tables = [t for t in _tables(SECTION) if t[0][0] in ("type", "name", "list_name", "form_title", "kind")]
    assert len(tables) == 7
    for table in tables:
        head = table[0]
        sheet = next(rows for rows in sheets.values() if set(head) <= set(rows[0]))
        idx = [sheet[0].index(h) for h in head]
        expected = [[row[i] if i < len(row) else "" for i in idx] for row in sheet[1:]]
        expected = [r for r in expected if any(v for h, v in zip(head, r) if h != "name")]
        assert table[1:] == expected, head


def test_every_hailong_column_and_sheet_is_documented() -> None:
    names = [*columns.HAILONG_SURVEY_COLUMNS, columns.aliases_header("vi"), "hailong_texts", "hailong_end_rules",
             *columns.DOCUMENTED]
    missing = [n for n in names if f"`{n}`" not in SECTION]
    assert not missing


def test_the_guide_refusal_examples_are_what_the_import_prints() -> None:
    wb = openpyxl.load_workbook(EXAMPLE)
    ws = wb["survey"]
    ws["H6"] = "${q_age} => 18"
    ws["A9"] = "select_multiple chanel"
    ws["H10"] = "${q_channels} = '8'"
    ws["S13"] = "satisfied"
    ws["A15"] = "decimal"
    buf = io.BytesIO()
    wb.save(buf)
    try:
        import_workbook(buf.getvalue(), "xlsform-example.xlsx")
    except Exception as exc:  # noqa: BLE001 - checked just below
        lines = [str(p) for p in exc.problems]  # type: ignore[attr-defined]
    else:
        raise AssertionError("the broken example imported")
    block = SECTION[SECTION.index("five mistakes in the example workbook"):]
    block = block[block.index("```\n") + 4:]
    assert block[:block.index("```")].splitlines() == lines
