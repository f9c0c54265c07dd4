"""Staff commands for frames and the sample: ``hailong frame import`` and ``hailong sample …``.

    hailong frame import FILE... [--db PATH] [--frame-name NAME] [--check]
    hailong sample draw --plan laichau-2025 --frame sampling/data [--seed N] [--out FILE]
                        [--round CODE [--db PATH]]
    hailong sample show [--plan … --frame … --seed … | --selection FILE] [--level village]
    hailong sample explain UNIT_OR_HOUSEHOLD [--plan … --frame … | --selection FILE]
    hailong sample substitutions list|approve|change|reject --round CODE --db PATH …

A draw is deterministic (same frame, plan and seed, same sample), so ``show`` and ``explain``
recompute it from the plan and the frame unless a saved selection (``--out x.json``) is given.
``--db`` defaults to ``$HAILONG_DB``, else ``./hailong.db``, as in every command: ``frame import``
stores the frame's units there (``--check`` only validates), and ``sample draw --round CODE``
stores the round's selected units (with their reasons) and the selected households or service
users (as respondents, reasons kept, contacts apart) through ``storage``. User errors print a Vietnamese + English message and exit non-zero.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table

from sampling.frame_tables import frame_files
from sampling.frames import Frame, FrameImport, RowError, load_frame, load_frame_dir
from sampling.plan_schema import Plan, PlanError, load_plan
from sampling.explain import explain
from sampling.rules import draw
from sampling.selection import SamplingError, SelectedServiceUser, Selection, Substitution
from sampling.selection_io import read_selection, write_selection
from sampling.services import draw_substitution
from storage.audit import default_actor
from storage.commands import db_option, fail, next_step, run_with_db
from storage.db import StorageError
from storage.respondents import ContactIn, RespondentIn, insert_respondents, list_respondents
from storage.rounds import UnitSelection, get_round_by_code, set_round_units, update_round
from storage.substitutions import (ProposalIn, SubstitutionError, decide_substitution, get_substitution,
                                   list_substitutions, record_proposals)
from storage.units import UnitIn, get_unit_by_code, insert_units
from storage.db import default_db_path
from storage.dialect import DialectError, parse_db_url

__all__ = ["register", "store_frame", "store_selection", "DEFAULT_FRAME_DIR"]

DEFAULT_FRAME_DIR = Path(__file__).resolve().parent / "data"

_out = Console()
_err = Console(stderr=True)

frame_app = typer.Typer(help="Khung chọn mẫu: nạp và kiểm tra danh sách / sampling frames: import "
                             "and validate lists.", no_args_is_help=True)
sample_app = typer.Typer(help="Chọn mẫu theo kế hoạch / draw the sample by the plan's rules.",
                         no_args_is_help=True)


def _fail(message: str, code: int = 1) -> NoReturn:
    """Sampling's mistakes leave with code 1 (``storage.commands.fail``)."""
    fail(message, code)


def _error_table(errors: list[RowError], limit: int = 200) -> Table:
    table = Table(title=f"{len(errors)} lỗi / errors — không nạp gì / nothing imported",
                  show_lines=False)
    table.add_column("Tệp / file", overflow="fold")
    table.add_column("Dòng / row", justify="right")
    table.add_column("Cột / column")
    table.add_column("Lý do / reason", overflow="fold")
    for e in errors[:limit]:
        table.add_row(Path(e.file).name, "" if e.row is None else str(e.row), e.column or "", e.reason)
    if len(errors) > limit:
        table.add_row("…", "", "", f"còn {len(errors) - limit} lỗi nữa / {len(errors) - limit} more")
    return table


# --------------------------------------------------------------------------------------------
# Persistence (through storage's public functions)
# --------------------------------------------------------------------------------------------


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
    items += _service_respondents(selection.service_users, frame, ids)
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


def _service_respondents(chosen: list[SelectedServiceUser], frame: Frame, ids: dict[str, int]) -> list[Any]:
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


