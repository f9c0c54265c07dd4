"""``hailong sample draw|show|explain`` (and ``sample substitutions``, mounted here from
``sampling/substitutions_cli.py``): draw the sample by the plan's rules, store it in a round,
show what was chosen and explain why a unit or household was or was not.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from sampling.cli_helpers import (DEFAULT_FRAME_DIR, console, db_or_refuse, draw_or_fail, frame_or_fail, plan_or_fail,
                                  run_db, selection_from_options, summary_table)
from sampling.explain import explain
from sampling.persistence import store_selection
from sampling.selection import SamplingError
from sampling.selection_io import write_selection
from sampling.substitutions_cli import subs_app
from storage.commands import db_option, fail, next_step

sample_app = typer.Typer(help="Chọn mẫu theo kế hoạch / draw the sample by the plan's rules.",
                         no_args_is_help=True)


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
        fail("--db cần --round: mẫu được lưu vào một đợt / --db needs --round: the sample is stored in a round",
             code=2)
    plan = plan_or_fail(plan_name)
    frame = frame_or_fail(frame_dir, plan)
    sel = draw_or_fail(plan, frame, seed)
    console.print(summary_table(plan, sel))
    for w in sel.warnings:
        console.print(f"[yellow]Cảnh báo / warning:[/] {w.vi}\n  {w.en}")
    if sel.shortfalls:
        t = Table(title="Thiếu hụt / shortfalls")
        t.add_column("Đơn vị / unit")
        t.add_column("Cần / needed", justify="right")
        t.add_column("Có / got", justify="right")
        t.add_column("Lý do / reason", overflow="fold")
        for s in sel.shortfalls:
            t.add_row(s.unit_code, str(s.needed), str(s.got), s.reason.vi)
        console.print(t)
        pending = [s for s in sel.shortfalls if s.reason.code == "village.adjacent_both_taken"]
        if pending:
            console.print(f"[bold red]{len(pending)} trường hợp cần cán bộ quyết định / cases need a staff "
                          "decision[/] (bản liền kề trước và sau đều đã được chọn / both neighbours taken)")
    if out is not None:
        try:
            write_selection(sel, frame, out)
        except (OSError, ValueError) as exc:
            fail(str(exc), code=1)
        console.print(f"Đã ghi / written: [bold]{out}[/]")
    if round_code is not None:
        path = db_or_refuse(db)
        counts = run_db(path, lambda d: store_selection(d, round_code, plan, frame, sel))
        console.print(f"Đã lưu vào đợt / stored in round [bold]{round_code}[/]: "
                      f"{counts['round_units']} đơn vị / units, {counts['respondents']} người được chọn / respondents.")
    else:
        console.print("Chưa lưu: thêm --round MÃ_ĐỢT để lưu mẫu vào đợt / not stored: add --round CODE to store it")
    console.print(f"Dấu vân tay / fingerprint: {sel.fingerprint()[:16]}")
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
    plan, frame, sel = selection_from_options(plan_name, frame_dir, seed, selection_file)
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
        fail(f"không có đơn vị cấp '{level}' / no unit at level '{level}'", code=1)
    console.print(table)
    console.print(summary_table(plan, sel))


@sample_app.command("explain")
def sample_explain(
    query: str = typer.Argument(..., help="Mã hay tên đơn vị, hoặc mã hộ / unit code or name, or household id"),
    plan_name: Optional[str] = typer.Option(None, "--plan", help="Kế hoạch / plan"),
    frame_dir: Path = typer.Option(DEFAULT_FRAME_DIR, "--frame", help="Khung mẫu / frame"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Hạt giống / seed"),
    selection_file: Optional[Path] = typer.Option(None, "--selection", help="Kết quả đã lưu / saved selection (.json)"),
) -> None:
    """Vì sao được chọn hay không / why selected or not, with the sorted list it was chosen from."""
    _plan, frame, sel = selection_from_options(plan_name, frame_dir, seed, selection_file)
    try:
        e = explain(sel, frame, query)
    except SamplingError as exc:
        fail("\n".join(exc.problems), code=1)
        raise AssertionError
    verdict = "[green]ĐƯỢC CHỌN / SELECTED[/]" if e.selected else "[yellow]KHÔNG ĐƯỢC CHỌN / NOT SELECTED[/]"
    console.print(f"[bold]{e.subject}[/]: {verdict}")
    for r in e.reasons:
        console.print(f"  • {r.vi}\n    {r.en}  [dim]({r.code})[/]")
    for n in e.notes:
        console.print(f"  • {n}")
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
        console.print(t)
    next_step("hailong round open --code CODE (khi mẫu đã lưu vào đợt / once the sample is stored in the round)")


sample_app.add_typer(subs_app, name="substitutions")
