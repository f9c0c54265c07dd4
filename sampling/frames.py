"""Sampling frames (khung chọn mẫu): administrative units, household lists and service-user lists.

Communes and districts send Home Affairs their lists as spreadsheets (the 2024 plan's appendices
01–03: communes, villages, households). This module reads them from CSV (UTF-8, with or without
the BOM Excel writes) or XLSX (first worksheet), validates every row and every cross-reference,
and returns either a complete :class:`Frame` or the full list of problems — never a partial frame.
A frame half-imported would silently shift "the 2nd in the list", so all-or-nothing is the rule.

Which list a file holds is recognised from its header: a ``level`` column means units, a
``household_id`` column households, an ``agency`` + ``field`` pair service users. Headers may be
in English (the canonical names below) or Vietnamese (see ``_ALIASES``); unknown extra columns
(e.g. "Ghi chú") are ignored.

Units (one file may hold every level; rows in any order):
    code, name, level (province|district|commune|village, or tỉnh|huyện|thành phố|xã|phường|
    thị trấn|bản|thôn|tổ dân phố), parent_code, kind (free text: "phường", "bản"…),
    admin_type (I|II|III, for communes), admin_centre (the commune that is its district's
    administrative centre), commune_hq (the village holding the commune People's Committee),
    sort_number (an official list position; optional), neighbour_order (position along the
    geography inside the commune, used to find the neighbouring village for top-ups),
    national_survey (the village was already drawn by the Ministry's national survey, 2025),
    source (where the name comes from; informational).
Households: household_id, village_code, head_name, sub_hamlet (phố/đội/xóm/điểm bản; blank when
    the village has none), phone, telegram_id, zalo_id (all optional).
Service users (2021 survey): user_id (e.g. the dossier number), agency, field, name, address,
    phone, telegram_id, zalo_id (optional), result_received (đã nhận kết quả: có/không; the plan
    surveys only people who received their result).

Errors name the file, the spreadsheet row (the header is row 1) and the column as written in the
file, with a reason in Vietnamese and English. A file over the import limits
(``sampling.import_limits``: rows, size on disk, XLSX unpacked size) is refused before it is
parsed, and never more rows than the limit are read.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from sampling.collation import name_key, normalize_name, vi_sort_key
from sampling.import_limits import ImportLimits, check_before_reading, limits_for, too_many_rows

__all__ = [
    "Level",
    "UnitRow",
    "HouseholdRow",
    "ServiceUserRow",
    "RowError",
    "Frame",
    "FrameImport",
    "FrameError",
    "load_frame",
    "load_frame_dir",
    "frame_files",
    "read_table",
    "normalize_name",
    "normalize_phone",
]

Level = Literal["province", "district", "commune", "village"]
LEVEL_RANK: dict[str, int] = {"province": 0, "district": 1, "commune": 2, "village": 3}


# --------------------------------------------------------------------------------------------
# Value parsers (raise ValueError with a bilingual reason)
# --------------------------------------------------------------------------------------------

_TRUE = {"1", "true", "yes", "y", "x", "có", "co", "c", "đúng", "dung", "v", "✓", "✔"}
_FALSE = {"", "0", "false", "no", "n", "không", "khong", "k", "sai", "-"}


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = name_key(str(value or ""))
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(
        f"'{value}' không phải có/không (1/0, x) / '{value}' is not a yes/no value (1/0, x)"
    )


_LEVELS: dict[str, str] = {
    "province": "province", "tỉnh": "province", "tinh": "province",
    "district": "district", "huyện": "district", "huyen": "district", "thành phố": "district",
    "thị xã": "district",
    "commune": "commune", "xã": "commune", "xa": "commune", "phường": "commune",
    "thị trấn": "commune", "ward": "commune", "town": "commune",
    "village": "village", "bản": "village", "ban": "village", "thôn": "village",
    "tổ dân phố": "village", "khu phố": "village", "xóm": "village", "hamlet": "village",
}

_TYPES: dict[str, str] = {
    "i": "I", "1": "I", "loại i": "I", "loại 1": "I",
    "ii": "II", "2": "II", "loại ii": "II", "loại 2": "II",
    "iii": "III", "3": "III", "loại iii": "III", "loại 3": "III",
}


def normalize_phone(value: str) -> str:
    """A Vietnamese mobile number in E.164 (``+84…``), or ValueError.

    Accepts spaces, dots and dashes, the ``0`` trunk prefix, ``84``/``+84``, and a number that
    lost its leading 0 because a spreadsheet stored it as a number (9 digits starting 3/5/7/8/9).
    """
    digits = re.sub(r"[\s.\-()]", "", value)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    elif len(digits) == 9 and digits[:1] in "35789":
        digits = "0" + digits
    if not re.fullmatch(r"0[35789]\d{8}", digits):
        raise ValueError(
            f"'{value}' không phải số di động Việt Nam (10 số, bắt đầu 03/05/07/08/09) / "
            f"'{value}' is not a Vietnamese mobile number (10 digits starting 03/05/07/08/09)"
        )
    return "+84" + digits[1:]


# --------------------------------------------------------------------------------------------
# Row models
# --------------------------------------------------------------------------------------------


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    origin: str = ""  # "file:row", for messages; not data


def _required_text(v: Any) -> str:
    """A required text cell; spreadsheets turn codes like 12 into 12.0, so those come back as "12"."""
    if isinstance(v, float) and v.is_integer():
        v = str(int(v))
    text = _opt_text(v)
    if not text:
        raise ValueError("thiếu giá trị bắt buộc / required value missing")
    return text


def _contact_text(v: Any) -> str | None:
    """A contact cell as typed: spreadsheets turn 912345678 into 912345678.0; blank means none."""
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = str(int(v))
    return str(v).strip() or None


def _opt_text(value: Any) -> str | None:
    if value is None:
        return None
    text = normalize_name(str(value))
    return text or None


class UnitRow(_Row):
    """One administrative unit: province, district/city, commune/ward/town, village/residential group."""

    code: str
    name: str
    level: Level
    parent_code: str | None = None
    kind: str | None = None
    admin_type: Literal["I", "II", "III"] | None = None
    admin_centre: bool = False
    commune_hq: bool = False
    sort_number: int | None = None
    neighbour_order: int | None = None
    national_survey: bool = False
    source: str | None = None

    @field_validator("code", "name", mode="before")
    @classmethod
    def _required_text(cls, v: Any) -> str:
        text = _opt_text(v)
        if not text:
            raise ValueError("thiếu giá trị bắt buộc / required value missing")
        return text

    @field_validator("parent_code", "kind", "source", mode="before")
    @classmethod
    def _text(cls, v: Any) -> str | None:
        return _opt_text(v)

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, v: Any) -> str:
        text = name_key(str(v or ""))
        if not text:
            raise ValueError("thiếu giá trị bắt buộc / required value missing")
        if text not in _LEVELS:
            raise ValueError(
                f"cấp '{v}' không hợp lệ (tỉnh/huyện/xã/bản) / "
                f"level '{v}' is not one of province, district, commune, village"
            )
        return _LEVELS[text]

    @field_validator("admin_type", mode="before")
    @classmethod
    def _admin_type(cls, v: Any) -> str | None:
        text = name_key(str(v if v is not None else ""))
        if not text:
            return None
        if text not in _TYPES:
            raise ValueError(
                f"loại đơn vị hành chính '{v}' không hợp lệ (I, II, III) / "
                f"administrative type '{v}' is not I, II or III"
            )
        return _TYPES[text]

    @field_validator("admin_centre", "commune_hq", "national_survey", mode="before")
    @classmethod
    def _bool(cls, v: Any) -> bool:
        return _parse_bool(v)

    @field_validator("sort_number", "neighbour_order", mode="before")
    @classmethod
    def _int(cls, v: Any) -> int | None:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if isinstance(v, float) and v.is_integer():
            return int(v)
        try:
            return int(str(v).strip())
        except ValueError:
            raise ValueError(f"'{v}' không phải số nguyên / '{v}' is not a whole number") from None

    @property
    def display_name(self) -> str:
        """Name with its kind, as in official lists ("Phường Tân Phong", "Bản Nà Lại")."""
        if self.kind and not name_key(self.name).startswith(name_key(self.kind)):
            return f"{self.kind[:1].upper()}{self.kind[1:]} {self.name}"
        return self.name


class _ContactMixin(_Row):
    phone: str | None = None
    telegram_id: str | None = None
    zalo_id: str | None = None

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, v: Any) -> str | None:
        text = _contact_text(v)
        return normalize_phone(text) if text else None

    @field_validator("telegram_id", mode="before")
    @classmethod
    def _telegram(cls, v: Any) -> str | None:
        text = _contact_text(v)
        if text is None:
            return None
        if re.fullmatch(r"\d{3,20}", text) or re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{4,31}", text):
            return text
        raise ValueError(
            f"'{text}' không phải mã Telegram (số) hay tên @username / "
            f"'{text}' is not a Telegram numeric id or @username"
        )

    @field_validator("zalo_id", mode="before")
    @classmethod
    def _zalo(cls, v: Any) -> str | None:
        text = _contact_text(v)
        if text is None:
            return None
        if re.fullmatch(r"[0-9A-Za-z_.\-]{3,40}", text):
            return text
        raise ValueError(f"'{text}' không phải mã Zalo hợp lệ / '{text}' is not a valid Zalo id")


class HouseholdRow(_ContactMixin):
    """One household (hộ gia đình) of a village's list; the head represents the household."""

    household_id: str
    village_code: str
    head_name: str
    sub_hamlet: str = ""

    @field_validator("household_id", "village_code", "head_name", mode="before")
    @classmethod
    def _required_text(cls, v: Any) -> str:
        return _required_text(v)

    @field_validator("sub_hamlet", mode="before")
    @classmethod
    def _sub(cls, v: Any) -> str:
        return _opt_text(v) or ""


