"""Progress ("Câu n/total"): a total that never grows while a citizen answers forward.

Why this design
---------------
A counter whose total jumps up ("Câu 37/84" then "Câu 38/87") tells the citizen the survey just
got longer; web-survey research on progress indicators (Conrad, Couper, Tourangeau & Peytchev
2010; Villar, Callegaro & Yang 2013) finds that indicators which slow down or move backwards
raise break-off, while one that only ever moves towards the end does not. A survey methodologist
therefore expects the displayed total to be an *upper bound* that is counted down, never up:

* ``n`` counts the questions this citizen has been through: the applicable, answerable steps
  before the one asked (notes are not questions), plus one for it. It grows by exactly one per
  question answered forward.
* ``total`` is ``n - 1`` plus the **most** questions still possible from here: every step after
  the asked one whose relevance is already decided counts if it applies; the conditional blocks
  whose gates are still ahead count at the largest number *any* combination of answers to those
  gates could open. Blocks that exclude each other (the 17 agency-specific questions of
  sipas-services-2021, one per agency) therefore count as one, not seventeen, and a follow-up
  block counts until its gate is answered "no", when the total drops by its size.

Alternatives considered: "Phần 2/5 · Câu 3/12" (progress by section) still needs the same bound
inside a section with a conditional block, and adds a second counter to read on a phone; an
estimate from the answers so far (what this engine showed before) is exact only once the gates
are behind and grows whenever a gate opens a block, which is the complaint of issue 14.

Properties (tests/engine/test_engine_progress.py walks every gate combination of the bundled
surveys and random walks with "back" and "skip" to check them):

* answering forward, ``total`` never increases, ``n`` increases by one and ``n <= total``;
* when no later question can still apply, ``total == n``: on the last question of a survey whose
  last question opens no follow-up (both bundled surveys), the citizen sees "Câu 40/40". If the
  last question does gate a follow-up, its total counts the follow-up until it is answered "no"
  (the engine cannot know the answer before it is given); the review comes next;
* the figures shown at a question depend only on the answers before it, so "back" shows the
  same "Câu n/total" as the first time there, and changing an answer there can only move the
  total within the bound shown at that question.

Why it is exact and cheap: conditions may read only earlier questions (``survey_defs/validate.py``),
so a block's gates all lie before its first step, and each gate has a small set of
*representative* answers (its options; for numbers the neighbours of the constants the
conditions compare with; for multiple choice the subsets of the options conditions name) such
that every real answer satisfies exactly the same conditions as one of them. The blocks whose
gates are still open are grouped into clusters sharing a gate; each cluster's maximum is found by
trying every combination of representatives (bounded by :data:`MAX_COMBINATIONS`; beyond it each
block counts in full, still an upper bound). The result is memoised per position and the answers
to the gates before it, so a walk pays for it once per distinct situation.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import product
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from survey_defs.conditions import Pred, as_number, compare_of, leaf_ref, leaves, value_forms
from survey_defs.schema import Compare, Condition, Equals, In

if TYPE_CHECKING:
    from engine.compile import CompiledStep

__all__ = ["ProgressPlan", "build_plan", "MAX_COMBINATIONS"]

#: A representative "no answer" for a gate (an optional question skipped, a conditional one not asked).
_ABSENT = object()
#: Most answer combinations tried for one cluster of blocks; beyond it every block of the cluster
#: counts in full (an upper bound that still only shrinks as gates are answered).
MAX_COMBINATIONS = 4096
#: Most options of one multiple-choice gate that conditions may name; its representatives are the
#: subsets of those options (2**8 = 256), beyond it the blocks reading it count in full.
MAX_MULTI_NAMED = 8
#: A free-text answer that matches no constant and is not a number.
_OTHER_TEXT = "…"
#: Memo entries kept per survey before the memo is cleared (the key space is small in practice).
_MEMO_MAX = 4096
_CHOICE = frozenset({"single", "scale", "yesno", "matrix"})


@dataclass(slots=True, eq=False)
class _Block:
    """Conditional steps sharing one relevance closure (the same section/question/item conditions)."""

    pred: Pred
    idxs: tuple[int, ...]        # step indices, ascending (notes excluded)
    refs: tuple[str, ...]        # gate step ids the closure reads (steps of this survey only)
    last_ref: int                # index of the last gate; the block is decided once it is behind


@dataclass(slots=True, eq=False)
class ProgressPlan:
    """What :meth:`count` needs, derived once per compiled survey."""

    n_steps: int
    static_before: tuple[int, ...]   # unconditional answerable steps before index i (len n_steps + 1)
    blocks: tuple[_Block, ...]
    ref_pos: dict[str, int]          # gate step id -> its index
    domains: dict[str, tuple[Any, ...] | None]   # gate -> representative answers (None: too many)
    behind: tuple[tuple[str, ...], ...]   # per index: the gates before it (the memo key reads them)
    lists_behind: tuple[bool, ...]        # per index: a multiple-choice gate among them (a list)
    memo: dict[Any, tuple[int, int]] = field(default_factory=dict)

    def count(self, answers: Mapping[str, Any], idx: int) -> tuple[int, int]:
        """(n, total) for the step at ``idx`` given ``answers``; ``idx == n_steps``: nothing asked
        (n and total both count the questions behind)."""
        refs = self.behind[idx]
        if refs:
            vals = tuple(map(answers.get, refs))
            if self.lists_behind[idx]:      # a multiple-choice answer is a list: hashed as a tuple
                vals = tuple([tuple(v) if type(v) is list else v for v in vals])
            key: Any = (idx, vals)
        else:
            key = idx
        try:
            hit = self.memo.get(key)
        except TypeError:   # a list where no multiple choice is (a state from elsewhere): as a tuple
            key = (idx, tuple([tuple(v) if isinstance(v, list) else v for v in vals]))
            hit = self.memo.get(key)
        if hit is not None:
            return hit
        before = self.static_before[idx]
        future = self.static_before[self.n_steps] - before
        open_blocks: list[_Block] = []
        for b in self.blocks:
            if b.last_ref >= idx:
                open_blocks.append(b)
            elif b.pred(answers):
                k = bisect_left(b.idxs, idx)
                before += k
                future += len(b.idxs) - k
        if open_blocks:
            future += sum(self._most(cluster, answers, idx) for cluster in _clusters(open_blocks, self.ref_pos, idx))
        out = (before + 1, before + future) if idx < self.n_steps else (before, before)
        if len(self.memo) >= _MEMO_MAX:
            self.memo.clear()
        self.memo[key] = out
        return out

    def _most(self, cluster: list[_Block], answers: Mapping[str, Any], idx: int) -> int:
        """The most steps of ``cluster`` any answers to its open gates can make applicable."""
        full = sum(len(b.idxs) for b in cluster)
        gates = sorted({r for b in cluster for r in b.refs if self.ref_pos[r] >= idx})
        doms = [self.domains[r] for r in gates]
        size = 1
        for d in doms:
            if d is None:
                return full
            size *= len(d)
        if size > MAX_COMBINATIONS:
            return full
        trial = dict(answers)
        best = 0
        for combo in product(*doms):  # type: ignore[arg-type]
            for r, v in zip(gates, combo):
                if v is _ABSENT:
                    trial.pop(r, None)
                else:
                    trial[r] = v
            got = sum(len(b.idxs) for b in cluster if b.pred(trial))
            if got > best:
                best = got
                if best == full:
                    break
        return best


def _clusters(blocks: list[_Block], ref_pos: Mapping[str, int], idx: int) -> list[list[_Block]]:
    """Open blocks grouped so that blocks sharing an open gate are together (union-find on gates)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for b in blocks:
        gates = [r for r in b.refs if ref_pos[r] >= idx]
        for g in gates[1:]:
            parent[root(g)] = root(gates[0])
        root(gates[0])
    groups: dict[str, list[_Block]] = {}
    for b in blocks:
        first = next(r for r in b.refs if ref_pos[r] >= idx)
        groups.setdefault(root(first), []).append(b)
    return list(groups.values())


