"""Reminders and the round deadline: a pure policy, and its APScheduler wiring.

Policy (pure, tested with a controllable clock): ``due_reminders(now, policy, states)`` says which
reminders are due. Rules, from the round's reminder policy (issue 5, item 5):

* reminder *k* (1-based) is due ``after_days[k-1]`` days after the **invite** for a citizen who has
  not started (dispositions ``invited``/``opened``), and after their **last activity** for one who
  stopped halfway (``started``/``partial``); the two kinds get different messages;
* at most ``max_reminders``; two reminders are at least ``min_gap_hours`` apart (after downtime,
  overdue reminders are not fired in a burst);
* never in quiet hours (21:00-07:00 local time, Asia/Ho_Chi_Minh): a reminder that falls in them
  is moved to 07:00;
* never after completion, refusal, ineligibility, unreachability or substitution, never to someone
  not invited, and never at or after the round's close.

Scheduling: the database is the truth (outbox rows keyed ``reminder:<respondent>:<k>``), the
scheduler only decides *when to look*. See ``ReminderScheduler`` below.
"""

from __future__ import annotations

import asyncio
import logging
import time as _time   # `time` is datetime.time here
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from fieldwork.dispositions import Disposition
from storage.credentials import format_code
from storage.leases import SCHEDULER as SCHEDULER_LEASE
from storage.leases import acquire as acquire_lease
from storage.leases import release as release_lease
from storage.outbox import OutboxItem, enqueue_outbox, reminder_candidates
from storage.respondents import chats_for, contacts_for, get_respondent
from storage.rounds import close_round, list_rounds, rounds_to_close

log = logging.getLogger("hailong.reminders")

__all__ = [
    "DueReminder",
    "ReminderKind",
    "ReminderPolicy",
    "RespondentReminderState",
    "due_reminders",
    "in_quiet_hours",
    "next_reminder",
    "plan_reminders",
    "reminder_text",
    "shift_out_of_quiet",
    "VN_TZ",
    "ReminderScheduler",
    "TickResult",
    "compute_due",
    "plan_round",
    "tick",
]

VN_TZ = "Asia/Ho_Chi_Minh"

_NOT_STARTED = {Disposition.INVITED, Disposition.OPENED}
_PARTIAL = {Disposition.STARTED, Disposition.PARTIAL}


_DEFAULT_AFTER_DAYS: tuple[float, ...] = (1.0, 3.0)


class ReminderKind(StrEnum):
    NOT_STARTED = "not_started"
    PARTIAL = "partial"


def _aware(dt: datetime | float | int | None) -> datetime | None:
    """Accept aware datetimes or epoch seconds (storage's clock); naive datetimes are refused
    because a naive time in a quiet-hours rule is a bug waiting for a server in another zone."""
    if dt is None:
        return None
    if isinstance(dt, (int, float)):
        return datetime.fromtimestamp(float(dt), tz=timezone.utc)
    if dt.tzinfo is None:
        raise ValueError("naive datetime: use an aware datetime or epoch seconds")
    return dt


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    """A round's reminder settings (stored as JSON on the round; ``from_mapping`` reads it)."""

    after_days: tuple[float, ...] = _DEFAULT_AFTER_DAYS
    max_reminders: int = 2
    quiet_start: time = time(21, 0)
    quiet_end: time = time(7, 0)
    tz: str = VN_TZ
    min_gap_hours: float = 12.0
    closes_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.after_days or any(d <= 0 for d in self.after_days):
            raise ValueError("after_days must be positive numbers of days, e.g. [1, 3]")
        if list(self.after_days) != sorted(self.after_days):
            raise ValueError("after_days must be increasing")
        if self.max_reminders < 0:
            raise ValueError("max_reminders must be >= 0")
        ZoneInfo(self.tz)  # raises for an unknown zone
        if self.closes_at is not None:
            object.__setattr__(self, "closes_at", _aware(self.closes_at))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, closes_at: datetime | float | None = None) -> ReminderPolicy:
        """Build from a round's settings, e.g. ``{"after_days": [1, 3], "max": 2,
        "quiet_hours": ["21:00", "07:00"]}``; missing keys take the defaults."""
        data = dict(data or {})
        kw: dict[str, Any] = {}
        if "after_days" in data:
            kw["after_days"] = tuple(float(x) for x in data["after_days"])
        if "max" in data or "max_reminders" in data:
            kw["max_reminders"] = int(data.get("max", data.get("max_reminders")))
        if "quiet_hours" in data:
            qs, qe = data["quiet_hours"]
            kw["quiet_start"], kw["quiet_end"] = time.fromisoformat(qs), time.fromisoformat(qe)
        if "tz" in data:
            kw["tz"] = str(data["tz"])
        if "min_gap_hours" in data:
            kw["min_gap_hours"] = float(data["min_gap_hours"])
        if "max_reminders" not in kw:
            kw["max_reminders"] = len(kw.get("after_days", _DEFAULT_AFTER_DAYS))
        return cls(closes_at=_aware(closes_at), **kw)


