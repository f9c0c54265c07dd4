"""``hailong init``: create or upgrade a database (and say which schema version it is at)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from storage.commands import db_path, fail
from storage.db import Database, StorageError, code_schema_version, connect_writer, read_schema_version

_out = Console()


def register(app: typer.Typer) -> None:
    """Mount the storage commands on the ``hailong`` app (see hailong/cli.py)."""

    @app.command("init")
    def init(
        db: Optional[Path] = typer.Option(
            None, "--db", help="Tệp cơ sở dữ liệu / database file (default: $HAILONG_DB or ./hailong.db)"),
    ) -> None:
        """Tạo hoặc nâng cấp cơ sở dữ liệu / create or upgrade the database."""
        path = db_path(db)
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
        if not existed:
            _out.print(f"Đã tạo cơ sở dữ liệu / created database [bold]{path}[/] "
                       f"(phiên bản lược đồ / schema version {after})")
        elif before < after:
            _out.print(f"Đã nâng cấp / upgraded [bold]{path}[/]: {before} → {after}")
        else:
            _out.print(f"Cơ sở dữ liệu đã mới nhất / database up to date [bold]{path}[/] "
                       f"(phiên bản lược đồ / schema version {after}, code {code_schema_version()})")
