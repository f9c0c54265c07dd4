"""The console's pages: each handler names its permission, reads through storage and shows.

Fieldwork figures come from ``storage.respondents.progress_by_unit`` and the same per-unit rows as
``hailong status`` (``status_rows``: AAPOR rates from ``fieldwork.dispositions``, substitutions
needed); problems from the outbox, the claim ledger (``claims_report``) and hand-overs; re-check
outcomes go through ``storage.recheck.record_recheck_outcome``; rounds through
``storage.rounds``. Nothing here restates a rule of those modules.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from fieldwork.cli_helpers import load_survey_ref, parse_local_time
from fieldwork.status_cli import claim_policy, credential_problems, status_rows
from hailong.console.app import (CONFIG_KEY, DB_KEY, FORM_KEY, SCOPE_KEY, SESSION_KEY, BadInput, _safe_next, client_address, form_field,
                                 lang_of, new_session_token, read_form, token_hash)
from hailong.console.passwords import MAX_LENGTH as MAX_PASSWORD, verify_password
from hailong.console.roles import HOME, Forbidden, Scope
from hailong.console.texts import LANGS, translate
from fieldwork.dispositions import DispositionCounts, rates
from storage.audit import audit, list_audit
from storage.claims import claims_report
from storage.handovers import handover_counts
from storage.recheck import RecheckError, record_recheck_outcome
from storage.respondents import UnitProgress, contacts_for, list_respondents, progress_by_unit
from storage.rounds import Round, RoundError, close_round, get_round_by_code, list_rounds, open_round
from storage.staff import (create_session, credentials_for, end_session, list_accounts, record_login_attempt,
                           recent_failures)
from storage.staff_views import (counts_by_channel, failed_sends, recheck_worklist, reminder_waves,
                                 respondent_unit, unreachable_respondents)
from storage.units import get_unit, list_units
from fieldwork.cards import Card, CardOptions, render_cards
from fieldwork.recheck_cli import draw_round_recheck
from sampling.plan_schema import PlanError, load_plan, plan_names
from storage.commands import UserError
from storage.db import StorageError
from storage.purge import LABELS, PurgeError, purge_round
from storage.rounds import create_round
from survey_defs.loader import shipped_ids

VN_TZ = timezone(timedelta(hours=7))
MAX_NOTE = 500
MAX_CODE = 40
#: Round codes made in the console go into URLs: letters, digits, '.', '_', '-'.
ROUND_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")


# ------------------------------------------------------------------ formatting (template filters)

def vn_number(x: Any, digits: int = 1) -> str:
    """12345.6 → "12.345,6" (Vietnamese separators); None/NaN → "—"."""
    if x is None or (isinstance(x, float) and x != x):
        return "—"
    if isinstance(x, int):
        return f"{x:,}".replace(",", ".")
    s = f"{float(x):,.{digits}f}"
    return s.replace(",", "\0").replace(".", ",").replace("\0", ".")


def pct(x: float | None) -> str:
    return "—" if x is None else vn_number(100 * x) + "%"


def when(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, VN_TZ).strftime("%H:%M %d/%m/%Y")


# ------------------------------------------------------------------ helpers

def scope_of(request: web.Request) -> Scope:
    return request[SCOPE_KEY]


def render(template: str, request: web.Request, context: dict[str, Any], status: int = 200) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, context, status=status)


async def round_of(request: web.Request) -> Round:
    code = request.match_info["code"]
    r = await get_round_by_code(request.app[DB_KEY], code[:MAX_CODE]) if len(code) <= MAX_CODE else None
    if r is None:
        raise web.HTTPNotFound()
    return r


def int_param(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound()
    return int(raw)


@dataclass
class UnitRow:
    """A unit's progress with its place in the tree (for indentation) and its status row."""

    unit: UnitProgress
    depth: int
    row: dict[str, Any]


