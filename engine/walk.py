"""Walking a compiled survey: one input applied to a private copy of the state (:class:`_Run`).

Pure and synchronous: no I/O, no clock (time comes in as ``now``), no randomness, and the input
state is never mutated (a new :class:`State` is returned). Channels (console, Telegram, Zalo) turn
platform updates into :mod:`engine.types` inputs and render the replies; storage persists the
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

Progress ("Câu 12/85"): ``n`` counts the applicable questions up to the one asked; the total is
the most questions this citizen can still be asked, counted down as gates rule blocks out and
never up (``engine/progress.py`` says why).

Where the rest lives: ``engine/steps.py`` (the public functions), ``engine/compile.py`` (the
compiled survey), ``engine/progress.py`` ("Câu n/total"), and three mixins of :class:`_Run`, one
per reason to change: ``engine/answers.py`` (recording and matching answers),
``engine/render.py`` (how questions and the review are shown), ``engine/commands.py`` (back,
edit, pause, language, submit…). This module keeps what decides the next step: dispatching an
input by status, landing after an answer (end rules, notes, review), the confirmation of a
screening answer, and the search for the next open step.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from engine import texts
from engine.answers import _Answers
from engine.commands import _Commands
from engine.types import (
    AnswerCleared,
    AnswerMeta,
    Choose,
    Command,
    Done,
    Event,
    Input,
    Reply,
    Start,
    State,
    StatusChanged,
    StepResult,
    TypedText,
)
from engine.compile import CHOICE_TYPES, CompiledStep, CompiledSurvey, label_of
from engine.normalize import CONFIRM_NO, CONFIRM_YES, answer_key, parse_typed
from engine.render import _Render
from survey_defs.i18n import text_in

def _copy(st: State) -> State:
    # positional (in State's field order): a third cheaper than keywords on every step
    return State(st.survey_id, st.survey_hash, st.lang, st.status, st.outcome, st.current, dict(st.answers),
                 list(st.picks), list(st.trail), dict(st.meta), st.seq, st.hidden)


class _Run(_Answers, _Render, _Commands):
    """One application of an input: a private copy of the state plus the replies and events."""

    __slots__ = ("c", "s", "now", "replies", "events", "orig", "notes", "buttons", "confirm")

    def __init__(self, c: CompiledSurvey, state: State, now: float, buttons: bool = True,
                 confirm: bool = True) -> None:
        self.c = c
        self.buttons = buttons      # the channel shows buttons: prompts may say "bấm «Xong»"
        self.confirm = confirm      # ask before an answer ends the survey (chat; not the page's form)
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
        return StepResult(self.s, tuple(self.replies), tuple(self.events))

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
            cid = s.current
            sp = self.c.by_id.get(cid) if cid is not None else None
            free = s.status == "active" and sp is not None and sp.type == "text"
            parsed = parse_typed(text, free_text=free)
            if type(parsed) is TypedText and sp is not None and s.status == "active" and \
                    (not s.picks or sp.type == "multi"):     # (picks on another step: an answer awaiting "yes")
                # the common case: an answer typed to the question asked
                if sp.type in CHOICE_TYPES:
                    return self.typed_choice(sp, text)
                return self.typed(sp, text)
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
        if status == "active" and s.picks:     # an answer that ends the survey, awaiting "yes"?
            pending = self.cur()
            if pending is not None and pending.type != "multi":
                return self.confirming(pending, inp)
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
        title = text_in(self.c.survey.title, self.s.lang)
        self.info("welcome", title=title, total=total)
        desc = text_in(self.c.survey.description, self.s.lang)
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
        c = self.c
        p = nxt.idx if nxt is not None else len(c.steps)
        for r in c.rules if c.rules_ready(settled_idx, p) else ():
            if settled_idx <= r.ready_at < p and r.when(s.answers):
                # Screening (ineligible) is asked back; a refusal (consent declined) ends at once:
                # asking "are you sure?" of someone who said no would press them to consent.
                if self.confirm and settled_idx >= 0 and r.rule.outcome == "ineligible":
                    answered = self.c.steps[settled_idx]
                    if answered.type != "multi" and answered.id in s.answers:
                        return self.ask_confirm(answered, s.answers[answered.id])
                s.current = None
                s.picks = []
                self.set_status("ended", r.rule.outcome)
                self.replies.append(Reply("ended", text_in(r.rule.message, s.lang)))
                return self.result()
        for note in self.notes:
            text = text_in(note.question.text, s.lang)
            self.replies.append(Reply("info", text, step_id=note.id))
        self.notes = []
        if nxt is None:
            s.current = None
            s.picks = []
            self.set_status("review")
            self.review()
        else:
            s.current = nxt.id
            if s.status != "active" or s.outcome is not None:
                self.set_status("active")
            self.ask(nxt)
        return StepResult(s, tuple(self.replies), tuple(self.events))

    # ------------------------------------------------------------ confirming a screening answer
    def ask_confirm(self, sp: CompiledStep, value: Any) -> StepResult:
        """An answer would end the survey (a screening rule): take it back and ask first.

        Why: a mistyped age ("15" for "51") must not end a citizen's survey at once. The answer
        is not recorded: the state is the one before it, with the value waiting in ``picks``
        (on a step that is not multiple choice, ``picks`` is otherwise always empty). "Có" /
        "tiếp tục" records it (and the survey ends), "không" / "quay lại" asks the question
        again, and a new answer replaces it.
        """
        s = self.s = _copy(self.orig)
        self.events = []
        self.replies = []
        self.notes = []
        s.current = sp.id
        s.picks = [value]
        if s.status != "active":
            self.set_status("active")
        self.show_confirm(sp)
        return self.result()

    def confirming(self, sp: CompiledStep, inp: Input) -> StepResult:
        """The answer to "Ông/Bà trả lời «15»: phiếu sẽ kết thúc. Đúng không?"."""
        s = self.s
        value = s.picks[0]
        yes = no = False
        if isinstance(inp, Command):
            if inp.name in ("resume", "submit"):
                yes = True
            elif inp.name in ("back", "edit"):
                no = True
            elif inp.name == "lang":
                self.switch_lang(inp.arg, announce=True)
                self.show_confirm(sp)
                return self.result()
            elif inp.name == "help":
                self.info("help")
                self.show_confirm(sp)
                return self.result()
            elif inp.name in ("stop", "pause"):
                s.picks = []
                return self.command(inp)
            else:
                self.show_confirm(sp)
                return self.result()
        elif isinstance(inp, TypedText):
            key = answer_key(inp.text[:200]) if isinstance(inp.text, str) else ""
            same = key in (answer_key(str(value)), answer_key(label_of(sp, value, s.lang)))
            yes, no = key in CONFIRM_YES or same, key in CONFIRM_NO and not same
            if not (yes or no):
                s.picks = []
                return self.typed(sp, inp.text)     # a corrected answer, e.g. "51"
        elif isinstance(inp, Choose):
            if inp.step_id != sp.id:
                return self.unchanged("stale", kind="stale")
            if inp.value == value:
                yes = True
            else:
                s.picks = []
                return self.choose(sp, inp.value)
        elif isinstance(inp, Start):
            self.info("resumed")
            self.show_confirm(sp)
            return self.result()
        else:
            return self.unchanged("stale", kind="stale")
        s.picks = []
        if yes:
            self.confirm = False                    # asked once: now the rule ends the survey
            return self.record(sp, value)
        self.ask(sp)
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
