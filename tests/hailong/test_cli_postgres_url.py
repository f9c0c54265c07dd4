"""Every staff command's ``--db`` takes a ``postgresql://`` URL intact (a ``Path`` option folded
``postgresql://h/db`` into ``postgresql:/h/db``, a SQLite file name): commands of each package
run against a PostgreSQL schema."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner

from demo.seed import seed_round, tiny_survey
from hailong.cli import app
from storage.db import Database


def _seed(url: str) -> str:
    async def go() -> str:
        db = await Database.open(url)
        try:
            return (await seed_round(db, tiny_survey(), respondents=4)).round.code
        finally:
            await db.close()

    return asyncio.run(go())


def test_staff_commands_take_a_postgresql_url(pg_url: str) -> None:
    code = _seed(pg_url)
    runner = CliRunner()
    for args, expect in ((["round", "list"], code), (["status", "--round", code], code),
                         (["staff", "list"], ""), (["db", "migrate"], "")):
        res = runner.invoke(app, [*args, "--db", pg_url])
        assert res.exit_code == 0, (args, res.output)
        assert expect in res.output, (args, res.output)
        assert "postgresql:/postgres" not in res.output


def test_a_mangled_or_foreign_url_is_refused_with_one_line(pg_url: str) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["round", "list", "--db", "mysql://root@127.0.0.1/x"])
    assert res.exit_code != 0 and "unsupported database scheme" in res.output.replace("\n", " ")
