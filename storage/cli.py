"""``hailong init``, ``hailong db migrate``, ``hailong db copy``: create, upgrade and move databases.

``--db`` (and ``--from`` / ``--to``) take a path, ``sqlite:///path`` or ``postgresql://…``
(``storage.dialect.parse_db_url``); a password in a URL is never printed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from storage.commands import db_option, fail, next_step
from storage.copy import copy_database
from storage.db import (Database, StorageError, code_schema_version, connect_writer, default_db_path,
                        read_schema_version)
from storage.dialect import DbUrl, DialectError, parse_db_url
from storage.pg import PgConnection, read_schema_version_pg

_out = Console()


def register(app: typer.Typer) -> None:
    """Mount the storage commands on the ``hailong`` app (see hailong/cli.py)."""
    db_app = typer.Typer(help="Cơ sở dữ liệu: nâng cấp, chép sang PostgreSQL / database: migrate, copy to PostgreSQL",
                         no_args_is_help=True)
    app.add_typer(db_app, name="db")

    @db_app.command("migrate")
    def db_migrate(
        db: Optional[str] = db_option(),
    ) -> None:
        """Áp dụng các migration / apply the numbered migrations (SQLite or PostgreSQL)."""
        target = db or default_db_path()
        try:
            where = parse_db_url(target)
            before = asyncio.run(asyncio.to_thread(schema_version_of, where))
            database = asyncio.run(_open_close(target))
        except (StorageError, DialectError) as exc:
            fail(str(exc))
        label = where.redacted()
        if before < database:
            _out.print(f"Đã nâng cấp / migrated [bold]{label}[/]: {before} → {database}")
        else:
            _out.print(f"Cơ sở dữ liệu đã mới nhất / database up to date [bold]{label}[/] "
                       f"(phiên bản lược đồ / schema version {database})")

    @db_app.command("copy")
    def db_copy(
        src: str = typer.Option(..., "--from", help="Nguồn / source (path, sqlite:///…, postgresql://…)"),
        dst: str = typer.Option(..., "--to", help="Đích, phải trống / destination, must hold no rows"),
    ) -> None:
        """Chép mọi dòng rồi kiểm tra / copy every row, then verify counts and checksums."""
        try:
            checks = asyncio.run(copy_database(src, dst))
        except (StorageError, DialectError) as exc:
            fail(str(exc))
        total = sum(c.rows for c in checks)
        for c in checks:
            _out.print(f"  {c.table:<24} {c.rows:>10}  {c.checksum[:16]}  ok")
        _out.print(f"Đã chép và kiểm tra / copied and verified {total} dòng / rows in {len(checks)} bảng / tables "
                   f"→ [bold]{parse_db_url(dst).redacted()}[/]")

    @app.command("init")
    def init(
        db: Optional[str] = db_option(),
    ) -> None:
        """Tạo hoặc nâng cấp cơ sở dữ liệu / create or upgrade the database."""
        target = db or default_db_path()
        try:
            where = parse_db_url(target)
        except DialectError as exc:
            fail(str(exc))
        if where.is_postgres:
            _init_postgres(where)
            return
        path = where.target
        if Path(path).is_dir():
            fail(f"{path} là một thư mục; --db cần đường dẫn tệp, ví dụ {Path(path) / 'hailong.db'}"
                 f" / {path} is a directory; --db takes a file path, e.g. {Path(path) / 'hailong.db'}")
        existed = Path(path).exists()

        async def _run() -> tuple[int, int]:
            before = 0
            if existed:
                conn = await asyncio.to_thread(connect_writer, path)
                try:
                    before = read_schema_version(conn)
                finally:
                    conn.close()
            database = await Database.open(path, readers=1)
            try:
                return before, database.schema_version
            finally:
                await database.close()

        try:
            before, after = asyncio.run(_run())
        except StorageError as exc:
            fail(str(exc))
        except (sqlite3.Error, OSError) as exc:       # unwritable place, not a database file, …
            fail(f"không mở được cơ sở dữ liệu {path} (kiểm tra đường dẫn và quyền ghi) "
                 f"/ cannot open the database {path} (check the path and write permission): {exc}")
        if not existed:
            _out.print(f"Đã tạo cơ sở dữ liệu / created database [bold]{path}[/] "
                       f"(phiên bản lược đồ / schema version {after}).")
        elif before < after:
            _out.print(f"Đã nâng cấp / upgraded [bold]{path}[/]: {before} → {after}")
        else:
            _out.print(f"Cơ sở dữ liệu đã mới nhất / database up to date [bold]{path}[/] "
                       f"(phiên bản lược đồ / schema version {after}, code {code_schema_version()})")
        next_step("hailong round create --code CODE --survey sipas-households --plan PLAN --opens … --closes …")

    def _init_postgres(where: DbUrl) -> None:
        """``hailong init --db postgresql://…``: migrate the server's schema (``db migrate``)."""
        try:
            before = asyncio.run(asyncio.to_thread(schema_version_of, where))
            after = asyncio.run(_open_close(where.target))
        except (StorageError, DialectError) as exc:
            fail(str(exc))
        _out.print(f"Cơ sở dữ liệu / database [bold]{where.redacted()}[/]: phiên bản lược đồ / schema version "
                   f"{before} → {after}")
        next_step("hailong round create --code CODE --survey sipas-households --plan PLAN --opens … --closes …")


def schema_version_of(where: DbUrl) -> int:
    """The schema version a database is at now (0: empty or missing), without migrating it."""
    if where.is_postgres:
        conn = PgConnection(where.target)
        try:
            return read_schema_version_pg(conn)
        finally:
            conn.close()
    if not Path(where.target).exists():
        return 0
    c = sqlite3.connect(where.target)
    try:
        return read_schema_version(c)
    finally:
        c.close()


async def _open_close(target: str) -> int:
    database = await Database.open(target, readers=1)
    try:
        return database.schema_version
    finally:
        await database.close()
