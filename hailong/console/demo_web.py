"""The console on a demo database: a demo login, its URL, and (``--web``) serving until Ctrl-C.

Used by ``make demo`` (``python -m demo``): the demo database gets one admin account ``demo`` with a
fresh random password (printed, since this is a throw-away local database), and one commune
officer ``xa-demo`` scoped to the first commune of the sample, so that the role limits can be
tried too.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from hailong.console.app import ConsoleConfig
from hailong.console.passwords import hash_password
from hailong.console.server import ConsoleServer
from storage.db import Database
from storage.staff import create_account, credentials_for, set_password

DEMO_ADMIN = "demo"
DEMO_OFFICER = "xa-demo"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    officer: str
    officer_unit: str


async def demo_accounts(db: Database) -> DemoLogin:
    """Create (or reset the passwords of) the demo accounts; returns the logins to print."""
    password = secrets.token_urlsafe(9)
    pw_hash = hash_password(password)
    commune = await db.fetchone("SELECT u.id, u.name FROM units u JOIN respondents p ON p.unit_id IN"
                                " (SELECT id FROM units WHERE parent_id = u.id) WHERE u.kind = 'commune'"
                                " ORDER BY u.id LIMIT 1")
    for user, role, unit in ((DEMO_ADMIN, "admin", None), (DEMO_OFFICER, "commune", commune[0] if commune else None)):
        if role == "commune" and unit is None:
            continue
        if await credentials_for(db, user) is None:
            await create_account(db, username=user, role=role, password_hash=pw_hash, actor="demo", unit_id=unit,
                                 display_name="Quản trị demo" if role == "admin" else f"Cán bộ {commune[1]}")
        else:
            await set_password(db, user, pw_hash, "demo")
    return DemoLogin(DEMO_ADMIN, password, DEMO_OFFICER, commune[1] if commune else "")


async def serve_demo_console(db_path: Path, announce: Callable[[str], object], *, keep: bool,
                             host: str = "127.0.0.1", port: int = 8080, stop: asyncio.Event | None = None) -> None:
    """Print the console's URL and logins; with ``keep`` serve until Ctrl-C (SIGINT/SIGTERM) or ``stop``."""
    db = await Database.open(str(db_path))
    server = None
    try:
        login = await demo_accounts(db)
        if keep:
            server = ConsoleServer(db, host, port, ConsoleConfig(secure_cookies=False, bootstrap=200))
            try:
                await server.start()
            except OSError:                      # the port is taken: any free one
                server = ConsoleServer(db, host, 0, server.config)
                await server.start()
            url = server.url
        else:
            url = f"http://{host}:{port}"
        announce(f"Bảng điều khiển / web console: {url}   đăng nhập / login: {login.username} / {login.password}"
                 + (f"   (cán bộ xã / commune officer {login.officer_unit}: {login.officer} / {login.password})"
                    if login.officer_unit else ""))
        if not keep:
            announce(f"  chạy / run: hailong web --insecure-cookies --db {db_path}   (hoặc / or: make demo ARGS=--web)")
            return
        announce("  Ctrl-C để dừng / to stop")
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        if server is not None:
            await server.stop()
        await db.close()
