"""Staff commands and the idle-expiry sweep of the Telegram channel, wired as ``hailong run`` wires
them (``hailong.run._telegram_factory``: /status from storage progress, idle closing via storage),
through the emulator and the real PTB stack."""

from __future__ import annotations

import asyncio

import pytest

from bot.telegram.channel import TelegramChannel
from storage.respondents import get_respondent
from support.telegram_world import World, make_world
from support.telegram_world import Clock, wired

STAFF = 999
DAY = 86400.0






@pytest.fixture
async def world(tmp_path):
    w = await make_world(tmp_path, surveys=("sipas-households", "sipas-services-2021"), per_survey=3,
                         staff_ids=(STAFF,), idle_sweep_interval_s=0.05)
    yield w
    await w.close()


async def _answer_consent(world: World, uid: int, token: str) -> None:
    user = world.emu.user(uid, f"Dân {uid}")
    await user.start(token)
    await user.wait_for_keyboard()
    await user.press_button("1. ")
    await user.wait_for_keyboard()


async def test_status_shows_progress_per_unit_to_staff_only(world: World) -> None:
    await wired(world)
    await _answer_consent(world, 2001, world.tokens["sipas-households"][0])
    staff = world.emu.user(STAFF, "Cán bộ Hà")
    await staff.send_text("/status")
    text = (await staff.wait_for_reply()).text
    # both open rounds, each with its unit line: 0 completed of the quota 3, one in progress
    assert "R0-sipas-households" in text and "R1-sipas-services-2021" in text
    lines = [line for line in text.splitlines() if "Phường Tân Phong" in line]
    assert len(lines) == 2
    assert "0/3 xong, 1 đang làm" in lines[0] and "0/3 xong, 0 đang làm" in lines[1]
    assert "/start" not in text

    # /status@this_bot (as Telegram clients send it after picking from the menu) works too
    await staff.send_text(f"/status@{world.emu.bot.username}")
    assert "Phường Tân Phong" in (await staff.wait_for_reply()).text

    # a citizen (not staff) gets the citizen experience, no progress figures
    citizen = world.emu.user(2002, "Lan")
    await citizen.send_text("/status")
    reply = (await citizen.wait_for_reply()).text
    assert "Phường Tân Phong" not in reply and "/start" in reply
    # a citizen in the middle of a survey: /status is just an unknown input, nothing leaks
    answering = world.emu.user(2001)
    n = len(world.emu.bot_messages(2001))
    await answering.send_text("/status")
    await world.emu.wait_until(lambda: len(world.emu.bot_messages(2001)) > n)
    assert all("Phường Tân Phong" not in m.text for m in world.emu.bot_messages(2001))


async def test_whoami_for_staff_and_citizens(world: World) -> None:
    await wired(world)
    staff = world.emu.user(STAFF, "Cán bộ Hà")
    await staff.send_text("/whoami")
    text = (await staff.wait_for_reply()).text
    assert f"{STAFF}" in text and "cán bộ khảo sát / survey staff" in text
    citizen = world.emu.user(2003)
    await citizen.send_text("/whoami")
    text = (await citizen.wait_for_reply()).text
    assert "2003" in text and "staff" not in text


async def test_status_failure_is_a_polite_message(world: World) -> None:
    async def broken() -> str:
        raise RuntimeError("database is locked")

    await world.channel.stop()
    world.channel = TelegramChannel(world.settings, world.store, status_provider=broken)
    await world.channel.start()
    staff = world.emu.user(STAFF)
    await staff.send_text("/status")
    text = (await staff.wait_for_reply()).text
    assert "Xin lỗi" in text and "Sorry" in text and "locked" not in text
    assert world.channel.stats.errors == 0


async def test_idle_conversations_are_closed_as_partial_after_the_round_expiry(world: World) -> None:
    clock = Clock()
    channel = await wired(world, clock)
    token = world.tokens["sipas-households"][1]
    await _answer_consent(world, 2010, token)
    rid = world.respondent_ids[token]
    assert (await get_respondent(world.db, rid)).status == "started"

    clock.offset = 13 * DAY                      # within the default 14 days: left alone
    await asyncio.sleep(0.3)                     # several sweeps
    assert (await get_respondent(world.db, rid)).status == "started"

    clock.offset = 14 * DAY + 60                 # past the round's expiry
    for _ in range(100):
        if (await get_respondent(world.db, rid)).status == "partial":
            break
        await asyncio.sleep(0.05)
    resp = await get_respondent(world.db, rid)
    assert resp.status == "partial"

    # the citizen may still come back: the next answer moves them to started again. The storage
    # stamps the answer with real time, so the sweep's clock returns to real time too (else every
    # 50 ms sweep would find the fresh answer 14 days old and close it again).
    clock.offset = 0
    user = world.emu.user(2010)
    await user.send_text("41")                   # age
    await user.wait_for_keyboard()
    for _ in range(200):                         # polls; generous for a loaded CI machine
        if (await get_respondent(world.db, rid)).status == "started":
            break
        await asyncio.sleep(0.05)
    assert (await get_respondent(world.db, rid)).status == "started"
    await asyncio.sleep(0.3)                     # several sweeps later it is still open
    assert (await get_respondent(world.db, rid)).status == "started"
    assert channel.stats.errors == 0


async def test_idle_sweep_survives_a_failing_closer(world: World) -> None:
    calls: list[float] = []

    async def flaky(now: float) -> int:
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("disk full")
        return 0

    await world.channel.stop()
    world.channel = TelegramChannel(world.settings, world.store, idle_closer=flaky)
    await world.channel.start()
    for _ in range(100):
        if len(calls) >= 3:
            break
        await asyncio.sleep(0.02)
    assert len(calls) >= 3                      # kept sweeping after the failure
    await world.channel.stop()
    n = len(calls)
    await asyncio.sleep(0.15)
    assert len(calls) == n                      # stopped with the channel
    world.channel = TelegramChannel(world.settings, world.store)
    await world.channel.start()
