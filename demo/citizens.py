"""Simulated citizens for the whole-round demo (``python -m demo``): who they are, how they
behave, and how they answer through the Telegram and Zalo emulators.

Why simulate behaviour and not just answers: a round is judged by what happens to the people who
do *not* simply answer every question at once — the ones who pause and come back after a
reminder, who say no, who are under 18, who never open the invitation, who send a sticker first.
Each of these paths goes through the real bot, the real engine and the real storage here, so the
dispositions, response rates and indices the demo prints are produced the way a real round would
produce them.

Determinism: every decision a citizen makes comes from a ``random.Random`` seeded with the demo
seed and the household id, and depends only on what the citizen sees on the screen (the question
text and its options), never on timing. Running the demo twice therefore gives the same answers,
the same dispositions and the same indices, even though hundreds of citizens answer concurrently.

How a citizen reads a question: like a person does, from the screen. A five-option scale whose
labels say "hài lòng" is a satisfaction criterion; the answer is drawn from the citizen's
satisfaction propensity (their unit's level, their own disposition, and an effect per criterion,
e.g. "Đủ ghế ngồi, bàn viết" scores lower), so communes differ and some fall below the 85% target.
Other questions (consent, age, the profile, interest and channel questions) are answered with
plausible distributions; the persona decides the exceptions (refuse consent, give an age under 18,
pause at question *k*, type ``/stop``…).

Channels: on Telegram the citizen presses the buttons (now and then types the number instead, as
people do; :mod:`demo.citizen_telegram`); on Zalo, which has no buttons, the citizen types numbers
("1 3 xong" for a multiple choice) and first types the short code from the invitation card
(:mod:`demo.citizen_zalo`). This module is the citizen without a channel: who they are, what they
see (:class:`Screen`), what they decide (:class:`Mind`) and :func:`play_citizen`, which both
channels' walks run under.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CONFIRMED",
    "PERSONAS",
    "DEFAULT_MIX",
    "PERSONA_LABELS",
    "HouseholdIn",
    "CitizenPlan",
    "CitizenOutcome",
    "Screen",
    "Decision",
    "Mind",
    "plan_citizens",
    "unit_propensities",
    "telegram_screen",
    "zalo_screen",
    "CitizenSignals",
    "persona_break",
    "play_citizen",
    "quiet",
    "think",
]

Channel = Literal["telegram", "zalo"]
Entry = Literal["invite", "qr", "code"]

#: Behaviours, in the order they are reported.
PERSONAS: tuple[str, ...] = ("complete", "junk", "pause_resume", "drop_resume", "late_start",
                             "abandon", "refuse", "stop", "under_18", "never")

#: Share of each persona among the invited households (sums to 1). Roughly what fieldwork of chat
#: surveys in rural provinces looks like: most who start finish at once; a tenth need a reminder.
DEFAULT_MIX: dict[str, float] = {
    "complete": 0.56, "junk": 0.07, "pause_resume": 0.08, "drop_resume": 0.04, "late_start": 0.04,
    "abandon": 0.03, "refuse": 0.05, "stop": 0.02, "under_18": 0.03, "never": 0.08,
}

PERSONA_LABELS: dict[str, str] = {
    "complete": "trả lời một lần / finish at once",
    "junk": "gửi linh tinh rồi trả lời / junk first, then answer",
    "pause_resume": "tạm dừng, nhắc rồi tiếp / pause, resume after reminder",
    "drop_resume": "bỏ dở, nhắc rồi tiếp / drop off, resume after reminder",
    "late_start": "chỉ bắt đầu sau nhắc / start only after reminder",
    "abandon": "tạm dừng, không quay lại / pause, never come back",
    "refuse": "không đồng ý / refuse consent",
    "stop": "gõ /stop giữa chừng / /stop halfway",
    "under_18": "dưới 18 tuổi / under 18",
    "never": "không bao giờ trả lời / never start",
}

# Personas that wait for the reminder before going on.
_WAIT_FOR_REMINDER = frozenset({"pause_resume", "drop_resume", "late_start"})


# ====================================================================== who answers, and how

@dataclass(frozen=True, slots=True)
class HouseholdIn:
    """A sampled household as the demo invites it (from storage: ids, credentials, contact ids).

    The household head's name and phone never come here: a citizen needs none of them.
    """

    respondent_id: int
    household_ref: str
    village_code: str
    commune_code: str
    token: str
    card_code: str
    telegram_id: str | None = None
    zalo_id: str | None = None


@dataclass(frozen=True, slots=True)
class CitizenPlan:
    """Everything that decides one simulated citizen's behaviour (fixed before the round runs)."""

    respondent_id: int
    household_ref: str
    village_code: str
    commune_code: str
    channel: Channel
    entry: Entry                   # invite: Telegram message; qr: card's QR; code: card's short code
    user_id: str                   # Telegram numeric id or Zalo user id
    token: str
    card_code: str
    persona: str
    seed: int
    propensity: float              # chance of "satisfied" (4–5) on an average criterion
    pause_at: int                  # question count where pause / drop / stop happens
    junk_at: tuple[int, ...] = ()  # question counts where junk is sent first

    @property
    def waits_for_reminder(self) -> bool:
        return self.persona in _WAIT_FOR_REMINDER


