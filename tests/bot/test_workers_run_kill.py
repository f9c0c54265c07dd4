"""Kill test of real ``hailong run`` webhook workers on one PostgreSQL database.

Three ``hailong run --channel telegram`` processes (``python -m hailong.run``: the same command
without the rest of the CLI, which starts twice as fast) (webhook mode, ``HAILONG_DB=postgresql://…``)
sit behind a small load balancer (this test, standing in for nginx: each update POSTed by the
Telegram emulator goes to a random live worker, the next one if that one refuses the
connection, 502 if the worker dies with the request, which the platform then delivers again).
Simulated citizens answer ``sipas-services-2021`` (tests/bot/test_channels_kill.py's citizen: it
waits for the bot's next question and answers it once, never nudges). Meanwhile invites to other
chats are queued in waves and sent by the workers' outboxes (shared send budget, claims ``FOR
UPDATE SKIP LOCKED`` with a lease). One worker at a time is SIGKILLed at a random moment, 20+
times, and started again.

Shown: every citizen finishes without a nudge; every answer is stored once, in order, with the
value chosen; every invite reached its chat, and twice only inside the documented window (its
first copy arrived within a moment of a kill: the worker died between the platform accepting
it and the row being marked sent; docs/durability.md §7).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
from pathlib import Path

import psycopg
from aiohttp import ClientSession, ClientTimeout, web

from demo.emulators.telegram import TelegramEmulator
from demo.seed import seed_round
from engine import answer_label
from storage.db import Database
from storage.outbox import OutboxItem, enqueue_outbox
from survey_defs.loader import get_survey
from support.chat_citizens import SURVEY, Citizen, Progress, telegram_citizen
from support.processes import free_port

WORKERS = 3
CITIZENS = 12
COHORT_EVERY_S = 10.0   # a cohort of citizens starts every so often: traffic through the whole run
COHORTS = 4
KILLS = 20
INVITE_WAVES = 8
PER_WAVE = 6
SECRET = "workers-kill-secret"
WINDOW_S = 1.0        # one HTTP round trip plus one commit, with a loaded machine's slack


class Balancer:
    """nginx's ``proxy_pass`` to an upstream of workers with ``proxy_next_upstream error``."""

    def __init__(self, ports: list[int], rng: random.Random) -> None:
        self.ports = ports
        self.rng = rng
        self.session: ClientSession | None = None
        self.runner: web.AppRunner | None = None
        self.port = free_port()
        self.failed = 0

    async def start(self) -> None:
        self.session = ClientSession(timeout=ClientTimeout(total=30))
        app = web.Application()
        app.router.add_post("/telegram", self.forward)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def forward(self, request: web.Request) -> web.Response:
        assert self.session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith(("x-telegram", "content-type"))}
        ports = self.ports[:]
        self.rng.shuffle(ports)
        for port in ports:
            try:
                async with self.session.post(f"http://127.0.0.1:{port}/telegram", data=body, headers=headers) as r:
                    return web.Response(status=r.status, body=await r.read())
            except aiohttp_connection_errors():
                continue                           # refused: try the next worker
            except Exception:
                self.failed += 1                   # the worker died with the request
                return web.Response(status=502)
        self.failed += 1
        return web.Response(status=502)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        if self.session is not None:
            await self.session.close()


def aiohttp_connection_errors() -> tuple[type[BaseException], ...]:
    from aiohttp import ClientConnectorError

    return (ClientConnectorError,)


def _print_stuck(tg: TelegramEmulator, citizens: list[Citizen], pg_url: str) -> None:
    """On a failure: each unfinished citizen's last messages and the response's stored step."""
    print(f"\nupdates still pending at the emulator: {tg.pending_update_ids()}")
    with psycopg.connect(pg_url) as conn:
        for i, c in enumerate(citizens):
            if c.done:
                continue
            uid = 910_000 + i
            row = conn.execute("SELECT state_rev, reply_due, status FROM responses WHERE respondent_id = %s",
                               (c.respondent_id,)).fetchone()
            print(f"stuck citizen {uid}: {len(c.given)} pressed, {c.acked} answered; response (state_rev, reply_due,"
                  f" status) {row}")
            for m in tg.messages(uid)[-4:]:
                print("   ", "bot" if m.from_bot else "citizen", m.message_id, f"edited {m.edited}", repr(m.text[-70:]))