@dataclass(frozen=True, slots=True)
class RespondentReminderState:
    """What the policy needs to know about one respondent (read from the database)."""

    respondent_id: int
    disposition: Disposition | str
    invited_at: datetime | float | None
    last_activity_at: datetime | float | None = None
    reminders_sent: int = 0
    last_reminder_at: datetime | float | None = None


@dataclass(frozen=True, slots=True)
class DueReminder:
    respondent_id: int
    number: int                 # 1-based
    kind: ReminderKind
    due_at: datetime            # after the quiet-hours shift, UTC-aware

    @property
    def dedupe_key(self) -> str:
        """Outbox dedupe key: one row per respondent and reminder number, whatever reruns."""
        return f"reminder:{self.respondent_id}:{self.number}"


def in_quiet_hours(at: datetime, policy: ReminderPolicy) -> bool:
    """True if ``at`` falls in the quiet window in the policy's local time zone."""
    local = _aware(at).astimezone(ZoneInfo(policy.tz)).time()
    qs, qe = policy.quiet_start, policy.quiet_end
    if qs == qe:
        return False
    if qs < qe:
        return qs <= local < qe
    return local >= qs or local < qe


def shift_out_of_quiet(at: datetime, policy: ReminderPolicy) -> datetime:
    """``at`` itself, or the end of the quiet window it falls in (07:00 local by default)."""
    at = _aware(at)
    if not in_quiet_hours(at, policy):
        return at
    tz = ZoneInfo(policy.tz)
    local = at.astimezone(tz)
    end_day: date = local.date()
    if local.time() >= policy.quiet_end:  # evening part of a window crossing midnight
        end_day = end_day + timedelta(days=1)
    return datetime.combine(end_day, policy.quiet_end, tzinfo=tz).astimezone(timezone.utc)


def next_reminder(policy: ReminderPolicy, state: RespondentReminderState) -> DueReminder | None:
    """The next reminder this respondent will get, with its time, or None if they get no more."""
    try:
        disp = Disposition(state.disposition)
    except ValueError:
        return None
    if disp in _NOT_STARTED:
        kind, anchor = ReminderKind.NOT_STARTED, _aware(state.invited_at)
    elif disp in _PARTIAL:
        kind = ReminderKind.PARTIAL
        anchor = _aware(state.last_activity_at) or _aware(state.invited_at)
    else:
        return None  # complete, refused, ineligible, unreachable, substituted, not invited
    if anchor is None:
        return None
    number = state.reminders_sent + 1
    if number > policy.max_reminders:
        return None
    delay = policy.after_days[min(number - 1, len(policy.after_days) - 1)]
    due = anchor + timedelta(days=delay)
    last = _aware(state.last_reminder_at)
    if last is not None:
        due = max(due, last + timedelta(hours=policy.min_gap_hours))
    due = shift_out_of_quiet(due, policy)
    if policy.closes_at is not None and due >= policy.closes_at:
        return None
    return DueReminder(state.respondent_id, number, kind, due.astimezone(timezone.utc))


def due_reminders(now: datetime | float, policy: ReminderPolicy,
                  states: Iterable[RespondentReminderState]) -> list[DueReminder]:
    """Reminders to send at ``now`` (ordered by due time, then respondent).

    Nothing is due while ``now`` is in quiet hours or at/after the round's close.
    """
    now_dt = _aware(now)
    assert now_dt is not None
    if in_quiet_hours(now_dt, policy):
        return []
    if policy.closes_at is not None and now_dt >= policy.closes_at:
        return []
    out = [r for s in states if (r := next_reminder(policy, s)) is not None and r.due_at <= now_dt]
    out.sort(key=lambda r: (r.due_at, r.respondent_id))
    return out


