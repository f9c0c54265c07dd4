"""No secret in a log, Zalo side: the whole INFO log of ``hailong run --channel zalo`` (a subprocess
against the Zalo emulator) holds no bot token, card code, invite token or chat id while citizens
claim their cards (typed loosely), answer, block the bot, mistype a code, and invites go out."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

from fieldwork.outbox import enqueue_invites
from demo.emulators.zalo import ZaloEmulator
from demo.emulators.zalo_script import next_prompt, scripted_answer
from storage.db import Database
from storage.respondents import ContactIn, RespondentIn, get_respondent, insert_respondents
from storage.rounds import create_round, open_round
from storage.units import UnitIn, insert_units
from survey_defs.loader import get_survey
from support.processes import leaks
from support.processes import HAILONG, clean_env

BOT_TOKEN = "5550123:zalo-secret-bot-token-Qm7"
CHATS = ("5829104736251849", "5829104736251850", "5829104736251851", "5829104736251852")


async def _status(path: Path, respondent_id: int) -> str:
    db = await Database.open(str(path))
    try:
        return (await get_respondent(db, respondent_id)).status
    finally:
        await db.close()


async def test_a_whole_zalo_run_logs_no_secret_at_info(tmp_path: Path) -> None:
    db_path = tmp_path / "hailong.db"
    db = await Database.open(str(db_path))
    try:
        ids = await insert_units(db, "test", [UnitIn(kind="village", code="V1", name="Bản Nà Cại")])
        rnd = await create_round(db, code="ZLOG", survey=get_survey("sipas-households"))
        await open_round(db, rnd.id)
        people = await insert_respondents(db, rnd.id, [
            RespondentIn(ids["V1"], "hộ 1"), RespondentIn(ids["V1"], "hộ 2"),
            RespondentIn(ids["V1"], "hộ 3", contact=ContactIn(name="Lò Thị Mai", zalo_id=CHATS[3]))])
    finally:
        await db.close()
    rng = random.Random(3)
    async with ZaloEmulator(token=BOT_TOKEN) as emu:
        env = clean_env(HAILONG_ZALO_TOKEN=BOT_TOKEN, HAILONG_ZALO_BASE_URL=emu.base_url,
                        HAILONG_ZALO_POLL_TIMEOUT="1")
        proc = await asyncio.create_subprocess_exec(
            HAILONG, "run", "--channel", "zalo", "--db", str(db_path), "--log-level", "INFO",
            cwd=str(tmp_path), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            # a card typed loosely (lower case, a dash), then two answers
            code = people[0].card_code
            lan = emu.user(CHATS[0], "Lò Thị Lan")
            lan.send_text(f"ks {code[:3].lower()}-{code[3:].lower()}")
            prompt = (await next_prompt(lan, 30))[-1]
            assert prompt.startswith("Câu 1/")
            for _ in range(2):
                lan.send_text(scripted_answer(prompt, rng) or "1")
                prompt = (await next_prompt(lan, 10))[-1]
            # another claims, then blocks the bot: the reply to the next answer fails with 403
            tuan = emu.user(CHATS[1], "Tuấn")
            tuan.send_text(f"KS {people[1].card_code}")
            await next_prompt(tuan, 10)
            tuan.block()
            tuan.send_text("1")
            for _ in range(200):
                if await _status(db_path, people[1].id) == "unreachable":
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the blocked chat was never marked unreachable")
            # a mistyped code and a stranger's greeting
            eve = emu.user(CHATS[2], "Lạ")
            eve.send_text(f"KS {people[2].card_code[:-1]}X")
            await eve.wait_for_reply(10)
            eve.send_text("xin chào")
            await eve.wait_for_reply(10)
            # an invite (with the card code) sent by the outbox to someone who wrote first
            mai = emu.user(CHATS[3], "Mai")
            mai.send_text("chào")
            await mai.wait_for_reply(10)
            staff_db = await Database.open(str(db_path))
            try:
                assert (await enqueue_invites(staff_db, rnd.id, "zalo")).new == 1
            finally:
                await staff_db.close()
            for _ in range(200):
                if any(people[2].card_code in t.replace(" ", "") for t in mai.received):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"no invite reached the citizen: {mai.received}")
            await asyncio.sleep(1.5)
            proc.send_signal(signal.SIGTERM)
            exit_code = await asyncio.wait_for(proc.wait(), 20)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        log = (await proc.stderr.read()).decode("utf-8", "replace") if proc.stderr else ""
    assert exit_code == 0, log
    assert "Zalo bot" in log and "connected" in log and "INFO" in log
    needles = {"bot token": BOT_TOKEN, "bot token secret part": BOT_TOKEN.split(":", 1)[1],
               "mistyped code": people[2].card_code[:-1] + "X"}
    for n, p in enumerate(people):
        needles[f"card code {n}"] = p.card_code
        needles[f"invite token {n}"] = p.token
    for chat in CHATS:
        needles[f"chat {chat}"] = chat
    assert leaks(log, needles) == {}