class ServiceUserRow(_ContactMixin):
    """A person or organisation that used an administrative service (2021 service survey).

    ``result_received``: whether they have received the result of their procedure (the 2021
    plan surveys only those who "đã trực tiếp giao dịch và nhận kết quả"); None when the list
    does not say.
    """

    user_id: str
    agency: str
    field: str
    name: str
    address: str | None = None
    result_received: bool | None = None

    @field_validator("result_received", mode="before")
    @classmethod
    def _received(cls, v: Any) -> bool | None:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        return _parse_bool(v)

    @field_validator("user_id", "agency", "field", "name", mode="before")
    @classmethod
    def _required_text(cls, v: Any) -> str:
        return _required_text(v)

    @field_validator("address", mode="before")
    @classmethod
    def _addr(cls, v: Any) -> str | None:
        return _opt_text(v)


# --------------------------------------------------------------------------------------------
# Header mapping
# --------------------------------------------------------------------------------------------

_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
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
_REQUIRED: dict[str, tuple[str, ...]] = {
    "units": ("code", "name", "level"),
    "households": ("household_id", "village_code", "head_name"),
    "service_users": ("user_id", "agency", "field", "name"),
}
_MODELS: dict[str, type[_Row]] = {
    "units": UnitRow,
    "households": HouseholdRow,
    "service_users": ServiceUserRow,
}
_KIND_LABEL = {
    "units": "danh sách đơn vị / units",
    "households": "danh sách hộ / households",
    "service_users": "danh sách người dùng dịch vụ / service users",
}


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in an input file: where it is and why, in Vietnamese and English."""

    file: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", dòng/row {self.row}"
        if self.column:
            where += f", cột/column '{self.column}'"
        return f"{where}: {self.reason}"


class FrameError(Exception):
    """Raised by :func:`Frame.require` style helpers and the CLI: the frame is unusable."""

    def __init__(self, errors: Sequence[RowError]):
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


def _map_header(kind: str, header: Sequence[str]) -> dict[int, str]:
    aliases = {a: canonical for canonical, names in _ALIASES[kind].items() for a in names}
    mapping: dict[int, str] = {}
    for i, col in enumerate(header):
        canonical = aliases.get(name_key(col))
        if canonical and canonical not in mapping.values():
            mapping[i] = canonical
    return mapping


def _detect_kind(header: Sequence[str]) -> str | None:
    folded = {name_key(h) for h in header}

    def has(kind: str, canonical: str) -> bool:
        return any(a in folded for a in _ALIASES[kind][canonical])

    if has("households", "household_id"):
        return "households"
    if has("service_users", "agency") and has("service_users", "field"):
        return "service_users"
    if has("units", "level") and has("units", "code"):
        return "units"
    return None


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The frame
# --------------------------------------------------------------------------------------------


@dataclass
class Frame:
    """A validated frame: units by code, households and service users, with lookups."""

    units: dict[str, UnitRow] = field(default_factory=dict)
    households: list[HouseholdRow] = field(default_factory=list)
    service_users: list[ServiceUserRow] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._children: dict[str | None, list[UnitRow]] = defaultdict(list)
        for unit in self.units.values():
            self._children[unit.parent_code].append(unit)
        for kids in self._children.values():
            kids.sort(key=lambda u: (vi_sort_key(u.name), vi_sort_key(u.kind or ""), u.code))
        self._households: dict[str, list[HouseholdRow]] = defaultdict(list)
        for hh in self.households:
            self._households[hh.village_code].append(hh)
        self._household_by_id = {hh.household_id: hh for hh in self.households}

    def unit(self, code: str) -> UnitRow:
        return self.units[code]

    def children(self, code: str | None, level: str | None = None) -> list[UnitRow]:
        """Children of a unit in Vietnamese alphabetical order of their names."""
        kids = self._children.get(code, [])
        return [u for u in kids if level is None or u.level == level]

    def at_level(self, level: str) -> list[UnitRow]:
        return sorted(
            (u for u in self.units.values() if u.level == level),
            key=lambda u: (vi_sort_key(u.name), u.code),
        )

    def households_of(self, village_code: str) -> list[HouseholdRow]:
        return list(self._households.get(village_code, ()))

    def household(self, household_id: str) -> HouseholdRow | None:
        return self._household_by_id.get(household_id)

    def ancestors(self, code: str) -> list[UnitRow]:
        """The unit's parents, nearest first."""
        out: list[UnitRow] = []
        unit = self.units.get(code)
        seen = set()
        while unit is not None and unit.parent_code and unit.parent_code not in seen:
            seen.add(unit.parent_code)
            unit = self.units.get(unit.parent_code)
            if unit is not None:
                out.append(unit)
        return out

    def find_units(self, text: str) -> list[UnitRow]:
        """Units whose code equals ``text`` or whose name or display name matches it (folded)."""
        if text in self.units:
            return [self.units[text]]
        folded = name_key(text)
        return [
            u for u in self.units.values()
            if name_key(u.name) == folded or name_key(u.display_name) == folded
        ]


