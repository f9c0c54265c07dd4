"""Shared set-up for the Zalo channel tests: a database with an open round, the Zalo emulator and
the real Zalo channel talking to it over HTTP."""

from __future__ import annotations

from bot.zalo.pacer import Pacer
from bot.zalo.channel import ZaloChannel
from bot.zalo.client import ZaloBotClient
from demo.emulators.zalo import ZaloEmulator
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.respondents import RespondentIn
from storage.respondents import insert_respondents
from storage.rounds import create_round, open_round
from storage.units import UnitIn, insert_units
from survey_defs.loader import get_survey


TOKEN = "777:zalo-adapter-test"


class World:
    def __init__(self, db, store, respondents, emu, client, channel):
        self.db, self.store, self.respondents = db, store, respondents
        self.emu, self.client, self.channel = emu, client, channel

    def code(self, i: int) -> str:
        return self.respondents[i].card_code


async def _world(tmp_path, *, pacer: Pacer | None = None, emu_kw=None, n=6, walk_in=False):
    survey = get_survey("sipas-households")
    db = await Database.open(tmp_path / "zalo.db")
    rnd = await create_round(db, code="LC-2025", survey=survey, allow_walk_in=walk_in)
    await open_round(db, rnd.id)
    ids = await insert_units(db, "demo", [UnitIn(kind="village", code="V1", name="Bản Nà Cại")])
    resp = await insert_respondents(db, rnd.id, [RespondentIn(ids["V1"], f"hộ thứ {i + 1}") for i in range(n)])
    store = SqliteConversationStore(db)
    emu = await ZaloEmulator(token=TOKEN, **(emu_kw or {})).start()
    client = ZaloBotClient(TOKEN, emu.base_url, timeout=5)
    channel = await ZaloChannel(client, store, pacer=pacer or Pacer(rate=None, per_chat_rate=None)).start()
    return World(db, store, resp, emu, client, channel)


async def _close(w: World):
    await w.channel.stop(drain_timeout=2)
    await w.client.close()
    await w.emu.stop()
    await w.db.close()
