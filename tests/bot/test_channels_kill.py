"""Kill test on both channels: citizens who never nudge finish although the bot is SIGKILLed.

``hailong run --channel telegram --channel zalo`` runs as a real subprocess against the Telegram
emulator (long polling) and the Zalo emulator (webhook, retried by the platform until answered
2xx), on 127.0.0.1. Simulated citizens answer ``sipas-services-2021`` on both channels, each
waiting for the bot's next question and answering it once: they never send anything again,
never press /start again, whatever happens. The bot is SIGKILLed about 20 times at random
moments (a random number of answers after each start, plus a few milliseconds) and restarted.

Shown: every citizen finishes (zero nudges), every answer is stored once, in the order given,
with the value chosen, and nothing else is stored. A question shown twice (the bot died in the
milliseconds between sending a reply and recording it: docs/durability.md) is counted and
printed; a careful citizen ignores a question they have just answered.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path

from demo.citizens import zalo_screen
from engine import answer_label
from demo.emulators.telegram import TelegramEmulator
from demo.emulators.zalo import ZaloEmulator
from demo.emulators.zalo_script import is_final, is_prompt
from storage.db import Database
from demo.seed import seed_round
from support.chat_citizens import PATIENCE_S, SURVEY, Citizen, Progress, pick, telegram_citizen
from support.processes import free_port
from survey_defs.loader import get_survey

HAILONG = str(Path(sys.executable).with_name("hailong"))
PER_CHANNEL = 14
KILLS = 20
ZALO_TOKEN = "zalo-kill-test-token"
ZALO_SECRET = "kill-test-secret-1"
COMMENT = "Không có ý kiến thêm"
_OPTION_LINE = re.compile(r"^(\d+)\. (.*?)(?: ✓)?$")


async def _zalo_citizen(emu: ZaloEmulator, uid: str, code: str, c: Citizen, p: Progress) -> None:
    user = emu.user(uid, f"Dân {uid}")
    user.send_text(f"KS {code}")
    answered: str | None = None
    while True:
        try:
            prompt = await _next_new_prompt(user, answered, c)
        except TimeoutError:
            p.nudges += 1
            raise AssertionError(f"zalo citizen {uid} waited {PATIENCE_S:.0f} s for the bot") from None
        if answered is not None:
            c.acked += 1
            p.acks += 1
        if is_final(prompt):
            c.done = True
            return
        screen = zalo_screen(prompt)
        options = _zalo_options(prompt)
        answered = prompt
        if screen.review:
            user.send_text("gửi")
        elif not options:
            user.send_text(COMMENT)             # the optional comment
            c.given.append(COMMENT)
        else:
            k = pick(uid, prompt, options)
            user.send_text(str(k + 1))
            c.given.append(options[k])


def _zalo_options(prompt: str) -> tuple[str, ...]:
    """The numbered option lines right above the "👉" hint, counting down to "1." (a question's
    own text may have a line that starts with a number too)."""
    lines = prompt.splitlines()
    hint = next((i for i, line in enumerate(lines) if line.startswith("👉")), 0)
    out: list[str] = []
    for line in reversed(lines[:hint]):
        m = _OPTION_LINE.match(line)
        if m is None:
            return ()
        out.insert(0, m.group(2))
        if m.group(1) == "1":
            return tuple(out)
    return ()


async def _next_new_prompt(user, answered: str | None, c: Citizen) -> str:
    """The next message that waits for the citizen, skipping the question just answered if it is
    shown again; when several arrived, the newest one counts."""
    deadline = time.monotonic() + PATIENCE_S
    while True:
        text = await user.wait_for_reply(max(0.1, deadline - time.monotonic()))
        if not is_prompt(text):
            continue
        if text == answered:
            c.repeats += 1
            continue
        await asyncio.sleep(0.05)                       # anything right behind it is newer
        later = [t for t in user.unread() if is_prompt(t) and t != answered]
        return later[-1] if later else text


async def test_citizens_who_never_nudge_finish_through_20_kills(tmp_path: Path) -> None:
    survey = get_survey(SURVEY)
    db_path = tmp_path / "kill.db"
    db = await Database.open(db_path)
    seeded = await seed_round(db, survey, respondents=2 * PER_CHANNEL, communes=2, quota=PER_CHANNEL)
    await db.close()
    people = seeded.respondents
    tg = TelegramEmulator()
    await tg.start()
    zl = await ZaloEmulator(token=ZALO_TOKEN, webhook_retries=10_000).start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAILONG_")}
    env.update(HAILONG_TELEGRAM_TOKEN=tg.token, HAILONG_TELEGRAM_BASE_URL=tg.base_url,
               HAILONG_TELEGRAM_POLL_TIMEOUT="1", HAILONG_TELEGRAM_RATE_LIMIT="false",
               HAILONG_CALLBACK_SECRET="kill-test-callbacks", HAILONG_ZALO_TOKEN=ZALO_TOKEN,
               HAILONG_ZALO_BASE_URL=zl.base_url, HAILONG_ZALO_MODE="webhook",
               HAILONG_ZALO_WEBHOOK_URL=f"http://127.0.0.1:{port}/zalo", HAILONG_ZALO_WEBHOOK_SECRET=ZALO_SECRET,
               HAILONG_ZALO_LISTEN_PORT=str(port), HAILONG_ZALO_RATE_LIMIT="false", PYTHONUNBUFFERED="1")
    rng = random.Random(20250612)
    progress = Progress()
    citizens: list[Citizen] = []
    tasks = []
    for i, person in enumerate(people):
        if i < PER_CHANNEL:
            c = Citizen("telegram", person.id)
            tasks.append(asyncio.create_task(telegram_citizen(tg, 700_000 + i, person.token, c, progress)))
        else:
            c = Citizen("zalo", person.id)
            tasks.append(asyncio.create_task(_zalo_citizen(zl, f"zk-{i}", person.card_code, c, progress)))
        citizens.append(c)
    everyone = asyncio.gather(*tasks)
    kills = 0
    starts = 0
    t0 = time.monotonic()
    log = open(tmp_path / "bot.log", "wb")
    try:
        while True:
            proc = await asyncio.create_subprocess_exec(
                HAILONG, "run", "--channel", "telegram", "--channel", "zalo", "--db", str(db_path),
                "--log-level", "WARNING", cwd=str(tmp_path), env=env, stdout=log, stderr=log)
            starts += 1
            if kills < KILLS and not everyone.done():
                target = progress.acks + rng.randint(1, 45)
                while progress.acks < target and not everyone.done() and proc.returncode is None:
                    await asyncio.sleep(0.005)
                await asyncio.sleep(rng.uniform(0.0, 0.03))
                assert proc.returncode is None, f"the bot exited by itself ({proc.returncode}): see bot.log"
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
                kills += 1
                continue
            try:
                await asyncio.wait_for(asyncio.shield(everyone), PATIENCE_S * 2)
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(proc.wait(), 30)
            break
    finally:
        log.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await tg.stop()
        await zl.stop()
    elapsed = time.monotonic() - t0

    # every citizen finished without a nudge
    assert progress.nudges == 0
    assert all(c.done for c in citizens), [(c.channel, c.respondent_id) for c in citizens if not c.done]
    assert kills >= KILLS
    # every answer stored once, in order, with the value chosen; nothing else stored
    conn = sqlite3.connect(db_path)
    try:
        for c in citizens:
            rows = conn.execute(
                "SELECT a.step_id, a.revision, a.value, a.cleared FROM answers AS a JOIN responses AS r"
                " ON r.id = a.response_id WHERE r.respondent_id = ? ORDER BY a.id", (c.respondent_id,)).fetchall()
            assert all(rev == 1 and not cleared for _, rev, _, cleared in rows), (c, rows)
            assert len({s for s, *_ in rows}) == len(rows), f"{c.channel} {c.respondent_id}: a step stored twice"
            labels = [answer_label(survey, s, json.loads(v)) for s, _, v, _ in rows]
            assert labels == [g for g in c.given if g], f"{c.channel} {c.respondent_id}: {labels} != {c.given}"
            status = conn.execute("SELECT status FROM respondents WHERE id = ?", (c.respondent_id,)).fetchone()[0]
            assert status == "completed", (c, status)
        owed = conn.execute("SELECT COUNT(*) FROM responses WHERE reply_due != 0").fetchone()[0]
        assert owed == 0, f"{owed} replies still owed after a clean stop"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    answers = sum(len([g for g in c.given if g]) for c in citizens)
    repeats = {ch: sum(c.repeats for c in citizens if c.channel == ch) for ch in ("telegram", "zalo")}
    print(f"\n{kills} kills, {starts} starts, {len(citizens)} citizens ({PER_CHANNEL} per channel), "
          f"{answers} answers stored once each, nudges needed: {progress.nudges}, questions shown twice: "
          f"{repeats}, {elapsed:.1f} s")
