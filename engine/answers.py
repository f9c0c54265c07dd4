"""Answers: validating, recording and understanding what a citizen typed or pressed.

A mixin of :class:`engine.walk._Run` (the methods use the run's state, replies and navigation);
kept apart so that each module stays small: what comes next in ``engine/walk.py``, how it is shown
in ``engine/render.py``, commands in ``engine/commands.py``, the meaning of an answer here. Typed answers are matched against the option tables built once by
``engine/compile.py`` (numbers, labels without diacritics, aliases, a unique label containing the
text).
"""

from __future__ import annotations

import re

from engine.types import AnswerCleared, AnswerMeta, AnswerSet, AnswerValue, Reply, StepResult, Value
from engine.compile import CHOICE_TYPES, CompiledStep
from engine.normalize import DONE_WORDS, answer_key, clean_text
from survey_defs.i18n import text_in

#: "No answer yet" (distinct from every value a step may hold).
_MISSING = object()
#: Longest free-text answer accepted when a question sets no ``max_length`` (characters).
DEFAULT_TEXT_MAX = 2000
#: "1 3", "1, 3", "2;4": several numbers where one option is asked for.
_SEVERAL_NUMBERS = re.compile(r"\d{1,3}(?:\s*[,;/ ]\s*\d{1,3})+")
#: Typed answers longer than this cannot be an option (skips matching work on 10 000-char floods).
_MAX_CHOICE_TEXT = 300


class _Answers:
    """Answer handling of a run (see :class:`engine.walk._Run`, which mixes it in)."""

    __slots__ = ()

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
                msg = text_in(sp.question.constraint_message, s.lang) or self.t("constraint")
                self.replies.append(Reply("invalid", msg, step_id=sp.id))
                self.ask(sp)
                return self.result()
        sid = sp.id
        now = self.now
        answers = s.answers
        m = s.meta.get(sid)
        if m is None:
            changed = False
            s.meta[sid] = AnswerMeta(now, now, 0)
        else:
            changed = m.answered_at is not None and answers.get(sid, _MISSING) != value
            s.meta[sid] = AnswerMeta(m.asked_at, now, m.changes + 1 if changed else m.changes)
        answers[sid] = value
        self.events.append(AnswerSet(sid, value, now))
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
                    return self.invalid(sp, "multi_exclusive", label=text_in(sp.labels[sp.by_value[p]], self.s.lang))
        return self.record(sp, picks)

    def typed(self, sp: CompiledStep, text: str) -> StepResult:
        t = sp.type
        if t in CHOICE_TYPES:
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
        return ", ".join(f"{p + 1}. {text_in(sp.labels[p], self.s.lang)}" for p in cands)

    def typed_choice(self, sp: CompiledStep, text: str) -> StepResult:
        if len(text) <= _MAX_CHOICE_TEXT and not text.isdigit() and _SEVERAL_NUMBERS.fullmatch(text.strip()):
            return self.invalid(sp, "choice_one", n=len(sp.values))      # "1 3" where one option is asked
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
                    return self.invalid(sp, "multi_exclusive", label=text_in(sp.labels[p], self.s.lang))
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
