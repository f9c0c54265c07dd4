"""What the sampling commands share: where they print, the database they store in (refusing a
missing default), and loading a plan, a frame and a draw with one bilingual line per problem.

Sampling's mistakes leave with code 1 (``storage.commands.fail(…, code=1)``), a wrong option with
code 2. A draw is deterministic (same frame, plan and seed, same sample), so ``show`` and
``explain`` recompute it (:func:`selection_from_options`) unless a saved selection is given.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from sampling.frames import Frame, FrameImport, RowError, load_frame, load_frame_dir
from sampling.plan_schema import Plan, PlanError, load_plan
from sampling.rules import draw
from sampling.selection import SamplingError, Selection
from sampling.selection_io import read_selection
from storage.commands import fail, run_with_db
from storage.db import StorageError, default_db_path
from storage.dialect import DialectError, parse_db_url

#: The frame shipped with hailong (``sampling/data``): ``--frame``'s default.
DEFAULT_FRAME_DIR = Path(__file__).resolve().parent / "data"

#: Where the sampling commands print their tables (tests widen them).
console = Console()
err_console = Console(stderr=True)


def error_table(errors: list[RowError], limit: int = 200) -> Table:
    """A frame's problems, one row each (file, row, column, reason), the first ``limit`` of them."""
    table = Table(title=f"{len(errors)} lỗi / errors — không nạp gì / nothing imported",
                  show_lines=False)
    table.add_column("Tệp / file", overflow="fold")
    table.add_column("Dòng / row", justify="right")
    table.add_column("Cột / column")
    table.add_column("Lý do / reason", overflow="fold")
    for e in errors[:limit]:
        table.add_row(Path(e.file).name, "" if e.row is None else str(e.row), e.column or "", e.reason)
    if len(errors) > limit:
        table.add_row("…", "", "", f"còn {len(errors) - limit} lỗi nữa / {len(errors) - limit} more")
    return table


def db_or_refuse(db: Optional[str]) -> str:
    """``--db``, else ``$HAILONG_DB``, else ``./hailong.db``; a default file that does not exist
    yet is refused (``hailong init`` creates it) rather than created silently in the wrong place.
    A ``postgresql://…`` URL is a server: nothing to look for."""
    if db is not None:
        return db
    path = default_db_path()
    try:
        where = parse_db_url(path)
    except DialectError as exc:
        fail(str(exc), code=2)
    if not where.is_postgres and not Path(where.target).exists():
        fail(f"chưa có cơ sở dữ liệu {path}: chạy `hailong init` trước, hoặc chỉ rõ --db / no database at {path}: "
             "run `hailong init` first, or give --db", code=2)
    return path


def printable_db(path: str) -> str:
    """The database as it may be printed: a URL without its password."""
    return parse_db_url(path).redacted()


def run_db(db_path: str, coro_fn: Any) -> Any:
    """``storage.commands.run_with_db`` with sampling's errors (a plan's problems, one a line)."""
    return run_with_db(db_path, coro_fn, must_exist=False, code=1, errors=(StorageError, SamplingError),
                       describe=lambda exc: "\n".join(exc.problems) if isinstance(exc, SamplingError) else str(exc))


# --------------------------------------------------------------------------------------------
# Loading helpers
# --------------------------------------------------------------------------------------------


def plan_or_fail(name: str) -> Plan:
    """The plan by id or YAML file; its problems, one a line, end the command (code 1)."""
    try:
        return load_plan(name)
    except PlanError as exc:
        fail(f"kế hoạch / plan {exc.path}:\n  " + "\n  ".join(exc.problems), code=1)
    raise AssertionError  # unreachable


def frame_or_fail(path: Path, plan: Plan) -> Frame:
    """The frame from a directory (the plan's frame preferred) or a file; its problems as a table
    on stderr end the command (code 1)."""
    result: FrameImport
    if path.is_dir():
        result = load_frame_dir(path, prefer=plan.frame)
    elif path.exists():
        result = load_frame([path])
    else:
        fail(f"không có tệp/thư mục / no such file or directory: {path}", code=1)
        raise AssertionError
    if not result.ok:
        err_console.print(error_table(result.errors))
        raise typer.Exit(code=1)
    assert result.frame is not None
    return result.frame


def draw_or_fail(plan: Plan, frame: Frame, seed: int | None) -> Selection:
    """The draw; a plan that cannot be applied to this frame ends the command (code 1)."""
    try:
        return draw(plan, frame, seed)
    except SamplingError as exc:
        fail("kế hoạch không áp dụng được cho khung mẫu này / the plan cannot be applied to this "
             "frame:\n  " + "\n  ".join(exc.problems), code=1)
    raise AssertionError


def selection_from_options(plan_name: str | None, frame_dir: Path, seed: int | None,
                           selection_file: Path | None) -> tuple[Plan, Frame, Selection]:
    """``show``/``explain``'s sample: a saved selection (warning when its plan changed since), else
    the draw recomputed from the plan, the frame and the seed."""
    if selection_file is not None:
        try:
            sel = read_selection(selection_file)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            fail(f"không đọc được tệp kết quả chọn mẫu / cannot read the selection file "
                 f"{selection_file}: {exc}", code=1)
            raise AssertionError
        plan = plan_or_fail(plan_name or sel.plan_id)
        if plan.content_hash != sel.plan_hash:
            err_console.print("[yellow]Cảnh báo / warning:[/] kế hoạch đã thay đổi từ khi rút mẫu / the plan "
                              "changed since this selection was drawn")
        return plan, frame_or_fail(frame_dir, plan), sel
    plan = plan_or_fail(plan_name or "laichau-2025")
    frame = frame_or_fail(frame_dir, plan)
    return plan, frame, draw_or_fail(plan, frame, seed)


def summary_table(plan: Plan, sel: Selection) -> Table:
    """How many were chosen at each level, by rule (``sample draw`` and ``sample show``)."""
    table = Table(title=f"{plan.title_vi} — kế hoạch / plan {plan.id}, hạt giống / seed {sel.seed}")
    table.add_column("Cấp / level")
    table.add_column("Số lượng / count", justify="right")
    table.add_column("Theo quy tắc / by rule", overflow="fold")
    levels = ["province", "district", "commune", "village", "agency", "field"]
    for level in levels:
        units = sel.units_at(level)
        if units:
            rules = Counter(u.reason.code for u in units)
            table.add_row(level, str(len(units)), ", ".join(f"{k}: {v}" for k, v in rules.most_common()))
    if sel.households:
        rules = Counter(h.reason.code for h in sel.households)
        table.add_row("household", str(len(sel.households)),
                      ", ".join(f"{k}: {v}" for k, v in rules.most_common()))
    if sel.service_users:
        rules = Counter(s.reason.code for s in sel.service_users)
        table.add_row("service user", str(len(sel.service_users)),
                      ", ".join(f"{k}: {v}" for k, v in rules.most_common()))
    table.add_row("shortfall", str(len(sel.shortfalls)), "")
    if sel.substitutions:
        table.add_row("substitution", str(len(sel.substitutions)), "")
    return table
