"""Broken and hostile XLSForm workbooks fail with the precise sheet / row / column message.

Every workbook is built here with openpyxl from one small valid questionnaire (BASE) and one
edit, so that each case reads as "this cell, this mistake, this message". Each expected line is
the whole message an author would read (file, sheet, row, column, what is wrong, what to write
instead), so a vaguer wording or a lost position fails.
"""

from __future__ import annotations

import copy
import io
import re
import time
import zipfile

import openpyxl
import pytest

from survey_defs.errors import DefinitionError
from survey_defs.xlsform import expressions, workbook
from survey_defs.xlsform.importer import import_workbook

VI, EN = "label::Vietnamese (vi)", "label::English (en)"

BASE: dict[str, list[list[str | None]]] = {
    "survey": [
        ["type", "name", VI, EN, "required", "relevant", "constraint", "hailong_index", "hailong_component"],
        ["begin_group", "s1", "Phần 1", "Part 1"],                                              # row 2
        ["select_one yn", "q_consent", "Đồng ý?", "Agree?", "yes"],                              # row 3
        ["integer", "q_age", "Tuổi?", "Age?", "yes", "${q_consent} = '1'", ". >= 10"],           # row 4
        ["select_multiple ch", "q_ch", "Kênh?", "Channel?", "yes"],                              # row 5
        ["begin_group", "q_mx", "Hài lòng?", "Satisfied?"],                                     # row 6
        ["select_one sat", "i1", "Mục 1", "Item 1", "yes", None, None, "satisfaction", "II.A"],  # row 7
        ["end_group"],
        ["end_group"],
    ],
    "choices": [
        ["list_name", "name", VI, EN, "hailong_satisfied"],
        ["yn", "1", "Có", "Yes"], ["yn", "0", "Không", "No"],
        ["ch", "a", "A", "A"], ["ch", "b", "B", "B"],
        ["sat", "1", "Tệ", "Bad"], ["sat", "2", "Được", "OK"], ["sat", "3", "Tốt", "Good", "yes"],  # rows 6-8
    ],
    "settings": [["form_id", "version", "form_title"], ["base", "1", "Thử"]],
    "hailong_texts": [["kind", VI, EN], ["title", "Thử", "Test"]],
}


def book(sheets: dict[str, list[list[str | None]]]) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def edit(changes: dict[tuple[str, int, str], str | None]) -> dict[str, list[list[str | None]]]:
    """BASE with cells changed: {(sheet, row, column letter): value (None clears)}."""
    sheets = copy.deepcopy(BASE)
    for (sheet, row, col), value in changes.items():
        rows = sheets[sheet]
        while len(rows) < row:
            rows.append([])
        cells = rows[row - 1]
        k = ord(col) - ord("A")
        while len(cells) <= k:
            cells.append(None)
        cells[k] = value
    return sheets


def problems(data: bytes, name: str = "bad.xlsx") -> list:
    with pytest.raises(DefinitionError) as info:
        import_workbook(data, name)
    return info.value.problems


def test_the_base_workbook_imports() -> None:
    survey = import_workbook(book(BASE), "base.xlsx").survey
    assert [q.id for q in survey.questions] == ["q_consent", "q_age", "q_ch", "q_mx"]
    assert survey.question_by_id["q_age"].relevant.equals == ("q_consent", 1)
    assert survey.question_by_id["q_age"].constraint.ge == ("q_age", 10.0)


