"""``hailong frame import FILE... [--db PATH] [--frame-name NAME] [--check]``: validate the lists
of a sampling frame, all or nothing, and store its units.

Every problem is listed (file, row, column, reason) and nothing is stored while one remains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from sampling.cli_helpers import console, db_or_refuse, err_console, error_table, printable_db, run_db
from sampling.frame_tables import frame_files
from sampling.frames import load_frame
from sampling.persistence import store_frame
from storage.commands import db_option, fail, next_step

frame_app = typer.Typer(help="Khung chọn mẫu: nạp và kiểm tra danh sách / sampling frames: import "
                             "and validate lists.", no_args_is_help=True)


@frame_app.command("import")
def frame_import(
    files: list[Path] = typer.Argument(..., help="Tệp CSV/XLSX / CSV or XLSX files (or a directory)"),
    db: Optional[str] = db_option(),
    frame_name: Optional[str] = typer.Option(None, "--frame-name",
                                             help="Tên khung mẫu trong CSDL / frame name in the database"),
    check: bool = typer.Option(False, "--check", help="Chỉ kiểm tra, không lưu / validate only, store nothing"),
) -> None:
    """Kiểm tra và nạp danh sách / validate and import lists (all or nothing)."""
    paths: list[Path] = []
    for f in files:
        if f.is_dir():
            paths += frame_files(f)
        else:
            paths.append(f)
    missing = [p for p in paths if not p.exists()]
    if missing:
        fail("không có tệp / no such file: " + ", ".join(str(p) for p in missing), code=1)
    result = load_frame(paths)
    if not result.ok:
        err_console.print(error_table(result.errors))
        raise typer.Exit(code=1)
    frame = result.frame
    assert frame is not None
    table = Table(title="Đã kiểm tra, không có lỗi / validated, no error")
    table.add_column("Danh sách / list")
    table.add_column("Số dòng / rows", justify="right")
    for level in ("province", "district", "commune", "village"):
        n = len(frame.at_level(level))
        if n:
            table.add_row(level, str(n))
    if frame.households:
        table.add_row("household", str(len(frame.households)))
    if frame.service_users:
        table.add_row("service user", str(len(frame.service_users)))
    console.print(table)
    if check:
        console.print("Chưa lưu (--check) / not stored (--check).")
        next_step("bỏ --check để lưu / drop --check to store")
        return
    path = db_or_refuse(db)
    name = frame_name or (paths[0].parent.name if paths else "frame")
    ids = run_db(path, lambda d: store_frame(d, name, frame))
    console.print(f"Đã lưu {len(ids)} đơn vị vào / stored {len(ids)} units in [bold]{printable_db(path)}[/] "
                  f"(khung / frame '{name}').")
    next_step(f"hailong sample draw --plan PLAN --frame {files[0]} --round CODE")
