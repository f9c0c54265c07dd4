"""``--db`` takes a file or a ``postgresql://…`` URL on every command (typer's ``Path`` would turn
``postgresql://host`` into ``postgresql:/host``), and every answer ends with the next step."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hailong.cli import app

NEXT = "Tiếp theo / Next:"


def _ok(runner: CliRunner, *argv: str) -> str:
    result = runner.invoke(app, list(argv), catch_exceptions=False)
    assert result.exit_code == 0, f"{argv}\n{result.output}"
    assert NEXT in result.output, f"{argv}: no next step\n{result.output}"
    return result.output


def test_a_round_on_the_url_backends(db_url: str) -> None:
    runner = CliRunner()
    _ok(runner, "init", "--db", db_url)
    _ok(runner, "round", "create", "--db", db_url, "--code", "U1", "--survey", "sipas-households",
        "--plan", "laichau-2025")
    _ok(runner, "sample", "draw", "--db", db_url, "--plan", "laichau-2025", "--round", "U1")
    _ok(runner, "round", "open", "--db", db_url, "--code", "U1")
    out = _ok(runner, "invites", "make", "--db", db_url, "--round", "U1", "--bot-username", "hailong_laichau_bot")
    assert "U1" in out
    listed = runner.invoke(app, ["round", "list", "--db", db_url])
    assert listed.exit_code == 0 and "U1" in listed.output


def test_the_database_comes_from_the_environment_as_a_url(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAILONG_DB", pg_url)
    runner = CliRunner()
    _ok(runner, "init")
    _ok(runner, "round", "create", "--code", "E1", "--survey", "sipas-households")
    closed = _ok(runner, "round", "open", "--code", "E1")
    assert "Lưu ý / Warning" in closed and "no sample" in " ".join(closed.split())


@pytest.mark.parametrize("argv", [["round", "list"], ["status", "--round", "X"], ["indices", "--round", "X"],
                                  ["init"]])
def test_a_bad_url_is_one_bilingual_line(argv: list[str]) -> None:
    result = CliRunner().invoke(app, [*argv, "--db", "mysql://host/db"])
    assert result.exit_code == 2, result.output
    assert "Lỗi / Error" in result.output and "unsupported database scheme" in " ".join(result.output.split())
    assert result.exception is None or isinstance(result.exception, SystemExit)
