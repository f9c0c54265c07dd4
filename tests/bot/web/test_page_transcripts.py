"""The transcript files played against the questionnaire page: the same expected answers.

A page shows a section, not a message, so the replies of a chat transcript cannot be compared
one by one; what must be the same is what is stored. Each transcript input is played on the
pure engine (the chat's view) and turned into what a person does on the page for it: the
answer the engine took is picked or typed in its field and saved, "back" and "sửa" are an
edit of that question, "bỏ qua" the skip of an optional one, a language switch the page's,
"gửi" the submit button. Inputs the page has no control for (pause, help, stop) are left out,
and a transcript that stops is compared on its answers only. At the end the page's stored
answers equal the engine's and the transcript's own ``answers`` and status.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import engine
from engine.types import AnswerSet, Command, Start
from engine.normalize import parse_typed
from demo.page_client import PageClient
from bot.web.app import PageApp, PageConfig
from storage.conversations import SqliteConversationStore
from storage.db import Database
from demo.seed import seed_round
from support.transcripts import FILES, load_transcript, survey_of, to_input

PAGE_LESS = {"pause", "help", "stop", "resume", "review"}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_transcript_on_the_page(path: Path, tmp_path: Path) -> None:
    t = load_transcript(path)
    survey = survey_of(t["survey"])
    db = await Database.open(str(tmp_path / "t.db"))
    seeded = await seed_round(db, survey, respondents=1)
    store = SqliteConversationStore(db)
    app = PageApp(store, db, PageConfig(key=b"transcript-page-key-012345", posts_per_minute=100_000))
    root = web.Application()
    app.mount(root)
    server = TestServer(root, host="127.0.0.1")
    await server.start_server()
    client = PageClient(str(server.make_url("")))
    sim = engine.new_state(survey, t.get("lang", "vi"))
    now = time.time()
    stopped = False
    try:
        page = await client.claim(f"/p/t/{seeded.respondents[0].token}")
        ticket_url = page.url
        if t.get("lang", "vi") != "vi":
            page = await client.submit(page, action=f"lang:{t['lang']}")
        for st in t["steps"]:
            for _ in range(int(st.get("times", 1))):
                inp = to_input(st["send"])
                before = sim
                if isinstance(inp, Start) or (hasattr(inp, "text") and parse_typed(inp.text) == Start()):
                    inp = Start()
                r = engine.step(survey, sim, inp, now)
                sim = r.state
                cmd = inp if isinstance(inp, Command) else None
                if cmd is None and hasattr(inp, "text"):
                    typed = parse_typed(inp.text, free_text=before.current is not None and
                                        engine.compile_survey(survey).by_id[before.current].type == "text"
                                        if before.status == "active" and before.current else False)
                    cmd = typed if isinstance(typed, Command) else None
                page = await client.get(ticket_url)
                if isinstance(inp, Start):
                    if before.status == "new":
                        page = await client.submit(page, action="start")
                elif cmd is not None:
                    if cmd.name in PAGE_LESS:
                        stopped = stopped or cmd.name == "stop"
                        sim = before if cmd.name != "stop" else sim
                        continue
                    if cmd.name in ("back", "edit") and sim.current != before.current and sim.current:
                        page = await client.submit(page, action=f"edit:{sim.current}")
                    elif cmd.name == "lang":
                        page = await client.submit(page, action=f"lang:{sim.lang}")
                    elif cmd.name in ("submit", "skip") and sim is not before:
                        page = await client.submit(page, action=cmd.name)
                else:
                    sets = [e for e in r.events if isinstance(e, AnswerSet) and e.step_id == before.current]
                    if sets:
                        v = sets[0].value
                        value = [str(x) for x in v] if isinstance(v, list) else str(v)
                        page = await client.submit(page, {before.current: value}, instant=True)
        session = await store.session_for_chat("web", _browser(client))
        assert session is not None
        stored = session.state
    finally:
        await client.close()
        await server.close()
        await db.close()
    if not stopped and "answers" in t:
        assert stored.answers == t["answers"]
    expected = dict(sim.answers)
    assert expected or stopped or t.get("status") == "ended", f"{path.name}: nothing answered"
    assert stored.answers == expected, f"{path.name}: page {stored.answers} != engine {expected}"
    if not stopped and "status" in t and not any(isinstance(to_input(s["send"]), Command)
                                                 and to_input(s["send"]).name in PAGE_LESS for s in t["steps"]):
        assert stored.status == t["status"]


def _browser(client: PageClient) -> str:
    for cookie in client.session.cookie_jar:
        if cookie.key == "hl_b":
            return cookie.value
    raise AssertionError("no browser cookie")
