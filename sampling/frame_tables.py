"""Reading frame files: CSV or XLSX into a header and numbered rows, and recognising the header.

Split from :mod:`sampling.frames` because reading is about file formats (encodings, CSV dialects,
Excel's first sheet, the import limits of :mod:`sampling.import_limits`) and knows nothing of units
or households beyond the column names; :mod:`sampling.frames` validates what is read here.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sampling.collation import name_key
from sampling.import_limits import ImportLimits, check_before_reading, limits_for, too_many_rows

__all__ = ["ALIASES", "detect_kind", "frame_files", "map_header", "read_table"]

#: Column names by list kind: canonical name -> the headers (English, Vietnamese, unaccented)
#: that mean it, compared folded (``name_key``).
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "units": {
        "code": ("code", "mã", "mã đơn vị", "ma"),
        "name": ("name", "tên", "tên đơn vị", "ten"),
        "level": ("level", "cấp", "cap"),
        "parent_code": ("parent_code", "parent", "mã cấp trên", "mã cha", "ma cap tren"),
        "kind": ("kind", "loại hình", "loai hinh"),
        "admin_type": ("admin_type", "loại", "loại đơn vị hành chính", "phân loại", "loai"),
        "admin_centre": ("admin_centre", "admin_center", "trung tâm hành chính", "trung tam hanh chinh"),
        "commune_hq": ("commune_hq", "trụ sở xã", "có trụ sở xã", "tru so xa"),
        "sort_number": ("sort_number", "số thứ tự", "stt", "so thu tu"),
        "neighbour_order": ("neighbour_order", "neighbor_order", "thứ tự địa lý", "thu tu dia ly"),
        "national_survey": ("national_survey", "điều tra bộ nội vụ", "điều tra quốc gia", "dieu tra quoc gia"),
        "source": ("source", "nguồn", "nguon"),
    },
    "households": {
        "household_id": ("household_id", "mã hộ", "ma ho"),
        "village_code": ("village_code", "mã bản", "mã thôn bản", "ma ban"),
        "head_name": ("head_name", "họ tên chủ hộ", "chủ hộ", "ho ten chu ho", "chu ho"),
        "sub_hamlet": ("sub_hamlet", "phố/đội/xóm", "xóm", "đội", "điểm bản", "xom"),
        "phone": ("phone", "điện thoại", "số điện thoại", "dien thoai", "sđt"),
        "telegram_id": ("telegram_id", "telegram"),
        "zalo_id": ("zalo_id", "zalo"),
    },
    "service_users": {
        "user_id": ("user_id", "mã hồ sơ", "ma ho so"),
        "agency": ("agency", "cơ quan", "đơn vị", "co quan"),
        "field": ("field", "lĩnh vực", "linh vuc"),
        "name": ("name", "họ tên", "tên", "ho ten"),
        "address": ("address", "địa chỉ", "dia chi"),
        "phone": ("phone", "điện thoại", "số điện thoại", "dien thoai", "sđt"),
        "telegram_id": ("telegram_id", "telegram"),
        "zalo_id": ("zalo_id", "zalo"),
        "result_received": ("result_received", "đã nhận kết quả", "nhận kết quả", "da nhan ket qua"),
    },
}


def map_header(kind: str, header: Sequence[str]) -> dict[int, str]:
    """Column index -> canonical name for the columns of ``header`` that ``kind`` knows."""
    aliases = {a: canonical for canonical, names in ALIASES[kind].items() for a in names}
    mapping: dict[int, str] = {}
    for i, col in enumerate(header):
        canonical = aliases.get(name_key(col))
        if canonical and canonical not in mapping.values():
            mapping[i] = canonical
    return mapping


def detect_kind(header: Sequence[str]) -> str | None:
    """Which list a header belongs to ("units", "households", "service_users"), or None."""
    folded = {name_key(h) for h in header}

    def has(kind: str, canonical: str) -> bool:
        return any(a in folded for a in ALIASES[kind][canonical])

    if has("households", "household_id"):
        return "households"
    if has("service_users", "agency") and has("service_users", "field"):
        return "service_users"
    if has("units", "level") and has("units", "code"):
        return "units"
    return None


def _cell_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return str(value)


def read_table(path: Path, limits: ImportLimits | None = None) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the (spreadsheet row number, cells) of a CSV or XLSX file.

    Raises ValueError with a bilingual message for an unreadable file (wrong encoding, not a
    spreadsheet, empty) and ImportTooLarge (a ValueError) for a file over the frame limits
    (``sampling.import_limits``), checked before parsing and again while reading: no more than
    ``limits.max_rows`` data rows are ever read.
    """
    limits = limits or limits_for("frame")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".xlsx", ".xlsm"):
        check_before_reading(path, limits)
    if suffix == ".csv":
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"tệp không phải UTF-8 (byte lỗi ở vị trí {exc.start}); hãy lưu lại dạng "
                f"'CSV UTF-8' / file is not UTF-8 (bad byte at offset {exc.start}); "
                f"save it as 'CSV UTF-8'"
            ) from None
        sample = text[:4096]
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(io.StringIO(text, newline=""), dialect)
        try:
            rows = list(itertools.islice(reader, limits.max_rows + 2))
        except csv.Error as exc:  # e.g. a NUL byte: not a text file
            raise ValueError(f"tệp CSV hỏng ở dòng {reader.line_num}: {exc} / broken CSV file at line "
                             f"{reader.line_num}: {exc}") from None
        if len(rows) > limits.max_rows + 1:
            raise too_many_rows(path, limits)
        if not rows:
            raise ValueError("tệp rỗng / file is empty")
        header = [h.strip() for h in rows[0]]
        return header, [(i + 2, r) for i, r in enumerate(rows[1:])]
    if suffix in (".xlsx", ".xlsm"):
        # lazy: openpyxl adds ~0.3 s of import (python -X importtime), paid by .xlsx frames only
        import openpyxl

        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a bad file
            raise ValueError(
                f"không đọc được tệp Excel ({type(exc).__name__}) / cannot read the Excel file"
            ) from None
        try:
            ws = wb.worksheets[0]
            ws.reset_dimensions()  # read the rows that are there: a wrong <dimension> silently cut them
            it = ws.iter_rows(values_only=True)
            first = next(it, None)
            if first is None:
                raise ValueError("tệp rỗng / file is empty")
            header = [_cell_text(h).strip() for h in first]
            body = [(i + 2, [_cell_text(c) for c in r])
                    for i, r in enumerate(itertools.islice(it, limits.max_rows + 1))]
            if len(body) > limits.max_rows:
                raise too_many_rows(path, limits)
        finally:
            wb.close()
        return header, body
    raise ValueError(
        f"định dạng '{suffix}' không được hỗ trợ (CSV, XLSX) / "
        f"format '{suffix}' is not supported (CSV, XLSX)"
    )


def frame_files(directory: Path) -> list[Path]:
    """The CSV/XLSX files directly inside ``directory``, in name order."""
    return sorted(
        p for p in directory.iterdir()
        if p.is_file() and p.suffix.lower() in (".csv", ".xlsx", ".xlsm")
        and not p.name.startswith(("~$", "."))
    )
