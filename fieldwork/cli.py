"""Fieldwork commands for Home Affairs staff: rounds, invites, progress, re-check, reminders.

    hailong round create --code LC2025 --survey sipas-households --plan laichau-2025 \\
                         --opens 2025-09-01 --closes 2025-09-30
    hailong round open|close --code LC2025          hailong round list
    hailong invites make  --round LC2025 [--out invites.csv]
    hailong invites cards --round LC2025 --out cards.pdf [--unit V012 …]
    hailong invites send  --round LC2025 --channel telegram [--enqueue-only]
    hailong status --round LC2025
    hailong recheck draw|export|record --round LC2025 …
    hailong reminders plan|run --round LC2025

Every staff action is written to the audit log (by the storage function that makes the change,
or here with ``storage.audit.audit`` for actions that change nothing, such as printing cards or
exporting the re-check list). User errors print a bilingual message and exit with code 2.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date, datetime, time as dtime
from pathlib import Path
from typing import Any, Optional, TypeVar
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from fieldwork.cards import Card, CardOptions, render_cards
from fieldwork.dispositions import Disposition, DispositionCounts, disposition_from_status, rates
from fieldwork.invites import InviteError, bot_username_checked, telegram_link
from fieldwork.reminders import ReminderPolicy, ReminderScheduler, plan_round, tick
from sampling.recheck import draw_recheck
from storage.audit import audit, default_actor
from storage.claims import ClaimPolicy, claims_report
from storage.commands import UserError, db_option, fail, next_step, run_with_db, warn
from storage.credentials import format_code, is_valid_token, normalise_code
from storage.handovers import handover_counts
from storage.outbox import outbox_counts
from storage.private_files import create_private_file, open_private
from storage.recheck import (RecheckDraw as StoredDraw, list_recheck, record_recheck_draw,
                             record_recheck_outcome)
from storage.rights import overdue_lines, overdue_requests
from storage.respondents import contacts_for, get_respondent, list_respondents, progress_by_unit
from storage.rounds import close_round, create_round, get_round_by_code, list_rounds, open_round
from storage.units import get_unit
from survey_defs.loader import get_survey, load_survey
from survey_defs.spreadsheet_safety import SafeDictWriter, SafeWorkbook, safe_csv_writer


T = TypeVar("T")
VN = ZoneInfo("Asia/Ho_Chi_Minh")

_out = Console()

round_app = typer.Typer(help="Đợt khảo sát / survey rounds: create, open, close, list.", no_args_is_help=True)
invites_app = typer.Typer(help="Thư mời / invites: credentials, QR cards, sending.", no_args_is_help=True)
recheck_app = typer.Typer(help="Phúc tra / re-check: draw, export, record outcomes.", no_args_is_help=True)
reminders_app = typer.Typer(help="Nhắc nhở / reminders: plan and run.", no_args_is_help=True)

DbOpt = db_option()
ActorOpt = typer.Option(None, "--actor", help="Người thực hiện (nhật ký) / who acts, for the audit log")


# ------------------------------------------------------------------ helpers



def parse_local_time(text: str, *, end_of_day: bool = False) -> float:
    """``2025-09-30`` or ``2025-09-30 17:00`` (Vietnam time) → epoch seconds. A bare date means
    the start of that day, or its last minute (23:59) for a closing date."""
    s = text.strip().replace("T", " ")
    try:
        if len(s) <= 10:
            d = date.fromisoformat(s)
            t = dtime(23, 59) if end_of_day else dtime(0, 0)
            return datetime.combine(d, t, tzinfo=VN).timestamp()
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise UserError(f"ngày giờ không hợp lệ {text!r}; dùng YYYY-MM-DD hoặc 'YYYY-MM-DD HH:MM' / "
                        f"invalid date {text!r}; use YYYY-MM-DD or 'YYYY-MM-DD HH:MM'") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=VN)
    return dt.timestamp()


def fmt_time(ts: float | None, with_time: bool = True) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, VN).strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


async def _round(db: Any, code: str) -> Any:
    r = await get_round_by_code(db, code)
    if r is None:
        raise UserError(f"không có đợt khảo sát '{code}' / no round '{code}' (xem / see: hailong round list)")
    return r


async def _unit_names(db: Any, unit_ids: list[int]) -> dict[int, tuple[str, str, str]]:
    """unit id → (code, name, parent name) for display and cards."""
    out: dict[int, tuple[str, str, str]] = {}
    parents: dict[int, str] = {}
    for uid in set(unit_ids):
        u = await get_unit(db, uid)
        if u is None:
            continue
        parent = ""
        if u.parent_id is not None:
            if u.parent_id not in parents:
                p = await get_unit(db, u.parent_id)
                parents[u.parent_id] = p.name if p else ""
            parent = parents[u.parent_id]
        out[uid] = (u.code, u.name, parent)
    return out


# ------------------------------------------------------------------ round

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
        svy = _load_survey(survey)
    except (UserError, ValueError) as exc:
        fail(str(exc))

    async def run(d: Any) -> Any:
        return await create_round(d, code=code, survey=svy, name=name, sampling_plan_id=plan, opens_at=opens_at,
                                  closes_at=closes_at, reminder_policy=policy, allow_walk_in=walk_in,
                                  recheck_share=recheck_share, actor=default_actor(actor))

    r = run_with_db(db, run, must_exist=False)
    _out.print(f"Đã tạo đợt / created round [bold]{r.code}[/] (nháp / draft): bảng hỏi / survey {r.survey_id} "
               f"[dim]{r.survey_hash[:12]}[/], mở / opens {fmt_time(r.opens_at)}, đóng / closes {fmt_time(r.closes_at)}")
    next_step(f"hailong frame import DIR, rồi / then hailong sample draw --plan … --frame DIR --round {r.code}")


def _bot_username(name: Optional[str]) -> Optional[str]:
    """``--bot-username`` checked before any work (a bilingual error, never a traceback)."""
    if name is None:
        return None
    try:
        return bot_username_checked(name)
    except InviteError as exc:
        fail(str(exc))


def _load_survey(ref: str) -> Any:
    if Path(ref).exists():
        return load_survey(ref)
    try:
        return get_survey(ref)
    except Exception as exc:  # noqa: BLE001 - unknown id: say which exist
        raise UserError(f"không có bảng hỏi '{ref}' / unknown questionnaire '{ref}': {exc}") from None


@round_app.command("open")
def round_open(code: str = typer.Option(..., "--code"), db: Optional[str] = DbOpt,
               actor: Optional[str] = ActorOpt) -> None:
    """Mở đợt (nhận trả lời) / open a round (answers accepted)."""
    async def run(d: Any) -> tuple[Any, int]:
        r = await _round(d, code)
        sampled = len(await list_respondents(d, r.id))
        return await open_round(d, r.id, actor=default_actor(actor)), sampled

    r, sampled = run_with_db(db, run)
    _out.print(f"Đợt [bold]{r.code}[/] đang mở / is open (đóng lúc / closes {fmt_time(r.closes_at)})")
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
        r = await _round(d, code)
        counts = await outbox_counts(d, r.id)
        unsent = sum(n for (kind, status), n in counts.items()
                     if kind == "invite" and status in ("pending", "sending", "failed"))
        return await close_round(d, r.id, actor=default_actor(actor), reason=reason or None), unsent

    r, unsent = run_with_db(db, run)
    _out.print(f"Đợt [bold]{r.code}[/] đã đóng / is closed ({fmt_time(r.closed_at)})")
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
                  fmt_time(r.closes_at), _pct(r.recheck_share))
    _out.print(t if rounds else "Chưa có đợt nào / no rounds yet")


# ------------------------------------------------------------------ invites

@invites_app.command("make")
def invites_make(
    round_code: str = typer.Option(..., "--round"),
    out: Optional[Path] = typer.Option(None, "--out", help="Danh sách cho điều tra viên / list for enumerators (.csv)"),
    bot_username: Optional[str] = typer.Option(None, "--bot-username", help="Bot Telegram (for the link column)"),
    db: Optional[str] = DbOpt,
    actor: Optional[str] = ActorOpt,
) -> None:
    """Kiểm tra mã mời và liệt kê theo đơn vị / check invite credentials, summarise by unit.

    Tokens and card codes are created with each sampled respondent (storage); this checks them,
    shows who can be reached on which channel and writes the enumerators' list (no phones).
    """
    bot_username = _bot_username(bot_username)
    async def run(d: Any) -> tuple[Any, list[Any], dict[int, Any], dict[int, tuple[str, str, str]]]:
        r = await _round(d, round_code)
        resp = await list_respondents(d, r.id)
        contacts = await contacts_for(d, [x.id for x in resp])
        names = await _unit_names(d, [x.unit_id for x in resp])
        await audit(d, default_actor(actor), "invites.make", {"respondents": len(resp), "out": str(out) if out else None},
                    r.id)
        return r, resp, contacts, names

    r, resp, contacts, names = run_with_db(db, run)
    if not resp:
        fail(f"đợt {round_code} chưa có người được chọn; chạy 'hailong sample draw' / round {round_code} has "
              "no sampled respondents; run 'hailong sample draw'")
    bad = [x.id for x in resp if not is_valid_token(x.token) or not x.card_code]
    if bad:
        fail(f"{len(bad)} người có mã mời hỏng / respondents with broken credentials: {bad[:10]}")
    per_unit: dict[int, list[int]] = {}
    for x in resp:
        c = contacts.get(x.id)
        row = per_unit.setdefault(x.unit_id, [0, 0, 0, 0])
        row[0] += 1
        row[1] += bool(c and c.telegram_id)
        row[2] += bool(c and c.zalo_id)
        row[3] += not (c and (c.telegram_id or c.zalo_id))
    t = Table(title=f"Thư mời đợt / invites of {r.code}")
    for col in ("Đơn vị / unit", "Xã / commune", "Số hộ / sampled", "Telegram", "Zalo", "Chỉ phiếu giấy / card only"):
        t.add_column(col, justify="right" if col[0] in "STZC" and col != "Xã / commune" else "left")
    for uid, (n, tg, zl, none) in per_unit.items():
        code, name, parent = names.get(uid, (str(uid), str(uid), ""))
        t.add_row(f"{name} [dim]{code}[/]", parent, str(n), str(tg), str(zl), str(none))
    _out.print(t)
    if out is not None:
        try:
            with open_private(out, "w", newline="", encoding="utf-8-sig") as fh:  # tokens: owner-only
                w = safe_csv_writer(fh)
                w.writerow(["respondent_id", "unit_code", "village", "commune", "household_ref", "sub_hamlet",
                            "code", "telegram_link", "status"])
                for x in resp:
                    code, name, parent = names.get(x.unit_id, ("", "", ""))
                    link = telegram_link(bot_username, x.token) if bot_username else ""
                    w.writerow([x.id, code, name, parent, x.household_ref or "", x.attrs.get("sub_hamlet", ""),
                                format_code(x.card_code), link, x.status])
        except OSError as exc:
            fail(f"không ghi được / cannot write {out}: {exc.strerror or exc}")
        _out.print(f"Đã ghi / written [bold]{out}[/] ({len(resp)} dòng / rows, không có số điện thoại / no phones)")
        if not bot_username:
            warn("không có --bot-username: cột telegram_link để trống; điều tra viên chỉ có mã ngắn / no "
                 "--bot-username: the telegram_link column is empty; enumerators get the short codes only")
    next_step(f"hailong invites cards --round {r.code} --out cards.pdf --bot-username BOT [--unit CODE]")


@invites_app.command("cards")
def invites_cards(
    round_code: str = typer.Option(..., "--round"),
    out: Path = typer.Option(..., "--out", help="Tệp PDF / PDF file"),
    unit: Optional[list[str]] = typer.Option(None, "--unit", help="Mã đơn vị (lặp được) / unit code (repeatable)"),
    bot_username: Optional[str] = typer.Option(None, "--bot-username", envvar="HAILONG_TELEGRAM_USERNAME",
                                               help="Tên bot Telegram / Telegram bot username"),
    zalo_name: str = typer.Option("Khảo sát Sở Nội vụ Lai Châu", "--zalo-name", help="Tên Zalo của bot / Zalo name"),
    hotline: str = typer.Option("0213 3876 543", "--hotline", help="Đường dây hỗ trợ / hotline"),
    deadline: Optional[str] = typer.Option(None, "--deadline", help="Hạn trả lời / deadline (default: round close)"),
    all_statuses: bool = typer.Option(False, "--all", help="Cả người đã bắt đầu / include those who started"),
    db: Optional[str] = DbOpt,
    actor: Optional[str] = ActorOpt,
) -> None:
    """In phiếu mời có mã QR (PDF A4, 8 phiếu/trang) / print QR invitation cards."""
    if not bot_username:
        fail("cần --bot-username (tên bot Telegram trên thẻ) / --bot-username is needed for the QR links")
    bot_username = _bot_username(bot_username)

    async def run(d: Any) -> tuple[Any, list[Card]]:
        r = await _round(d, round_code)
        resp = await list_respondents(d, r.id, statuses=None if all_statuses else ("sampled", "invited", "opened"))
        names = await _unit_names(d, [x.unit_id for x in resp])
        if unit:
            wanted = set(unit)
            unknown = wanted - {n[0] for n in names.values()}
            if unknown:
                raise UserError(await _why_no_cards(d, r.id, sorted(unknown), all_statuses))
            resp = [x for x in resp if names.get(x.unit_id, ("",))[0] in wanted]
        cards = []
        for x in resp:
            code, vname, parent = names.get(x.unit_id, ("", "", ""))
            extra = " · ".join(s for s in (str(x.attrs.get("sub_hamlet") or ""), x.household_ref or "") if s)
            cards.append(Card(x.card_code, x.token, vname, parent, extra or None))
        await audit(d, default_actor(actor), "invites.cards", {"cards": len(cards), "units": sorted(unit or []),
                                                         "out": str(out)}, r.id)
        return r, cards

    r, cards = run_with_db(db, run)
    if not cards:
        fail("không có phiếu mời nào cần in / no cards to print (everyone started or no sample)")
    dl = deadline or (fmt_time(r.closes_at, with_time=False) if r.closes_at else "—")
    try:
        render_cards(cards, CardOptions(bot_username=bot_username, zalo_name=zalo_name, deadline=dl,
                                        hotline=hotline), out)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    pages = -(-len(cards) // 8)
    _out.print(f"Đã in / written [bold]{out}[/]: {len(cards)} phiếu / cards, {pages} trang A4 / pages")
    next_step(f"phát phiếu cho hộ / hand the cards out; hailong invites send --round {r.code} --channel telegram "
              "(hộ đã có Telegram / households known on Telegram); hailong status --round " + r.code)


async def _why_no_cards(d: Any, round_id: int, codes: list[str], all_statuses: bool) -> str:
    """Why ``--unit`` codes give no card, one reason per code: not a unit of the frame, not in
    this round's sample, or every household of it has already started (``--all`` prints them)."""
    everyone = await list_respondents(d, round_id)
    in_sample = {n[0] for n in (await _unit_names(d, [x.unit_id for x in everyone])).values()}
    reasons = []
    for code in codes:
        known = await d.fetchall("SELECT 1 FROM units WHERE code = ?", (code,))
        if not known:
            reasons.append(f"{code}: không có trong khung mẫu / not a unit of the frame")
        elif code not in in_sample:
            reasons.append(f"{code}: không được chọn vào mẫu của đợt này / not in this round's sample")
        else:
            reasons.append(f"{code}: mọi hộ đã bắt đầu hoặc kết thúc; thêm --all để in lại / every household "
                           "has started or finished; add --all to print them again" if not all_statuses else
                           f"{code}: không có hộ nào / no household")
    return "không in được phiếu cho / no cards for " + "; ".join(reasons)