async def round_progress(db: Any, round_id: int, scope: Scope) -> list[UnitRow]:
    """``progress_by_unit`` with the units above them (district, commune…) added, rolled up."""
    progress = await progress_by_unit(db, round_id)
    known = {u.unit_id for u in progress}
    units = {u.id: u for u in await list_units(db)}
    extra: list[UnitProgress] = []
    for u in list(progress):
        pid = u.parent_id
        while pid is not None and pid not in known and pid in units:
            p = units[pid]
            extra.append(UnitProgress(p.id, p.code, p.name, p.kind, p.parent_id, None, {}))
            known.add(pid)
            pid = p.parent_id
    return rolled_up(extra + progress, scope)


def rolled_up(progress: list[UnitProgress], scope: Scope) -> list[UnitRow]:
    """Units of the round the scope may see, each with the counts of its whole subtree (an
    officer's commune shows its villages' respondents), in tree order."""
    by_id = {u.unit_id: u for u in progress}
    children: dict[int | None, list[int]] = {}
    for u in progress:
        parent = u.parent_id if u.parent_id in by_id else None
        children.setdefault(parent, []).append(u.unit_id)
    out: list[UnitRow] = []

    def total(uid: int) -> tuple[dict[str, int], int | None]:
        u = by_id[uid]
        counts = dict(u.counts)
        quota = u.quota
        kid_quota = 0
        for k in children.get(uid, []):
            c, q = total(k)
            for s, n in c.items():
                counts[s] = counts.get(s, 0) + n
            kid_quota += q or 0
        return counts, quota if quota is not None else (kid_quota or None)

    def walk(uid: int, depth: int) -> None:
        u = by_id[uid]
        counts, quota = total(uid)
        agg = UnitProgress(u.unit_id, u.code, u.name, u.kind, u.parent_id, quota, counts)
        if scope.sees_unit(uid):
            out.append(UnitRow(agg, depth, status_rows([agg])[0]))
        for k in children.get(uid, []):
            walk(k, depth + 1)

    for root in children.get(None, []):
        walk(root, 0)
    return out


def totals(rows: list[UnitRow]) -> dict[str, Any]:
    """Whole-scope totals: the top rows only (each already holds its subtree)."""
    top_depth = min((r.depth for r in rows), default=0)
    tops = [r for r in rows if r.depth == top_depth]
    disp = sum((r.row["counts"] for r in tops), DispositionCounts({}))
    counts: dict[str, int] = {}
    for r in tops:
        for s, n in r.unit.counts.items():
            counts[s] = counts.get(s, 0) + n
    agg = UnitProgress(0, "", "", "", None, sum(r.unit.quota or 0 for r in tops) or None, counts)
    return {"unit": agg, "rates": rates(disp), "row": status_rows([agg])[0]}


def funnel(u: UnitProgress) -> list[tuple[str, int]]:
    """invited → started → complete / partial / refused / unreachable / ineligible."""
    c = u.counts
    return [("invited", u.invited), ("started", u.started), ("complete", u.completed),
            ("partial", c.get("partial", 0)), ("refused", c.get("refused", 0)),
            ("unreachable", c.get("unreachable", 0)), ("ineligible", c.get("ineligible", 0))]


# ------------------------------------------------------------------ login, language

async def login_page(request: web.Request) -> web.Response:
    token = request.cookies.get("hailong_login") or new_session_token()[1]
    resp = render("login.html", request, {"login_csrf": token, "error": None,
                                          "next": _safe_next(request.query.get("next", "/"))})
    _set_cookie(request, resp, "hailong_login", token, 600)
    return resp


def _set_cookie(request: web.Request, resp: web.StreamResponse, name: str, value: str, max_age: float) -> None:
    cfg = request.app[CONFIG_KEY]
    resp.set_cookie(name, value, max_age=int(max_age), path="/", httponly=True, samesite="Strict",
                    secure=cfg.secure_cookies)


