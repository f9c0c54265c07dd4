"""The service-user stage (the 2021 services survey): quotas per agency and field, substitutions.

Split from :mod:`sampling.rules` because a services plan shares nothing with the area stages but
the builder: it draws users of each agency's fields, moves the quota of a field with too few
transactions to another field (``service.substitute``, proposed or approved), and
:func:`draw_substitution` draws the users of a substitution staff decide on later (the CLI).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence

from sampling.builder import Builder, stage_rng
from sampling.collation import name_key, vi_sort_key
from sampling.frame_rows import ServiceUserRow
from sampling.frames import Frame
from sampling.plan_schema import Plan, ServiceEligibility
from sampling.selection import Reason, SamplingError, SelectedServiceUser, SelectedUnit, Substitution

__all__ = ["draw_substitution", "select_service_users"]


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


def _service_pools(b: Builder) -> tuple[dict[tuple[str, str], list[ServiceUserRow]], dict[str, set[str]],
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


def select_service_users(b: Builder) -> None:
    """Draw every agency's fields to their quotas; move or propose the quota a field lacks."""
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
            rng = stage_rng(b.plan, b.seed, "service", agency.name, fq.field)
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
                rng = stage_rng(b.plan, b.seed, "substitute", agency.name, f_name, cand)
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
    b = Builder(plan, frame, seed)
    by_key, agencies_in_frame, _ = _service_pools(b)
    a, f = name_key(agency), name_key(to_field)
    if f not in agencies_in_frame.get(a, set()):
        raise SamplingError([f"{agency} không có người dùng dịch vụ đủ điều kiện trong lĩnh vực '{to_field}' / "
                             f"{agency} has no eligible user in the field '{to_field}'"])
    rng = stage_rng(plan, seed, "substitute", agency, from_field, to_field)
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
