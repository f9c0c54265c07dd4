"""Screenshot the first screen of an HTML report at A4 width (794 px) in the system Chromium.

    .venv/bin/python docs/report/screenshot.py demo-output/report/index.html docs/report/after-first-page.png

Needs Playwright (a dev dependency) and /usr/bin/chromium (``apt-get install chromium``). Prints the
page's scroll width: a report that fits A4 prints 794 or less.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright


def main(src: str, dst: str) -> int:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 794, "height": 1123})
            page.goto(Path(src).resolve().as_uri())
            print("scroll width:", page.evaluate("document.documentElement.scrollWidth"))
            page.screenshot(path=dst)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        raise SystemExit(2)
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