def _seed_of(*parts: object) -> int:
    """A stable 64-bit seed from parts (``hash()`` is salted per process, so it cannot be used)."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def unit_propensities(commune_codes: Sequence[str], village_codes: Sequence[str],
                      seed: int) -> dict[str, float]:
    """Satisfaction propensity per village: a commune level plus a small village deviation.

    Commune levels are spread between about 0.72 and 0.96 (in a seeded random order), so that
    some communes land below the 85% target and some above, as in real rounds; villages of a
    commune stay close to it.
    """
    communes = sorted(set(commune_codes))
    rng = random.Random(_seed_of("communes", seed))
    levels = [0.72 + 0.24 * (i + 0.5) / max(1, len(communes)) for i in range(len(communes))]
    rng.shuffle(levels)
    by_commune = dict(zip(communes, levels))
    out: dict[str, float] = {}
    for v in sorted(set(village_codes)):
        commune = next((c for c in communes if v.startswith(c + "-") or v == c), None)
        base = by_commune.get(commune or "", 0.85)
        dev = random.Random(_seed_of("village", seed, v)).gauss(0.0, 0.25)
        out[v] = _sigmoid(_logit(base) + dev)
    return out


def plan_citizens(households: Sequence[HouseholdIn], seed: int,
                  mix: dict[str, float] | None = None,
                  qr_share: float = 0.45) -> list[CitizenPlan]:
    """Give each household a channel, an entry path, a persona and a propensity (seeded).

    Channel: a household with a Telegram id (it used the bot before) gets the invite on Telegram;
    the others only have the paper card, and scan its QR code with Telegram (``qr_share``) or type
    its short code into Zalo. ``late_start`` needs an invitation message to ignore, so on a card it
    becomes ``complete``.
    """
    mix = dict(DEFAULT_MIX if mix is None else mix)
    unknown = set(mix) - set(PERSONAS)
    if unknown:
        raise ValueError(f"unknown personas: {sorted(unknown)}")
    total = sum(mix.values())
    if total <= 0:
        raise ValueError("the persona mix must have a positive total")
    names = [p for p in PERSONAS if mix.get(p, 0) > 0]
    weights = [mix[p] / total for p in names]
    props = unit_propensities([h.commune_code for h in households], [h.village_code for h in households], seed)
    out: list[CitizenPlan] = []
    for i, h in enumerate(sorted(households, key=lambda h: h.respondent_id)):
        rng = random.Random(_seed_of("plan", seed, h.household_ref))
        if h.telegram_id:
            channel: Channel = "telegram"
            entry: Entry = "invite"
            user_id = str(h.telegram_id)
        elif rng.random() < qr_share:
            channel, entry = "telegram", "qr"
            user_id = str(7_100_000_000 + _seed_of("tg", seed, h.household_ref) % 800_000_000)
        else:
            channel, entry = "zalo", "code"
            user_id = str(h.zalo_id or f"zl{_seed_of('zalo', seed, h.household_ref) % 10**15:015d}")
        persona = rng.choices(names, weights)[0]
        if persona == "late_start" and entry != "invite":
            persona = "complete"
        own = rng.gauss(0.0, 0.55)
        propensity = _sigmoid(_logit(props.get(h.village_code, 0.85)) + own)
        pause_at = rng.randint(8, 60)
        junk_at: tuple[int, ...] = ()
        if persona == "junk":
            junk_at = tuple(sorted({1, *rng.sample(range(2, 40), 2)}))
        out.append(CitizenPlan(h.respondent_id, h.household_ref, h.village_code, h.commune_code, channel,
                               entry, user_id, h.token, h.card_code, persona, _seed_of("mind", seed, h.household_ref),
                               propensity, pause_at, junk_at))
    return out


# ====================================================================== reading the screen

@dataclass(frozen=True, slots=True)
class Screen:
    """What the citizen sees of the bot's latest prompt, whatever the channel."""

    text: str
    options: tuple[str, ...] = ()     # option labels, in order (number n = index n-1)
    multi: bool = False
    optional: bool = False
    review: bool = False

    @property
    def progress(self) -> str:
        """The "Câu n/N" line: which question this is (the same when a question is shown again)."""
        return next((ln.strip() for ln in self.text.splitlines() if _PROGRESS.match(ln)), "")

    @property
    def body(self) -> str:
        """The question text without the progress line and the channel's hints."""
        lines = [ln for ln in self.text.splitlines()
                 if ln.strip() and not _PROGRESS.match(ln) and not ln.startswith("👉")
                 and not _OPTION_LINE.match(ln)]
        return "\n".join(lines)