@dataclass
class FrameImport:
    """The outcome of an import: a frame when there is no error, otherwise only the errors."""

    frame: Frame | None
    errors: list[RowError]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.frame is not None and not self.errors


def _field_column(mapping: Mapping[int, str], header: Sequence[str], canonical: str) -> str:
    for i, c in mapping.items():
        if c == canonical:
            return header[i]
    return canonical


def _parse_file(
    path: Path, errors: list[RowError], columns: dict[str, dict[str, str]]
) -> tuple[str | None, list[_Row]]:
    name = str(path)
    try:
        header, body = read_table(path)
    except (OSError, ValueError) as exc:
        errors.append(RowError(name, None, None, str(exc)))
        return None, []
    kind = _detect_kind(header)
    if kind is None:
        errors.append(RowError(
            name, 1, None,
            "không nhận ra loại danh sách: cần cột 'code'+'level' (đơn vị), 'household_id' (hộ) "
            "hoặc 'agency'+'field' (người dùng dịch vụ) / unrecognised list: needs columns "
            "'code'+'level' (units), 'household_id' (households) or 'agency'+'field' "
            "(service users)",
        ))
        return None, []
    mapping = _map_header(kind, header)
    columns[name] = {canonical: header[i] for i, canonical in mapping.items()}
    missing = [c for c in _REQUIRED[kind] if c not in mapping.values()]
    for col in missing:
        errors.append(RowError(name, 1, col, "thiếu cột bắt buộc / required column missing"))
    if missing:
        return kind, []
    model = _MODELS[kind]
    rows: list[_Row] = []
    for rownum, cells in body:
        if not any(str(c).strip() for c in cells):
            continue  # blank line
        data: dict[str, Any] = {}
        for i, canonical in mapping.items():
            data[canonical] = cells[i] if i < len(cells) else ""
        data["origin"] = f"{path}:{rownum}"
        try:
            rows.append(model.model_validate(data))
        except ValidationError as exc:
            for err in exc.errors():
                field_name = str(err["loc"][0]) if err["loc"] else None
                column = _field_column(mapping, header, field_name) if field_name else None
                msg = str(err.get("ctx", {}).get("error") or err["msg"])
                if msg.startswith("Value error, "):
                    msg = msg[len("Value error, "):]
                if err["type"] == "literal_error":
                    msg = f"giá trị '{err.get('input')}' không hợp lệ / invalid value: {err['msg']}"
                errors.append(RowError(name, rownum, column, msg))
    return kind, rows


