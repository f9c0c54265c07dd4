"""``hailong staff …`` (accounts) and ``hailong web`` (the console alone).

Passwords are asked for without echo, or read from standard input with ``--password-stdin``
(scripts); never taken as a command-line argument, which other users of the machine can see.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from typing import Any, Awaitable, Callable, NoReturn, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from hailong.console.passwords import PasswordRejected, check_new_password, hash_password
from hailong.run import register_service
from storage.commands import db_option, existing_db, fail, run_with_db
from storage.db import StorageError
from storage.staff import (StaffError, create_account, link_chat, list_accounts, set_active, set_password,
                           set_role, unlink_chat)
from storage.units import list_units

T = TypeVar("T")
staff_app = typer.Typer(help="Tài khoản nhân viên (bảng điều khiển web, /status) / staff accounts.",
                        no_args_is_help=True)
_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)
DbOpt = db_option()
ActorOpt = typer.Option(None, "--actor", help="Người thực hiện (ghi nhật ký) / who does this (audit log)")


def _fail(msg: str, code: int = 2) -> NoReturn:
    fail(msg, code)


def _actor(actor: str | None) -> str:
    if actor:
        return actor[:64]
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"


def _with_db(db: str | None, fn: Callable[[Any], Awaitable[T]]) -> T:
    return run_with_db(db, fn, errors=(StorageError,))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        pw = sys.stdin.readline().rstrip("\r\n")
    else:
        pw = typer.prompt("Mật khẩu / password", hide_input=True, confirmation_prompt=True)
    try:
        check_new_password(pw)
    except PasswordRejected as exc:
        _fail(str(exc))
    return pw


async def _unit_id(d: Any, code: str | None, frame: str | None) -> int | None:
    if code is None:
        return None
    found = [u for u in await list_units(d, frame=frame) if u.code == code]
    if not found:
        raise StaffError(f"không có đơn vị mã {code!r} / no unit with code {code!r}")
    if len(found) > 1:
        raise StaffError(f"mã {code!r} có trong nhiều khung mẫu; dùng --frame / code {code!r} is in several "
                         f"frames: give --frame ({', '.join(sorted(u.frame for u in found))})")
    return found[0].id


@staff_app.command("add")
def staff_add(username: str = typer.Argument(..., help="Tên đăng nhập / user name"),
              role: str = typer.Option(..., "--role", help="admin | analyst | district | commune | enumerator"),
              unit: Optional[str] = typer.Option(None, "--unit", help="Mã đơn vị (cán bộ, điều tra viên) / unit code"),
              frame: Optional[str] = typer.Option(None, "--frame", help="Khung mẫu của mã đơn vị / the unit's frame"),
              name: str = typer.Option("", "--name", help="Họ tên / display name"),
              lang: str = typer.Option("vi", "--lang", help="vi | en"),
              password_stdin: bool = typer.Option(False, "--password-stdin", help="Đọc mật khẩu từ stdin"),
              db: Optional[str] = DbOpt, actor: Optional[str] = ActorOpt) -> None:
    """Tạo tài khoản / add a staff account."""
    pw = _read_password(password_stdin)

    async def run(d: Any) -> Any:
        return await create_account(d, username=username, role=role, password_hash=hash_password(pw),
                                    actor=_actor(actor), display_name=name, unit_id=await _unit_id(d, unit, frame),
                                    lang=lang)

    acc = _with_db(db, run)
    _out.print(f"Đã tạo / added [bold]{acc.username}[/] ({acc.role}" + (f", unit {unit}" if unit else "") + ")")


@staff_app.command("list")
def staff_list(db: Optional[str] = DbOpt) -> None:
    """Danh sách tài khoản / list accounts (with their staff chats)."""
    async def run(d: Any) -> tuple[list[Any], dict[int, str]]:
        return await list_accounts(d), {u.id: f"{u.name} ({u.code})" for u in await list_units(d)}

    accounts, names = _with_db(db, run)
    t = Table(title="Tài khoản / accounts")
    for col in ("Tên / user", "Họ tên / name", "Vai trò / role", "Đơn vị / unit", "Hoạt động / active",
                "Chat (/status)"):
        t.add_column(col)
    for a in accounts:
        t.add_row(a.username, a.display_name, a.role, names.get(a.unit_id, "—") if a.unit_id else "*",
                  "✓" if a.active else "✗", ", ".join(f"{c}:{i}" for c, i in a.chats))
    _out.print(t if accounts else "Chưa có tài khoản / no accounts yet")


@staff_app.command("link-chat")
def staff_link_chat(username: str = typer.Argument(...),
                    channel: str = typer.Option("telegram", "--channel", help="telegram | zalo"),
                    chat_id: str = typer.Option(..., "--chat-id", help="Mã người dùng (xem /whoami) / user id"),
                    db: Optional[str] = DbOpt, actor: Optional[str] = ActorOpt) -> None:
    """Cho chat này dùng /status / let this chat use the bot's staff commands."""
    _with_db(db, lambda d: link_chat(d, username, channel, chat_id, _actor(actor)))
    _out.print(f"Đã liên kết / linked {channel} chat với / to [bold]{username}[/] (hailong run đọc lại trong "
               "1 phút / a running bot picks it up within a minute)")


