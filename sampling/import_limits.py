"""How big a spreadsheet hailong imports: refused early, before it is parsed.

Why: a frame or paper-entry XLSX of 1.5 million rows took 272 s and 600 MB before it was refused
row by row. A real file is far smaller: the largest province frame has about 100 000 households,
and a round samples about 6 000 (Lai Châu 2025), so a file far above that is a mistake (a whole
national list, a sheet with a million formatted empty rows) or hostile. It is refused in well
under a second, with a message that names the limit and says what to do (split the file).

Limits (per file; each can be raised by an environment variable, e.g. for a larger province):

=====================  ===========  ================================================  =====================================
limit                  default      why                                               variable
=====================  ===========  ================================================  =====================================
frame rows             200 000      twice the largest province frame                  ``HAILONG_FRAME_MAX_ROWS``
paper rows             20 000       three times a round's sample                      ``HAILONG_PAPER_MAX_ROWS``
file size              100 MB       a 200 000-row CSV frame is about 10-30 MB          ``HAILONG_IMPORT_MAX_MB``
XLSX unpacked size     256 MB       the XML inside the zip (a zip bomb is tiny)       ``HAILONG_XLSX_MAX_UNPACKED_MB``
=====================  ===========  ================================================  =====================================

Checks, cheapest first: the size on disk; for XLSX the sizes the zip directory declares (the zip
reader never inflates a member past its declared size) and the first sheet's declared
``<dimension>`` (read from the first bytes of its XML, without loading the workbook or its shared
strings); then, while reading, no more rows than the limit are ever read (a file whose dimension
is missing or forged is stopped there).
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from xml.etree import ElementTree

__all__ = ["ImportLimits", "ImportTooLarge", "Kind", "limits_for", "check_before_reading",
           "too_many_rows", "xlsx_declared_rows"]

Kind = Literal["frame", "paper"]

FRAME_MAX_ROWS = 200_000
PAPER_MAX_ROWS = 20_000
MAX_FILE_MB = 100
XLSX_MAX_UNPACKED_MB = 256

_ENV_ROWS = {"frame": "HAILONG_FRAME_MAX_ROWS", "paper": "HAILONG_PAPER_MAX_ROWS"}
_DEFAULT_ROWS = {"frame": FRAME_MAX_ROWS, "paper": PAPER_MAX_ROWS}
_WHAT = {"frame": ("danh sách khung mẫu", "frame list"), "paper": ("tệp phiếu giấy", "paper-entry file")}
_HOW = {"frame": ("ví dụ một tệp cho mỗi huyện", "e.g. one file per district"),
        "paper": ("rồi nhập từng tệp", "and import each one")}
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"\$?[A-Za-z]{1,3}\$?(\d+)(?::\$?[A-Za-z]{1,3}\$?(\d+))?\"")
_MB = 1024 * 1024


class ImportTooLarge(ValueError):
    """A file over an import limit (bilingual message naming the limit and what to do)."""


@dataclass(frozen=True, slots=True)
class ImportLimits:
    """The limits for one kind of file (see the module docstring)."""

    kind: Kind
    max_rows: int
    max_file_bytes: int
    max_unpacked_bytes: int


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{name}={raw!r} phải là số nguyên dương / must be a positive integer")
    return value


def limits_for(kind: Kind) -> ImportLimits:
    """The limits in force for ``kind`` (defaults, or the environment's overrides)."""
    return ImportLimits(kind=kind,
                        max_rows=_env_int(_ENV_ROWS[kind], _DEFAULT_ROWS[kind]),
                        max_file_bytes=_env_int("HAILONG_IMPORT_MAX_MB", MAX_FILE_MB) * _MB,
                        max_unpacked_bytes=_env_int("HAILONG_XLSX_MAX_UNPACKED_MB", XLSX_MAX_UNPACKED_MB) * _MB)


def too_many_rows(path: Path, limits: ImportLimits, rows: int | None = None) -> ImportTooLarge:
    """The refusal for a file with more data rows than ``limits.max_rows`` (``rows`` if known)."""
    what_vi, what_en = _WHAT[limits.kind]
    how_vi, how_en = _HOW[limits.kind]
    n = f"{limits.max_rows:,}"
    got_vi = f"có {rows:,} dòng" if rows is not None else f"có hơn {n} dòng"
    got_en = f"has {rows:,} rows" if rows is not None else f"has more than {n} rows"
    return ImportTooLarge(
        f"{path.name} {got_vi}, vượt giới hạn {n} dòng của một {what_vi}; hãy tách thành nhiều tệp, "
        f"mỗi tệp tối đa {n} dòng ({how_vi}), hoặc đặt {_ENV_ROWS[limits.kind]} / "
        f"{path.name} {got_en}, over the limit of {n} rows per {what_en}; split it into files of at "
        f"most {n} rows ({how_en}), or set {_ENV_ROWS[limits.kind]}")


def _too_big(path: Path, size: int, limit: int, unpacked: bool, kind: Kind) -> ImportTooLarge:
    what_vi, what_en = _WHAT[kind]
    mb, lim = f"{size / _MB:,.0f} MB", f"{limit // _MB:,} MB"
    var = "HAILONG_XLSX_MAX_UNPACKED_MB" if unpacked else "HAILONG_IMPORT_MAX_MB"
    size_vi = "khi giải nén" if unpacked else ""
    size_en = "unpacked" if unpacked else "on disk"
    return ImportTooLarge(
        f"{path.name} nặng {mb}{' ' + size_vi if size_vi else ''}, vượt giới hạn {lim} của một {what_vi}; "
        f"hãy tách thành nhiều tệp nhỏ hơn, hoặc đặt {var} / {path.name} is {mb} {size_en}, over the "
        f"limit of {lim} per {what_en}; split it into smaller files, or set {var}")


def _first_sheet_part(z: zipfile.ZipFile) -> str | None:
    """The zip member of the workbook's first sheet (the one hailong reads), or None if unclear."""
    try:
        book = ElementTree.fromstring(z.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return None
    first = next((e for e in book.iter() if e.tag.rsplit("}", 1)[-1] == "sheet"), None)
    if first is None:
        return None
    rid = next((v for k, v in first.attrib.items() if k.rsplit("}", 1)[-1] == "id"), None)
    for rel in rels.iter():
        if rel.get("Id") == rid and rel.get("Target"):
            target = rel.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return None


def xlsx_declared_rows(path: Path) -> int | None:
    """The last row of the first sheet's declared ``<dimension>`` (None when it declares none).

    Reads only the zip directory, two small XML parts and the first 64 KiB of the sheet's XML.
    """
    with zipfile.ZipFile(path) as z:
        part = _first_sheet_part(z)
        if part is None or part not in z.NameToInfo:
            return None
        with z.open(part) as fh:
            head = fh.read(64 * 1024)
    m = _DIMENSION.search(head)
    if m is None:
        return None
    return int(m.group(2) or m.group(1))


def check_before_reading(path: Path, limits: ImportLimits, header_rows: int = 1) -> None:
    """Refuse ``path`` if it is over a limit that can be seen without parsing it.

    ``header_rows`` rows of the file are not data (the header; a template's question-text row).
    Raises ImportTooLarge; a file that is not a valid zip is left to the reader's own message.
    """
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise _too_big(path, size, limits.max_file_bytes, False, limits.kind)
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return
    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(i.file_size for i in z.infolist())
        if unpacked > limits.max_unpacked_bytes:
            raise _too_big(path, unpacked, limits.max_unpacked_bytes, True, limits.kind)
        declared = xlsx_declared_rows(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, NotImplementedError):
        return  # not a readable zip: the spreadsheet reader says so in its own words
    if declared is not None and declared - header_rows > limits.max_rows:
        raise too_many_rows(path, limits, declared - header_rows)
