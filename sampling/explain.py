"""Why a unit, household or service user was (or was not) selected: ``sampling explain``.

Its own module because it reads a finished :class:`~sampling.selection.Selection` and the frame
and never draws: staff ask it after the fact, from the stored selection.
"""

from __future__ import annotations

from dataclasses import dataclass

from sampling.frame_rows import HouseholdRow, UnitRow
from sampling.frames import Frame
from sampling.selection import Reason, SamplingError, Selection, UnitList

__all__ = ["Explanation", "explain"]


@dataclass
class Explanation:
    """Why a unit or household was, or was not, selected."""

    subject: str
    selected: bool
    reasons: list[Reason]
    lists: list[tuple[UnitList, dict[str, str]]]  # the list and marks per code ("✓ reason")
    notes: list[str]


def explain(selection: Selection, frame: Frame, query: str) -> Explanation:
    """Explain the selection of a unit (code or name) or a household (id)."""
    hh = frame.household(query)
    if hh is not None:
        return _explain_household(selection, frame, hh)
    matches = frame.find_units(query)
    if not matches:
        su = next((u for u in selection.service_users if u.user_id == query), None)
        if su is not None:
            return Explanation(f"{su.user_id} ({su.agency}, {su.field})", True, [su.reason], [], [])
        raise SamplingError([f"không tìm thấy đơn vị hay hộ '{query}' / no unit or household '{query}'"])
    if len(matches) > 1:
        raise SamplingError([
            f"'{query}' khớp nhiều đơn vị, hãy dùng mã: "
            + ", ".join(f"{u.code} ({u.display_name}, {u.level})" for u in matches)
            + f" / '{query}' matches several units, use a code"])
    unit = matches[0]
    return _explain_unit(selection, frame, unit)


def _marks(selection: Selection, lst: UnitList) -> dict[str, str]:
    by_code = {u.code: u for u in selection.units}
    return {c: by_code[c].reason.vi for c in lst.codes if c in by_code}


def _explain_unit(selection: Selection, frame: Frame, unit: UnitRow) -> Explanation:
    chosen = selection.unit(unit.code)
    lists = [(lst, _marks(selection, lst)) for lst in selection.lists.values() if unit.code in lst.codes]
    notes: list[str] = []
    if chosen is not None:
        n_hh = len(selection.households_for(unit.code)) if unit.level == "village" else None
        if n_hh is not None:
            notes.append(f"{n_hh} hộ được chọn cho bản này / {n_hh} households selected for it")
        short = [s for s in selection.shortfalls if s.unit_code == unit.code]
        notes += [str(s.reason) for s in short]
        return Explanation(f"{unit.display_name} ({unit.code})", True, [chosen.reason], lists, notes)
    parent = frame.units.get(unit.parent_code or "")
    if parent is not None and selection.unit(parent.code) is None and unit.level != "district":
        notes.append(
            f"{parent.display_name} không được chọn nên các đơn vị trực thuộc không được xét / "
            f"{parent.display_name} was not selected, so its units were not considered")
    elif any(sf.unit_code == unit.code for sf in selection.shortfalls):
        notes += [str(sf.reason) for sf in selection.shortfalls if sf.unit_code == unit.code]
    elif lists:
        notes.append("không ở vị trí được chọn theo quy tắc của kế hoạch / "
                     "not at a position the plan's rules choose")
    else:
        notes.append("không thuộc phạm vi khảo sát của kế hoạch / outside the plan's scope")
    return Explanation(f"{unit.display_name} ({unit.code})", False, [], lists, notes)


def _explain_household(selection: Selection, frame: Frame, hh: HouseholdRow) -> Explanation:
    subject = f"{hh.household_id} ({hh.sub_hamlet or '—'}, {frame.units[hh.village_code].display_name})"
    rec = next((h for h in selection.households if h.household_id == hh.household_id), None)
    if rec is not None:
        notes = []
        if rec.sample_village_code != rec.village_code:
            notes.append(f"được tính cho bản {frame.units[rec.sample_village_code].display_name} / "
                         f"counts for {frame.units[rec.sample_village_code].display_name}")
        return Explanation(subject, True, [rec.reason], [], notes)
    village = selection.unit(hh.village_code)
    if village is None:
        sub = _explain_unit(selection, frame, frame.units[hh.village_code])
        return Explanation(subject, False, [], sub.lists,
                           ["bản của hộ không được chọn / the household's village was not selected"]
                           + sub.notes)
    same = [h for h in selection.households
            if h.village_code == hh.village_code and h.sub_hamlet == hh.sub_hamlet]
    total = sum(1 for h in frame.households_of(hh.village_code) if h.sub_hamlet == hh.sub_hamlet)
    where = hh.sub_hamlet or "bản"
    return Explanation(subject, False, [], [], [
        f"không trúng lượt rút ngẫu nhiên: {len(same)}/{total} hộ của {where} được chọn "
        f"(hạt giống {selection.seed}) / not drawn: {len(same)} of {total} households of "
        f"{hh.sub_hamlet or 'the village'} were drawn (seed {selection.seed})"])
