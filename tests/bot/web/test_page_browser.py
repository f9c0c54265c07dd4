"""The questionnaire page in headless Chromium at a phone's size (390×844), with and without
JavaScript, and as a Telegram Mini App opened from the emulator's chat. Screenshots of the
consent page, a matrix section and the review are written to docs/page/."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from demo.page_client import choose_value
from bot.web.app import PageApp, PageConfig
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.responses import current_answers, get_response_for_respondent
from demo.seed import seed_round
from survey_defs.loader import get_survey

CHROMIUM = os.environ.get("HAILONG_CHROMIUM", "/usr/bin/chromium")
if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
    pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")

PHONE = {"width": 390, "height": 844}
SHOTS = Path(__file__).resolve().parents[3] / "docs" / "page"
SURVEY = get_survey("sipas-households")


@pytest.fixture
async def browser():
    async with playwright_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                    headless=True, args=["--no-sandbox"])
        yield b
        await b.close()


@pytest.fixture
async def site(tmp_path):
    db = await Database.open(str(tmp_path / "page.db"))
    seeded = await seed_round(db, SURVEY, respondents=6)
    store = SqliteConversationStore(db)
    page = PageApp(store, db, PageConfig(key=b"browser-test-key-0123456789"))
    root = web.Application()
    page.mount(root)
    server = TestServer(root, host="127.0.0.1")
    await server.start_server()
    yield db, seeded, str(server.make_url("")).rstrip("/")
    await server.close()
    await db.close()


async def _stored(db: Database, respondent_id: int) -> dict:
    resp = await get_response_for_respondent(db, respondent_id)
    return {} if resp is None else await current_answers(db, resp.id)


async def _until(page, script: str, timeout: float = 10.0) -> None:
    """Poll ``script`` in the page (the page's CSP forbids the eval that wait_for_function uses)."""
    end = time.monotonic() + timeout
    while not await page.evaluate(script):
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {script}")
        await asyncio.sleep(0.02)


async def _settled(page) -> None:
    """Wait until no instant save is in flight (the page script marks it on <html>)."""
    await _until(page, "() => document.documentElement.dataset.saving !== '1'")


async def answer_section(page, rng: random.Random, chosen: dict) -> None:
    """Answer every question shown and still open, as a citizen taps and types."""
    ids = await page.eval_on_selector_all("fieldset.q", "els => els.map(e => e.id.slice(2))")
    for sid in ids:
        if not await page.locator(f"#q-{sid}").count():
            continue                     # gone after an instant save changed what applies
        filled = await page.evaluate(
            """sid => { const els = [...document.getElementsByName(sid)];
                        return els.some(e => (e.type === 'radio' || e.type === 'checkbox') ? e.checked : e.value !== ''); }""",
            sid)
        if filled or sid in chosen:
            continue
        v = choose_value(SURVEY, sid, rng)
        chosen[sid] = v
        kind = await page.get_attribute(f'[name="{sid}"]', "type") or "textarea"
        if kind in ("radio", "checkbox"):
            for x in (v if isinstance(v, list) else [v]):
                await page.locator(f'label.opt:has(input[name="{sid}"][value="{x}"])').click()
        else:
            await page.fill(f'[name="{sid}"]', str(v))
            await page.dispatch_event(f'[name="{sid}"]', "change")
        await _settled(page)


async def answer_all(page, rng: random.Random, chosen: dict, shots: dict[str, str] | None = None) -> None:
    for _ in range(60):
        if await page.locator("#end").count():
            return
        if await page.locator("form#review").count():
            if shots and "review" in shots:
                await page.screenshot(path=str(SHOTS / shots.pop("review")), full_page=False)
            await page.click('button[value="submit"]')
            continue
        assert await page.locator("form#page").count(), (await page.inner_text("main"))[:500]
        section = await page.get_attribute("form#page", "data-section")
        await answer_section(page, rng, chosen)
        if shots and section in shots:
            await page.locator(f"form#page").evaluate("f => window.scrollTo(0, 0)")
            await page.screenshot(path=str(SHOTS / shots.pop(section)), full_page=False)
        await page.click('button[value="next"]')
        await page.wait_for_load_state("domcontentloaded")
    raise AssertionError("the page interview did not end")


async def test_a_citizen_answers_the_whole_questionnaire_in_chromium(browser, site) -> None:
    db, seeded, base = site
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                    locale="vi-VN")
    page = await ctx.new_page()
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(base) else None)
    await page.goto(f"{base}/p/t/{seeded.respondents[0].token}")
    await page.click("button.primary")
    await page.wait_for_selector("form#page")
    await page.screenshot(path=str(SHOTS / "consent.png"))
    chosen: dict = {}
    await answer_all(page, random.Random(11), chosen,
                     {"satisfaction_policy": "matrix.png", "review": "review.png"})
    assert "cảm ơn" in (await page.inner_text("#end")).lower()
    assert await _stored(db, seeded.respondents[0].id) == chosen
    assert external == []
    for name in ("consent.png", "matrix.png", "review.png"):
        assert (SHOTS / name).stat().st_size > 5000
    # the matrix is stacked cards (one fieldset per item, options one below the other), no table
    await ctx.close()


