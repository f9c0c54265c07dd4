"""Demo citizens who finish on the questionnaire page: they scan the card's QR code with Telegram,
answer the consent question in the chat, tap the Mini App button of that first question, and
answer the rest section by section on the page (``demo.page_client``: no JavaScript), with the
same mind as every other demo citizen (``demo.citizens.Mind``), so their answers follow the
same propensities. Not part of the product: like the emulators it plays the citizen's side.
"""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import parse_qs, urlsplit

from demo.citizens import CitizenOutcome, CitizenPlan, CitizenSignals, Mind, Screen, think
from demo.page_client import Page, PageClient

__all__ = ["is_page_citizen", "run_page_citizen"]


def is_page_citizen(plan: CitizenPlan) -> bool:
    """About a third of the card (QR) citizens who complete: they take the page."""
    return plan.channel == "telegram" and plan.entry == "qr" and plan.persona == "complete" and plan.seed % 3 == 0


def _screen(field: Any, stem: str) -> Screen:
    labels = tuple(label for _, label, _ in field.options)
    optional = "Không bắt buộc" in field.legend or "Optional" in field.legend
    return Screen(f"{stem}\n{field.legend}".strip(), labels, field.kind == "checkbox", optional)


async def _answer_page(client: PageClient, page: Page, mind: Mind, signals: CitizenSignals, out: CitizenOutcome,
                       pace: Any) -> Page:
    for _ in range(80):
        if page.kind == "review":
            page = await client.submit(page, action="submit")
            continue
        if page.kind != "section":
            return page
        values: dict[str, Any] = {}
        for fid, field in page.fields.items():
            if any(c for _, _, c in field.options) or (field.kind in ("text", "textarea") and field.value):
                continue                                  # answered in the chat already
            d = mind.decide(_screen(field, ""))
            out.questions += 1
            if d.kind == "choose":
                values[fid] = field.options[d.index][0]
            elif d.kind == "multi":
                values[fid] = [field.options[i][0] for i in d.picks]
            elif d.kind == "type":
                values[fid] = d.text
            signals.answered()
        await think(signals, pace)
        page = await client.submit(page, values)
        out.sent += 1
    raise AssertionError("the page interview did not end")


async def run_page_citizen(emu: Any, plan: CitizenPlan, signals: CitizenSignals, timeout: float = 30.0
                           ) -> CitizenOutcome:
    """Chat first (the card's link, consent), then the Mini App to the end. Never raises."""
    out = CitizenOutcome(plan.respondent_id, "telegram", plan.entry, plan.persona)
    client: PageClient | None = None
    try:
        mind = Mind(plan)
        pace = random.Random(plan.seed ^ 0x9A6E)
        user = emu.user(int(plan.user_id), "Người dân", lang="vi")
        await user.start(plan.token)
        out.sent += 1
        first = await user.wait_for_keyboard(timeout)
        apps = emu.web_app_buttons(user.chat_id, first.message_id)
        if not apps:
            raise LookupError("no Mini App button on the first question")
        await user.press_button("1. ")                    # consent, in the chat
        out.sent += 1
        out.questions += 1
        signals.answered()
        await user.wait_for_keyboard(timeout)
        url = emu.mini_app_url(user, apps[0][1])
        split = urlsplit(url)
        client = PageClient(f"{split.scheme}://{split.netloc}")
        await client.get(split.path)                      # the Mini App's bootstrap page
        async with client.session.post(client.base_url + split.path,
                                       data={"initData": parse_qs(split.fragment)["tgWebAppData"][0]}) as resp:
            body = await resp.json()
        if "url" not in body:
            raise RuntimeError(f"Mini App refused: {body.get('error', '')[:80]}")
        page = await _answer_page(client, await client.get(body["url"]), mind, signals, out, pace)
        out.result = "completed" if page.kind == "end" and "cảm ơn" in page.text.lower() else "error"
        if out.result == "error":
            out.error = f"page ended on {page.kind}: {page.text[:120]}"
    except Exception as exc:  # noqa: BLE001 - reported, never raised: one citizen must not stop the round
        out.result, out.error = "error", f"{type(exc).__name__}: {exc}"[:300]
    finally:
        if client is not None:
            await client.close()
    signals.settled(out)
    signals.finished(out)
    return out
