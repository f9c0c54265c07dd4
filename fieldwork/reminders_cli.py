"""``hailong reminders plan|run``: which reminders go out when (never 21:00–07:00 Vietnam time),
and the scheduler that queues them and closes rounds at their deadline when no bot process runs
it (``hailong run`` does).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any, Optional

import typer
from rich.table import Table

from fieldwork.cli_helpers import VN, DbOpt, console, round_by_code
from fieldwork.reminders import ReminderScheduler, plan_round, tick
from storage.commands import next_step, run_with_db

reminders_app = typer.Typer(help="Nhắc nhở / reminders: plan and run.", no_args_is_help=True)


@reminders_app.command("plan")
def reminders_plan(
    round_code: str = typer.Option(..., "--round"),
    limit: int = typer.Option(20, "--limit", help="Số dòng chi tiết / detail rows"),
    db: Optional[str] = DbOpt,
) -> None:
    """Xem nhắc nhở nào sẽ gửi khi nào / what would be sent when."""
    async def run(d: Any) -> tuple[Any, list[Any]]:
        r = await round_by_code(d, round_code)
        return r, await plan_round(d, r, time.time())

    r, plan = run_with_db(db, run)
    if not plan:
        console.print(f"Không có nhắc nhở nào sắp gửi / no reminders to come for {r.code}")
        next_step(f"hailong status --round {r.code}")
        return
    by_day: dict[tuple[str, str, int], int] = {}
    for p in plan:
        key = (p.due_at.astimezone(VN).strftime("%d/%m/%Y"), str(p.kind), p.number)
        by_day[key] = by_day.get(key, 0) + 1
    t = Table(title=f"Kế hoạch nhắc / reminder plan {r.code} (giờ VN, không nhắc 21:00–07:00)")
    for col in ("Ngày / day", "Đối tượng / target", "Lần / #", "Số người / respondents"):
        t.add_column(col)
    label = {"not_started": "chưa bắt đầu / not started", "partial": "dừng giữa chừng / partial"}
    for (day, kind, n), c in sorted(by_day.items(), key=lambda kv: (datetime.strptime(kv[0][0], "%d/%m/%Y"), kv[0][1:])):
        t.add_row(day, label.get(kind, kind), str(n), str(c))
    console.print(t)
    d = Table(title="Chi tiết / detail")
    for col in ("Người trả lời / respondent", "Lần / #", "Đối tượng / target", "Lúc / at"):
        d.add_column(col)
    for p in plan[:limit]:
        d.add_row(str(p.respondent_id), str(p.number), label.get(str(p.kind), str(p.kind)),
                  p.due_at.astimezone(VN).strftime("%d/%m/%Y %H:%M"))
    console.print(d)
    next_step("hailong run --channel all gửi nhắc đúng hạn (hoặc / or hailong reminders run) / sends them when due")


@reminders_app.command("run")
def reminders_run(
    once: bool = typer.Option(False, "--once", help="Một lượt rồi thoát / one tick, then exit"),
    interval: float = typer.Option(300.0, "--interval", help="Giây giữa các lượt / seconds between ticks"),
    db: Optional[str] = DbOpt,
) -> None:
    """Xếp nhắc nhở đến hạn vào hàng đợi và tự đóng đợt đến hạn / queue due reminders, close rounds at
    their deadline. The bot (or 'hailong invites send') delivers the queued messages."""
    if once:
        res = run_with_db(db, lambda d: tick(d, actor="scheduler"))
        console.print(f"Đã xếp / queued {res.enqueued} nhắc nhở / reminders; đã có / already {res.already_queued}; "
                      f"không có kênh / no channel {res.no_channel}; đóng đợt / closed rounds: "
                      f"{', '.join(res.closed_rounds) or '—'}")
        return

    async def forever(d: Any) -> None:
        sched = ReminderScheduler(d, interval_s=interval)
        await sched.start()
        console.print(f"Đang chạy nhắc nhở mỗi {interval:.0f}s (Ctrl-C để dừng) / reminders running")
        try:
            await asyncio.Event().wait()
        finally:
            await sched.stop()

    try:
        run_with_db(db, forever)
    except KeyboardInterrupt:
        console.print("Đã dừng / stopped")
