"""``hailong recheck draw|export|record``: the re-check (phúc tra) of completed questionnaires:
draw a sample stratified by unit, export whom supervisors visit or call (never the answers),
record each outcome (``not_confirmed`` leaves the indices).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from fieldwork.cli_helpers import ActorOpt, DbOpt, console, fmt_time, round_by_code, unit_names
from sampling.recheck import draw_recheck
from storage.audit import audit, default_actor
from storage.commands import UserError, fail, next_step, run_with_db
from storage.credentials import normalise_code
from storage.private_files import create_private_file, open_private
from storage.recheck import RecheckDraw as StoredDraw, list_recheck, record_recheck_draw, record_recheck_outcome
from storage.respondents import contacts_for, get_respondent, list_respondents
from survey_defs.spreadsheet_safety import SafeDictWriter, SafeWorkbook

recheck_app = typer.Typer(help="Phúc tra / re-check: draw, export, record outcomes.", no_args_is_help=True)


async def draw_round_recheck(d: Any, r: Any, share: float | None, seed: int | None,
                             actor: str) -> tuple[Any, int, dict[int, tuple[str, str, str]]]:
    """Draw and store a round's re-check sample (``hailong recheck draw`` and the web console):
    the share and seed default to the round's (the plan's), the base to the plan's setting.
    Returns (the draw, newly stored respondents, unit names). Raises UserError."""
    sh = share if share is not None else r.recheck_share
    if sh is None:
        raise UserError("đợt chưa có tỷ lệ phúc tra; dùng --share / the round has no re-check share: use --share")
    sd = seed if seed is not None else int(r.settings.get("sampling", {}).get("seed", r.id))
    done = await list_respondents(d, r.id, statuses=("completed",))
    if not done:
        raise UserError("chưa có phiếu hoàn thành / no completed responses yet")
    names = await unit_names(d, [x.unit_id for x in done])
    # the plan says what the share is of: returned questionnaires, or the sample (2021: "tối
    # thiểu 20% cỡ mẫu")
    base = None
    if r.settings.get("sampling", {}).get("recheck_base") == "sample":
        base = sum(1 for x in await list_respondents(d, r.id) if not x.walk_in)
    drawn = draw_recheck([(x.unit_id, x.id) for x in done], sh, sd,
                         unit_names={k: v[1] for k, v in names.items()}, base_size=base)
    new = await record_recheck_draw(d, r.id, sd, [StoredDraw(p.response_id, names.get(p.unit, (str(p.unit),))[0])
                                                   for p in drawn.picks], actor=actor)
    return drawn, new, names


@recheck_app.command("draw")
def recheck_draw(
    round_code: str = typer.Option(..., "--round"),
    share: Optional[float] = typer.Option(None, "--share", help="Tỷ lệ / share (default: the round's / plan's)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Hạt giống / seed (default: the sampling seed)"),
    db: Optional[str] = DbOpt,
    actor: Optional[str] = ActorOpt,
) -> None:
    """Rút mẫu phúc tra theo đơn vị / draw the re-check sample, stratified by unit."""
    async def run(d: Any) -> tuple[Any, Any, int, dict[int, tuple[str, str, str]]]:
        r = await round_by_code(d, round_code)
        drawn, new, names = await draw_round_recheck(d, r, share, seed, default_actor(actor))
        return r, drawn, new, names

    r, drawn, new, names = run_with_db(db, run)
    t = Table(title=f"Phúc tra / re-check {r.code}: {drawn.share:.0%}, seed {drawn.seed}")
    t.add_column("Đơn vị / unit")
    t.add_column("Hoàn thành / complete", justify="right")
    t.add_column("Phúc tra / drawn", justify="right")
    for uid, k in drawn.allocation.items():
        code, name, _ = names.get(uid, (str(uid), str(uid), ""))
        t.add_row(f"{name} [dim]{code}[/]", str(drawn.completions[uid]), str(k))
    t.add_section()
    t.add_row("Tổng / total", str(sum(drawn.completions.values())),
              f"{drawn.total} (mục tiêu / target {drawn.target} = {drawn.share:.0%} × {drawn.base})")
    console.print(t)
    console.print(f"Mới lưu / newly stored: {new} (rút lại giữ nguyên kết quả cũ / re-drawing keeps earlier outcomes)")
    next_step(f"hailong recheck export --round {r.code} --out recheck.csv (cho giám sát viên / for supervisors)")


@recheck_app.command("export")
def recheck_export(
    round_code: str = typer.Option(..., "--round"),
    out: Path = typer.Option(..., "--out", help=".csv hoặc .xlsx"),
    db: Optional[str] = DbOpt,
    actor: Optional[str] = ActorOpt,
) -> None:
    """Xuất danh sách phúc tra cho giám sát viên (không có câu trả lời) / export the list for supervisors
    (contacts to visit or call, never the answers)."""
    if out.suffix.lower() not in (".csv", ".xlsx"):
        fail("tệp phải là .csv hoặc .xlsx / the file must be .csv or .xlsx")

    async def run(d: Any) -> list[dict[str, Any]]:
        r = await round_by_code(d, round_code)
        rows = await list_recheck(d, r.id)
        if not rows:
            raise UserError("chưa rút mẫu phúc tra; chạy 'hailong recheck draw' / no re-check draw yet")
        resp = {x.respondent_id: await get_respondent(d, x.respondent_id) for x in rows}
        contacts = await contacts_for(d, list(resp))
        names = await unit_names(d, [p.unit_id for p in resp.values() if p])
        out_rows = []
        for x in rows:
            p = resp[x.respondent_id]
            c = contacts.get(x.respondent_id)
            code, vname, parent = names.get(p.unit_id, ("", "", "")) if p else ("", "", "")
            out_rows.append({"respondent_id": x.respondent_id, "unit_code": code, "village": vname,
                             "commune": parent, "household_ref": p.household_ref if p else "",
                             "sub_hamlet": (p.attrs.get("sub_hamlet", "") if p else ""),
                             "name": c.name if c else "", "phone": c.phone if c else "",
                             "address": c.address if c else "", "completed_at": fmt_time(p.finished_at) if p else "",
                             "outcome": x.outcome or "", "note": x.note or ""})
        await audit(d, default_actor(actor), "recheck.export", {"rows": len(out_rows), "out": str(out)}, r.id)
        return out_rows

    rows = run_with_db(db, run)
    headers = {"respondent_id": "Mã người trả lời / respondent", "unit_code": "Mã đơn vị / unit",
               "village": "Thôn, bản / village", "commune": "Xã / commune", "household_ref": "Mã hộ / household",
               "sub_hamlet": "Xóm / sub-hamlet", "name": "Họ tên / name", "phone": "Điện thoại / phone",
               "address": "Địa chỉ / address", "completed_at": "Hoàn thành / completed",
               "outcome": "Kết quả (confirmed/not_confirmed/unreachable)", "note": "Ghi chú / note"}
    try:  # names, phones, addresses: owner-only, and no cell may become a formula
        if out.suffix.lower() == ".csv":
            with open_private(out, "w", newline="", encoding="utf-8-sig") as fh:
                w = SafeDictWriter(fh, fieldnames=list(headers))
                w.writerow(headers)
                w.writerows(rows)
        else:
            wb = SafeWorkbook(str(create_private_file(out)))
            ws = wb.add_worksheet("Phúc tra")
            wb.write_row(ws, 0, 0, list(headers.values()), wb.add_format({"bold": True}))
            for i, row in enumerate(rows, start=1):
                wb.write_row(ws, i, 0, [row[k] for k in headers])
            ws.freeze_panes(1, 0)
            wb.close()
    except OSError as exc:
        fail(f"không ghi được / cannot write {out}: {exc}")
    console.print(f"Đã xuất / exported [bold]{out}[/]: {len(rows)} hộ / households (không có câu trả lời / no answers)")
    next_step(f"hailong recheck record --round {round_code} --code \"KS …\" --outcome confirmed|not_confirmed|"
              "unreachable [--note …] cho mỗi hộ / for each household")


@recheck_app.command("record")
def recheck_record(
    round_code: str = typer.Option(..., "--round"),
    respondent: Optional[int] = typer.Option(None, "--respondent", help="Mã người trả lời / respondent id"),
    code: Optional[str] = typer.Option(None, "--code", help="Hoặc mã phiếu mời / or the card code (KS …)"),
    outcome: str = typer.Option(..., "--outcome", help="confirmed | not_confirmed | unreachable"),
    note: Optional[str] = typer.Option(None, "--note", help="Ghi chú / note (kept with the exclusion)"),
    db: Optional[str] = DbOpt,
    actor: Optional[str] = ActorOpt,
) -> None:
    """Ghi kết quả phúc tra / record a re-check outcome (not_confirmed → excluded from indices)."""
    if (respondent is None) == (code is None):
        fail("cần đúng một trong --respondent hoặc --code / give exactly one of --respondent or --code")
    if outcome == "not_confirmed" and not (note and note.strip()):
        fail("'not_confirmed' cần --note (lý do loại khỏi chỉ số) / 'not_confirmed' needs --note (why it is excluded)")

    async def run(d: Any) -> Any:
        r = await round_by_code(d, round_code)
        rid = respondent
        if code is not None:
            c = normalise_code(code)
            match = [x for x in await list_respondents(d, r.id) if c is not None and x.card_code == c]
            if not match:
                raise UserError(f"không có mã {code!r} trong đợt / no card code {code!r} in this round")
            rid = match[0].id
        assert rid is not None
        return await record_recheck_outcome(d, r.id, rid, outcome, recorded_by=default_actor(actor), note=note)  # type: ignore[arg-type]

    row = run_with_db(db, run)
    console.print(f"Đã ghi / recorded: người trả lời / respondent {row.respondent_id} → [bold]{row.outcome}[/]"
                  + (" (loại khỏi chỉ số / excluded from indices)" if row.outcome == "not_confirmed" else ""))
    next_step(f"hộ tiếp theo / the next household; hết / when done: hailong round close --code {round_code}")
