"""No secret in a log: the whole INFO log of ``hailong run`` (a subprocess against the emulator, each
HTTP transport) holds no bot token, invite token, card code or chat id, while citizens claim invites,
answer, block the bot, mistype a token, and staff ask for /status. Plus the redacting filter itself."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import pytest

from bot.log_hygiene import MASK, QUIET_LOGGERS, Redactor, RedactingFilter, quiet_third_party_loggers
from fieldwork.outbox import enqueue_invites
from demo.emulators.telegram import TelegramEmulator
from storage.db import Database
from storage.respondents import ContactIn, RespondentIn, get_respondent, insert_respondents
from storage.rounds import create_round, open_round
from storage.units import UnitIn, insert_units
from survey_defs.loader import get_survey
from support.processes import HAILONG, clean_env
from support.processes import leaks

BOT_TOKEN = "918273:AAH-secret-bot-token-x9Zq"
STAFF = 731000999




# ------------------------------------------------------------------ the filter

def test_redacting_filter_masks_secrets_in_messages_arguments_and_tracebacks() -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(RedactingFilter(Redactor([BOT_TOKEN, "short"])))
    logger = logging.getLogger("hailong.test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("POST http://api/bot%s/getMe", BOT_TOKEN)
        logger.warning("quoted http://api/bot%s/x", BOT_TOKEN.replace(":", "%3A"))
        try:
            raise RuntimeError(f"failed on /bot{BOT_TOKEN}/sendMessage")
        except RuntimeError:
            logger.exception("boom")
        logger.info("a short value is left alone: short")
    finally:
        logger.removeHandler(handler)
    text = "\n".join(records)
    assert BOT_TOKEN not in text and "secret-bot-token" not in text
    assert text.count(MASK) == 3 and "Traceback" in text and "short value is left alone: short" in text


def test_third_party_url_loggers_are_quiet_but_keep_warnings() -> None:
    names = ("httpx", "httpcore", "apscheduler")
    saved = {name: logging.getLogger(name).level for name in names}   # other tests (the demo) set them too
    root = logging.getLogger().level
    try:
        logging.getLogger().setLevel(logging.DEBUG)
        for name in names:
            logging.getLogger(name).setLevel(logging.NOTSET)
        quiet_third_party_loggers()
        for name in names:
            assert name in QUIET_LOGGERS
            assert not logging.getLogger(name).isEnabledFor(logging.INFO)
            assert logging.getLogger(name).isEnabledFor(logging.WARNING)
    finally:
        logging.getLogger().setLevel(root)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


# ------------------------------------------------------------------ a whole run

async def _prepare(path: Path) -> tuple[list[tuple[int, str, str]], int]:
    """Respondents (id, token, card code), and the round id; the last one has a Telegram id."""
    db = await Database.open(str(path))
    try:
        ids = await insert_units(db, "test", [UnitIn(kind="province", code="LC", name="Lai Châu")])
        rnd = await create_round(db, code="LOG", survey=get_survey("sipas-households"), name="log test")
        await open_round(db, rnd.id)
        people = await insert_respondents(db, rnd.id, [
            RespondentIn(ids["LC"], "hộ 1"), RespondentIn(ids["LC"], "hộ 2"),
            RespondentIn(ids["LC"], "hộ 3", contact=ContactIn(name="Lò Thị Mai", telegram_id="731000333"))])
        return [(p.id, p.token, p.card_code) for p in people], rnd.id
    finally:
        await db.close()


async def _respondent_status(path: Path, respondent_id: int) -> str:
    db = await Database.open(str(path))
    try:
        return (await get_respondent(db, respondent_id)).status
    finally:
        await db.close()


@pytest.mark.parametrize("transport", ["lean", "aiohttp", "httpx"])
async def test_a_whole_telegram_run_logs_no_secret_at_info(tmp_path: Path, transport: str) -> None:
    db_path = tmp_path / "hailong.db"
    people, round_id = await _prepare(db_path)
    async with TelegramEmulator(token=BOT_TOKEN) as emu:
        env = clean_env(HAILONG_TELEGRAM_BASE_URL=emu.base_url, HAILONG_TELEGRAM_POLL_TIMEOUT="1",
                        HAILONG_STAFF_IDS=str(STAFF), HAILONG_TELEGRAM_TRANSPORT=transport,
                        HAILONG_TELEGRAM_TOKEN=BOT_TOKEN)
        proc = await asyncio.create_subprocess_exec(
            HAILONG, "run", "--db", str(db_path), "--log-level", "INFO", cwd=str(tmp_path), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            # a citizen claims an invite and answers by button and by typing
            lan = emu.user(731000111, "Lan")
            await lan.start(people[0][1])
            await lan.wait_for_keyboard(timeout=30)
            await lan.press_button("1. ")
            await lan.wait_for_keyboard(timeout=10)
            await lan.send_text("47")
            await lan.wait_for_keyboard(timeout=10)
            # another claims, then blocks the bot: the next reply fails with 403
            tuan = emu.user(731000222, "Tuấn")
            await tuan.start(people[1][1])
            await tuan.wait_for_keyboard(timeout=10)
            emu.block(tuan.chat_id)
            await tuan.press_button("1. ")
            for _ in range(200):
                if await _respondent_status(db_path, people[1][0]) == "unreachable":
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the blocked chat was never marked unreachable")
            # a mistyped token, a stranger, a group, staff
            eve = emu.user(731000444, "Lạ")
            await eve.start(people[2][1][:-3] + "xyz")
            await eve.wait_for_reply(timeout=10)
            await eve.send_text("xin chào")
            await eve.wait_for_reply(timeout=10)
            group = emu.group(-100731000555)
            await group.send_text(731000111, "/start")
            await emu.wait_until(lambda: bool(emu.bot_messages(-100731000555)), timeout=10)
            staff = emu.user(STAFF, "Cán bộ")
            await staff.send_text("/status")
            assert "LOG" in (await staff.wait_for_reply(timeout=10)).text
            # the outbox sends an invite (with its deep link) to someone who wrote to the bot first
            mai = emu.user(731000333, "Mai")
            await mai.send_text("xin chào")
            await mai.wait_for_reply(timeout=10)
            staff_db = await Database.open(str(db_path))
            try:
                assert (await enqueue_invites(staff_db, round_id, "telegram", bot_username="hailong_test_bot")).new == 1
            finally:
                await staff_db.close()
            await emu.wait_until(lambda: any(url for m in emu.messages(731000333)
                                             for _, url in emu.url_buttons(731000333, m.message_id)),
                                 timeout=20, chat_id=731000333)
            await asyncio.sleep(1.5)                      # a few more long polls in the log
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 15)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        log = (await proc.stderr.read()).decode("utf-8", "replace") if proc.stderr else ""
    assert code == 0, log
    assert "Telegram channel started" in log and "INFO" in log     # the log is there, at INFO
    assert "blocked the bot" in log                                  # the 403 was logged…
    needles = {"bot token": BOT_TOKEN, "bot token secret part": BOT_TOKEN.split(":", 1)[1],
               "guessed token": people[2][1][:-3] + "xyz"}
    for n, (_, token, card) in enumerate(people):
        needles[f"invite token {n}"] = token
        needles[f"card code {n}"] = card
    for chat in (731000111, 731000222, 731000333, 731000444, 100731000555, STAFF):
        needles[f"chat {chat}"] = str(chat)
    assert leaks(log, needles) == {}                                 # …without its chat id