# ------------------------------------------------------------------ status

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
             f"tỷ lệ trả lời (RR1) {_pct(rt.rr1)}.",
             f"Round {round_code}: {tot[Disposition.COMPLETE]} complete, response rate {_pct(rt.rr1)}."]
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


def _status(round_code: str, db: Optional[str], only_problems: bool) -> None:
    policy = _claim_policy()

    async def run(d: Any) -> tuple[Any, list[Any], dict[Any, int], list[str]]:
        r = await _round(d, round_code)
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
                  _pct(row["rr1"]), str(row["need_substitution"] or ""), style=style)
    tot = sum((x["counts"] for x in rows), DispositionCounts({}))
    rt = rates(tot)
    quota = sum(x["unit"].quota or 0 for x in rows)
    t.add_section()
    t.add_row("[bold]Tổng / total[/]", str(quota or "—"), str(sum(x["invited"] for x in rows)),
              str(sum(x["started"] for x in rows)), str(tot[Disposition.COMPLETE]), str(tot[Disposition.REFUSED]),
              str(tot[Disposition.UNREACHABLE]), _pct(rt.rr1),
              str(sum(x["need_substitution"] for x in rows) or ""))
    _out.print(t)
    _out.print(f"AAPOR: RR1 {_pct(rt.rr1)} · RR2 {_pct(rt.rr2)} · COOP1 {_pct(rt.coop1)} · REF1 {_pct(rt.ref1)} · "
               f"CON1 {_pct(rt.con1)}")
    if ob:
        parts = ", ".join(f"{k}/{s}: {n}" for (k, s), n in sorted(ob.items()))
        _out.print(f"Hàng đợi gửi / outbox: {parts}")
    need = [x for x in rows if x["need_substitution"]]
    if need:
        _out.print(f"[bold red]{len(need)} đơn vị cần thay thế hộ / units need substitutions[/] (tô đỏ / in red)")
    for line in credential_lines:
        _out.print(line, style="bold red", markup=False)
    if r.status == "closed":
        next_step(f"hailong indices --round {r.code}, hailong report --round {r.code} --out report/")
    else:
        next_step(f"hailong reminders plan --round {r.code}; khi đủ phiếu / once enough are complete: "
                  f"hailong recheck draw --round {r.code}")


