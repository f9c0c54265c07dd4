"""Bot API requests per answer: a pressed answer costs the acknowledgement and one edit (the
answered question shows the choice and, below it, the next question with its buttons); a typed
answer closes the question and sends the next. Real PTB against the emulator."""

from __future__ import annotations

import pytest

from support.telegram_world import World, make_world


@pytest.fixture
async def world(tmp_path):
    w = await make_world(tmp_path, surveys=("sipas-households",))
    yield w
    await w.close()


def _calls(world: World) -> dict[str, int]:
    """Requests by method, polling left out (it does not depend on the answers)."""
    return {k[4:]: v for k, v in world.emu.stats.items() if k.startswith("api:") and k != "api:getupdates"}


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


async def test_requests_per_answer(world: World) -> None:
    user = world.emu.user(2001, "Lan")
    await user.start(world.tokens["sipas-households"][0])
    first = await user.wait_for_keyboard()
    before = _calls(world)
    await user.press_button("1. ")                      # consent: yes, by a button
    second = await user.wait_for_keyboard()
    await world.emu.wait_drained()
    assert _delta(_calls(world), before) == {"answercallbackquery": 1, "editmessagetext": 1}
    # the same message now reads: the question, the answer, the next question (with its buttons)
    assert second.message_id == first.message_id
    assert "→" in second.text and second.text.index("→") < len(second.text) - 20
    assert [m.message_id for m in world.emu.bot_messages(2001) if m.keyboard] == [first.message_id]
    before = _calls(world)
    await user.send_text("41")                          # age, typed: close it, ask the next below
    third = await user.wait_for_keyboard()
    await world.emu.wait_drained()
    assert _delta(_calls(world), before) == {"editmessagetext": 1, "sendmessage": 1}
    assert third.message_id != first.message_id
    closed = next(m for m in world.emu.bot_messages(2001) if m.message_id == first.message_id)
    assert not closed.keyboard and "41" in closed.text
    assert [m.message_id for m in world.emu.bot_messages(2001) if m.keyboard] == [third.message_id]
