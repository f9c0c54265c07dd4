"""The Telegram channel end to end: real PTB against the emulator, real engine and SQLite storage."""

from __future__ import annotations

import pytest

from bot.engine import compile_survey
from storage.responses import current_answers, get_response_for_respondent
from survey_defs.loader import get_survey
from test_telegram_world import World, answer_survey, make_world


@pytest.fixture
async def world(tmp_path):
    w = await make_world(tmp_path, surveys=("sipas-households",), staff_ids=(999,))
    yield w
    await w.close()


async def stored(world: World, token: str) -> dict:
    resp = await get_response_for_respondent(world.db, world.respondent_ids[token])
    assert resp is not None
    return await current_answers(world.db, resp.id)


async def test_households_complete_with_buttons_and_typing(world: World) -> None:
    survey = get_survey("sipas-households")
    token = world.tokens["sipas-households"][0]
    user = world.emu.user(1001, "Lan")
    await user.start(token)
    await user.wait_for_keyboard()
    choices = await answer_survey(world, survey, user, seed=1)
    assert choices.presses > 10 and choices.typed > 5
    assert await stored(world, token) == choices.answers
    # every question message lost its keyboard once answered; the last message thanks
    assert [m.text[:40] for m in world.emu.bot_messages(1001) if m.keyboard] == []
    assert "cảm ơn" in world.emu.bot_messages(1001)[-1].text.lower()