# ------------------------------------------------------------------ recheck

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
    names = await _unit_names(d, [x.unit_id for x in done])
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
        r = await _round(d, round_code)
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
    _out.print(t)
    _out.print(f"Mới lưu / newly stored: {new} (rút lại giữ nguyên kết quả cũ / re-drawing keeps earlier outcomes)")
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
        r = await _round(d, round_code)
        rows = await list_recheck(d, r.id)
        if not rows:
            raise UserError("chưa rút mẫu phúc tra; chạy 'hailong recheck draw' / no re-check draw yet")
        resp = {x.respondent_id: await get_respondent(d, x.respondent_id) for x in rows}
        contacts = await contacts_for(d, list(resp))
        names = await _unit_names(d, [p.unit_id for p in resp.values() if p])
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
    _out.print(f"Đã xuất / exported [bold]{out}[/]: {len(rows)} hộ / households (không có câu trả lời / no answers)")
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
        r = await _round(d, round_code)
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
    _out.print(f"Đã ghi / recorded: người trả lời / respondent {row.respondent_id} → [bold]{row.outcome}[/]"
               + (" (loại khỏi chỉ số / excluded from indices)" if row.outcome == "not_confirmed" else ""))
    next_step(f"hộ tiếp theo / the next household; hết / when done: hailong round close --code {round_code}")


