"""The sampling commands as the sampling tests drive them (tests/sampling/test_sampling_cli.py,
test_sampling_substitutions.py): mounted on an app of their own, invoked in-process, and a round
that the 2021 service plan was drawn into."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from typer.testing import CliRunner

from demo.seed import tiny_survey
from sampling import cli_helpers
from sampling.cli import register
from storage.db import Database
from storage.rounds import create_round

DATA = Path(__file__).resolve().parents[2] / "sampling" / "data"


def sampling_app() -> typer.Typer:
    """``frame`` and ``sample`` on a fresh app, printing wide enough to keep a table row on one line
    (the runner's terminal is narrow)."""
    cli_helpers.console.width = cli_helpers.err_console.width = 240
    app = typer.Typer()
    register(app)
    return app


def run(app: typer.Typer, *args: str) -> tuple[int, str]:
    """(exit code, output) of one command."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def services_round(app: typer.Typer, db_path: Path, code: str) -> tuple[int, str]:
    """Create round ``code`` in a new database and draw the 2021 service plan into it; the draw's
    (exit code, output)."""
    async def create() -> None:
        async with await Database.open(str(db_path)) as db:
            await create_round(db, code=code, survey=tiny_survey())

    asyncio.run(create())
    return run(app, "sample", "draw", "--plan", "laichau-2021-services", "--frame", str(DATA),
               "--db", str(db_path), "--round", code)