_PROGRESS = re.compile(r"^(?:Câu|Question) \d+/\d+\s*$")
_OPTION_LINE = re.compile(r"^(\d+)\. (?:[☑☐] )?(.*?)(?: ✓)?$")
TG_OPTION = re.compile(r"^(?:[☑☐●] )?(\d+)\. (.*)$")


def telegram_screen(text: str, buttons: Sequence[tuple[str, str | None]]) -> Screen:
    """A Telegram question message: its text and inline buttons (numbered options, actions)."""
    options: list[str] = []
    multi = False
    for label, _ in buttons:
        m = TG_OPTION.match(label)
        if m:
            options.append(m.group(2))
            multi = multi or label.startswith(("☑", "☐"))
    labels = [b[0] for b in buttons]
    review = any(lab.startswith("Gửi phiếu") for lab in labels)
    optional = any(lab.startswith("Bỏ qua") for lab in labels)
    return Screen(text, tuple(options), multi, optional, review)


def zalo_screen(text: str) -> Screen:
    """A Zalo prompt: one text with numbered option lines and a typed-answer hint."""
    options: list[str] = []
    for line in text.splitlines():
        m = _OPTION_LINE.match(line)
        if m and int(m.group(1)) == len(options) + 1:
            options.append(m.group(2))
    multi = "Gõ các số Ông/Bà chọn" in text or "Type the numbers you choose" in text
    review = "«gửi»" in text or "“submit”" in text
    optional = "«bỏ qua»" in text or "“skip”" in text
    if review:
        options = []
    return Screen(text, tuple(options), multi, optional, review)


# ====================================================================== deciding

@dataclass(frozen=True, slots=True)
class Decision:
    """What the citizen does with a screen. ``terminal``: the bot's answer ends the conversation
    (submit, refused consent, an under-age answer), with ``outcome`` the expected result."""

    kind: Literal["choose", "multi", "type", "skip", "submit"]
    index: int = 0                    # choose: 0-based option
    picks: tuple[int, ...] = ()       # multi: 0-based options
    text: str = ""                    # type
    terminal: bool = False
    outcome: str = ""