# ------------------------------------------------------------------ building the plan

def build_plan(steps: Sequence["CompiledStep"], conds: Sequence[Sequence[Condition]]) -> ProgressPlan:
    """The plan for ``steps``; ``conds[i]`` lists the relevance conditions of step ``i``
    (section, question, item) whose conjunction is ``steps[i].relevant``."""
    pos = {sp.id: sp.idx for sp in steps}
    static_before: list[int] = []
    count = 0
    by_pred: dict[int, tuple[Pred, list[int], set[str]]] = {}
    tests_of: dict[str, list[Condition]] = {}
    for sp in steps:
        static_before.append(count)
        if sp.type == "note":
            continue
        if sp.relevant is None:
            count += 1
            continue
        entry = by_pred.setdefault(id(sp.relevant), (sp.relevant, [], set()))
        entry[1].append(sp.idx)
        for c in conds[sp.idx]:
            for leaf in leaves(c):
                ref = leaf_ref(leaf)
                if ref in pos:      # an unknown id (no such step) always reads "no answer"
                    entry[2].add(ref)
                    tests_of.setdefault(ref, []).append(leaf)
    static_before.append(count)
    blocks = []
    for pred, idxs, refs in by_pred.values():
        ordered = tuple(sorted(refs, key=pos.__getitem__))
        last = pos[ordered[-1]] if ordered else -1
        blocks.append(_Block(pred, tuple(idxs), ordered, last))
    gates = sorted({r for b in blocks for r in b.refs}, key=pos.__getitem__)
    domains = {r: _domain(steps[pos[r]], tests_of[r]) for r in gates}
    behind = tuple(tuple(r for r in gates if pos[r] < i) for i in range(len(steps) + 1))
    lists = tuple(any(steps[pos[r]].type == "multi" for r in refs) for refs in behind)
    return ProgressPlan(n_steps=len(steps), static_before=tuple(static_before), blocks=tuple(blocks),
                        ref_pos={r: pos[r] for r in gates}, domains=domains, behind=behind, lists_behind=lists)


