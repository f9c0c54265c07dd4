"""The mode of every answer (chat, page, paper) and an index split by mode in analytics."""

from __future__ import annotations

import dataclasses
import random
import time

from aiohttp import web
from aiohttp.test_utils import TestServer

from analytics.analysis import analyse
from analytics.load import load_round
from engine import step
from engine.types import Choose, Command, Start, TypedText
from demo.page_client import PageClient, answer_whole_page_survey, choose_value
from bot.web.app import PageApp, PageConfig
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.modes import answer_mode, response_mode
from demo.seed import seed_round
from survey_defs.loader import get_survey

SURVEY = get_survey("sipas-households")


def test_answer_and_response_modes() -> None:
    assert answer_mode("telegram") == answer_mode("zalo") == answer_mode(None) == "chat"
    assert answer_mode("web") == "page" and answer_mode("web", "paper") == "paper"
    assert response_mode("chat", "web") == "page" and response_mode("chat", "telegram") == "chat"
    assert response_mode("paper", None) == "paper" and response_mode("chat", None) == "chat"


async def _chat_citizen(store: SqliteConversationStore, token: str, chat: str, rng: random.Random) -> None:
    """A chat citizen through the engine and the store, as a channel drives them."""
    claim = await store.claim_invite(token, "telegram", chat, f"claim-{chat}")
    session = claim.session
    assert session is not None
    inp = Start()
    for i in range(400):
        r = step(SURVEY, session.state, inp, time.time())
        assert await store.commit_step(session, r.state, r.events, "telegram", f"{chat}-{i}")
        session = dataclasses.replace(session, state=r.state)
        st = r.state
        if st.status == "review":
            inp = Command("submit")
        elif st.status in ("submitted", "ended"):
            return
        else:
            v = choose_value(SURVEY, st.current, rng)
            inp = TypedText(" ".join(str(_pos(st.current, x)) for x in v) + " xong") if isinstance(v, list) \
                else Choose(st.current, v)
    raise AssertionError("chat interview did not end")


def _pos(step_id: str, value: object) -> int:
    from engine import compile_survey

    sp = compile_survey(SURVEY).by_id[step_id]
    return sp.values.index(value) + 1


async def test_an_index_splits_by_mode(tmp_path) -> None:
    path = tmp_path / "modes.db"
    db = await Database.open(str(path))
    seeded = await seed_round(db, SURVEY, respondents=6, code="R-MODE")
    store = SqliteConversationStore(db)
    page = PageApp(store, db, PageConfig(key=b"mode-test-key-0123456789"))
    root = web.Application()
    page.mount(root)
    server = TestServer(root, host="127.0.0.1")
    await server.start_server()
    try:
        for i in range(3):
            client = PageClient(str(server.make_url("")))
            try:
                first = await client.claim(f"/p/t/{seeded.respondents[i].token}")
                last, _ = await answer_whole_page_survey(client, first, SURVEY, random.Random(i))
                assert last.kind == "end"
            finally:
                await client.close()
        for i in range(3, 6):
            await _chat_citizen(store, seeded.respondents[i].token, str(900 + i), random.Random(i))
    finally:
        await server.close()
        await db.close()
    loaded = load_round(path, "R-MODE")
    assert sorted(loaded.data["mode"]) == ["chat"] * 3 + ["page"] * 3
    a = analyse(loaded.data, loaded.survey, "R-MODE", groupings=("mode",), intervals=False)
    by_mode = a.groups["mode"]
    assert sorted(by_mode.keys["mode"]) == ["chat", "page"]
    assert by_mode.n.sum() == 6 and by_mode.overall.notna().all()
