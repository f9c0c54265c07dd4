"""Staff commands for personal data protection (docs/privacy.md):

    hailong round purge --code LC2025 [--dry-run]     hailong round purge --due
    hailong requests [--all] [--round LC2025]
    hailong requests add --round LC2025 --card KS-4F7K2QM --kind erase [--note …]
    hailong requests done 12 [--refuse "lý do / reason"]
    hailong privacy report --round LC2025 [--out annex.md]
    hailong privacy consent --round LC2025 [--lang vi]

Every action is audited (by the storage function that does it). User errors print a bilingual
message and exit with code 2.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table

from storage.audit import default_actor
from storage.consent import round_consent
from storage.commands import db_option, existing_db, fail, run_with_db
from storage.db import StorageError
from storage.privacy_report import gather, render_markdown
from storage.private_files import open_private
from storage.purge import LABELS, PurgeError, purge_due, purge_round
from storage.rights import add_request, close_request, list_requests
from storage.util import now

_out = Console()
_err = Console(stderr=True)
_TZ = dt.timezone(dt.timedelta(hours=7))

requests_app = typer.Typer(help="Yêu cầu của người dân về dữ liệu cá nhân / data subject requests.",
                           invoke_without_command=True)
privacy_app = typer.Typer(help="Bảo vệ dữ liệu cá nhân / personal data protection: report, consent.",
                          no_args_is_help=True)
DbOpt = db_option()
ActorOpt = typer.Option(None, "--actor", help="Người thực hiện (nhật ký) / who acts, for the audit log")


def _fail(msg: str) -> NoReturn:
    fail(msg)


def _path(db: Optional[str]) -> str:
    """The database path or URL; a SQLite file must exist (a purge never creates one)."""
    return existing_db(db)


def _run(db: Optional[str], fn: Any) -> Any:
    return run_with_db(db, fn, errors=(StorageError,))


def _when(at: float | None) -> str:
    return "—" if at is None else dt.datetime.fromtimestamp(at, _TZ).strftime("%d/%m/%Y %H:%M")


# ------------------------------------------------------------------ purge

def purge_cmd(code: Optional[str] = typer.Option(None, "--code", help="Mã đợt / round code"),
              dry_run: bool = typer.Option(False, "--dry-run", help="Chỉ liệt kê / only list what would go"),
              due: bool = typer.Option(False, "--due", help="Xóa mọi đợt đã hết thời hạn lưu / purge every round "
                                                           "whose retention has run out"),
              db: Optional[str] = DbOpt, actor: Optional[str] = ActorOpt) -> None:
    """Xóa hẳn dữ liệu cá nhân của đợt đã đóng và phúc tra xong / purge a closed, re-checked round."""
    if (code is None) == (not due):
        _fail("cần --code hoặc --due (một trong hai) / give --code or --due (one of them)")
    path = _path(db)
    try:
        reports = purge_due(path, actor=default_actor(actor)) if due else \
            [purge_round(path, code or "", actor=default_actor(actor), dry_run=dry_run)]
    except (PurgeError, StorageError) as exc:    # StorageError: not a database, locked…
        _fail(str(exc))
    if due and not reports:
        _out.print("Không có đợt nào đến hạn xóa / no round is due for purging")
    failed = False
    for rep in reports:
        head = "Thử (không xóa) / dry run" if rep.dry_run else "Đã xóa / purged"
        if rep.already_purged_at:
            _out.print(f"Đợt {rep.round_code} đã xóa lúc / was purged at {_when(rep.already_purged_at)}")
        t = Table(title=f"{head}: {rep.round_code}")
        t.add_column("Dữ liệu / data")
        t.add_column("Số dòng / rows", justify="right")
        for k, n in rep.counts.items():
            t.add_row(LABELS.get(k, k), str(n))
        _out.print(t)
        for b in rep.blockers:
            failed = True
            _err.print(f"[yellow]Chưa được xóa / not allowed yet:[/] {b}")
        if rep.wal_truncated is False:
            failed = True
            _err.print("[yellow]Nhật ký WAL chưa thu gọn được (đang có kết nối đọc); chạy lại khi bot dừng / the WAL "
                       "could not be truncated (a reader is active); run again with the bot stopped[/]")
        if rep.purged_at:
            _out.print("Giữ lại: tình trạng phiếu, câu trả lời đã khử nhận dạng, chỉ số / kept: dispositions, "
                       "de-identified answers, indices. Đã VACUUM và thu gọn WAL / VACUUM done, WAL truncated.")
    if failed:
        raise typer.Exit(1)


# ------------------------------------------------------------------ requests

@requests_app.callback()
def requests_list(ctx: typer.Context, all_: bool = typer.Option(False, "--all", help="Cả yêu cầu đã xong / done too"),
                  round_code: Optional[str] = typer.Option(None, "--round", help="Mã đợt / round code"),
                  db: Optional[str] = DbOpt) -> None:
    """Yêu cầu đang mở (hạn 15 ngày) / open requests (15-day deadline)."""
    if ctx.invoked_subcommand is not None:
        return
    async def go(d: Any) -> Any:
        rid = None
        if round_code:
            rid = await d.fetchval("SELECT id FROM rounds WHERE code = ?", (round_code,))
            if rid is None:
                raise StorageError(f"không có đợt / no round {round_code!r}")
        return await list_requests(d, status=None if all_ else "open", round_id=rid)

    reqs = _run(db, go)
    at = now()
    t = Table(title="Yêu cầu về dữ liệu cá nhân / data subject requests")
    for col in ("Số / id", "Loại / kind", "Kênh / channel", "Nhận / received", "Hạn / due", "Trạng thái / status"):
        t.add_column(col)
    for r in reqs:
        status = r.status + (" [bold red]QUÁ HẠN / OVERDUE[/]" if r.overdue(at) else "")
        t.add_row(str(r.id), r.kind, r.channel, _when(r.received_at), _when(r.due_at), status)
    _out.print(t if reqs else "Không có yêu cầu đang mở / no open request")


@requests_app.command("add")
def requests_add(round_code: str = typer.Option(..., "--round"), card: str = typer.Option(..., "--card",
                 help="Mã thẻ của người yêu cầu / the requester's card code"),
                 kind: str = typer.Option(..., "--kind", help="access | erase"),
                 note: Optional[str] = typer.Option(None, "--note"), db: Optional[str] = DbOpt,
                 actor: Optional[str] = ActorOpt) -> None:
    """Ghi nhận yêu cầu nhận qua điện thoại, thư / log a request made by phone or letter."""
    if note is not None and len(note) > 500:
        _fail("ghi chú quá dài (tối đa 500 ký tự) / note too long (500 characters at most)")

    async def go(d: Any) -> Any:
        rid = await d.fetchval("SELECT id FROM rounds WHERE code = ?", (round_code,))
        if rid is None:
            raise StorageError(f"không có đợt / no round {round_code!r}")
        return await add_request(d, kind, rid, card, actor=default_actor(actor), note=note)

    r = _run(db, go)
    _out.print(f"Đã ghi yêu cầu số / request logged: {r.id} ({r.kind}), hạn / due {_when(r.due_at)}")


@requests_app.command("done")
def requests_done(request_id: int = typer.Argument(...),
                  refuse: Optional[str] = typer.Option(None, "--refuse", help="Từ chối, nêu lý do / refuse, "
                                                                             "with the reason"),
                  db: Optional[str] = DbOpt, actor: Optional[str] = ActorOpt) -> None:
    """Thực hiện yêu cầu (xóa ngay nếu là yêu cầu xóa) / act on a request (an erasure erases now)."""
    r = _run(db, lambda d: close_request(d, request_id, actor=default_actor(actor), refuse_reason=refuse))
    _out.print(f"Yêu cầu / request {r.id}: {r.status} ({_when(r.done_at)})")


# ------------------------------------------------------------------ report and consent

@privacy_app.command("report")
def privacy_report(round_code: str = typer.Option(..., "--round"),
                   out: Optional[Path] = typer.Option(None, "--out", help="Tệp Markdown / Markdown file"),
                   db: Optional[str] = DbOpt) -> None:
    """Bản nháp phụ lục đánh giá tác động / draft the impact-assessment annex."""
    text = render_markdown(_run(db, lambda d: gather(d, round_code)))
    if out is None:
        typer.echo(text)
        return
    try:
        with open_private(out, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        _fail(f"không ghi được / cannot write {out}: {exc}")
    _out.print(f"Đã ghi / written: {out}")


@privacy_app.command("consent")
def privacy_consent(round_code: str = typer.Option(..., "--round"),
                    lang: Optional[str] = typer.Option(None, "--lang", help="vi | en"),
                    db: Optional[str] = DbOpt) -> None:
    """In nguyên văn thông báo đồng ý của đợt / print the exact consent text a round showed."""
    texts = _run(db, lambda d: round_consent(d, round_code))
    if lang:
        texts = [t for t in texts if t.lang == lang]
    if not texts:
        _fail(f"đợt {round_code!r} không có thông báo đồng ý / round {round_code!r} has no consent notice"
              + (f" ({lang})" if lang else ""))
    for t in texts:   # typer.echo: the exact text, never re-wrapped for the terminal
        typer.echo(f"--- {t.lang} · phiên bản / version {t.version} · sha256 {t.text_hash} · bước / step {t.step_id}")
        typer.echo(t.text)


def register(app: typer.Typer) -> None:
    """Mount: ``round purge`` on the round group (when mounted), ``requests`` and ``privacy``."""
    for group in app.registered_groups:
        if group.name == "round" and group.typer_instance is not None:
            group.typer_instance.command("purge")(purge_cmd)
            break
    else:
        app.command("purge")(purge_cmd)
    app.add_typer(requests_app, name="requests")
    app.add_typer(privacy_app, name="privacy")
