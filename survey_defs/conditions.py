"""What a structured condition means: the one semantics of ``equals``, ``in``, ``not``, ``all``,
``any``, ``answered`` and the comparisons, shared by the engine (relevance, constraints, end
rules while a citizen answers), paper entry and analytics (quality flags over a whole table).

Why here: a relevance condition is part of the questionnaire (``survey_defs/schema.py`` defines
its shape), and the same answer must satisfy the same condition wherever it is evaluated. Two
evaluators with their own idea of "4 equals '4'" once disagreed at the edges; now the engine
compiles conditions with :func:`compile_condition` and analytics' vectorised evaluation
(``analytics/quality.py``) is built from :func:`value_forms`, :func:`matches` and
:func:`as_number`, with a test that plays both on the same answers.

The rules:

* an option value and its string form are one answer (YAML may type ``4`` or ``"4"``; a string
  of at most 18 digits with an optional sign is also its integer);
* a missing answer makes ``equals``, ``in`` and every comparison false, ``answered`` false;
* for a multiple-choice answer (a list), ``equals`` means "is among the picks" and ``in`` "any
  pick is among the values";
* a comparison reads the answer as a number (an int, a float, or a string holding one; never a
  boolean), else it is false.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Iterator, Mapping

from survey_defs.schema import All, Answered, Any_, Compare, Condition, Equals, In, Not

__all__ = ["Pred", "value_forms", "matches", "as_number", "compare_of", "compile_condition", "COMPARE_OPS",
           "leaves", "leaf_ref"]

#: A compiled condition: answers keyed by step id -> does it hold.
Pred = Callable[[Mapping[str, Any]], bool]

_INT_RE = re.compile(r"[+-]?\d{1,18}")

#: The comparison fields of :class:`~survey_defs.schema.Compare` and what each means.
COMPARE_OPS: dict[str, Callable[[float, float], bool]] = {
    "lt": float.__lt__, "le": float.__le__, "gt": float.__gt__, "ge": float.__ge__}


def value_forms(v: Any) -> frozenset[Any]:
    """Equal forms of an option value: 4 and "4" are the same answer (YAML may type either)."""
    forms: set[Any] = {v, str(v)}
    if isinstance(v, str):
        s = v.strip()
        if _INT_RE.fullmatch(s):
            forms.add(int(s))
    return frozenset(forms)


def matches(answer: Any, forms: frozenset[Any]) -> bool:
    """Whether one stored answer is among ``forms`` (a list: any of its picks). Missing
    (``None``, or NaN in a table) never matches."""
    if answer is None or (isinstance(answer, float) and math.isnan(answer)):
        return False
    if isinstance(answer, (list, tuple)):
        return any(_hashable_in(x, forms) for x in answer)
    return _hashable_in(answer, forms)


def _hashable_in(x: Any, forms: frozenset[Any]) -> bool:
    try:
        return x in forms
    except TypeError:   # an unhashable value (a dict from bad data) equals no option
        return False


def as_number(v: Any) -> float | None:
    """An answer read as a number for a comparison, or None (booleans, words, missing, NaN)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        f = float(v)
    elif isinstance(v, str):
        try:
            f = float(v.strip())
        except ValueError:
            return None
    else:
        return None
    return None if math.isnan(f) else f


def compare_of(cond: Compare) -> tuple[str, str, float]:
    """``(op, step id, bound)`` of a comparison (exactly one of lt/le/gt/ge is set)."""
    for op in COMPARE_OPS:
        pair = getattr(cond, op)
        if pair is not None:
            return op, pair[0], float(pair[1])
    raise TypeError(f"comparison without an operator: {cond!r}")  # pragma: no cover - schema forbids it


def compile_condition(cond: Condition) -> Pred:
    """A structured condition as a closure over the answers dict (no ``eval``)."""
    if isinstance(cond, Equals):
        key, val = cond.equals
        forms = value_forms(val)
        return lambda a: matches(a.get(key), forms)
    if isinstance(cond, In):
        key, vals = cond.in_
        forms_in = frozenset().union(*(value_forms(x) for x in vals)) if vals else frozenset()
        return lambda a: matches(a.get(key), forms_in)
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
        key_answered = cond.answered
        return lambda a: key_answered in a
    if isinstance(cond, Compare):
        op, key_cmp, bound = compare_of(cond)
        cmp = COMPARE_OPS[op]

        def compare(a: Mapping[str, Any]) -> bool:
            n = as_number(a.get(key_cmp))
            return n is not None and cmp(n, bound)
        return compare
    raise TypeError(f"unknown condition {cond!r}")  # pragma: no cover - schema forbids it


def leaves(cond: Condition) -> Iterator[Condition]:
    """The tests a condition is made of (``equals``, ``in``, ``answered``, comparisons), through
    ``not``, ``all`` and ``any``: what the validator checks and what the progress count varies."""
    if isinstance(cond, Not):
        yield from leaves(cond.not_)
    elif isinstance(cond, All):
        for c in cond.all:
            yield from leaves(c)
    elif isinstance(cond, Any_):
        for c in cond.any:
            yield from leaves(c)
    else:
        yield cond


def leaf_ref(leaf: Condition) -> str:
    """The question a leaf of :func:`leaves` reads."""
    if isinstance(leaf, Equals):
        return leaf.equals[0]
    if isinstance(leaf, In):
        return leaf.in_[0]
    if isinstance(leaf, Answered):
        return leaf.answered
    if isinstance(leaf, Compare):
        return compare_of(leaf)[1]
    raise TypeError(f"not a leaf condition: {leaf!r}")