#: Outcomes a screening rule decides: the engine asks the citizen to confirm the answer first
#: (a refusal of consent ends at once: it is not asked back).
CONFIRMED = frozenset({"ineligible"})

_ETHNIC = ("Thái", "Mông", "Dao", "Hà Nhì", "Giáy", "Lự", "Khơ Mú", "La Hủ")
_ETHNIC_W = (0.32, 0.28, 0.17, 0.06, 0.06, 0.05, 0.03, 0.03)
_COMMENTS = (
    "Mong cán bộ hướng dẫn kỹ hơn khi làm thủ tục.",
    "Cần thêm ghế ngồi chờ ở bộ phận một cửa.",
    "Đường vào bản còn khó đi mùa mưa.",
    "Cán bộ xã nhiệt tình, cảm ơn.",
    "Nên có người nói tiếng dân tộc ở bộ phận một cửa.",
    "Trả kết quả đúng hẹn hơn nữa.",
)
#: Effect per criterion on the satisfaction log-odds, by words of the criterion's text. Facilities
#: and complaint handling are weaker in the sources' past rounds; courtesy and signage stronger.
ITEM_EFFECTS: tuple[tuple[str, float], ...] = (
    ("ghế ngồi", -0.95), ("Trang thiết bị", -0.7), ("nghe một lần", -0.6), ("đúng hẹn", -0.45),
    ("phản ánh, kiến nghị dễ dàng", -0.55), ("thông báo kết quả xử lý", -0.65),
    ("Được xử lý đúng quy định", -0.35), ("Giao thông", -0.5), ("Đường sá", -0.5),
    ("Nước sinh hoạt", -0.3), ("góp ý dự thảo", -0.4), ("Lịch sự", 0.5), ("Biển chỉ dẫn", 0.3),
    ("Điện sinh hoạt", 0.4), ("Công bằng", 0.2),
)


#: Share of citizens who give one answer to every satisfaction criterion: half of them because they
#: really are satisfied with everything (at a normal pace), half tapping through as fast as they
#: can (satisficing). Only the second half should be flagged by the straight-lining rule.
UNIFORM_SHARE = 0.08


