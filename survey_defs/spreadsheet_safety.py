"""No text we write into a spreadsheet ever becomes a live formula (CSV / formula injection).

Why: frames, contact lists and citizens' free-text answers are written out as CSV and XLSX for
staff to open in Excel or LibreOffice. A household head "named" ``=cmd|' /C calc'!A0`` (or a text
answer ``=HYPERLINK(…)``) would otherwise run as a formula on a Home Affairs computer. Every CSV
and XLSX writer of hailong goes through this module, so the rule exists once.

The rule (OWASP, "CSV Injection"): a text cell is *formula-like* when it starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return. Two exceptions keep data intact:

- numbers are never touched: an ``int``/``float`` (``-5``) is written as a number;
- a text that is exactly a plain decimal number (``"-5"``, ``"+3.25"``, ``"+84912345678"``) is
  left alone: a spreadsheet reads it as that number, and a number cannot call anything.
  ``"-5 điểm"`` or ``"+84 91 234"`` are formula-like and neutralised.

How a formula-like cell is neutralised:

- CSV: OWASP's rule, a leading apostrophe (``'=cmd…``); Excel and LibreOffice show the text.
- XLSX: every workbook is created with ``strings_to_formulas`` off (xlsxwriter and pandas would
  otherwise turn any string starting with ``=`` into a formula), and the cell is written as text
  with Excel's quote-prefix flag, the apostrophe Excel itself adds when someone types ``'=…``: the
  text shows exactly as written and stays text when the cell is edited.

pandas is never imported here (the CLI starts without it); DataFrames are handled by duck typing.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FORMULA_TRIGGERS",
    "XLSX_OPTIONS",
    "XLSX_ENGINE_KWARGS",
    "SafeWorkbook",
    "is_formula_like",
    "neutralise",
    "neutralised_row",
    "neutralised_frame",
    "safe_csv_writer",
    "SafeDictWriter",
    "write_frame_sheet",
]

#: First characters that make a spreadsheet treat a cell as a formula (OWASP).
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")

#: A text that is exactly a plain decimal number (optional sign, digits, optional fraction and
#: exponent): harmless, and kept as written so that numbers stay numbers.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

#: xlsxwriter workbook options for every XLSX hailong writes: no string ever becomes a formula.
XLSX_OPTIONS: dict[str, Any] = {"strings_to_formulas": False}
#: The same for ``pd.ExcelWriter(..., engine="xlsxwriter", engine_kwargs=XLSX_ENGINE_KWARGS)``.
XLSX_ENGINE_KWARGS: dict[str, Any] = {"options": XLSX_OPTIONS}


def is_formula_like(value: object) -> bool:
    """True for a text cell that a spreadsheet could run as a formula (see the module docstring)."""
    return (isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)
            and _PLAIN_NUMBER.fullmatch(value) is None)


def neutralise(value: Any) -> Any:
    """The value to put in a CSV cell: formula-like text gets OWASP's leading apostrophe."""
    return "'" + value if is_formula_like(value) else value


def neutralised_row(row: Iterable[Any]) -> list[Any]:
    """A CSV row with every cell neutralised."""
    return [neutralise(v) for v in row]


class _SafeWriter:
    """``csv.writer`` whose every cell goes through :func:`neutralise`."""

    def __init__(self, fh: IO[str], **fmtparams: Any) -> None:
        self._w = csv.writer(fh, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._w.writerow(neutralised_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        self._w.writerows(neutralised_row(r) for r in rows)


def safe_csv_writer(fh: IO[str], **fmtparams: Any) -> _SafeWriter:
    """A ``csv.writer`` replacement that neutralises formula-like cells (header included)."""
    return _SafeWriter(fh, **fmtparams)


class SafeDictWriter(csv.DictWriter):
    """``csv.DictWriter`` that neutralises formula-like cells (header included)."""

    def writeheader(self) -> Any:
        return self.writer.writerow(neutralised_row(self.fieldnames))

    def _dict_to_list(self, rowdict: Mapping[str, Any]) -> Any:  # used by writerow and writerows
        return neutralised_row(super()._dict_to_list(rowdict))


def _is_text_column(dtype: Any) -> bool:
    """Columns that may hold text: object, string and categorical (numbers/dates/bools never do)."""
    return getattr(dtype, "kind", "O") not in "biufcmM"


def neutralised_frame(df: "pd.DataFrame") -> "pd.DataFrame":
    """A copy of ``df`` for ``to_csv``: formula-like text cells and column names neutralised."""
    out = df.copy()
    for c in out.columns:
        if _is_text_column(out[c].dtype):
            col = out[c]
            if getattr(col.dtype, "name", "") == "category":
                col = col.astype(object)
            out[c] = col.map(neutralise)
    out.columns = [neutralise(c) for c in out.columns]
    return out


class SafeWorkbook(xlsxwriter.Workbook):
    """An xlsxwriter workbook that never writes a string as a formula; formula-like text cells
    written with :meth:`write_row` are quote-prefixed text (keeping the row's format)."""

    def __init__(self, filename: Any, options: Mapping[str, Any] | None = None) -> None:
        self._props: dict[int, dict[str, Any]] = {}  # format -> its properties (formats live as long)
        super().__init__(filename, {**(options or {}), **XLSX_OPTIONS})
        self._quoted: dict[int | None, Format] = {None: super().add_format({"quote_prefix": True})}

    def add_format(self, properties: Mapping[str, Any] | None = None) -> Format:
        fmt = super().add_format(dict(properties or {}))
        self._props[id(fmt)] = dict(properties or {})
        return fmt

    def _quoted_format(self, cell_format: Format | None) -> Format:
        key = None if cell_format is None else id(cell_format)
        if key not in self._quoted:
            self._quoted[key] = super().add_format({**self._props.get(key or 0, {}), "quote_prefix": True})
        return self._quoted[key]

    def write_row(self, ws: Worksheet, row: int, col: int, values: Sequence[Any],
                  cell_format: Format | None = None) -> None:
        """Like ``ws.write_row``; formula-like texts are written as quote-prefixed text."""
        for j, v in enumerate(values):
            if is_formula_like(v):
                ws.write_string(row, col + j, v, self._quoted_format(cell_format))
            else:
                ws.write(row, col + j, v, cell_format)


def write_frame_sheet(xw: "pd.ExcelWriter", df: "pd.DataFrame", sheet_name: str,
                      startrow: int = 0) -> Worksheet:
    """``df.to_excel(xw, sheet_name, index=False)`` with formula-like text cells quote-prefixed.

    ``xw`` must be a ``pd.ExcelWriter(..., engine="xlsxwriter", engine_kwargs=XLSX_ENGINE_KWARGS)``
    (checked: without it pandas writes ``=…`` strings as formulas). pandas writes the cells, then
    the formula-like ones are rewritten as text with the quote-prefix flag (xlsxwriter keeps the
    last write of a cell).
    """
    book = xw.book
    if getattr(book, "strings_to_formulas", True):
        raise ValueError("the ExcelWriter must be created with engine_kwargs=XLSX_ENGINE_KWARGS")
    df.to_excel(xw, sheet_name=sheet_name, index=False, startrow=startrow)
    ws = xw.sheets[sheet_name]
    quoted = book.add_format({"quote_prefix": True})
    for j, name in enumerate(df.columns):
        if is_formula_like(name):
            ws.write_string(startrow, j, name, quoted)
        col = df.iloc[:, j]
        if not _is_text_column(col.dtype):
            continue
        for i, v in enumerate(col.tolist(), start=startrow + 1):
            if is_formula_like(v):
                ws.write_string(i, j, v, quoted)
    return ws
