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

import pytest

from hailong.config_reference import README_BEGIN, README_END, reference_markdown

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
HAILONG = Path(sys.executable).parent / "hailong"


def _between(begin: str, end: str) -> str:
    return README[README.index(begin) + len(begin):README.index(end)]


CITIZENS_ANSWER = "# … citizens answer"


def walkthrough_commands() -> list[str]:
    """The commands of the walkthrough, plus the marker line where citizens answer."""
    block = _between("<!-- staff-walkthrough:begin -->", "<!-- staff-walkthrough:end -->")
    lines = [line.strip() for line in block.splitlines() if line.strip()]
    return [line for line in lines
            if not line.startswith("```") and (not line.startswith("#") or line.startswith(CITIZENS_ANSWER))]


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


def test_config_reference_in_readme_is_generated_from_settings() -> None:
    assert _between(README_BEGIN, README_END).strip() == reference_markdown().strip()


def test_quick_start_is_exactly_the_two_make_commands() -> None:
    quick = README[README.index("## Quick start"):README.index("## For citizens")]
    block = quick.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


@pytest.mark.timeout(240)
def test_staff_walkthrough_runs_in_order(tmp_path: Path) -> None:
    (tmp_path / "sampling").symlink_to(ROOT / "sampling")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAILONG_")}
    env["COLUMNS"] = "160"
    commands = walkthrough_commands()
    assert len(commands) >= 10
    for command in commands:
        argv = shlex.split(command)
        if command.startswith(CITIZENS_ANSWER):
            import asyncio

            assert asyncio.run(_citizens_answer(tmp_path / env["HAILONG_DB"], 12)) > 0
            continue
        if argv[0] == "export":
            key, value = argv[1].split("=", 1)
            env[key] = value
            continue
        assert argv[0] == "hailong", command
        if "--opens" in argv:  # the README's dates age; keep the round open around today
            today = date.today()
            argv[argv.index("--opens") + 1] = (today - timedelta(days=7)).isoformat()
            argv[argv.index("--closes") + 1] = (today + timedelta(days=30)).isoformat()
        done = subprocess.run([str(HAILONG), *argv[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
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