async def test_no_javascript_still_completes_a_response(browser, site) -> None:
    db, seeded, base = site
    ctx = await browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = await ctx.new_page()
    await page.goto(f"{base}/p/t/{seeded.respondents[1].token}")
    await page.click("button.primary")
    chosen: dict = {}
    rng = random.Random(12)
    for _ in range(60):
        if await page.locator("#end").count():
            break
        if await page.locator("form#review").count():
            await page.click('button[value="submit"]')
            continue
        ids = await page.eval_on_selector_all("fieldset.q", "els => els.map(e => e.id.slice(2))")
        for sid in ids:
            if sid in chosen or await page.locator(f'[name="{sid}"]:checked').count():
                continue
            v = choose_value(SURVEY, sid, rng)
            chosen[sid] = v
            kind = await page.get_attribute(f'[name="{sid}"]', "type") or "textarea"
            if kind in ("radio", "checkbox"):
                for x in (v if isinstance(v, list) else [v]):
                    await page.check(f'input[name="{sid}"][value="{x}"]')
            else:
                await page.fill(f'[name="{sid}"]', str(v))
        await page.click('button[value="next"]')
    assert await page.locator("#end").count()
    assert await _stored(db, seeded.respondents[1].id) == chosen
    await ctx.close()


async def test_instant_saves_relevance_and_back_in_the_browser(browser, site) -> None:
    db, seeded, base = site
    rid = seeded.respondents[2].id
    ctx = await browser.new_context(viewport=PHONE)
    page = await ctx.new_page()
    await page.goto(f"{base}/p/t/{seeded.respondents[2].token}")
    await page.click("button.primary")
    await page.locator('label.opt:has(input[name="q_consent"][value="1"])').click()
    await _settled(page)
    assert (await _stored(db, rid)) == {"q_consent": 1}           # saved without pressing anything
    await page.click('button[value="next"]')
    await page.fill('[name="q_age"]', "52")
    for q in ("q_household_rep", "q_literate", "q_legal_capacity"):
        await page.locator(f'label.opt:has(input[name="{q}"][value="1"])').click()
    await _settled(page)
    await page.click('button[value="next"]')
    assert await page.get_attribute("form#page", "data-section") == "profile"
    assert not await page.locator("#q-q_ethnic_other").count()
    await page.locator('label.opt:has(input[name="q_sex"][value="2"])').click()
    await page.locator('label.opt:has(input[name="q_ethnic"][value="2"])').click()
    await _settled(page)
    await page.wait_for_selector("#q-q_ethnic_other")            # opened by the answer, no reload
    await page.fill('[name="q_ethnic_other"]', "Mông")
    await page.dispatch_event('[name="q_ethnic_other"]', "change")
    await _settled(page)
    for q, v in (("q_edu", "2"), ("q_occ", "1")):
        await page.locator(f'label.opt:has(input[name="{q}"][value="{v}"])').click()
        await _settled(page)
    await page.click('button[value="next"]')
    assert await page.get_attribute("form#page", "data-section") == "perception"
    assert (await _stored(db, rid))["q_ethnic_other"] == "Mông"
    await page.click('button[value="back"]')
    assert await page.get_attribute("form#page", "data-section") == "profile"
    await page.locator('label.opt:has(input[name="q_ethnic"][value="1"])').click()
    await _settled(page)
    await page.wait_for_selector("#q-q_ethnic_other", state="detached")
    stored = await _stored(db, rid)
    assert stored["q_ethnic"] == 1 and "q_ethnic_other" not in stored
    await ctx.close()


