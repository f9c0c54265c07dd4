"""The rule engine: apply a sampling plan (:mod:`sampling.plan_schema`) to a frame.

Pure: a :class:`~sampling.frames.Frame` in memory and a :class:`~sampling.plan_schema.Plan` in,
a :class:`Selection` out — every selected unit, household or service user with the rule that
chose it (a machine code plus a reason in Vietnamese and English), the sorted lists the choices
were made from, and every shortfall. Nothing here touches a database; the CLI stores the result.

Determinism: the same frame, plan and seed always give the same selection, whatever the order of
the rows in the input files. Lists are sorted with :mod:`sampling.collation`; random draws use a
generator seeded from (plan id, seed, stage, unit code) through SHA-256, so adding a commune to
the frame does not change the draw of another commune.

Rules settled here where the seeds are silent (each has a reason code, see ``Reason.code``):

* **Position already taken** (``*.position_shifted``): when the unit at the wanted position is
  already chosen (e.g. the district centre is also the 2nd of its type list, or the HQ village is
  the 2nd), take the next unit of the list (the 3rd); for ``last``, the one before it. If the
  list runs out in that direction, the nearest free unit the other way.
* **Short list** (``*.position_short``): a list with fewer units than the position (a type list
  with a single commune has no 2nd) gives its nearest free unit from the end ("take what exists").
* **Empty or exhausted list** (``commune.fill``): the units still missing to reach the plan's
  count are filled from the other type lists (those in use first, then the others, in type order
  I, II, III), each list continuing after its last chosen unit.
* **Too few units** (a shortfall): a district with fewer communes, or a commune with fewer
  villages, than the plan asks: all are taken and the shortfall is recorded.
* **National-survey village** (2025, ``village.adjacent``): replaced by the adjacent village of
  the sorted list, after it first, then before it, then further out; never a village already
  chosen or also taken by the national survey. None left: skipped, shortfall recorded.
* **Households** (``household.drawn``): the quota is allocated to the sub-hamlets in proportion
  to their size (largest remainders, at least one each), then drawn at random inside each. A
  village with fewer households than its quota gives all of them (``household.all``) and is
  topped up from its geographic neighbours (``household.top_up``): the villages of the same
  commune in order of distance in ``neighbour_order`` (the next one first at equal distance;
  villages without a neighbour order come after, by list distance). Households already selected
  are never reused. No neighbour left: the shortfall is recorded.
* **Service quota** (2021, ``service.substitute``): a field with too few transactions gives all
  it has, and the rest of its quota moves to another field of the same agency (see the plan).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sampling.collation import name_key, vi_sort_key
from sampling.frames import Frame, HouseholdRow, ServiceUserRow, UnitRow
from sampling.plan_schema import (
    AllCommunes,
    CommuneGroup,
    HqPositionVillages,
    HqRandomVillages,
    Plan,
    ServiceEligibility,
    TypeListCommunes,
)

__all__ = [
    "Reason",
    "SelectedUnit",
    "SelectedHousehold",
    "SelectedServiceUser",
    "Shortfall",
    "Substitution",
    "UnitList",
    "Selection",
    "SamplingError",
    "Explanation",
    "draw",
    "draw_substitution",
    "explain",
    "write_selection",
    "read_selection",
]

TYPES = ("I", "II", "III")


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reason:
    """Why something was chosen: a stable machine code and a sentence in Vietnamese and English."""

    code: str
    vi: str
    en: str

    def text(self, lang: str = "vi") -> str:
        return self.vi if lang == "vi" else self.en

    def __str__(self) -> str:
        return f"{self.vi} / {self.en}"


@dataclass(frozen=True, slots=True)
class SelectedUnit:
    """A selected district, commune, village (or agency/field for a service survey)."""

    code: str
    name: str
    level: str
    parent_code: str | None
    reason: Reason
    list_key: str | None = None
    rank: int | None = None  # 1-based position in the list it was chosen from
    quota: int | None = None  # households (village), questionnaires (agency/field)
    order: int = 0


@dataclass(frozen=True, slots=True)
class SelectedHousehold:
    household_id: str
    village_code: str  # where the household lives
    sample_village_code: str  # the sampled village it counts for (differs for top-ups)
    sub_hamlet: str
    reason: Reason
    order: int = 0


@dataclass(frozen=True, slots=True)
class SelectedServiceUser:
    user_id: str
    agency: str
    field: str  # the field of the transaction
    quota_field: str  # the field of the quota table it counts for
    reason: Reason
    order: int = 0


@dataclass(frozen=True, slots=True)
class Shortfall:
    unit_code: str
    level: str
    needed: int
    got: int
    reason: Reason


@dataclass(frozen=True, slots=True)
class Substitution:
    """Questionnaires of a field with too few transactions moved to another field of the agency.

    ``status``: "proposed" (waiting for staff: nothing fielded yet), or "approved" (applied, its
    users drawn: plans with ``substitution_approval: automatic``, or a staff decision).
    ``missing``: what the field lacks in all (a proposal may be split over several fields).
    """

    agency: str
    from_field: str
    to_field: str
    count: int
    reason: Reason
    status: str = "approved"
    missing: int = 0


@dataclass(frozen=True, slots=True)
class UnitList:
    """A sorted list a choice was made from, kept so that every choice can be explained."""

    key: str
    title_vi: str
    title_en: str
    codes: tuple[str, ...]


@dataclass
class Selection:
    """The outcome of a draw."""

    plan_id: str
    plan_hash: str
    seed: int
    frame_sources: list[str]
    units: list[SelectedUnit] = field(default_factory=list)
    households: list[SelectedHousehold] = field(default_factory=list)
    service_users: list[SelectedServiceUser] = field(default_factory=list)
    shortfalls: list[Shortfall] = field(default_factory=list)
    substitutions: list[Substitution] = field(default_factory=list)
    lists: dict[str, UnitList] = field(default_factory=dict)
    #: things staff should know that do not stop the draw (a frame of another size than the plan's)
    warnings: list[Reason] = field(default_factory=list)

    def units_at(self, level: str) -> list[SelectedUnit]:
        return [u for u in self.units if u.level == level]

    def unit(self, code: str) -> SelectedUnit | None:
        for u in self.units:
            if u.code == code:
                return u
        return None

    def households_for(self, village_code: str) -> list[SelectedHousehold]:
        return [h for h in self.households if h.sample_village_code == village_code]

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "plan_hash": self.plan_hash,
            "seed": self.seed,
            "frame_sources": self.frame_sources,
            "units": [_record(u) for u in self.units],
            "households": [_record(h) for h in self.households],
            "service_users": [_record(s) for s in self.service_users],
            "shortfalls": [_record(s) for s in self.shortfalls],
            "substitutions": [_record(s) for s in self.substitutions],
            "lists": {k: {**_record(v), "codes": list(v.codes)} for k, v in self.lists.items()},
            "warnings": [{"code": w.code, "vi": w.vi, "en": w.en} for w in self.warnings],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Selection":
        def reason(d: dict[str, Any]) -> dict[str, Any]:
            return {**d, "reason": Reason(**d["reason"])}

        return cls(
            plan_id=data["plan_id"],
            plan_hash=data["plan_hash"],
            seed=data["seed"],
            frame_sources=list(data.get("frame_sources", [])),
            units=[SelectedUnit(**reason(u)) for u in data.get("units", [])],
            households=[SelectedHousehold(**reason(h)) for h in data.get("households", [])],
            service_users=[SelectedServiceUser(**reason(s)) for s in data.get("service_users", [])],
            shortfalls=[Shortfall(**reason(s)) for s in data.get("shortfalls", [])],
            substitutions=[Substitution(**reason(s)) for s in data.get("substitutions", [])],
            lists={k: UnitList(**{**v, "codes": tuple(v["codes"])})
                   for k, v in data.get("lists", {}).items()},
            warnings=[Reason(**w) for w in data.get("warnings", [])],
        )

    def fingerprint(self) -> str:
        """A hash of the whole selection (not of the frame's file names)."""
        d = self.to_dict()
        d.pop("frame_sources")
        return hashlib.sha256(json.dumps(d, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _record(obj: Any) -> dict[str, Any]:
    """A flat dict of a result dataclass (faster than dataclasses.asdict for thousands of rows)."""
    out = {name: getattr(obj, name) for name in obj.__slots__}
    reason = out.get("reason")
    if isinstance(reason, Reason):
        out["reason"] = {"code": reason.code, "vi": reason.vi, "en": reason.en}
    return out


class SamplingError(Exception):
    """The plan cannot be applied to this frame (missing data, names that match nothing)."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _rng(plan: Plan, seed: int, *parts: str) -> random.Random:
    """An independent, reproducible random stream for one stage of one unit."""
    blob = "\x1f".join([plan.id, str(seed), *parts]).encode()
    return random.Random(int.from_bytes(hashlib.sha256(blob).digest()[:16], "big"))


def _ord_en(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _pos_vi(pos: int | str) -> str:
    return "cuối cùng" if pos == "last" else f"thứ {pos}"


def _pos_en(pos: int | str) -> str:
    return "last" if pos == "last" else _ord_en(int(pos))


def _ordered(units: Iterable[UnitRow], order: str = "alphabetical") -> list[UnitRow]:
    key_name = lambda u: (vi_sort_key(u.name), vi_sort_key(u.kind or ""), u.code)  # noqa: E731
    if order == "sort_number":
        return sorted(units, key=lambda u: (u.sort_number is None, u.sort_number or 0, key_name(u)))
    return sorted(units, key=key_name)


def _pick(lst: Sequence[UnitRow], position: int | str, chosen: set[str]) -> tuple[int | None, str]:
    """The index to take for ``position`` and how it was found.

    ``exact``: the unit at the position; ``shifted``: that one was taken, the next free one in
    the position's direction (forward for numbers, backward for ``last``), else the other way;
    ``short``: the list is shorter than the position, the nearest free unit from the end;
    ``empty`` / ``exhausted``: nothing to take.
    """
    n = len(lst)
    if n == 0:
        return None, "empty"
    if position == "last":
        idx, step = n - 1, -1
    else:
        idx, step = int(position) - 1, 1
    if idx >= n:
        for j in range(n - 1, -1, -1):
            if lst[j].code not in chosen:
                return j, "short"
        return None, "exhausted"
    if lst[idx].code not in chosen:
        return idx, "exact"
    for direction in (step, -step):
        j = idx + direction
        while 0 <= j < n:
            if lst[j].code not in chosen:
                return j, "shifted"
            j += direction
    return None, "exhausted"


class _Builder:
    def __init__(self, plan: Plan, frame: Frame, seed: int):
        self.plan = plan
        self.frame = frame
        self.seed = seed
        self.sel = Selection(plan.id, plan.content_hash, seed, list(frame.sources))
        self.chosen_why: dict[str, Reason] = {}

    def add_unit(self, unit: UnitRow, reason: Reason, *, list_key: str | None = None,
                 rank: int | None = None, quota: int | None = None) -> SelectedUnit:
        su = SelectedUnit(unit.code, unit.display_name, unit.level, unit.parent_code, reason,
                          list_key, rank, quota, len(self.sel.units) + 1)
        self.sel.units.append(su)
        self.chosen_why[unit.code] = reason
        return su

    def add_list(self, key: str, title_vi: str, title_en: str, units: Sequence[UnitRow]) -> None:
        self.sel.lists[key] = UnitList(key, title_vi, title_en, tuple(u.code for u in units))

    def shortfall(self, code: str, level: str, needed: int, got: int, reason: Reason) -> None:
        self.sel.shortfalls.append(Shortfall(code, level, needed, got, reason))


# --------------------------------------------------------------------------------------------
# Communes
# --------------------------------------------------------------------------------------------


def _group_for(plan_communes: TypeListCommunes, district: UnitRow) -> CommuneGroup:
    for g in plan_communes.groups:
        if g.matches(district.name, district.kind):
            return g
    raise SamplingError([
        f"không có nhóm nào của kế hoạch áp dụng cho {district.display_name} / "
        f"no group of the plan applies to {district.display_name}"])


def _check_type_lists(plan_communes: TypeListCommunes, frame: Frame) -> list[str]:
    problems: list[str] = []
    districts = frame.at_level("district")
    if not districts:
        problems.append("khung mẫu không có huyện nào / the frame has no district")
    for g in plan_communes.groups:
        for name in g.match_names:
            if not any(name_key(d.name) == name_key(name) or name_key(d.display_name) == name_key(name)
                       for d in districts):
                problems.append(
                    f"kế hoạch nêu huyện '{name}' nhưng khung mẫu không có huyện này / "
                    f"the plan names district '{name}' but the frame has no such district")
    for d in districts:
        for c in frame.children(d.code, "commune"):
            if c.admin_type is None:
                problems.append(
                    f"{c.display_name} ({c.code}, {d.display_name}) thiếu loại đơn vị hành chính / "
                    f"{c.display_name} ({c.code}) has no administrative type")
    return problems


def _communes_type_lists(b: _Builder, rule: TypeListCommunes) -> list[UnitRow]:
    problems = _check_type_lists(rule, b.frame)
    if problems:
        raise SamplingError(problems)
    chosen_all: list[UnitRow] = []
    province = b.frame.at_level("province")
    n_districts = len(b.frame.at_level("district"))
    for p in province:
        b.add_unit(p, Reason("province.scope", "tỉnh được khảo sát", "province surveyed"))
    for district in b.frame.at_level("district"):
        b.add_unit(district, Reason(
            "district.scope",
            f"trong phạm vi khảo sát ({n_districts} huyện, thành phố)",
            f"in scope ({n_districts} districts and city)"))
        group = _group_for(rule, district)
        communes = _ordered(b.frame.children(district.code, "commune"))
        lists: dict[str, list[UnitRow]] = {t: [c for c in communes if c.admin_type == t] for t in TYPES}
        present = [t for t in TYPES if lists[t]]
        for t in present:
            b.add_list(f"{district.code}:loai-{t}",
                       f"Danh sách xã loại {t} của {district.display_name} (thứ tự chữ cái tiếng Việt)",
                       f"Type {t} communes of {district.display_name} (Vietnamese order)",
                       lists[t])
        chosen: set[str] = set()
        picked: list[UnitRow] = []
        last_idx: dict[str, int] = {}
        centre = next((c for c in communes if c.admin_centre), None)
        dname = district.display_name
        if group.centre_by_default and centre is not None:
            t = centre.admin_type or ""
            b.add_unit(centre, Reason(
                "commune.admin_centre",
                f"trung tâm hành chính của {dname} (mặc định)",
                f"administrative centre of {dname} (by default)"),
                list_key=f"{district.code}:loai-{t}",
                rank=lists[t].index(centre) + 1 if centre in lists.get(t, []) else None)
            chosen.add(centre.code)
            picked.append(centre)
        used = list(present)
        if group.lists == "other_than_centre" and centre is not None and group.centre_by_default:
            used = [t for t in present if t != centre.admin_type]
        deficits: list[Reason] = []
        if group.centre_by_default and centre is None:
            deficits.append(Reason("commune.no_centre",
                                   f"{dname} không có xã nào được đánh dấu là trung tâm hành chính",
                                   f"no commune of {dname} is flagged as administrative centre"))
        for t in used:
            lst = lists[t]
            key = f"{district.code}:loai-{t}"
            for pos in group.positions:
                idx, how = _pick(lst, pos, chosen)
                if idx is None:
                    deficits.append(Reason(
                        "commune.list_exhausted",
                        f"danh sách loại {t} không còn xã để chọn {_pos_vi(pos)}",
                        f"the type {t} list has no commune left for the {_pos_en(pos)}"))
                    continue
                unit = lst[idx]
                rank = idx + 1
                if how == "exact":
                    reason = Reason("commune.position",
                                    f"{_pos_vi(pos)} trong danh sách loại {t} theo thứ tự chữ cái tiếng Việt",
                                    f"{_pos_en(pos)} in the type {t} list, Vietnamese alphabetical order")
                elif how == "shifted":
                    target = len(lst) - 1 if pos == "last" else int(pos) - 1
                    taken = lst[target]
                    reason = Reason(
                        "commune.position_shifted",
                        f"thứ {rank} trong danh sách loại {t}: {_pos_vi(pos)} là {taken.display_name}, "
                        f"đã được chọn ({b.chosen_why[taken.code].vi})",
                        f"{_ord_en(rank)} in the type {t} list: the {_pos_en(pos)} is "
                        f"{taken.display_name}, already chosen ({b.chosen_why[taken.code].en})")
                else:  # short
                    reason = Reason(
                        "commune.position_short",
                        f"danh sách loại {t} chỉ có {len(lst)} xã, không có {_pos_vi(pos)}: "
                        f"lấy xã hiện có (thứ {rank})",
                        f"the type {t} list has only {len(lst)} commune(s), no {_pos_en(pos)}: "
                        f"took the one there is ({_ord_en(rank)})")
                b.add_unit(unit, reason, list_key=key, rank=rank)
                chosen.add(unit.code)
                picked.append(unit)
                last_idx[t] = max(last_idx.get(t, -1), idx)
        # Fill to the group's count from the other lists, each continuing after its last pick.
        fill_order = used + [t for t in present if t not in used]
        while len(picked) < group.count:
            why = deficits.pop(0) if deficits else Reason(
                "commune.count", f"để đủ {group.count} xã theo kế hoạch",
                f"to reach the plan's {group.count} communes")
            found = False
            for t in fill_order:
                lst = lists[t]
                start = last_idx.get(t, -1) + 1
                for j in list(range(start, len(lst))) + list(range(0, min(start, len(lst)))):
                    if lst[j].code not in chosen:
                        unit = lst[j]
                        b.add_unit(unit, Reason(
                            "commune.fill",
                            f"bù từ danh sách loại {t} (xã tiếp theo chưa được chọn, thứ {j + 1}) "
                            f"vì {why.vi}",
                            f"filled from the type {t} list (next commune not yet chosen, "
                            f"{_ord_en(j + 1)}) because {why.en}"),
                            list_key=f"{district.code}:loai-{t}", rank=j + 1)
                        chosen.add(unit.code)
                        picked.append(unit)
                        last_idx[t] = j
                        found = True
                        break
                if found:
                    break
            if not found:
                b.shortfall(district.code, "district", group.count, len(picked), Reason(
                    "commune.shortfall",
                    f"{dname} chỉ có {len(communes)} xã: lấy tất cả, thiếu {group.count - len(picked)}",
                    f"{dname} has only {len(communes)} commune(s): all taken, "
                    f"{group.count - len(picked)} short"))
                break
        chosen_all.extend(picked)
    return chosen_all


def _communes_all(b: _Builder, rule: AllCommunes) -> list[UnitRow]:
    communes = b.frame.at_level("commune")
    if not communes:
        raise SamplingError(["khung mẫu không có xã/phường nào / the frame has no commune"])
    if rule.expected_count is not None and len(communes) != rule.expected_count:
        # a pilot on part of the province is legitimate: draw, and say so
        b.sel.warnings.append(Reason(
            "commune.count_differs",
            f"kế hoạch nêu {rule.expected_count} xã, phường nhưng khung mẫu có {len(communes)}: vẫn rút "
            f"mẫu trên {len(communes)} xã, phường của khung (ví dụ khảo sát thử một phần tỉnh)",
            f"the plan names {rule.expected_count} communes but the frame has {len(communes)}: drawn on "
            f"the frame's {len(communes)} (e.g. a pilot on part of the province)"))
    for p in b.frame.at_level("province"):
        b.add_unit(p, Reason("province.scope", "tỉnh được khảo sát", "province surveyed"))
    b.add_list("communes", "Danh sách xã, phường (thứ tự chữ cái tiếng Việt)",
               "Communes and wards (Vietnamese order)", communes)
    n = len(communes)
    for i, c in enumerate(communes):
        b.add_unit(c, Reason("commune.all", f"trong phạm vi khảo sát (tất cả {n} xã, phường)",
                             f"in scope (all {n} communes and wards)"),
                   list_key="communes", rank=i + 1)
    return communes


# --------------------------------------------------------------------------------------------
# Villages
# --------------------------------------------------------------------------------------------


def _villages_positions(b: _Builder, commune: UnitRow, rule: HqPositionVillages,
                        quota: int) -> list[UnitRow]:
    villages = _ordered(b.frame.children(commune.code, "village"), rule.order)
    key = f"{commune.code}:villages"
    cname = commune.display_name
    b.add_list(key, f"Danh sách bản, tổ dân phố của {cname}", f"Villages of {cname}", villages)
    chosen: set[str] = set()
    picked: list[UnitRow] = []
    hq = next((v for v in villages if v.commune_hq), None)
    deficits: list[Reason] = []
    if hq is not None:
        b.add_unit(hq, Reason("village.hq", f"có trụ sở {cname} (mặc định)",
                              f"holds the seat of {cname} (by default)"),
                   list_key=key, rank=villages.index(hq) + 1, quota=quota)
        chosen.add(hq.code)
        picked.append(hq)
    else:
        deficits.append(Reason("village.no_hq", f"không có bản nào được đánh dấu có trụ sở {cname}",
                               f"no village of {cname} is flagged as holding its seat"))
    last_idx = -1
    for pos in rule.positions:
        idx, how = _pick(villages, pos, chosen)
        if idx is None:
            continue
        v = villages[idx]
        rank = idx + 1
        if how == "exact":
            reason = Reason("village.position",
                            f"{_pos_vi(pos)} trong danh sách theo thứ tự chữ cái tiếng Việt/số thứ tự",
                            f"{_pos_en(pos)} in the list, Vietnamese alphabetical/numeric order")
        elif how == "shifted":
            taken = villages[len(villages) - 1 if pos == "last" else int(pos) - 1]
            reason = Reason(
                "village.position_shifted",
                f"thứ {rank} trong danh sách: {_pos_vi(pos)} là {taken.display_name}, đã được chọn "
                f"({b.chosen_why[taken.code].vi})",
                f"{_ord_en(rank)} in the list: the {_pos_en(pos)} is {taken.display_name}, "
                f"already chosen ({b.chosen_why[taken.code].en})")
        else:
            reason = Reason("village.position_short",
                            f"danh sách chỉ có {len(villages)} bản, không có {_pos_vi(pos)}: lấy thứ {rank}",
                            f"the list has only {len(villages)} villages, no {_pos_en(pos)}: "
                            f"took the {_ord_en(rank)}")
        b.add_unit(v, reason, list_key=key, rank=rank, quota=quota)
        chosen.add(v.code)
        picked.append(v)
        last_idx = max(last_idx, idx)
    while len(picked) < rule.per_commune:
        free = [j for j in list(range(last_idx + 1, len(villages))) + list(range(0, last_idx + 1))
                if villages[j].code not in chosen]
        if not free:
            b.shortfall(commune.code, "commune", rule.per_commune, len(picked), Reason(
                "village.shortfall",
                f"{cname} chỉ có {len(villages)} bản, tổ dân phố: lấy tất cả, thiếu "
                f"{rule.per_commune - len(picked)}",
                f"{cname} has only {len(villages)} villages: all taken, "
                f"{rule.per_commune - len(picked)} short"))
            break
        j = free[0]
        why = deficits.pop(0) if deficits else Reason(
            "village.count", f"để đủ {rule.per_commune} bản theo kế hoạch",
            f"to reach the plan's {rule.per_commune} villages")
        b.add_unit(villages[j], Reason(
            "village.fill", f"bù: bản tiếp theo chưa được chọn (thứ {j + 1}) vì {why.vi}",
            f"filled: next village not yet chosen ({_ord_en(j + 1)}) because {why.en}"),
            list_key=key, rank=j + 1, quota=quota)
        chosen.add(villages[j].code)
        picked.append(villages[j])
        last_idx = j
    return picked


def _adjacent(villages: Sequence[UnitRow], idx: int, chosen: set[str],
              first: str, max_distance: int | None = None) -> tuple[int, str, int] | None:
    """The nearest village to ``idx`` that is free and not taken by the national survey, at most
    ``max_distance`` places away (None: any distance)."""
    order = (1, -1) if first == "after" else (-1, 1)
    limit = len(villages) if max_distance is None else min(len(villages), max_distance + 1)
    for distance in range(1, limit):
        for sign in order:
            j = idx + sign * distance
            if 0 <= j < len(villages):
                v = villages[j]
                if v.code not in chosen and not v.national_survey:
                    return j, "after" if sign > 0 else "before", distance
    return None


def _neighbour_state(villages: Sequence[UnitRow], j: int, chosen: set[str]) -> tuple[str, str]:
    """Why the neighbour at index j cannot replace (vi, en)."""
    if not 0 <= j < len(villages):
        return "không có (đầu/cuối danh sách)", "none (end of the list)"
    v = villages[j]
    if v.national_survey:
        return f"{v.display_name} cũng do Bộ Nội vụ chọn", f"{v.display_name} also in the national survey"
    return f"{v.display_name} đã được chọn", f"{v.display_name} already chosen"


def _villages_random(b: _Builder, commune: UnitRow, rule: HqRandomVillages,
                     quota: int) -> list[UnitRow]:
    villages = _ordered(b.frame.children(commune.code, "village"), rule.order)
    key = f"{commune.code}:villages"
    cname = commune.display_name
    b.add_list(key, f"Danh sách bản, tổ dân phố của {cname}", f"Villages of {cname}", villages)
    chosen: set[str] = set()
    picked: list[UnitRow] = []

    def take(v: UnitRow, reason: Reason) -> None:
        b.add_unit(v, reason, list_key=key, rank=villages.index(v) + 1, quota=quota)
        chosen.add(v.code)
        picked.append(v)

    def replace(v: UnitRow, what_vi: str, what_en: str) -> str:
        """"taken" (an adjacent village replaces v), "pending" (both neighbours taken: the place
        is left for staff), or "none" (no village left at any distance)."""
        i = villages.index(v)
        stop = rule.when_both_adjacent_taken == "stop"
        found = _adjacent(villages, i, chosen | {v.code}, rule.adjacent_first, 1 if stop else None)
        if found is None and stop:
            before_vi, before_en = _neighbour_state(villages, i - 1, chosen)
            after_vi, after_en = _neighbour_state(villages, i + 1, chosen)
            b.shortfall(v.code, "village", 1, 0, Reason(
                "village.adjacent_both_taken",
                f"CẦN CÁN BỘ QUYẾT ĐỊNH: {v.display_name} ({what_vi}) đã được Bộ Nội vụ chọn điều tra; "
                f"bản liền kề trước: {before_vi}; liền kề sau: {after_vi}. Kế hoạch chỉ cho thay bằng bản "
                f"liền kề nên không tự chọn bản xa hơn",
                f"NEEDS A STAFF DECISION: {v.display_name} ({what_en}) was taken by the national survey; "
                f"the village before: {before_en}; after: {after_en}. The plan only allows an adjacent "
                f"village, so none further out is taken"))
            return "pending"
        if found is None:
            b.shortfall(v.code, "village", 1, 0, Reason(
                "village.no_adjacent",
                f"{v.display_name} ({what_vi}) đã được Bộ Nội vụ chọn điều tra và không còn bản "
                f"liền kề để thay",
                f"{v.display_name} ({what_en}) was taken by the Ministry's national survey and no "
                f"adjacent village is left to replace it"))
            return "none"
        j, side, distance = found
        side_vi = "sau" if side == "after" else "trước"
        dist_vi = "" if distance == 1 else f" (cách {distance} bản)"
        dist_en = "" if distance == 1 else f" ({distance} places away)"
        why_vi, _, why_en = rule.adjacent_reason.partition(" / ")
        take(villages[j], Reason(
            "village.adjacent",
            f"bản liền kề {side_vi} {v.display_name}{dist_vi} trong danh sách, thay cho "
            f"{v.display_name} ({what_vi}) vì bản này đã được Bộ Nội vụ chọn điều tra ({why_vi})",
            f"adjacent village {side} {v.display_name}{dist_en} in the list, replacing "
            f"{v.display_name} ({what_en}) because the Ministry's national survey took it "
            f"({why_en or why_vi})"))
        return "taken"

    hq = next((v for v in villages if v.commune_hq), None)
    if hq is not None:
        if hq.national_survey and rule.replace_national_survey and rule.replacement_applies_to_hq:
            replace(hq, "có trụ sở xã", "commune seat")
        else:
            take(hq, Reason("village.hq", f"có trụ sở {cname} (mặc định)",
                            f"holds the seat of {cname} (by default)"))
    rng = _rng(b.plan, b.seed, "villages", commune.code)
    candidates = [v for v in villages if v.code not in chosen and v is not hq]
    draw_order = candidates[:]
    rng.shuffle(draw_order)
    need = rule.per_commune - len(picked)
    for k, v in enumerate(draw_order, start=1):
        if need <= 0:
            break
        if v.code in chosen:
            continue
        if v.national_survey and rule.replace_national_survey:
            if replace(v, f"bản rút ngẫu nhiên thứ {k}", f"random draw no. {k}") != "none":
                need -= 1   # replaced, or the place is kept open for the staff's decision
            continue
        take(v, Reason(
            "village.random",
            f"chọn ngẫu nhiên (hạt giống {b.seed}, lượt rút thứ {k} trong {len(candidates)} bản "
            f"còn lại)",
            f"drawn at random (seed {b.seed}, draw no. {k} of the {len(candidates)} other villages)"))
        need -= 1
    if need > 0:
        b.shortfall(commune.code, "commune", rule.per_commune, len(picked), Reason(
            "village.shortfall",
            f"{cname} không đủ bản để chọn: có {len(picked)}/{rule.per_commune}",
            f"{cname} has too few eligible villages: {len(picked)}/{rule.per_commune}"))
    return picked


# --------------------------------------------------------------------------------------------
# Households
# --------------------------------------------------------------------------------------------


def _allocate(sizes: Sequence[int], q: int) -> list[int]:
    """Split ``q`` over groups of the given sizes: proportional, at least one each if possible.

    Largest remainders; ties go to the group earlier in the (Vietnamese-sorted) order. With fewer
    than one per group available, the largest groups get one each.
    """
    n, total = len(sizes), sum(sizes)
    if q >= total:
        return list(sizes)
    if q < n:
        best = set(sorted(range(n), key=lambda i: (-sizes[i], i))[:q])
        return [1 if i in best else 0 for i in range(n)]
    ideal = [q * s / total for s in sizes]
    alloc = [min(s, max(1, math.floor(x))) for s, x in zip(sizes, ideal)]
    while sum(alloc) > q:
        i = max((i for i in range(n) if alloc[i] > 1), key=lambda i: (alloc[i] - ideal[i], -i))
        alloc[i] -= 1
    while sum(alloc) < q:
        i = max((i for i in range(n) if alloc[i] < sizes[i]), key=lambda i: (ideal[i] - alloc[i], -i))
        alloc[i] += 1
    return alloc


def _draw_households(rng: random.Random, pool: Sequence[HouseholdRow], q: int,
                     cover: bool) -> list[tuple[HouseholdRow, str, int, int]]:
    """(household, sub-hamlet, drawn in its group, group size) for ``q`` households of ``pool``."""
    groups: dict[str, list[HouseholdRow]] = defaultdict(list)
    for hh in pool:
        groups[hh.sub_hamlet if cover else ""].append(hh)
    names = sorted(groups, key=vi_sort_key)
    for name in names:
        groups[name].sort(key=lambda h: vi_sort_key(h.household_id))
    alloc = _allocate([len(groups[n]) for n in names], q)
    out: list[tuple[HouseholdRow, str, int, int]] = []
    for name, k in zip(names, alloc):
        members = groups[name]
        drawn = rng.sample(members, k) if k < len(members) else list(members)
        drawn.sort(key=lambda h: vi_sort_key(h.household_id))
        out.extend((hh, name, k, len(members)) for hh in drawn)
    return out


def _neighbours(b: _Builder, village: UnitRow) -> list[UnitRow]:
    """Villages of the same commune, nearest first (see the module docstring)."""
    siblings = [v for v in _ordered(b.frame.children(village.parent_code, "village"))
                if v.code != village.code]
    listed = _ordered(b.frame.children(village.parent_code, "village"))
    pos = {v.code: i for i, v in enumerate(listed)}
    me = pos[village.code]

    def key(v: UnitRow) -> tuple[Any, ...]:
        if village.neighbour_order is not None and v.neighbour_order is not None:
            d = v.neighbour_order - village.neighbour_order
            return (0, abs(d), 0 if d > 0 else 1, pos[v.code])
        d = pos[v.code] - me
        return (1, abs(d), 0 if d > 0 else 1, pos[v.code])

    return sorted(siblings, key=key)


def _households(b: _Builder, villages: Sequence[tuple[UnitRow, int]]) -> None:
    rule = b.plan.households
    assert rule is not None
    taken: set[str] = set()
    short: list[tuple[UnitRow, int, int]] = []
    order = 0
    for village, q in villages:
        pool = b.frame.households_of(village.code)
        rng = _rng(b.plan, b.seed, "households", village.code)
        if len(pool) <= q:
            for hh in sorted(pool, key=lambda h: vi_sort_key(h.household_id)):
                order += 1
                b.sel.households.append(SelectedHousehold(
                    hh.household_id, village.code, village.code, hh.sub_hamlet, Reason(
                        "household.all",
                        f"{village.display_name} chỉ có {len(pool)} hộ (cần {q}): lấy tất cả",
                        f"{village.display_name} has only {len(pool)} households (needs {q}): all taken"),
                    order))
                taken.add(hh.household_id)
            if len(pool) < q:
                short.append((village, q, len(pool)))
            continue
        for hh, sub, k, n in _draw_households(rng, pool, q, rule.cover_sub_hamlets):
            where_vi = f"{sub}" if sub else "bản"
            where_en = f"{sub}" if sub else "the village"
            order += 1
            b.sel.households.append(SelectedHousehold(
                hh.household_id, village.code, village.code, hh.sub_hamlet, Reason(
                    "household.drawn",
                    f"chọn ngẫu nhiên {k}/{n} hộ của {where_vi} (phân bổ {q} hộ theo tỷ lệ, mỗi "
                    f"phố/đội/xóm/điểm bản ít nhất 1 hộ; hạt giống {b.seed})",
                    f"drawn at random, {k} of {n} households of {where_en} ({q} allocated in "
                    f"proportion, at least 1 per sub-hamlet; seed {b.seed})"),
                order))
            taken.add(hh.household_id)
    # Top-ups after every village's own draw, so a neighbour's own quota is never starved.
    for village, q, got in short:
        missing = q - got
        if rule.top_up == "neighbour":
            for nb in _neighbours(b, village):
                if missing <= 0:
                    break
                pool = [hh for hh in b.frame.households_of(nb.code) if hh.household_id not in taken]
                if not pool:
                    continue
                k = min(missing, len(pool))
                rng = _rng(b.plan, b.seed, "top-up", village.code, nb.code)
                for hh, _sub, _k, _n in _draw_households(rng, pool, k, rule.cover_sub_hamlets):
                    order += 1
                    b.sel.households.append(SelectedHousehold(
                        hh.household_id, nb.code, village.code, hh.sub_hamlet, Reason(
                            "household.top_up",
                            f"bổ sung từ bản liền kề {nb.display_name} vì {village.display_name} "
                            f"chỉ có {got}/{q} hộ",
                            f"top-up from the neighbouring village {nb.display_name} because "
                            f"{village.display_name} has only {got} of {q} households"),
                        order))
                    taken.add(hh.household_id)
                missing -= k
        if missing > 0:
            b.shortfall(village.code, "village", q, q - missing, Reason(
                "household.shortfall",
                f"{village.display_name} thiếu {missing} hộ và không còn bản liền kề để bổ sung",
                f"{village.display_name} is {missing} households short and no neighbouring "
                f"village has any left"))


# --------------------------------------------------------------------------------------------
# Services (2021)
# --------------------------------------------------------------------------------------------


def _eligible(users: Sequence[ServiceUserRow], rule: ServiceEligibility) -> tuple[list[ServiceUserRow], Counter]:
    """The users the plan may survey, and why the others may not (counts by reason)."""
    why: Counter = Counter()
    ok: list[ServiceUserRow] = []
    for u in users:
        bad = False
        if rule.require_address and not (u.address or "").strip():
            why["address"] += 1
            bad = True
        if rule.require_phone and not u.phone:
            why["phone"] += 1
            bad = True
        if rule.require_result_received and u.result_received is not True:
            why["result"] += 1
            bad = True
        if not bad:
            ok.append(u)
    return ok, why


def _service_pools(b: _Builder) -> tuple[dict[tuple[str, str], list[ServiceUserRow]], dict[str, set[str]],
                                         dict[tuple[str, str], str]]:
    """Eligible users by (agency, field), fields by agency and display names (folded keys)."""
    sp = b.plan.services
    assert sp is not None
    if sp.eligibility.require_result_received and all(u.result_received is None for u in b.frame.service_users):
        raise SamplingError([
            "danh sách người dùng dịch vụ không có cột 'result_received' (đã nhận kết quả) mà kế hoạch "
            "yêu cầu / the service-user list has no 'result_received' column, which the plan requires "
            "(set eligibility.require_result_received: false to draw without it)"])
    users, why = _eligible(b.frame.service_users, sp.eligibility)
    if why:
        b.sel.warnings.append(Reason(
            "service.ineligible",
            f"{len(b.frame.service_users) - len(users)} người trong danh sách không đủ điều kiện khảo sát "
            f"(thiếu địa chỉ: {why['address']}, thiếu số điện thoại: {why['phone']}, chưa nhận kết quả: "
            f"{why['result']})",
            f"{len(b.frame.service_users) - len(users)} listed users are not eligible (no address: "
            f"{why['address']}, no phone: {why['phone']}, result not received: {why['result']})"))
    by_key: dict[tuple[str, str], list[ServiceUserRow]] = defaultdict(list)
    agencies_in_frame: dict[str, set[str]] = defaultdict(set)
    field_names: dict[tuple[str, str], str] = {}
    for su in users:
        k = (name_key(su.agency), name_key(su.field))
        by_key[k].append(su)
        agencies_in_frame[k[0]].add(k[1])
        field_names.setdefault(k, su.field)
    for lst in by_key.values():
        lst.sort(key=lambda x: vi_sort_key(x.user_id))
    return by_key, agencies_in_frame, field_names


def _pick_users(users: Sequence[ServiceUserRow], k: int, rng: random.Random,
                taken: set[str]) -> list[ServiceUserRow]:
    free = [u for u in users if u.user_id not in taken]
    got = rng.sample(free, k) if k < len(free) else free
    return sorted(got, key=lambda x: vi_sort_key(x.user_id))


def _services(b: _Builder) -> None:
    sp = b.plan.services
    assert sp is not None
    by_key, agencies_in_frame, field_names = _service_pools(b)
    taken: set[str] = set()
    order = 0
    automatic = sp.substitution_approval == "automatic"

    for agency in sp.agencies:
        a = name_key(agency.name)
        b.sel.units.append(SelectedUnit(
            agency.name, agency.name, "agency", agency.district, Reason(
                "service.agency", "cơ quan trong biểu phân bổ phiếu của kế hoạch",
                "agency in the plan's quota table"),
            quota=agency.quota, order=len(b.sel.units) + 1))
        if a not in agencies_in_frame:
            b.shortfall(agency.name, "agency", agency.quota, 0, Reason(
                "service.no_list",
                f"không có danh sách người dùng dịch vụ của {agency.name}",
                f"no service-user list for {agency.name}"))
            continue
        deficits: list[tuple[str, int, int]] = []
        for fq in agency.fields:
            code = f"{agency.name} / {fq.field}"
            b.sel.units.append(SelectedUnit(
                code, fq.field, "field", agency.name, Reason(
                    "service.field", f"lĩnh vực trong biểu phân bổ: {fq.quota} phiếu",
                    f"field in the quota table: {fq.quota} questionnaires"),
                quota=fq.quota, order=len(b.sel.units) + 1))
            users = by_key.get((a, name_key(fq.field)), [])
            rng = _rng(b.plan, b.seed, "service", agency.name, fq.field)
            got = _pick_users(users, fq.quota, rng, taken)
            for u in got:
                order += 1
                b.sel.service_users.append(SelectedServiceUser(
                    u.user_id, agency.name, u.field, fq.field, Reason(
                        "service.drawn",
                        f"chọn ngẫu nhiên {len(got)}/{len(users)} người đã giao dịch và nhận kết quả ({fq.field})",
                        f"drawn at random, {len(got)} of {len(users)} eligible users of {fq.field}"),
                    order))
                taken.add(u.user_id)
            if len(got) < fq.quota:
                deficits.append((fq.field, fq.quota - len(got), len(users)))
        if sp.substitution == "none":
            for f_name, d, n in deficits:
                b.shortfall(f"{agency.name} / {f_name}", "field", d + n, n, Reason(
                    "service.shortfall", f"{f_name} chỉ có {n} giao dịch", f"{f_name} has only {n} users"))
            continue
        table_fields = [fq.field for fq in agency.fields]
        declared = {name_key(fq.field): fq.substitutes for fq in agency.fields}
        outside = sorted(
            (f for f in agencies_in_frame[a] if f not in {name_key(x) for x in table_fields}),
            key=lambda f: (-len(by_key[(a, f)]), vi_sort_key(field_names[(a, f)])))
        reserved: Counter = Counter()        # users promised to pending proposals, per field
        for f_name, d, n in deficits:
            missing = d
            candidates: list[str] = []
            for c in declared[name_key(f_name)] + table_fields:
                if name_key(c) != name_key(f_name) and name_key(c) not in {name_key(x) for x in candidates}:
                    candidates.append(c)
            if sp.allow_fields_outside_table:
                candidates += [field_names[(a, f)] for f in outside
                               if f not in {name_key(x) for x in candidates}]
            for cand in candidates:
                if d <= 0:
                    break
                users = by_key.get((a, name_key(cand)), [])
                free = sum(1 for u in users if u.user_id not in taken) - reserved[name_key(cand)]
                k = min(d, free)
                if k <= 0:
                    continue
                if not automatic:
                    reserved[name_key(cand)] += k
                    b.sel.substitutions.append(Substitution(agency.name, f_name, cand, k, Reason(
                        "service.substitute_proposed",
                        f"ĐỀ XUẤT (chờ UBND tỉnh, qua Sở Nội vụ, xem xét, quyết định): {f_name} chỉ có {n} "
                        f"giao dịch, chuyển {k} phiếu sang {cand} của cùng cơ quan",
                        f"PROPOSED (for the provincial committee, through Home Affairs, to decide): "
                        f"{f_name} has only {n} transactions, move {k} questionnaires to {cand} of the "
                        f"same agency"), status="proposed", missing=missing))
                    d -= k
                    continue
                rng = _rng(b.plan, b.seed, "substitute", agency.name, f_name, cand)
                got = _pick_users(users, k, rng, taken)
                reason = Reason(
                    "service.substitute",
                    f"thay thế: {f_name} chỉ có {n} giao dịch, {len(got)} phiếu chuyển "
                    f"sang {cand} của cùng cơ quan",
                    f"substitution: {f_name} has only {n} transactions, {len(got)} questionnaires "
                    f"moved to {cand} of the same agency")
                b.sel.substitutions.append(Substitution(agency.name, f_name, cand, len(got), reason,
                                                        missing=missing))
                for u in got:
                    order += 1
                    b.sel.service_users.append(SelectedServiceUser(
                        u.user_id, agency.name, u.field, f_name, reason, order))
                    taken.add(u.user_id)
                d -= len(got)
            if d > 0:
                b.shortfall(f"{agency.name} / {f_name}", "field", d + n, n, Reason(
                    "service.shortfall",
                    f"{f_name}: thiếu {d} phiếu, không còn lĩnh vực nào của {agency.name} để thay thế",
                    f"{f_name}: {d} questionnaires short, no other field of {agency.name} has users left"))


def draw_substitution(plan: Plan, frame: Frame, seed: int, agency: str, from_field: str, to_field: str,
                      count: int, exclude: set[str], decision: str = "approved") -> list[SelectedServiceUser]:
    """The users fielded for a substitution staff decided (approved as proposed, or changed to
    ``to_field`` / ``count``): drawn at random, seeded, from the eligible users of ``to_field`` of
    the same agency that are not in ``exclude`` (everyone already in the round's sample). Fewer
    than ``count`` when the field has fewer left."""
    b = _Builder(plan, frame, seed)
    by_key, agencies_in_frame, _ = _service_pools(b)
    a, f = name_key(agency), name_key(to_field)
    if f not in agencies_in_frame.get(a, set()):
        raise SamplingError([f"{agency} không có người dùng dịch vụ đủ điều kiện trong lĩnh vực '{to_field}' / "
                             f"{agency} has no eligible user in the field '{to_field}'"])
    rng = _rng(plan, seed, "substitute", agency, from_field, to_field)
    got = _pick_users(by_key[(a, f)], count, rng, exclude)
    verb_vi = "đã duyệt" if decision == "approved" else "đã điều chỉnh"
    verb_en = "approved" if decision == "approved" else "changed"
    reason = Reason(
        "service.substitute",
        f"thay thế {verb_vi}: {from_field} không đủ cỡ mẫu, {len(got)} phiếu chuyển sang {to_field} "
        f"của cùng cơ quan",
        f"substitution {verb_en} by staff: {from_field} lacks transactions, {len(got)} questionnaires "
        f"moved to {to_field} of the same agency")
    return [SelectedServiceUser(u.user_id, agency, u.field, from_field, reason, i + 1)
            for i, u in enumerate(got)]


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def draw(plan: Plan, frame: Frame, seed: int | None = None) -> Selection:
    """Apply ``plan`` to ``frame``; ``seed`` defaults to the plan's seed.

    Raises :class:`SamplingError` (with every problem, in Vietnamese and English) when the frame
    lacks what the plan needs; the edge cases of the rules themselves never raise.
    """
    b = _Builder(plan, frame, plan.seed if seed is None else seed)
    if plan.kind == "services":
        if not frame.service_users:
            raise SamplingError(["khung mẫu không có danh sách người dùng dịch vụ / "
                                 "the frame has no service-user list"])
        _services(b)
        return b.sel
    assert plan.communes is not None and plan.villages is not None and plan.households is not None
    if not frame.households:
        raise SamplingError(["khung mẫu không có danh sách hộ / the frame has no household list"])
    if isinstance(plan.communes, TypeListCommunes):
        communes = _communes_type_lists(b, plan.communes)
    else:
        communes = _communes_all(b, plan.communes)
    _check_overrides(b, communes)
    sampled: list[tuple[UnitRow, int]] = []
    for commune in communes:
        quota = plan.households.quota_for(commune.code, commune.kind, commune.name)
        if isinstance(plan.villages, HqPositionVillages):
            vs = _villages_positions(b, commune, plan.villages, quota)
        else:
            vs = _villages_random(b, commune, plan.villages, quota)
        sampled.extend((v, quota) for v in vs)
    _households(b, sampled)
    return b.sel


def _check_overrides(b: _Builder, communes: Sequence[UnitRow]) -> None:
    """Every household override names exactly one commune of the frame: two is an error (the
    plan cannot say which), none a warning (the ward may be outside a pilot frame)."""
    rule = b.plan.households
    assert rule is not None
    for o in rule.overrides:
        hits = [c for c in communes if o.matches(c.code, c.kind, c.name)]
        if len(hits) > 1:
            raise SamplingError([
                f"quy định riêng số hộ cho '{o.label()}' khớp nhiều đơn vị: "
                + ", ".join(f"{c.display_name} ({c.code})" for c in hits)
                + f" / the household override '{o.label()}' matches several units: use a unit code"])
        if not hits:
            b.sel.warnings.append(Reason(
                "household.override_unmatched",
                f"quy định riêng {o.households} hộ cho '{o.label()}' không khớp xã, phường nào của khung mẫu",
                f"the {o.households}-household override for '{o.label()}' matches no commune of the frame"))


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


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------

_ROW_COLUMNS = ["record", "level", "code", "name", "parent_code", "parent_name", "sample_village",
                "sub_hamlet", "head_name", "agency", "field", "quota", "rank", "rule",
                "reason_vi", "reason_en"]


def selection_rows(selection: Selection, frame: Frame) -> list[dict[str, Any]]:
    """Flat rows for a staff spreadsheet (units, households, service users, shortfalls).

    Households carry the head's name and sub-hamlet (the list enumerators need, Phụ lục 03) but
    no phone or chat id: contacts go through invites, not through this file.
    """
    rows: list[dict[str, Any]] = []
    blank = dict.fromkeys(_ROW_COLUMNS, "")
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
    from survey_defs.spreadsheet_safety import SafeDictWriter, SafeWorkbook
    from storage.private_files import create_private_file, open_private

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
            w = SafeDictWriter(fh, fieldnames=_ROW_COLUMNS)
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
        wb.write_row(ws, 0, 0, _ROW_COLUMNS, bold)
        for i, r in enumerate(part, start=1):
            wb.write_row(ws, i, 0, [r[col] for col in _ROW_COLUMNS])
        ws.freeze_panes(1, 0)
    wb.close()
    return path


def read_selection(path: Path | str) -> Selection:
    """Read a selection written as JSON by :func:`write_selection`."""
    return Selection.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
