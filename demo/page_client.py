"""A scripted browser for the questionnaire page, without JavaScript (tests, benchmark, demo).

It does what a citizen's phone does with the page's HTML and nothing more: GET a URL, read the
form (hidden fields, radio buttons, checkboxes, text fields, the buttons' actions), POST it with
the chosen values and a button's ``action``, follow the redirect, keep cookies. So a test that
passes through it proves the page works without JavaScript. Not part of the product: like the
chat emulators it plays the citizen's side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import aiohttp

__all__ = ["PageClient", "Page", "Field"]


@dataclass(slots=True)
class Field:
    """One question on the page: its kind and its options (value, label, checked)."""

    id: str
    kind: str                                  # radio, checkbox, text, textarea
    legend: str = ""
    options: list[tuple[str, str, bool]] = field(default_factory=list)
    value: str = ""
    error: str = ""


@dataclass(slots=True)
class Page:
    url: str
    status: int
    html: str
    kind: str                                  # section, review, end, message, claim, tg
    section: str | None = None
    hidden: dict[str, str] = field(default_factory=dict)
    fields: dict[str, Field] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    text: str = ""                             # the visible text of <main>
    form_action: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def field_ids(self) -> list[str]:
        return list(self.fields)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.p = Page("", 0, "", "message")
        self._fs: Field | None = None
        self._label_for: tuple[Field, int] | None = None
        self._in: list[str] = []
        self._classes: list[str] = []
        self._textarea: Field | None = None
        self._in_main = False
        self._chunks: list[str] = []
        self._capture: str | None = None
        self._buf: list[str] = []

    def handle_starttag(self, tag: str, attrs_l: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs_l}
        cls = a.get("class", "")
        p = self.p
        if tag == "main":
            self._in_main = True
        if tag == "form":
            p.form_action = a.get("action")
            if a.get("id") == "page":
                p.kind, p.section = "section", a.get("data-section")
            elif a.get("id") == "review":
                p.kind = "review"
            elif p.kind == "message":
                p.kind = "claim"
        elif tag == "div" and a.get("id") == "end":
            p.kind = "end"
        elif tag == "div" and a.get("id") == "tg":
            p.kind = "tg"
        elif tag == "fieldset" and a.get("id", "").startswith("q-"):
            self._fs = Field(a["id"][2:], "")
            p.fields[self._fs.id] = self._fs
        elif tag == "legend" and self._fs is not None:
            self._capture, self._buf = "legend", []
        elif tag == "p" and "err" in cls.split() and self._fs is not None:
            self._capture, self._buf = "err", []
        elif tag == "p" and "notice" in cls.split():
            self._capture, self._buf = "notice", []
        elif tag == "input":
            t, name = a.get("type", "text"), a.get("name", "")
            if t == "hidden":
                p.hidden[name] = a.get("value", "")
            elif t in ("radio", "checkbox") and self._fs is not None:
                self._fs.kind = t
                self._fs.options.append((a.get("value", ""), "", "checked" in a))
                self._label_for = (self._fs, len(self._fs.options) - 1)
                self._capture, self._buf = "option", []
            elif self._fs is not None:
                self._fs.kind, self._fs.value = "text", a.get("value", "")
        elif tag == "textarea" and self._fs is not None:
            self._fs.kind = "textarea"
            self._textarea = self._fs
            self._capture, self._buf = "textarea", []
        elif tag == "button" and a.get("name") == "action":
            p.actions.append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self._in_main = False
        if tag == "fieldset":
            self._fs = None
        if self._capture == "legend" and tag == "legend" and self._fs is not None:
            self._fs.legend = "".join(self._buf).strip()
            self._capture = None
        elif self._capture == "err" and tag == "p" and self._fs is not None:
            self._fs.error = "".join(self._buf).strip()
            self._capture = None
        elif self._capture == "notice" and tag == "p":
            self.p.notices.append("".join(self._buf).strip())
            self._capture = None
        elif self._capture == "option" and tag == "label" and self._label_for is not None:
            fs, i = self._label_for
            v, _, c = fs.options[i]
            fs.options[i] = (v, "".join(self._buf).strip(), c)
            self._capture, self._label_for = None, None
        elif self._capture == "textarea" and tag == "textarea" and self._textarea is not None:
            self._textarea.value = "".join(self._buf)
            self._capture, self._textarea = None, None

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self._buf.append(data)
        if self._in_main:
            self._chunks.append(data)


def parse_page(url: str, status: int, html: str, headers: dict[str, str] | None = None) -> Page:
    parser = _Parser()
    parser.feed(html)
    page = parser.p
    page.url, page.status, page.html = url, status, html
    page.text = " ".join(" ".join(parser._chunks).split())
    page.headers = dict(headers or {})
    return page


class PageClient:
    """One citizen's browser (its own cookie jar)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.bytes_received = 0
        self.requests = 0

    async def close(self) -> None:
        await self.session.close()

    def _abs(self, url: str) -> str:
        return url if url.startswith("http") else self.base_url + url

    async def _read(self, resp: aiohttp.ClientResponse) -> Page:
        body = await resp.read()
        self.bytes_received += len(body)
        self.requests += 1
        return parse_page(str(resp.url), resp.status, body.decode("utf-8", "replace"), dict(resp.headers))

    async def get(self, url: str) -> Page:
        async with self.session.get(self._abs(url)) as resp:
            return await self._read(resp)

    async def post(self, url: str, data: list[tuple[str, str]], headers: dict[str, str] | None = None) -> Page:
        async with self.session.post(self._abs(url), data=data, headers=headers or {}) as resp:
            return await self._read(resp)

    async def submit(self, page: Page, values: dict[str, Any] | None = None, action: str = "next",
                     instant: bool = False) -> Page:
        """POST the page's form: its hidden fields, ``values`` (step id → value or list), and the
        button ``action`` (as a browser sends the pressed button's name and value)."""
        assert page.form_action, f"no form on {page.kind} page: {page.text[:200]}"
        data: list[tuple[str, str]] = list(page.hidden.items())
        values = dict(values or {})
        for fid, f in page.fields.items():
            if fid in values:
                v = values[fid]
                for one in (v if isinstance(v, list) else [v]):
                    data.append((fid, str(one)))
            elif f.kind in ("radio", "checkbox"):
                data += [(fid, v) for v, _, checked in f.options if checked]
            elif f.kind in ("text", "textarea"):
                data.append((fid, f.value))
        if not instant:
            data.append(("action", action))
        else:
            data.append(("action", "save"))
        return await self.post(page.form_action, data, {"X-Hailong-Save": "1"} if instant else None)

    async def claim(self, token_url: str) -> Page:
        """Open an invitation link and press its button."""
        landing = await self.get(token_url)
        assert landing.kind == "claim", landing.text[:300]
        return await self.post(landing.form_action or token_url, list(landing.hidden.items()))


