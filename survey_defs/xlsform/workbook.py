"""Read an XLSForm workbook into located cells, with pyxform as the reader.

pyxform (the XLSForm reference implementation) turns the ``survey``, ``choices`` and
``settings`` sheets into rows of ``{column header: text}`` (``get_xlsform``), keeping empty
rows so that positions stay exact; hailong's own sheets (``hailong_texts``,
``hailong_end_rules``), which pyxform skips, are read with pyxform's same row and cell
functions. Every cell then carries its sheet, row and column letter, so that every problem can
point at the cell to fix.

Before pyxform sees the bytes, a guard refuses what a questionnaire never is and what a
reader should not walk into: not a zip/xlsx file, a file or an unpacked size far beyond any
questionnaire (a zip bomb), more rows than a questionnaire has, formula cells (pyxform would
read a formula's cached value, or nothing; a questionnaire cell must be the text itself),
error cells (``#REF!``), and text below a run of empty rows that pyxform stops reading at (it
would be dropped without a word). A sheet that merely *declares* a huge size is fine: rows
are walked as they are stored, not as the declared dimension says.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field

import openpyxl
from openpyxl.utils import get_column_letter
from pyxform.errors import PyXFormError
from pyxform.xls2json_backends import (
    RE_WHITESPACE,
    get_excel_column_headers,
    get_excel_rows,
    get_xlsform,
    xlsx_value_to_str,
)

from survey_defs.errors import DefinitionError, Problem

#: Largest workbook accepted (bytes). The shipped questionnaires export to about 30 KB.
MAX_BYTES = 5 * 1024 * 1024
#: Largest total unpacked size of the workbook's parts (a zip bomb unpacks to gigabytes).
MAX_UNPACKED = 60 * 1024 * 1024
#: Most rows read per sheet (the 90-step household questionnaire has about 110).
MAX_ROWS = 5000
#: Most formula / error cells listed one by one before the rest are counted.
MAX_LISTED = 10
#: pyxform stops reading a sheet after this many empty rows in a row (``get_excel_rows``).
PYXFORM_EMPTY_RUN = 60

SURVEY, CHOICES, SETTINGS = "survey", "choices", "settings"
TEXTS, END_RULES = "hailong_texts", "hailong_end_rules"
PYXFORM_SHEETS = (SURVEY, CHOICES, SETTINGS)
HAILONG_SHEETS = (TEXTS, END_RULES)


@dataclass(frozen=True, slots=True)
class Column:
    header: str     # as pyxform cleaned it (spaces collapsed)
    letter: str     # "H"


@dataclass(frozen=True, slots=True)
class Row:
    number: int                 # 1-based row in the sheet
    cells: dict[str, str]       # header -> text (empty cells absent)


@dataclass(slots=True)
class Sheet:
    name: str                   # as written in the workbook ("Survey")
    columns: list[Column] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def letter(self, header: str) -> str | None:
        for c in self.columns:
            if c.header == header:
                return c.letter
        return None


@dataclass(slots=True)
class Workbook:
    file: str
    sheets: dict[str, Sheet]    # canonical name (survey, choices, settings, hailong_*) -> sheet
    sheet_names: list[str]      # every sheet, as written


def _problem(file: str, problem: str, fix: str, sheet: str | None = None, row: int | None = None,
             letter: str | None = None, header: str | None = None) -> Problem:
    return Problem(file, where_text(sheet, row, letter, header), problem, fix, None, row, sheet, letter)


def where_text(sheet: str | None, row: int | None, letter: str | None, header: str | None) -> str:
    """``sheet 'survey', row 12, column H (relevant)``: how every workbook problem is placed."""
    parts = []
    if sheet is not None:
        parts.append(f"sheet '{sheet}'")
    if row is not None:
        parts.append(f"row {row}")
    if letter is not None:
        parts.append(f"column {letter}" + (f" ({header})" if header else ""))
    elif header is not None:
        parts.append(f"column '{header}'")
    return ", ".join(parts)


def _clean_header(value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return RE_WHITESPACE.sub(" ", str(value).strip())


def _guard_zip(data: bytes, file: str) -> None:
    not_xlsx = _problem(file, "the file is not an Excel workbook (.xlsx)",
                        "save the questionnaire in Excel as 'Excel Workbook (*.xlsx)'")
    if len(data) > MAX_BYTES:
        raise DefinitionError([_problem(file, f"the file is {len(data) // 1024} KB, larger than any questionnaire "
                                        f"(at most {MAX_BYTES // (1024 * 1024)} MB)",
                                        "remove pictures and unused sheets, or check that this is the right file")])
    if not data:
        raise DefinitionError([_problem(file, "the file is empty", "save the questionnaire again in Excel")])
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise DefinitionError([not_xlsx]) from None
    unpacked = sum(i.file_size for i in infos)
    if unpacked > MAX_UNPACKED or len(infos) > 2000:
        raise DefinitionError([_problem(file, f"the workbook unpacks to {unpacked // (1024 * 1024)} MB in "
                                        f"{len(infos)} parts, far more than a questionnaire",
                                        "save only the survey, choices and settings sheets in a new workbook")])
    if not any(i.filename == "[Content_Types].xml" for i in infos):
        raise DefinitionError([not_xlsx])


def _find(names: list[str], canonical: str) -> str | None:
    for n in names:
        if n.lower() == canonical:
            return n
    return None


def _scan(ws, sheet_name: str, file: str, problems: list[Problem]) -> list[Column]:  # noqa: ANN001
    """Headers with their letters; refuse formulas, errors, too many rows, text pyxform would drop."""
    first = next(ws.iter_rows(min_row=1, max_row=1), ())
    headers: list[str | None] = []
    empty_run = 0
    for cell in first:  # as pyxform's get_excel_column_headers: stop after a run of empty headers
        h = _clean_header(cell.value)
        headers.append(h)
        empty_run = empty_run + 1 if h is None else 0
        if empty_run > 20:
            break
    while headers and headers[-1] is None:
        headers.pop()
    columns: list[Column] = []
    seen: dict[str, str] = {}
    for k, h in enumerate(headers):
        if h is None:
            continue
        letter = get_column_letter(k + 1)
        if h in seen:
            problems.append(_problem(file, f"the column header '{h}' is written twice (columns {seen[h]} and "
                                     f"{letter})", "keep one of them", sheet_name, 1, letter, h))
            continue
        seen[h] = letter
        columns.append(Column(h, letter))
    width = max(len(headers), 1)
    listed = counted = 0
    rows = empty_run = 0
    for n, row in enumerate(ws.iter_rows(min_row=1, max_col=width), start=1):
        filled = False
        for k, cell in enumerate(row):
            value = getattr(cell, "value", None)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            filled = True
            kind = getattr(cell, "data_type", None)
            if kind in ("f", "e"):
                counted += 1
                if listed < MAX_LISTED:
                    listed += 1
                    letter = get_column_letter(k + 1)
                    what = "a formula" if kind == "f" else f"an error value ({value})"
                    problems.append(_problem(
                        file, f"the cell holds {what}; a questionnaire cell must hold its text",
                        "type the text itself (a text starting with '=' can be typed with a leading apostrophe: '=…)",
                        sheet_name, n, letter, headers[k] if k < len(headers) else None))
        if not filled:
            empty_run += 1
            continue
        if n > 1 and empty_run > PYXFORM_EMPTY_RUN:
            problems.append(_problem(file, f"row {n} comes after {empty_run} empty rows; XLSForm readers stop "
                                     f"at {PYXFORM_EMPTY_RUN} empty rows, so it would be lost",
                                     "delete the empty rows above it", sheet_name, n))
            break
        empty_run = 0
        rows += 1
        if rows > MAX_ROWS:
            problems.append(_problem(file, f"the sheet has more than {MAX_ROWS} rows, far more than a questionnaire",
                                     "check that this is the right sheet", sheet_name, n))
            break
    if counted > listed:
        problems.append(_problem(file, f"{counted - listed} more formula or error cells",
                                 "type the texts themselves", sheet_name))
    return columns


def _rows(records: list[dict[str, str]]) -> list[Row]:
    """pyxform's row dicts (first data row is sheet row 2; empty rows are kept as {})."""
    return [Row(i + 2, {k: v for k, v in r.items() if v is not None and v != ""}) for i, r in enumerate(records)]


