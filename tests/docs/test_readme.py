"""README.md is executable documentation: its staff walkthrough runs, its config table is current."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from hailong.config_reference import README_BEGIN, README_END, reference_markdown

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
HAILONG = Path(sys.executable).parent / "hailong"


def _between(begin: str, end: str) -> str:
    return README[README.index(begin) + len(begin):README.index(end)]


CITIZENS_ANSWER = "# … citizens answer"
ACTIVATE = ". .venv/bin/activate"
NEXT = "Tiếp theo / Next:"


def section_commands(name: str) -> list[str]:
    """The commands of a README walkthrough (``<!-- NAME:begin -->`` … ``end``), plus the marker
    line where citizens answer; comments and the code fence dropped."""
    block = _between(f"<!-- {name}:begin -->", f"<!-- {name}:end -->")
    lines = [line.strip() for line in block.splitlines() if line.strip()]
    return [line for line in lines
            if not line.startswith("```") and (not line.startswith("#") or line.startswith(CITIZENS_ANSWER))]


def walkthrough_commands() -> list[str]:
    """The staff walkthrough's commands."""
    return section_commands("staff-walkthrough")


def play(commands: list[str], cwd: Path, env: dict[str, str], *, on_marker: Any = None) -> dict[str, str]:
    """Run README commands one by one as a shell would, each ``hailong`` through this venv's
    executable (what ``. .venv/bin/activate`` puts on PATH); fail on the first that errors or
    does not end with the next step. Returns command → stdout."""
    outputs: dict[str, str] = {}
    for command in commands:
        if command.startswith(CITIZENS_ANSWER):
            on_marker()
            continue
        if command.split("#", 1)[0].strip() == ACTIVATE:   # the test already runs this venv's hailong
            continue
        argv = shlex.split(command, comments=True)
        if argv[0] == "export":
            key, value = argv[1].split("=", 1)
            env[key] = value
            continue
        assert argv[0] == "hailong", command
        if "--opens" in argv:  # the README's dates age; keep the round open around today
            today = date.today()
            argv[argv.index("--opens") + 1] = (today - timedelta(days=7)).isoformat()
            argv[argv.index("--closes") + 1] = (today + timedelta(days=30)).isoformat()
        done = subprocess.run([str(HAILONG), *argv[1:]], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, f"{command}\n{done.stderr}"
        last = [line for line in done.stdout.splitlines() if line.strip()][-3:]
        assert any(line.startswith(NEXT) for line in last), f"{command}: no next step at the end\n{done.stdout}"
        outputs[command] = done.stdout
    return outputs


async def _citizens_answer(db_path: Path, how_many: int) -> int:
    """Invited citizens answer through the real engine and conversation store, as on a channel."""
    from engine import step
    from engine.types import Choose, Command, Done, Start, TypedText
    from storage.conversations import SqliteConversationStore
    from storage.db import Database

    db = await Database.open(db_path)
    try:
        store = SqliteConversationStore(db)
        rows = await db.fetchall("SELECT token FROM respondents ORDER BY id LIMIT ?", (how_many,))
        finished = 0
        for n, (token,) in enumerate(rows):
            claim = await store.claim_invite(token, "console", f"readme-{n}")
            assert claim.status == "ok", claim
            session = claim.session
            survey = await store.survey(session.state.survey_hash)
            state, inp = session.state, Start()
            for turn in range(400):
                result = step(survey, state, inp, 1_700_000_000.0 + turn)
                assert await store.commit_step(session, result.state, result.events, "console", f"{n}-{turn}")
                state, last = result.state, result.replies[-1]
                if state.status in ("submitted", "ended"):
                    finished += state.status == "submitted"
                    break
                if last.kind == "review":
                    inp = Command("submit")
                elif last.multi:
                    picked = any(o.selected for o in last.options)
                    inp = Done(last.step_id) if picked else Choose(last.step_id, last.options[0].value)
                elif last.options:
                    # the first option of consent/screening keeps the citizen in; then vary answers
                    inp = Choose(last.step_id, last.options[(n + turn) % len(last.options)].value
                                 if turn > 4 else last.options[0].value)
                elif "tuổi" in last.text:
                    inp = TypedText("45")
                else:
                    inp = Command("skip")
        return finished
    finally:
        await db.close()


@pytest.mark.timeout(900)
def test_analyst_section_runs_on_the_demo_database(tmp_path: Path) -> None:
    """``make demo`` (its quick size: the same rounds, fewer citizens), then the analyst section
    as written: the demo's round and last year's round for ``--previous`` both exist."""
    env = _clean_env()
    demo = subprocess.run([sys.executable, "-m", "demo", "--quick", "--out", "demo-output"], cwd=tmp_path,
                          env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=400)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert ACTIVATE in demo.stdout           # make demo says how to get hailong on PATH
    commands = section_commands("analyst-walkthrough")
    assert commands[0].startswith(ACTIVATE) and any("--previous" in c for c in commands)
    outputs = play(commands, tmp_path, env)
    report = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "LC-2024-DEMO" in report          # the year-on-year comparison is there
    assert (tmp_path / "lc2025.xlsx").stat().st_size > 1000 and (tmp_path / "lc2025.sav").exists()
    assert any("LC-2025-DEMO" in out for out in outputs.values())


def test_invites_make_without_bot_username_warns_that_links_are_empty(tmp_path: Path) -> None:
    env = _clean_env()
    env["HAILONG_DB"] = str(tmp_path / "w.db")
    for argv in (["init"], ["round", "create", "--code", "W1", "--survey", "sipas-households",
                            "--plan", "laichau-2025"],
                 ["sample", "draw", "--plan", "laichau-2025", "--round", "W1"]):
        done = subprocess.run([str(HAILONG), *argv], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    done = subprocess.run([str(HAILONG), "invites", "make", "--round", "W1", "--out", "i.csv"], cwd=tmp_path,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    warning = " ".join(done.stderr.split())
    assert "Lưu ý / Warning" in warning and "telegram_link" in warning and "để trống" in warning, done.stderr
    bad = subprocess.run([str(HAILONG), "invites", "make", "--round", "W1", "--bot-username", "bad name"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    text = " ".join(bad.stderr.split())
    assert "không hợp lệ" in text and "invalid Telegram bot username" in text, bad.stderr


def test_config_reference_in_readme_is_generated_from_settings() -> None:
    assert _between(README_BEGIN, README_END).strip() == reference_markdown().strip()


def test_quick_start_is_exactly_the_two_make_commands() -> None:
    quick = README[README.index("## Quick start"):README.index("## For citizens")]
    block = quick.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAILONG_")}
    env["COLUMNS"] = "160"
    return env


@pytest.mark.timeout(480)   # 16 commands, each a fresh process: slow on a loaded machine
def test_staff_walkthrough_runs_in_order(tmp_path: Path) -> None:
    import asyncio

    (tmp_path / "sampling").symlink_to(ROOT / "sampling")
    env = _clean_env()
    commands = walkthrough_commands()
    assert len(commands) >= 10 and commands[0].startswith(ACTIVATE)

    def citizens_answer() -> None:
        assert asyncio.run(_citizens_answer(tmp_path / env["HAILONG_DB"], 12)) > 0

    play(commands, tmp_path, env, on_marker=citizens_answer)
    assert (tmp_path / "cards.pdf").stat().st_size > 1000
    assert (tmp_path / "invites.csv").read_text(encoding="utf-8-sig").startswith("respondent_id")
    assert (tmp_path / "recheck.csv").exists()
    for private in ("cards.pdf", "invites.csv", "recheck.csv", env["HAILONG_DB"]):  # names, tokens
        assert stat.S_IMODE((tmp_path / private).stat().st_mode) == 0o600, private


def test_every_output_the_readme_writes_is_git_ignored() -> None:
    outs = [o for o in re.findall(r"--out\s+([^\s`]+)", README) if o != "DIR"]  # DIR: a placeholder
    assert {"invites.csv", "cards.pdf", "recheck.csv", "nhap-lieu.xlsx", "lc2025-csv/", "report/"} <= set(outs)
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    probes = [o + "x.csv" if o.endswith("/") else o for o in outs]
    done = subprocess.run(["git", "check-ignore", "--no-index", "--verbose", "--non-matching", *probes],
                          cwd=ROOT, capture_output=True, text=True)
    unmatched = [line.split("\t", 1)[1] for line in done.stdout.splitlines() if line.startswith("::")]
    assert not unmatched, f"not git-ignored: {unmatched}"


def test_the_systemd_unit_keeps_files_private() -> None:
    unit = README[README.index("[Service]"):README.index("[Install]")]
    assert re.search(r"^UMask=0077$", unit, re.M), unit
