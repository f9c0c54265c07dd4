"""The compiled survey: a questionnaire flattened once into steps the engine walks fast.

A survey is compiled once per content hash (:func:`compile_survey`) into a flat list of *steps*:
one per question, one per matrix item, with relevance (section AND question AND item) compiled
into closures (``survey_defs/conditions.py``: the one condition semantics), option lookup tables
for typed answers, and cached renderings per language. Pure: no I/O. How the steps are walked is
in ``engine/walk.py``; the public functions are in ``engine/steps.py``.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any, Mapping

from engine.types import AnswerValue, Option as ROption, Action, Value
from engine.normalize import answer_key
from engine.progress import ProgressPlan, build_plan
from survey_defs.conditions import Pred, compile_condition, value_forms
from survey_defs.i18n import text_in
from survey_defs.schema import (
    Condition,
    EndRule,
    MatrixItem,
    Question,
    QuestionType,
    Section,
    Survey,
    condition_refs,
)

__all__ = ["CompiledStep", "CompiledSurvey", "compile_survey", "answer_label", "label_of"]


CHOICE_TYPES = frozenset({"single", "scale", "yesno", "matrix"})


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
    _review: dict[str, str] = field(default_factory=dict)      # lang -> the question as the review lists it
    _labels: dict[tuple[Any, str], str] = field(default_factory=dict)   # (value, lang) -> label_of

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
    cond_idx: tuple[int, ...]                 # indices of conditional steps (notes excluded)
    messages: Mapping[str, Mapping[str, str]]
    languages: tuple[str, ...]
    progress: ProgressPlan                    # "Câu n/total" (engine/progress.py)
    rule_ready: tuple[int, ...] = ()          # the rules' ready_at, ascending

    def rules_ready(self, lo: int, hi: int) -> bool:
        """Whether some end rule becomes ready in ``[lo, hi)`` (most answers make none ready:
        the walk then skips evaluating the rules)."""
        ready = self.rule_ready
        i = bisect_left(ready, lo)
        return i < len(ready) and ready[i] < hi
    heads: dict[tuple[str, int, int], str] = field(default_factory=dict)  # (lang, n, total) -> "Câu n/total"


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
    conds: list[list[Condition]] = []          # each step's relevance conditions (for the progress plan)
    for section in survey.sections:
        for q in section.questions:
            qtype = q.type.value if isinstance(q.type, QuestionType) else str(q.type)
            opts = survey.options_of(q) if qtype in ("single", "multi", "scale", "yesno", "matrix") else []
            values = tuple(o.value for o in opts)
            labels = tuple(dict(o.label) for o in opts)
            by_value: dict[Any, int] = {}
            for pos, o in enumerate(opts):
                for form in value_forms(o.value):
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
                    conds.append([c for c in base + [item.relevant] if c is not None])
                    steps.append(CompiledStep(
                        idx=len(steps), id=item.id, qid=q.id, type="matrix", question=q, item=item,
                        section=section, relevant=combined(base + [item.relevant]), required=required,
                        constraint=constraint, values=values, labels=labels, by_value=by_value,
                        exact=exact_t, folded_labels=tuple(folded), exclusive=excl,
                        min_picks=min_picks, max_picks=max_picks, first_in_matrix=(n == 0)))
            else:
                conds.append([c for c in base if c is not None])
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
        refs = condition_refs(r.when)
        ready = max((last_idx.get(x, len(steps)) for x in refs), default=-1)
        rules.append(_Rule(rule=r, when=compile_condition(r.when), ready_at=ready))

    cond_idx = tuple(s.idx for s in steps if not s.is_note and s.relevant is not None)
    return CompiledSurvey(
        survey=survey, hash=survey.content_hash, steps=tuple(steps), by_id=by_id, rules=tuple(rules),
        cond_idx=cond_idx, messages=survey.messages, languages=tuple(survey.languages or ["vi"]),
        progress=build_plan(steps, conds), rule_ready=tuple(sorted(r.ready_at for r in rules)))


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


def answer_label(survey: Survey, step_id: str, value: Value | None, lang: str = "vi") -> str:
    """How an answer reads to a person: option labels, the number or the text ("" if none)."""
    c = compile_survey(survey)
    sp = c.by_id.get(step_id)
    if sp is None or value is None:
        return "" if value is None else str(value)
    return label_of(sp, value, lang)


def label_of(sp: CompiledStep, value: Value, lang: str) -> str:
    """:func:`answer_label` for a step already looked up (the review lists many; a single
    option's label is memoised on the step)."""
    if type(value) is int and value in sp.by_value:    # an option: a bounded memo
        key = (value, lang)
        hit = sp._labels.get(key)
        if hit is None:
            hit = sp._labels[key] = _label_of(sp, value, lang)
        return hit
    return _label_of(sp, value, lang)


def _label_of(sp: CompiledStep, value: Value, lang: str) -> str:
    if sp.values:
        vals = value if isinstance(value, list) else [value]
        out = []
        for v in vals:
            pos = sp.by_value.get(v)
            out.append(text_in(sp.labels[pos], lang) if pos is not None else str(v))
        return "; ".join(out)
    return str(value)