def _cell_text(cell, _row_n: int, _key: str) -> str | None:  # noqa: ANN001 - pyxform's cell function shape
    value = cell.value
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
    return None if value is None else xlsx_value_to_str(value)


def _unreadable(file: str, exc: BaseException) -> DefinitionError:
    return DefinitionError([_problem(file, f"the workbook cannot be read ({type(exc).__name__})",
                                     "open it in Excel and save it again as .xlsx")])


def read_workbook(data: bytes, file: str) -> Workbook:
    """Located rows of every sheet hailong reads; raises :class:`DefinitionError` for an unusable file."""
    _guard_zip(data, file)
    problems: list[Problem] = []
    # openpyxl and pyxform raise many types for a damaged part (bad XML, an XML entity bomb that
    # defusedxml stops, a missing part): at this boundary each is "cannot be read", never a traceback.
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False, keep_links=False)
    except Exception as exc:  # noqa: BLE001
        raise _unreadable(file, exc) from None
    try:
        names = list(wb.sheetnames)
        located: dict[str, str] = {}
        for canonical in (*PYXFORM_SHEETS, *HAILONG_SHEETS):
            found = _find(names, canonical)
            if found is not None:
                located[canonical] = found
        if SURVEY not in located and len(names) == 1:
            located[SURVEY] = names[0]  # pyxform reads a lone sheet as the survey
        columns = {c: _scan(wb[n], n, file, problems) for c, n in located.items()}
        extra_rows: dict[str, list[Row]] = {}
        if not problems:
            for canonical in HAILONG_SHEETS:
                if canonical in located:
                    ws = wb[located[canonical]]
                    first = next(ws.iter_rows(max_row=1), ())
                    headers = get_excel_column_headers(_clean_header(c.value) for c in first)
                    rows = get_excel_rows(headers, ws.iter_rows(min_row=2, max_col=max(len(headers), 1)), _cell_text)
                    extra_rows[canonical] = _rows(rows)
    except Exception as exc:  # noqa: BLE001
        raise _unreadable(file, exc) from None
    finally:
        wb.close()
    if SURVEY not in located:
        problems.append(_problem(file, f"the workbook has no 'survey' sheet (sheets: {', '.join(names)})",
                                 "name the sheet with the questions 'survey'"))
    if problems:
        raise DefinitionError(problems)
    try:
        book = get_xlsform(data, file_type=".xlsx")
    except PyXFormError as exc:
        raise DefinitionError([_problem(file, f"the XLSForm reader refused the workbook: {exc}",
                                        "open it in Excel and save it again as .xlsx")]) from None
    except Exception as exc:  # noqa: BLE001
        raise _unreadable(file, exc) from None
    sheets: dict[str, Sheet] = {}
    for canonical, name in located.items():
        if canonical in HAILONG_SHEETS:
            rows = extra_rows[canonical]
        else:
            rows = _rows(list(getattr(book, canonical) or []))
        sheets[canonical] = Sheet(name, columns[canonical], rows)
    return Workbook(file, sheets, names)
