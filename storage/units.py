"""The sampling frame: administrative units and service points (round-independent).

Units form a tree through ``parent_id`` (province → district → commune → village, or agency →
field). A frame is imported whole: ``insert_units`` runs in one transaction, so a bad row (an
unknown parent, a bad type) leaves nothing half-imported. Re-importing the same frame updates
units by (frame, code) instead of duplicating them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from storage.db import Database, StorageError
from storage.util import dumps, loads_obj

UnitKind = Literal["province", "district", "commune", "village", "agency", "field", "walk_in"]
AdminType = Literal["I", "II", "III"]
UNIT_KINDS: tuple[str, ...] = get_args(UnitKind)


class FrameError(StorageError):
    """A unit row cannot be stored (unknown parent, bad kind…); nothing of the import was kept."""


@dataclass(frozen=True, slots=True)
class UnitIn:
    """A unit to import. ``parent_code`` refers to a unit of the same frame (earlier in the same
    call or already stored). ``name`` is the official name, with diacritics."""

    kind: UnitKind
    code: str
    name: str
    parent_code: str | None = None
    admin_type: AdminType | None = None
    is_admin_centre: bool = False
    is_commune_hq: bool = False
    sort_order: int | None = None
    neighbour_order: int | None = None
    quota: int | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Unit:
    id: int
    frame: str
    kind: str
    code: str
    name: str
    admin_type: str | None
    is_admin_centre: bool
    is_commune_hq: bool
    parent_id: int | None
    sort_order: int | None
    neighbour_order: int | None
    quota: int | None
    attrs: dict[str, Any]


_COLS = ("id, frame, kind, code, name, admin_type, is_admin_centre, is_commune_hq, parent_id, "
         "sort_order, neighbour_order, quota, attrs")


def unit_from_row(r: Sequence[Any]) -> Unit:
    return Unit(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), bool(r[7]), r[8], r[9], r[10], r[11],
                loads_obj(r[12]))


def _validate(u: UnitIn, i: int) -> None:
    where = f"unit #{i + 1} ({u.code!r})"
    if u.kind not in UNIT_KINDS:
        raise FrameError(f"{where}: loại đơn vị không hợp lệ / unknown kind {u.kind!r}; "
                         f"expected one of {', '.join(UNIT_KINDS)}")
    if not str(u.code).strip():
        raise FrameError(f"unit #{i + 1}: thiếu mã / missing code")
    if not str(u.name).strip():
        raise FrameError(f"{where}: thiếu tên / missing name")
    if u.admin_type is not None and u.admin_type not in ("I", "II", "III"):
        raise FrameError(f"{where}: loại đơn vị hành chính phải là I, II hoặc III / "
                         f"admin type must be I, II or III, got {u.admin_type!r}")
    if u.quota is not None and u.quota < 0:
        raise FrameError(f"{where}: chỉ tiêu âm / negative quota {u.quota}")


def insert_units_op(conn: sqlite3.Connection, frame: str, units: Sequence[UnitIn]) -> dict[str, int]:
    """Upsert ``units`` of ``frame``; returns code → id for the given units."""
    ids: dict[str, int] = {}
    for i, u in enumerate(units):
        _validate(u, i)
        parent_id: int | None = None
        if u.parent_code is not None:
            parent_id = ids.get(u.parent_code)
            if parent_id is None:
                row = conn.execute("SELECT id FROM units WHERE frame = ? AND code = ?",
                                   (frame, u.parent_code)).fetchone()
                if row is None:
                    raise FrameError(f"unit #{i + 1} ({u.code!r}): không có đơn vị cha / unknown parent "
                                     f"code {u.parent_code!r} in frame {frame!r}")
                parent_id = row[0]
        row = conn.execute(
            "INSERT INTO units (frame, kind, code, name, admin_type, is_admin_centre, is_commune_hq,"
            " parent_id, sort_order, neighbour_order, quota, attrs)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (frame, code) DO UPDATE SET kind = excluded.kind, name = excluded.name,"
            " admin_type = excluded.admin_type, is_admin_centre = excluded.is_admin_centre,"
            " is_commune_hq = excluded.is_commune_hq, parent_id = excluded.parent_id,"
            " sort_order = excluded.sort_order, neighbour_order = excluded.neighbour_order,"
            " quota = excluded.quota, attrs = excluded.attrs"
            " RETURNING id",
            (frame, u.kind, u.code, u.name, u.admin_type, int(u.is_admin_centre), int(u.is_commune_hq),
             parent_id, u.sort_order, u.neighbour_order, u.quota, dumps(dict(u.attrs))),
        ).fetchone()
        ids[u.code] = row[0]
    return ids


async def insert_units(db: Database, frame: str, units: Sequence[UnitIn]) -> dict[str, int]:
    """Import (or update) a frame's units in one transaction; returns code → unit id.

    Raises FrameError naming the row for an unknown parent or invalid field; then nothing is stored.
    """
    units = list(units)
    return await db.write(lambda conn: insert_units_op(conn, frame, units))


async def get_unit(db: Database, unit_id: int) -> Unit | None:
    r = await db.fetchone(f"SELECT {_COLS} FROM units WHERE id = ?", (unit_id,))
    return None if r is None else unit_from_row(r)


async def get_unit_by_code(db: Database, frame: str, code: str) -> Unit | None:
    r = await db.fetchone(f"SELECT {_COLS} FROM units WHERE frame = ? AND code = ?", (frame, code))
    return None if r is None else unit_from_row(r)


async def list_units(db: Database, *, frame: str | None = None, kind: str | None = None,
                     parent_id: int | None = None) -> list[Unit]:
    """Units filtered by frame/kind/parent, in storage order (sort with Vietnamese collation
    in sampling/, not here: SQLite's default order is not Vietnamese alphabetical order)."""
    where, params = [], []
    for col, val in (("frame", frame), ("kind", kind), ("parent_id", parent_id)):
        if val is not None:
            where.append(f"{col} = ?")
            params.append(val)
    sql = f"SELECT {_COLS} FROM units"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id"
    return [unit_from_row(r) for r in await db.fetchall(sql, params)]


def walk_in_unit_op(conn: sqlite3.Connection, round_code: str) -> int:
    """The unit anonymous walk-in respondents of a round are filed under (created on first use)."""
    code = f"walk-in:{round_code}"
    row = conn.execute("SELECT id FROM units WHERE frame = '' AND code = ?", (code,)).fetchone()
    if row:
        return int(row[0])
    return int(conn.execute(
        "INSERT INTO units (frame, kind, code, name) VALUES ('', 'walk_in', ?, ?) RETURNING id",
        (code, f"Người dân tự tham gia / walk-in ({round_code})"),
    ).fetchone()[0])