def plan_reminders(now: datetime | float, policy: ReminderPolicy,
                   states: Iterable[RespondentReminderState]) -> list[DueReminder]:
    """The next reminder of every respondent who will get one (for ``hailong reminders plan``);
    an overdue one is shown at the first moment it could go out (``now``, or 07:00 if quiet)."""
    now_dt = _aware(now)
    assert now_dt is not None
    earliest = shift_out_of_quiet(now_dt, policy)
    out: list[DueReminder] = []
    for s in states:
        r = next_reminder(policy, s)
        if r is None:
            continue
        if r.due_at < earliest:
            if policy.closes_at is not None and earliest >= policy.closes_at:
                continue
            r = DueReminder(r.respondent_id, r.number, r.kind, earliest)
        out.append(r)
    out.sort(key=lambda r: (r.due_at, r.respondent_id))
    return out


# ------------------------------------------------------------------ message texts

def reminder_text(kind: ReminderKind | str, number: int, *, deadline: str | None = None,
                  lang: str = "vi", channel: str = "telegram", code: str | None = None) -> str:
    """The reminder message. Not-started citizens are invited again, with the way in that works
    on their channel: on Telegram the invite's deep-link button (a bare /start cannot tell which
    household it is), on Zalo the card code to send. Those who stopped halfway are told their
    answers are kept and they can continue where they left off."""
    kind = ReminderKind(kind)
    dl_vi = f" Hạn trả lời: {deadline}." if deadline else ""
    dl_en = f" Deadline: {deadline}." if deadline else ""
    if kind is ReminderKind.NOT_STARTED:
        if channel == "zalo" and code:
            how_vi, how_en = f"Gửi mã {code} để bắt đầu.", f"Send the code {code} to begin."
        else:
            how_vi, how_en = "Bấm nút bên dưới để bắt đầu.", "Tap the button below to begin."
        vi = ("Xin chào! Sở Nội vụ tỉnh Lai Châu kính mời gia đình tham gia khảo sát sự hài lòng "
              "với dịch vụ hành chính công. Chỉ mất khoảng 10 phút; ý kiến của gia đình giúp "
              f"cải thiện phục vụ người dân. {how_vi}{dl_vi}")
        en = ("Hello! The Lai Chau Department of Home Affairs invites your household to a short "
              f"satisfaction survey (about 10 minutes). {how_en}{dl_en}")
    else:
        vi = ("Xin chào! Gia đình đã trả lời được một phần phiếu khảo sát sự hài lòng. Các câu đã "
              f"trả lời vẫn được lưu; bấm /start để trả lời tiếp từ câu đang dừng.{dl_vi}")
        en = ("Hello! You have answered part of the satisfaction survey. Your answers are saved; "
              f"press /start to continue where you stopped.{dl_en}")
    return en if lang == "en" else f"{vi}\n\n{en}"


# ------------------------------------------------------------------ scheduling (APScheduler 3)

@dataclass
class TickResult:
    """What one scheduler tick did (for logs, the CLI and tests)."""

    closed_rounds: list[str]
    enqueued: int
    already_queued: int
    no_channel: int


def _fmt_day(ts: float | None, tz: str) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%d/%m/%Y")


async def compute_due(db: Any, round_: Any, now: float) -> list[DueReminder]:
    """Due reminders of one round, computed from the database (the only source of truth)."""
    policy = ReminderPolicy.from_mapping(round_.reminder_policy, round_.closes_at)
    states = [RespondentReminderState(c.respondent_id, c.status, c.invited_at, c.last_activity_at,
                                      reminders_sent=c.reminders_sent + c.reminders_queued,
                                      last_reminder_at=c.last_reminder_at)
              for c in await reminder_candidates(db, round_.id)]
    return due_reminders(now, policy, states)


