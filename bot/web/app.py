"""The questionnaire page: an aiohttp app mounted under a path prefix of ``hailong run``.

Routes (under the prefix, ``/p`` by default):

* ``GET /s/<ticket>``: the page the engine is at (a section, the review, or the end);
  ``POST /s/<ticket>``: a section's answers or an action (back, edit, submit, language). Works
  without JavaScript (forms POST, then redirect); ``static/page.js`` adds instant saves.
* ``GET|POST /t/<token>``: an invitation link (card QR code, SMS, a Zalo message): the POST is a
  claim through the conversation store, counted and limited like a chat's
  (``storage.claims``), by this browser (cookie ``hl_b``) on channel ``web``; the hand-over rule
  of docs/claim_texts.md applies unchanged.
* ``GET|POST /tg``: Telegram Mini App entry: the bootstrap page posts ``initData``, checked as
  Telegram documents it (``bot.web.initdata``), and gets a ticket for the chat's respondent.

Every answer goes through the pure engine and one ``commit_step`` per submission with the
channel ``web`` (so each answer records the mode ``page``); nothing here decides whether an
answer is valid, required or relevant (``bot.web.form``). Headers on every response: a strict
CSP (no inline script, nothing from elsewhere), ``Referrer-Policy: no-referrer`` (tickets and
tokens are in URLs), ``Cache-Control: no-store``, ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from engine import claim_texts
from engine.types import Command, Start, State
from bot.conversation import Conversation, answers_in
from bot.web.form import FormResult, apply_section, clean_form, go_back, run_inputs, section_of
from bot.web.initdata import MAX_INIT_DATA, InitDataError, validate_init_data
from bot.web.limits import SlidingWindow
from bot.web.texts import BILINGUAL, PAGE, page_text
from bot.web.tickets import BROWSER_ID_RE, Ticket, TicketSigner, new_browser_id
from bot.web.view import applicable_sections, end_text, review_view, section_view
from storage.api import ConversationStore, Session, is_unavailable
from storage.credentials import read_credential
from storage.respondents import chats_for
from survey_defs.schema import Survey

log = logging.getLogger("hailong.page")

CHANNEL = "web"
BROWSER_COOKIE = "hl_b"
MAX_FORM_BYTES = 256 * 1024
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,40}(?:\.[0-9]{1,6})?$")
_STATIC = {"page.css": "text/css", "page.js": "text/javascript", "tg.js": "text/javascript"}
TELEGRAM_FRAMES = "https://web.telegram.org https://*.telegram.org"


@dataclass(frozen=True, slots=True)
class PageConfig:
    """How the page runs. ``key``: signs tickets and CSRF tokens (keep it across restarts so
    links in chats stay valid); ``telegram_token``: checks Mini App ``initData`` (None: no Mini
    App); ``public_url``: where citizens reach the prefix (links in chats)."""

    key: bytes
    prefix: str = "/p"
    telegram_token: str | None = None
    public_url: str | None = None
    init_data_max_age_s: float = 3600.0
    ticket_ttl_s: float = 30 * 86_400.0
    failures_per_window: int = 20
    failure_window_s: float = 600.0
    posts_per_minute: int = 300


def _load_static() -> dict[str, tuple[bytes, str, str]]:
    out = {}
    root = Path(__file__).with_name("static")
    for name, ctype in _STATIC.items():
        body = (root / name).read_bytes()
        out[name] = (body, ctype, hashlib.sha256(body).hexdigest()[:10])
    return out


_ENV = Environment(loader=PackageLoader("bot.web", "templates"), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True)


class PageApp:
    """The page over a conversation store (``storage.api.ConversationStore`` with its ``db``)."""

    def __init__(self, store: ConversationStore, db: Any, config: PageConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.db = db
        self.config = config
        self.clock = clock
        self.signer = TicketSigner(config.key)
        self.static = _load_static()
        # The chats' pipeline (bot/conversation.py): their lock and their commit, so a page
        # and a chat speaking for one respondent take turns, across workers on PostgreSQL.
        self.conversation = Conversation(store, CHANNEL, clock=clock)
        self.failures = SlidingWindow(config.failures_per_window, config.failure_window_s)
        self.posts = SlidingWindow(config.posts_per_minute, 60.0)
        self.stats: dict[str, int] = {"pages": 0, "submissions": 0, "commits": 0, "answers": 0, "refused": 0,
                                      "forged_init_data": 0, "duplicates": 0}

    # ------------------------------------------------------------------ app

    def app(self) -> web.Application:
        """The page's routes (relative to the prefix it is mounted at)."""
        app = web.Application(middlewares=[_headers], client_max_size=MAX_FORM_BYTES)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/s/{ticket}", self._get_page)
        app.router.add_post("/s/{ticket}", self._post_page)
        app.router.add_get("/t/{token}", self._get_invite)
        app.router.add_post("/t/{token}", self._post_invite)
        app.router.add_get("/tg", self._get_tg)
        app.router.add_post("/tg", self._post_tg)
        return app

    def mount(self, root: web.Application) -> None:
        """Serve the page under ``config.prefix`` of ``root`` (the webhook server's app)."""
        root.add_subapp(self.config.prefix, self.app())

    def chat_link(self, channel: str, chat_id: str, respondent_id: int) -> str | None:
        """The page link a bot sends inside a bound chat (the page then speaks for that chat)."""
        if not self.config.public_url:
            return None
        ticket = self.signer.make("c", respondent_id, self.signer.chat_digest(channel, str(chat_id)), self.clock())
        return f"{self.config.public_url.rstrip('/')}/s/{ticket}"

    def miniapp_url(self) -> str | None:
        """The URL of the Telegram Mini App button (None when the page has no public URL)."""
        return f"{self.config.public_url.rstrip('/')}/tg" if self.config.public_url else None

    # ------------------------------------------------------------------ helpers

    def _client(self, request: web.Request) -> str:
        return request.remote or "?"

    def _refuse(self, request: web.Request, key: str, status: int = 403, reason: str = "") -> web.Response:
        """A bilingual refusal; counted against the client address (too many: 429)."""
        self.stats["refused"] += 1
        self.failures.hit(self._client(request), self.clock())
        if reason:
            log.info("page refused (%s): %s", key, reason)
        return self._message(BILINGUAL[key], status)

    def _message(self, text: str, status: int = 200) -> web.Response:
        html = _ENV.get_template("message.html").render(text=text, **self._common("vi"))
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    def _limited(self, request: web.Request) -> web.Response | None:
        wait = self.failures.blocked(self._client(request), self.clock())
        if wait:
            resp = self._message(BILINGUAL["too_many"], 429)
            resp.headers["Retry-After"] = str(int(wait) + 1)
            return resp
        return None

    def _common(self, lang: str) -> dict[str, Any]:
        p = self.config.prefix
        return {"lang": lang, "prefix": p, "css": f"{p}/static/page.css?v={self.static['page.css'][2]}",
                "js": f"{p}/static/page.js?v={self.static['page.js'][2]}",
                "tgjs": f"{p}/static/tg.js?v={self.static['tg.js'][2]}",
                "t": lambda key, **kw: page_text(key, lang, **kw), "doc_title": PAGE["doc_title"].get(lang, "")}

    async def _survey(self, survey_hash: str) -> Survey:
        return await self.conversation.survey(survey_hash)

    async def _resolve(self, request: web.Request, ticket_text: str) -> tuple[Ticket, Session] | web.Response:
        """The session a ticket speaks for, or the refusal to send."""
        ticket = self.signer.read(ticket_text, self.clock(), self.config.ticket_ttl_s)
        if ticket is None:
            return self._refuse(request, "bad_link", 403, "bad or expired ticket")
        if ticket.kind == "w":
            bid = request.cookies.get(BROWSER_COOKIE, "")
            if not BROWSER_ID_RE.match(bid) or not secrets.compare_digest(
                    self.signer.chat_digest(CHANNEL, bid), ticket.chat_digest):
                return self._refuse(request, "bad_link", 403, "ticket of another browser")
            chat: tuple[str, str] | None = (CHANNEL, bid)
        else:
            chats = (await chats_for(self.db, [ticket.respondent_id])).get(ticket.respondent_id, [])
            chat = next(((ch, cid) for ch, cid in chats
                         if secrets.compare_digest(self.signer.chat_digest(ch, cid), ticket.chat_digest)), None)
        session = await self.store.session_for_chat(*chat) if chat is not None else None
        if session is None or session.respondent_id != ticket.respondent_id:
            return self._message(BILINGUAL["moved"], 410)
        return ticket, session

    async def _form(self, request: web.Request) -> Any:
        """The posted form, or a refusal: bounded here whatever the app it is mounted in allows
        (a browser always sends a form's length)."""
        size = request.content_length
        if size is None or size > MAX_FORM_BYTES:
            return self._refuse(request, "bad_form", 413, "form too large or of unknown length")
        try:
            return await request.post()
        except (ValueError, web.HTTPException):
            return self._refuse(request, "bad_form", 400, "unreadable form")

    # ------------------------------------------------------------------ rendering

    def render(self, ticket_text: str, state: State, survey: Survey, section: str | None = None,
               sticky: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
               notices: list[str] | None = None) -> tuple[str, str, str]:
        """(html, section id or status, visible steps) of the page for ``state``."""
        lang = state.lang
        ctx = self._common(lang)
        ctx.update(csrf=self.signer.csrf(ticket_text), nonce=secrets.token_urlsafe(18),
                   action=f"{self.config.prefix}/s/{ticket_text}", notices=notices or [],
                   other_lang="en" if lang == "vi" else "vi")
        status = state.status
        if status in ("submitted", "ended"):
            html = _ENV.get_template("end.html").render(text=end_text(survey, state), **ctx)
            return html, status, ""
        if section is None:
            if status == "new":
                sections = applicable_sections(survey, state)
                section = sections[0] if sections else None
            elif status in ("active", "paused"):
                section = section_of(survey, state.current)
        if section is None:
            html = _ENV.get_template("review.html").render(review=review_view(survey, state), **ctx)
            return html, "review", ""
        view = section_view(survey, state, section, sticky, errors)
        if status == "paused" and not notices:
            ctx["notices"] = [page_text("paused", lang)]
        html = _ENV.get_template("section.html").render(view=view, **ctx)
        return html, section, view.visible_key

    def _page(self, html: str, status: int = 200) -> web.Response:
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    # ------------------------------------------------------------------ handlers

    async def _static(self, request: web.Request) -> web.Response:
        item = self.static.get(request.match_info["name"])
        if item is None:
            raise web.HTTPNotFound()
        body, ctype, tag = item
        resp = web.Response(body=body, content_type=ctype, charset="utf-8")
        resp.headers["Cache-Control"] = "public, max-age=86400"
        resp.headers["ETag"] = f'"{tag}"'
        return resp

    async def _get_page(self, request: web.Request) -> web.Response:
        if (limited := self._limited(request)) is not None:
            return limited
        ticket_text = request.match_info["ticket"]
        found = await self._resolve(request, ticket_text)
        if isinstance(found, web.Response):
            return found
        _, session = found
        survey = await self._survey(session.state.survey_hash)
        self.stats["pages"] += 1
        html, _, _ = self.render(ticket_text, session.state, survey)
        return self._page(html)

    async def _post_page(self, request: web.Request) -> web.Response:
        if (limited := self._limited(request)) is not None:
            return limited
        ticket_text = request.match_info["ticket"]
        now = self.clock()
        if not self.posts.take(ticket_text, now):
            return self._message(BILINGUAL["too_many"], 429)
        origin = request.headers.get("Origin")
        if origin and origin != "null" and origin.split("://", 1)[-1] != request.host:
            return self._refuse(request, "bad_form", 403, "cross-origin post")
        form = await self._form(request)
        if isinstance(form, web.Response):
            return form
        if not self.signer.csrf_ok(ticket_text, form.get("csrf")):
            return self._refuse(request, "bad_form", 403, "bad csrf token")
        nonce = form.get("n")
        if not isinstance(nonce, str) or not _NONCE.match(nonce):
            return self._refuse(request, "bad_form", 400, "bad form nonce")
        action = form.get("action", "next")
        action = action if isinstance(action, str) else "next"
        instant = request.headers.get("X-Hailong-Save") == "1" or action == "save"
        found = await self._resolve(request, ticket_text)
        if isinstance(found, web.Response):
            return found
        # the lock of the chat the ticket speaks for (a page of a Telegram chat takes turns with
        # that chat's updates); the session is read again under it
        async with self.store.chat_lock(found[1].channel, found[1].chat_id):
            found = await self._resolve(request, ticket_text)     # the state as of now, under the lock
            if isinstance(found, web.Response):
                return found
            _, session = found
            try:
                return await self._submit(ticket_text, session, form, action, nonce, instant)
            except Exception as exc:
                if is_unavailable(exc):
                    log.warning("storage unavailable, page submission not stored: %s", exc)
                    return self._message(BILINGUAL["busy"], 503)
                raise

    async def _submit(self, ticket_text: str, session: Session, form: Any, action: str, nonce: str,
                      instant: bool) -> web.Response:
        state = session.state
        survey = await self._survey(state.survey_hash)
        now = self.clock()
        posted = form.get("section")
        section = posted if isinstance(posted, str) and section_of_id(survey, posted) else None
        values = clean_form(survey, section, {k: form.getall(k) for k in set(form.keys())}) if section else {}
        self.stats["submissions"] += 1
        res: FormResult
        if action.startswith("lang:"):
            res = apply_section(survey, state, section, values, False, now) if section else FormResult(state)
            res = run_inputs(survey, res.state, [Command("lang", action[5:9])], now, res)
        elif action == "back":
            res = apply_section(survey, state, section, values, False, now) if section else FormResult(state)
            res = go_back(survey, res.state, now, res)
        elif action.startswith("edit:"):
            res = run_inputs(survey, state, [Command("edit", action[5:69])], now)
        elif action == "submit":
            res = run_inputs(survey, state, [Command("submit")], now)
        elif action == "skip":
            res = run_inputs(survey, state, [Command("skip")], now)
        elif action == "start":
            res = run_inputs(survey, state, [Start()] if state.status == "new" else [], now)
        elif section is not None:
            listed = form.get("shown")
            shown = set(listed.split(",")[:500]) if isinstance(listed, str) else None
            res = apply_section(survey, state, section, values, not instant, now, shown)
        else:
            return self._refuse_form(ticket_text)
        if res.changed:
            page_session = Session(session.respondent_id, session.response_id, session.round_id, state, CHANNEL,
                                   session.chat_id)
            ok = await self.conversation.commit(page_session, res.state, tuple(res.events), nonce)
            if not ok:               # the same form sent twice: it was stored the first time
                self.stats["duplicates"] += 1
                raise web.HTTPSeeOther(f"{self.config.prefix}/s/{ticket_text}")
            self.stats["commits"] += 1
            self.stats["answers"] += answers_in(res.events)
            self.conversation.sent(page_session)
        notices = [r.text for r in res.replies if r.kind in ("info", "invalid")]
        new_state = res.state
        if instant:
            html, shown, visible = self.render(ticket_text, new_state, survey, section, res.sticky, res.errors, notices)
            resp = self._page(html)
            resp.headers["X-Hailong-Section"] = shown
            resp.headers["X-Hailong-Visible"] = visible
            return resp
        here = section_of(survey, new_state.current) if new_state.status == "active" else None
        stay = action in ("next",) and section is not None and here == section
        if res.errors or notices or (stay and new_state.status == "active"):
            if res.errors:
                notices.insert(0, page_text("fix_below", new_state.lang))
            elif stay:
                notices.insert(0, page_text("new_questions", new_state.lang))
            show = section if (res.errors or stay) else None
            html, _, _ = self.render(ticket_text, new_state, survey, show, res.sticky, res.errors, notices)
            return self._page(html)
        raise web.HTTPSeeOther(f"{self.config.prefix}/s/{ticket_text}")

    def _refuse_form(self, ticket_text: str) -> web.Response:
        return self._message(BILINGUAL["bad_form"], 400)

    # ------------------------------------------------------------------ invitation links

    async def _get_invite(self, request: web.Request) -> web.Response:
        if (limited := self._limited(request)) is not None:
            return limited
        token = request.match_info["token"]
        cred = read_credential(token)
        if cred is None or cred.kind != "token":
            return self._refuse(request, "bad_link", 404, "not a token")
        bid = request.cookies.get(BROWSER_COOKIE, "")
        if not BROWSER_ID_RE.match(bid):
            bid = new_browser_id()
        ctx = self._common("vi")
        ctx.update(title=BILINGUAL["claim_title"], intro=BILINGUAL["claim_intro"], button=BILINGUAL["claim_button"],
                   proof=self.signer.browser_proof(bid, token), nonce=secrets.token_urlsafe(18),
                   action=f"{self.config.prefix}/t/{token}")
        resp = self._page(_ENV.get_template("claim.html").render(**ctx))
        resp.set_cookie(BROWSER_COOKIE, bid, max_age=180 * 86_400, path=self.config.prefix, httponly=True,
                        samesite="Lax", secure=request.secure)
        return resp

    async def _post_invite(self, request: web.Request) -> web.Response:
        if (limited := self._limited(request)) is not None:
            return limited
        token = request.match_info["token"]
        cred = read_credential(token)
        if cred is None or cred.kind != "token":
            return self._refuse(request, "bad_link", 404, "not a token")
        form = await self._form(request)
        if isinstance(form, web.Response):
            return form
        bid = request.cookies.get(BROWSER_COOKIE, "")
        if not BROWSER_ID_RE.match(bid):
            return self._message(BILINGUAL["no_cookie"], 400)
        if not self.signer.browser_proof_ok(bid, token, form.get("proof")):
            return self._refuse(request, "bad_form", 403, "bad claim proof")
        nonce = form.get("n")
        key = nonce if isinstance(nonce, str) and _NONCE.match(nonce) else None
        try:
            claim = await self.store.claim_invite(token, CHANNEL, bid, key)
        except Exception as exc:
            if is_unavailable(exc):
                return self._message(BILINGUAL["busy"], 503)
            raise
        if claim.status != "ok" or claim.session is None:
            return self._message(claim_texts.claim_reply(claim.status, CHANNEL, claim.retry_after),
                                 429 if claim.status in ("limited", "slowed") else 200)
        ticket = self.signer.make("w", claim.session.respondent_id, self.signer.chat_digest(CHANNEL, bid), self.clock())
        raise web.HTTPSeeOther(f"{self.config.prefix}/s/{ticket}")

    # ------------------------------------------------------------------ Telegram Mini App

    async def _get_tg(self, request: web.Request) -> web.Response:
        ctx = self._common("vi")
        ctx.update(opening=BILINGUAL["tg_opening"], needs_js=BILINGUAL["tg_needs_js"],
                   action=f"{self.config.prefix}/tg")
        return self._page(_ENV.get_template("tg.html").render(**ctx))

    async def _post_tg(self, request: web.Request) -> web.Response:
        if (limited := self._limited(request)) is not None:
            return web.json_response({"error": BILINGUAL["too_many"]}, status=429)
        token = self.config.telegram_token
        form: Any = {}
        size = request.content_length
        if size is not None and size <= 4 * MAX_INIT_DATA:
            try:
                form = await request.post()
            except (ValueError, web.HTTPException):
                form = {}
        raw = form.get("initData") if form else None
        if token is None:
            return web.json_response({"error": BILINGUAL["tg_refused"]}, status=404)
        try:
            data = validate_init_data(raw if isinstance(raw, str) else "", token, self.clock(),
                                      self.config.init_data_max_age_s)
        except InitDataError as exc:
            self.stats["forged_init_data"] += 1
            self.failures.hit(self._client(request), self.clock())
            log.info("Mini App initData refused: %s", exc)
            return web.json_response({"error": BILINGUAL["tg_refused"]}, status=403)
        chat_id = str(data.user_id)
        session = await self.store.session_for_chat("telegram", chat_id)
        if session is None:
            return web.json_response({"error": BILINGUAL["tg_no_session"]}, status=404)
        ticket = self.signer.make("c", session.respondent_id, self.signer.chat_digest("telegram", chat_id),
                                  self.clock())
        return web.json_response({"url": f"{self.config.prefix}/s/{ticket}"})


def section_of_id(survey: Survey, section_id: str) -> bool:
    return any(s.id == section_id for s in survey.sections)


CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       f"form-action 'self'; base-uri 'none'; frame-ancestors 'self' {TELEGRAM_FRAMES}")


@web.middleware
async def _headers(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                   ) -> web.StreamResponse:
    """Security headers on every page response, errors and redirects included."""
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        resp = exc
        _set_headers(resp)
        raise
    _set_headers(resp)
    return resp


def _set_headers(resp: web.StreamResponse) -> None:
    h = resp.headers
    h["Content-Security-Policy"] = CSP
    h["Referrer-Policy"] = "no-referrer"
    h["X-Content-Type-Options"] = "nosniff"
    h.setdefault("Cache-Control", "no-store")
