"""``hailong sample substitutions list|approve|change|reject``: the 2021 service survey's draw
proposes substitutions for fields with too few transactions; staff decide, and only a decided
substitution is fielded (its substitutes drawn from the same frame, plan and seed as the sample).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from sampling.cli_helpers import DEFAULT_FRAME_DIR, console, db_or_refuse, frame_or_fail, run_db
from sampling.persistence import service_respondents
from sampling.plan_schema import Plan, PlanError, load_plan
from sampling.rules import draw
from sampling.selection import SamplingError, SelectedServiceUser
from sampling.services import draw_substitution
from storage.audit import default_actor
from storage.commands import db_option, fail
from storage.respondents import list_respondents
from storage.rounds import get_round_by_code
from storage.substitutions import SubstitutionError, decide_substitution, get_substitution, list_substitutions
from storage.units import get_unit_by_code

subs_app = typer.Typer(help="Thay thế lĩnh vực thiếu cỡ mẫu: xem, duyệt, điều chỉnh, từ chối / "
                            "substitutions of fields with too few transactions: list, approve, change, reject.",
                       no_args_is_help=True)

_STATUS_VI = {"proposed": "chờ quyết định / proposed", "approved": "đã duyệt / approved",
              "changed": "đã điều chỉnh / changed", "rejected": "từ chối / rejected"}


def _subs_table(rows: list[Any]) -> Table:
    t = Table(title="Đề xuất thay thế / substitution proposals")
    for c in ("#", "Cơ quan / agency", "Lĩnh vực thiếu / short field", "Thiếu / missing", "Đề xuất / proposal",
              "Trạng thái / status", "Quyết định / decision"):
        t.add_column(c, overflow="fold")
    for r in rows:
        prop = "; ".join(f"{p['to_field']}: {p['count']}" for p in r.proposal) or "—"
        decided = ""
        if r.status in ("approved", "changed"):
            decided = f"{r.decided_field or prop}: {r.fielded} phiếu ({r.decided_by})"
        elif r.status == "rejected":
            decided = f"{r.decided_by}: {r.note or ''}"
        t.add_row(str(r.id), r.agency, r.from_field, str(r.missing), prop, _STATUS_VI.get(r.status, r.status), decided)
    return t


async def _subs_context(db: Any, round_code: str) -> tuple[Any, Plan]:
    rnd = await get_round_by_code(db, round_code)
    if rnd is None:
        raise SamplingError([f"không có đợt khảo sát '{round_code}' / no round '{round_code}'"])
    if not rnd.sampling_plan_id or "sampling" not in rnd.settings:
        raise SamplingError([f"đợt '{round_code}' chưa rút mẫu / round '{round_code}' has no sample yet"])
    try:
        plan = load_plan(rnd.sampling_plan_id)
    except PlanError as exc:
        raise SamplingError(exc.problems) from None
    return rnd, plan


@subs_app.command("list")
def subs_list(round_code: str = typer.Option(..., "--round", help="Mã đợt / round code"),
              db: Optional[str] = db_option()) -> None:
    """Các đề xuất thay thế và quyết định / proposals and decisions."""
    async def run(d: Any) -> list[Any]:
        rnd, _ = await _subs_context(d, round_code)
        return await list_substitutions(d, rnd.id)

    rows = run_db(db_or_refuse(db), run)
    if not rows:
        console.print("Không có đề xuất thay thế nào / no substitution proposal")
        return
    console.print(_subs_table(rows))
    waiting = sum(1 for r in rows if r.status == "proposed")
    if waiting:
        console.print(f"{waiting} đề xuất chờ quyết định: 'hailong sample substitutions approve|change|reject' / "
                      f"{waiting} proposals wait for a decision")


def _decide(round_code: str, db: Optional[str], sub_ids: list[int], decision: str, frame_dir: Path, actor: str | None,
            note: str | None, to_field: str | None = None, count: int | None = None) -> None:
    who = default_actor(actor)

    async def run(d: Any) -> list[Any]:
        rnd, plan = await _subs_context(d, round_code)
        if plan.services is None:
            raise SamplingError([f"kế hoạch {plan.id} không có thay thế lĩnh vực / plan {plan.id} has no "
                                 "field substitutions"])
        ids = sub_ids or [r.id for r in await list_substitutions(d, rnd.id) if r.status == "proposed"]
        if not ids:
            raise SamplingError(["không có đề xuất nào chờ quyết định / no proposal waits for a decision"])
        sampling = rnd.settings["sampling"]
        frame = seed = None
        if decision != "rejected":
            frame = frame_or_fail(frame_dir, plan)
            seed = int(sampling["seed"])
            again = draw(plan, frame, seed)
            if again.fingerprint() != sampling.get("fingerprint"):
                raise SamplingError([
                    "khung mẫu hoặc kế hoạch đã khác lúc rút mẫu: không rút người thay thế từ một danh sách khác / "
                    "the frame or plan differs from the one the sample was drawn from: no substitute is drawn "
                    "from another list (use --frame with the original lists)"])
        done = []
        for sid in ids:
            sub = await get_substitution(d, rnd.id, sid)
            if sub is None:
                raise SamplingError([f"không có đề xuất số {sid} / no proposal {sid}"])
            items: list[Any] = []
            field_used, n_used = to_field, count
            if decision != "rejected":
                assert frame is not None and seed is not None
                pieces = ([(p["to_field"], int(p["count"])) for p in sub.proposal] if decision == "approved"
                          else [(to_field or "", count if count is not None else sub.missing)])
                exclude = {r.household_ref for r in await list_respondents(d, rnd.id) if r.household_ref}
                chosen: list[SelectedServiceUser] = []
                for f_name, k in pieces:
                    got = draw_substitution(plan, frame, seed, sub.agency, sub.from_field, f_name, k,
                                            exclude | {u.user_id for u in chosen}, decision)
                    chosen += got
                unit = await get_unit_by_code(d, sampling.get("frame", plan.frame), f"{sub.agency} / {sub.from_field}")
                if unit is None:
                    raise SamplingError([f"không có lĩnh vực {sub.from_field} của {sub.agency} trong CSDL / "
                                         "the field is not in the database"])
                items = service_respondents(chosen, frame, {f"{sub.agency} / {sub.from_field}": unit.id})
                if decision == "approved":
                    field_used = "; ".join(f for f, _ in pieces)
                    n_used = sum(k for _, k in pieces)
            try:
                done.append(await decide_substitution(d, rnd.id, sid, decision, actor=who, note=note,  # type: ignore[arg-type]
                                                      decided_field=field_used, decided_count=n_used,
                                                      respondents=items))
            except SubstitutionError as exc:
                raise SamplingError([str(exc)]) from None
        return done

    rows = run_db(db_or_refuse(db), run)
    console.print(_subs_table(rows))
    fielded = sum(r.fielded for r in rows)
    if fielded:
        console.print(f"Đã thêm {fielded} người được chọn vào mẫu (chưa mời) / {fielded} respondents added to the "
                      "sample (not yet invited)")
    short = [r for r in rows if r.status != "rejected" and r.fielded < r.missing]
    for r in short:
        console.print(f"[yellow]{r.agency} / {r.from_field}: chỉ có {r.fielded}/{r.missing} phiếu / only "
                      f"{r.fielded} of {r.missing}[/]")


NoteOpt = typer.Option(None, "--note", help="Lý do, số văn bản quyết định / reason, decision reference")
FrameOpt = typer.Option(DEFAULT_FRAME_DIR, "--frame", help="Khung mẫu đã dùng khi rút / the frame the sample was drawn from")
ActorOpt = typer.Option(None, "--actor", help="Người quyết định (nhật ký) / who decides, for the audit log")


@subs_app.command("approve")
def subs_approve(ids: Optional[list[int]] = typer.Argument(None, help="Số đề xuất / proposal numbers"),
                 round_code: str = typer.Option(..., "--round"), db: Optional[str] = db_option(),
                 all_: bool = typer.Option(False, "--all", help="Duyệt mọi đề xuất đang chờ / every waiting one"),
                 note: Optional[str] = NoteOpt, frame_dir: Path = FrameOpt,
                 actor: Optional[str] = ActorOpt) -> None:
    """Duyệt đề xuất như đã nêu và đưa người thay thế vào mẫu / approve as proposed and field it."""
    if not ids and not all_:
        fail("nêu số đề xuất hoặc --all / give proposal numbers or --all", code=2)
    _decide(round_code, db, list(ids or []), "approved", frame_dir, actor, note)


@subs_app.command("change")
def subs_change(sub_id: int = typer.Argument(..., help="Số đề xuất / proposal number"),
                to_field: str = typer.Option(..., "--to-field", help="Lĩnh vực thay thế (cùng cơ quan) / field to use"),
                count: Optional[int] = typer.Option(None, "--count", min=0, help="Số phiếu / questionnaires"),
                round_code: str = typer.Option(..., "--round"), db: Optional[str] = db_option(),
                note: Optional[str] = NoteOpt, frame_dir: Path = FrameOpt,
                actor: Optional[str] = ActorOpt) -> None:
    """Điều chỉnh: lĩnh vực hay số phiếu khác đề xuất / change the field or count, then field it."""
    if not to_field.strip() or len(to_field) > 300:
        fail("tên lĩnh vực không hợp lệ / invalid field name", code=2)
    _decide(round_code, db, [sub_id], "changed", frame_dir, actor, note, to_field.strip(), count)


@subs_app.command("reject")
def subs_reject(ids: list[int] = typer.Argument(..., help="Số đề xuất / proposal numbers"),
                round_code: str = typer.Option(..., "--round"), db: Optional[str] = db_option(),
                note: Optional[str] = NoteOpt, actor: Optional[str] = ActorOpt) -> None:
    """Từ chối: lĩnh vực giữ nguyên số phiếu có được / reject: the field keeps what it has."""
    _decide(round_code, db, list(ids), "rejected", DEFAULT_FRAME_DIR, actor, note)