# ------------------------------------------------------------------ the Mini App from the emulator


@pytest.fixture
async def tg_site(tmp_path):
    from support.processes import free_port
    from support.telegram_world import make_world

    port = free_port()
    world = await make_world(tmp_path, page_public_url=f"http://127.0.0.1:{port}/p")
    page = PageApp(world.store, world.db, PageConfig(key=world.settings.page_key(), telegram_token=world.emu.token,
                                                     public_url=world.settings.page_public_url))
    root = web.Application()
    page.mount(root)
    server = TestServer(root, host="127.0.0.1", port=port)
    await server.start_server()
    yield world
    await server.close()
    await world.close()


async def test_start_in_the_chat_and_finish_in_the_mini_app(browser, tg_site) -> None:
    world = tg_site
    token = world.tokens["sipas-households"][0]
    user = world.emu.user(5151, "Giàng Thị Dua")
    await user.start(token)
    first = await user.wait_for_keyboard()
    url = world.emu.web_app_buttons(5151, first.message_id)[0][1]
    await user.press_button("1. ")
    await user.wait_for_keyboard()
    await user.send_text("47")
    await user.wait_for_keyboard()
    await user.press_button("1. ")                       # represents the household
    await user.wait_for_keyboard()
    ctx = await browser.new_context(viewport=PHONE)
    page = await ctx.new_page()
    await page.goto(world.emu.mini_app_url(user, url))
    await page.wait_for_selector("form#page")            # tg.js posted initData and followed the ticket
    assert await page.get_attribute("form#page", "data-section") == "screening"
    assert await page.input_value('[name="q_age"]') == "47"
    chosen = {"q_consent": 1, "q_age": 47, "q_household_rep": 1}
    await answer_all(page, random.Random(13), chosen)
    rid = world.respondent_ids[token]
    resp = await get_response_for_respondent(world.db, rid)
    assert resp is not None and await current_answers(world.db, resp.id) == chosen
    rows = dict(await world.db.fetchall("SELECT step_id, channel FROM answers WHERE response_id = ?", (resp.id,)))
    assert rows["q_age"] == "telegram" and rows["q_comment"] == "web"
    await ctx.close()


async def test_forged_and_stale_init_data_in_the_browser(browser, tg_site) -> None:
    world = tg_site
    token = world.tokens["sipas-households"][1]
    user = world.emu.user(5252, "Lù Văn Tú")
    await user.start(token)
    first = await user.wait_for_keyboard()
    url = world.emu.web_app_buttons(5252, first.message_id)[0][1]
    ctx = await browser.new_context(viewport=PHONE)
    page = await ctx.new_page()
    good = world.emu.mini_app_url(user, url)
    forged = good.replace("5252", "5253")
    stale = world.emu.mini_app_url(user, url, auth_date=int(time.time()) - 3 * 3600)
    for bad in (forged, stale, urlsplit(good)._replace(fragment="").geturl()):
        await page.goto(bad)
        await _until(page, "() => document.getElementById('tg-status').textContent.includes('Telegram')")
        assert not await page.locator("form#page").count()
    await ctx.close()