def _db_path(db: Optional[str]) -> str:
    """``--db``, else ``$HAILONG_DB``, else ``./hailong.db``; a default file that does not exist
    yet is refused (``hailong init`` creates it) rather than created silently in the wrong place.
    A ``postgresql://…`` URL is a server: nothing to look for."""
    if db is not None:
        return db
    path = default_db_path()
    try:
        where = parse_db_url(path)
    except DialectError as exc:
        _fail(str(exc), code=2)
    if not where.is_postgres and not Path(where.target).exists():
        _fail(f"chưa có cơ sở dữ liệu {path}: chạy `hailong init` trước, hoặc chỉ rõ --db / no database at {path}: "
              "run `hailong init` first, or give --db", code=2)
    return path


def _shown(path: str) -> str:
    """The database as it may be printed: a URL without its password."""
    return parse_db_url(path).redacted()


def _run_db(db_path: str, coro_fn: Any) -> Any:
    """``storage.commands.run_with_db`` with sampling's errors (a plan's problems, one a line)."""
    return run_with_db(db_path, coro_fn, must_exist=False, code=1, errors=(StorageError, SamplingError),
                       describe=lambda exc: "\n".join(exc.problems) if isinstance(exc, SamplingError) else str(exc))


# --------------------------------------------------------------------------------------------
# Loading helpers
# --------------------------------------------------------------------------------------------


def _load_plan(name: str) -> Plan:
    try:
        return load_plan(name)
    except PlanError as exc:
        _fail(f"kế hoạch / plan {exc.path}:\n  " + "\n  ".join(exc.problems))
    raise AssertionError  # unreachable


def _load_frame(path: Path, plan: Plan) -> Frame:
    result: FrameImport
    if path.is_dir():
        result = load_frame_dir(path, prefer=plan.frame)
    elif path.exists():
        result = load_frame([path])
    else:
        _fail(f"không có tệp/thư mục / no such file or directory: {path}")
        raise AssertionError
    if not result.ok:
        _err.print(_error_table(result.errors))
        raise typer.Exit(code=1)
    assert result.frame is not None
    return result.frame


def _draw(plan: Plan, frame: Frame, seed: int | None) -> Selection:
    try:
        return draw(plan, frame, seed)
    except SamplingError as exc:
        _fail("kế hoạch không áp dụng được cho khung mẫu này / the plan cannot be applied to this "
              "frame:\n  " + "\n  ".join(exc.problems))
    raise AssertionError


def _selection_from_options(plan_name: str | None, frame_dir: Path, seed: int | None,
                            selection_file: Path | None) -> tuple[Plan, Frame, Selection]:
    if selection_file is not None:
        try:
            sel = read_selection(selection_file)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            _fail(f"không đọc được tệp kết quả chọn mẫu / cannot read the selection file "
                  f"{selection_file}: {exc}")
            raise AssertionError
        plan = _load_plan(plan_name or sel.plan_id)
        if plan.content_hash != sel.plan_hash:
            _err.print("[yellow]Cảnh báo / warning:[/] kế hoạch đã thay đổi từ khi rút mẫu / the plan "
                       "changed since this selection was drawn")
        return plan, _load_frame(frame_dir, plan), sel
    plan = _load_plan(plan_name or "laichau-2025")
    frame = _load_frame(frame_dir, plan)
    return plan, frame, _draw(plan, frame, seed)


def _summary_table(plan: Plan, sel: Selection) -> Table:
    table = Table(title=f"{plan.title_vi} — kế hoạch / plan {plan.id}, hạt giống / seed {sel.seed}")
    table.add_column("Cấp / level")
    table.add_column("Số lượng / count", justify="right")
    table.add_column("Theo quy tắc / by rule", overflow="fold")
    levels = ["province", "district", "commune", "village", "agency", "field"]
    for level in levels:
        units = sel.units_at(level)
        if units:
            rules = Counter(u.reason.code for u in units)
            table.add_row(level, str(len(units)), ", ".join(f"{k}: {v}" for k, v in rules.most_common()))
    if sel.households:
        rules = Counter(h.reason.code for h in sel.households)
        table.add_row("household", str(len(sel.households)),
                      ", ".join(f"{k}: {v}" for k, v in rules.most_common()))
    if sel.service_users:
        rules = Counter(s.reason.code for s in sel.service_users)
        table.add_row("service user", str(len(sel.service_users)),
                      ", ".join(f"{k}: {v}" for k, v in rules.most_common()))
    table.add_row("shortfall", str(len(sel.shortfalls)), "")
    if sel.substitutions:
        table.add_row("substitution", str(len(sel.substitutions)), "")
    return table


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


