"""Staff commands of the Telegram channel, wired as ``hailong run`` wires them
(``hailong.run._telegram_factory``: /status from storage progress), through the emulator and the
real PTB stack. (The idle sweep is ``hailong run``'s upkeep: tests/hailong/test_upkeep.py.)"""

from __future__ import annotations

import pytest

from bot.telegram.channel import TelegramChannel
from support.telegram_world import World, make_world
from support.telegram_world import wired

STAFF = 999






@pytest.fixture
async def world(tmp_path):
    w = await make_world(tmp_path, surveys=("sipas-households", "sipas-services-2021"), per_survey=3,
                         staff_ids=(STAFF,))
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