def _domain(sp: "CompiledStep", leaves: list[Condition]) -> tuple[Any, ...] | None:
    """Representative answers of gate ``sp``: every answer it can hold satisfies the conditions
    in ``leaves`` exactly as one of them does (see the module docstring)."""
    consts: list[Any] = []
    bounds: list[float] = []
    for leaf in leaves:
        if isinstance(leaf, Equals):
            consts.append(leaf.equals[1])
        elif isinstance(leaf, In):
            consts.extend(leaf.in_[1])
        elif isinstance(leaf, Compare):
            bounds.append(compare_of(leaf)[2])
    reps: list[Any] = []
    if not sp.required or sp.relevant is not None:
        reps.append(_ABSENT)
    q = sp.question
    if sp.type in _CHOICE:
        reps.extend(sp.values)
    elif sp.type == "multi":
        named_forms = frozenset().union(*(value_forms(c) for c in consts)) if consts else frozenset()
        named = [v for v in sp.values if value_forms(v) & named_forms]
        others = [v for v in sp.values if not value_forms(v) & named_forms]
        if len(named) > MAX_MULTI_NAMED:
            return None
        for mask in range(1 << len(named)):
            sub = [v for j, v in enumerate(named) if mask >> j & 1]
            if sub:             # (no picks is stored as no answer: "Xong" with none skips)
                reps.append(sub)
            if others:
                reps.append(sub + others[:1])
    elif sp.type == "number":
        reps.extend(_numbers(consts, bounds, q.min, q.max))
    else:   # free text: the constants, numbers read from text, and any other text
        reps.extend(consts)
        reps.extend(_numbers(consts, bounds, None, None))
        reps.append(_OTHER_TEXT)
    return tuple(reps)


def _numbers(consts: list[Any], bounds: list[float], lo: float | None, hi: float | None) -> list[int]:
    """Whole numbers standing for every whole number in [lo, hi]: each critical value (a constant
    compared or equalled), its neighbours, and the range's ends; between two neighbours every
    number satisfies the same comparisons."""
    crit: set[int] = set()
    for b in bounds:
        if math.isfinite(b):
            crit.update((math.floor(b), math.ceil(b)))
    for c in consts:
        f = as_number(c)
        if f is not None and math.isfinite(f) and f == int(f):
            crit.add(int(f))
    cands = {k + d for k in crit for d in (-1, 0, 1)}
    low = math.ceil(lo) if lo is not None else None
    high = math.floor(hi) if hi is not None else None
    cands.update(x for x in (low, high) if x is not None)
    if not cands:
        cands.add(0)
    return sorted(x for x in cands if (low is None or x >= low) and (high is None or x <= high))
