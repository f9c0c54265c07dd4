"""Screenshots of every console page at 1366×768 (office PC) and 390×844 (phone), into this folder.

    .venv/bin/python -m bot.demo --quick --out demo-output        # a whole demo round first
    .venv/bin/python docs/console/make_screenshots.py demo-output/hailong-demo.db

Works on a copy of the database (the demo accounts are added to the copy); headless Chromium
found as in the browser tests (``$HAILONG_CHROMIUM`` or ``/usr/bin/chromium``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hailong.console.app import ConsoleConfig  # noqa: E402
from hailong.console.demo_web import demo_accounts  # noqa: E402
from hailong.console.server import ConsoleServer  # noqa: E402
from storage.db import Database  # noqa: E402

OUT = Path(__file__).parent
SIZES = {"1366": {"width": 1366, "height": 768}, "390": {"width": 390, "height": 844}}


async def shoot(db_path: Path) -> list[Path]:
    from playwright.async_api import async_playwright

    chromium = os.environ.get("HAILONG_CHROMIUM") or "/usr/bin/chromium"
    db = await Database.open(str(db_path))
    login = await demo_accounts(db)
    code = await db.fetchval("SELECT code FROM rounds ORDER BY id LIMIT 1")
    village = await db.fetchval("SELECT unit_id FROM respondents ORDER BY id LIMIT 1")
    server = await ConsoleServer(db, "127.0.0.1", 0, ConsoleConfig(secure_cookies=False, bootstrap=200)).start()
    pages = {"rounds": "/rounds", "progress": f"/rounds/{code}/progress", "reminders": f"/rounds/{code}/reminders",
             "problems": f"/rounds/{code}/problems", "recheck": f"/rounds/{code}/recheck",
             "results": f"/rounds/{code}/results", "invites": "/invites", "unit": f"/rounds/{code}/units/{village}",
             "staff": "/staff", "audit": "/audit"}
    written: list[Path] = []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
            for size, viewport in SIZES.items():
                context = await browser.new_context(viewport=viewport, device_scale_factor=1)
                page = await context.new_page()
                await page.goto(server.url + "/login")
                written.append(OUT / f"login-{size}.png")
                await page.screenshot(path=written[-1])
                await page.fill("input[name=username]", login.username)
                await page.fill("input[name=password]", login.password)
                await page.click("button[type=submit]")
                for name, path in pages.items():
                    await page.goto(server.url + path)
                    await page.wait_for_load_state("networkidle")
                    written.append(OUT / f"{name}-{size}.png")
                    await page.screenshot(path=written[-1])
                await page.goto(server.url + f"/lang/en?next=/rounds/{code}/progress")
                written.append(OUT / f"progress-en-{size}.png")
                await page.screenshot(path=written[-1])
                await context.close()
            await browser.close()
    finally:
        await server.stop()
        await db.close()
    return written


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "demo-output/hailong-demo.db")
    if not src.exists():
        sys.exit(f"no database {src}: run `make demo` first")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "console.db"
        shutil.copy(src, copy)
        for extra in ("-wal", "-shm"):
            if Path(str(src) + extra).exists():
                shutil.copy(str(src) + extra, str(copy) + extra)
        for p in asyncio.run(shoot(copy)):
            print(p)


if __name__ == "__main__":
    main()
