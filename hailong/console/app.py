"""The console's aiohttp application: sessions, CSRF, security headers, errors, static files.

Why aiohttp + aiohttp-jinja2 + htmx: the bot already runs on aiohttp's event loop (webhooks,
the Zalo client), so ``hailong run --web`` serves the console from the same loop and the same
storage writer without a second framework; pages are rendered on the server (works on an office
PC and a phone, no build step) and htmx (vendored, served from ``/static``: no CDN, offices may be
offline) refreshes the live parts.

Security, in one place (``security_middleware``):
- the session cookie carries a random token; the database keeps only its SHA-256
  (``storage.staff``); ``HttpOnly``, ``SameSite=Strict``, ``Secure`` (unless the operator turns it
  off for plain http on a trusted network), ``__Host-`` prefixed when secure; absolute expiry and
  idle expiry;
- every POST carries the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``,
  which htmx sends), and a cross-site ``Origin`` is refused; the login form uses a
  double-submit token;
- failed logins are counted in the database per user name and per client (``login_limits``);
- forms are read with a size limit, fields with length limits (``form_field``);
- every response has a strict Content-Security-Policy (scripts only from ``/static``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp_jinja2
import jinja2
from aiohttp import web

from hailong.console.passwords import dummy_hash
from hailong.console.roles import HOME, Forbidden, Scope
from hailong.console.texts import LANGS, translate
from storage.db import Database
from storage.staff import get_session, touch_session, unit_subtree
from urllib.parse import quote

log = logging.getLogger("hailong.console")

HERE = Path(__file__).parent
DB_KEY: web.AppKey[Database] = web.AppKey("db", Database)
CONFIG_KEY: web.AppKey["ConsoleConfig"] = web.AppKey("config")
CACHE_KEY: web.AppKey[dict] = web.AppKey("cache", dict)
SCOPE_KEY: web.RequestKey[Scope] = web.RequestKey("scope", Scope)
SESSION_KEY: web.RequestKey[Any] = web.RequestKey("session")
FORM_KEY: web.RequestKey[dict] = web.RequestKey("form", dict)
MAX_FORM_BYTES = 64 * 1024
PUBLIC_PATHS = ("/login", "/static/", "/healthz")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


@dataclass(frozen=True)
class ConsoleConfig:
    """How the console runs. ``secure_cookies=False`` only for plain http on a trusted network
    (the README's nginx example terminates TLS in front of it)."""

    session_ttl_s: float = 8 * 3600.0
    idle_timeout_s: float = 3600.0
    secure_cookies: bool = True
    login_failures_per_user: int = 5
    login_failures_per_client: int = 20
    login_window_s: float = 15 * 60.0
    poll_s: int = 5
    bootstrap: int = 1000                # replicates of the results' intervals (as the CLI)
    trust_proxy: bool = False            # take the client address from X-Forwarded-For (nginx)
    bot_username: str = "hailong_bot"    # printed on cards (QR links)
    zalo_name: str = "Khảo sát Sở Nội vụ Lai Châu"
    hotline: str = "0213 3876 543"

    @property
    def cookie_name(self) -> str:
        return "__Host-hailong" if self.secure_cookies else "hailong_session"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def client_address(request: web.Request) -> str:
    cfg = request.app[CONFIG_KEY]
    if cfg.trust_proxy:
        fwd = request.headers.get("X-Forwarded-For", "")
        if fwd:
            return fwd.split(",")[-1].strip()[:64]
    return (request.remote or "?")[:64]


def lang_of(request: web.Request) -> str:
    cookie = request.cookies.get("hailong_lang")
    if cookie in LANGS:
        return cookie
    scope: Scope | None = request.get(SCOPE_KEY)
    return scope.account.lang if scope else "vi"


class BadInput(Exception):
    """A form field the console refuses (too long, missing, malformed): answered 400."""

    def __init__(self, key: str, **kw: object) -> None:
        super().__init__(key)
        self.key = key
        self.kw = kw


async def read_form(request: web.Request) -> dict[str, str]:
    """The POSTed form, refused above 64 KiB; only the first value of each field."""
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise BadInput("too_long", field="form", n=MAX_FORM_BYTES)
    try:
        data = await request.post()
    except (ValueError, web.HTTPRequestEntityTooLarge):
        raise BadInput("bad_request") from None
    return {k: str(v) for k, v in data.items() if isinstance(v, str)}


def form_field(form: dict[str, str], name: str, max_len: int, required: bool = True) -> str:
    value = form.get(name, "").strip()
    if len(value) > max_len:
        raise BadInput("too_long", field=name, n=max_len)
    if required and not value:
        raise BadInput("bad_request")
    return value


# ------------------------------------------------------------------ middleware

def _csrf_ok(request: web.Request, expected: str, form: dict[str, str] | None) -> bool:
    sent = request.headers.get("X-CSRF-Token") or (form or {}).get("csrf", "")
    return bool(sent) and hmac.compare_digest(sent.encode(), expected.encode())


def _cross_site(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin == "null"
    host = origin.split("://", 1)[-1]
    return host != request.host


@web.middleware
async def security_middleware(request: web.Request,
                              handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        resp = await _secured(request, handler)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.text:
            _harden(request, exc)
            raise
        resp = await _error_page(request, exc.status, "not_found" if exc.status == 404 else "bad_request")
    except Forbidden:
        resp = await _error_page(request, 403, "forbidden")
    except BadInput as exc:
        resp = await _error_page(request, 400, exc.key, **exc.kw)
    except Exception:
        log.exception("console error on %s %s", request.method, request.path)
        resp = await _error_page(request, 500, "server_error")
    _harden(request, resp)
    return resp


def _harden(request: web.Request, resp: web.StreamResponse) -> None:
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    if not request.path.startswith("/static/"):
        resp.headers.setdefault("Cache-Control", "no-store")


async def _secured(request: web.Request,
                   handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    cfg = request.app[CONFIG_KEY]
    db = request.app[DB_KEY]
    if request.method not in ("GET", "HEAD", "POST"):
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
    if request.method == "POST" and _cross_site(request):
        raise Forbidden("cross-site POST")
    if request.path.startswith(PUBLIC_PATHS):
        return await handler(request)
    token = request.cookies.get(cfg.cookie_name, "")
    session = None
    if 20 <= len(token) <= 100:
        session = await get_session(db, token_hash(token), cfg.idle_timeout_s)
    if session is None:
        if request.method == "POST" or request.headers.get("HX-Request"):
            resp = web.Response(status=401, text=translate("session_expired", lang_of(request)))
            resp.headers["HX-Redirect"] = "/login"
            return resp
        raise web.HTTPSeeOther("/login?next=" + _safe_next(request.path_qs))
    if time.time() - session.last_seen > 60:
        await touch_session(db, session.token_hash)
    units = None if session.account.unit_id is None else await unit_subtree(db, session.account.unit_id)
    request[SCOPE_KEY] = Scope(session.account, units)
    request[SESSION_KEY] = session
    if request.method == "POST":
        form = await read_form(request) if request.content_type in (
            "application/x-www-form-urlencoded", "multipart/form-data") else {}
        if not _csrf_ok(request, session.csrf, form):
            log.warning("POST without a valid CSRF token refused (%s)", request.path)
            return await _error_page(request, 403, "csrf_failed")
        request[FORM_KEY] = form
    return await handler(request)


def _safe_next(path: str) -> str:
    """Only a local path may be the page after login (no open redirect)."""
    if not path.startswith("/") or path.startswith("//") or len(path) > 300:
        return "/"
    return quote(path, safe="/")


async def _error_page(request: web.Request, status: int, key: str, **kw: object) -> web.Response:
    lang = lang_of(request)
    message = translate(key, lang, **kw)
    if request.headers.get("HX-Request"):
        return web.Response(status=status, text=message)
    ctx = await base_context(request)
    ctx.update({"status": status, "message": message})
    return aiohttp_jinja2.render_template("error.html", request, ctx, status=status)


# ------------------------------------------------------------------ templates

async def base_context(request: web.Request) -> dict[str, Any]:
    """What every page's layout needs: the words in the page's language, the account, the CSRF token."""
    lang = lang_of(request)
    session = request.get(SESSION_KEY)
    scope = request.get(SCOPE_KEY)

    def _(key: str, **kw: object) -> str:
        return translate(key, lang, **kw)

    return {"_": _, "lang": lang, "scope": scope, "csrf": session.csrf if session else "",
            "path": request.path, "home": HOME.get(scope.account.role, "rounds") if scope else "rounds"}


def make_app(db: Database, config: ConsoleConfig | None = None) -> web.Application:
    """The console as an aiohttp application over an open database (the caller closes it)."""
    from hailong.console import views   # not at the top: views imports this module

    dummy_hash()   # made now, not at the first login (see dummy_hash)
    app = web.Application(middlewares=[security_middleware], client_max_size=MAX_FORM_BYTES)
    app[DB_KEY] = db
    app[CONFIG_KEY] = config or ConsoleConfig()
    app[CACHE_KEY] = {}
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                               autoescape=jinja2.select_autoescape(default=True),
                               context_processors=[base_context],
                               undefined=jinja2.StrictUndefined)
    env.filters["vn"] = views.vn_number
    env.filters["pct"] = views.pct
    env.filters["when"] = views.when
    app.router.add_static("/static/", HERE / "static", append_version=False)
    views.add_routes(app)
    return app


def new_session_token() -> tuple[str, str]:
    """(cookie token, CSRF token)."""
    return secrets.token_urlsafe(32), secrets.token_urlsafe(32)
