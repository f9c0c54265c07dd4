"""``python -m demo`` (what ``make demo`` runs): a whole survey round,
offline, in about a minute.

The story a newcomer sees, every step through the real components:

1. **Sample.** A round of the Lai Châu 2025 plan (``sipas-households``, plan ``laichau-2025``) is
   created on a fresh SQLite database; the sample is drawn from the shipped demo frame with the
   plan's rules, and a few of the written reasons are shown. To stay fast the demo invites a
   subset: the households of a handful of communes spread over the province (the first ones of
   each sampled village's list, in sample order).
2. **Invitations.** Every invited household gets a token and a short card code; the QR cards PDF
   is printed; households known to Telegram get the invitation through the outbox.
3. **Fieldwork.** The Telegram and Zalo Bot API emulators start on 127.0.0.1 (ephemeral ports) and
   the bot runs on both channels against them (the real python-telegram-bot stack, the real Zalo
   client). Simulated citizens (:mod:`demo.citizens`) answer concurrently, each with a
   behaviour: most finish at once; some pause or drop off and come back after the reminder; some
   refuse, are under 18, type /stop, never start, or send junk first. The reminder tick runs on a
   clock moved a day ahead; the reminders go through the outbox.
4. **Re-check and close.** 10% of the completed responses (the plan's share) are drawn for the
   re-check, stratified by village and seeded; outcomes are recorded (a few not confirmed, which
   excludes them from the indices); the round closes.
5. **Results.** Indices with intervals, exports (CSV with BOM, XLSX, Parquet, SPSS) and the HTML
   report are written to ``demo-output/``; the terminal prints the headline tables and the paths.
6. **Purge.** The round's purpose is done: its names, phones, chat ids and tokens are purged
   (``hailong round purge``), the indices and the public raw data are computed again and shown
   unchanged, and the database file is scanned for the purged values (none left).

Seeded: the sample, each citizen's behaviour and answers, the re-check draw and outcomes and the
bootstrap intervals depend only on ``--seed``, so two runs print the same numbers (only tokens,
card codes and timings differ). ``--citizens N`` / ``--quick`` set the size; ``--console`` runs the
single-citizen console walk-through instead (:func:`run_demo`).

Public API: :class:`~demo.round_types.DemoConfig`, :func:`run_round_demo` (async) /
:func:`round_demo` (sync) → :class:`~demo.round_types.DemoResult`; :func:`main` is
``python -m demo`` (``demo/__main__.py``).

Where each step lives: this module tells the story and holds the command line; step 1 is
:mod:`demo.sample_step`, steps 2–4 :mod:`demo.fieldwork_steps` (with the bot in
:mod:`demo.bot_stack`), step 5 :mod:`demo.results`, step 6 :mod:`demo.privacy`; settings, result
and clock are :mod:`demo.round_types`, and ``--console`` is :mod:`demo.console_walk`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from demo.bot_stack import serve_bot
from demo.console_walk import run_demo
from demo.fieldwork_steps import run_fieldwork
from demo.output import DemoOutputRefused, prepare_output_dir
from demo.previous import PREVIOUS_CODE
from demo.privacy import purge_and_verify
from demo.results import analyse_and_report, print_headline
from demo.round_types import DB_NAME, DemoClock, DemoConfig, DemoError, DemoResult, print_step
from demo.sample_step import default_communes, demo_subset, draw_sample
from storage.db import Database

__all__ = ["round_demo", "run_round_demo", "cli_app", "main"]


def round_demo(config: DemoConfig | None = None, console: Console | None = None) -> DemoResult:
    """Run the whole-round demo (blocking); see :func:`run_round_demo`."""
    return asyncio.run(run_round_demo(config or DemoConfig(), console))


async def run_round_demo(config: DemoConfig, console: Console | None = None) -> DemoResult:
    """Run a whole round into ``config.out_dir`` and print its story to ``console``.

    ``config.out_dir`` is emptied first only if an earlier demo created it (``demo.output``);
    any other non-empty directory is refused.

    Raises DemoError with a bilingual message for a problem the user can fix (bad size, a frame
    or plan that cannot be read); anything the simulated citizens hit is collected in
    ``DemoResult.errors`` instead (a healthy run has none).
    """
    out = console or Console(highlight=False)
    if config.citizens < 5:
        raise DemoError("cần ít nhất 5 người dân mô phỏng / --citizens must be at least 5")
    t_start = time.monotonic()
    try:
        out_dir = prepare_output_dir(Path(config.out_dir))
    except DemoOutputRefused as exc:
        raise DemoError(str(exc)) from None
    logging.getLogger("hailong").setLevel(logging.WARNING)
    for noisy in ("telegram", "httpx", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    out.rule("[bold]hailong · demo một đợt khảo sát / a whole survey round[/bold]")
    survey, plan, frame, selection = draw_sample(out, config)
    communes = config.communes or default_communes(config.citizens)
    subset, how = demo_subset(selection, config.citizens, communes)
    out.print(f"[bold]Mời trong demo / invited in the demo:[/] {how}.")

    db_path = out_dir / DB_NAME
    clock = DemoClock()
    db = await Database.open(str(db_path))
    try:
        fieldwork = await run_fieldwork(out, config, db, db_path, clock, survey, plan, frame, subset)
    finally:
        await db.close()
    result = analyse_and_report(out, config, db_path, out_dir, fieldwork)
    result.subset = how
    print_headline(out, result)
    # The round's purpose is done: its personal data goes, the indices stay (demo/privacy.py).
    print_step(out, 6, "Xóa dữ liệu cá nhân khi hết mục đích / purging personal data once the purpose is done")
    check, result.purged_values = purge_and_verify(out, db_path, result.round_code)
    result.privacy = check.summary()
    if not check.unchanged or check.values_found_after:
        result.errors.append(f"purge: indices unchanged {check.unchanged}, values left {check.values_found_after}")
    result.elapsed_s = time.monotonic() - t_start
    return result


# ====================================================================== command line

def demo_command(
    citizens: int = typer.Option(300, "--citizens", "-n", help="Số người dân mô phỏng / simulated citizens"),
    quick: bool = typer.Option(False, "--quick", help="Chạy nhỏ, nhanh / a small, fast run (60 citizens)"),
    seed: int = typer.Option(2025, "--seed", help="Hạt giống / seed (same seed, same numbers)"),
    out_dir: Path = typer.Option(Path("demo-output"), "--out", help="Thư mục kết quả (chỉ xóa nếu do demo tạo) / "
                                                                    "output directory (emptied only if a "
                                                                    "demo created it)"),
    communes: Optional[int] = typer.Option(None, "--communes", help="Số xã mời / communes to invite in"),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Số lần bootstrap / bootstrap replicates"),
    console_mode: bool = typer.Option(False, "--console", help="Một người dân trên kênh console / one citizen "
                                                               "in the console channel"),
    in_process: bool = typer.Option(False, "--in-process", help="Chạy bot trong cùng tiến trình / run the bot "
                                                                "in this process (one core)"),
    bot_process: Optional[str] = typer.Option(None, "--bot-process", hidden=True),
    web: bool = typer.Option(False, "--web", help="Giữ bảng điều khiển web chạy đến khi Ctrl-C / keep the staff "
                                                  "web console up until Ctrl-C"),
) -> None:
    """Demo một đợt khảo sát trọn vẹn, không cần mạng / a whole survey round, offline."""
    if bot_process is not None:   # internal: the demo's own bot child process
        asyncio.run(serve_bot(json.loads(bot_process)))
        raise typer.Exit(0)
    out = Console(highlight=False)
    if console_mode:
        state = run_demo(console=out)
        raise typer.Exit(0 if state.status == "submitted" else 1)
    if bootstrap < 50:
        out.print("[bold red]Lỗi / Error:[/] số lần bootstrap phải ≥ 50 / --bootstrap must be at least 50")
        raise typer.Exit(2)
    cfg = DemoConfig.quick() if quick else DemoConfig()
    overrides: dict[str, Any] = {"seed": seed, "out_dir": out_dir, "communes": communes,
                                 "bot_process": not in_process}
    if not quick or citizens != 300:
        overrides["citizens"] = citizens
    if not quick or bootstrap != 1000:
        overrides["bootstrap"] = bootstrap
    cfg = replace(cfg, **overrides)
    try:
        result = round_demo(cfg, out)
    except DemoError as exc:
        out.print(f"[bold red]Lỗi / Error:[/] {exc}")
        raise typer.Exit(2) from None
    except OSError as exc:
        out.print(f"[bold red]Lỗi / Error:[/] không ghi được / cannot write: {exc}")
        raise typer.Exit(2) from None
    _try_it_yourself(out, result)
    _console(out, result.db_path, web)
    raise typer.Exit(1 if result.errors else 0)


def _try_it_yourself(out: Console, r: DemoResult) -> None:
    """The analyst section of the README on this run's database: how to get ``hailong`` on PATH
    and the two rounds to name (this one and last year's paper round)."""
    out.print()
    out.print("[bold]Tự thử / try it yourself[/] (README, “For analysts”): lệnh / the command [bold]hailong[/] "
              "nằm trong / is in .venv/bin; đưa vào PATH / put it on PATH:", soft_wrap=True)
    for line in (". .venv/bin/activate", f"export HAILONG_DB={r.db_path}", f"hailong indices --round {r.round_code}",
                 f"hailong report --round {r.round_code} --out report/ --previous {PREVIOUS_CODE}"):
        out.print(f"  {line}", soft_wrap=True, markup=False, highlight=False)


def cli_app() -> typer.Typer:
    """The demo's command line (``python -m demo --help``)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
    app.command()(demo_command)
    return app


def _console(out: Console, db_path: Path, keep: bool) -> None:
    """The staff web console on the demo database: its URL and a demo login (``--web``: served)."""
    # lazy: the web console adds ~2 s of import (python -X importtime, loaded machine) to every
    # start of this module, including the bot child process (``--bot-process``) that never uses it
    from hailong.console.demo_web import serve_demo_console

    out.print()
    try:
        asyncio.run(serve_demo_console(db_path, lambda line: out.print(line, markup=False, highlight=False),
                                       keep=keep))
    except KeyboardInterrupt:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m demo [--citizens N] [--quick] [--seed S] [--console]``."""
    app = cli_app()
    try:
        app(args=list(argv) if argv is not None else None, prog_name="python -m demo")
    except SystemExit as exc:  # typer/click always end with SystemExit(code) in standalone mode
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
