"""``python -m demo`` (what ``make demo`` runs): a whole survey round,
offline, in about a minute.

The story a newcomer sees, every step through the real components:

1. **Sample.** A round of the Lai Châu 2025 plan (``sipas-households``, plan ``laichau-2025``) is
   created on a fresh SQLite database; the sample is drawn from the shipped demo frame with the
   plan's rules, and a few of the written reasons are shown. To stay fast the demo invites a
   subset: the households of a handful of communes spread over the province (the first ones of
   each sampled village's list, in sample order).
2. **Invitations.** Every invited household gets a token and a short card code; the QR cards PDF
   is printed; households known to Telegram get the invitation through the outbox.
3. **Fieldwork.** The Telegram and Zalo Bot API emulators start on 127.0.0.1 (ephemeral ports) and
   the bot runs on both channels against them (the real python-telegram-bot stack, the real Zalo
   client). Simulated citizens (:mod:`demo.citizens`) answer concurrently, each with a
   behaviour: most finish at once; some pause or drop off and come back after the reminder; some
   refuse, are under 18, type /stop, never start, or send junk first. The reminder tick runs on a
   clock moved a day ahead; the reminders go through the outbox.
4. **Re-check and close.** 10% of the completed responses (the plan's share) are drawn for the
   re-check, stratified by village and seeded; outcomes are recorded (a few not confirmed, which
   excludes them from the indices); the round closes.
5. **Results.** Indices with intervals, exports (CSV with BOM, XLSX, Parquet, SPSS) and the HTML
   report are written to ``demo-output/``; the terminal prints the headline tables and the paths.
6. **Purge.** The round's purpose is done: its names, phones, chat ids and tokens are purged
   (``hailong round purge``), the indices and the public raw data are computed again and shown
   unchanged, and the database file is scanned for the purged values (none left).

Seeded: the sample, each citizen's behaviour and answers, the re-check draw and outcomes and the
bootstrap intervals depend only on ``--seed``, so two runs print the same numbers (only tokens,
card codes and timings differ). ``--citizens N`` / ``--quick`` set the size; ``--console`` runs the
single-citizen console walk-through instead (:func:`run_demo`).

Public API: :class:`DemoConfig`, :func:`run_round_demo` (async) / :func:`round_demo` (sync) →
:class:`DemoResult`; :func:`main` is ``python -m demo`` (``demo/__main__.py``).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import random
import secrets
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn)
from rich.table import Table

from analytics.analysis import analyse, component_name, pillar_name
from analytics.design import design_for_plan
from analytics.exports import export
from analytics.load import load_round
from analytics.report import vn_number, write_report, write_reports
from analytics.settings import AnalyticsSettings
from bot.console import ConsoleChannel, answers_table, citizen_answer, render_reply, scripted_lines
from bot.settings import Settings
from bot.telegram.channel import TelegramChannel
from bot.telegram.sender import TelegramSender, build_telegram_bot
from bot.zalo.channel import ZaloChannel
from bot.zalo.client import ZaloBotClient
from bot.zalo.pacer import Pacer
from bot.zalo.sender import ZaloSender
from demo.citizens import (CitizenSignals, HouseholdIn, PERSONAS, PERSONA_LABELS, plan_citizens,
                           run_telegram_citizen, run_zalo_citizen)
from demo.emulators.telegram import TelegramEmulator
from demo.emulators.zalo import ZaloEmulator
from demo.output import DemoOutputRefused, prepare_output_dir
from demo.page import is_page_citizen, run_page_citizen
from demo.previous import PREVIOUS_CODE, previous_round
from demo.privacy import purge_and_verify
from engine.types import State, StepResult
from fieldwork.cards import Card, CardOptions, render_cards
from fieldwork.dispositions import Disposition, DispositionCounts, LABELS_VI, disposition_from_status, rates
from fieldwork.outbox import OutboxSender, enqueue_invites
from fieldwork.reminders import ReminderPolicy, shift_out_of_quiet, tick
from sampling.cli import DEFAULT_FRAME_DIR, store_selection
from sampling.frames import load_frame_dir
from sampling.plan_schema import PlanError, load_plan
from sampling.recheck import draw_recheck
from sampling.rules import SamplingError, Selection, draw
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.private_files import open_private
from storage.recheck import RecheckDraw, record_recheck_draw, record_recheck_outcome
from storage.respondents import contacts_for, list_respondents, mark_invited
from storage.responses import read_responses
from storage.rounds import close_round, create_round, get_round, open_round
from storage.units import get_unit
from survey_defs.loader import get_survey
from survey_defs.schema import Survey

__all__ = [
    "DemoConfig",
    "DemoResult",
    "DemoError",
    "round_demo",
    "run_round_demo",
    "demo_subset",
    "citizen_answer",
    "scripted_lines",
    "run_demo",
    "run_console_demo",
    "cli_app",
    "main",
]

log = logging.getLogger("hailong.demo")

SURVEY_ID = "sipas-households"
PLAN_ID = "laichau-2025"
ROUND_CODE = "LC-2025-DEMO"
BOT_USERNAME = "hailong_laichau_bot"
ZALO_NAME = "Khảo sát hài lòng Lai Châu"
DEMO_HOTLINE = "0000 000 000 (số minh họa / demo)"
DB_NAME = "hailong-demo.db"
#: One demo second stands for this many seconds of the round (answer times look human in the
#: paradata; the reminder jump of a day is added on top).
TIME_SCALE = 80.0


# ====================================================================== configuration and result

class DemoError(Exception):
    """The demo cannot run as asked (bilingual message, shown without a traceback)."""


@dataclass(frozen=True)
class DemoConfig:
    """Size and knobs of a demo run. ``communes=None`` picks a number that suits ``citizens``."""

    out_dir: Path = Path("demo-output")
    citizens: int = 300
    communes: int | None = None
    seed: int = 2025
    bootstrap: int = 1000
    timeout: float = 45.0
    mix: dict[str, float] | None = None
    zalo_pollers: int = 16
    bot_process: bool = True        # the bot in a child process (two cores), else in this one

    @classmethod
    def quick(cls, **kw: Any) -> "DemoConfig":
        """A small run (about 60 citizens, fewer bootstrap replicates) for a first look or CI."""
        base: dict[str, Any] = {"citizens": 60, "bootstrap": 300}
        base.update(kw)
        return cls(**base)


@dataclass
class DemoResult:
    """What a run produced: paths, the headline figures and the fieldwork counts."""

    out_dir: Path
    db_path: Path
    report_path: Path
    cards_path: Path
    exports: dict[str, list[Path]]
    round_code: str
    subset: str
    target: float
    overall: float
    overall_lo: float
    overall_hi: float
    n_responses: int
    pillars: dict[str, float]
    components: dict[str, float]
    weakest: list[tuple[str, float]]
    communes: list[tuple[str, int, float, float, float]]   # name, n, index, lo, hi
    dispositions: dict[str, int]
    rates: dict[str, float | None]
    channels: dict[str, dict[str, int]]
    personas: dict[str, dict[str, int]]
    recheck: dict[str, int]
    excluded: dict[str, int]
    reasons: list[str]
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    privacy: dict[str, Any] = field(default_factory=dict)         # the purge step (demo/privacy.py)
    purged_values: frozenset[str] = frozenset()   # in memory only: what the leak tests look for

    def numbers(self) -> dict[str, Any]:
        """Every seeded figure (no path, no timing): two runs with the same seed give equal dicts."""
        return {"overall": round(self.overall, 9), "lo": round(self.overall_lo, 9),
                "hi": round(self.overall_hi, 9), "n": self.n_responses,
                "pillars": {k: round(v, 9) for k, v in self.pillars.items()},
                "components": {k: round(v, 9) for k, v in self.components.items()},
                "weakest": [(k, round(v, 9)) for k, v in self.weakest],
                "communes": [(c[0], c[1], round(c[2], 9)) for c in self.communes],
                "dispositions": dict(self.dispositions),
                "rates": {k: None if v is None else round(v, 9) for k, v in self.rates.items()},
                "channels": self.channels, "personas": self.personas, "recheck": self.recheck,
                "excluded": self.excluded}


# ====================================================================== the clock

class DemoClock:
    """Wall-clock seconds for the bot and storage, running ``scale`` times faster than real time,
    that the reminder step can move forward ("a day later") without waiting a day.

    Built from (``t0``, ``m0``) so that the bot process and the orchestrator share one time line
    (``time.monotonic`` is system-wide); ``offset`` is what the reminder step moves.
    """

    def __init__(self, scale: float = TIME_SCALE, t0: float | None = None, m0: float | None = None,
                 offset: float = 0.0) -> None:
        self.scale = scale
        self.t0 = time.time() if t0 is None else t0
        self.m0 = time.monotonic() if m0 is None else m0
        self.offset = offset

    def __call__(self) -> float:
        return self.t0 + (time.monotonic() - self.m0) * self.scale + self.offset

    def advance_to(self, at: float) -> None:
        """Jump forward to ``at`` (never backward)."""
        now = self()
        if at > now:
            self.offset += at - now

    def spec(self) -> dict[str, float]:
        return {"scale": self.scale, "t0": self.t0, "m0": self.m0, "offset": self.offset}


# ====================================================================== the sample subset

def demo_subset(selection: Any, citizens: int, communes: int) -> tuple[Any, str]:
    """Keep ``communes`` communes spread over the sampled list and ``citizens`` households in
    total, the first ones of each sampled village's list (in sample order), spread evenly.

    Returns the reduced selection (the same units, reasons and households as the full draw, just
    fewer of them) and a sentence saying how the subset was taken.
    """
    all_communes = selection.units_at("commune")
    if not all_communes:
        raise DemoError("kế hoạch không chọn xã nào / the plan selected no commune")
    k = max(1, min(communes, len(all_communes)))
    picked = [all_communes[round(i * len(all_communes) / k)] for i in range(k)]
    codes = {c.code for c in picked}
    villages = [u for u in selection.units_at("village") if u.parent_code in codes]
    if not villages:
        raise DemoError("các xã được chọn không có thôn nào / the chosen communes have no village")
    n = max(1, citizens)
    base, extra = divmod(n, len(villages))
    households = []
    for i, v in enumerate(villages):
        want = base + (1 if i < extra else 0)
        households.extend(selection.households_for(v.code)[:want])
    keep_units = {u.code for u in selection.units if u.level == "province"} | codes | {v.code for v in villages}
    sub = Selection(
        plan_id=selection.plan_id, plan_hash=selection.plan_hash, seed=selection.seed,
        frame_sources=list(selection.frame_sources),
        units=[u for u in selection.units if u.code in keep_units],
        households=households, service_users=[],
        shortfalls=[s for s in selection.shortfalls if s.unit_code in keep_units],
        substitutions=[], lists=dict(selection.lists))
    names = ", ".join(c.name for c in picked)
    how = (f"{len(households)} hộ của {k} xã ({names}) — {len(villages)} thôn được chọn, mỗi thôn "
           f"lấy các hộ đầu danh sách mẫu / {len(households)} households of {k} communes, the first "
           f"ones of each sampled village's list")
    return sub, how


def _default_communes(citizens: int) -> int:
    return max(2, min(8, round(citizens / 45)))


# ====================================================================== running a round

def round_demo(config: DemoConfig | None = None, console: Console | None = None) -> DemoResult:
    """Run the whole-round demo (blocking); see :func:`run_round_demo`."""
    return asyncio.run(run_round_demo(config or DemoConfig(), console))


async def run_round_demo(config: DemoConfig, console: Console | None = None) -> DemoResult:
    """Run a whole round into ``config.out_dir`` and print its story to ``console``.

    ``config.out_dir`` is emptied first only if an earlier demo created it (``demo.output``);
    any other non-empty directory is refused.

    Raises DemoError with a bilingual message for a problem the user can fix (bad size, a frame
    or plan that cannot be read); anything the simulated citizens hit is collected in
    ``DemoResult.errors`` instead (a healthy run has none).
    """
    out = console or Console(highlight=False)
    if config.citizens < 5:
        raise DemoError("cần ít nhất 5 người dân mô phỏng / --citizens must be at least 5")
    t_start = time.monotonic()
    try:
        out_dir = prepare_output_dir(Path(config.out_dir))
    except DemoOutputRefused as exc:
        raise DemoError(str(exc)) from None
    logging.getLogger("hailong").setLevel(logging.WARNING)
    for noisy in ("telegram", "httpx", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    out.rule("[bold]hailong · demo một đợt khảo sát / a whole survey round[/bold]")
    survey, plan, frame, selection = _draw_sample(out, config)
    communes = config.communes or _default_communes(config.citizens)
    subset, how = demo_subset(selection, config.citizens, communes)
    out.print(f"[bold]Mời trong demo / invited in the demo:[/] {how}.")

    db_path = out_dir / DB_NAME
    clock = DemoClock()
    db = await Database.open(str(db_path))
    try:
        fieldwork = await _fieldwork(out, config, db, db_path, clock, survey, plan, frame, subset)
    finally:
        await db.close()
    result = _analyse_and_report(out, config, db_path, out_dir, fieldwork)
    result.subset = how
    _print_headline(out, result)
    # The round's purpose is done: its personal data goes, the indices stay (demo/privacy.py).
    _step(out, 6, "Xóa dữ liệu cá nhân khi hết mục đích / purging personal data once the purpose is done")
    check, result.purged_values = purge_and_verify(out, db_path, result.round_code)
    result.privacy = check.summary()
    if not check.unchanged or check.values_found_after:
        result.errors.append(f"purge: indices unchanged {check.unchanged}, values left {check.values_found_after}")
    result.elapsed_s = time.monotonic() - t_start
    return result


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _step(out: Console, n: int, title: str) -> None:
    out.print()
    out.rule(f"[bold cyan]{n}. {title}[/]", align="left")


def _draw_sample(out: Console, config: DemoConfig) -> tuple[Survey, Any, Any, Any]:
    _step(out, 1, "Chọn mẫu / drawing the sample")
    survey = get_survey(SURVEY_ID)
    try:
        plan = load_plan(PLAN_ID)
    except PlanError as exc:
        raise DemoError("không đọc được kế hoạch / cannot read the plan: " + "; ".join(exc.problems)) from exc
    with out.status("Đọc khung mẫu / reading the frame…"):
        loaded = load_frame_dir(DEFAULT_FRAME_DIR, prefer=plan.frame)
    if not loaded.ok or loaded.frame is None:
        first = loaded.errors[0] if loaded.errors else None
        raise DemoError(f"khung mẫu demo lỗi / the demo frame has errors: {first}")
    frame = loaded.frame
    try:
        selection = draw(plan, frame, config.seed if config.seed != plan.seed else None)
    except SamplingError as exc:
        raise DemoError("; ".join(exc.problems)) from exc
    t = Table(title=f"{plan.title_vi} — kế hoạch / plan {plan.id}, seed {selection.seed}", title_justify="left")
    t.add_column("Cấp / level")
    t.add_column("Số / count", justify="right")
    t.add_column("Theo quy tắc / by rule", overflow="fold")
    for level in ("commune", "village"):
        units = selection.units_at(level)
        rules = Counter(u.reason.code for u in units)
        t.add_row(level, str(len(units)), ", ".join(f"{k}: {v}" for k, v in rules.most_common()))
    rules = Counter(h.reason.code for h in selection.households)
    t.add_row("household", str(len(selection.households)), ", ".join(f"{k}: {v}" for k, v in rules.most_common()))
    out.print(f"Khung mẫu / frame: {vn_number(len(frame.households))} hộ / households, "
              f"{len(frame.at_level('village'))} thôn / villages, {len(frame.at_level('commune'))} xã / communes.")
    out.print(t)
    out.print("[bold]Vì sao được chọn / why chosen[/] (ví dụ / examples):")
    for line in _reasons(selection)[:5]:
        out.print(f"  • {line}")
    return survey, plan, frame, selection


def _reasons(selection: Any) -> list[str]:
    """A few written reasons of different rules, as staff read them."""
    lines: list[str] = []
    seen: set[str] = set()
    for u in [*selection.units_at("village"), *selection.units_at("commune")]:
        if u.reason.code not in seen:
            seen.add(u.reason.code)
            lines.append(f"{u.name}: {u.reason.vi}")
    for h in selection.households:
        if h.reason.code not in seen:
            seen.add(h.reason.code)
            lines.append(f"hộ / household {h.household_id}: {h.reason.vi}")
    return lines


@dataclass
class _Fieldwork:
    round_id: int
    round_code: str
    survey: Survey
    plans: list[Any]
    outcomes: list[Any]
    cards_path: Path
    reasons: list[str]
    recheck: dict[str, int]
    invites: dict[str, int]
    reminders: dict[str, int]
    errors: list[str]


async def _fieldwork(out: Console, config: DemoConfig, db: Any, db_path: Path, clock: DemoClock,
                     survey: Survey, plan: Any, frame: Any, subset: Any) -> _Fieldwork:
    now = time.time()
    rnd = await create_round(db, code=ROUND_CODE, survey=survey, name="Demo — Lai Châu 2025",
                             sampling_plan_id=plan.id, frame=plan.frame, closes_at=now + 14 * 86400,
                             reminder_policy={"after_days": [1, 3], "max": 2},
                             recheck_share=plan.recheck_share, actor="demo")
    counts = await store_selection(db, ROUND_CODE, plan, frame, subset)
    await open_round(db, rnd.id, actor="demo")
    out.print(f"Đợt [bold]{ROUND_CODE}[/] đã tạo và mở / round created and opened: "
              f"{counts['round_units']} đơn vị / units, {counts['respondents']} hộ được mời / households invited.")

    # ---------------------------------------------------------------- 2. invitations and cards
    _step(out, 2, "Thư mời và phiếu mời QR / invitations and QR cards")
    people = await list_respondents(db, rnd.id)
    households, unit_names = await _households(db, people)
    cards_path = Path(config.out_dir) / "cards.pdf"
    deadline = datetime.fromtimestamp(now + 14 * 86400, timezone(timedelta(hours=7))).date()
    with out.status("In phiếu mời / printing the cards…"):
        n_cards = _print_cards(people, unit_names, cards_path, deadline)
    out.print(f"Phiếu mời / cards: {n_cards} (mã ngắn + QR / short code + QR) → [bold]{cards_path}[/]")
    plans = plan_citizens(households, config.seed, config.mix)
    await mark_invited(db, [p.id for p in people])  # the enumerators hand every household its card

    tg_emu = TelegramEmulator(username=BOT_USERNAME)
    zl_emu = ZaloEmulator(token="demo-zalo-" + secrets.token_hex(4), bot_name=ZALO_NAME)
    await tg_emu.start()
    await zl_emu.start()
    endpoints = ((tg_emu.token, tg_emu.base_url), (zl_emu.token, zl_emu.base_url))
    page_port = _free_port()      # the questionnaire page (Telegram Mini App), served by the bot
    stack: _BotStack | _BotProcess
    if config.bot_process:
        stack = _BotProcess(db_path, clock, *endpoints, config.zalo_pollers, Path(config.out_dir) / "bot.log",
                            page_port=page_port)
    else:
        stack = _BotStack(db, clock, *endpoints, config.zalo_pollers, page_port=page_port)
    errors: list[str] = []
    bot_stats: dict[str, dict[str, int]] = {}
    try:
        await stack.start()
        for p in plans:
            if p.entry == "invite":
                tg_emu.user(int(p.user_id), "Người dân", lang="vi")   # they used the bot before
        invites = await _send_invites(out, db, rnd.id, tg_emu)
        out.print(f"Telegram: {invites['sent']} thư mời đã gửi qua hàng đợi / invites sent through the "
                  f"outbox; {invites['no_contact']} hộ không có Telegram nhận phiếu giấy / households "
                  f"without Telegram get the paper card.")
        out.print(f"Bot: Telegram {tg_emu.base_url} · Zalo {zl_emu.base_url} "
                  "(trình giả lập, không giới hạn tốc độ / emulators, flood limits off)")

        # ------------------------------------------------------------ 3. citizens answer
        _step(out, 3, "Người dân trả lời / citizens answer")
        mix = Counter(p.persona for p in plans)
        t = Table(title="Hành vi mô phỏng / simulated behaviour", title_justify="left")
        t.add_column("Hành vi / behaviour")
        t.add_column("Telegram", justify="right")
        t.add_column("Zalo", justify="right")
        for persona in PERSONAS:
            if mix.get(persona):
                t.add_row(PERSONA_LABELS[persona],
                          str(sum(1 for p in plans if p.persona == persona and p.channel == "telegram")),
                          str(sum(1 for p in plans if p.persona == persona and p.channel == "zalo")))
        out.print(t)
        outcomes, reminders = await _run_citizens(out, config, db, clock, stack, tg_emu, zl_emu, plans)
        errors.extend(f"{o.channel} {o.respondent_id} ({o.persona}): {o.error}" for o in outcomes if o.error)
    finally:
        bot_stats = await stack.stop()
        await tg_emu.stop()
        await zl_emu.stop()
    _print_bot_stats(out, bot_stats)

    # ---------------------------------------------------------------- 4. re-check and close
    _step(out, 4, "Phúc tra và đóng đợt / re-check and closing the round")
    recheck = await _recheck(out, db, rnd.id, config.seed, unit_names)
    await close_round(db, rnd.id, actor="demo", reason="kết thúc demo / end of the demo")
    out.print(f"Đợt {ROUND_CODE} đã đóng / closed: phiếu dở dang được ghi là trả lời một phần / "
              "unfinished conversations are recorded as partial.")
    prev = await previous_round(db, survey, plan.id, plan.frame, await _round_villages(db, rnd.id),
                                Path(config.out_dir), forms=max(30, len(people) * 2 // 3), seed=config.seed + 2024)
    out.print(f"Đợt trước để so sánh / previous round for the comparison: [bold]{prev.code}[/], "
              f"{prev.forms} phiếu giấy nhập từ / paper forms imported from {prev.paper_file} "
              "(như / as `hailong responses import`).")
    return _Fieldwork(rnd.id, ROUND_CODE, survey, plans, outcomes, cards_path, _reasons(subset),
                      recheck, invites, reminders, errors)


async def _round_villages(db: Any, round_id: int) -> list[str]:
    """The codes of the units whose households the round invited (last year's forms come from there)."""
    rows = await db.fetchall("SELECT DISTINCT u.code FROM respondents r JOIN units u ON u.id = r.unit_id "
                             "WHERE r.round_id = ? ORDER BY u.code", (round_id,))
    return [str(r[0]) for r in rows]


async def _households(db: Any, people: Sequence[Any]) -> tuple[list[Any], dict[int, tuple[str, str, str]]]:
    """HouseholdIn per respondent (ids and contact ids only) and unit id → (code, village, commune)."""
    contacts = await contacts_for(db, [p.id for p in people])
    unit_names: dict[int, tuple[str, str, str]] = {}
    commune_of: dict[int, str] = {}
    for uid in sorted({p.unit_id for p in people}):
        u = await get_unit(db, uid)
        parent = await get_unit(db, u.parent_id) if u is not None and u.parent_id is not None else None
        assert u is not None
        unit_names[uid] = (u.code, u.name, parent.name if parent else "")
        commune_of[uid] = parent.code if parent else u.code
    out = []
    for p in people:
        c = contacts.get(p.id)
        out.append(HouseholdIn(p.id, p.household_ref or str(p.id), unit_names[p.unit_id][0], commune_of[p.unit_id],
                               p.token, p.card_code, c.telegram_id if c else None, c.zalo_id if c else None))
    return out, unit_names


def _print_cards(people: Sequence[Any], unit_names: dict[int, tuple[str, str, str]], path: Path,
                 deadline: Any) -> int:
    """The QR invitation cards of every invited household (no name, no phone on a card)."""
    cards = [Card(code=p.card_code, token=p.token, village=unit_names[p.unit_id][1],
                  commune=unit_names[p.unit_id][2],
                  addressee=f"{p.attrs.get('sub_hamlet', '')} · {p.household_ref}".strip(" ·"))
             for p in people]
    render_cards(cards, CardOptions(bot_username=BOT_USERNAME, zalo_name=ZALO_NAME, deadline=deadline,
                                    hotline=DEMO_HOTLINE), path)
    return len(cards)


async def _send_invites(out: Console, db: Any, round_id: int, emu: Any) -> dict[str, int]:
    """Queue Telegram invites (idempotent) and deliver them through the outbox sender."""
    res = await enqueue_invites(db, round_id, "telegram", bot_username=BOT_USERNAME)
    bot = build_telegram_bot(emu.token, emu.base_url, rate=30.0)
    await bot.initialize()
    try:
        with _bar(out) as progress:
            task = progress.add_task("Gửi thư mời / sending invites", total=res.new)
            sender = OutboxSender(db, TelegramSender(bot), concurrency=16,
                                  on_sent=lambda m: progress.advance(task))
            stats = await sender.run(until_idle=True, max_seconds=120)
    finally:
        await bot.shutdown()
    return {"queued": res.new, "sent": stats.sent, "dead": stats.dead, "no_contact": res.no_contact}


def _bar(out: Console) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=out, transient=False)