@frame_app.command("import")
def frame_import(
    files: list[Path] = typer.Argument(..., help="Tệp CSV/XLSX / CSV or XLSX files (or a directory)"),
    db: Optional[str] = db_option(),
    frame_name: Optional[str] = typer.Option(None, "--frame-name",
                                             help="Tên khung mẫu trong CSDL / frame name in the database"),
    check: bool = typer.Option(False, "--check", help="Chỉ kiểm tra, không lưu / validate only, store nothing"),
) -> None:
    """Kiểm tra và nạp danh sách / validate and import lists (all or nothing)."""
    paths: list[Path] = []
    for f in files:
        if f.is_dir():
            paths += frame_files(f)
        else:
            paths.append(f)
    missing = [p for p in paths if not p.exists()]
    if missing:
        _fail("không có tệp / no such file: " + ", ".join(str(p) for p in missing))
    result = load_frame(paths)
    if not result.ok:
        _err.print(_error_table(result.errors))
        raise typer.Exit(code=1)
    frame = result.frame
    assert frame is not None
    table = Table(title="Đã kiểm tra, không có lỗi / validated, no error")
    table.add_column("Danh sách / list")
    table.add_column("Số dòng / rows", justify="right")
    for level in ("province", "district", "commune", "village"):
        n = len(frame.at_level(level))
        if n:
            table.add_row(level, str(n))
    if frame.households:
        table.add_row("household", str(len(frame.households)))
    if frame.service_users:
        table.add_row("service user", str(len(frame.service_users)))
    _out.print(table)
    if check:
        _out.print("Chưa lưu (--check) / not stored (--check).")
        next_step("bỏ --check để lưu / drop --check to store")
        return
    path = _db_path(db)
    name = frame_name or (paths[0].parent.name if paths else "frame")
    ids = _run_db(path, lambda d: store_frame(d, name, frame))
    _out.print(f"Đã lưu {len(ids)} đơn vị vào / stored {len(ids)} units in [bold]{_shown(path)}[/] "
               f"(khung / frame '{name}').")
    next_step(f"hailong sample draw --plan PLAN --frame {files[0]} --round CODE")


