"""Sampling frames (khung chọn mẫu): administrative units, household lists and service-user lists.

Communes and districts send Home Affairs their lists as spreadsheets (the 2024 plan's appendices
01–03: communes, villages, households). This module reads them (through :mod:`sampling.frame_tables`) from CSV (UTF-8, with or without
the BOM Excel writes) or XLSX (first worksheet), validates every row and every cross-reference,
and returns either a complete :class:`Frame` or the full list of problems — never a partial frame.
A frame half-imported would silently shift "the 2nd in the list", so all-or-nothing is the rule.

Which list a file holds is recognised from its header: a ``level`` column means units, a
``household_id`` column households, an ``agency`` + ``field`` pair service users. Headers may be
in English (the canonical names below) or Vietnamese (see ``sampling.frame_tables.ALIASES``); unknown extra columns
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

Split in three: the row models are :mod:`sampling.frame_rows`, reading files
:mod:`sampling.frame_tables`; this module validates rows and cross-references and builds the
:class:`Frame`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sampling.collation import name_key, vi_sort_key
from sampling.frame_rows import FrameRow, HouseholdRow, ServiceUserRow, UnitRow
from sampling.frame_tables import detect_kind, frame_files, map_header, read_table

__all__ = [
    "RowError",
    "Frame",
    "FrameImport",
    "FrameError",
    "load_frame",
    "load_frame_dir",
]


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


# --------------------------------------------------------------------------------------------
# Validating files
# --------------------------------------------------------------------------------------------

_REQUIRED: dict[str, tuple[str, ...]] = {
    "units": ("code", "name", "level"),
    "households": ("household_id", "village_code", "head_name"),
    "service_users": ("user_id", "agency", "field", "name"),
}
_MODELS: dict[str, type[FrameRow]] = {
    "units": UnitRow,
    "households": HouseholdRow,
    "service_users": ServiceUserRow,
}


def _field_column(mapping: Mapping[int, str], header: Sequence[str], canonical: str) -> str:
    for i, c in mapping.items():
        if c == canonical:
            return header[i]
    return canonical


def _parse_file(
    path: Path, errors: list[RowError], columns: dict[str, dict[str, str]]
) -> tuple[str | None, list[FrameRow]]:
    name = str(path)
    try:
        header, body = read_table(path)
    except (OSError, ValueError) as exc:
        errors.append(RowError(name, None, None, str(exc)))
        return None, []
    kind = detect_kind(header)
    if kind is None:
        errors.append(RowError(
            name, 1, None,
            "không nhận ra loại danh sách: cần cột 'code'+'level' (đơn vị), 'household_id' (hộ) "
            "hoặc 'agency'+'field' (người dùng dịch vụ) / unrecognised list: needs columns "
            "'code'+'level' (units), 'household_id' (households) or 'agency'+'field' "
            "(service users)",
        ))
        return None, []
    mapping = map_header(kind, header)
    columns[name] = {canonical: header[i] for i, canonical in mapping.items()}
    missing = [c for c in _REQUIRED[kind] if c not in mapping.values()]
    for col in missing:
        errors.append(RowError(name, 1, col, "thiếu cột bắt buộc / required column missing"))
    if missing:
        return kind, []
    model = _MODELS[kind]
    rows: list[FrameRow] = []
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

    def where(row: FrameRow) -> tuple[str, int | None]:
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
