"""What every ``hailong`` command that touches the database does: find the database, open it, run
one coroutine on it, close it, and turn a user's mistake into one bilingual line and an exit code
(never a traceback).

Why one helper: the storage, sampling, fieldwork and analytics commands each had their own copy,
with their own idea of which errors are the user's; a fix in one (a missing database named with
``hailong init``, a closed connection after an error) now reaches all of them.
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
from storage.dialect import parse_db_url

__all__ = ["UserError", "fail", "db_path", "run_with_db"]

T = TypeVar("T")

_err = Console(stderr=True)


class UserError(Exception):
    """A staff mistake (unknown round, bad date…): shown as a message, never a traceback."""


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``Lỗi / Error: message`` on stderr and leave with ``code``."""
    _err.print(f"[bold red]Lỗi / Error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code=code)


def db_path(db: str | Path | None) -> str:
    """The database file: ``--db``, else ``$HAILONG_DB``, else ``./hailong.db``."""
    return str(db) if db else default_db_path()


def run_with_db(db: str | Path | None, fn: Callable[[Database], Awaitable[T]], *, must_exist: bool = True,
                code: int = 2, errors: tuple[type[BaseException], ...] = (UserError, StorageError, ValueError),
                describe: Callable[[BaseException], str] = str) -> T:
    """Open the database, run ``fn(db)``, close it; an exception of one of ``errors`` (the user's
    mistakes) becomes ``fail(describe(exc), code)``. ``must_exist``: a missing file is an error
    that names ``hailong init`` (opening would create an empty database)."""
    path = db_path(db)
    try:
        where = parse_db_url(path)
    except ValueError as exc:          # an unknown scheme, an empty value
        fail(str(exc), code)
    # A PostgreSQL schema is there or not: opening it says so (``hailong db migrate`` creates it).
    if must_exist and not where.is_postgres and not Path(where.target).exists():
        fail(f"không thấy cơ sở dữ liệu {path}; chạy 'hailong init' trước / database {path} not found; "
             "run 'hailong init' first", code)

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
