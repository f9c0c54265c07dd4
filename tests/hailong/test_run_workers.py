"""``hailong run`` as several webhook workers on one PostgreSQL database (hailong/run.py): the
serve lock shared by webhook workers and refused to a poller, the outbox sending at the
channel's rate for all workers together, every message once, the scheduler lease moving to
the other worker when its holder stops. Two workers run in this test's event loop against the
Telegram emulator."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from bot.settings import Settings
from bot.startup_errors import StartupError
from demo.emulators.telegram import TelegramEmulator
from hailong.run import run_channels
from storage.db import Database
from storage.leases import SCHEDULER, current
from storage.outbox import OutboxItem, enqueue_outbox, list_outbox

RATE = 20.0
CHATS = 70
SECRET = "workers-test-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(url: str, emu: TelegramEmulator, port: int, public_port: int, **kw) -> Settings:
    base = dict(_env_file=None, db=url, telegram_token=emu.token, telegram_base_url=emu.base_url,
                telegram_mode="webhook", telegram_webhook_url=f"http://127.0.0.1:{public_port}/telegram",
                telegram_webhook_secret=SECRET, listen_port=port, telegram_rate_overall=RATE,
                scheduler_lease_s=1.5, callback_secret="workers-test-callbacks")
    base.update(kw)
    return Settings(**base)


async def _until(cond, timeout: float) -> None:
    t0 = time.monotonic()
    while not await cond():
        assert time.monotonic() - t0 < timeout, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_two_webhook_workers_share_the_database_the_rate_and_the_scheduler(pg_url):
    db = await Database.open(pg_url)
    try:
        emu = TelegramEmulator()
        await emu.start()
        users = [emu.user(820_000 + i, f"Dân {i}") for i in range(CHATS)]
        await enqueue_outbox(db, [OutboxItem("telegram", str(u.user_id), "notice", f"n:{u.user_id}",
                                             {"text": "Thông báo / Notice"}) for u in users])
        p1, p2 = _free_port(), _free_port()
        stops = [asyncio.Event(), asyncio.Event()]
        runs = [asyncio.create_task(run_channels(_settings(pg_url, emu, p, p1), ["telegram"], stop))
                for p, stop in ((p1, stops[0]), (p2, stops[1]))]
        try:
            async def all_sent() -> bool:
                for r in runs:
                    if r.done():
                        r.result()                         # a worker that failed: show why
                return len(await list_outbox(db, status="sent")) == CHATS

            await _until(all_sent, 30)
            # a polling process is refused while the webhook workers run
            with pytest.raises(StartupError, match="webhook workers are serving"):
                await run_channels(_settings(pg_url, emu, _free_port(), p1, telegram_mode="polling",
                                             telegram_webhook_url=None, telegram_webhook_secret=None),
                                   ["telegram"], asyncio.Event())
            rows = await list_outbox(db, status="sent")
            workers = {r[0] for r in await db.fetchall("SELECT DISTINCT claimed_by FROM outbox")}
            assert len(workers) == 2, workers                  # both workers sent
            assert all(len(emu.bot_messages(u.user_id)) == 1 for u in users)   # each message once
            span = max(r.sent_at for r in rows) - min(r.sent_at for r in rows)
            # one rate for both: 70 messages at 20/s with a bucket of 20 take 2.5 s (at 2 × 20/s: 1.25 s)
            assert span >= (CHATS - RATE) / RATE * 0.9, span
            lease = await current(db, SCHEDULER)
            assert lease is not None and lease.holder in workers
            # the holder stops (cleanly): the other worker runs the scheduler from now on
            first_holder = lease.holder

            async def moved() -> bool:
                now = await current(db, SCHEDULER)
                return now is not None and now.holder != first_holder and now.expires_at > time.time()

            for i, stop in enumerate(stops):             # stop the holder: find it by asking both
                stop.set()
                await asyncio.wait_for(runs[i], 30)
                released = await current(db, SCHEDULER)
                if released is not None and released.expires_at == 0:
                    break
                stops[i] = asyncio.Event()               # it was not the holder: start it again
                runs[i] = asyncio.create_task(run_channels(_settings(pg_url, emu, (p1, p2)[i], p1),
                                                           ["telegram"], stops[i]))
            await _until(moved, 1.5 * 4 / 3 + 3)
        finally:
            for stop in stops:
                stop.set()
            await asyncio.gather(*runs, return_exceptions=True)
            await emu.stop()
    finally:
        await db.close()