async def _listening(port: int) -> bool:
    try:
        _, w = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    w.close()
    with contextlib.suppress(Exception):
        await w.wait_closed()
    return True


async def test_three_webhook_workers_killed_at_random_lose_and_duplicate_nothing(pg_url: str, tmp_path: Path) -> None:
    survey = get_survey(SURVEY)
    db = await Database.open(pg_url)
    seeded = await seed_round(db, survey, respondents=CITIZENS, communes=2, quota=CITIZENS)
    people = seeded.respondents
    tg = TelegramEmulator()
    await tg.start()
    rng = random.Random(1616)
    ports = [free_port() for _ in range(WORKERS)]
    lb = Balancer(ports, rng)
    await lb.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAILONG_")}
    env.update(HAILONG_DB=pg_url, HAILONG_TELEGRAM_TOKEN=tg.token, HAILONG_TELEGRAM_BASE_URL=tg.base_url,
               HAILONG_TELEGRAM_MODE="webhook", HAILONG_TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{lb.port}/telegram",
               HAILONG_TELEGRAM_WEBHOOK_SECRET=SECRET, HAILONG_CALLBACK_SECRET="kill-test-callbacks",
               HAILONG_TELEGRAM_RATE_OVERALL="300", HAILONG_TELEGRAM_RATE_PER_CHAT="100",
               HAILONG_TELEGRAM_RATE_BURST="100", HAILONG_OUTBOX_LEASE_S="3", HAILONG_SCHEDULER_LEASE_S="3",
               PYTHONUNBUFFERED="1")
    progress = Progress()
    citizens: list[Citizen] = []
    tasks = []
    async def later(delay: float, uid: int, token: str, c: Citizen) -> None:
        await asyncio.sleep(delay)
        await telegram_citizen(tg, uid, token, c, progress)

    for i, person in enumerate(people):
        c = Citizen("telegram", person.id)
        delay = (i % COHORTS) * COHORT_EVERY_S
        tasks.append(asyncio.create_task(later(delay, 910_000 + i, person.token, c)))
        citizens.append(c)
    everyone = asyncio.gather(*tasks)
    invitees = [tg.user(920_000 + i, f"Mời {i}") for i in range(INVITE_WAVES * PER_WAVE)]
    first_seen: dict[int, list[float]] = {}          # invitee → when each copy arrived
    kill_times: list[float] = []
    log = open(tmp_path / "workers.log", "wb")
    procs: dict[int, asyncio.subprocess.Process] = {}

    async def spawn(slot: int) -> None:
        procs[slot] = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hailong.run", "--channel", "telegram", "--listen", f"127.0.0.1:{ports[slot]}", "--log-level", "WARNING",
            cwd=str(tmp_path), env=env, stdout=log, stderr=log)

    async def watch_invites() -> None:
        while True:
            now = time.monotonic()
            for u in invitees:
                n = len(tg.bot_messages(u.user_id))
                seen = first_seen.setdefault(u.user_id, [])
                while len(seen) < n:
                    seen.append(now)
            await asyncio.sleep(0.005)

    async def invite_waves() -> None:
        for w in range(INVITE_WAVES):
            await asyncio.sleep(rng.uniform(2.0, 6.0))
            wave = invitees[w * PER_WAVE:(w + 1) * PER_WAVE]
            await enqueue_outbox(db, [OutboxItem("telegram", str(u.user_id), "invite", f"inv:{u.user_id}",
                                                 {"text": f"Mời tham gia / invitation {u.user_id}"}) for u in wave])

    watcher = asyncio.create_task(watch_invites())
    waves = asyncio.create_task(invite_waves())
    kills = 0
    t0 = time.monotonic()
    try:
        for slot in range(WORKERS):
            await spawn(slot)
        while kills < KILLS or not everyone.done() or not waves.done():
            assert time.monotonic() - t0 < 180, (
                f"the test ran too long (see workers.log): {kills} kills, {progress.acks} answers acknowledged, "
                f"{sum(c.done for c in citizens)}/{len(citizens)} citizens done, "
                f"{sum(1 for u in invitees if first_seen.get(u.user_id))}/{len(invitees)} invites arrived")
            for slot, p in procs.items():
                assert p.returncode is None, f"worker {slot} exited by itself ({p.returncode}): see workers.log"
            # a random moment, then one of the workers that serve dies (at least one other serves)
            await asyncio.sleep(rng.uniform(0.05, 0.8))
            if kills >= KILLS:
                continue
            up = [slot for slot in procs if await _listening(ports[slot])]
            if len(up) < 2:
                continue
            slot = rng.choice(up)
            procs[slot].send_signal(signal.SIGKILL)
            kill_times.append(time.monotonic())
            await procs[slot].wait()
            kills += 1
            await spawn(slot)
        try:
            await asyncio.wait_for(asyncio.shield(everyone), 90)
        except BaseException:
            _print_stuck(tg, citizens, pg_url)       # what a stuck citizen saw and what was stored
            raise
        # the last wave's invites go out, then every worker stops cleanly
        deadline = time.monotonic() + 30
        while any(not first_seen.get(u.user_id) for u in invitees) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
    finally:
        for p in procs.values():
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(p.wait(), 30)
        log.close()
        watcher.cancel()
        waves.cancel()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, watcher, waves, return_exceptions=True)
        await lb.stop()
        await tg.stop()
        await db.close()
    elapsed = time.monotonic() - t0

    assert kills >= KILLS and progress.nudges == 0
    assert all(c.done for c in citizens), [c.respondent_id for c in citizens if not c.done]
    with psycopg.connect(pg_url) as conn:
        for c in citizens:
            rows = conn.execute(
                "SELECT a.step_id, a.revision, a.value, a.cleared FROM answers AS a JOIN responses AS r"
                " ON r.id = a.response_id WHERE r.respondent_id = %s ORDER BY a.id", (c.respondent_id,)).fetchall()
            assert all(rev == 1 and not cleared for _, rev, _, cleared in rows), (c, rows)
            assert len({s for s, *_ in rows}) == len(rows), f"{c.respondent_id}: a step stored twice"
            labels = [answer_label(survey, s, json.loads(v)) for s, _, v, _ in rows]
            assert labels == [g for g in c.given if g], f"{c.respondent_id}: {labels} != {c.given}"
            status = conn.execute("SELECT status FROM respondents WHERE id = %s", (c.respondent_id,)).fetchone()[0]
            assert status == "completed", (c, status)
        outbox = conn.execute("SELECT chat_id, status, attempts, claimed_by FROM outbox").fetchall()
        workers = {r[3] for r in outbox}
    # invites: every one reached its chat; twice only when its first copy came just before a kill
    assert {s for _, s, _, _ in outbox} == {"sent"} and len(outbox) == len(invitees)
    assert all(first_seen.get(u.user_id) for u in invitees)
    twice = {uid: seen for uid, seen in first_seen.items() if len(seen) > 1}
    attempts = {int(chat): a for chat, _, a, _ in outbox}
    for uid, seen in twice.items():
        assert attempts[uid] >= 2, f"invite to {uid} sent twice without being claimed again"
        assert any(0 <= k - seen[0] <= WINDOW_S for k in kill_times), \
            f"invite to {uid} sent twice, first copy not within {WINDOW_S} s of a kill"
    assert len(workers) > 1
    answers = sum(len([g for g in c.given if g]) for c in citizens)
    repeats = sum(c.repeats for c in citizens)
    print(f"\n{kills} kills of {WORKERS} webhook workers, {len(citizens)} citizens, {answers} answers stored once each, "
          f"nudges 0, questions shown twice {repeats}, {len(invitees)} invites ({len(twice)} twice inside the "
          f"window), {lb.failed} deliveries failed at the balancer (redelivered), {elapsed:.1f} s")