async def plan_round(db: Any, round_: Any, now: float) -> list[DueReminder]:
    """The next reminder of every respondent of the round (``hailong reminders plan``)."""
    policy = ReminderPolicy.from_mapping(round_.reminder_policy, round_.closes_at)
    states = [RespondentReminderState(c.respondent_id, c.status, c.invited_at, c.last_activity_at,
                                      reminders_sent=c.reminders_sent + c.reminders_queued,
                                      last_reminder_at=c.last_reminder_at)
              for c in await reminder_candidates(db, round_.id)]
    return plan_reminders(now, policy, states)


async def tick(db: Any, now: float | None = None, *, actor: str = "scheduler") -> TickResult:
    """One pass: close rounds past their deadline, then enqueue every due reminder.

    Idempotent and restart-safe: each reminder row has the dedupe key
    ``reminder:<respondent>:<k>``, and ``k`` is derived from the reminder rows already in the
    outbox, so running ``tick`` twice (two processes, a restart mid-tick) queues each reminder
    once. The reminder goes to the chat the respondent last used, else the id in the frame.
    """
    t = _time.time() if now is None else float(now)
    closed: list[str] = []
    for r in await rounds_to_close(db, t):
        await close_round(db, r.id, actor=actor, reason="deadline (closes_at) reached / đến hạn đóng")
        closed.append(r.code)
    enqueued = already = no_channel = 0
    for r in await list_rounds(db, "open"):
        try:
            due = await compute_due(db, r, t)
        except ValueError as exc:  # a bad policy on one round must not stop the others
            log.error("round %s: invalid reminder policy %r: %s", r.code, r.reminder_policy, exc)
            continue
        if not due:
            continue
        ids = [d.respondent_id for d in due]
        chats = await chats_for(db, ids)
        contacts = await contacts_for(db, ids)
        deadline = _fmt_day(r.closes_at, ReminderPolicy.from_mapping(r.reminder_policy).tz)
        items: list[Any] = []
        for d in due:
            bound = chats.get(d.respondent_id, [])
            channel_chat: tuple[str, str] | None = bound[-1] if bound else None
            if channel_chat is None and d.respondent_id in contacts:
                c = contacts[d.respondent_id]
                if c.telegram_id:
                    channel_chat = ("telegram", c.telegram_id)
                elif c.zalo_id:
                    channel_chat = ("zalo", c.zalo_id)
            if channel_chat is None or channel_chat[0] not in ("telegram", "zalo"):
                no_channel += 1
                continue
            payload: dict[str, Any] = {"reminder": d.number, "target": str(d.kind)}
            code = None
            if d.kind is ReminderKind.NOT_STARTED:
                person = await get_respondent(db, d.respondent_id)
                if person is not None:
                    payload["start_token"] = person.token  # the sender makes the deep-link button
                    code = format_code(person.card_code)
            payload["text"] = reminder_text(d.kind, d.number, deadline=deadline,
                                            channel=channel_chat[0], code=code)
            items.append(OutboxItem(channel=channel_chat[0], chat_id=channel_chat[1], kind="reminder",
                                    dedupe_key=d.dedupe_key, round_id=r.id, respondent_id=d.respondent_id,
                                    payload=payload))
        if items:
            n = await enqueue_outbox(db, items)
            enqueued += n
            already += len(items) - n
    return TickResult(closed, enqueued, already, no_channel)


