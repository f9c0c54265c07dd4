"""The rule engine: apply a sampling plan (:mod:`sampling.plan_schema`) to a frame.

Pure: a :class:`~sampling.frames.Frame` in memory and a :class:`~sampling.plan_schema.Plan` in, a
:class:`~sampling.selection.Selection` out — every selected unit, household or service user with
the rule that chose it (a machine code plus a reason in Vietnamese and English), the sorted lists
the choices were made from, and every shortfall. Nothing here touches a database; the CLI stores
the result.

This module holds :func:`draw` and the area stages (province, districts, communes, villages); the
household stage is :mod:`sampling.households`, the service-user stage :mod:`sampling.services`,
the result types :mod:`sampling.selection`, "why (not) this unit" :mod:`sampling.explain` and the
selection files :mod:`sampling.selection_io`.

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
* **Households** (``household.drawn``, :mod:`sampling.households`): the quota is allocated to the
  sub-hamlets in proportion to their size (largest remainders, at least one each), then drawn at
  random inside each. A village with fewer households than its quota gives all of them
  (``household.all``) and is topped up from its geographic neighbours (``household.top_up``): the
  villages of the same commune in order of distance in ``neighbour_order`` (the next one first at
  equal distance; villages without a neighbour order come after, by list distance). Households
  already selected are never reused. No neighbour left: the shortfall is recorded.
* **Service quota** (2021, ``service.substitute``, :mod:`sampling.services`): a field with too
  few transactions gives all it has, and the rest of its quota moves to another field of the
  same agency (see the plan).
"""

from __future__ import annotations

from collections.abc import Sequence

from sampling.builder import Builder, ordered, stage_rng
from sampling.collation import name_key
from sampling.frame_rows import UnitRow
from sampling.frames import Frame
from sampling.households import select_households
from sampling.plan_schema import (
    AllCommunes,
    CommuneGroup,
    HqPositionVillages,
    HqRandomVillages,
    Plan,
    TypeListCommunes,
)
from sampling.selection import Reason, SamplingError, Selection
from sampling.services import select_service_users

__all__ = ["draw"]

TYPES = ("I", "II", "III")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


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


def _communes_type_lists(b: Builder, rule: TypeListCommunes) -> list[UnitRow]:
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
        communes = ordered(b.frame.children(district.code, "commune"))
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


def _communes_all(b: Builder, rule: AllCommunes) -> list[UnitRow]:
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


def _villages_positions(b: Builder, commune: UnitRow, rule: HqPositionVillages,
                        quota: int) -> list[UnitRow]:
    villages = ordered(b.frame.children(commune.code, "village"), rule.order)
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


def _villages_random(b: Builder, commune: UnitRow, rule: HqRandomVillages,
                     quota: int) -> list[UnitRow]:
    villages = ordered(b.frame.children(commune.code, "village"), rule.order)
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
    rng = stage_rng(b.plan, b.seed, "villages", commune.code)
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
# Entry point
# --------------------------------------------------------------------------------------------


def draw(plan: Plan, frame: Frame, seed: int | None = None) -> Selection:
    """Apply ``plan`` to ``frame``; ``seed`` defaults to the plan's seed.

    Raises :class:`SamplingError` (with every problem, in Vietnamese and English) when the frame
    lacks what the plan needs; the edge cases of the rules themselves never raise.
    """
    b = Builder(plan, frame, plan.seed if seed is None else seed)
    if plan.kind == "services":
        if not frame.service_users:
            raise SamplingError(["khung mẫu không có danh sách người dùng dịch vụ / "
                                 "the frame has no service-user list"])
        select_service_users(b)
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
    select_households(b, sampled)
    return b.sel


def _check_overrides(b: Builder, communes: Sequence[UnitRow]) -> None:
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

