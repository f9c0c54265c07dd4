"""Shared set-up for the Telegram integration tests: a database with an open
round and invited respondents, the emulator, and the real bot (PTB) talking to it over HTTP.

Also a scripted citizen (:func:`answer_survey`) that answers whatever the bot asks, by buttons
or typing, and remembers what it chose so tests can compare with what storage holds.
"""

from __future__ import annotations

import time
from hailong.run import _telegram_factory
from bot.telegram.channel import TelegramChannel

import random
from urllib.parse import parse_qs, urlsplit
from demo.page_client import PageClient
from survey_defs.loader import get_survey

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import compile_survey
from bot.settings import Settings
from demo.emulators.telegram import SimUser, TelegramEmulator
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.respondents import RespondentIn, insert_respondents
from storage.rounds import create_round, open_round
from storage.units import UnitIn, insert_units
from survey_defs.schema import Survey


@dataclass
class World:
    path: Path
    db: Database
    store: SqliteConversationStore
    emu: TelegramEmulator
    settings: Settings
    channel: TelegramChannel
    tokens: dict[str, list[str]] = field(default_factory=dict)   # survey id -> invite tokens
    round_ids: dict[str, int] = field(default_factory=dict)
    respondent_ids: dict[str, int] = field(default_factory=dict)  # token -> respondent id

    async def restart(self) -> None:
        """Stop the bot and the database, then start new ones on the same file."""
        await self.channel.stop()
        await self.db.close()
        self.db = await Database.open(str(self.path))
        self.store = SqliteConversationStore(self.db)
        self.channel = TelegramChannel(self.settings, self.store)
        await self.channel.start()

    async def close(self) -> None:
        await self.channel.stop()
        await self.db.close()
        await self.emu.stop()


async def make_world(tmp_path: Path, surveys: tuple[str, ...] = ("sipas-households",), per_survey: int = 5,
                     walk_in: bool = False, staff_ids: tuple[int, ...] = (), store_kw: dict[str, Any] | None = None,
                     **settings_kw: Any) -> World:
    """``store_kw``: extra arguments of the conversation store (a test clock, claim limits)."""
    path = tmp_path / "hailong.db"
    db = await Database.open(str(path))
    ids = await insert_units(db, "test", [UnitIn(kind="province", code="LC", name="Lai Châu"),
                                           UnitIn(kind="commune", code="TP", name="Phường Tân Phong",
                                                  parent_code="LC", quota=per_survey)])
    tokens: dict[str, list[str]] = {}
    round_ids: dict[str, int] = {}
    respondent_ids: dict[str, int] = {}
    for n, sid in enumerate(surveys):
        rnd = await create_round(db, code=f"R{n}-{sid}", survey=get_survey(sid), name=sid,
                                 allow_walk_in=walk_in and n == 0)
        await open_round(db, rnd.id)
        people = await insert_respondents(db, rnd.id, [RespondentIn(ids["TP"], f"hộ thứ {i + 1}")
                                                       for i in range(per_survey)])
        tokens[sid] = [p.token for p in people]
        respondent_ids.update({p.token: p.id for p in people})
        round_ids[sid] = rnd.id
    emu = TelegramEmulator()
    await emu.start()
    kw: dict[str, Any] = dict(telegram_token=emu.token, telegram_base_url=emu.base_url, db=path,
                              telegram_rate_limit=False, telegram_poll_timeout=1, callback_secret="test-secret",
                              staff_ids=list(staff_ids), telegram_pool_size=32)
    kw.update(settings_kw)
    settings = Settings(**kw)
    store = SqliteConversationStore(db, **(store_kw or {}))
    channel = TelegramChannel(settings, store)
    await channel.start()
    return World(path, db, store, emu, settings, channel, tokens, round_ids, respondent_ids)


@dataclass
class Choices:
    """What a scripted citizen chose, step by step (the expected stored answers)."""

    answers: dict[str, Any] = field(default_factory=dict)
    presses: int = 0
    typed: int = 0


