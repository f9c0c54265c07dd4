"""Located cells of an XLSForm workbook: read a column by its meaning, report a problem at its cell.

The importer (:mod:`survey_defs.xlsform.importer`) asks "the label of this row in Vietnamese",
"is this row required", "the hailong_min of this row" and never deals with header spellings,
aliases (pyxform's ``relevance`` for ``relevant``), language columns or column letters: this
module resolves them once per sheet, and refuses or notes the columns it cannot use.

It also keeps the map from places in the definition (``("sections", 2, "questions", 0,
"relevant")``) to cells, so that the checks written for YAML files
(:func:`survey_defs.loader.build_survey`) report at the cell: the checks call a *locator* with
the path, it returns a key, and :meth:`CellReader.placed` turns the key back into sheet, row and
column.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from pyxform import aliases as pyxform_aliases

from survey_defs.errors import Problem
from survey_defs.schema import AnswerValue
from survey_defs.xlsform import columns as C
from survey_defs.xlsform.workbook import CHOICES, END_RULES, SETTINGS, SURVEY, TEXTS, Row, Sheet, Workbook, where_text

_SHEET_ORDER = {SETTINGS: 0, TEXTS: 1, SURVEY: 2, CHOICES: 3, END_RULES: 4, None: 5}
_INT_RE = re.compile(r"-?(?:0|[1-9]\d{0,17})")
_YES = {k for k, v in pyxform_aliases.yes_no.items() if v}
_NO = {k for k, v in pyxform_aliases.yes_no.items() if not v}

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Loc:
    """A cell (or a row, or a sheet) that a problem points at."""

    sheet: str | None          # canonical sheet name
    row: int | None = None
    header: str | None = None  # the column header as written


@dataclass(slots=True)
class Col:
    header: str
    base: str                # the column's meaning: label, relevant, hailong_min …
    lang: str | None         # language code of a translated column


class CellReader:
    """Columns resolved per sheet, typed cell values, problems and warnings with their cells."""

    def __init__(self, wb: Workbook) -> None:
        self.wb = wb
        self.file = wb.file
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.locs: list[Loc] = []
        self.paths: dict[Path_, int] = {}
        self.cols: dict[str, dict[str, Col]] = {}
        self.default_lang = "vi"
        self.languages: list[str] = []
        self.filter_columns: set[str] = set()   # choices columns a choice_filter reads

    # ------------------------------------------------------------------ problems and places

    def sheet(self, canonical: str) -> Sheet | None:
        return self.wb.sheets.get(canonical)

    def place(self, loc: Loc) -> tuple[str, str | None, str | None]:
        sh = self.sheet(loc.sheet) if loc.sheet else None
        name = sh.name if sh is not None else loc.sheet
        letter = sh.letter(loc.header) if sh is not None and loc.header else None
        return where_text(name, loc.row, letter, loc.header), name, letter

    def add(self, loc: Loc, problem: str, fix: str, item_id: str | None = None, warning: bool = False) -> None:
        where, name, letter = self.place(loc)
        p = Problem(self.file, where, problem, fix, item_id, loc.row, name, letter)
        (self.warnings if warning else self.problems).append(p)

    def at(self, path: tuple[str | int, ...], loc: Loc) -> None:
        self.paths[path] = len(self.locs)
        self.locs.append(loc)

    def locate(self, path: tuple[str | int, ...]) -> int | None:
        for n in range(len(path), -1, -1):
            key = self.paths.get(path[:n])
            if key is not None:
                return key
        return None

    def header_for(self, sheet: str, base: str, lang: str | None = None) -> str | None:
        for c in self.cols.get(sheet, {}).values():
            if c.base == base and c.lang == lang:
                return c.header
        return None

    # ------------------------------------------------------------------ columns

    def read_columns(self, canonical: str, known: tuple[str, ...], translated: tuple[str, ...]) -> None:
        sh = self.sheet(canonical)
        if sh is None:
            return
        out: dict[str, Col] = {}
        used = {h for r in sh.rows for h in r.cells}
        for col in sh.columns:
            base, lang_part = C.canonical(col.header)
            loc = Loc(canonical, 1, col.header)
            if base == "hailong" and lang_part is not None:
                self.add(loc, f"'{col.header}' is not a hailong column name",
                         f"write hailong_{lang_part.split('::')[0].strip()} (hailong's columns use '_': XLSForm "
                         "reads '::' as a language)")
                continue
            lang: str | None = None
            if lang_part is not None:
                if base not in translated:
                    if base in known or base.startswith(C.PREFIX):
                        self.add(loc, f"the column '{base}' has no languages, but is written '{col.header}'",
                                 f"write it as '{base}'")
                    elif col.header in used:
                        self.warn_unknown(canonical, col.header, base, known)
                    continue
                lang = C.language_code(lang_part)
                if lang is None:
                    self.add(loc, f"cannot read a language code in '{col.header}'",
                             f"write the language as Name (code), e.g. {C.language_header(base, 'vi')}")
                    continue
            elif base in translated:
                lang = self.default_lang
            if canonical == CHOICES and base.startswith(C.H_ALIASES + "_"):
                code = base[len(C.H_ALIASES) + 1:]
                if not C.language_code(code):
                    self.add(loc, f"cannot read a language code in '{col.header}'",
                             f"write {C.aliases_header('vi')} for Vietnamese aliases")
                    continue
                out[col.header] = Col(col.header, C.H_ALIASES, code)
                continue
            if base in C.REFUSED_COLUMNS:
                if col.header in used:
                    first = next(r for r in sh.rows if col.header in r.cells)
                    self.add(Loc(canonical, first.number, col.header),
                             f"the column '{base}' does not map to hailong", C.REFUSED_COLUMNS[base])
                continue
            if base not in known and base not in translated:
                if canonical == CHOICES and col.header in self.filter_columns:
                    continue  # read by a choice_filter
                if col.header in used:
                    self.warn_unknown(canonical, col.header, base, known + translated)
                continue
            out[col.header] = Col(col.header, base, lang)
        self.cols[canonical] = out

    def warn_unknown(self, canonical: str, header: str, base: str, known: tuple[str, ...]) -> None:
        loc = Loc(canonical, 1, header)
        close = difflib.get_close_matches(base, list(known), n=1, cutoff=0.8)
        if close:
            self.add(loc, f"unknown column '{header}'", f"did you mean '{close[0]}'?")
        elif base in C.IGNORED_COLUMNS or base.startswith(("media", "image", "audio", "video", "instance", "bind",
                                                             "body")):
            self.add(loc, f"column '{header}' is not used in a chat and is ignored", "", warning=True)
        elif base.startswith(C.PREFIX):
            close = difflib.get_close_matches(base, [c for c in known if c.startswith(C.PREFIX)], n=1, cutoff=0.6)
            self.add(loc, f"unknown hailong column '{header}'",
                     f"did you mean '{close[0]}'?" if close else "see docs/authoring.md for hailong's columns")
        else:
            self.add(loc, f"column '{header}' is not an XLSForm column hailong reads, and is ignored", "",
                     warning=True)

    def cell(self, sheet: str, row: Row, base: str, lang: str | None = None) -> str | None:
        for header, col in self.cols.get(sheet, {}).items():
            if col.base == base and col.lang == lang:
                v = row.cells.get(header)
                if v is not None and v.strip():
                    return v.strip()
        return None

    def text(self, sheet: str, row: Row, base: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for header, col in self.cols.get(sheet, {}).items():
            if col.base == base and col.lang is not None:
                v = row.cells.get(header)
                if v is not None and v.strip():
                    out[col.lang] = v.strip()
        return out

    def loc(self, sheet: str, row: Row, base: str | None = None, lang: str | None = None) -> Loc:
        if base is None:
            return Loc(sheet, row.number)
        header = self.header_for(sheet, base, lang)
        if header is None and lang is not None:
            header = self.header_for(sheet, base, None)
        if header is None:
            header = next((c.header for c in self.cols.get(sheet, {}).values() if c.base == base), None)
        return Loc(sheet, row.number, header if header is not None else base)

    def mark_text(self, path: tuple[str | int, ...], sheet: str, row: Row, base: str) -> None:
        self.at(path, self.loc(sheet, row, base))
        for lang in self.languages:
            self.at(path + (lang,), self.loc(sheet, row, base, lang))

    # ------------------------------------------------------------------ values

    def flag(self, sheet: str, row: Row, base: str, default: bool) -> bool:
        v = self.cell(sheet, row, base)
        if v is None:
            return default
        if v in _YES or v.lower() in {"yes", "true", "có", "co"}:
            return True
        if v in _NO or v.lower() in {"no", "false", "không", "khong"}:
            return False
        self.add(self.loc(sheet, row, base), f"'{v}' is not yes or no",
                 "write yes, or leave the cell empty for no" + (" (a condition cannot go here)" if "$" in v else ""))
        return default

    def integer(self, sheet: str, row: Row, base: str) -> int | None:
        v = self.cell(sheet, row, base)
        if v is None:
            return None
        if _INT_RE.fullmatch(v):
            return int(v)
        self.add(self.loc(sheet, row, base), f"'{v}' is not a whole number", "write a whole number such as 10")
        return None

    def values(self, sheet: str, row: Row, base: str) -> list[AnswerValue] | None:
        v = self.cell(sheet, row, base)
        if v is None:
            return None
        return [value_of(x) for x in v.replace(",", " ").replace(";", " ").split()]

    def placed(self, p: Problem) -> Problem:
        """A check's problem (worded for a document path) moved onto its cell."""
        loc = self.locs[p.line] if p.line is not None and 0 <= p.line < len(self.locs) else Loc(None)
        where, name, letter = self.place(loc)
        full = f"{where}: {p.where}" if where and p.where else (where or p.where)
        return Problem(p.file, full, p.problem, p.fix, p.item_id, loc.row, name, letter)


def value_of(text: str) -> AnswerValue:
    """A choice name as hailong stores it: whole numbers as numbers ("1" -> 1), codes as text."""
    text = text.strip()
    return int(text) if _INT_RE.fullmatch(text) else text


def short(text: str, limit: int = 80) -> str:
    """A cell's text cut for a message line (an expression can be 2000 characters)."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def ordered(problems: list[Problem]) -> list[Problem]:
    """Problems in the order an author fixes them: sheet by sheet, row by row, column by column."""
    def key(p: Problem) -> tuple[int, int, str]:
        canonical = next((c for c in _SHEET_ORDER if c and p.sheet and p.sheet.lower() == c), None)
        return (_SHEET_ORDER[canonical], p.line or 0, p.column or "")
    return sorted(problems, key=key)