# case -> (cell edits, [(sheet, row, column letter, whole message)])
CASES: dict[str, tuple[dict, list[tuple[str | None, int | None, str | None, str]]]] = {
    "double_equals": ({("survey", 4, "F"): "${q_consent} == '1'"}, [(
        "survey", 4, "F", "bad.xlsx: sheet 'survey', row 4, column F (relevant): cannot read the condition "
        "'${q_consent} == '1'': '==' is not an XLSForm operator (character 14); write a single '=': ${q} = '1'")]),
    "forward_reference": ({("survey", 4, "F"): "selected(${q_ch}, 'a')"}, [(
        "survey", 4, "F", "bad.xlsx: sheet 'survey', row 4, column F (relevant): question 'q_age': relevance refers "
        "to 'q_ch' which comes later — conditions may only read earlier questions; move the condition or the "
        "question")]),
    "unknown_reference": ({("survey", 4, "F"): "${q_consnt} = '1'"}, [(
        "survey", 4, "F", "bad.xlsx: sheet 'survey', row 4, column F (relevant): question 'q_age': relevance refers "
        "to 'q_consnt', which does not exist; did you mean 'q_consent'?")]),
    "value_not_an_option": ({("survey", 4, "F"): "${q_consent} = '7'"}, [(
        "survey", 4, "F", "bad.xlsx: sheet 'survey', row 4, column F (relevant): question 'q_age': relevance "
        "compares 'q_consent' with 7, which is not one of its values (1 Có, 0 Không); use one of: 1, 0")]),
    "equals_on_several_choices": ({("survey", 7, "F"): "${q_ch} = 'a'"}, [(
        "survey", 7, "F", "bad.xlsx: sheet 'survey', row 7, column F (relevant): cannot read the condition "
        "'${q_ch} = 'a'': '=' on a several-choice question compares the whole set of ticks (character 9); "
        "write selected(${q_ch}, 'a')")]),
    "dot_outside_constraint": ({("survey", 4, "F"): ". > 3"}, [(
        "survey", 4, "F", "bad.xlsx: sheet 'survey', row 4, column F (relevant): cannot read the condition '. > 3': "
        "'.' (this question's own answer) can be used only in a constraint (character 1); refer to questions as "
        "${name}")]),
    "type_typo": ({("survey", 4, "A"): "interger"}, [(
        "survey", 4, "A", "bad.xlsx: sheet 'survey', row 4, column A (type): unknown type 'interger'; did you mean "
        "'integer'?")]),
    "decimal": ({("survey", 4, "A"): "decimal"}, [(
        "survey", 4, "A", "bad.xlsx: sheet 'survey', row 4, column A (type): decimal answers do not map to hailong "
        "(it asks whole numbers); use integer, with hailong_min / hailong_max for the range")]),
    "missing_list": ({("survey", 3, "A"): "select_one yno"}, [(
        "survey", 3, "A", "bad.xlsx: sheet 'survey', row 3, column A (type): the choice list 'yno' is not in the "
        "choices sheet; did you mean 'yn'?")]),
    "missing_translation": ({("survey", 3, "D"): None}, [(
        "survey", 3, "D", "bad.xlsx: sheet 'survey', row 3, column D (label::English (en)): question 'q_consent': "
        "text has no 'en' translation; add en: … to the text, or remove 'en' from languages")]),
    "missing_choice_translation": ({("choices", 5, "D"): None}, [(
        "choices", 5, "D", "bad.xlsx: sheet 'choices', row 5, column D (label::English (en)): question 'q_ch': "
        "option b label has no 'en' translation; add en: … to the option b label, or remove 'en' from languages")]),
    "column_typo": ({("survey", 1, "F"): "relevent"}, [(
        "survey", 1, "F", "bad.xlsx: sheet 'survey', row 1, column F (relevent): unknown column 'relevent'; did you "
        "mean 'relevant'?")]),
    "hailong_column_with_colons": ({("survey", 1, "I"): "hailong::component"}, [(
        "survey", 1, "I", "bad.xlsx: sheet 'survey', row 1, column I (hailong::component): 'hailong::component' is "
        "not a hailong column name; write hailong_component (hailong's columns use '_': XLSForm reads '::' as a "
        "language)")]),
    "text_row_in_matrix": ({("survey", 7, "A"): "text"}, [(
        "survey", 7, "A", "bad.xlsx: sheet 'survey', row 7, column A (type): group 'q_mx' is inside another group, "
        "so it is a matrix, and a matrix holds only select_one rows of one list; this row is 'text'; move the row "
        "out of the inner group, or end the outer group before the inner one")]),
    "required_not_yes_no": ({("survey", 3, "E"): "maybe"}, [(
        "survey", 3, "E", "bad.xlsx: sheet 'survey', row 3, column E (required): 'maybe' is not yes or no; write "
        "yes, or leave the cell empty for no")]),
    "group_not_closed": ({("survey", 9, "A"): None}, [(
        "survey", 2, "A", "bad.xlsx: sheet 'survey', row 2, column A (type): begin_group 's1' has no end_group; add "
        "an end_group row where the group ends")]),
    "no_form_id": ({("settings", 1, "A"): "id"}, [(
        "settings", 2, None, "bad.xlsx: sheet 'settings', row 2, column 'form_id': the settings sheet has no "
        "form_id; write the form_id under a form_id header: the questionnaire id, e.g. sipas-households")]),
    "index_kind_typo": ({("survey", 7, "H"): "satisfation"}, [(
        "survey", 7, "H", "bad.xlsx: sheet 'survey', row 7, column H (hailong_index): 'satisfation' is not an index "
        "kind; did you mean 'satisfaction'?")]),
    "duplicate_name": ({("survey", 5, "B"): "q_age"}, [(
        "survey", 5, "B", "bad.xlsx: sheet 'survey', row 5, column B (name): question 'q_age': id 'q_age' is "
        "already used by an earlier question; rename one of them: question and matrix item ids are one answer "
        "column each and must be unique in the survey")]),
    "invalid_name": ({("survey", 4, "B"): "q age"}, [(
        "survey", 4, "B", "bad.xlsx: sheet 'survey', row 4, column B (name): question 'q age': question id 'q age' "
        "is not a valid id; use letters, digits and _ only, starting with a letter, at most 40 characters (ids "
        "become analytics columns and button data)")]),
    "choice_filter_that_does_not_map": ({("survey", 1, "J"): "choice_filter",
                                         ("survey", 5, "J"): "starts-with(name, 'a')"}, [(
        "survey", 5, "J", "bad.xlsx: sheet 'survey', row 5, column J (choice_filter): the choice_filter "
        "'starts-with(name, 'a')' does not map to hailong; hailong reads only column = ${question} (one question "
        "per answer of that question); otherwise write separate questions with a relevant each")]),
    "or_other": ({("survey", 5, "A"): "select_multiple ch or_other"}, [(
        "survey", 5, "A", "bad.xlsx: sheet 'survey', row 5, column A (type): or_other does not map to hailong; add "
        "an 'other' choice and a text question with a relevant on it")]),
    "repeat": ({("survey", 6, "A"): "begin_repeat"}, [(
        "survey", 6, "A", "bad.xlsx: sheet 'survey', row 6, column A (type): repeats do not map to hailong (a chat "
        "asks each question once); ask a fixed number of questions, or one text question")]),
    "calculation": ({("survey", 1, "J"): "calculation", ("survey", 4, "J"): "1+1"}, [(
        "survey", 4, "J", "bad.xlsx: sheet 'survey', row 4, column J (calculation): the column 'calculation' does "
        "not map to hailong; hailong computes nothing in the form; derive the value in analytics")]),
    "nothing_counts_as_satisfied": ({("choices", 8, "E"): None}, [(
        "survey", 7, "H", "bad.xlsx: sheet 'survey', row 7, column H (hailong_index): matrix item 'i1': no answer "
        "value counts as satisfied for this satisfaction item; set satisfied: [4, 5] on scale 'sat' or on the index "
        "role")]),
    "count_selected": ({("survey", 4, "F"): "count-selected(${q_consent}) > 1"}, [(
        "survey", 4, "F", "bad.xlsx: sheet 'survey', row 4, column F (relevant): cannot read the condition "
        "'count-selected(${q_consent}) > 1': the function count-selected() does not map to a hailong condition "
        "(character 1); to limit ticks use the hailong_min_picks / hailong_max_picks columns")]),
    "uppercase_and": ({("survey", 4, "F"): "${q_consent} = '1' AND ${q_consent} = '0'"}, [(
        "survey", 4, "F", "bad.xlsx: sheet 'survey', row 4, column F (relevant): cannot read the condition "
        "'${q_consent} = '1' AND ${q_consent} = '0'': 'AND' must be written in lower case (character 20); write "
        "'and'")]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_workbook_fails_with_the_precise_cell_and_message(case: str) -> None:
    changes, expected = CASES[case]
    got = problems(book(edit(changes)))
    assert [(p.sheet, p.line, p.column, str(p)) for p in got] == expected


def test_every_problem_of_a_workbook_is_reported_at_once_in_sheet_order() -> None:
    changes = {}
    for case in ("type_typo", "hailong_column_with_colons", "no_form_id", "missing_translation", "calculation",
                 "index_kind_typo"):
        changes.update(CASES[case][0])
    changes[("survey", 3, "F")] = "${q_x} == '1'"   # row 4 has the type typo: break row 3's relevant
    changes[("choices", 4, "A")] = None               # a choice without its list name
    got = problems(book(edit(changes)))
    places = [(p.sheet, p.line, p.column) for p in got]
    assert places == [("settings", 2, None), ("survey", 1, "I"), ("survey", 3, "D"), ("survey", 3, "F"),
                      ("survey", 4, "A"), ("survey", 4, "J"), ("survey", 7, "H"), ("choices", 4, "A")], \
        [str(p) for p in got]
    assert "unknown type 'interger'" in str(got[4])
    assert "'==' is not an XLSForm operator" in str(got[3])
    assert "text has no 'en' translation" in str(got[2])


def test_warnings_do_not_stop_an_import() -> None:
    sheets = edit({("survey", 1, "J"): "appearance", ("survey", 3, "J"): "minimal",
                   ("survey", 1, "K"): "ghi chú", ("survey", 3, "K"): "câu mới"})
    sheets["survey"].insert(1, ["start", "start"])
    result = import_workbook(book(sheets), "warn.xlsx")
    assert [q.id for q in result.survey.questions][0] == "q_consent"
    texts = [str(w) for w in result.warnings]
    assert texts == [
        "warn.xlsx: sheet 'survey', row 1, column K (ghi chú): column 'ghi chú' is not an XLSForm column hailong "
        "reads, and is ignored",
        "warn.xlsx: sheet 'survey', row 2, column A (type): 'start' (form metadata) is skipped: hailong records "
        "every answer's time itself"]


# ---------------------------------------------------------------------------- hostile input

def _only(data: bytes) -> str:
    got = problems(data, "h.xlsx")
    assert len(got) == 1, [str(p) for p in got]
    return str(got[0])


def test_not_an_xlsx_empty_or_damaged_file() -> None:
    not_xlsx = ("h.xlsx: the file is not an Excel workbook (.xlsx); save the questionnaire in Excel as 'Excel "
                "Workbook (*.xlsx)'")
    assert _only(b"type,name,label\ntext,q1,Q1\n") == not_xlsx          # a CSV renamed .xlsx
    assert _only(b"") == "h.xlsx: the file is empty; save the questionnaire again in Excel"
    good = book(BASE)
    assert _only(good[: len(good) // 2]) == not_xlsx                       # cut in half
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")                     # a zip that claims to be Office
        z.writestr("word/document.xml", "<w/>")
    assert _only(buf.getvalue()).startswith("h.xlsx: the workbook cannot be read (")


def test_a_zip_bomb_is_refused_before_unpacking() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (workbook.MAX_UNPACKED + 1))
    assert len(buf.getvalue()) < 200_000
    t = time.perf_counter()
    message = _only(buf.getvalue())
    assert time.perf_counter() - t < 1
    assert "far more than a questionnaire" in message


def test_an_oversized_file_is_refused() -> None:
    assert "larger than any questionnaire" in _only(b"PK" + b"\0" * workbook.MAX_BYTES)


def _patch_sheet1(data: bytes, fn) -> bytes:  # noqa: ANN001
    zin = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            raw = zin.read(info.filename)
            zout.writestr(info, fn(raw) if info.filename == "xl/worksheets/sheet1.xml" else raw)
    return out.getvalue()


def test_an_xml_entity_bomb_or_broken_xml_inside_a_sheet_is_refused() -> None:
    entities = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY l0 "lol">{entities}]>'.encode()

    def with_bomb(raw: bytes) -> bytes:
        body = raw.split(b"?>", 1)[1] if raw.startswith(b"<?xml") else raw
        return bomb + body.replace("<t>Phần 1</t>".encode(), b"<t>&l9;</t>")

    def cut(raw: bytes) -> bytes:
        return raw[: raw.index(b"</sheetData>") - 40]

    for fn in (with_bomb, cut):
        t = time.perf_counter()
        message = _only(_patch_sheet1(book(BASE), fn))
        assert time.perf_counter() - t < 2
        assert message.startswith("h.xlsx: the workbook cannot be read ("), message


def test_a_sheet_that_declares_a_huge_size_is_read_as_stored() -> None:
    forged = _patch_sheet1(book(BASE), lambda b: re.sub(rb'<dimension ref="[^"]*" ?/>',
                                                         b'<dimension ref="A1:XFD1048576"/>', b))
    assert b"XFD1048576" in zipfile.ZipFile(io.BytesIO(forged)).read("xl/worksheets/sheet1.xml")
    t = time.perf_counter()
    survey = import_workbook(forged, "h.xlsx").survey
    assert time.perf_counter() - t < 5
    assert len(survey.questions) == 4


def test_text_below_a_long_run_of_empty_rows_is_not_silently_dropped() -> None:
    far = edit({("survey", 200, "A"): "text", ("survey", 200, "B"): "q_lost", ("survey", 200, "C"): "Mất?"})
    assert _only(book(far)) == ("h.xlsx: sheet 'survey', row 200: row 200 comes after 190 empty rows; XLSForm "
                                "readers stop at 60 empty rows, so it would be lost; delete the empty rows above it")


def test_formula_and_error_cells_are_refused_with_their_cells() -> None:
    sheets = edit({("survey", 3, "C"): "=HYPERLINK(\"http://x\", \"Đồng ý?\")", ("choices", 2, "C"): "=A1"})
    data = book(sheets)
    data = _patch_sheet1(data, lambda b: b.replace(b'<c r="D3" t="inlineStr"><is><t>Agree?</t></is></c>',
                                                   b'<c r="D3" t="e"><v>#REF!</v></c>'))
    got = problems(data, "h.xlsx")
    assert [(p.sheet, p.line, p.column) for p in got] == [("survey", 3, "C"), ("survey", 3, "D"), ("choices", 2, "C")]
    assert str(got[0]) == ("h.xlsx: sheet 'survey', row 3, column C (label::Vietnamese (vi)): the cell holds a "
                           "formula; a questionnaire cell must hold its text; type the text itself (a text "
                           "starting with '=' can be typed with a leading apostrophe: '=…)")
    assert "an error value (#REF!)" in str(got[1])


def test_a_sheet_with_too_many_rows_is_refused_without_reading_them_all() -> None:
    sheets = edit({})
    sheets["choices"] += [["big", str(i), "x", "x"] for i in range(workbook.MAX_ROWS + 500)]
    assert _only(book(sheets)) == (f"h.xlsx: sheet 'choices', row {workbook.MAX_ROWS + 1}: the sheet has more than "
                                   f"{workbook.MAX_ROWS} rows, far more than a questionnaire; check that this is "
                                   "the right sheet")


def test_deeply_nested_and_overlong_expressions_are_refused_not_recursed_into() -> None:
    deep = "(" * 5000 + "${q_consent} = '1'" + ")" * 5000
    nots = "not(" * 1000 + "${q_consent} = '1'" + ")" * 1000
    for text in (deep[:expressions.MAX_LENGTH], nots[:expressions.MAX_LENGTH]):
        msg = _only(book(edit({("survey", 4, "F"): text})))
        assert f"nested more than {expressions.MAX_DEPTH} levels deep" in msg, msg
    msg = _only(book(edit({("survey", 4, "F"): deep})))
    assert f"characters long (at most {expressions.MAX_LENGTH})" in msg


def test_a_workbook_without_a_survey_sheet_or_questions() -> None:
    sheets = edit({})
    sheets["questions"] = sheets.pop("survey")
    assert _only(book(sheets)) == ("h.xlsx: the workbook has no 'survey' sheet (sheets: choices, settings, "
                                   "hailong_texts, questions); name the sheet with the questions 'survey'")
    sheets = edit({})
    sheets["survey"] = sheets["survey"][:1]
    assert _only(book(sheets)) == ("h.xlsx: sheet 'survey': the survey sheet has no questions; add question rows "
                                   "under the header row")


def test_junk_in_every_cell_never_crashes() -> None:
    """Junk in the base workbook's cells: a Survey or a DefinitionError, never another error.

    Each cell gets one junk value (the list cycles over the cells), which keeps the test to a
    few seconds while every kind of junk lands in every sheet.
    """
    junk = ["", " ", "=", "${", "'", "select_one", "begin_group", "end_group", "0", "-1", "x" * 3000,
            "${q_consent} = '1' or", "yes", "🙂", "1e400", "None", "select_one yn extra", "hailong_x", "::"]
    cells = [(sheet, r, c) for sheet, rows in BASE.items() for r, row in enumerate(rows, start=1)
             for c in range(len(row))]
    for n, (sheet, r, c) in enumerate(cells):
        value = junk[n % len(junk)]
        try:
            import_workbook(book(edit({(sheet, r, chr(ord("A") + c)): value})), "junk.xlsx")
        except DefinitionError as exc:
            assert all(p.problem and p.file == "junk.xlsx" for p in exc.problems)
