"""Helpers for tests that run ``hailong`` as a real subprocess: a clean environment, a prepared
database, free ports, reading its output, and the check that no secret or chat id leaks into logs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from storage.db import Database
from storage.respondents import ContactIn, RespondentIn, insert_respondents
from storage.rounds import create_round, open_round
from storage.units import UnitIn, insert_units
from survey_defs.loader import get_survey

import os
import sys


HAILONG = str(Path(sys.executable).with_name("hailong"))


def clean_env(**extra: str) -> dict[str, str]:
    """The parent's environment without any HAILONG_* setting (the test decides them all)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAILONG_")}
    env.update(extra)
    return env


async def prepare(path: Path) -> tuple[str, int]:
    db = await Database.open(str(path))
    try:
        ids = await insert_units(db, "test", [UnitIn(kind="province", code="LC", name="Lai Châu")])
        rnd = await create_round(db, code="RUN", survey=get_survey("sipas-households"), name="run test")
        await open_round(db, rnd.id)
        [person, invitee] = await insert_respondents(db, rnd.id, [
            RespondentIn(ids["LC"], "hộ thử"),
            RespondentIn(ids["LC"], "hộ có Telegram", contact=ContactIn(name="Lò Thị Mai", telegram_id="3002"))])
        return person.token, person.id
    finally:
        await db.close()


async def read_all(stream: asyncio.StreamReader | None) -> str:
    return (await stream.read()).decode("utf-8", "replace") if stream is not None else ""


def free_port() -> int:
    """A local port nobody listens on (connections to it are refused)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: A ``hailong run`` that must end by itself (a refused token, an unreachable API) is seen to do so
#: well before ``run_to_exit``'s kill at 60 s: about 10 s alone (4 CPU-s of start-up, then the
#: connection attempts), past 20 s on a 2-core machine running the suite beside it.
EXITS_BY_ITSELF_S = 45.0


async def run_to_exit(tmp_path: Path, *args: str, timeout: float = 60, **env: str) -> tuple[int, str, float]:
    """Run ``hailong run ARGS`` to its end: (exit code, stdout+stderr, seconds it took)."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    proc = await asyncio.create_subprocess_exec(
        HAILONG, "run", *args, cwd=str(tmp_path), env=clean_env(**{"COLUMNS": "80", **env}),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode, (out + err).decode("utf-8", "replace"), loop.time() - t0


def one_bilingual_line(text: str) -> str:
    """The whole output must be one "Lỗi / Error:" line (no traceback, no warnings)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("Lỗi / Error:") and " / " in lines[0] and "Traceback" not in text
    return lines[0]


def leaks(log: str, needles: dict[str, str]) -> dict[str, list[str]]:
    """{what: [log lines containing it]} for every needle found in ``log``."""
    found: dict[str, list[str]] = {}
    for what, needle in needles.items():
        lines = [line for line in log.splitlines() if needle.lower() in line.lower()]
        if lines:
            found[what] = lines[:3]
    return found