class _BotStack:
    """The bot on both channels against the emulators (``(token, base_url)`` each), sharing one
    store and the demo clock: what ``hailong run`` starts, with pacing off for the emulators."""

    def __init__(self, db: Any, clock: DemoClock, telegram: tuple[str, str], zalo: tuple[str, str],
                 zalo_pollers: int, page_port: int | None = None) -> None:
        self.db, self.clock = db, clock
        self.page_port = page_port
        self.page: Any = None
        self._page_runner: Any = None
        self.tg_token, self.tg_url = telegram
        self.zl_token, self.zl_url = zalo
        self.zalo_pollers = zalo_pollers
        self.telegram: Any = None
        self.zalo: Any = None
        self._zalo_stop = asyncio.Event()
        self._zalo_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        store = SqliteConversationStore(self.db, clock=self.clock)
        page_url = f"http://127.0.0.1:{self.page_port}/p" if self.page_port else None
        settings = Settings(telegram_token=self.tg_token, telegram_base_url=self.tg_url,
                            db=Path(self.db.path), telegram_rate_limit=False, telegram_poll_timeout=1,
                            callback_secret=secrets.token_urlsafe(24), telegram_pool_size=64,
                            page_public_url=page_url)
        self.telegram = TelegramChannel(settings, store, clock=self.clock)
        await self.telegram.start()
        if self.page_port:
            from bot.web.serve import page_for, serve_alone

            self.page = page_for(settings.model_copy(update={"listen_port": self.page_port}), store, self.db)
            self._page_runner = await serve_alone(self.page, settings.model_copy(update={"listen_port": self.page_port}))
        client = ZaloBotClient(self.zl_token, self.zl_url)
        self.zalo = await ZaloChannel(client, store, pacer=Pacer(rate=None, per_chat_rate=None),
                                      clock=self.clock).start()
        self._zalo_task = asyncio.create_task(
            self.zalo.run_polling(self._zalo_stop, poll_timeout=1, pollers=self.zalo_pollers))

    async def start_zalo_only(self) -> None:
        """Only the Zalo side (tests of one citizen on Zalo)."""
        store = SqliteConversationStore(self.db, clock=self.clock)
        self.zalo = await ZaloChannel(ZaloBotClient(self.zl_token, self.zl_url), store,
                                      pacer=Pacer(rate=None, per_chat_rate=None), clock=self.clock).start()
        self._zalo_task = asyncio.create_task(
            self.zalo.run_polling(self._zalo_stop, poll_timeout=1, pollers=self.zalo_pollers))

    async def set_offset(self, offset: float) -> None:
        self.clock.offset = offset

    def stats(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        if self.telegram is not None:
            out["telegram"] = self.telegram.stats.as_dict()
        if self.zalo is not None:
            out["zalo"] = self.zalo.stats.as_dict()
        if self.page is not None:
            out["page"] = dict(self.page.stats)
        return out

    async def stop(self) -> dict[str, dict[str, int]]:
        if self._page_runner is not None:
            await self._page_runner.cleanup()
        if self.telegram is not None:
            await self.telegram.stop()
        self._zalo_stop.set()
        if self._zalo_task is not None:
            try:
                await asyncio.wait_for(self._zalo_task, 5)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - shutting down
                self._zalo_task.cancel()
        if self.zalo is not None:
            await self.zalo.aclose(drain_timeout=5)
            await self.zalo.client.close()
        return self.stats()


def child_env() -> dict[str, str]:
    """The environment of a child ``python -m demo…``: the demo is not installed (it ships with
    the source, outside the runtime packages), so the child finds it through ``PYTHONPATH``
    whatever its working directory."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


class _BotProcess:
    """The same bot in a child process (``python -m demo --bot-process SPEC``), so that the
    bot and the emulators with their citizens use two cores, as in a real deployment where the
    platforms are elsewhere. Commands are JSON lines on stdin; the child stops on EOF, so it never
    outlives the demo."""

    def __init__(self, db_path: Path, clock: DemoClock, telegram: tuple[str, str], zalo: tuple[str, str],
                 zalo_pollers: int, log_path: Path, page_port: int | None = None) -> None:
        self.spec = {"db": str(db_path), "clock": clock.spec(), "telegram": list(telegram),
                     "zalo": list(zalo), "zalo_pollers": zalo_pollers, "page_port": page_port}
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self._log: Any = None

    async def _line(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            raise DemoError(f"tiến trình bot đã dừng / the bot process stopped (see {self.log_path})")
        return json.loads(raw)

    async def _send(self, obj: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        await self.proc.stdin.drain()

    async def start(self) -> None:
        self._log = open_private(self.log_path, "ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "demo.round", "--bot-process", json.dumps(self.spec),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=self._log, env=child_env())
        ready = await self._line(60)
        if not ready.get("ready"):
            raise DemoError(f"tiến trình bot không khởi động / the bot process did not start: "
                            f"{ready.get('error', ready)} (xem / see {self.log_path})")

    async def set_offset(self, offset: float) -> None:
        await self._send({"offset": offset})
        await self._line(30)

    async def stop(self) -> dict[str, dict[str, int]]:
        stats: dict[str, dict[str, int]] = {}
        if self.proc is None:
            return stats
        try:
            if self.proc.returncode is None:
                await self._send({"stop": True})
                stats = (await self._line(30)).get("stats", {})
                await asyncio.wait_for(self.proc.wait(), 15)
        except (asyncio.TimeoutError, DemoError, ConnectionError, ValueError):
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        finally:
            if self._log is not None:
                self._log.close()
        return stats


async def _serve_bot(spec: dict[str, Any]) -> None:
    """The child side of :class:`_BotProcess`."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    c = spec["clock"]
    clock = DemoClock(c["scale"], c["t0"], c["m0"], c["offset"])
    db = await Database.open(spec["db"])
    stack = _BotStack(db, clock, tuple(spec["telegram"]), tuple(spec["zalo"]), int(spec["zalo_pollers"]),
                      page_port=spec.get("page_port"))
    loop = asyncio.get_running_loop()
    try:
        try:
            await stack.start()
        except Exception as exc:
            logging.getLogger("hailong.demo").exception("the demo bot could not start")
            print(json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
            return
        print(json.dumps({"ready": True}), flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            cmd = json.loads(line)
            if "offset" in cmd:
                await stack.set_offset(float(cmd["offset"]))
                print(json.dumps({"ok": True}), flush=True)
            if cmd.get("stop"):
                break
    finally:
        stats = await stack.stop()
        await db.close()
        print(json.dumps({"stats": stats}), flush=True)


async def _run_citizens(out: Console, config: DemoConfig, db: Any, clock: DemoClock, stack: Any,
                        tg_emu: Any, zl_emu: Any, plans: Sequence[Any]) -> tuple[list[Any], dict[str, int]]:
    """Phase 1: everyone answers until finished or waiting for a reminder. Then the reminder tick
    runs "a day later" (the clock moves), the reminders go through the outbox, and phase 2 lets
    the reminded citizens finish."""
    n_tg = sum(1 for p in plans if p.channel == "telegram")
    n_zl = len(plans) - n_tg
    settled = 0
    all_settled = asyncio.Event()
    waiting = Counter()
    with _bar(out) as progress:
        t_tg = progress.add_task("Telegram", total=n_tg)
        t_zl = progress.add_task("Zalo", total=n_zl)
        t_ans = progress.add_task("Câu trả lời / answers", total=None)

        def on_settled(o: Any) -> None:
            nonlocal settled
            settled += 1
            if o.result == "waiting":
                waiting[o.channel] += 1
                progress.update(t_tg if o.channel == "telegram" else t_zl,
                                description=f"{o.channel.capitalize()} (chờ nhắc / waiting: {waiting[o.channel]})")
            if settled >= len(plans):
                all_settled.set()

        def on_finished(o: Any) -> None:
            progress.advance(t_tg if o.channel == "telegram" else t_zl)

        signals = CitizenSignals(settled=on_settled, finished=on_finished,
                                 answered=lambda: progress.advance(t_ans),
                                 reminder_timeout=max(120.0, config.timeout * 4), think=(0.02, 0.05))
        tasks = []
        for p in plans:
            if is_page_citizen(p):
                tasks.append(asyncio.create_task(run_page_citizen(tg_emu, p, signals, config.timeout)))
            elif p.channel == "telegram":
                tasks.append(asyncio.create_task(run_telegram_citizen(tg_emu, p, signals, config.timeout)))
            else:
                tasks.append(asyncio.create_task(run_zalo_citizen(zl_emu, p, signals, config.timeout)))
        if plans:
            await all_settled.wait()
        reminders = await _reminders(progress, db, clock, stack, tg_emu, zl_emu)
        outcomes = await asyncio.gather(*tasks)
    on_page = sum(1 for p in plans if is_page_citizen(p))
    out.print(f"Trang phiếu (Telegram Mini App) / questionnaire page: {on_page} người dân bắt đầu trong chat rồi "
              "trả lời tiếp trên trang / citizens started in the chat and finished on the page.")
    out.print(f"Nhắc nhở / reminders: {reminders['queued']} xếp hàng / queued a day later, "
              f"{reminders['sent']} đã gửi / sent, {reminders['unreachable']} không gửi được qua Zalo "
              "(người chưa từng nhắn / never messaged the account) → không liên lạc được / unreachable, "
              f"{reminders['no_channel']} không có kênh / no channel.")
    return list(outcomes), reminders


async def _reminders(progress: Progress, db: Any, clock: DemoClock, stack: Any, tg_emu: Any,
                     zl_emu: Any) -> dict[str, int]:
    """Move the clock past one day (and out of quiet hours), run one reminder tick, deliver."""
    target = shift_out_of_quiet(datetime.fromtimestamp(clock() + 86400 + 3600, timezone.utc),
                                ReminderPolicy()).timestamp() + 60
    clock.advance_to(target)
    await stack.set_offset(clock.offset)   # the bot's clock jumps with ours
    res = await tick(db, clock(), actor="demo-scheduler")
    task = progress.add_task("Nhắc nhở sau 1 ngày / reminders a day later", total=res.enqueued)
    bot = build_telegram_bot(tg_emu.token, tg_emu.base_url, rate=30.0)
    await bot.initialize()
    zclient = ZaloBotClient(zl_emu.token, zl_emu.base_url)
    pacer = await Pacer(rate=None, per_chat_rate=None).start()
    try:
        senders = [OutboxSender(db, TelegramSender(bot), concurrency=16, kinds=["reminder"],
                                on_sent=lambda m: progress.advance(task), max_attempts=1),
                   OutboxSender(db, ZaloSender(zclient, pacer), concurrency=16, kinds=["reminder"],
                                on_sent=lambda m: progress.advance(task), max_attempts=1)]
        stats = await asyncio.gather(*(s.run(until_idle=True, max_seconds=120) for s in senders))
    finally:
        await bot.shutdown()
        await pacer.aclose(2)
        await zclient.close()
    progress.update(task, total=sum(s.sent for s in stats) or None, completed=sum(s.sent for s in stats))
    return {"queued": res.enqueued, "sent": sum(s.sent for s in stats),
            "unreachable": sum(s.unreachable for s in stats), "dead": sum(s.dead for s in stats),
            "no_channel": res.no_channel}


async def _recheck(out: Console, db: Any, round_id: int, seed: int,
                   unit_names: dict[int, tuple[str, str, str]]) -> dict[str, int]:
    """Draw the plan's share of completed responses (stratified by village, seeded) and record
    the supervisors' outcomes: most confirmed, a few not confirmed, a few not reached."""
    rnd = await get_round(db, round_id)
    assert rnd is not None
    share = rnd.recheck_share or 0.10
    done = await list_respondents(db, round_id, statuses=["completed"])
    if not done:
        out.print("[yellow]Không có phiếu hoàn thành để phúc tra / no completed response to re-check.[/]")
        return {"drawn": 0, "confirmed": 0, "not_confirmed": 0, "unreachable": 0}
    # Respondent ids (not response ids) name the draw: they follow the sample order, so the draw
    # does not depend on which citizen happened to start first.
    names = {unit_names[r.unit_id][0]: unit_names[r.unit_id][1] for r in done}
    drawn = draw_recheck([(unit_names[r.unit_id][0], r.id) for r in done], share, seed, names)
    actor = "Mặt trận Tổ quốc xã / Fatherland Front (demo)"
    await record_recheck_draw(db, round_id, seed, [RecheckDraw(p.response_id, str(p.unit)) for p in drawn.picks],
                              actor=actor)
    rng = random.Random(f"recheck-outcomes:{seed}")
    picks = sorted(p.response_id for p in drawn.picks)
    outcomes = {}
    for rid in picks:
        u = rng.random()
        outcomes[rid] = "confirmed" if u < 0.82 else ("not_confirmed" if u < 0.92 else "unreachable")
    if len(picks) >= 3 and "not_confirmed" not in outcomes.values():
        outcomes[picks[-1]] = "not_confirmed"   # the demo shows an exclusion at every size
    notes = {"confirmed": None,
             "not_confirmed": "Chủ hộ cho biết không tự trả lời (người khác trả lời hộ) / the household head "
                              "says someone else answered",
             "unreachable": "Không gặp được chủ hộ sau hai lần đến / not met after two visits"}
    for rid, o in outcomes.items():
        await record_recheck_outcome(db, round_id, rid, o, recorded_by=actor, note=notes[o])  # type: ignore[arg-type]
    c = Counter(outcomes.values())
    out.print(f"Phúc tra {share:.0%} / re-check: rút / drawn {len(picks)} của / of {len(done)} phiếu hoàn thành "
              f"(phân tầng theo thôn, seed {seed}): xác nhận / confirmed {c['confirmed']}, "
              f"không xác nhận / not confirmed {c['not_confirmed']} (loại khỏi chỉ số / excluded from the "
              f"indices), không gặp / unreachable {c['unreachable']}.")
    if drawn.picks:
        out.print(f"  • {drawn.picks[0].reason}")
    return {"drawn": len(picks), "confirmed": c["confirmed"], "not_confirmed": c["not_confirmed"],
            "unreachable": c["unreachable"]}


def _print_bot_stats(out: Console, stats: dict[str, dict[str, int]]) -> None:
    """What the bot itself counted: updates, stored answers, and the junk it turned away."""
    tg, zl = stats.get("telegram", {}), stats.get("zalo", {})
    if tg:
        out.print(f"Bot Telegram: {tg.get('updates', 0)} cập nhật / updates, {tg.get('answers', 0)} câu trả lời lưu / "
                  f"answers stored, {tg.get('forged', 0)} nút giả / forged buttons, {tg.get('stale', 0)} nút cũ / "
                  f"stale, {tg.get('duplicates', 0)} trùng / duplicates, {tg.get('errors', 0)} lỗi / errors")
    if zl:
        out.print(f"Bot Zalo: {zl.get('updates', 0)} cập nhật / updates, {zl.get('answers', 0)} câu trả lời lưu / "
                  f"answers stored, {zl.get('replies', 0)} tin trả lời / replies, {zl.get('duplicates', 0)} trùng / "
                  f"duplicates, {zl.get('send_failures', 0)} lỗi gửi / send failures")


# ====================================================================== analytics and the headline

def _analyse_and_report(out: Console, config: DemoConfig, db_path: Path, out_dir: Path,
                        fw: _Fieldwork) -> DemoResult:
    _step(out, 5, "Chỉ số, xuất dữ liệu, báo cáo / indices, exports, report")
    settings = AnalyticsSettings(bootstrap_b=config.bootstrap)  # analytics' own seed: `hailong indices` agrees
    with out.status("Tính chỉ số và khoảng tin cậy / computing indices and intervals…"):
        lr = load_round(db_path, fw.round_code)
        if len(lr.data) == 0:
            raise DemoError("không có phiếu hoàn thành nào được tính / no completed response to analyse")
        # intervals follow the plan's design; the design-weighted index is shown beside the official one
        settings = settings.with_(design=design_for_plan(lr.plan_id))
        previous = load_round(db_path, PREVIOUS_CODE).data   # last year's paper round (demo/previous.py)
        a = analyse(lr.data, lr.survey, fw.round_code, settings, units=lr.units, dispositions=lr.dispositions,
                    frame=lr.frame, previous_df=previous, previous_code=PREVIOUS_CODE)
    exports_dir = out_dir / "exports"
    paths: dict[str, list[Path]] = {}
    with _bar(out) as progress:
        task = progress.add_task("Xuất / exporting", total=5)
        for fmt, target in (("csv", exports_dir / "csv"), ("xlsx", exports_dir / "hailong-demo.xlsx"),
                            ("parquet", exports_dir / "parquet"), ("sav", exports_dir / "hailong-demo.sav")):
            paths[fmt] = export(a, fmt, target)
            progress.advance(task)
        report = write_reports(a, out_dir / "report")[0]           # index.html and the Word version
        progress.advance(task)

    ov = a.overall
    lo, hi = ov.intervals["overall"]
    pillars = {pillar_name(a.survey, str(c)): float(ov.pillars[c].iloc[0]) for c in ov.pillars.columns}
    components = {component_name(a.survey, str(c)): float(ov.components[c].iloc[0]) for c in ov.components.columns}
    names = {it.step_id: it.name for it in a.items}
    items = ov.items.iloc[0].dropna().sort_values()
    weakest = [(names.get(k, k), float(v)) for k, v in items.head(5).items()]
    communes: list[tuple[str, int, float, float, float]] = []
    if "commune" in a.levels:
        ct = a.unit_table("commune")
        name_col = "commune_name" if "commune_name" in ct.columns else "commune_id"
        for _, r in ct.sort_values("value", na_position="last").iterrows():
            communes.append((str(r[name_col]), int(r["n"]), float(r["value"]), float(r["lo"]), float(r["hi"])))

    resp = read_responses(str(db_path), fw.round_id)
    statuses = Counter()
    by_channel: dict[str, Counter[str]] = {"telegram": Counter(), "zalo": Counter()}
    planned = {p.respondent_id: p.channel for p in fw.plans}
    for p in fw.plans:
        by_channel[p.channel]["invited"] += 1
    included = set(a.data["response_id"].tolist()) if "response_id" in a.data.columns else set()
    for r in resp.itertuples(index=False):
        # the channel the citizen was invited on (a page answer is stored with channel "web")
        ch = str(planned.get(int(r.respondent_id)) or r.channel or "?")
        c = by_channel.setdefault(ch, Counter())
        c["started"] += 1
        if r.respondent_status == "completed":
            c["completed"] += 1
        if int(r.response_id) in included:
            c["in_index"] += 1
    disp = lr.dispositions.groupby("disposition")["count"].sum().to_dict()
    counts = DispositionCounts({disposition_from_status(k): int(v) for k, v in disp.items()})
    rt = rates(counts)
    statuses.update({str(k): int(v) for k, v in disp.items()})
    personas: dict[str, dict[str, int]] = {}
    for o in fw.outcomes:
        personas.setdefault(o.persona, Counter())[o.result] += 1
    return DemoResult(
        out_dir=out_dir, db_path=db_path, report_path=report, cards_path=fw.cards_path, exports=paths,
        round_code=fw.round_code, subset="", target=settings.target,
        overall=float(ov.overall.iloc[0]), overall_lo=float(lo.iloc[0]), overall_hi=float(hi.iloc[0]),
        n_responses=int(ov.n.iloc[0]), pillars=pillars, components=components, weakest=weakest,
        communes=communes, dispositions=dict(sorted(statuses.items())),
        rates={"RR1": rt.rr1, "RR2": rt.rr2, "COOP1": rt.coop1, "REF1": rt.ref1, "CON1": rt.con1},
        channels={k: dict(sorted(v.items())) for k, v in sorted(by_channel.items())},
        personas={k: dict(sorted(v.items())) for k, v in sorted(personas.items())},
        recheck=fw.recheck, excluded=dict(lr.excluded), reasons=fw.reasons, errors=fw.errors)


def _pct(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return vn_number(x, digits)


def _status_vs_target(value: float, lo: float, hi: float, target: float, short: bool = False) -> str:
    """Above / below the target only when the whole 95% interval is; otherwise undecided."""
    if lo > target:
        return "[green]đạt / above[/]" if short else "[green]đạt chỉ tiêu / above the target[/]"
    if hi < target:
        return "[red]dưới / below[/]" if short else "[red]dưới chỉ tiêu / below the target[/]"
    return ("[yellow]chưa rõ / overlaps[/]" if short
            else "[yellow]chưa phân biệt được / not distinguishable from the target[/]")


_EXCLUDED_LABELS = {"not_submitted": "chưa gửi phiếu / not submitted",
                    "withdrawn": "rút lui / withdrawn",
                    "recheck_not_confirmed": "phúc tra không xác nhận / re-check not confirmed"}


def _print_headline(out: Console, r: DemoResult) -> None:
    out.print()
    out.rule("[bold]Kết quả / results[/bold]")
    out.print(f"[bold]Chỉ số hài lòng chung / overall satisfaction index: {_pct(r.overall, 2)}%[/] "
              f"(KTC 95% / 95% CI {_pct(r.overall_lo, 2)}–{_pct(r.overall_hi, 2)}) · chỉ tiêu / target "
              f"{_pct(r.target, 0)}% · {_status_vs_target(r.overall, r.overall_lo, r.overall_hi, r.target)} · "
              f"{r.n_responses} phiếu được tính / responses counted")

    t = Table(title="Trụ cột và thành phần / pillars and components (%)", title_justify="left")
    t.add_column("Trụ cột / pillar · thành phần / component")
    t.add_column("Chỉ số / index", justify="right")
    for name, v in r.pillars.items():
        t.add_row(f"[bold]{name}[/]", f"[bold]{_pct(v)}[/]")
    for name, v in r.components.items():
        t.add_row(f"  {name}", _pct(v))
    out.print(t)

    t = Table(title="Năm tiêu chí thấp nhất / the five weakest criteria (%)", title_justify="left")
    t.add_column("Tiêu chí / criterion")
    t.add_column("Chỉ số / index", justify="right")
    for name, v in r.weakest:
        t.add_row(name, _pct(v))
    out.print(t)

    if r.communes:
        t = Table(title="Theo xã / by commune (%)", title_justify="left")
        for c, j in (("Xã / commune", "left"), ("Phiếu / n", "right"), ("Chỉ số / index", "right"),
                     ("KTC 95% / CI", "right"), ("So với 85% / vs target", "left")):
            t.add_column(c, justify=j)  # type: ignore[arg-type]
        for name, n, v, lo, hi in r.communes:
            t.add_row(name, str(n), _pct(v), f"{_pct(lo)}–{_pct(hi)}",
                      _status_vs_target(v, lo, hi, r.target, short=True))
        out.print(t)

    t = Table(title="Kết quả liên hệ / dispositions (AAPOR)", title_justify="left")
    t.add_column("Kết quả / disposition")
    t.add_column("Số hộ / households", justify="right")
    order = {d.value: i for i, d in enumerate((Disposition.COMPLETE, Disposition.PARTIAL, Disposition.STARTED,
                                                Disposition.OPENED, Disposition.REFUSED, Disposition.INELIGIBLE,
                                                Disposition.INVITED, Disposition.UNREACHABLE,
                                                Disposition.SUBSTITUTED, Disposition.NOT_INVITED))}
    for k, v in sorted(r.dispositions.items(), key=lambda kv: order.get(kv[0], 99)):
        try:
            label = f"{LABELS_VI[Disposition(k)]} / {k}"
        except ValueError:
            label = k
        t.add_row(label, str(v))
    t.add_row("[bold]Tổng / total[/]", f"[bold]{sum(r.dispositions.values())}[/]")
    out.print(t)
    rates_line = " · ".join(f"{k} {_pct(None if v is None else 100 * v)}%" for k, v in r.rates.items())
    out.print(f"Tỷ lệ / rates: {rates_line}  [dim](RR1 phản hồi / response, COOP1 hợp tác / cooperation, "
              "REF1 từ chối / refusal, CON1 liên hệ được / contact)[/]")

    t = Table(title="Theo kênh / by channel", title_justify="left")
    for c in ("Kênh / channel", "Được mời / invited", "Đã bắt đầu / started", "Hoàn thành / completed",
              "Tính vào chỉ số / in the index"):
        t.add_column(c, justify="left" if c.startswith("Kênh") else "right")
    for ch, c in r.channels.items():
        t.add_row(ch, str(c.get("invited", 0)), str(c.get("started", 0)), str(c.get("completed", 0)),
                  str(c.get("in_index", 0)))
    out.print(t)
    ex = ", ".join(f"{_EXCLUDED_LABELS.get(k, k)} {v}" for k, v in r.excluded.items() if v)
    if ex:
        out.print(f"Không tính vào chỉ số / not counted: {ex}")
    if r.errors:
        out.print(f"[bold red]{len(r.errors)} lỗi khi mô phỏng / simulation errors:[/]")
        for e in r.errors[:10]:
            out.print(f"  • {e}")

    out.print()
    out.print("[bold]Tệp kết quả / outputs[/]")
    out.print(f"  Cơ sở dữ liệu / database: {r.db_path}")
    out.print(f"  Phiếu mời QR / QR cards:  {r.cards_path}")
    out.print(f"  Báo cáo HTML / report:    {r.report_path}")
    for fmt, ps in r.exports.items():
        where = ps[0] if len(ps) == 1 else f"{ps[0].parent}/ ({len(ps)} tệp / files)"
        out.print(f"  {fmt.upper():<7} {where}")
    out.print(f"[dim]Xong trong / done in {r.elapsed_s:.0f} s.[/]")


# ====================================================================== command line

def demo_command(
    citizens: int = typer.Option(300, "--citizens", "-n", help="Số người dân mô phỏng / simulated citizens"),
    quick: bool = typer.Option(False, "--quick", help="Chạy nhỏ, nhanh / a small, fast run (60 citizens)"),
    seed: int = typer.Option(2025, "--seed", help="Hạt giống / seed (same seed, same numbers)"),
    out_dir: Path = typer.Option(Path("demo-output"), "--out", help="Thư mục kết quả (chỉ xóa nếu do demo tạo) / "
                                                                    "output directory (emptied only if a "
                                                                    "demo created it)"),
    communes: Optional[int] = typer.Option(None, "--communes", help="Số xã mời / communes to invite in"),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Số lần bootstrap / bootstrap replicates"),
    console_mode: bool = typer.Option(False, "--console", help="Một người dân trên kênh console / one citizen "
                                                               "in the console channel"),
    in_process: bool = typer.Option(False, "--in-process", help="Chạy bot trong cùng tiến trình / run the bot "
                                                                "in this process (one core)"),
    bot_process: Optional[str] = typer.Option(None, "--bot-process", hidden=True),
    web: bool = typer.Option(False, "--web", help="Giữ bảng điều khiển web chạy đến khi Ctrl-C / keep the staff "
                                                  "web console up until Ctrl-C"),
) -> None:
    """Demo một đợt khảo sát trọn vẹn, không cần mạng / a whole survey round, offline."""
    if bot_process is not None:   # internal: the demo's own bot child process
        asyncio.run(_serve_bot(json.loads(bot_process)))
        raise typer.Exit(0)
    out = Console(highlight=False)
    if console_mode:
        state = run_demo(console=out)
        raise typer.Exit(0 if state.status == "submitted" else 1)
    if bootstrap < 50:
        out.print("[bold red]Lỗi / Error:[/] số lần bootstrap phải ≥ 50 / --bootstrap must be at least 50")
        raise typer.Exit(2)
    cfg = DemoConfig.quick() if quick else DemoConfig()
    overrides: dict[str, Any] = {"seed": seed, "out_dir": out_dir, "communes": communes,
                                 "bot_process": not in_process}
    if not quick or citizens != 300:
        overrides["citizens"] = citizens
    if not quick or bootstrap != 1000:
        overrides["bootstrap"] = bootstrap
    cfg = replace(cfg, **overrides)
    try:
        result = round_demo(cfg, out)
    except DemoError as exc:
        out.print(f"[bold red]Lỗi / Error:[/] {exc}")
        raise typer.Exit(2) from None
    except OSError as exc:
        out.print(f"[bold red]Lỗi / Error:[/] không ghi được / cannot write: {exc}")
        raise typer.Exit(2) from None
    _try_it_yourself(out, result)
    _console(out, result.db_path, web)
    raise typer.Exit(1 if result.errors else 0)


def _try_it_yourself(out: Console, r: DemoResult) -> None:
    """The analyst section of the README on this run's database: how to get ``hailong`` on PATH
    and the two rounds to name (this one and last year's paper round)."""
    out.print()
    out.print("[bold]Tự thử / try it yourself[/] (README, “For analysts”): lệnh / the command [bold]hailong[/] "
              "nằm trong / is in .venv/bin; đưa vào PATH / put it on PATH:", soft_wrap=True)
    for line in (". .venv/bin/activate", f"export HAILONG_DB={r.db_path}", f"hailong indices --round {r.round_code}",
                 f"hailong report --round {r.round_code} --out report/ --previous {PREVIOUS_CODE}"):
        out.print(f"  {line}", soft_wrap=True, markup=False, highlight=False)


def cli_app() -> typer.Typer:
    """The demo's command line (``python -m demo --help``)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
    app.command()(demo_command)
    return app


def _console(out: Console, db_path: Path, keep: bool) -> None:
    """The staff web console on the demo database: its URL and a demo login (``--web``: served)."""
    from hailong.console.demo_web import serve_demo_console

    out.print()
    try:
        asyncio.run(serve_demo_console(db_path, lambda line: out.print(line, markup=False, highlight=False),
                                       keep=keep))
    except KeyboardInterrupt:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m demo [--citizens N] [--quick] [--seed S] [--console]``."""
    app = cli_app()
    try:
        app(args=list(argv) if argv is not None else None, prog_name="python -m demo")
    except SystemExit as exc:  # typer/click always end with SystemExit(code) in standalone mode
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


# ====================================================================== the console walk-through



def run_demo(survey_id: str = "sipas-households", console: Console | None = None, seed: int = 7,
             show_first: int = 6) -> State:
    """Play a scripted citizen through the console channel; print a progress bar and the answers.

    The first ``show_first`` exchanges are printed as the citizen sees them; the rest run behind
    the progress bar, then the closing messages and the collected answers are printed.
    """
    out = console or Console(highlight=False)
    survey = get_survey(survey_id)
    lines = scripted_lines(survey, seed)
    out.rule(f"[bold]python -m demo[/bold] · {survey.title.get('vi', survey.id)}")
    out.print(f"Người dân (kịch bản) trả lời {len(lines)} tin nhắn trên kênh console.\n")
    quiet = Console(file=io.StringIO(), highlight=False, width=out.width)
    shown = Console(file=out.file, highlight=False, width=out.width, force_terminal=out.is_terminal)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        console=out, transient=False)
    task = progress.add_task("Câu", total=1)
    last: list[StepResult] = []

    def watch(r: StepResult) -> None:
        last.append(r)
        for reply in r.replies:
            if reply.progress is not None:
                n, total = reply.progress
                progress.update(task, completed=n - 1, total=total)

    ch = ConsoleChannel(survey=survey, console=shown, echo=True, clock=_clock(), on_result=watch)
    it: Iterator[str] = iter(lines)
    ch.start()
    for _ in range(show_first):
        line = next(it, None)
        if line is None:
            break
        ch.feed([line])
    ch.console = quiet
    with progress:
        for line in it:
            ch.feed([line])
        total = progress.tasks[0].total or 1
        progress.update(task, completed=total)
    ch.console = shown
    closing = last[-1].replies if last else ()
    for reply in closing:
        shown.print(render_reply(reply))
    out.print(answers_table(survey, ch.state))
    out.print(f"Trạng thái / status: [bold]{ch.state.status}[/bold] ({ch.state.outcome}); "
              f"{len(ch.state.answers)} câu trả lời / answers.")
    return ch.state


def _clock() -> Callable[[], float]:
    """A deterministic clock: the scripted citizen answers one message every 4 seconds."""
    t = [1_700_000_000.0]

    def now() -> float:
        t[0] += 4.0
        return t[0]
    return now


run_console_demo = run_demo


if __name__ == "__main__":
    raise SystemExit(main())