class Mind:
    """One citizen's answers: deterministic from the plan's seed and the screens shown."""

    def __init__(self, plan: CitizenPlan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        trait = random.Random(_seed_of("uniform", plan.seed))
        self.uniform: int | None = (3 if trait.random() < 0.8 else 4) if trait.random() < UNIFORM_SHARE else None
        self.hurried = self.uniform is not None and trait.random() < 0.5
        # how an answer is typed has its own stream: re-typing an answer after a lost message
        # must not shift the stream the answers themselves are drawn from
        self.typing = random.Random(plan.seed + 1)
        self._last: tuple[tuple[Any, ...], Decision] | None = None

    def _pick(self, weights: Sequence[float]) -> int:
        return self.rng.choices(range(len(weights)), weights)[0]

    def satisfaction(self, body: str) -> int:
        """0-based option of a 5-point satisfaction scale (3 = Hài lòng, 4 = Rất hài lòng)."""
        if self.uniform is not None:
            return self.uniform
        effect = sum(e for words, e in ITEM_EFFECTS if words in body)
        p = _sigmoid(_logit(self.plan.propensity) + effect)
        if self.rng.random() < p:
            return 4 if self.rng.random() < 0.38 else 3
        return (2, 1, 0)[self._pick((0.66, 0.27, 0.07))]

    def decide(self, screen: Screen) -> Decision:
        """The answer to ``screen`` (persona exceptions included: consent, age)."""
        persona = self.plan.persona
        if screen.review:
            return Decision("submit", terminal=True, outcome="completed")
        body = screen.body
        opts = screen.options
        low = body.lower()
        if screen.multi:
            allowed = [i for i, o in enumerate(opts) if o != "Khác"]
            k = min(len(allowed), self._pick((0.35, 0.4, 0.25)) + 1)
            picks = sorted(self.rng.sample(allowed, k))
            if "Khác" in opts and self.rng.random() < 0.05:
                picks.append(opts.index("Khác"))
            return Decision("multi", picks=tuple(picks))
        if not opts:
            if "tuổi" in low:
                if persona == "under_18":
                    return Decision("type", text=str(self.rng.randint(15, 17)), terminal=True, outcome="ineligible")
                age = int(self.rng.triangular(19, 78, 42))
                return Decision("type", text=str(age))
            if "dân tộc nào" in low:
                return Decision("type", text=_ETHNIC[self._pick(_ETHNIC_W)])
            if "khác là" in low:
                return Decision("type", text="Nhà văn hóa thôn")
            if screen.optional:
                if self.rng.random() < 0.3:
                    return Decision("type", text=self.rng.choice(_COMMENTS))
                return Decision("skip")
            return Decision("type", text="Không có ý kiến")
        if "đồng ý trả lời" in low:
            if persona == "refuse":
                return Decision("choose", index=opts.index("Không"), terminal=True, outcome="refused")
            return Decision("choose", index=opts.index("Có"))
        if len(opts) == 5 and "hài lòng" in opts[3].lower():
            return Decision("choose", index=self.satisfaction(body))
        if tuple(opts) == ("Có", "Không"):
            if "đại diện" in low or "biết đọc" in low or "năng lực hành vi" in low:   # screening: eligible
                return Decision("choose", index=0)
            p_yes = 0.3 if "phản ánh" in low else 0.5
            return Decision("choose", index=0 if self.rng.random() < p_yes else 1)
        if opts == ("Kinh", "Khác"):
            return Decision("choose", index=self._pick((0.2, 0.8)))
        if len(opts) == 4 and opts[0].startswith("Không"):          # interest, suitability, expectation
            return Decision("choose", index=self._pick((0.1, 0.28, 0.42, 0.2)))
        if len(opts) == 3 and opts[0].startswith("Không"):          # harassment, extra payments
            return Decision("choose", index=self._pick((0.82, 0.15, 0.03)))
        if opts and opts[-1] == "Khác":                             # profile lists: avoid "other" mostly
            w = [1.0] * (len(opts) - 1) + [0.1]
            return Decision("choose", index=self._pick(w))
        return Decision("choose", index=self.rng.randrange(len(opts)))

    def decide_once(self, screen: Screen) -> Decision:
        """Like :meth:`decide`, but the same question shown again right after (the citizen sent
        /start because a reply was slow or lost) gets the answer already chosen for it, so the
        stored answers do not depend on what the network did."""
        key = (screen.progress, screen.body, screen.options, screen.multi, screen.review)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        d = self.decide(screen)
        self._last = (key, d)
        return d

    def typed_form(self, screen: Screen, index: int) -> str:
        """How a citizen types a single choice: the number, or (sometimes) the label's words."""
        label = screen.options[index]
        same = [o for o in screen.options if o.lower() == label.lower()]
        if len(same) == 1 and len(label) <= 16 and self.typing.random() < 0.12:
            return label.lower()
        return str(index + 1)


# ====================================================================== running on a channel

@dataclass
class CitizenOutcome:
    """How a simulated citizen's conversation ended (compared with storage by the demo)."""

    respondent_id: int
    channel: str
    entry: str
    persona: str
    result: str = "pending"   # completed, refused, stopped, ineligible, abandoned, never, error
    questions: int = 0        # question screens seen
    sent: int = 0             # messages / presses sent
    junk: Counter[str] = field(default_factory=Counter)
    reminded: bool = False
    nudges: int = 0           # times the citizen sent /start after waiting in vain
    error: str | None = None


@dataclass
class CitizenSignals:
    """Hooks between the citizens and the orchestrator.

    ``settled(outcome)`` is called once when the citizen is finished or starts waiting for a
    reminder (the orchestrator then knows when phase 1 is over); ``finished(outcome)`` once at the
    very end; ``answered()`` after every answer (progress bars).
    """

    settled: Callable[[CitizenOutcome], None] = lambda o: None
    finished: Callable[[CitizenOutcome], None] = lambda o: None
    answered: Callable[[], None] = lambda: None
    reminder_timeout: float = 120.0
    #: Real seconds a citizen "reads" before each answer (uniform in this range): with the demo's
    #: accelerated clock this gives human-looking answer times in the paradata.
    think: tuple[float, float] = (0.0, 0.0)

async def think(signals: CitizenSignals, rng: random.Random, mind: Mind | None = None) -> None:
    """Wait the citizen's reading time before an answer (``signals.think``; none when hurried)."""
    lo, hi = signals.think
    if hi > 0 and not (mind is not None and mind.hurried):    # a hurried citizen does not read
        await asyncio.sleep(rng.uniform(lo, hi))

async def quiet(count: Callable[[], int], quiet: float = 1.0, limit: float = 10.0) -> None:
    """Wait until ``count()`` (messages received) stops growing for ``quiet`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    seen = count()
    while loop.time() < end:
        await asyncio.sleep(quiet)
        now = count()
        if now == seen:
            return
        seen = now


#: One channel's walk of one citizen: (emulator, plan, signals, timeout, outcome, settle). It fills
#: the outcome and calls ``settle()`` when the citizen starts waiting for a reminder.
Walk = Callable[[Any, CitizenPlan, CitizenSignals, float, CitizenOutcome, Callable[[], None]],
                Awaitable[None]]


async def play_citizen(walk: Walk, emu: Any, plan: CitizenPlan, signals: CitizenSignals,
                       timeout: float) -> CitizenOutcome:
    """Run one channel's ``walk`` of ``plan`` and report it: ``signals.settled`` exactly once
    (when the walk settles, or at the end), then ``signals.finished``.

    Never raises: a timeout or an unexpected screen ends the citizen with ``result="error"``.
    """
    out = CitizenOutcome(plan.respondent_id, plan.channel, plan.entry, plan.persona)
    settled = False

    def settle() -> None:
        nonlocal settled
        if not settled:
            settled = True
            signals.settled(out)

    try:
        await walk(emu, plan, signals, timeout, out, settle)
    except Exception as exc:  # noqa: BLE001 - reported, never raised: one citizen must not stop the round
        out.result, out.error = "error", f"{type(exc).__name__}: {exc}"[:300]
    settle()
    signals.finished(out)
    return out


async def persona_break(plan: CitizenPlan, out: CitizenOutcome, *, pause: Callable[[], Awaitable[Any]],
                        resume: Callable[[], Awaitable[Any]], stop: Callable[[], Awaitable[Any]],
                        wait_reply: Callable[[], Awaitable[Any]],
                        wait_reminder: Callable[[], Awaitable[None]]) -> bool | None:
    """What the persona does at its pause question (``plan.pause_at``) instead of answering it,
    the same on every channel; ``pause``/``resume``/``stop`` send the channel's own words.

    Returns None when the persona answers this question as usual, True when the citizen paused
    or dropped off and came back after the reminder (read the current question again), False when
    the citizen is done (``out.result`` says how).
    """
    if out.questions != plan.pause_at:
        return None
    if plan.persona in ("pause_resume", "abandon"):
        await pause()
        out.sent += 1
        await wait_reply()
        if plan.persona == "abandon":
            out.result = "abandoned"
            return False
        await wait_reminder()
        await resume()
        out.sent += 1
        return True
    if plan.persona == "drop_resume":
        await wait_reminder()
        await resume()
        out.sent += 1
        return True
    if plan.persona == "stop":
        await stop()
        out.sent += 1
        await wait_reply()
        out.result = "stopped"
        return False
    return None
