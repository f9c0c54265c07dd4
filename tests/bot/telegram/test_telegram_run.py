"""``hailong run --channel telegram`` as a real subprocess against the emulator: configuration from
flags and environment, a citizen answered end to end, a clean stop on SIGTERM; and the clear
bilingual error when the bot token is missing."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from demo.emulators.telegram import TelegramEmulator
from storage.db import Database
from fieldwork.outbox import enqueue_invites
from storage.respondents import get_respondent
from storage.responses import current_answers, get_response_for_respondent
from storage.rounds import list_rounds
from support.processes import (EXITS_BY_ITSELF_S, HAILONG, clean_env, free_port, one_bilingual_line, prepare,
                               read_all, run_to_exit)









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


# ------------------------------------------------------------------ failing cleanly at start-up







@pytest.mark.parametrize("transport", ["lean", "aiohttp", "httpx"])
async def test_a_rejected_token_exits_at_once_with_one_line(tmp_path: Path, transport: str) -> None:
    async with TelegramEmulator() as emu:
        code, text, took = await run_to_exit(
            tmp_path, "--token", "123456:WRONG-token-for-this-bot", "--base-url", emu.base_url,
            "--db", str(tmp_path / "h.db"), HAILONG_TELEGRAM_TRANSPORT=transport)
    line = one_bilingual_line(text)
    assert code == 2 and took < EXITS_BY_ITSELF_S, (code, took)
    assert "từ chối token" in line and "rejected the bot token" in line and "HAILONG_TELEGRAM_TOKEN" in line
    assert "WRONG-token" not in line


@pytest.mark.parametrize("transport", ["lean", "aiohttp", "httpx"])
async def test_an_unreachable_bot_api_exits_as_temporary(tmp_path: Path, transport: str) -> None:
    port = free_port()
    code, text, took = await run_to_exit(
        tmp_path, "--token", "123456:SECRET-token-abc", "--base-url", f"http://127.0.0.1:{port}/bot",
        "--db", str(tmp_path / "h.db"), HAILONG_TELEGRAM_TRANSPORT=transport)
    line = one_bilingual_line(text)
    assert code == 75 and took < EXITS_BY_ITSELF_S, (code, took)              # EX_TEMPFAIL: systemd restarts later
    assert "không kết nối được" in line and "cannot reach the Telegram Bot API" in line
    assert f"127.0.0.1:{port}" in line and "SECRET-token" not in line


async def test_channel_all_without_tokens_names_every_missing_one(tmp_path: Path) -> None:
    code, text, _ = await run_to_exit(tmp_path, "--channel", "all", "--db", str(tmp_path / "h.db"),
                                      COLUMNS="300")
    assert code == 2
    line = one_bilingual_line(text)
    assert "thiếu token" in line and "missing token" in line
    assert "telegram (HAILONG_TELEGRAM_TOKEN" in line and "zalo (HAILONG_ZALO_TOKEN)" in line
    assert not (tmp_path / "h.db").exists()


async def test_only_one_run_serves_a_database_and_a_crash_frees_it(tmp_path: Path) -> None:
    db_path = tmp_path / "hailong.db"
    await prepare(db_path)
    async with TelegramEmulator() as emu:
        env = clean_env(HAILONG_TELEGRAM_BASE_URL=emu.base_url, HAILONG_TELEGRAM_POLL_TIMEOUT="1",
                        HAILONG_CALLBACK_SECRET="run-test-secret", HAILONG_TELEGRAM_TOKEN=emu.token)

        async def spawn() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                HAILONG, "run", "--db", str(db_path), "--log-level", "WARNING", cwd=str(tmp_path), env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

        async def answers(uid: int) -> None:
            user = emu.user(uid)
            await user.send_text("/whoami")
            assert str(uid) in (await user.wait_for_reply(timeout=30)).text

        first = await spawn()
        try:
            await answers(5001)
            code, text, took = await run_to_exit(tmp_path, "--db", str(db_path), **{
                k: v for k, v in env.items() if k.startswith("HAILONG_")})
            line = one_bilingual_line(text)
            assert code == 75 and took < EXITS_BY_ITSELF_S
            assert "another hailong run" in line and f"pid {first.pid}" in line and str(db_path) in line
            assert first.returncode is None                     # the first one was not disturbed
            await answers(5002)
            first.kill()                                        # a crash: the kernel frees the lock
            await first.wait()
            second = await spawn()
            try:
                await answers(5003)
                second.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(second.wait(), 15) == 0
            finally:
                if second.returncode is None:
                    second.kill()
                    await second.wait()
        finally:
            if first.returncode is None:
                first.kill()
                await first.wait()
