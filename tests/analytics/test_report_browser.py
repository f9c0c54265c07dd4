"""The HTML report in headless Chromium (system /usr/bin/chromium, Playwright): at A4 width nothing
overflows sideways, on screen and in print; the summary fits on the first printed page; every
chart image loads and fits the text width. Screenshots are kept in the test's tmp directory."""

from __future__ import annotations

import pytest

from analytics.report import write_report
from support.report import chromium_or_skip, report_analysis

A4_SCREEN = {"width": 794, "height": 1123}          # 210 × 297 mm at 96 px per inch
A4_PRINT_TEXT = {"width": 680, "height": 1001}      # A4 less the report's @page margins (15 mm, 16 mm)

OVERFLOW_JS = """(w) => { const out = [];
  for (const e of document.querySelectorAll('body *')) {
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 0.5) out.push(e.tagName + ' in #' + ((e.closest('section') || {}).id || '')
        + ': ' + (e.textContent || '').slice(0, 50));
  }
  return {scroll: document.documentElement.scrollWidth, offenders: out.slice(0, 5)}; }"""


@pytest.fixture(scope="module")
def report_path(tmp_path_factory):
    return write_report(report_analysis(), tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def browser():
    path = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.mark.parametrize("media, viewport", [("screen", A4_SCREEN), ("print", A4_PRINT_TEXT)])
def test_no_horizontal_overflow_at_a4_width(browser, report_path, tmp_path, media, viewport) -> None:
    page = browser.new_page(viewport=viewport)
    try:
        page.emulate_media(media=media)
        page.goto(report_path.as_uri())
        res = page.evaluate(OVERFLOW_JS, viewport["width"])
        assert res["scroll"] <= viewport["width"], res
        assert not res["offenders"], res
        shot = tmp_path / f"report-{media}.png"
        page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 20_000                                 # something was drawn
    finally:
        page.close()


def test_summary_fits_the_first_printed_page(browser, report_path) -> None:
    page = browser.new_page(viewport=A4_PRINT_TEXT)
    try:
        page.emulate_media(media="print")
        page.goto(report_path.as_uri())
        bottom = page.evaluate("document.getElementById('tom-tat').getBoundingClientRect().bottom")
        assert 300 < bottom <= A4_PRINT_TEXT["height"], bottom
        # every later section starts on a new printed page
        breaks = page.evaluate("""Array.from(document.querySelectorAll('section')).slice(1)
            .map(s => getComputedStyle(s).breakBefore)""")
        assert breaks and all(b == "page" for b in breaks), breaks
        pdf = page.pdf(format="A4")
        assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 5
    finally:
        page.close()


def test_every_chart_loads_and_fits(browser, report_path) -> None:
    page = browser.new_page(viewport=A4_SCREEN)
    try:
        page.goto(report_path.as_uri())
        imgs = page.evaluate("""Array.from(document.images).map(i => ({w: i.naturalWidth, shown: i.clientWidth,
            right: i.getBoundingClientRect().right, alt: i.alt}))""")
        assert len(imgs) >= 15
        for i in imgs:
            assert i["w"] > 300 and i["alt"], i
            assert i["right"] <= A4_SCREEN["width"], i
        text = page.inner_text("body")
        assert text.index("Chỉ số hài lòng chung") < text.index("1. Chỉ số theo trụ cột")
    finally:
        page.close()