@staff_app.command("unlink-chat")
def staff_unlink_chat(channel: str = typer.Option("telegram", "--channel"),
                      chat_id: str = typer.Option(..., "--chat-id"),
                      db: Optional[str] = DbOpt, actor: Optional[str] = ActorOpt) -> None:
    """Bỏ quyền /status của một chat / remove a chat's staff rights."""
    if not _with_db(db, lambda d: unlink_chat(d, channel, chat_id, _actor(actor))):
        _fail("chat này chưa được liên kết / this chat is not linked", 1)
    _out.print("Đã bỏ liên kết / unlinked")


@staff_app.command("password")
def staff_password(username: str = typer.Argument(...),
                   password_stdin: bool = typer.Option(False, "--password-stdin"),
                   db: Optional[str] = DbOpt, actor: Optional[str] = ActorOpt) -> None:
    """Đặt mật khẩu mới (đăng xuất mọi phiên) / set a new password (ends every session)."""
    pw = _read_password(password_stdin)
    _with_db(db, lambda d: set_password(d, username, hash_password(pw), _actor(actor)))
    _out.print(f"Đã đổi mật khẩu / password changed for [bold]{username}[/]")


@staff_app.command("disable")
def staff_disable(username: str = typer.Argument(...), db: Optional[str] = DbOpt,
                  actor: Optional[str] = ActorOpt) -> None:
    """Khóa tài khoản / disable an account (sessions and chats lose access)."""
    _with_db(db, lambda d: set_active(d, username, False, _actor(actor)))
    _out.print(f"Đã khóa / disabled [bold]{username}[/]")


@staff_app.command("enable")
def staff_enable(username: str = typer.Argument(...), db: Optional[str] = DbOpt,
                 actor: Optional[str] = ActorOpt) -> None:
    """Mở khóa tài khoản / enable an account."""
    _with_db(db, lambda d: set_active(d, username, True, _actor(actor)))
    _out.print(f"Đã mở khóa / enabled [bold]{username}[/]")


@staff_app.command("role")
def staff_role(username: str = typer.Argument(...), role: str = typer.Option(..., "--role"),
               unit: Optional[str] = typer.Option(None, "--unit"), frame: Optional[str] = typer.Option(None, "--frame"),
               db: Optional[str] = DbOpt, actor: Optional[str] = ActorOpt) -> None:
    """Đổi vai trò, đơn vị / change role and unit (sessions end)."""
    async def run(d: Any) -> None:
        await set_role(d, username, role, await _unit_id(d, unit, frame), _actor(actor))

    _with_db(db, run)
    _out.print(f"Đã đổi / changed [bold]{username}[/] → {role}" + (f" ({unit})" if unit else ""))


def web_command(host: str = typer.Option("127.0.0.1", "--host", help="Địa chỉ / bind address"),
                port: int = typer.Option(8080, "--port"),
                insecure_cookies: bool = typer.Option(False, "--insecure-cookies",
                                                      help="Cookie không Secure: chỉ cho http trong mạng tin cậy / "
                                                           "plain http on a trusted network only"),
                trust_proxy: bool = typer.Option(False, "--trust-proxy", help="Sau nginx: đọc X-Forwarded-For"),
                db: Optional[str] = DbOpt) -> None:
    """Chạy bảng điều khiển web / run the staff web console (127.0.0.1 by default)."""
    # lazy: the web stack (aiohttp-jinja2, templates) is for `hailong web` and `run --web` only
    from hailong.console.app import ConsoleConfig
    from hailong.console.server import serve_forever
    path = existing_db(db)
    cfg = ConsoleConfig(secure_cookies=not insecure_cookies, trust_proxy=trust_proxy)
    try:
        asyncio.run(serve_forever(path, host, port, cfg, announce=_out.print))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        _fail(f"không mở được cổng {host}:{port} / cannot listen on {host}:{port}: {exc.strerror}")


async def _web_service(settings: Any, db: Any, options: dict[str, Any]) -> Callable[[], Awaitable[None]]:
    """``hailong run --web``: the console on the bot's own event loop and database (one writer)."""
    from hailong.console.app import ConsoleConfig   # lazy: see web_command
    from hailong.console.server import ConsoleServer

    server = ConsoleServer(db, options.get("host", "127.0.0.1"), int(options.get("port", 8080)),
                           ConsoleConfig(secure_cookies=not options.get("insecure_cookies", False),
                                         trust_proxy=bool(options.get("trust_proxy", False))))
    await server.start()
    _err.print(f"Bảng điều khiển / console: {server.url}")
    return server.stop


def register(app: typer.Typer) -> None:
    """Mount ``hailong staff …`` and ``hailong web``; offer the console to ``hailong run --web``."""

    app.add_typer(staff_app, name="staff")
    app.command("web")(web_command)
    register_service("web", _web_service)
