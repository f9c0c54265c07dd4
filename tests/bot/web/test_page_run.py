"""``hailong run`` serves the questionnaire page on the webhook's own port, under its prefix: a
citizen starts in the emulator's chat (Telegram webhook mode), taps the Mini App button, and the
page answers from the same port the webhook listens on."""

from __future__ import annotations

import asyncio
import signal

from demo.page_client import PageClient
from demo.emulators.telegram import TelegramEmulator
from storage.db import Database
from storage.responses import current_answers, get_response_for_respondent
from support.processes import free_port
from support.telegram_world import open_mini_app
from support.processes import HAILONG, clean_env, prepare, read_all


async def test_the_page_shares_the_webhook_port(tmp_path) -> None:
    db_path = tmp_path / "hailong.db"
    token, respondent_id = await prepare(db_path)
    port = free_port()
    async with TelegramEmulator() as emu:
        env = clean_env(HAILONG_TELEGRAM_BASE_URL=emu.base_url, HAILONG_CALLBACK_SECRET="run-test-secret",
                        HAILONG_TELEGRAM_MODE="webhook", HAILONG_TELEGRAM_WEBHOOK_SECRET="page-run-secret",
                        HAILONG_TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram",
                        HAILONG_PAGE_PUBLIC_URL=f"http://127.0.0.1:{port}/p")
        proc = await asyncio.create_subprocess_exec(
            HAILONG, "run", "--channel", "telegram", "--token", emu.token, "--db", str(db_path),
            "--listen", f"127.0.0.1:{port}", "--log-level", "WARNING", cwd=str(tmp_path), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        client = PageClient(f"http://127.0.0.1:{port}")
        try:
            user = emu.user(3101, "Lan")
            await user.start(token)
            first = await user.wait_for_keyboard(timeout=30)
            [(label, url)] = emu.web_app_buttons(3101, first.message_id)
            assert url == f"http://127.0.0.1:{port}/p/tg"
            page = await open_mini_app(client, emu.mini_app_url(user, url))
            assert page.kind == "section" and page.section == "consent"
            page = await client.submit(page, {"q_consent": "1"})
            assert page.section == "screening"
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 15)
        finally:
            await client.close()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        err = await read_all(proc.stderr)
        assert code == 0 and "Traceback" not in err, err
    db = await Database.open(str(db_path))
    try:
        resp = await get_response_for_respondent(db, respondent_id)
        assert resp is not None and await current_answers(db, resp.id) == {"q_consent": 1}
    finally:
        await db.close()
