"""``hailong invites make|cards``: check a round's invitation credentials, list them for the
enumerators and print the QR cards (``invites send`` needs the channels: ``hailong/fieldwork_app.py``
adds it to :data:`invites_app`).

Tokens go to owner-only files (``storage.private_files``); the enumerators' list has no phones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from fieldwork.cards import Card, CardOptions, render_cards
from fieldwork.cli_helpers import (ActorOpt, DbOpt, checked_bot_username, console, fmt_time, round_by_code,
                                   unit_names)
from fieldwork.invites import telegram_link
from storage.audit import audit, default_actor
from storage.commands import UserError, fail, next_step, run_with_db, warn
from storage.credentials import format_code, is_valid_token
from storage.private_files import open_private
from storage.respondents import contacts_for, list_respondents
from survey_defs.spreadsheet_safety import safe_csv_writer

invites_app = typer.Typer(help="Thư mời / invites: credentials, QR cards, sending.", no_args_is_help=True)


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
    bot_username = checked_bot_username(bot_username)
    async def run(d: Any) -> tuple[Any, list[Any], dict[int, Any], dict[int, tuple[str, str, str]]]:
        r = await round_by_code(d, round_code)
        resp = await list_respondents(d, r.id)
        contacts = await contacts_for(d, [x.id for x in resp])
        names = await unit_names(d, [x.unit_id for x in resp])
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
    console.print(t)
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
        console.print(f"Đã ghi / written [bold]{out}[/] ({len(resp)} dòng / rows, không có số điện thoại / no phones)")
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
    bot_username = checked_bot_username(bot_username)

    async def run(d: Any) -> tuple[Any, list[Card]]:
        r = await round_by_code(d, round_code)
        resp = await list_respondents(d, r.id, statuses=None if all_statuses else ("sampled", "invited", "opened"))
        names = await unit_names(d, [x.unit_id for x in resp])
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
    console.print(f"Đã in / written [bold]{out}[/]: {len(cards)} phiếu / cards, {pages} trang A4 / pages")
    next_step(f"phát phiếu cho hộ / hand the cards out; hailong invites send --round {r.code} --channel telegram "
              "(hộ đã có Telegram / households known on Telegram); hailong status --round " + r.code)


async def _why_no_cards(d: Any, round_id: int, codes: list[str], all_statuses: bool) -> str:
    """Why ``--unit`` codes give no card, one reason per code: not a unit of the frame, not in
    this round's sample, or every household of it has already started (``--all`` prints them)."""
    everyone = await list_respondents(d, round_id)
    in_sample = {n[0] for n in (await unit_names(d, [x.unit_id for x in everyone])).values()}
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
