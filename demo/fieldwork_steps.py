"""Steps 2–4 of the whole-round demo: invitations and cards, citizens answering, re-check and close.

The fieldwork of one round on the demo database: the round is created and opened, QR cards
printed, invitations sent through the outbox, simulated citizens (:mod:`demo.citizens`) answer
on both emulators while the bot (:mod:`demo.bot_stack`) runs, reminders go out "a day later", and
a seeded re-check is drawn before the round closes. Split from :mod:`demo.round` so that each step
of the story is one module.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bot.telegram.sender import TelegramSender, build_telegram_bot
from bot.zalo.client import ZaloBotClient
from bot.zalo.pacer import Pacer
from bot.zalo.sender import ZaloSender
from demo.bot_stack import BotProcess, BotStack, free_port
from demo.citizen_telegram import run_telegram_citizen
from demo.citizen_zalo import run_zalo_citizen
from demo.citizens import CitizenSignals, HouseholdIn, PERSONAS, PERSONA_LABELS, plan_citizens
from demo.emulators.telegram import TelegramEmulator
from demo.emulators.zalo import ZaloEmulator
from demo.page import is_page_citizen, run_page_citizen
from demo.previous import previous_round
from demo.round_types import (BOT_USERNAME, DEMO_HOTLINE, ROUND_CODE, ZALO_NAME, DemoClock, DemoConfig,
                              print_step, progress_bar)
from demo.sample_step import written_reasons
from fieldwork.cards import Card, CardOptions, render_cards
from fieldwork.outbox import OutboxSender, enqueue_invites
from fieldwork.reminders import ReminderPolicy, shift_out_of_quiet, tick
from sampling.persistence import store_selection
from sampling.recheck import draw_recheck
from storage.recheck import RecheckDraw, record_recheck_draw, record_recheck_outcome
from storage.respondents import contacts_for, list_respondents, mark_invited
from storage.rounds import close_round, create_round, get_round, open_round
from storage.units import get_unit
from survey_defs.schema import Survey

__all__ = ["Fieldwork", "run_fieldwork", "print_bot_stats"]


@dataclass
class Fieldwork:
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


async def run_fieldwork(out: Console, config: DemoConfig, db: Any, db_path: Path, clock: DemoClock,
                     survey: Survey, plan: Any, frame: Any, subset: Any) -> Fieldwork:
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
    print_step(out, 2, "Thư mời và phiếu mời QR / invitations and QR cards")
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
    page_port = free_port()      # the questionnaire page (Telegram Mini App), served by the bot
    stack: BotStack | BotProcess
    if config.bot_process:
        stack = BotProcess(db_path, clock, *endpoints, config.zalo_pollers, Path(config.out_dir) / "bot.log",
                            page_port=page_port)
    else:
        stack = BotStack(db, clock, *endpoints, config.zalo_pollers, page_port=page_port)
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
        print_step(out, 3, "Người dân trả lời / citizens answer")
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
    print_bot_stats(out, bot_stats)

    # ---------------------------------------------------------------- 4. re-check and close
    print_step(out, 4, "Phúc tra và đóng đợt / re-check and closing the round")
    recheck = await _recheck(out, db, rnd.id, config.seed, unit_names)
    await close_round(db, rnd.id, actor="demo", reason="kết thúc demo / end of the demo")
    out.print(f"Đợt {ROUND_CODE} đã đóng / closed: phiếu dở dang được ghi là trả lời một phần / "
              "unfinished conversations are recorded as partial.")
    prev = await previous_round(db, survey, plan.id, plan.frame, await _round_villages(db, rnd.id),
                                Path(config.out_dir), forms=max(30, len(people) * 2 // 3), seed=config.seed + 2024)
    out.print(f"Đợt trước để so sánh / previous round for the comparison: [bold]{prev.code}[/], "
              f"{prev.forms} phiếu giấy nhập từ / paper forms imported from {prev.paper_file} "
              "(như / as `hailong responses import`).")
    return Fieldwork(rnd.id, ROUND_CODE, survey, plans, outcomes, cards_path, written_reasons(subset),
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
        with progress_bar(out) as progress:
            task = progress.add_task("Gửi thư mời / sending invites", total=res.new)
            sender = OutboxSender(db, TelegramSender(bot), concurrency=16,
                                  on_sent=lambda m: progress.advance(task))
            stats = await sender.run(until_idle=True, max_seconds=120)
    finally:
        await bot.shutdown()
    return {"queued": res.new, "sent": stats.sent, "dead": stats.dead, "no_contact": res.no_contact}


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
    with progress_bar(out) as progress:
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


def print_bot_stats(out: Console, stats: dict[str, dict[str, int]]) -> None:
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
