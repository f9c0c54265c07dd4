"""What the fieldwork commands share: the console they print on, the ``--db`` and ``--actor``
options, dates in Vietnam time, and the lookups most commands start with (a round by its code,
unit names for display, a checked ``--bot-username``, a questionnaire by id or file).

Why one module: the round, invites, status, re-check and reminder commands (a module each) print
the same dates and fail the same way on an unknown round; the staff web console
(``hailong/console/views.py``) parses dates and loads questionnaires with the same functions.
"""

from __future__ import annotations

from datetime import date, datetime, time as dtime
from pathlib import Path
from typing import Any, Optional
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from fieldwork.invites import InviteError, bot_username_checked
from storage.commands import UserError, db_option, fail
from storage.rounds import get_round_by_code
from storage.units import get_unit
from survey_defs.loader import get_survey, load_survey

VN = ZoneInfo("Asia/Ho_Chi_Minh")

#: Where the fieldwork commands print their tables and results (errors: ``storage.commands``).
console = Console()

DbOpt = db_option()
ActorOpt = typer.Option(None, "--actor", help="Người thực hiện (nhật ký) / who acts, for the audit log")


def parse_local_time(text: str, *, end_of_day: bool = False) -> float:
    """``2025-09-30`` or ``2025-09-30 17:00`` (Vietnam time) → epoch seconds. A bare date means
    the start of that day, or its last minute (23:59) for a closing date."""
    s = text.strip().replace("T", " ")
    try:
        if len(s) <= 10:
            d = date.fromisoformat(s)
            t = dtime(23, 59) if end_of_day else dtime(0, 0)
            return datetime.combine(d, t, tzinfo=VN).timestamp()
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise UserError(f"ngày giờ không hợp lệ {text!r}; dùng YYYY-MM-DD hoặc 'YYYY-MM-DD HH:MM' / "
                        f"invalid date {text!r}; use YYYY-MM-DD or 'YYYY-MM-DD HH:MM'") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=VN)
    return dt.timestamp()


def fmt_time(ts: float | None, with_time: bool = True) -> str:
    """Epoch seconds as staff read them: Vietnam time, day first; ``—`` for none."""
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, VN).strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


def pct(x: float | None) -> str:
    """A rate for a table cell; ``—`` where it cannot be computed yet."""
    return "—" if x is None else f"{x:.1%}"


async def round_by_code(db: Any, code: str) -> Any:
    """The round staff named with ``--round``/``--code``; an unknown code is a UserError that
    says where to find the codes."""
    r = await get_round_by_code(db, code)
    if r is None:
        raise UserError(f"không có đợt khảo sát '{code}' / no round '{code}' (xem / see: hailong round list)")
    return r


async def unit_names(db: Any, unit_ids: list[int]) -> dict[int, tuple[str, str, str]]:
    """unit id → (code, name, parent name) for display and cards."""
    out: dict[int, tuple[str, str, str]] = {}
    parents: dict[int, str] = {}
    for uid in set(unit_ids):
        u = await get_unit(db, uid)
        if u is None:
            continue
        parent = ""
        if u.parent_id is not None:
            if u.parent_id not in parents:
                p = await get_unit(db, u.parent_id)
                parents[u.parent_id] = p.name if p else ""
            parent = parents[u.parent_id]
        out[uid] = (u.code, u.name, parent)
    return out


def checked_bot_username(name: Optional[str]) -> Optional[str]:
    """``--bot-username`` checked before any work (a bilingual error, never a traceback)."""
    if name is None:
        return None
    try:
        return bot_username_checked(name)
    except InviteError as exc:
        fail(str(exc))


def load_survey_ref(ref: str) -> Any:
    """A questionnaire by file path or shipped id; an unknown id is a UserError (never a traceback)."""
    if Path(ref).exists():
        return load_survey(ref)
    try:
        return get_survey(ref)
    except Exception as exc:  # noqa: BLE001 - unknown id: say which exist
        raise UserError(f"không có bảng hỏi '{ref}' / unknown questionnaire '{ref}': {exc}") from None
