"""Selection files: staff spreadsheets (CSV, XLSX) and the re-readable JSON.

Its own module because writing files is the one part of sampling with side effects (owner-only
files via :mod:`storage.private_files`, formula-safe cells via
:mod:`survey_defs.spreadsheet_safety`); the rule engine itself stays pure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sampling.frames import Frame
from sampling.selection import Selection
from storage.private_files import create_private_file, open_private
from survey_defs.spreadsheet_safety import SafeDictWriter, SafeWorkbook

__all__ = ["ROW_COLUMNS", "read_selection", "selection_rows", "write_selection"]

ROW_COLUMNS = ["record", "level", "code", "name", "parent_code", "parent_name", "sample_village",
                "sub_hamlet", "head_name", "agency", "field", "quota", "rank", "rule",
                "reason_vi", "reason_en"]


def selection_rows(selection: Selection, frame: Frame) -> list[dict[str, Any]]:
    """Flat rows for a staff spreadsheet (units, households, service users, shortfalls).

    Households carry the head's name and sub-hamlet (the list enumerators need, Phụ lục 03) but
    no phone or chat id: contacts go through invites, not through this file.
    """
    rows: list[dict[str, Any]] = []
    blank = dict.fromkeys(ROW_COLUMNS, "")
    for u in selection.units:
        parent = frame.units.get(u.parent_code or "")
        rows.append({**blank, "record": "unit", "level": u.level, "code": u.code, "name": u.name,
                     "parent_code": u.parent_code or "",
                     "parent_name": parent.display_name if parent else (u.parent_code or ""),
                     "quota": "" if u.quota is None else u.quota,
                     "rank": "" if u.rank is None else u.rank, "rule": u.reason.code,
                     "reason_vi": u.reason.vi, "reason_en": u.reason.en})
    for h in selection.households:
        row = frame.household(h.household_id)
        village = frame.units.get(h.village_code)
        rows.append({**blank, "record": "household", "level": "household", "code": h.household_id,
                     "name": village.display_name if village else h.village_code,
                     "parent_code": h.village_code, "sample_village": h.sample_village_code,
                     "sub_hamlet": h.sub_hamlet, "head_name": row.head_name if row else "",
                     "rule": h.reason.code, "reason_vi": h.reason.vi, "reason_en": h.reason.en})
    users = {u.user_id: u for u in frame.service_users}
    for s in selection.service_users:
        row = users.get(s.user_id)
        rows.append({**blank, "record": "service_user", "level": "service_user", "code": s.user_id,
                     "name": row.name if row else "", "agency": s.agency, "field": s.field,
                     "parent_code": s.quota_field, "rule": s.reason.code,
                     "reason_vi": s.reason.vi, "reason_en": s.reason.en})
    for sf in selection.shortfalls:
        rows.append({**blank, "record": "shortfall", "level": sf.level, "code": sf.unit_code,
                     "quota": sf.needed, "rank": sf.got, "rule": sf.reason.code,
                     "reason_vi": sf.reason.vi, "reason_en": sf.reason.en})
    return rows


def write_selection(selection: Selection, frame: Frame, path: Path | str) -> Path:
    """Write a selection as JSON (re-readable), CSV (UTF-8 with BOM, for Excel) or XLSX.

    The file names household heads, so it is created owner-only (``storage.private_files``);
    frame text never becomes a spreadsheet formula (``survey_defs.spreadsheet_safety``).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv", ".xlsx"):
        raise ValueError(f"định dạng '{suffix}' không được hỗ trợ (.json, .csv, .xlsx) / "
                         f"unsupported format '{suffix}' (.json, .csv, .xlsx)")
    if suffix == ".json":
        with open_private(path, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(selection.to_dict(), ensure_ascii=False, indent=1))
        return path
    rows = selection_rows(selection, frame)
    if suffix == ".csv":
        with open_private(path, "w", encoding="utf-8-sig", newline="") as fh:
            w = SafeDictWriter(fh, fieldnames=ROW_COLUMNS)
            w.writeheader()
            w.writerows(rows)
        return path
    wb = SafeWorkbook(str(create_private_file(path)), {"constant_memory": True})
    bold = wb.add_format({"bold": True})
    sheets = {"unit": "Đơn vị", "household": "Hộ", "service_user": "Người dùng DV",
              "shortfall": "Thiếu hụt"}
    for record, title in sheets.items():
        part = [r for r in rows if r["record"] == record]
        if not part and record not in ("unit", "shortfall"):
            continue
        ws = wb.add_worksheet(title)
        wb.write_row(ws, 0, 0, ROW_COLUMNS, bold)
        for i, r in enumerate(part, start=1):
            wb.write_row(ws, i, 0, [r[col] for col in ROW_COLUMNS])
        ws.freeze_panes(1, 0)
    wb.close()
    return path


def read_selection(path: Path | str) -> Selection:
    """Read a selection written as JSON by :func:`write_selection`."""
    return Selection.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
