"""``hailong run --channel telegram`` as a real subprocess against the emulator: configuration from
flags and environment, a citizen answered end to end, a clean stop on SIGTERM; and the clear
bilingual error when the bot token is missing."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.tg_emulator import TelegramEmulator
from storage.db import Database
from bot.outbox import enqueue_invites
from storage.respondents import ContactIn, RespondentIn, get_respondent, insert_respondents
from storage.responses import current_answers, get_response_for_respondent
from storage.rounds import create_round, list_rounds, open_round
from storage.units import UnitIn, insert_units
from survey_defs.loader import get_survey

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


async def test_run_answers_a_citizen_and_stops_on_sigterm(tmp_path: Path) -> None:
    db_path = tmp_path / "hailong.db"
    token, respondent_id = await prepare(db_path)
    async with TelegramEmulator() as emu:
        # token and database by flags; base URL, staff and poll settings from the environment
        env = clean_env(HAILONG_TELEGRAM_BASE_URL=emu.base_url, HAILONG_TELEGRAM_POLL_TIMEOUT="1",
                        HAILONG_STAFF_IDS="4242", HAILONG_CALLBACK_SECRET="run-test-secret")
        proc = await asyncio.create_subprocess_exec(
            HAILONG, "run", "--channel", "telegram", "--token", emu.token, "--db", str(db_path),
            "--log-level", "WARNING", cwd=str(tmp_path), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            user = emu.user(3001, "Lan")
            await user.start(token)                       # waits until the bot is up and answers
            first = await user.wait_for_keyboard(timeout=30)
            assert "Câu 1/" in first.text
            await user.press_button("1. ")                # consent: yes
            await user.wait_for_keyboard(timeout=10)
            await user.send_text("47")                    # age, typed
            await user.wait_for_keyboard(timeout=10)
            # the running bot also delivers what staff queue (`invites send --enqueue-only`), at
            # bulk priority; Telegram lets a bot write only to someone who wrote to it first
            mai = emu.user(3002, "Mai")
            await mai.send_text("xin chào")
            await mai.wait_for_reply(timeout=10)
            staff_db = await Database.open(str(db_path))
            try:
                [rnd] = await list_rounds(staff_db)
                queued = await enqueue_invites(staff_db, rnd.id, "telegram", bot_username="hailong_test_bot")
                assert queued.new == 1, queued
            finally:
                await staff_db.close()
            def invited() -> bool:
                return any("t.me/hailong_test_bot?start=" in url for m in emu.messages(3002)
                           for _, url in emu.url_buttons(3002, m.message_id))

            await emu.wait_until(invited, timeout=20, chat_id=3002)
            staff = emu.user(4242)
            await staff.send_text("/whoami")
            assert "survey staff" in (await staff.wait_for_reply(timeout=10)).text

            proc.send_signal(signal.SIGTERM)
            t0 = asyncio.get_running_loop().time()
            code = await asyncio.wait_for(proc.wait(), 15)
            stop_s = asyncio.get_running_loop().time() - t0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        err = await read_all(proc.stderr)
        assert code == 0, err
        assert stop_s < 5.0                               # a long poll of 1 s, then a clean shutdown
        assert "Traceback" not in err
        # the answered question lost its keyboard; the menu of commands was set
        assert not emu.messages(3001)[1].keyboard
        assert {c["command"] for c in emu.bot.commands} >= {"start", "back", "pause", "stop"}
    db = await Database.open(str(db_path))
    try:
        resp = await get_response_for_respondent(db, respondent_id)
        assert resp is not None
        assert await current_answers(db, resp.id) == {"q_consent": 1, "q_age": 47}
        assert (await get_respondent(db, respondent_id)).status == "started"
    finally:
        await db.close()


@pytest.mark.parametrize("args", [["run"], ["run", "--channel", "telegram"]], ids=["default", "telegram"])
async def test_run_without_a_token_explains_and_fails(tmp_path: Path, args: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        HAILONG, *args, "--db", str(tmp_path / "x.db"), cwd=str(tmp_path), env=clean_env(COLUMNS="200"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = (out + err).decode("utf-8", "replace")
    assert proc.returncode not in (0, None)
    assert "thiếu token" in text and "missing token" in text and "HAILONG_TELEGRAM_TOKEN" in text
    assert "Traceback" not in text
    assert not (tmp_path / "x.db").exists()           # nothing created on a configuration error
