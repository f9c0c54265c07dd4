"""A frame and a draw into the database, through storage's public functions: the frame's units
(and a service plan's agencies and fields), a round's selected units with their reasons, and the
selected households or service users as respondents (reasons kept, contacts apart).

Why apart from the commands: ``hailong frame import``, ``hailong sample draw --round`` and
``sample substitutions`` store through it, and so do the demo and the tests that need a stored
sample.
"""

from __future__ import annotations

from typing import Any

from sampling.frames import Frame
from sampling.plan_schema import Plan
from sampling.selection import SamplingError, SelectedServiceUser, Selection, Substitution
from storage.respondents import ContactIn, RespondentIn, insert_respondents, list_respondents
from storage.rounds import UnitSelection, get_round_by_code, set_round_units, update_round
from storage.substitutions import ProposalIn, record_proposals
from storage.units import UnitIn, insert_units


def _unit_ins(frame: Frame, plan: Plan | None = None) -> list[Any]:
    out: list[UnitIn] = []
    by_level = {"province": 0, "district": 1, "commune": 2, "village": 3}
    for u in sorted(frame.units.values(), key=lambda u: (by_level[u.level], u.code)):
        out.append(UnitIn(
            kind=u.level, code=u.code, name=u.display_name, parent_code=u.parent_code,
            admin_type=u.admin_type, is_admin_centre=u.admin_centre, is_commune_hq=u.commune_hq,
            sort_order=u.sort_number, neighbour_order=u.neighbour_order,
            attrs={k: v for k, v in {"short_name": u.name, "kind": u.kind,
                                     "national_survey": u.national_survey or None,
                                     # households in the village's list: the design weights'
                                     # last-stage count (analytics.weights)
                                     "households": (len(frame.households_of(u.code)) or None)
                                     if u.level == "village" else None,
                                     "source": u.source}.items() if v is not None}))
    if plan is not None and plan.services is not None:
        for a in plan.services.agencies:
            out.append(UnitIn(kind="agency", code=a.name, name=a.name, quota=a.quota,
                              admin_type=a.admin_type, is_admin_centre=a.admin_centre,
                              attrs={"level": a.level, "district": a.district}))
            for f in a.fields:
                out.append(UnitIn(kind="field", code=f"{a.name} / {f.field}", name=f.field,
                                  parent_code=a.name, quota=f.quota))
    return out


async def store_frame(db: Any, frame_name: str, frame: Frame, plan: Plan | None = None) -> dict[str, int]:
    """Store the frame's units (and a service plan's agencies/fields); returns code → unit id."""
    return await insert_units(db, frame_name, _unit_ins(frame, plan))


async def store_selection(db: Any, round_code: str, plan: Plan, frame: Frame,
                          selection: Selection, frame_name: str | None = None) -> dict[str, int]:
    """Store a draw for a round: units, round units with reasons, respondents with contacts.

    Refuses a round that already has respondents (a second draw would duplicate households).
    Returns counts of what was stored.
    """
    rnd = await get_round_by_code(db, round_code)
    if rnd is None:
        raise SamplingError([f"không có đợt khảo sát '{round_code}' / no round '{round_code}'"])
    if rnd.sampling_plan_id and rnd.sampling_plan_id != plan.id:
        raise SamplingError([f"đợt '{round_code}' dùng kế hoạch '{rnd.sampling_plan_id}', không phải "
                             f"'{plan.id}' / round '{round_code}' uses plan '{rnd.sampling_plan_id}'"])
    if await list_respondents(db, rnd.id):
        raise SamplingError([f"đợt '{round_code}' đã có mẫu; không rút lại / round '{round_code}' "
                             f"already has a sample; not drawing again"])
    name = frame_name or rnd.frame or plan.frame
    ids = await store_frame(db, name, frame, plan)
    unit_sel = [UnitSelection(ids[u.code], str(u.reason), u.reason.code, u.quota, u.order)
                for u in selection.units if u.code in ids]
    await set_round_units(db, rnd.id, unit_sel, actor="sampling")
    items: list[RespondentIn] = []
    for h in selection.households:
        row = frame.household(h.household_id)
        assert row is not None
        items.append(RespondentIn(
            unit_id=ids[h.sample_village_code], selection_reason=str(h.reason),
            household_ref=h.household_id,
            attrs={"sub_hamlet": h.sub_hamlet, "village_code": h.village_code, "rule": h.reason.code},
            contact=ContactIn(name=row.head_name, phone=row.phone, telegram_id=row.telegram_id,
                              zalo_id=row.zalo_id)))
    items += service_respondents(selection.service_users, frame, ids)
    stored = await insert_respondents(db, rnd.id, items, actor="sampling")
    proposals = _proposals(selection)
    if proposals:
        await record_proposals(db, rnd.id, proposals, actor="sampling")
    settings = dict(rnd.settings)
    settings["sampling"] = {"plan": plan.id, "plan_hash": plan.content_hash, "seed": selection.seed,
                           "fingerprint": selection.fingerprint(), "frame": name,
                           "recheck_base": plan.recheck_base}
    await update_round(db, rnd.id, actor="sampling", settings=settings, sampling_plan_id=plan.id,
                       recheck_share=rnd.recheck_share if rnd.recheck_share is not None
                       else plan.recheck_share)
    return {"units": len(ids), "round_units": len(unit_sel), "respondents": len(stored)}


def service_respondents(chosen: list[SelectedServiceUser], frame: Frame, ids: dict[str, int]) -> list[Any]:
    """Respondents (with contacts kept apart) for selected service users."""
    users = {u.user_id: u for u in frame.service_users}
    out = []
    for s in chosen:
        su = users[s.user_id]
        out.append(RespondentIn(
            unit_id=ids[f"{s.agency} / {s.quota_field}"], selection_reason=str(s.reason),
            household_ref=s.user_id,
            attrs={"agency": s.agency, "field": s.field, "rule": s.reason.code},
            contact=ContactIn(name=su.name, phone=su.phone, telegram_id=su.telegram_id,
                              zalo_id=su.zalo_id, address=su.address)))
    return out


def _proposals(selection: Selection) -> list[Any]:
    """The draw's pending substitutions, one proposal per field that lacks questionnaires."""
    grouped: dict[tuple[str, str], list[Substitution]] = {}
    for sub in selection.substitutions:
        if sub.status == "proposed":
            grouped.setdefault((sub.agency, sub.from_field), []).append(sub)
    return [ProposalIn(agency, field, parts[0].missing, tuple((p.to_field, p.count) for p in parts),
                       str(parts[0].reason))
            for (agency, field), parts in grouped.items()]