@sample_app.command("draw")
def sample_draw(
    plan_name: str = typer.Option(..., "--plan", help="Kế hoạch / plan (laichau-2024, laichau-2025, "
                                                     "laichau-2021-services) or a YAML file"),
    frame_dir: Path = typer.Option(DEFAULT_FRAME_DIR, "--frame", help="Thư mục/tệp khung mẫu / frame directory or file"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Hạt giống / seed (default: the plan's)"),
    out: Optional[Path] = typer.Option(None, "--out", help="Ghi kết quả / write the selection (.json, .csv, .xlsx)"),
    db: Optional[str] = db_option(),
    round_code: Optional[str] = typer.Option(None, "--round", help="Lưu mẫu vào đợt này / store the sample in this "
                                                                   "round"),
) -> None:
    """Rút mẫu theo kế hoạch / draw the sample by the plan's rules."""
    if db is not None and round_code is None:
        _fail("--db cần --round: mẫu được lưu vào một đợt / --db needs --round: the sample is stored in a round",
              code=2)
    plan = _load_plan(plan_name)
    frame = _load_frame(frame_dir, plan)
    sel = _draw(plan, frame, seed)
    _out.print(_summary_table(plan, sel))
    for w in sel.warnings:
        _out.print(f"[yellow]Cảnh báo / warning:[/] {w.vi}\n  {w.en}")
    if sel.shortfalls:
        t = Table(title="Thiếu hụt / shortfalls")
        t.add_column("Đơn vị / unit")
        t.add_column("Cần / needed", justify="right")
        t.add_column("Có / got", justify="right")
        t.add_column("Lý do / reason", overflow="fold")
        for s in sel.shortfalls:
            t.add_row(s.unit_code, str(s.needed), str(s.got), s.reason.vi)
        _out.print(t)
        pending = [s for s in sel.shortfalls if s.reason.code == "village.adjacent_both_taken"]
        if pending:
            _out.print(f"[bold red]{len(pending)} trường hợp cần cán bộ quyết định / cases need a staff "
                       "decision[/] (bản liền kề trước và sau đều đã được chọn / both neighbours taken)")
    if out is not None:
        try:
            write_selection(sel, frame, out)
        except (OSError, ValueError) as exc:
            _fail(str(exc))
        _out.print(f"Đã ghi / written: [bold]{out}[/]")
    if round_code is not None:
        path = _db_path(db)
        counts = _run_db(path, lambda d: store_selection(d, round_code, plan, frame, sel))
        _out.print(f"Đã lưu vào đợt / stored in round [bold]{round_code}[/]: "
                   f"{counts['round_units']} đơn vị / units, {counts['respondents']} người được chọn / respondents.")
    else:
        _out.print("Chưa lưu: thêm --round MÃ_ĐỢT để lưu mẫu vào đợt / not stored: add --round CODE to store it")
    _out.print(f"Dấu vân tay / fingerprint: {sel.fingerprint()[:16]}")
    if round_code is not None:
        next_step(f"hailong sample explain \"TÊN XÃ\" --plan {plan_name} (vì sao / why), "
                  f"hailong round open --code {round_code}")
    else:
        next_step(f"hailong sample draw --plan {plan_name} --round CODE (lưu / store)")


@sample_app.command("show")
def sample_show(
    plan_name: Optional[str] = typer.Option(None, "--plan", help="Kế hoạch / plan"),
    frame_dir: Path = typer.Option(DEFAULT_FRAME_DIR, "--frame", help="Khung mẫu / frame"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Hạt giống / seed"),
    selection_file: Optional[Path] = typer.Option(None, "--selection", help="Kết quả đã lưu / saved selection (.json)"),
    level: Optional[str] = typer.Option(None, "--level", help="Chỉ cấp này / only this level "
                                                             "(district, commune, village, agency, field)"),
) -> None:
    """Các đơn vị được chọn, số hộ và lý do / selected units with counts and reasons."""
    plan, frame, sel = _selection_from_options(plan_name, frame_dir, seed, selection_file)
    levels = [level] if level else ["district", "commune", "village", "agency", "field"]
    hh_count = Counter(h.sample_village_code for h in sel.households)
    users_count = Counter(f"{s.agency} / {s.quota_field}" for s in sel.service_users)
    users_agency = Counter(s.agency for s in sel.service_users)
    table = Table(title=f"{plan.title_vi} — {plan.id}, seed {sel.seed}", show_lines=False)
    table.add_column("Cấp / level")
    table.add_column("Mã / code", no_wrap=True)
    table.add_column("Tên / name")
    table.add_column("Thuộc / in")
    table.add_column("Chỉ tiêu / quota", justify="right")
    table.add_column("Đã chọn / chosen", justify="right")
    table.add_column("Lý do / reason", overflow="fold")
    shown = 0
    for lv in levels:
        for u in sel.units_at(lv):
            parent = frame.units.get(u.parent_code or "")
            chosen = {"village": hh_count.get(u.code), "field": users_count.get(u.code),
                      "agency": users_agency.get(u.code)}.get(lv)
            table.add_row(lv, u.code, u.name, parent.display_name if parent else (u.parent_code or ""),
                          "" if u.quota is None else str(u.quota),
                          "" if chosen is None else str(chosen), u.reason.vi)
            shown += 1
    if not shown:
        _fail(f"không có đơn vị cấp '{level}' / no unit at level '{level}'")
    _out.print(table)
    _out.print(_summary_table(plan, sel))


@sample_app.command("explain")
def sample_explain(
    query: str = typer.Argument(..., help="Mã hay tên đơn vị, hoặc mã hộ / unit code or name, or household id"),
    plan_name: Optional[str] = typer.Option(None, "--plan", help="Kế hoạch / plan"),
    frame_dir: Path = typer.Option(DEFAULT_FRAME_DIR, "--frame", help="Khung mẫu / frame"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Hạt giống / seed"),
    selection_file: Optional[Path] = typer.Option(None, "--selection", help="Kết quả đã lưu / saved selection (.json)"),
) -> None:
    """Vì sao được chọn hay không / why selected or not, with the sorted list it was chosen from."""
    _plan, frame, sel = _selection_from_options(plan_name, frame_dir, seed, selection_file)
    try:
        e = explain(sel, frame, query)
    except SamplingError as exc:
        _fail("\n".join(exc.problems))
        raise AssertionError
    verdict = "[green]ĐƯỢC CHỌN / SELECTED[/]" if e.selected else "[yellow]KHÔNG ĐƯỢC CHỌN / NOT SELECTED[/]"
    _out.print(f"[bold]{e.subject}[/]: {verdict}")
    for r in e.reasons:
        _out.print(f"  • {r.vi}\n    {r.en}  [dim]({r.code})[/]")
    for n in e.notes:
        _out.print(f"  • {n}")
    found = frame.find_units(query)
    target_code = found[0].code if len(found) == 1 else None
    for lst, marks in e.lists:
        t = Table(title=f"{lst.title_vi} / {lst.title_en}")
        t.add_column("#", justify="right")
        t.add_column("Tên / name")
        t.add_column("Mã / code")
        t.add_column("Chọn / chosen", overflow="fold")
        for i, code in enumerate(lst.codes, start=1):
            unit = frame.units.get(code)
            name = unit.display_name if unit else code
            if code == target_code:
                name = f"[bold]► {name}[/]"
            t.add_row(str(i), name, code, marks.get(code, ""))
        _out.print(t)
    next_step("hailong round open --code CODE (khi mẫu đã lưu vào đợt / once the sample is stored in the round)")


# --------------------------------------------------------------------------------------------
# Substitutions (2021 service survey): proposed by the draw, decided by staff
# --------------------------------------------------------------------------------------------

subs_app = typer.Typer(help="Thay thế lĩnh vực thiếu cỡ mẫu: xem, duyệt, điều chỉnh, từ chối / "
                            "substitutions of fields with too few transactions: list, approve, change, reject.",
                       no_args_is_help=True)
sample_app.add_typer(subs_app, name="substitutions")

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

    rows = _run_db(_db_path(db), run)
    if not rows:
        _out.print("Không có đề xuất thay thế nào / no substitution proposal")
        return
    _out.print(_subs_table(rows))
    waiting = sum(1 for r in rows if r.status == "proposed")
    if waiting:
        _out.print(f"{waiting} đề xuất chờ quyết định: 'hailong sample substitutions approve|change|reject' / "
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
            frame = _load_frame(frame_dir, plan)
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
                items = _service_respondents(chosen, frame, {f"{sub.agency} / {sub.from_field}": unit.id})
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

    rows = _run_db(_db_path(db), run)
    _out.print(_subs_table(rows))
    fielded = sum(r.fielded for r in rows)
    if fielded:
        _out.print(f"Đã thêm {fielded} người được chọn vào mẫu (chưa mời) / {fielded} respondents added to the "
                   "sample (not yet invited)")
    short = [r for r in rows if r.status != "rejected" and r.fielded < r.missing]
    for r in short:
        _out.print(f"[yellow]{r.agency} / {r.from_field}: chỉ có {r.fielded}/{r.missing} phiếu / only "
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
        _fail("nêu số đề xuất hoặc --all / give proposal numbers or --all", code=2)
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
        _fail("tên lĩnh vực không hợp lệ / invalid field name", code=2)
    _decide(round_code, db, [sub_id], "changed", frame_dir, actor, note, to_field.strip(), count)


@subs_app.command("reject")
def subs_reject(ids: list[int] = typer.Argument(..., help="Số đề xuất / proposal numbers"),
                round_code: str = typer.Option(..., "--round"), db: Optional[str] = db_option(),
                note: Optional[str] = NoteOpt, actor: Optional[str] = ActorOpt) -> None:
    """Từ chối: lĩnh vực giữ nguyên số phiếu có được / reject: the field keeps what it has."""
    _decide(round_code, db, list(ids), "rejected", DEFAULT_FRAME_DIR, actor, note)


def register(app: typer.Typer) -> None:
    """Mount ``frame`` and ``sample`` on the ``hailong`` app (see hailong/cli.py)."""
    app.add_typer(frame_app, name="frame")
    app.add_typer(sample_app, name="sample")
