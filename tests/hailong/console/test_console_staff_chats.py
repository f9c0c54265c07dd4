"""Staff accounts reach the bot: a chat linked with ``hailong staff link-chat`` gets /status from a
running bot (``hailong.upkeep.staff_chats_forever``), a disabled account's chat no longer does; and
``hailong run --web`` serves the console from the bot's own process."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import aiohttp

from hailong.upkeep import staff_chats_forever
from demo.emulators.telegram import TelegramEmulator
from hailong.console.passwords import hash_password
from storage.staff import create_account, link_chat, set_active
from support.telegram_world import wired
from support.processes import HAILONG, clean_env, prepare
from support.telegram_world import make_world

LINKED = 5151


async def test_a_linked_staff_chat_gets_status_until_the_account_is_disabled(tmp_path: Path) -> None:
    world = await make_world(tmp_path, surveys=("sipas-households",), per_survey=2, staff_ids=(),
                             idle_sweep_interval_s=60)
    sync = None
    try:
        await wired(world)
        staff = world.emu.user(LINKED, "Cán bộ Hà")
        await staff.send_text("/status")
        assert "Phường Tân Phong" not in (await staff.wait_for_reply()).text      # not linked yet
        await create_account(world.db, username="ha", role="admin", password_hash=hash_password("mật khẩu dài"),
                             actor="test")
        await link_chat(world.db, "ha", "telegram", str(LINKED), "test")
        sync = asyncio.ensure_future(staff_chats_forever(world.db, world.settings, every_s=0.05))
        await asyncio.sleep(0.3)
        await staff.send_text("/status")
        assert "Phường Tân Phong" in (await staff.wait_for_reply()).text
        await set_active(world.db, "ha", False, "test")
        await asyncio.sleep(0.3)
        await staff.send_text("/status")
        assert "Phường Tân Phong" not in (await staff.wait_for_reply()).text
        audit = [r[0] for r in await world.db.fetchall("SELECT details FROM audit_log WHERE action LIKE 'staff.%'")]
        assert all(str(LINKED) not in d for d in audit)          # the chat id is not written to the log
    finally:
        if sync is not None:
            sync.cancel()
        await world.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_run_with_web_serves_the_console_from_the_bot_process(tmp_path: Path) -> None:
    db_path = tmp_path / "hailong.db"
    await prepare(db_path)
    subprocess.run([HAILONG, "staff", "add", "admin", "--role", "admin", "--password-stdin", "--db", str(db_path)],
                   input="mật khẩu của quản trị\n", text=True, check=True, capture_output=True)
    port = _free_port()
    async with TelegramEmulator() as emu:
        env = clean_env(HAILONG_TELEGRAM_BASE_URL=emu.base_url, HAILONG_TELEGRAM_POLL_TIMEOUT="1",
                        HAILONG_CALLBACK_SECRET="run-test-secret")
        proc = await asyncio.create_subprocess_exec(
            HAILONG, "run", "--channel", "telegram", "--token", emu.token, "--db", str(db_path), "--web",
            "--web-port", str(port), "--log-level", "WARNING", cwd=str(tmp_path), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            text = ""
            async with aiohttp.ClientSession() as http:
                for _ in range(600):                      # a loaded machine: up to a minute to start
                    if proc.returncode is not None:
                        break
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/login") as r:
                            text = await r.text()
                            break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.1)
            assert "Đăng nhập" in text, (await proc.stderr.read(2000)).decode() if proc.returncode is not None else ""
            proc.send_signal(2)
            code = await asyncio.wait_for(proc.wait(), 15)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        err = (await proc.stderr.read()).decode() if proc.stderr else ""
        assert code == 0, err
        # (a reminder job cancelled mid-run at shutdown is logged by APScheduler: not the console's)
        assert f"127.0.0.1:{port}" in err and "hailong/console" not in err
