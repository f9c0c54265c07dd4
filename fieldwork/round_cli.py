"""``hailong round create|open|close|list``: a survey round's life, from draft to closed.

Each command ends with the next step (``storage.commands.next_step``), and ``open`` and ``close``
warn about what staff would otherwise miss: an open round that invites nobody, a closed one with
invitations still queued.
"""

from __future__ import annotations

from typing import Any, Optional

import typer
from rich.table import Table

from fieldwork.cli_helpers import (ActorOpt, DbOpt, console, fmt_time, load_survey_ref, parse_local_time, pct,
                                   round_by_code)
from fieldwork.reminders import ReminderPolicy
from storage.audit import default_actor
from storage.commands import UserError, fail, next_step, run_with_db, warn
from storage.outbox import outbox_counts
from storage.respondents import list_respondents
from storage.rounds import close_round, create_round, list_rounds, open_round

round_app = typer.Typer(help="Đợt khảo sát / survey rounds: create, open, close, list.", no_args_is_help=True)


@round_app.command("create")
def round_create(
    code: str = typer.Option(..., "--code", help="Mã đợt / round code, e.g. LC2025"),
    survey: str = typer.Option(..., "--survey", help="Bảng hỏi / questionnaire id (sipas-households) or YAML file"),
    plan: Optional[str] = typer.Option(None, "--plan", help="Kế hoạch chọn mẫu / sampling plan id"),
    opens: Optional[str] = typer.Option(None, "--opens", help="Ngày mở / opens (YYYY-MM-DD [HH:MM], giờ VN)"),
    closes: Optional[str] = typer.Option(None, "--closes", help="Ngày đóng / closes (a bare date = 23:59)"),
    name: str = typer.Option("", "--name", help="Tên đợt / round name"),
    reminders: str = typer.Option("1,3", "--reminders", help="Nhắc sau số ngày / remind after days, e.g. 1,3"),
    max_reminders: Optional[int] = typer.Option(None, "--max-reminders", help="Tối đa / at most N reminders"),
    recheck_share: Optional[float] = typer.Option(None, "--recheck-share", help="Tỷ lệ phúc tra / re-check share"),
    walk_in: bool = typer.Option(False, "--walk-in/--no-walk-in", help="Cho người không được mời / allow walk-ins"),
    db: Optional[str] = DbOpt,
    actor: Optional[str] = ActorOpt,
) -> None:
    """Tạo đợt khảo sát (nháp) / create a draft round."""
    try:
        days = [float(x) for x in reminders.split(",") if x.strip()]
        policy: dict[str, Any] = {"after_days": days, "max": max_reminders if max_reminders is not None else len(days)}
        ReminderPolicy.from_mapping(policy)
        opens_at = parse_local_time(opens) if opens else None
        closes_at = parse_local_time(closes, end_of_day=True) if closes else None
        svy = load_survey_ref(survey)
    except (UserError, ValueError) as exc:
        fail(str(exc))

    async def run(d: Any) -> Any:
        return await create_round(d, code=code, survey=svy, name=name, sampling_plan_id=plan, opens_at=opens_at,
                                  closes_at=closes_at, reminder_policy=policy, allow_walk_in=walk_in,
                                  recheck_share=recheck_share, actor=default_actor(actor))

    r = run_with_db(db, run, must_exist=False)
    console.print(f"Đã tạo đợt / created round [bold]{r.code}[/] (nháp / draft): bảng hỏi / survey {r.survey_id} "
                  f"[dim]{r.survey_hash[:12]}[/], mở / opens {fmt_time(r.opens_at)}, "
                  f"đóng / closes {fmt_time(r.closes_at)}")
    next_step(f"hailong frame import DIR, rồi / then hailong sample draw --plan … --frame DIR --round {r.code}")


@round_app.command("open")
def round_open(code: str = typer.Option(..., "--code"), db: Optional[str] = DbOpt,
               actor: Optional[str] = ActorOpt) -> None:
    """Mở đợt (nhận trả lời) / open a round (answers accepted)."""
    async def run(d: Any) -> tuple[Any, int]:
        r = await round_by_code(d, code)
        sampled = len(await list_respondents(d, r.id))
        return await open_round(d, r.id, actor=default_actor(actor)), sampled

    r, sampled = run_with_db(db, run)
    console.print(f"Đợt [bold]{r.code}[/] đang mở / is open (đóng lúc / closes {fmt_time(r.closes_at)})")
    if not sampled and not r.allow_walk_in:
        warn(f"đợt {r.code} chưa có mẫu: chưa ai được mời / round {r.code} has no sample yet: nobody is invited "
             f"(hailong sample draw --plan … --round {r.code})")
        next_step(f"hailong sample draw --plan … --frame DIR --round {r.code}")
        return
    next_step(f"hailong invites make --round {r.code} --out invites.csv --bot-username BOT, "
              f"hailong invites cards --round {r.code} --out cards.pdf --bot-username BOT")


@round_app.command("close")
def round_close(code: str = typer.Option(..., "--code"), reason: str = typer.Option("", "--reason"),
                db: Optional[str] = DbOpt, actor: Optional[str] = ActorOpt) -> None:
    """Đóng đợt: dừng nhắc, giữ câu trả lời / close a round: reminders stop, answers kept."""
    async def run(d: Any) -> tuple[Any, int]:
        r = await round_by_code(d, code)
        counts = await outbox_counts(d, r.id)
        unsent = sum(n for (kind, status), n in counts.items()
                     if kind == "invite" and status in ("pending", "sending", "failed"))
        return await close_round(d, r.id, actor=default_actor(actor), reason=reason or None), unsent

    r, unsent = run_with_db(db, run)
    console.print(f"Đợt [bold]{r.code}[/] đã đóng / is closed ({fmt_time(r.closed_at)})")
    if unsent:
        warn(f"{unsent} thư mời còn trong hàng đợi, chưa gửi: những hộ này không được mời qua chat / {unsent} "
             "invites were still queued, never sent: those households were not invited by chat")
    next_step(f"hailong recheck draw --round {r.code} (nếu chưa / if not yet), hailong indices --round {r.code}, "
              f"hailong report --round {r.code} --out report/")


@round_app.command("list")
def round_list(db: Optional[str] = DbOpt) -> None:
    """Danh sách đợt / list rounds."""
    rounds = run_with_db(db, lambda d: list_rounds(d))
    t = Table(title="Đợt khảo sát / rounds")
    for col in ("Mã / code", "Tên / name", "Bảng hỏi / survey", "Kế hoạch / plan", "Trạng thái / status",
                "Mở / opens", "Đóng / closes", "Phúc tra / re-check"):
        t.add_column(col)
    for r in rounds:
        t.add_row(r.code, r.name, r.survey_id, r.sampling_plan_id or "—", r.status, fmt_time(r.opens_at),
                  fmt_time(r.closes_at), pct(r.recheck_share))
    console.print(t if rounds else "Chưa có đợt nào / no rounds yet")
