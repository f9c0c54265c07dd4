"""What every ``hailong`` command that touches the database does: find the database, open it, run
one coroutine on it, close it, and turn a user's mistake into one bilingual line and an exit code
(never a traceback).

Why one helper: the storage, sampling, fieldwork and analytics commands each had their own copy,
with their own idea of which errors are the user's; a fix in one (a missing database named with
``hailong init``, a closed connection after an error) now reaches all of them. ``hailong run``
prints its start-up errors through :func:`fail` too, with a ``redact`` step that masks secrets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from storage.db import Database, StorageError, default_db_path
from storage.dialect import DialectError, parse_db_url

__all__ = ["UserError", "fail", "warn", "next_step", "db_option", "db_path", "existing_db", "run_with_db", "DB_HELP"]

#: The help of every ``--db`` option: a path or a URL (typer's ``Path`` type would mangle
#: ``postgresql://host/db`` into ``postgresql:/host/db``, so the option is a ``str``).
DB_HELP = ("Cơ sở dữ liệu: tệp hoặc địa chỉ postgresql://… (mặc định $HAILONG_DB, nếu không ./hailong.db) / "
           "database: a file or a postgresql://… URL (default $HAILONG_DB, else ./hailong.db)")

T = TypeVar("T")

_err = Console(stderr=True)
_out = Console()


class UserError(Exception):
    """A staff mistake (unknown round, bad date…): shown as a message, never a traceback."""


def fail(message: str, code: int = 2, *, redact: Callable[[str], str] | None = None) -> NoReturn:
    """Print ``Lỗi / Error: message`` on stderr and leave with ``code``.

    ``redact``: masks the secrets the message may carry before anything is printed. ``hailong run``
    passes the redactor of its logs (``bot.log_hygiene``: bot tokens, webhook and signing secrets,
    a PostgreSQL password), because a start-up error can quote what a library said about the
    database or the Bot API, and an operator pastes that line into a ticket."""
    text = message if redact is None else redact(message)
    _err.print(f"[bold red]Lỗi / Error:[/] {escape(text)}", soft_wrap=True)
    raise typer.Exit(code=code)


def warn(message: str) -> None:
    """Print ``Lưu ý / Warning: message`` on stderr: the command goes on, the staff should know."""
    _err.print(f"[bold yellow]Lưu ý / Warning:[/] {escape(message)}", soft_wrap=True)


def next_step(what: str) -> None:
    """End a successful command with the one line that says what to do next (README: "Tiếp theo
    / Next: …"), so that a staff member can follow a round without the manual open."""
    _out.print(f"Tiếp theo / Next: {escape(what)}", soft_wrap=True, highlight=False)


def db_option() -> str | None:
    """The ``--db`` option every command declares (``db: Optional[str] = db_option()``)."""
    return typer.Option(None, "--db", help=DB_HELP)  # type: ignore[no-any-return]


def db_path(db: str | Path | None) -> str:
    """The database file: ``--db``, else ``$HAILONG_DB``, else ``./hailong.db``."""
    return str(db) if db else default_db_path()


def existing_db(db: str | Path | None, code: int = 2) -> str:
    """``db_path(db)``, failing (bilingually, naming ``hailong init``) when it is a file that does
    not exist: opening it would create an empty database in the wrong place. A ``postgresql://…``
    URL is a server, checked when it is opened."""
    path = db_path(db)
    try:
        where = parse_db_url(path)
    except DialectError as exc:
        fail(str(exc), code)
    if not where.is_postgres and not Path(where.target).exists():
        fail(f"không thấy cơ sở dữ liệu {path}; chạy 'hailong init' trước / database {path} not found; "
             "run 'hailong init' first", code)
    return path


def run_with_db(db: str | Path | None, fn: Callable[[Database], Awaitable[T]], *, must_exist: bool = True,
                code: int = 2, errors: tuple[type[BaseException], ...] = (UserError, StorageError, ValueError),
                describe: Callable[[BaseException], str] = str) -> T:
    """Open the database, run ``fn(db)``, close it; an exception of one of ``errors`` (the user's
    mistakes) becomes ``fail(describe(exc), code)``. ``must_exist``: a missing file is an error
    that names ``hailong init`` (opening would create an empty database)."""
    path = existing_db(db, code) if must_exist else db_path(db)

    async def run() -> T:
        database = await Database.open(path)
        try:
            return await fn(database)
        finally:
            await database.close()

    try:
        return asyncio.run(run())
    except errors as exc:
        fail(describe(exc), code)
    except DialectError as exc:
        fail(str(exc), code)