async def login_post(request: web.Request) -> web.Response:
    db = request.app[DB_KEY]
    cfg = request.app[CONFIG_KEY]
    form = await read_form(request)
    cookie = request.cookies.get("hailong_login", "")
    sent = form.get("csrf", "")
    if not cookie or len(sent) > 100 or not sent == cookie:
        raise Forbidden("login csrf")
    username = form.get("username", "").strip().lower()[:64]
    password = form.get("password", "")
    nxt = _safe_next(form.get("next", "/"))
    client = client_address(request)
    by_user, by_client, oldest = await recent_failures(db, username, client, cfg.login_window_s)
    if by_user >= cfg.login_failures_per_user or by_client >= cfg.login_failures_per_client:
        minutes = max(1, int((oldest + cfg.login_window_s - time.time()) // 60) + 1)
        await record_login_attempt(db, username, client, False)
        return _login_again(request, "login_limited", cookie, nxt, status=429, minutes=minutes)
    creds = await credentials_for(db, username) if len(password) <= MAX_PASSWORD else None
    # argon2 is deliberately slow (~50 ms of CPU): off the event loop, which also serves the bot
    ok = await asyncio.to_thread(verify_password, creds[1] if creds else None, password)
    ok = ok and creds is not None and creds[0].active
    await record_login_attempt(db, username, client, ok)
    if not ok or creds is None:
        return _login_again(request, "login_failed", cookie, nxt, status=401)
    token, csrf = new_session_token()
    await create_session(db, creds[0].id, token_hash(token), csrf, cfg.session_ttl_s, client)
    resp = web.HTTPSeeOther(nxt if nxt != "/" else "/" + HOME.get(creds[0].role, "rounds"))
    _set_cookie(request, resp, cfg.cookie_name, token, cfg.session_ttl_s)
    resp.del_cookie("hailong_login", path="/")
    raise resp


def _login_again(request: web.Request, key: str, token: str, nxt: str, status: int, **kw: object) -> web.Response:
    return render("login.html", request, {"login_csrf": token, "next": nxt,
                                          "error": translate(key, lang_of(request), **kw)}, status=status)


async def logout(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG_KEY]
    await end_session(request.app[DB_KEY], request[SESSION_KEY].token_hash, scope_of(request).actor)
    resp = web.HTTPSeeOther("/login")
    resp.del_cookie(cfg.cookie_name, path="/")
    raise resp


async def set_lang(request: web.Request) -> web.Response:
    lang = request.match_info["lang"]
    if lang not in LANGS:
        raise web.HTTPNotFound()
    resp = web.HTTPSeeOther(_safe_next(request.query.get("next", "/")))
    resp.set_cookie("hailong_lang", lang, max_age=365 * 86400, path="/", samesite="Lax",
                    secure=request.app[CONFIG_KEY].secure_cookies)
    raise resp


async def index(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/" + HOME.get(scope_of(request).account.role, "rounds"))


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


# ------------------------------------------------------------------ rounds

async def rounds_page(request: web.Request) -> web.Response:
    scope = scope_of(request)
    if not (scope.can("progress") or scope.can("invites")):
        raise Forbidden("rounds")
    rounds = await list_rounds(request.app[DB_KEY])
    return render("rounds.html", request, {"rounds": rounds, "plans": plan_names(),
                                           "surveys": shipped_ids(), "message": request.query.get("m", "")[:200]})


async def round_create(request: web.Request) -> web.Response:
    """A draft round from a shipped plan and questionnaire (only those: a form never names a file)."""
    scope = scope_of(request)
    scope.require("rounds_manage")
    form = request[FORM_KEY]
    code = form_field(form, "code", MAX_CODE)
    name = form_field(form, "name", 200, required=False)
    plan = form_field(form, "plan", 80)
    survey_id = form_field(form, "survey", 80)
    if plan not in plan_names() or survey_id not in shipped_ids() or not ROUND_CODE.fullmatch(code):
        raise BadInput("bad_request")
    try:
        opens = parse_local_time(form_field(form, "opens", 20)) if form.get("opens") else None
        closes = parse_local_time(form_field(form, "closes", 20), end_of_day=True) if form.get("closes") else None
        await create_round(request.app[DB_KEY], code=code, survey=load_survey_ref(survey_id), name=name,
                           sampling_plan_id=load_plan(plan).id, opens_at=opens, closes_at=closes, actor=scope.actor)
    except (UserError, ValueError, PlanError, StorageError) as exc:
        return render("message.html", request, {"message": str(exc)[:500], "back": "/rounds"}, status=400)
    raise web.HTTPSeeOther(f"/rounds?m={code}")


async def round_transition(request: web.Request) -> web.Response:
    scope = scope_of(request)
    scope.require("rounds_manage")
    r = await round_of(request)
    reason = form_field(request[FORM_KEY], "reason", 300, required=False) or None
    try:
        if request.match_info["action"] == "open":
            await open_round(request.app[DB_KEY], r.id, actor=scope.actor, reason=reason)
        else:
            await close_round(request.app[DB_KEY], r.id, actor=scope.actor, reason=reason)
    except RoundError as exc:
        return render("message.html", request, {"message": str(exc)[:500], "back": "/rounds"}, status=409)
    raise web.HTTPSeeOther("/rounds")


async def purge_page(request: web.Request) -> web.Response:
    """What purging the round would delete (a dry run) and what still blocks it."""
    scope = scope_of(request)
    scope.require("rounds_manage")
    r = await round_of(request)
    try:
        rep = await asyncio.to_thread(purge_round, request.app[DB_KEY].path, r.code, actor=scope.actor, dry_run=True)
    except PurgeError as exc:
        return render("message.html", request, {"message": str(exc)[:500], "back": "/rounds"}, status=409)
    return render("purge.html", request, {"round": r, "report": rep, "labels": LABELS})


async def purge_post(request: web.Request) -> web.Response:
    """Purge the round's personal data (``storage.purge``, as ``hailong round purge``): the admin
    types the round's code to confirm."""
    scope = scope_of(request)
    scope.require("rounds_manage")
    r = await round_of(request)
    if form_field(request[FORM_KEY], "confirm", MAX_CODE) != r.code:
        raise BadInput("bad_request")
    try:
        rep = await asyncio.to_thread(purge_round, request.app[DB_KEY].path, r.code, actor=scope.actor)
    except PurgeError as exc:
        return render("message.html", request, {"message": str(exc)[:500], "back": f"/rounds/{r.code}/purge"},
                      status=409)
    done = translate("purged", lang_of(request), code=r.code, n=sum(rep.counts.values()))
    return render("message.html", request, {"message": done, "back": "/rounds"})


# ------------------------------------------------------------------ progress

async def _progress_context(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    scope.require("progress")
    db = request.app[DB_KEY]
    r = await round_of(request)
    rows = await round_progress(db, r.id, scope)
    by_channel = await counts_by_channel(db, r.id, scope.units)
    channels = []
    for ch, counts in sorted(by_channel.items()):
        u = UnitProgress(0, ch, ch, "", None, None, counts)
        channels.append((ch, funnel(u)))
    tot = totals(rows)
    return {"round": r, "rows": rows, "tot": tot, "funnel": funnel(tot["unit"]), "channels": channels,
            "now": time.time(), "poll": request.app[CONFIG_KEY].poll_s}


async def progress_page(request: web.Request) -> web.Response:
    return render("progress.html", request, await _progress_context(request))


async def progress_live(request: web.Request) -> web.Response:
    return render("progress_live.html", request, await _progress_context(request))


async def reminders_page(request: web.Request) -> web.Response:
    scope = scope_of(request)
    scope.require("progress")
    r = await round_of(request)
    waves = await reminder_waves(request.app[DB_KEY], r.id, scope.units)
    return render("reminders.html", request, {"round": r, "waves": waves})


async def problems_page(request: web.Request) -> web.Response:
    scope = scope_of(request)
    scope.require("problems")
    db = request.app[DB_KEY]
    r = await round_of(request)
    rows = await round_progress(db, r.id, scope)
    behind = [x for x in rows if x.row["need_substitution"]]
    claims = await claims_report(db, claim_policy())
    handovers = await handover_counts(db, r.id)
    denied = [] if scope.units is not None else list(handovers.denied_respondents)
    names = {u.id: u.name for u in await list_units(db)}
    return render("problems.html", request, {
        "round": r, "behind": behind, "failed": await failed_sends(db, r.id, scope.units),
        "blocked": await unreachable_respondents(db, r.id, scope.units), "claims": claims,
        "denied": denied, "names": names,
        "credential_lines": credential_problems(claims, handovers) if scope.units is None else []})


# ------------------------------------------------------------------ units, invite lists, cards

async def _unit_in_round(request: web.Request, r: Round) -> Any:
    scope = scope_of(request)
    uid = int_param(request, "unit_id")
    scope.require_unit(uid)
    unit = await get_unit(request.app[DB_KEY], uid)
    if unit is None:
        raise web.HTTPNotFound()
    return unit


async def invites_page(request: web.Request) -> web.Response:
    """Rounds × units the scope may print cards and invite lists for."""
    scope = scope_of(request)
    scope.require("invites")
    db = request.app[DB_KEY]
    out = []
    for r in await list_rounds(db):
        rows = [x for x in await round_progress(db, r.id, scope) if x.unit.counts.get("sampled", 0)
                + x.unit.counts.get("invited", 0) + x.unit.counts.get("opened", 0) > 0 or x.unit.kind == "village"]
        out.append((r, rows))
    return render("invites.html", request, {"rounds": out})


async def unit_page(request: web.Request) -> web.Response:
    """One unit's households: card code, status and (roles that may) contacts."""
    scope = scope_of(request)
    if not (scope.can("invites") or scope.can("progress")):
        raise Forbidden("unit")
    db = request.app[DB_KEY]
    r = await round_of(request)
    unit = await _unit_in_round(request, r)
    people = [p for p in await list_respondents(db, r.id) if p.unit_id == unit.id]
    contacts = await contacts_for(db, [p.id for p in people]) if scope.can("contacts") else {}
    return render("unit.html", request, {"round": r, "unit": unit, "people": people, "contacts": contacts})


async def cards_pdf(request: web.Request) -> web.Response:
    scope = scope_of(request)
    scope.require("cards")
    db = request.app[DB_KEY]
    cfg = request.app[CONFIG_KEY]
    r = await round_of(request)
    unit = await _unit_in_round(request, r)

    people = [p for p in await list_respondents(db, r.id, statuses=("sampled", "invited", "opened"))
              if p.unit_id == unit.id]
    if not people:
        return render("message.html", request, {"message": translate("no_cards", lang_of(request)),
                                                "back": "/invites"}, status=404)
    parent = await get_unit(db, unit.parent_id) if unit.parent_id else None
    cards = [Card(p.card_code, p.token, unit.name, parent.name if parent else "",
                  " · ".join(s for s in (str(p.attrs.get("sub_hamlet") or ""), p.household_ref or "") if s) or None)
             for p in people]
    deadline = when(r.closes_at)[6:] if r.closes_at else "—"
    pdf = await asyncio.to_thread(render_cards, cards, CardOptions(bot_username=cfg.bot_username,
                                                                   zalo_name=cfg.zalo_name, deadline=deadline,
                                                                   hotline=cfg.hotline))
    await audit(db, scope.actor, "invites.cards", {"cards": len(cards), "units": [unit.code], "out": "web"}, r.id)
    return web.Response(body=pdf, content_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="cards-{r.code}-{unit.code}.pdf"'})


# ------------------------------------------------------------------ re-check

async def recheck_page(request: web.Request) -> web.Response:
    scope = scope_of(request)
    scope.require("recheck")
    db = request.app[DB_KEY]
    r = await round_of(request)
    rows = await recheck_worklist(db, r.id, scope.units)
    contacts = await contacts_for(db, [x.respondent_id for x in rows]) if scope.can("phones") else {}
    names = {u.id: u.name for u in await list_units(db)}
    drawn = {"n": request.query.get("n", "")[:6], "target": request.query.get("t", "")[:6]}
    return render("recheck.html", request, {"round": r, "rows": rows, "contacts": contacts, "names": names,
                                            "message": request.query.get("m", "")[:20], "drawn": drawn})


async def recheck_draw(request: web.Request) -> web.Response:
    """Draw the re-check sample with the round's share and seed (as ``hailong recheck draw``)."""
    scope = scope_of(request)
    scope.require("recheck_draw")
    r = await round_of(request)
    raw = form_field(request[FORM_KEY], "share", 6, required=False).replace(",", ".")
    try:
        share = float(raw) / 100 if raw else None
        if share is not None and not 0 < share <= 1:
            raise ValueError("share")
    except ValueError:
        raise BadInput("bad_request") from None
    try:
        drawn, new, _names = await draw_round_recheck(request.app[DB_KEY], r, share, None, scope.actor)
    except (UserError, RecheckError) as exc:
        return render("message.html", request, {"message": str(exc)[:500], "back": f"/rounds/{r.code}/recheck"},
                      status=400)
    raise web.HTTPSeeOther(f"/rounds/{r.code}/recheck?m=drawn&n={new}&t={drawn.target}")


async def recheck_record(request: web.Request) -> web.Response:
    scope = scope_of(request)
    scope.require("recheck_record")
    db = request.app[DB_KEY]
    r = await round_of(request)
    rid = int_param(request, "respondent_id")
    unit_id = await respondent_unit(db, r.id, rid)
    if unit_id is None:
        raise web.HTTPNotFound()
    scope.require_unit(unit_id)
    form = request[FORM_KEY]
    outcome = form_field(form, "outcome", 20)
    note = form_field(form, "note", MAX_NOTE, required=False) or None
    try:
        await record_recheck_outcome(db, r.id, rid, outcome, recorded_by=scope.actor, note=note)  # type: ignore[arg-type]
    except RecheckError as exc:
        return render("message.html", request, {"message": str(exc)[:500], "back": f"/rounds/{r.code}/recheck"},
                      status=400)
    raise web.HTTPSeeOther(f"/rounds/{r.code}/recheck?m=ok#r{rid}")


# ------------------------------------------------------------------ accounts, audit

async def staff_page(request: web.Request) -> web.Response:
    scope_of(request).require("accounts")
    db = request.app[DB_KEY]
    names = {u.id: u.name for u in await list_units(db)}
    return render("staff.html", request, {"accounts": await list_accounts(db), "names": names})


async def audit_page(request: web.Request) -> web.Response:
    scope_of(request).require("audit")
    entries = await list_audit(request.app[DB_KEY], limit=300)
    return render("audit.html", request, {"entries": entries})


def add_routes(app: web.Application) -> None:
    from hailong.console import results   # not at the top: results imports this module

    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_post)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/logout", logout)
    app.router.add_get("/lang/{lang}", set_lang)
    app.router.add_get("/", index)
    app.router.add_get("/rounds", rounds_page)
    app.router.add_post("/rounds", round_create)
    app.router.add_post("/rounds/{code}/{action:open|close}", round_transition)
    app.router.add_get("/rounds/{code}/purge", purge_page)
    app.router.add_post("/rounds/{code}/purge", purge_post)
    app.router.add_get("/rounds/{code}/progress", progress_page)
    app.router.add_get("/rounds/{code}/progress/live", progress_live)
    app.router.add_get("/rounds/{code}/reminders", reminders_page)
    app.router.add_get("/rounds/{code}/problems", problems_page)
    app.router.add_get("/rounds/{code}/units/{unit_id}", unit_page)
    app.router.add_get("/rounds/{code}/units/{unit_id}/cards.pdf", cards_pdf)
    app.router.add_get("/rounds/{code}/recheck", recheck_page)
    app.router.add_post("/rounds/{code}/recheck/draw", recheck_draw)
    app.router.add_post("/rounds/{code}/recheck/{respondent_id}", recheck_record)
    app.router.add_get("/invites", invites_page)
    app.router.add_get("/staff", staff_page)
    app.router.add_get("/audit", audit_page)
    results.add_routes(app)


def unit_names(units: Iterable[Any]) -> dict[int, str]:
    return {u.id: u.name for u in units}