# ------------------------------------------------------------------ a scripted citizen


def choose_value(survey: Any, step_id: str, rng: Any) -> Any:
    """A plausible answer to ``step_id`` that keeps the interview going (never the value a
    screening rule ends on): as the chat's scripted citizen chooses."""
    from engine import compile_survey
    from survey_defs.schema import Compare, Equals

    sp = compile_survey(survey).by_id[step_id]
    q = sp.question
    if sp.type == "number":
        lo = q.min if q.min is not None else 0
        for r in survey.end_rules:
            if isinstance(r.when, Compare) and r.when.lt is not None and r.when.lt[0] == step_id:
                lo = max(lo, int(r.when.lt[1]))
        hi = q.max if q.max is not None else lo + 60
        return max(lo, min(hi, 30 + rng.randint(0, 30)))
    if sp.type == "text":
        return rng.choice(["Không có ý kiến", "Cán bộ nhiệt tình, thủ tục nhanh.", "Cần thêm ghế ngồi 🙏"])
    if sp.type == "multi":
        picks = sorted(rng.sample(range(len(sp.values)), k=min(len(sp.values), 1 + rng.randint(0, 1))))
        if any(p in sp.exclusive for p in picks):
            picks = [picks[0]]
        return [sp.values[p] for p in picks]
    avoid = {r.when.equals[1] for r in survey.end_rules
             if isinstance(r.when, Equals) and r.when.equals[0] == step_id}
    allowed = [v for v in sp.values if v not in avoid]
    return rng.choice(allowed)


async def answer_whole_page_survey(client: PageClient, page: Page, survey: Any, rng: Any,
                                   answers: dict[str, Any] | None = None, submit: bool = True,
                                   max_pages: int = 200) -> tuple[Page, dict[str, Any]]:
    """Answer every question the pages show, section after section, then submit at the review.

    Returns the last page and what was chosen (step id → value), the expected stored answers.
    Fields already answered (a response begun elsewhere) keep their answers.
    """
    chosen: dict[str, Any] = dict(answers or {})
    for _ in range(max_pages):
        if page.kind == "review":
            if not submit:
                return page, chosen
            page = await client.submit(page, action="submit")
            continue
        if page.kind != "section":
            return page, chosen
        values: dict[str, Any] = {}
        for fid, f in page.fields.items():
            checked = [v for v, _, c in f.options if c]
            if (checked or (f.kind in ("text", "textarea") and f.value)) and fid in chosen:
                continue
            if checked or (f.kind in ("text", "textarea") and f.value):
                continue          # answered before this citizen's script started
            v = choose_value(survey, fid, rng)
            chosen[fid] = v
            values[fid] = [str(x) for x in v] if isinstance(v, list) else str(v)
        page = await client.submit(page, values)
    raise AssertionError("the page interview did not end")
