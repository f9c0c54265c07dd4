"""hailong/cli.py mounts the command modules lazily: its table must say what they really mount,
and ``hailong --help`` and light commands must not import the heavy libraries (the point of it)."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.main import get_group
from typer.testing import CliRunner

from hailong import cli

HEAVY = ("pandas", "fpdf", "pyxform", "matplotlib", "openpyxl", "pyarrow", "telegram", "aiohttp")

_PROBE = """
import json, sys
from hailong.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy})))
"""


def _first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n")[0].split())


def test_the_mount_table_names_every_command_with_its_own_help() -> None:
    for module in dict.fromkeys(m for modules, _ in cli.MOUNTS.values() for m in modules):
        cli.mount(module)
    mounted = get_group(cli._mounted_app).commands
    assert set(mounted) == set(cli.MOUNTS)            # nothing missing, nothing stale
    for name, (_, line) in cli.MOUNTS.items():
        cmd = mounted[name]
        assert _first_paragraph(cmd.short_help or cmd.help or "") == line, name
    assert "purge" in mounted["round"].commands        # privacy's purge on the round group, not on top


def test_each_command_runs_from_the_table_alone(tmp_path) -> None:
    """A fresh process per command: mounting only that command's modules is enough to run it."""
    for name in ("round", "requests", "privacy", "survey", "db", "sample"):
        done = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=list(HEAVY)), name, "--help"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "Usage: " in done.stdout and "Error" not in done.stdout, (name, done)
    purge = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=list(HEAVY)), "round", "purge", "--help"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "round purge" in purge.stdout, purge.stdout


def test_help_and_light_commands_import_no_heavy_library(tmp_path) -> None:
    for argv, allowed in ((["--help"], set()), (["version"], set()), ([], set()),
                          (["run", "--help"], {"telegram", "aiohttp"}), (["init", "--help"], set()),
                          (["config"], set())):
        done = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=list(HEAVY)), *argv],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
        loaded = {m.split(".")[0] for m in json.loads(done.stdout.strip().splitlines()[-1])}
        assert loaded <= allowed, (argv, sorted(loaded - allowed))
        if argv in (["--help"], []):
            for name, (_, line) in cli.MOUNTS.items():   # the listing comes from the table
                assert name in done.stdout and line.split(" / ")[0] in done.stdout, name


def test_the_root_still_dispatches_and_refuses_unknown_commands() -> None:
    runner = CliRunner()
    assert runner.invoke(cli.app, ["version"]).stdout.startswith("hailong ")
    bad = runner.invoke(cli.app, ["no-such-command"])
    assert bad.exit_code == 2 and "No such command" in bad.output
    shown = runner.invoke(cli.app, ["round", "--help"])
    assert shown.exit_code == 0 and "purge" in shown.stdout
