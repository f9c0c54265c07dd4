"""The conversation engine: (survey, state, input, now) -> (new state, replies, events).

Pure and synchronous: no I/O, no clock (time comes in as ``now``), no randomness, and the input
state is never mutated (a new :class:`State` is returned). Channels (console, Telegram, Zalo) turn
platform updates into :mod:`bot.engine_types` inputs and render the replies; storage persists the
state and the events. Every input in every state gets at least one reply; nothing raises
(a last-resort guard answers politely, and the property tests run with :data:`STRICT` on to prove
it is never reached).

How a survey is walked
----------------------
A survey is compiled once per content hash (:func:`compile_survey`) into a flat list of *steps*:
one per question, one per matrix item, with relevance (section AND question AND item) compiled
into closures, option lookup tables for typed answers, and cached renderings per language.

* ``State.current`` is the step being asked; ``State.trail`` lists the applicable, settled steps
  before it in survey order (what "back" walks through and what the review lists).
* A step is *settled* when it has an answer, or when it was skipped (optional question): its
  ``AnswerMeta.answered_at`` is set while no answer is stored.
* After every answer the engine continues at the first applicable unsettled step. If the answer
  changed a previous one (after "back" or "edit"), later settled steps that no longer apply are
  dropped first (``AnswerCleared``); answers that still apply are kept and not asked again.
* End rules (screening) are evaluated after every answer, as soon as every step they read lies
  behind the next step to ask (so a rule on "represents the household" does not fire before that
  question is reached).
* When no step remains the state goes to ``review``; ``submit`` finishes it.
* ``State.hidden`` lists steps answered on another chat before a hand-over that chat never
  confirmed (docs/credentials.md): their values are never shown ("back" and "edit" stop before
  them, the review says "answered on the previous device"); answering one again makes it visible.

Progress ("Câu 12/85") counts applicable, answerable steps (notes excluded) given the answers so
far; a condition on a question not yet answered is evaluated as if that answer were missing (an
``equals`` is false, a ``not equals`` is true). The total is therefore an estimate that can move
when a gating answer is given; it is exact once the gating questions are behind.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from bot import texts
from bot.engine_types import (
    Action,
    AnswerCleared,
    AnswerMeta,
    AnswerSet,
    AnswerValue,
    Choose,
    Command,
    Done,
    Event,
    Input,
    Option as ROption,
    Reply,
    Start,
    State,
    StatusChanged,
    StepResult,
    TypedText,
    Value,
)
from bot.normalize import DONE_WORDS, SUBMIT_WORDS, answer_key, clean_text, parse_typed
from survey_defs.schema import (
    All,
    Answered,
    Any_,
    Compare,
    Condition,
    EndRule,
    Equals,
    In,
    MatrixItem,
    Not,
    Question,
    QuestionType,
    Section,
    Survey,
)

__all__ = ["new_state", "step", "current_replies", "compile_survey", "CompiledSurvey", "CompiledStep",
           "answer_label", "STRICT", "DEFAULT_TEXT_MAX", "REVIEW_CHUNK"]

#: When True the last-resort guard re-raises instead of answering politely (tests and fuzzing).
STRICT = False
#: Longest free-text answer accepted when a question sets no ``max_length`` (characters).
DEFAULT_TEXT_MAX = 2000
#: Longest review message; a longer review is split over several replies (Telegram allows 4096).
REVIEW_CHUNK = 3500
#: Typed answers longer than this cannot be an option (skips matching work on 10 000-char floods).
_MAX_CHOICE_TEXT = 300

Pred = Callable[[Mapping[str, Value]], bool]


# =============================================================== conditions -> closures

def _value_forms(v: AnswerValue) -> frozenset[Any]:
    """Equal forms of an option value: 4 and "4" are the same answer (YAML may type either)."""
    forms: set[Any] = {v, str(v)}
    if isinstance(v, str):
        s = v.strip()
        if re.fullmatch(r"[+-]?\d{1,18}", s):
            forms.add(int(s))
    return frozenset(forms)


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def compile_condition(cond: Condition) -> Pred:
    """A structured condition as a closure over the answers dict (no ``eval``).

    A missing answer makes ``equals``/``in``/comparisons false; for a multiple-choice answer
    (a list) ``equals`` means "is among the picks" and ``in`` "any pick is among the values".
    """
    if isinstance(cond, Equals):
        key, val = cond.equals
        forms = _value_forms(val)

        def eq(a: Mapping[str, Value]) -> bool:
            v = a.get(key)
            if v is None:
                return False
            if isinstance(v, list):
                return any(x in forms for x in v)
            return v in forms
        return eq
    if isinstance(cond, In):
        key, vals = cond.in_
        forms = frozenset().union(*(_value_forms(x) for x in vals)) if vals else frozenset()

        def in_(a: Mapping[str, Value]) -> bool:
            v = a.get(key)
            if v is None:
                return False
            if isinstance(v, list):
                return any(x in forms for x in v)
            return v in forms
        return in_
    if isinstance(cond, Not):
        inner = compile_condition(cond.not_)
        return lambda a: not inner(a)
    if isinstance(cond, All):
        parts = [compile_condition(c) for c in cond.all]
        return lambda a: all(p(a) for p in parts)
    if isinstance(cond, Any_):
        parts = [compile_condition(c) for c in cond.any]
        return lambda a: any(p(a) for p in parts)
    if isinstance(cond, Answered):
        key = cond.answered
        return lambda a: key in a
    if isinstance(cond, Compare):
        for op in ("lt", "le", "gt", "ge"):
            pair = getattr(cond, op)
            if pair is not None:
                key, bound = pair[0], float(pair[1])
                break
        cmp: Callable[[float, float], bool] = {
            "lt": float.__lt__, "le": float.__le__, "gt": float.__gt__, "ge": float.__ge__}[op]

        def compare(a: Mapping[str, Value]) -> bool:
            n = _num(a.get(key))
            return n is not None and cmp(n, bound)
        return compare
    raise TypeError(f"unknown condition {cond!r}")  # pragma: no cover - schema forbids it


def _refs(cond: Condition) -> list[str]:
    from survey_defs.schema import condition_refs

    return condition_refs(cond)


# =============================================================== compiled survey

_CHOICE_TYPES = frozenset({"single", "scale", "yesno", "matrix"})


@dataclass(slots=True, eq=False)
class CompiledStep:
    """One answer key of the survey, ready to ask: everything derivable once is derived here."""

    idx: int
    id: str
    qid: str
    type: str                      # QuestionType value; "matrix" for a matrix item
    question: Question
    item: MatrixItem | None
    section: Section
    relevant: Pred | None
    required: bool
    constraint: Pred | None
    values: tuple[AnswerValue, ...]            # option values in display order
    labels: tuple[dict[str, str], ...]         # option labels per language
    by_value: dict[Any, int]                   # value (any equal form) -> position 0-based
    exact: dict[str, tuple[int, ...]]          # answer_key of number/label/alias -> positions
    folded_labels: tuple[tuple[str, int], ...]  # (answer_key(label), position) for containment
    exclusive: frozenset[int]
    min_picks: int
    max_picks: int
    first_in_matrix: bool = False
    _render: dict[tuple[str, bool], tuple[str, tuple[ROption, ...]]] = field(default_factory=dict)
    _actions: dict[tuple[str, bool], tuple[Action, ...]] = field(default_factory=dict)

    @property
    def is_note(self) -> bool:
        return self.type == "note"

    @property
    def has_options(self) -> bool:
        return bool(self.values)


@dataclass(slots=True, eq=False)
class _Rule:
    rule: EndRule
    when: Pred
    ready_at: int   # the rule may be evaluated once the next step to ask is beyond this index


@dataclass(slots=True, eq=False)
class CompiledSurvey:
    """A survey flattened for fast stepping; built once per content hash."""

    survey: Survey
    hash: str
    steps: tuple[CompiledStep, ...]
    by_id: dict[str, CompiledStep]
    rules: tuple[_Rule, ...]
    static_before: tuple[int, ...]            # unconditional answerable steps before index i
    static_total: int
    cond_groups: tuple[tuple[Pred, tuple[int, ...]], ...]  # conditional answerable steps by closure
    cond_idx: tuple[int, ...]                 # indices of conditional steps (notes excluded)
    messages: Mapping[str, Mapping[str, str]]
    languages: tuple[str, ...]
    cond_refs: tuple[str, ...] = ()           # step ids read by relevance conditions
    progress_memo: dict[tuple[Any, ...], tuple[int, int]] = field(default_factory=dict)


def _txt(text: Mapping[str, str] | None, lang: str) -> str:
    if not text:
        return ""
    return text.get(lang) or text.get("vi") or next(iter(text.values()), "")


def _build(survey: Survey) -> CompiledSurvey:
    """Flatten and precompile ``survey`` (no caching: see :func:`compile_survey`)."""
    pred_cache: dict[tuple[int, ...], Pred | None] = {}
    cond_closures: dict[int, Pred] = {}

    def closure(c: Condition) -> Pred:
        p = cond_closures.get(id(c))
        if p is None:
            p = cond_closures[id(c)] = compile_condition(c)
        return p

    def combined(conds: list[Condition | None]) -> Pred | None:
        present = [c for c in conds if c is not None]
        key = tuple(id(c) for c in present)
        if key in pred_cache:
            return pred_cache[key]
        if not present:
            p: Pred | None = None
        elif len(present) == 1:
            p = closure(present[0])
        else:
            parts = [closure(c) for c in present]
            p = lambda a, parts=parts: all(q(a) for q in parts)  # noqa: E731
        pred_cache[key] = p
        return p

    steps: list[CompiledStep] = []
    for section in survey.sections:
        for q in section.questions:
            qtype = q.type.value if isinstance(q.type, QuestionType) else str(q.type)
            opts = survey.options_of(q) if qtype in ("single", "multi", "scale", "yesno", "matrix") else []
            values = tuple(o.value for o in opts)
            labels = tuple(dict(o.label) for o in opts)
            by_value: dict[Any, int] = {}
            for pos, o in enumerate(opts):
                for form in _value_forms(o.value):
                    by_value.setdefault(form, pos)
            exact: dict[str, list[int]] = {}

            def add(k: str, pos: int) -> None:
                if k:
                    lst = exact.setdefault(k, [])
                    if pos not in lst:
                        lst.append(pos)
            folded: list[tuple[str, int]] = []
            for pos, o in enumerate(opts):
                for lab in o.label.values():
                    k = answer_key(lab)
                    add(k, pos)
                    if k:
                        folded.append((k, pos))
                for aliases in o.aliases.values():
                    for al in aliases:
                        add(answer_key(al), pos)
            # Numbers: the 1-based position shown wins; an option value is accepted as a number
            # only where no position has that number (e.g. "0" for Không on yes/no).
            for pos in range(len(opts)):
                exact[str(pos + 1)] = [pos]
            for pos, o in enumerate(opts):
                sv = str(o.value).strip()
                if sv.lstrip("+-").isdigit() and sv not in exact:
                    exact[sv] = [pos]
            exact_t = {k: tuple(v) for k, v in exact.items()}
            excl = frozenset(by_value[v] for v in q.exclusive if v in by_value)
            constraint = closure(q.constraint) if q.constraint is not None else None
            base = [section.relevant, q.relevant]
            required = bool(q.required) and qtype != "note"
            min_picks = q.min_picks if q.min_picks is not None else (1 if required else 0)
            max_picks = q.max_picks if q.max_picks is not None else len(opts)
            if qtype == "matrix":
                for n, item in enumerate(q.items or []):
                    steps.append(CompiledStep(
                        idx=len(steps), id=item.id, qid=q.id, type="matrix", question=q, item=item,
                        section=section, relevant=combined(base + [item.relevant]), required=required,
                        constraint=constraint, values=values, labels=labels, by_value=by_value,
                        exact=exact_t, folded_labels=tuple(folded), exclusive=excl,
                        min_picks=min_picks, max_picks=max_picks, first_in_matrix=(n == 0)))
            else:
                steps.append(CompiledStep(
                    idx=len(steps), id=q.id, qid=q.id, type=qtype, question=q, item=None,
                    section=section, relevant=combined(base), required=required,
                    constraint=constraint, values=values, labels=labels, by_value=by_value,
                    exact=exact_t, folded_labels=tuple(folded), exclusive=excl,
                    min_picks=min_picks, max_picks=max_picks))

    by_id = {s.id: s for s in steps}
    # A condition may name a matrix question itself: it is "behind" once its last item is.
    last_idx: dict[str, int] = {}
    for s in steps:
        last_idx[s.id] = s.idx
        last_idx[s.qid] = s.idx
    rules = []
    for r in survey.end_rules:
        refs = _refs(r.when)
        ready = max((last_idx.get(x, len(steps)) for x in refs), default=-1)
        rules.append(_Rule(rule=r, when=compile_condition(r.when), ready_at=ready))

    static_before: list[int] = []
    count = 0
    groups: dict[int, tuple[Pred, list[int]]] = {}
    cond_idx: list[int] = []
    for s in steps:
        static_before.append(count)
        if s.is_note:
            continue
        if s.relevant is None:
            count += 1
        else:
            groups.setdefault(id(s.relevant), (s.relevant, []))[1].append(s.idx)
            cond_idx.append(s.idx)
    return CompiledSurvey(
        survey=survey, hash=survey.content_hash, steps=tuple(steps), by_id=by_id, rules=tuple(rules),
        static_before=tuple(static_before), static_total=count,
        cond_groups=tuple((p, tuple(ix)) for p, ix in groups.values()), cond_idx=tuple(cond_idx),
        messages=survey.messages, languages=tuple(survey.languages or ["vi"]),
        cond_refs=tuple(sorted({r for s in survey.sections for q in s.questions
                                for cond in [s.relevant, q.relevant, *[i.relevant for i in (q.items or [])]]
                                if cond is not None for r in _refs(cond)})))


_CACHE: dict[str, CompiledSurvey] = {}
_CACHE_MAX = 64


def compile_survey(survey: Survey) -> CompiledSurvey:
    """The compiled form of ``survey``, built once per content hash and then reused."""
    h = survey.content_hash
    c = _CACHE.get(h)
    if c is None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        c = _CACHE[h] = _build(survey)
    return c


# =============================================================== public API

def new_state(survey: Survey, lang: str = "vi") -> State:
    """A fresh response state for ``survey`` (status "new"; the first input starts it)."""
    langs = survey.languages or ["vi"]
    if lang not in langs or lang not in texts.LANGS:
        lang = "vi" if "vi" in langs else langs[0]
    return State(survey_id=survey.id, survey_hash=survey.content_hash, lang=lang)


def step(survey: Survey, state: State, inp: Input, now: float) -> StepResult:
    """Apply one input to ``state``: the new state, the replies to send, the events to persist.

    Never raises and never mutates ``state``. Unexpected internal errors (none are known; the
    fuzz tests run with :data:`STRICT`) leave the state unchanged and answer with an apology.
    """
    try:
        return step_compiled(compile_survey(survey), state, inp, now)
    except Exception:
        if STRICT:
            raise
        lang = state.lang if isinstance(getattr(state, "lang", None), str) else "vi"
        return StepResult(state=state, replies=(Reply(kind="info", text=texts.t("error", lang)),))


def current_replies(survey: Survey, state: State) -> tuple[Reply, ...]:
    """What the citizen should see now, for ``state`` as it is: the current question (with the
    state's own ``seq``, so its buttons stay valid), the review, the pause notice or the closing
    message; nothing for a conversation not started.

    Why: a channel that committed a step may crash before its replies reach the citizen; after
    the restart it shows them this (the replies a step promised end with what to answer next).
    Pure like :func:`step`; the state is not changed (paradata of a re-shown question is not
    touched: it was asked when the step was committed).
    """
    c = compile_survey(survey)
    if state.survey_hash != c.hash:
        return (Reply("info", texts.t("version_mismatch", state.lang)),)
    run = _Run(c, state, 0.0)
    s = run.s
    status = s.status
    if status == "active" and run.cur() is not None:
        s.seq = state.seq - 1          # ask() counts one up: the question keeps the state's seq
        run.ask(run.cur())  # type: ignore[arg-type]
    elif status in ("active", "review"):
        run.review()
    elif status == "paused":
        run.info("paused")
    elif status == "submitted":
        run.replies.append(Reply("thanks", run.t("thanks")))
    elif status == "ended":
        rule = next((r for r in c.rules if r.rule.outcome == s.outcome and r.when(s.answers)), None)
        text = _txt(rule.rule.message, s.lang) if rule is not None else \
            run.t("stopped" if s.outcome == "refused" else "already_ended")
        run.replies.append(Reply("ended", text))
    return tuple(run.replies)


def step_compiled(c: CompiledSurvey, state: State, inp: Input, now: float) -> StepResult:
    """:func:`step` on an already compiled survey, without the guard (benchmarks, internals)."""
    if state.survey_hash != c.hash:
        return StepResult(state=state, replies=(Reply("info", texts.t("version_mismatch", state.lang)),))
    return _Run(c, state, now).dispatch(inp)


def answer_label(survey: Survey, step_id: str, value: Value | None, lang: str = "vi") -> str:
    """How an answer reads to a person: option labels, the number or the text ("" if none)."""
    c = compile_survey(survey)
    sp = c.by_id.get(step_id)
    if sp is None or value is None:
        return "" if value is None else str(value)
    return _label_of(sp, value, lang)


def _label_of(sp: CompiledStep, value: Value, lang: str) -> str:
    if sp.has_options:
        vals = value if isinstance(value, list) else [value]
        out = []
        for v in vals:
            pos = sp.by_value.get(v)
            out.append(_txt(sp.labels[pos], lang) if pos is not None else str(v))
        return "; ".join(out)
    return str(value)


# =============================================================== one step

_MISSING = object()


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _copy(st: State) -> State:
    return State(survey_id=st.survey_id, survey_hash=st.survey_hash, lang=st.lang, status=st.status,
                 outcome=st.outcome, current=st.current, answers=dict(st.answers), picks=list(st.picks),
                 trail=list(st.trail), meta=dict(st.meta), seq=st.seq, hidden=st.hidden)


class _Run:
    """One application of an input: a private copy of the state plus the replies and events."""

    __slots__ = ("c", "s", "now", "replies", "events", "orig", "notes")

    def __init__(self, c: CompiledSurvey, state: State, now: float) -> None:
        self.c = c
        self.orig = state
        self.s = _copy(state)
        self.now = float(now) if isinstance(now, (int, float)) else 0.0
        self.replies: list[Reply] = []
        self.events: list[Event] = []
        self.notes: list[CompiledStep] = []

    # ------------------------------------------------------------ helpers
    def t(self, key: str, **kw: object) -> str:
        return texts.t(key, self.s.lang, self.c.messages, **kw)

    def info(self, key: str, kind: str = "info", **kw: object) -> None:
        self.replies.append(Reply(kind=kind, text=self.t(key, **kw), step_id=self.s.current))  # type: ignore[arg-type]

    def result(self) -> StepResult:
        return StepResult(state=self.s, replies=tuple(self.replies), events=tuple(self.events))

    def unchanged(self, key: str, kind: str = "info", **kw: object) -> StepResult:
        """A notice that changes nothing: the original state is returned as is."""
        text = texts.t(key, self.orig.lang, self.c.messages, **kw)
        return StepResult(state=self.orig, replies=(Reply(kind=kind, text=text, step_id=self.orig.current),))  # type: ignore[arg-type]

    def set_status(self, status: str, outcome: str | None = None) -> None:
        if self.s.status != status or self.s.outcome != outcome:
            self.s.status = status  # type: ignore[assignment]
            self.s.outcome = outcome  # type: ignore[assignment]
            self.events.append(StatusChanged(status=status, outcome=outcome, at=self.now))  # type: ignore[arg-type]

    def settled(self, sid: str) -> bool:
        m = self.s.meta.get(sid)
        return m is not None and m.answered_at is not None

    def applies(self, sp: CompiledStep) -> bool:
        return sp.relevant is None or bool(sp.relevant(self.s.answers))

    def cur(self) -> CompiledStep | None:
        cid = self.s.current
        return self.c.by_id.get(cid) if cid is not None else None

    # ------------------------------------------------------------ dispatch
    def dispatch(self, inp: Input) -> StepResult:
        s = self.s
        if isinstance(inp, TypedText):
            text = inp.text if isinstance(inp.text, str) else ""
            sp = self.cur()
            free = s.status == "active" and sp is not None and sp.type == "text"
            parsed = parse_typed(text, free_text=free)
            inp = parsed if not isinstance(parsed, TypedText) else TypedText(text)
        status = s.status
        if status in ("submitted", "ended"):
            if isinstance(inp, Command) and inp.name == "lang" and self.switch_lang(inp.arg, announce=False):
                self.info("already_done" if status == "submitted" else "already_ended")
                return self.result()
            return self.unchanged("already_done" if status == "submitted" else "already_ended")
        if status == "new":
            if isinstance(inp, Command):
                if inp.name == "stop":
                    return self.stop()
                if inp.name == "lang":
                    self.switch_lang(inp.arg, announce=False)
            return self.start()
        if status == "paused":
            if isinstance(inp, Command):
                if inp.name == "pause":
                    return self.unchanged("paused")
                if inp.name == "stop":
                    return self.stop()
                if inp.name == "lang":
                    self.switch_lang(inp.arg, announce=True)
                    self.info("paused")
                    return self.result()
                if inp.name == "help":
                    self.info("help")
                    self.info("paused")
                    return self.result()
            return self.resume()
        if status not in ("active", "review"):
            # Unknown status (corrupt state): put the citizen back on track.
            self.set_status("active")
            return self.goto_frontier()
        if isinstance(inp, Start):
            self.info("resumed")
            self.show_current()
            return self.result()
        if isinstance(inp, Command):
            return self.command(inp)
        if status == "review":
            if isinstance(inp, (Choose, Done)):
                return self.unchanged("stale", kind="stale")
            if isinstance(inp, TypedText):
                return self.review_text(inp.text)
            return self.unchanged("error")
        sp = self.cur()
        if sp is None:
            return self.goto_frontier()
        if isinstance(inp, Choose):
            if inp.step_id != sp.id:
                return self.unchanged("stale", kind="stale")
            return self.choose(sp, inp.value)
        if isinstance(inp, Done):
            if inp.step_id != sp.id:
                return self.unchanged("stale", kind="stale")
            if sp.type != "multi":
                self.info("not_multi_done", kind="invalid")
                self.ask(sp)
                return self.result()
            return self.finish_multi(sp)
        if isinstance(inp, TypedText):
            return self.typed(sp, inp.text)
        return self.unchanged("error")

    # ------------------------------------------------------------ lifecycle
    def start(self) -> StepResult:
        self.set_status("active")
        nxt = self.find_next(0)
        total = self.progress(nxt)[1] if nxt is not None else 0
        title = _txt(self.c.survey.title, self.s.lang)
        self.info("welcome", title=title, total=total)
        desc = _txt(self.c.survey.description, self.s.lang)
        if desc:
            self.replies.append(Reply("info", desc))
        return self.land(nxt)

    def resume(self) -> StepResult:
        self.set_status("review" if self.s.current is None else "active")
        self.info("resumed")
        self.show_current()
        return self.result()

    def stop(self) -> StepResult:
        self.s.current = None
        self.s.picks = []
        self.set_status("ended", "refused")
        self.replies.append(Reply("ended", self.t("stopped")))
        return self.result()

    def goto_frontier(self) -> StepResult:
        """Recover from an inconsistent state: rebuild the trail and ask the first open step."""
        self.s.trail = []
        self.s.picks = []
        return self.land(self.find_next(0))

    def land(self, nxt: CompiledStep | None, settled_idx: int = -1) -> StepResult:
        """After settling: end by a rule, go to review, or ask ``nxt`` (with notes before it).

        A rule is evaluated once every step it reads is behind ``nxt``; after an answer to the
        step at ``settled_idx`` only rules that read that step or a later one can have changed
        (answers before it did not move), so the others are not re-evaluated.
        """
        s = self.s
        p = nxt.idx if nxt is not None else len(self.c.steps)
        for r in self.c.rules:
            if settled_idx <= r.ready_at < p and r.when(s.answers):
                s.current = None
                s.picks = []
                self.set_status("ended", r.rule.outcome)
                self.replies.append(Reply("ended", _txt(r.rule.message, s.lang)))
                return self.result()
        for note in self.notes:
            text = _txt(note.question.text, s.lang)
            self.replies.append(Reply("info", text, step_id=note.id))
        self.notes = []
        if nxt is None:
            s.current = None
            s.picks = []
            self.set_status("review")
            self.review()
        else:
            s.current = nxt.id
            self.set_status("active")
            self.ask(nxt)
        return self.result()

    def find_next(self, start: int) -> CompiledStep | None:
        """First applicable unsettled step from ``start``; settled ones passed join the trail.

        Notes met on the way are kept (only those right before the step found) to be shown.
        """
        steps = self.c.steps
        answers = self.s.answers
        meta = self.s.meta
        trail = self.s.trail
        notes: list[CompiledStep] = []
        for i in range(start, len(steps)):
            sp = steps[i]
            if sp.relevant is not None and not sp.relevant(answers):
                continue
            if sp.type == "note":
                notes.append(sp)
                continue
            m = meta.get(sp.id)
            if m is not None and m.answered_at is not None:
                trail.append(sp.id)
                notes = []
                continue
            self.notes = notes
            return sp
        self.notes = notes
        return None

    def clear_inapplicable(self, start: int) -> None:
        """Drop settled answers after ``start`` whose step no longer applies (in order: cascades)."""
        s = self.s
        steps = self.c.steps
        lo = bisect_left(self.c.cond_idx, start)
        for i in self.c.cond_idx[lo:]:
            sp = steps[i]
            m = s.meta.get(sp.id)
            has = sp.id in s.answers
            if not has and (m is None or m.answered_at is None):
                continue
            if sp.relevant is not None and not sp.relevant(s.answers):
                if has:
                    del s.answers[sp.id]
                    self.events.append(AnswerCleared(step_id=sp.id, at=self.now))
                if m is not None:
                    s.meta[sp.id] = AnswerMeta(asked_at=m.asked_at, answered_at=None, changes=m.changes)

    # ------------------------------------------------------------ rendering
    def progress(self, sp: CompiledStep | None) -> tuple[int, int]:
        """(n, total) for "Câu n/total"; memoised on the answers the conditions read."""
        c = self.c
        answers = self.s.answers
        idx = sp.idx if sp is not None else len(c.steps)
        key = (idx, *[_hashable(answers.get(r)) for r in c.cond_refs])
        hit = c.progress_memo.get(key)
        if hit is not None:
            return hit
        n = c.static_before[idx] + 1 if sp is not None else 0
        total = c.static_total
        for pred, ixs in c.cond_groups:
            if pred(answers):
                total += len(ixs)
                n += bisect_left(ixs, idx)
        out = (n, max(total, n))
        if len(c.progress_memo) > 4096:
            c.progress_memo.clear()
        c.progress_memo[key] = out
        return out

    def body(self, sp: CompiledStep, short: bool) -> tuple[str, tuple[ROption, ...]]:
        lang = self.s.lang
        key = (lang, short)
        cached = sp._render.get(key)
        if cached is not None:
            return cached
        q = sp.question
        lines = []
        if sp.item is not None:
            if not short:
                lines.append(_txt(q.text, lang))
            lines.append(_txt(sp.item.text, lang))
        else:
            lines.append(_txt(q.text, lang))
        if q.help and not short:
            lines.append(_txt(q.help, lang))
        if sp.type == "multi":
            if q.min_picks is not None or q.max_picks is not None:
                lines.append(texts.t("multi_hint_range", lang, self.c.messages, min=sp.min_picks, max=sp.max_picks))
            else:
                lines.append(texts.t("multi_hint", lang, self.c.messages))
        elif sp.type == "number" and not q.help:
            if q.min is not None and q.max is not None:
                lines.append(texts.t("number_hint_range", lang, self.c.messages, min=q.min, max=q.max))
            else:
                lines.append(texts.t("number_hint", lang, self.c.messages))
        if not sp.required:
            lines.append(texts.t("optional_hint", lang, self.c.messages))
        opts = tuple(ROption(value=v, label=_txt(lab, lang)) for v, lab in zip(sp.values, sp.labels))
        out = ("\n".join(x for x in lines if x), opts)
        sp._render[key] = out
        return out

    def ask(self, sp: CompiledStep) -> None:
        """Send ``sp`` (progress, text, current answer, options, buttons) and note when it was asked."""
        s = self.s
        trail = s.trail
        # Inside a matrix, repeat the stem only on the first item asked in a row.
        short = False
        if sp.item is not None and trail:
            prev = self.c.by_id.get(trail[-1])
            short = prev is not None and prev.qid == sp.qid
        body, opts = self.body(sp, short)
        n, total = self.progress(sp)
        head = self.t("progress", n=n, total=total)
        text = head + "\n" + body
        current = _MISSING if s.hidden and sp.id in s.hidden else s.answers.get(sp.id, _MISSING)
        multi = sp.type == "multi"
        if multi:
            picked = set(s.picks)
            opts = tuple(ROption(o.value, o.label, o.value in picked) for o in opts)
        elif current is not _MISSING:
            if opts:
                opts = tuple(ROption(o.value, o.label, o.value == current) for o in opts)
        if current is not _MISSING:
            text += "\n" + self.t("current_answer", answer=_label_of(sp, current, s.lang))
        can_back = self.can_back()
        akey = (s.lang, can_back)
        actions = sp._actions.get(akey)
        if actions is None:
            acts: list[Action] = []
            if multi:
                acts.append(Action(self.t("btn_done"), Done(sp.id)))
            if not sp.required:
                acts.append(Action(self.t("btn_skip"), Command("skip")))
            if can_back:
                acts.append(Action(self.t("btn_back"), Command("back")))
            actions = sp._actions[akey] = tuple(acts)
        s.seq += 1
        m = s.meta.get(sp.id)
        if m is None:
            s.meta[sp.id] = AnswerMeta(asked_at=self.now)
        elif m.asked_at is None:
            s.meta[sp.id] = AnswerMeta(asked_at=self.now, answered_at=m.answered_at, changes=m.changes)
        self.replies.append(Reply(kind="question", text=text, step_id=sp.id, options=opts,
                                  actions=actions, progress=(n, total), multi=multi, seq=s.seq))

    def update_multi(self, sp: CompiledStep) -> None:
        """Re-send the checkbox list after a toggle (same seq: channels edit it in place)."""
        s = self.s
        before = s.seq
        self.ask(sp)
        s.seq = before
        r = self.replies[-1]
        self.replies[-1] = Reply(kind=r.kind, text=r.text, step_id=r.step_id, options=r.options,
                                 actions=r.actions, progress=r.progress, multi=True, seq=before)

    def show_current(self) -> None:
        sp = self.cur()
        if sp is not None and self.s.status == "active":
            self.ask(sp)
        else:
            self.review()

    def review_lines(self) -> list[str]:
        s = self.s
        lines = []
        for n, sid in enumerate(s.trail, 1):
            sp = self.c.by_id.get(sid)
            if sp is None:
                continue
            q = _txt(sp.item.text if sp.item is not None else sp.question.text, s.lang)
            q = q.replace("\n", " ")
            if len(q) > 48:
                q = q[:47].rstrip() + "…"
            v = s.answers.get(sid, _MISSING)
            if s.hidden and sid in s.hidden:
                a = self.t("answered_elsewhere")
            else:
                a = self.t("skipped") if v is _MISSING else _label_of(sp, v, s.lang)
            if len(a) > 120:
                a = a[:119] + "…"
            lines.append(f"{n}. {q}: {a}")
        return lines

    def review(self, so_far: bool = False) -> None:
        """The answers as a compact numbered list, split into messages under REVIEW_CHUNK."""
        lines = self.review_lines()
        head = self.t("review_so_far" if so_far else "review_head")
        foot = "" if so_far else self.t("review_foot")
        if not lines:
            lines = [self.t("review_empty")]
        chunks: list[str] = []
        cur = head
        for line in lines:
            if len(cur) + len(line) + 1 > REVIEW_CHUNK:
                chunks.append(cur)
                cur = self.t("review_more")
            cur += "\n" + line
        if foot:
            if len(cur) + len(foot) + 2 > REVIEW_CHUNK:
                chunks.append(cur)
                cur = foot
            else:
                cur += "\n\n" + foot
        chunks.append(cur)
        actions: tuple[Action, ...] = ()
        if not so_far:
            acts = [Action(self.t("btn_submit"), Command("submit"))]
            if self.can_back():
                acts.append(Action(self.t("btn_back"), Command("back")))
            actions = tuple(acts)
        kind = "info" if so_far else "review"
        for i, ch in enumerate(chunks):
            last = i == len(chunks) - 1
            self.replies.append(Reply(kind=kind, text=ch, actions=actions if last else ()))  # type: ignore[arg-type]

    # ------------------------------------------------------------ commands
    def command(self, cmd: Command) -> StepResult:
        s = self.s
        name = cmd.name
        if name == "back":
            return self.back()
        if name == "pause":
            s.picks = []
            self.set_status("paused")
            self.info("paused")
            return self.result()
        if name == "resume":
            self.show_current()
            return self.result()
        if name == "help":
            self.info("help")
            self.show_current()
            return self.result()
        if name == "stop":
            return self.stop()
        if name == "lang":
            self.switch_lang(cmd.arg, announce=True)
            self.show_current()
            return self.result()
        if name == "review":
            if s.status == "review":
                self.review()
            else:
                self.review(so_far=True)
                self.show_current()
            return self.result()
        if name == "submit":
            if s.status == "review":
                s.picks = []
                self.set_status("submitted", "complete")
                self.replies.append(Reply("thanks", self.t("thanks")))
                return self.result()
            self.info("submit_not_ready", kind="invalid")
            self.show_current()
            return self.result()
        if name == "edit":
            return self.edit(cmd.arg)
        if name == "skip":
            sp = self.cur()
            if s.status != "active" or sp is None:
                self.info("review_hint", kind="invalid")
                self.review()
                return self.result()
            if sp.required:
                self.info("skip_required", kind="invalid")
                self.ask(sp)
                return self.result()
            return self.skip(sp)
        self.info("help")
        self.show_current()
        return self.result()

    def switch_lang(self, arg: str | None, announce: bool) -> bool:
        s = self.s
        avail = [x for x in self.c.languages if x in texts.LANGS]
        if arg is None:
            others = [x for x in avail if x != s.lang]
            arg = others[0] if others else s.lang
        arg = str(arg).strip().lower()[:8]
        if arg not in avail:
            if announce:
                self.info("lang_unavailable", langs=", ".join(avail))
            return False
        s.lang = arg
        if announce:
            self.info("lang_changed")
        return True

    def can_back(self) -> bool:
        """Whether "back" has somewhere to go: a previous step this chat may see."""
        trail = self.s.trail
        return bool(trail) and not (self.s.hidden and trail[-1] in self.s.hidden)

    def back(self) -> StepResult:
        s = self.s
        if not s.trail:
            self.info("back_first")
            self.show_current()
            return self.result()
        if not self.can_back():
            self.info("back_handover")
            self.show_current()
            return self.result()
        prev = s.trail.pop()
        sp = self.c.by_id.get(prev)
        if sp is None:
            return self.goto_frontier()
        s.current = prev
        self.set_status("active")
        ans = s.answers.get(prev)
        s.picks = list(ans) if sp.type == "multi" and isinstance(ans, list) else []
        self.ask(sp)
        return self.result()

    def edit(self, arg: str | None) -> StepResult:
        s = self.s
        target: str | None = None
        a = (arg or "").strip()
        if a.isdigit():
            n = int(a)
            if 1 <= n <= len(s.trail):
                target = s.trail[n - 1]
        elif a:
            low = a.casefold()
            for sid in s.trail:
                if sid.casefold() == low:
                    target = sid
                    break
        if target is None:
            if s.current is not None and a.casefold() == s.current.casefold():
                self.show_current()
                return self.result()
            self.info("edit_unknown", arg=a[:40])
            self.show_current()
            return self.result()
        if s.hidden and target in s.hidden:
            self.info("edit_handover")
            self.show_current()
            return self.result()
        pos = s.trail.index(target)
        s.trail = s.trail[:pos]
        s.current = target
        self.set_status("active")
        sp = self.c.by_id[target]
        ans = s.answers.get(target)
        s.picks = list(ans) if sp.type == "multi" and isinstance(ans, list) else []
        self.ask(sp)
        return self.result()

    def review_text(self, text: str) -> StepResult:
        key = answer_key(text[:200]) if isinstance(text, str) else ""
        if key in SUBMIT_WORDS:
            return self.command(Command("submit"))
        if key.isdigit():
            return self.edit(key)
        self.info("review_hint", kind="invalid")
        self.review()
        return self.result()

    # ------------------------------------------------------------ answers
    def invalid(self, sp: CompiledStep, key: str, **kw: object) -> StepResult:
        self.info(key, kind="invalid", **kw)
        self.ask(sp)
        return self.result()

    def record(self, sp: CompiledStep, value: Value) -> StepResult:
        """Validate the constraint, store ``value`` with paradata, then move on."""
        s = self.s
        if sp.constraint is not None:
            trial = dict(s.answers)
            trial[sp.id] = value
            if not sp.constraint(trial):
                msg = _txt(sp.question.constraint_message, s.lang) or self.t("constraint")
                self.replies.append(Reply("invalid", msg, step_id=sp.id))
                self.ask(sp)
                return self.result()
        old = s.answers.get(sp.id, _MISSING)
        was_settled = self.settled(sp.id)
        changed = was_settled and old != value
        s.answers[sp.id] = value
        m = s.meta.get(sp.id)
        s.meta[sp.id] = AnswerMeta(asked_at=m.asked_at if m is not None else self.now, answered_at=self.now,
                                   changes=(m.changes if m is not None else 0) + (1 if changed else 0))
        self.events.append(AnswerSet(step_id=sp.id, value=value, at=self.now))
        return self.after_settle(sp, changed)

    def skip(self, sp: CompiledStep) -> StepResult:
        s = self.s
        had = sp.id in s.answers
        if had:
            del s.answers[sp.id]
            self.events.append(AnswerCleared(step_id=sp.id, at=self.now))
        m = s.meta.get(sp.id)
        s.meta[sp.id] = AnswerMeta(asked_at=m.asked_at if m is not None else self.now, answered_at=self.now,
                                   changes=(m.changes if m is not None else 0) + (1 if had else 0))
        return self.after_settle(sp, had)

    def after_settle(self, sp: CompiledStep, changed: bool) -> StepResult:
        s = self.s
        s.picks = []
        if s.hidden and sp.id in s.hidden:     # answered again here: this chat's own answer now
            s.hidden = [h for h in s.hidden if h != sp.id]
        if changed:
            self.clear_inapplicable(sp.idx + 1)
        s.trail.append(sp.id)
        return self.land(self.find_next(sp.idx + 1), sp.idx)

    def choose(self, sp: CompiledStep, value: AnswerValue) -> StepResult:
        if sp.type == "multi":
            return self.toggle(sp, value)
        if sp.has_options:
            try:
                pos = sp.by_value.get(value)
            except TypeError:  # unhashable value from a broken channel
                pos = None
            if pos is None:
                return self.invalid(sp, "choice_unknown", n=len(sp.values))
            return self.record(sp, sp.values[pos])
        return self.typed(sp, str(value))

    def toggle(self, sp: CompiledStep, value: AnswerValue) -> StepResult:
        s = self.s
        try:
            pos = sp.by_value.get(value)
        except TypeError:
            pos = None
        if pos is None:
            return self.invalid(sp, "choice_unknown", n=len(sp.values))
        v = sp.values[pos]
        picks = list(s.picks)
        if v in picks:
            picks.remove(v)
        else:
            if pos in sp.exclusive:
                picks = [v]
            else:
                picks = [p for p in picks if sp.by_value.get(p) not in sp.exclusive]
                if len(picks) >= sp.max_picks:
                    return self.invalid(sp, "multi_max", n=sp.max_picks)
                picks.append(v)
        s.picks = self.ordered(sp, picks)
        self.update_multi(sp)
        return self.result()

    @staticmethod
    def ordered(sp: CompiledStep, picks: list[AnswerValue]) -> list[AnswerValue]:
        return [sp.values[i] for i in sorted({sp.by_value[p] for p in picks if p in sp.by_value})]

    def finish_multi(self, sp: CompiledStep) -> StepResult:
        picks = self.ordered(sp, self.s.picks)
        if not picks and not sp.required and sp.min_picks == 0:
            return self.skip(sp)
        need = max(sp.min_picks, 1)
        if len(picks) < need:
            return self.invalid(sp, "multi_min", n=need)
        if len(picks) > sp.max_picks:
            return self.invalid(sp, "multi_max", n=sp.max_picks)
        if len(picks) > 1:
            for p in picks:
                if sp.by_value[p] in sp.exclusive:
                    return self.invalid(sp, "multi_exclusive", label=_txt(sp.labels[sp.by_value[p]], self.s.lang))
        return self.record(sp, picks)

    def typed(self, sp: CompiledStep, text: str) -> StepResult:
        t = sp.type
        if t in _CHOICE_TYPES:
            return self.typed_choice(sp, text)
        if t == "multi":
            return self.typed_multi(sp, text)
        if t == "number":
            return self.typed_number(sp, text)
        if t == "text":
            return self.typed_text(sp, text)
        return self.goto_frontier()  # a note is never current; recover

    def match(self, sp: CompiledStep, text: str) -> tuple[str, list[int]]:
        """Match typed text to options: ("ok", [pos]) / ("ambiguous", [pos…]) / ("unknown", [])."""
        if len(text) > _MAX_CHOICE_TEXT:
            return "unknown", []
        k = answer_key(text)
        if not k:
            return "unknown", []
        hit = sp.exact.get(k)
        if hit is not None:
            return ("ok", list(hit)) if len(hit) == 1 else ("ambiguous", list(hit))
        head, _, rest = k.partition(" ")
        if rest and head.isdigit():
            # "4 hài lòng": the number decides, unless the words name a different option.
            hit = sp.exact.get(head)
            if hit is not None and len(hit) == 1:
                st, other = self.match(sp, rest)
                if st != "ok" or other == list(hit):
                    return "ok", list(hit)
                return "ambiguous", sorted(set(hit) | set(other))
        if len(k) < 2:
            return "unknown", []
        pad = f" {k} "
        cands = sorted({pos for lab, pos in sp.folded_labels if pad in f" {lab} "})
        if len(cands) == 1:
            return "ok", cands
        if cands:
            return "ambiguous", cands
        return "unknown", []

    def cands_text(self, sp: CompiledStep, cands: list[int]) -> str:
        return ", ".join(f"{p + 1}. {_txt(sp.labels[p], self.s.lang)}" for p in cands)

    def typed_choice(self, sp: CompiledStep, text: str) -> StepResult:
        status, cands = self.match(sp, text)
        if status == "ok":
            return self.record(sp, sp.values[cands[0]])
        if status == "ambiguous":
            return self.invalid(sp, "choice_ambiguous", text=text.strip()[:40], cands=self.cands_text(sp, cands))
        return self.invalid(sp, "choice_unknown", n=len(sp.values))

    def typed_multi(self, sp: CompiledStep, text: str) -> StepResult:
        if len(text) > _MAX_CHOICE_TEXT:
            return self.invalid(sp, "choice_unknown", n=len(sp.values))
        k = answer_key(text)
        if k in DONE_WORDS:
            return self.finish_multi(sp)
        done = False
        words = k.split()
        if words and words[-1] in DONE_WORDS and len(words) > 1:
            done = True
            words = words[:-1]
            text = " ".join(words)
            k = text
        picks: list[int] = []
        if words and all(w.isdigit() for w in words):
            for w in words:
                hit = sp.exact.get(w)
                if hit is None or len(hit) != 1:
                    return self.invalid(sp, "choice_unknown", n=len(sp.values))
                picks.append(hit[0])
        else:
            status, cands = self.match(sp, text)
            if status == "ok":
                picks = cands
            else:
                segments = [x for x in re.split(r"[,;/+\n]|\s(?:và|va|and|&)\s", text) if x.strip()]
                if len(segments) < 2:
                    if status == "ambiguous":
                        return self.invalid(sp, "choice_ambiguous", text=text.strip()[:40],
                                            cands=self.cands_text(sp, cands))
                    return self.invalid(sp, "choice_unknown", n=len(sp.values))
                for seg in segments:
                    st, cs = self.match(sp, seg)
                    if st == "ambiguous":
                        return self.invalid(sp, "choice_ambiguous", text=seg.strip()[:40],
                                            cands=self.cands_text(sp, cs))
                    if st != "ok":
                        return self.invalid(sp, "choice_unknown", n=len(sp.values))
                    picks.append(cs[0])
        chosen = sorted(set(picks))
        if len(chosen) > 1:
            for p in chosen:
                if p in sp.exclusive:
                    return self.invalid(sp, "multi_exclusive", label=_txt(sp.labels[p], self.s.lang))
        if len(chosen) > sp.max_picks:
            return self.invalid(sp, "multi_max", n=sp.max_picks)
        self.s.picks = [sp.values[p] for p in chosen]
        if done:
            return self.finish_multi(sp)
        self.update_multi(sp)
        return self.result()

    def typed_number(self, sp: CompiledStep, text: str) -> StepResult:
        q = sp.question
        if len(text) > 100:
            return self.invalid(sp, "number_invalid")
        m = re.fullmatch(r"\s*([+-]?\d{1,12})\s*", text)
        if m is None and not text.lstrip().startswith(("-", "+", "−")):
            # "35 tuổi": a number followed by words; "2.5" / "1.000" are refused, not truncated.
            m = re.fullmatch(r"(\d{1,12})(?: [^\d]*)?", answer_key(text))
        if m is None:
            return self.invalid(sp, "number_invalid")
        value = int(m.group(1))
        lo, hi = q.min, q.max
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            if lo is not None and hi is not None:
                return self.invalid(sp, "number_range", min=lo, max=hi)
            if lo is not None:
                return self.invalid(sp, "number_min", min=lo)
            return self.invalid(sp, "number_max", max=hi)
        return self.record(sp, value)

    def typed_text(self, sp: CompiledStep, text: str) -> StepResult:
        limit = sp.question.max_length or DEFAULT_TEXT_MAX
        if len(text) > limit * 4 + 100:
            return self.invalid(sp, "text_too_long", length=len(text), max=limit)
        value = clean_text(text)
        if not value:
            return self.invalid(sp, "text_empty")
        if len(value) > limit:
            return self.invalid(sp, "text_too_long", length=len(value), max=limit)
        return self.record(sp, value)
