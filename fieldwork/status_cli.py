"""``hailong status``: a round's progress per unit against its quota, AAPOR rates, the outbox,
and the alerts staff must act on (invitation-code guessing, "not me" handovers, overdue data
requests).

The row and alert builders are pure, shared with the staff web console and the bot's /status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import typer
from rich.table import Table

from fieldwork.cli_helpers import DbOpt, console, fmt_time, pct, round_by_code
from fieldwork.dispositions import Disposition, DispositionCounts, disposition_from_status, rates
from storage.claims import ClaimPolicy, claims_report
from storage.commands import next_step, run_with_db
from storage.handovers import handover_counts
from storage.outbox import outbox_counts
from storage.respondents import progress_by_unit
from storage.rights import overdue_lines, overdue_requests


def status_rows(progress: list[Any]) -> list[dict[str, Any]]:
    """Per-unit progress rows with AAPOR rates and the substitution need (pure; CLI and /status).

    ``need_substitution`` = quota − (completed + still possible), where "still possible" are the
    respondents not yet in a final state: the number of households to add to reach the quota.
    """
    rows = []
    for u in progress:
        disp = DispositionCounts.of(())
        for s, n in u.counts.items():   # one addition per status, not one per respondent
            disp = disp + DispositionCounts({disposition_from_status(s): n})
        rt = rates(disp)
        open_ = sum(u.counts.get(k, 0) for k in ("sampled", "invited", "opened", "started", "partial"))
        quota = u.quota
        need = max(0, (quota or 0) - (u.completed + open_)) if quota else 0
        rows.append({"unit": u, "invited": u.invited, "started": u.started, "completed": u.completed,
                     "refused": u.counts.get("refused", 0), "unreachable": u.counts.get("unreachable", 0),
                     "quota": quota, "rr1": rt.rr1, "coop1": rt.coop1, "need_substitution": need,
                     "counts": disp})
    return rows


def status_text(round_code: str, rows: list[dict[str, Any]]) -> str:
    """A compact Vietnamese/English summary for the staff /status chat command."""
    tot = sum((r["counts"] for r in rows), DispositionCounts({}))
    rt = rates(tot)
    need = [r for r in rows if r["need_substitution"]]
    lines = [f"Đợt {round_code}: hoàn thành {tot[Disposition.COMPLETE]}, đang trả lời "
             f"{tot[Disposition.STARTED] + tot[Disposition.PARTIAL]}, từ chối {tot[Disposition.REFUSED]}, "
             f"tỷ lệ trả lời (RR1) {pct(rt.rr1)}.",
             f"Round {round_code}: {tot[Disposition.COMPLETE]} complete, response rate {pct(rt.rr1)}."]
    if need:
        lines.append("Cần thay thế / substitutions needed: " + ", ".join(
            f"{r['unit'].name} ({r['need_substitution']})" for r in need[:10]))
    return "\n".join(lines)


def credential_problems(claims: list[Any], handovers: Any) -> list[str]:
    """Problem lines about invitation credentials (pure; docs/credentials.md): a guessing
    campaign on a channel, and invitations whose holder said "not me" to a move."""
    lines = []
    for c in claims:
        if c.campaign:
            lines.append(f"⚠ Nghi có người dò mã mời trên {c.channel}: {c.failed} lần sai từ {c.chats} cuộc trò "
                         f"chuyện trong 1 giờ qua, {c.refused} lần bị chặn; mọi lần nhập mã đang bị làm chậm / "
                         f"possible invitation-code guessing on {c.channel}: {c.failed} failed claims from "
                         f"{c.chats} chats in the last hour, {c.refused} refused; claims are slowed down")
    if handovers is not None and handovers.denied_respondents:
        ids = ", ".join(map(str, handovers.denied_respondents[:20]))
        lines.append(f"⚠ {len(handovers.denied_respondents)} lời mời bị người đang giữ báo «không phải tôi» khi có "
                     f"cuộc trò chuyện khác xin dùng (hộ / respondents {ids}): hãy gọi cho hộ / invitations whose "
                     f"holder answered \"not me\" to another chat: call the household")
    return lines


#: Where ``hailong status`` gets the claim limits it reports against; the app passes the configured
#: ones (``hailong/fieldwork_app.py``), a bare ``register`` the defaults.
_claim_policy: Callable[[], Any] = ClaimPolicy


def claim_policy() -> Any:
    """The claim limits ``hailong status`` reports against (the staff web console's problems page
    reports against the same)."""
    return _claim_policy()


def _status(round_code: str, db: Optional[str], only_problems: bool) -> None:
    policy = claim_policy()

    async def run(d: Any) -> tuple[Any, list[Any], dict[Any, int], list[str]]:
        r = await round_by_code(d, round_code)
        problems = credential_problems(await claims_report(d, policy), await handover_counts(d, r.id))
        problems += overdue_lines(await overdue_requests(d))     # docs/privacy.md: 15-day deadline
        return r, await progress_by_unit(d, r.id), await outbox_counts(d, r.id), problems

    r, progress, ob, credential_lines = run_with_db(db, run)
    rows = status_rows(progress)
    t = Table(title=f"Tiến độ đợt / progress of {r.code} ({r.status}, đóng / closes {fmt_time(r.closes_at)})")
    for col in ("Đơn vị / unit", "Chỉ tiêu / quota", "Đã mời / invited", "Bắt đầu / started",
                "Hoàn thành / complete", "Từ chối / refused", "Không LL / unreachable", "RR1", "Thay thế / substitute"):
        t.add_column(col, justify="left" if col.startswith("Đơn") else "right")
    for row in rows:
        u = row["unit"]
        if only_problems and not row["need_substitution"]:
            continue
        style = "bold red" if row["need_substitution"] else ("green" if u.quota and u.completed >= u.quota else None)
        t.add_row(f"{u.name} [dim]{u.code}[/]", str(u.quota if u.quota is not None else "—"), str(row["invited"]),
                  str(row["started"]), str(row["completed"]), str(row["refused"]), str(row["unreachable"]),
                  pct(row["rr1"]), str(row["need_substitution"] or ""), style=style)
    tot = sum((x["counts"] for x in rows), DispositionCounts({}))
    rt = rates(tot)
    quota = sum(x["unit"].quota or 0 for x in rows)
    t.add_section()
    t.add_row("[bold]Tổng / total[/]", str(quota or "—"), str(sum(x["invited"] for x in rows)),
              str(sum(x["started"] for x in rows)), str(tot[Disposition.COMPLETE]), str(tot[Disposition.REFUSED]),
              str(tot[Disposition.UNREACHABLE]), pct(rt.rr1),
              str(sum(x["need_substitution"] for x in rows) or ""))
    console.print(t)
    console.print(f"AAPOR: RR1 {pct(rt.rr1)} · RR2 {pct(rt.rr2)} · COOP1 {pct(rt.coop1)} · REF1 {pct(rt.ref1)} · "
                  f"CON1 {pct(rt.con1)}")
    if ob:
        parts = ", ".join(f"{k}/{s}: {n}" for (k, s), n in sorted(ob.items()))
        console.print(f"Hàng đợi gửi / outbox: {parts}")
    need = [x for x in rows if x["need_substitution"]]
    if need:
        console.print(f"[bold red]{len(need)} đơn vị cần thay thế hộ / units need substitutions[/] (tô đỏ / in red)")
    for line in credential_lines:
        console.print(line, style="bold red", markup=False)
    if r.status == "closed":
        next_step(f"hailong indices --round {r.code}, hailong report --round {r.code} --out report/")
    else:
        next_step(f"hailong reminders plan --round {r.code}; khi đủ phiếu / once enough are complete: "
                  f"hailong recheck draw --round {r.code}")


def register(app: typer.Typer, *, claim_policy: Callable[[], Any] | None = None) -> None:
    """Mount ``hailong status``. ``claim_policy``: the configured claim limits that
    ``status --problems`` reports against (the defaults when not given)."""
    global _claim_policy
    if claim_policy is not None:
        _claim_policy = claim_policy

    @app.command("status")
    def status(
        round_code: str = typer.Option(..., "--round", help="Mã đợt / round code"),
        problems: bool = typer.Option(False, "--problems", help="Chỉ đơn vị cần thay thế (và cảnh báo về mã mời) / "
                                                                "only units needing substitution (and credential alerts)"),
        db: Optional[str] = DbOpt,
    ) -> None:
        """Tiến độ theo đơn vị so với chỉ tiêu / progress per unit against its quota."""
        _status(round_code, db, problems)