class ReminderScheduler:
    """APScheduler 3 wiring: an interval job that runs ``tick`` and one date job per open round
    that closes it at ``closes_at``.

    The job store is in memory on purpose: nothing is lost by a restart because every decision is
    re-derived from the database (open rounds and their deadlines, respondents, reminder rows in
    the outbox). At start-up a tick runs at once, so reminders that fell due while the process
    was down go out (subject to quiet hours and the minimum gap), and a round whose deadline
    passed meanwhile is closed. ``clock`` is injectable so tests control "now".

    Several workers (``holder`` given): every worker runs this scheduler, but a tick does its
    work only on the worker holding the ``scheduler`` lease (``storage.leases``). Each worker asks
    for the lease every ``lease_s / 3`` seconds (the holder renews it); when the holder dies its
    lease expires and the next worker to ask takes it over and ticks at once, so reminders and
    deadlines move to another worker within ``lease_s × 4/3``. A holder that could not renew in
    time stops ticking by itself (the lease's expiry passed), before another worker can take
    it. A tick is idempotent anyway (dedupe keys, closing a closed round is a no-op): the lease
    saves the work, it does not guard correctness.
    """

    def __init__(self, db: Any, *, interval_s: float = 300.0, clock: Any = None, scheduler: Any = None,
                 holder: str | None = None, lease_s: float = 30.0) -> None:
        # apscheduler costs 0.16 s of import (python -X importtime) and every `hailong` command
        # imports this module through hailong.run: loaded when a scheduler is made.
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        if holder is not None and not lease_s > 0:
            raise ValueError("lease_s must be positive")
        if holder is not None and not 0 < len(holder) <= 200:
            raise ValueError("holder must be a non-empty name of at most 200 characters")
        self.db = db
        self.interval_s = interval_s
        self.clock = clock or _time.time
        self.scheduler = scheduler or AsyncIOScheduler(timezone=ZoneInfo(VN_TZ))
        self.last: TickResult | None = None
        self.ticks = 0
        self.holder = holder
        self.lease_s = lease_s
        self._held_until = 0.0          # wall time until which our lease is certainly ours
        self._takeover: asyncio.Future[Any] | None = None

    @property
    def holding(self) -> bool:
        """Whether this worker may tick now (always, without a ``holder``)."""
        return self.holder is None or _wall() < self._held_until

    async def renew(self) -> bool:
        """Take or renew the scheduler lease; tick at once when it was just taken over."""
        if self.holder is None:
            return True
        had = self.holding
        try:
            lease = await acquire_lease(self.db, SCHEDULER_LEASE, self.holder, self.lease_s)
        except Exception as exc:  # storage trouble: keep what we had until it expires
            log.warning("renewing the scheduler lease failed: %s", exc)
            return self.holding
        # A margin of a tenth of the lease: stop ticking before another worker may start.
        self._held_until = lease.expires_at - self.lease_s / 10 if lease.held else 0.0
        if lease.held and not had:
            log.info("this worker now runs reminders and deadlines (scheduler lease, generation %d)",
                     lease.generation)
            if self.scheduler.running:
                # Beside the renewals, not inside one: a long tick must not keep the lease from
                # being renewed (it would expire under us and another worker would tick too).
                self._takeover = asyncio.ensure_future(self.run_tick())
            else:
                await self.run_tick()        # start(): tick before the jobs are scheduled
        elif had and not lease.held:
            log.warning("scheduler lease lost to another worker: reminders and deadlines run there now")
        return lease.held

    async def run_tick(self) -> TickResult | None:
        """One tick, if this worker holds the lease (None if not)."""
        if not self.holding:
            return None
        res = await tick(self.db, self.clock())
        self.last = res
        self.ticks += 1
        await self.sync_close_jobs()
        return res

    async def sync_close_jobs(self) -> None:
        """One ``date`` job per open round with a deadline (replaced if the deadline moved)."""
        for r in await list_rounds(self.db, "open"):
            if r.closes_at is None:
                continue
            run_at = datetime.fromtimestamp(max(r.closes_at, self.clock()), timezone.utc)
            self.scheduler.add_job(self.run_tick, "date", run_date=run_at, id=f"close:{r.id}",
                                   replace_existing=True, misfire_grace_time=None)

    async def start(self) -> None:
        first_tick = datetime.now(timezone.utc)
        if self.holder is not None:
            await self.renew()          # ticks at once if the lease was free
            first_tick = first_tick + timedelta(seconds=self.interval_s)
            self.scheduler.add_job(self.renew, "interval", seconds=self.lease_s / 3, id="scheduler:lease",
                                   replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=None)
        self.scheduler.add_job(self.run_tick, "interval", seconds=self.interval_s, id="reminders:tick",
                               replace_existing=True, next_run_time=first_tick,
                               coalesce=True, max_instances=1, misfire_grace_time=None)
        if not self.scheduler.running:
            self.scheduler.start()

    async def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._takeover is not None and not self._takeover.done():
            self._takeover.cancel()
        if self.holder is not None and self.holding:
            self._held_until = 0.0
            try:
                await release_lease(self.db, SCHEDULER_LEASE, self.holder)   # the next worker need not wait
            except Exception as exc:
                log.warning("releasing the scheduler lease failed: %s", exc)


def _wall() -> float:
    return _time.time()