# ------------------------------------------------------------------ reminders

@reminders_app.command("plan")
def reminders_plan(
    round_code: str = typer.Option(..., "--round"),
    limit: int = typer.Option(20, "--limit", help="Số dòng chi tiết / detail rows"),
    db: Optional[str] = DbOpt,
) -> None:
    """Xem nhắc nhở nào sẽ gửi khi nào / what would be sent when."""
    async def run(d: Any) -> tuple[Any, list[Any]]:
        r = await _round(d, round_code)
        return r, await plan_round(d, r, time.time())

    r, plan = run_with_db(db, run)
    if not plan:
        _out.print(f"Không có nhắc nhở nào sắp gửi / no reminders to come for {r.code}")
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
    _out.print(t)
    d = Table(title="Chi tiết / detail")
    for col in ("Người trả lời / respondent", "Lần / #", "Đối tượng / target", "Lúc / at"):
        d.add_column(col)
    for p in plan[:limit]:
        d.add_row(str(p.respondent_id), str(p.number), label.get(str(p.kind), str(p.kind)),
                  p.due_at.astimezone(VN).strftime("%d/%m/%Y %H:%M"))
    _out.print(d)
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
        _out.print(f"Đã xếp / queued {res.enqueued} nhắc nhở / reminders; đã có / already {res.already_queued}; "
                   f"không có kênh / no channel {res.no_channel}; đóng đợt / closed rounds: "
                   f"{', '.join(res.closed_rounds) or '—'}")
        return

    async def forever(d: Any) -> None:
        sched = ReminderScheduler(d, interval_s=interval)
        await sched.start()
        _out.print(f"Đang chạy nhắc nhở mỗi {interval:.0f}s (Ctrl-C để dừng) / reminders running")
        try:
            await asyncio.Event().wait()
        finally:
            await sched.stop()

    try:
        run_with_db(db, forever)
    except KeyboardInterrupt:
        _out.print("Đã dừng / stopped")


# ------------------------------------------------------------------ mounting

def register(app: typer.Typer, *, claim_policy: Callable[[], Any] | None = None) -> None:
    """Mount the fieldwork commands on the ``hailong`` app (see hailong/cli.py and
    hailong/fieldwork_app.py, which adds ``invites send`` with the channels' senders).
    ``claim_policy``: the configured claim limits that ``status --problems`` reports against."""
    global _claim_policy
    if claim_policy is not None:
        _claim_policy = claim_policy
    app.add_typer(round_app, name="round")
    app.add_typer(invites_app, name="invites")
    app.add_typer(recheck_app, name="recheck")
    app.add_typer(reminders_app, name="reminders")

    @app.command("status")
    def status(
        round_code: str = typer.Option(..., "--round", help="Mã đợt / round code"),
        problems: bool = typer.Option(False, "--problems", help="Chỉ đơn vị cần thay thế (và cảnh báo về mã mời) / "
                                                                "only units needing substitution (and credential alerts)"),
        db: Optional[str] = DbOpt,
    ) -> None:
        """Tiến độ theo đơn vị so với chỉ tiêu / progress per unit against its quota."""
        _status(round_code, db, problems)