def _button_index(user: SimUser, label_prefix: str) -> int:
    msg = user.last_keyboard_message()
    assert msg is not None
    for i, (text, _) in enumerate(msg.buttons):
        if text.lstrip("☑☐● ").startswith(label_prefix):
            return i
    raise LookupError(f"no button starting with {label_prefix!r} in {[b[0] for b in msg.buttons]}")


async def current_state(world: World, user: SimUser):
    session = await world.store.session_for_chat("telegram", str(user.chat_id))
    assert session is not None
    return session.state


async def answer_one(world: World, survey: Survey, user: SimUser, rng: random.Random, choices: Choices,
                     type_share: float = 0.3) -> bool:
    """Answer the current question (or submit at the review). False once the interview is over."""
    state = await current_state(world, user)
    if state.status == "review":
        await user.press_button("Gửi phiếu")
        await user.wait_for_reply()
        return False
    if state.status in ("submitted", "ended"):
        return False
    if state.status == "paused":
        await user.send_text("/continue")
        await user.wait_for_keyboard()
        return True
    step = compile_survey(survey).by_id[state.current]
    q = step.question
    if step.type == "number":
        value = max(q.min or 0, min(q.max or 99, 30 + rng.randint(0, 30)))
        await user.send_text(str(value))
        choices.typed += 1
    elif step.type == "text":
        value = rng.choice(["Không có ý kiến", "Cán bộ nhiệt tình, thủ tục nhanh.", "Cần thêm ghế ngồi 🙏"])
        await user.send_text(value)
        choices.typed += 1
    elif step.type == "multi":
        picks = sorted(rng.sample(range(len(step.values)), k=min(len(step.values), 1 + rng.randint(0, 1))))
        if any(p in step.exclusive for p in picks):
            picks = [picks[0]]
        msg = user.last_keyboard_message()
        assert msg is not None
        for p in picks:
            before = msg.edited
            await user.press_button(p)
            await world.emu.wait_until(lambda: msg.edited > before, 10)
        await user.press_button("Xong")
        value = [step.values[p] for p in picks]
    else:
        pos = _safe_choice(survey, step, rng)
        value = step.values[pos]
        if rng.random() < type_share:
            await user.send_text(str(pos + 1))
            choices.typed += 1
        else:
            await user.press_button(_button_index(user, f"{pos + 1}. "))
            choices.presses += 1
    choices.answers[step.id] = value
    await user.wait_for_keyboard()
    return True


def _safe_choice(survey: Survey, step: Any, rng: random.Random) -> int:
    """Keep the interview going: never the value a screening end rule stops on; else at random."""
    from survey_defs.schema import Equals

    avoid = {r.when.equals[1] for r in survey.end_rules
             if isinstance(r.when, Equals) and r.when.equals[0] == step.id}
    allowed = [i for i, v in enumerate(step.values) if v not in avoid]
    return rng.choice(allowed)


async def answer_survey(world: World, survey: Survey, user: SimUser, seed: int = 0, max_steps: int = 400,
                        type_share: float = 0.3) -> Choices:
    rng = random.Random(seed)
    choices = Choices()
    for _ in range(max_steps):
        if not await answer_one(world, survey, user, rng, choices, type_share):
            return choices
    raise AssertionError("the interview did not end")


async def open_mini_app(client: PageClient, url_with_fragment: str):
    """What ``static/tg.js`` does in the Telegram client: post the fragment's initData."""
    split = urlsplit(url_with_fragment)
    init = parse_qs(split.fragment)["tgWebAppData"][0]
    boot = await client.get(split.path)
    assert boot.kind == "tg"
    async with client.session.post(client.base_url + split.path, data={"initData": init}) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    return await client.get(body["url"])


class Clock:
    """A controllable clock for the channel (the storage keeps real time)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def wired(world: World, clock: Clock | None = None) -> TelegramChannel:
    """Replace the world's bare channel with the one ``hailong run`` builds."""
    await world.channel.stop()
    channel = _telegram_factory(world.settings, world.store, world.db)
    assert isinstance(channel, TelegramChannel)
    if clock is not None:
        channel.clock = clock
    world.channel = channel
    await channel.start()
    return channel
