"""Zalo has no buttons: with the first question the bot sends a link to the questionnaire page
that speaks for this Zalo chat (no second claim, no hand-over); the citizen finishes there, and a
link of another chat, or one whose invitation moved, is refused."""

from __future__ import annotations

import asyncio
import random
import re

from aiohttp import web
from aiohttp.test_utils import TestServer

from demo.page_client import PageClient, answer_whole_page_survey
from bot.web.app import PageApp, PageConfig
from storage.responses import current_answers, get_response_for_respondent
from survey_defs.loader import get_survey
from support.processes import free_port
from support.zalo_world import _close, _world


async def _until(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.02)


async def test_a_zalo_citizen_finishes_on_the_page_from_the_chats_link(tmp_path) -> None:
    w = await _world(tmp_path)
    port = free_port()
    page = PageApp(w.store, w.db, PageConfig(key=b"zalo-page-key-0123456789",
                                             public_url=f"http://127.0.0.1:{port}/p"))
    w.channel.page_link = page.chat_link
    root = web.Application()
    page.mount(root)
    server = TestServer(root, host="127.0.0.1", port=port)
    await server.start_server()
    stop = asyncio.Event()
    task = asyncio.create_task(w.channel.run_polling(stop, poll_timeout=1))
    client = PageClient(f"http://127.0.0.1:{port}")
    try:
        user = w.emu.user("zl-page", "Lò Văn Pọm")
        user.send_text(w.code(0))
        await _until(lambda: any("/p/s/" in t for t in user.received), 10)
        link = next(re.search(r"http://\S+/p/s/\S+", t).group(0) for t in user.received if "/p/s/" in t)
        await _until(lambda: any("tuổi" in t for t in user.received) or len(user.received) >= 3, 10)
        seen = len(user.received)
        user.send_text("1")                                   # consent, typed in Zalo
        await _until(lambda: any("tuổi" in t for t in user.received[seen:]), 10)   # the age question
        first = await client.get(link)
        assert first.kind == "section" and first.section == "screening"
        last, chosen = await answer_whole_page_survey(client, first, get_survey("sipas-households"),
                                                      random.Random(4), answers={"q_consent": 1})
        assert last.kind == "end"
        row = await get_response_for_respondent(w.db, w.respondents[0].id)
        assert row is not None and await current_answers(w.db, row.id) == chosen
        # the link names this chat: once the invitation moves to another Zalo chat, it is dead
        other = w.emu.user("zl-other", "Người khác")
        other.send_text(w.code(1))
        await _until(lambda: any("/p/s/" in t for t in other.received), 10)
        link2 = next(re.search(r"http://\S+/p/s/\S+", t).group(0) for t in other.received if "/p/s/" in t)
        thief = w.emu.user("zl-thief", "Kẻ lạ")
        thief.send_text(w.code(1))                            # no answers yet: the binding moves at once
        await _until(lambda: len(thief.received) >= 2, 10)
        gone = await client.get(link2)
        assert gone.status == 410 and not gone.fields
    finally:
        await client.close()
        stop.set()
        await asyncio.wait_for(task, 5)
        await server.close()
        await _close(w)
