"""The console in headless Chromium (Playwright for Python driving the system's Chromium).

Chromium is found at ``$HAILONG_CHROMIUM`` or ``/usr/bin/chromium``; without it these tests skip
with one line saying why, unless ``HAILONG_REQUIRE_BROWSER=1`` (set by .ci/run, which installs
Chromium from Debian's packages), where a missing browser fails them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from hailong.console.app import ConsoleConfig
from hailong.console.server import ConsoleServer
from storage.db import Database
from support.console_db import PASSWORD, ROUND, ConsoleDb, build, citizens_answer


def chromium_path() -> str | None:
    for candidate in (os.environ.get("HAILONG_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


CHROMIUM = chromium_path()
if CHROMIUM is None:
    if os.environ.get("HAILONG_REQUIRE_BROWSER") == "1":
        raise RuntimeError("HAILONG_REQUIRE_BROWSER=1 but no Chromium at $HAILONG_CHROMIUM or /usr/bin/chromium")
    pytest.skip("no Chromium (set HAILONG_CHROMIUM or apt-get install chromium)", allow_module_level=True)

from playwright.async_api import Page, async_playwright, expect  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> ConsoleDb:
    return build(tmp_path_factory.mktemp("browser") / "base.db")


@pytest.fixture
async def console(built: ConsoleDb, tmp_path: Path) -> Any:
    path = tmp_path / "console.db"
    shutil.copy(built.path, path)
    db = await Database.open(str(path))
    server = await ConsoleServer(db, "127.0.0.1", 0, ConsoleConfig(poll_s=1, bootstrap=60)).start()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=["--no-sandbox", "--disable-gpu"])
        context = await browser.new_context(accept_downloads=True, viewport={"width": 1366, "height": 768})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield page, server, db, built, errors
        finally:
            await context.close()
            await browser.close()
            await server.stop()
            await db.close()


async def log_in(page: Page, url: str, user: str) -> None:
    await page.goto(url + "/login")
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")


async def test_log_in_and_out(console: Any) -> None:
    page, server, _db, _b, errors = console
    await log_in(page, server.url, "nobody")
    await expect(page.locator("[role=alert]")).to_contain_text("Sai tên đăng nhập")
    await log_in(page, server.url, "admin")
    await expect(page).to_have_url(server.url + "/rounds")
    await expect(page.locator("table")).to_contain_text(ROUND)
    await page.click("text=Đăng xuất")
    await expect(page).to_have_url(server.url + "/login")
    await page.goto(server.url + "/rounds")
    await expect(page).to_have_url(f"{server.url}/login?next=/rounds")
    assert not errors


async def test_a_commune_officer_sees_only_their_commune_and_403_on_another(console: Any) -> None:
    page, server, _db, built, _errors = console
    await log_in(page, server.url, "xa11")
    await page.goto(f"{server.url}/rounds/{ROUND}/progress")
    units = page.locator("#units")
    await expect(units).to_contain_text("Xã 1.1")
    await expect(units).not_to_contain_text("Xã 2.1")
    other = built.unit_ids["D02C01V01"]
    resp = await page.goto(f"{server.url}/rounds/{ROUND}/units/{other}")
    assert resp is not None and resp.status == 403
    await expect(page.locator("main")).to_contain_text("không có quyền")


async def test_record_a_recheck_outcome(console: Any) -> None:
    page, server, db, _b, _errors = console
    await log_in(page, server.url, "xa11")
    await page.goto(f"{server.url}/rounds/{ROUND}/recheck")
    row = page.locator("#worklist tbody tr").first
    await row.locator("select[name=outcome]").select_option("not_confirmed")
    await row.locator("input[name=note]").fill("Hộ cho biết không ai trả lời phiếu")
    await row.locator("button[type=submit]").click()
    await expect(page.locator("[role=status]")).to_contain_text("Đã ghi kết quả phúc tra")
    got = await db.fetchone("SELECT outcome, note, recorded_by FROM recheck WHERE outcome IS NOT NULL")
    assert tuple(got) == ("not_confirmed", "Hộ cho biết không ai trả lời phiếu", "web:xa11")


async def test_download_an_xlsx_export_and_open_it(console: Any, tmp_path: Path) -> None:
    page, server, _db, _b, _errors = console
    await log_in(page, server.url, "analyst")
    await page.goto(f"{server.url}/rounds/{ROUND}/results")
    headline = await page.locator("#headline").inner_text()
    assert headline.endswith("%")
    async with page.expect_download() as info:
        await page.click("#dl-xlsx")
    download = await info.value
    target = tmp_path / download.suggested_filename
    await download.save_as(target)
    wb = openpyxl.load_workbook(target, read_only=True)
    assert any("thành phần" in s.lower() or "component" in s.lower() for s in wb.sheetnames), wb.sheetnames
    assert target.suffix == ".xlsx"


async def test_a_post_without_the_csrf_token_is_refused(console: Any) -> None:
    page, server, db, _b, _errors = console
    await log_in(page, server.url, "admin")
    await page.goto(f"{server.url}/rounds")
    status = await page.evaluate(
        """async (url) => { const r = await fetch(url, {method: 'POST', body: new URLSearchParams({reason: 'x'}),
             credentials: 'same-origin'}); return r.status; }""", f"{server.url}/rounds/{ROUND}/close")
    assert status == 403
    assert await db.fetchval("SELECT status FROM rounds WHERE code = ?", (ROUND,)) == "open"
    # the same request from the page's own form (with its token) goes through
    await page.fill("input[name=reason]", "kết thúc")
    await page.click("text=Đóng đợt")
    await expect(page.locator("table")).to_contain_text("đã đóng")


async def test_the_progress_page_updates_while_citizens_answer(console: Any) -> None:
    page, server, db, _b, errors = console
    await log_in(page, server.url, "huyen1")
    await page.goto(f"{server.url}/rounds/{ROUND}/progress")
    kpi = page.locator("#kpi-complete")
    before = int(await kpi.inner_text())
    tokens = [r[0] for r in await db.fetchall(
        "SELECT p.token FROM respondents p JOIN units u ON u.id = p.unit_id WHERE p.status = 'invited'"
        " AND u.code LIKE 'D01%' ORDER BY p.id LIMIT 3")]
    assert tokens
    done = await citizens_answer(db, tokens)
    assert done == len(tokens)
    await expect(kpi).to_have_text(str(before + done), timeout=10_000)
    assert page.url.endswith("/progress") and not errors