def load_frame(
    paths: Iterable[Path | str],
    *,
    known_units: Mapping[str, UnitRow] | None = None,
) -> FrameImport:
    """Read, validate and cross-check the given files; all or nothing.

    ``known_units`` are units already stored (e.g. in the database) that household rows and unit
    parents may refer to, for importing a household list on its own.
    """
    errors: list[RowError] = []
    units: list[UnitRow] = []
    households: list[HouseholdRow] = []
    users: list[ServiceUserRow] = []
    sources: list[str] = []
    columns: dict[str, dict[str, str]] = {}
    for p in paths:
        path = Path(p)
        sources.append(str(path))
        kind, rows = _parse_file(path, errors, columns)
        if kind == "units":
            units.extend(rows)  # type: ignore[arg-type]
        elif kind == "households":
            households.extend(rows)  # type: ignore[arg-type]
        elif kind == "service_users":
            users.extend(rows)  # type: ignore[arg-type]
    if not sources:
        errors.append(RowError("(không có tệp / no file)", None, None,
                               "không có tệp nào để nạp / no file to import"))

    by_code: dict[str, UnitRow] = dict(known_units or {})
    own: dict[str, UnitRow] = {}

    def where(row: _Row) -> tuple[str, int | None]:
        f, _, r = row.origin.rpartition(":")
        return f, int(r) if r.isdigit() else None

    for u in units:
        if u.code in own:
            f, r = where(u)
            errors.append(RowError(f, r, "code", f"mã '{u.code}' trùng với dòng {own[u.code].origin} / "
                                                f"code '{u.code}' duplicates {own[u.code].origin}"))
            continue
        own[u.code] = u
    by_code.update(own)

    hq_seen: dict[str, UnitRow] = {}
    centre_seen: dict[str, UnitRow] = {}
    for u in own.values():
        f, r = where(u)
        parent = by_code.get(u.parent_code) if u.parent_code else None
        if u.level == "province":
            if u.parent_code:
                errors.append(RowError(f, r, "parent_code", "tỉnh không có cấp trên / a province has no parent"))
        elif not u.parent_code:
            errors.append(RowError(f, r, "parent_code", "thiếu mã cấp trên / parent code missing"))
        elif parent is None:
            errors.append(RowError(f, r, "parent_code",
                                   f"không có đơn vị mã '{u.parent_code}' / no unit with code '{u.parent_code}'"))
        else:
            allowed = {"district": {"province"}, "commune": {"district", "province"},
                       "village": {"commune"}}[u.level]
            if parent.level not in allowed:
                errors.append(RowError(
                    f, r, "parent_code",
                    f"đơn vị cấp {u.level} không thể thuộc đơn vị cấp {parent.level} "
                    f"('{parent.code}') / a {u.level} cannot belong to a {parent.level} ('{parent.code}')"))
        if u.admin_type and u.level != "commune":
            errors.append(RowError(f, r, "admin_type",
                                   "loại đơn vị hành chính chỉ dùng cho cấp xã / admin type applies to communes only"))
        if u.admin_centre:
            if u.level != "commune":
                errors.append(RowError(f, r, "admin_centre",
                                       "chỉ một xã/phường/thị trấn mới là trung tâm hành chính / "
                                       "only a commune can be the administrative centre"))
            elif u.parent_code:
                if u.parent_code in centre_seen:
                    errors.append(RowError(
                        f, r, "admin_centre",
                        f"đã có trung tâm hành chính khác ({centre_seen[u.parent_code].origin}) / "
                        f"another administrative centre already flagged ({centre_seen[u.parent_code].origin})"))
                else:
                    centre_seen[u.parent_code] = u
        if u.commune_hq:
            if u.level != "village":
                errors.append(RowError(f, r, "commune_hq",
                                       "chỉ bản/tổ dân phố mới có trụ sở xã / only a village can hold the commune HQ"))
            elif u.parent_code:
                if u.parent_code in hq_seen:
                    errors.append(RowError(
                        f, r, "commune_hq",
                        f"xã đã có bản đặt trụ sở ({hq_seen[u.parent_code].origin}) / "
                        f"the commune HQ is already flagged ({hq_seen[u.parent_code].origin})"))
                else:
                    hq_seen[u.parent_code] = u
        if u.national_survey and u.level != "village":
            errors.append(RowError(f, r, "national_survey",
                                   "chỉ áp dụng cho bản/tổ dân phố / applies to villages only"))

    hh_seen: dict[str, HouseholdRow] = {}
    for hh in households:
        f, r = where(hh)
        if hh.household_id in hh_seen:
            errors.append(RowError(f, r, "household_id",
                                   f"mã hộ trùng với dòng {hh_seen[hh.household_id].origin} / "
                                   f"duplicate household id (first at {hh_seen[hh.household_id].origin})"))
            continue
        hh_seen[hh.household_id] = hh
        village = by_code.get(hh.village_code)
        if village is None:
            errors.append(RowError(f, r, "village_code",
                                   f"không có bản mã '{hh.village_code}' / no village with code '{hh.village_code}'"))
        elif village.level != "village":
            errors.append(RowError(f, r, "village_code",
                                   f"'{hh.village_code}' là đơn vị cấp {village.level}, không phải bản / "
                                   f"'{hh.village_code}' is a {village.level}, not a village"))

    user_seen: dict[str, ServiceUserRow] = {}
    for su in users:
        f, r = where(su)
        if su.user_id in user_seen:
            errors.append(RowError(f, r, "user_id",
                                   f"mã trùng với dòng {user_seen[su.user_id].origin} / "
                                   f"duplicate id (first at {user_seen[su.user_id].origin})"))
            continue
        user_seen[su.user_id] = su

    # Cross-row errors were written with canonical column names: show the file's own header.
    errors = [
        RowError(e.file, e.row, columns.get(e.file, {}).get(e.column, e.column), e.reason)
        if e.column else e
        for e in errors
    ]
    counts = {"units": len(own), "households": len(hh_seen), "service_users": len(user_seen)}
    if errors:
        return FrameImport(None, errors, counts)
    frame = Frame(units=by_code, households=list(hh_seen.values()),
                  service_users=list(user_seen.values()), sources=sources)
    return FrameImport(frame, [], counts)


def load_frame_dir(directory: Path | str, *, prefer: str | None = None) -> FrameImport:
    """Load every CSV/XLSX directly inside ``directory``.

    When ``directory`` holds no list but a subdirectory named ``prefer`` (a plan's frame name,
    e.g. ``laichau-2025``), that subdirectory is loaded: ``--frame sampling/data`` then works for
    every shipped plan.
    """
    d = Path(directory)
    if not d.is_dir():
        return FrameImport(None, [RowError(str(d), None, None,
                                           "không phải thư mục / not a directory")])
    files = frame_files(d)
    if not files and prefer and (d / prefer).is_dir():
        files = frame_files(d / prefer)
    if not files:
        return FrameImport(None, [RowError(str(d), None, None,
                                           "thư mục không có tệp CSV/XLSX / no CSV/XLSX file in the directory")])
    return load_frame(files)
