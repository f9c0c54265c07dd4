"""Progress "Câu n/total" (engine/progress.py): the total never grows while a citizen answers
forward, ``n`` moves one question at a time, and the total is the *tightest* such bound.

Two kinds of evidence, both played through ``engine.step`` as a channel does:

* every gate path: a depth-first walk that answers each question that decides relevance or an
  end rule with every possible answer (other questions get one valid answer), over the bundled
  surveys, the transcript survey and a survey written here whose gates are a number, a multiple
  choice and a free text (every number in the range is tried, so the representatives the engine
  derives are checked against brute force). At every question the total shown must equal the
  most questions any branch below it actually asks;
* random walks with "back", "edit" and "skip": forward moves never raise the total, ``n`` never
  exceeds it, and a question shown again after the same earlier answers shows the same figures.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

import engine
from engine import compile_survey, new_state, step
from engine.types import Choose, Command, Done, Input, Reply, Start, State, TypedText
from survey_defs.loader import get_survey, load_survey
from survey_defs.schema import Survey, condition_refs

MINI = Path(__file__).parents[1] / "transcripts" / "surveys" / "mini.yaml"

GATES_YAML = """
id: gates
version: "1"
title: {vi: "Cổng", en: "Gates"}
languages: [vi, en]
sections:
  - id: a
    title: {vi: "A", en: "A"}
    questions:
      - {id: n, type: number, min: 0, max: 12, text: {vi: "Số?", en: "Number?"}}
      - id: m
        type: multi
        required: false
        text: {vi: "Chọn?", en: "Pick?"}
        options:
          - {value: 1, label: {vi: "Một", en: "One"}}
          - {value: 2, label: {vi: "Hai", en: "Two"}}
          - {value: 3, label: {vi: "Ba", en: "Three"}}
          - {value: 4, label: {vi: "Bốn", en: "Four"}}
      - {id: t, type: text, required: false, text: {vi: "Chữ?", en: "Text?"}}
  - id: b
    title: {vi: "B", en: "B"}
    questions:
      - {id: n_big1, type: yesno, relevant: {ge: [n, 5]}, text: {vi: "b1", en: "b1"}}
      - {id: n_big2, type: yesno, relevant: {ge: [n, 5]}, text: {vi: "b2", en: "b2"}}
      - {id: n_small, type: yesno, relevant: {lt: [n, 3]}, text: {vi: "s", en: "s"}}
      - {id: n_seven, type: number, min: 0, max: 9, relevant: {equals: [n, 7]}, text: {vi: "7?", en: "7?"}}
      - {id: n_seven2, type: yesno, relevant: {equals: [n, 7]}, text: {vi: "7b", en: "7b"}}
      - {id: n_seven3, type: yesno, relevant: {equals: [n, 7]}, text: {vi: "7c", en: "7c"}}
      - {id: m_two, type: yesno, relevant: {equals: [m, 2]}, text: {vi: "m2", en: "m2"}}
      - {id: m_two2, type: yesno, relevant: {equals: [m, 2]}, text: {vi: "m2b", en: "m2b"}}
      - {id: m_34, type: yesno, relevant: {in: [m, [3, 4]]}, text: {vi: "m34", en: "m34"}}
      - {id: m_none, type: yesno, relevant: {not: {answered: m}}, text: {vi: "m0", en: "m0"}}
      - {id: both, type: yesno, relevant: {all: [{equals: [m, 2]}, {gt: [n, 6]}]}, text: {vi: "c", en: "c"}}
      - {id: either, type: yesno, relevant: {any: [{equals: [m, 1]}, {le: [n, 0]}]}, text: {vi: "d", en: "d"}}
      - {id: t_any, type: yesno, relevant: {answered: t}, text: {vi: "t", en: "t"}}
      - {id: t_x, type: yesno, relevant: {equals: [t, "x"]}, text: {vi: "tx", en: "tx"}}
      - {id: t_num, type: yesno, relevant: {gt: [t, 4]}, text: {vi: "t4", en: "t4"}}
      - {id: last, type: yesno, text: {vi: "Cuối", en: "Last"}}
"""

SURVEYS: dict[str, Survey] = {
    "sipas-services-2021": get_survey("sipas-services-2021"),
    "sipas-households": get_survey("sipas-households"),
    "mini": load_survey(MINI),
    "gates": Survey.model_validate(yaml.safe_load(GATES_YAML)),
}


@pytest.fixture(autouse=True)
def _strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.steps, "STRICT", True)


def _question(replies: tuple[Reply, ...]) -> Reply | None:
    qs = [r for r in replies if r.kind == "question"]
    return qs[-1] if qs else None


def _decisive(survey: Survey) -> set[str]:
    """Step ids that relevance conditions or end rules read."""
    ids: set[str] = set()
    for sec in survey.sections:
        for q in sec.questions:
            for cond in (sec.relevant, q.relevant, *[i.relevant for i in (q.items or [])]):
                if cond is not None:
                    ids.update(condition_refs(cond))
    for rule in survey.end_rules:
        ids.update(condition_refs(rule.when))
    return ids


def _answers(survey: Survey, sid: str, every: bool) -> list[list[Input]]:
    """Ways to answer step ``sid``: all of them (``every``: each option, each subset, each number
    in the range, several texts, a skip) or one valid answer."""
    sp = compile_survey(survey).by_id[sid]
    q = sp.question
    ways: list[list[Input]] = []
    if sp.type == "multi":
        subsets = range(1, 1 << len(sp.values)) if every else [1]
        for mask in subsets:
            picks = [v for j, v in enumerate(sp.values) if mask >> j & 1]
            if len(picks) <= sp.max_picks and not (len(picks) > 1 and any(sp.by_value[p] in sp.exclusive for p in picks)):
                ways.append([*(Choose(sid, v) for v in picks), Done(sid)])
    elif sp.values:
        ways = [[Choose(sid, v)] for v in (sp.values if every else sp.values[:1])]
    elif sp.type == "number":
        lo, hi = q.min if q.min is not None else 0, q.max if q.max is not None else 120
        nums = range(lo, hi + 1) if every and hi - lo <= 40 else sorted({lo, hi, min(max(lo, 45), hi)})
        ways = [[TypedText(str(x))] for x in (nums if every else [min(max(lo, 45), hi)])]
    else:
        ways = [[TypedText(x)] for x in (["x", "y", "5"] if every else ["ý kiến"])]
    if every and not sp.required:
        ways.append([Command("skip")])
    return ways


def _apply(survey: Survey, state: State, inputs: list[Input], now: float) -> tuple[State, tuple[Reply, ...]]:
    replies: tuple[Reply, ...] = ()
    for inp in inputs:
        r = step(survey, state, inp, now, confirm=False)
        state, replies = r.state, r.replies
    return state, replies


def _explore(survey: Survey, state: State, shown: tuple[int, int], path: list[tuple[int, int]],
             out: dict[str, Any]) -> int:
    """Depth-first over every answer to the deciding questions from ``state`` (asking the step
    whose figures are ``shown``); checks each move and returns the most questions any branch
    asks (its last n)."""
    n, total = shown
    assert 1 <= n <= total, (survey.id, path, shown)
    sid = state.current
    assert sid is not None
    every = sid in out["decisive"]
    most = 0
    leaves_in_review = False
    for inputs in _answers(survey, sid, every):
        st, replies = _apply(survey, state, inputs, float(len(path)))
        if st.status == "active" and st.current == sid:
            continue        # refused (a constraint): not a way to answer
        q = _question(replies)
        if st.status == "active":
            assert q is not None and q.progress is not None
            n2, total2 = q.progress
            assert n2 == n + 1, (survey.id, sid, path, shown, q.progress)
            assert total2 <= total, (survey.id, sid, path, shown, q.progress)
            got = _explore(survey, st, (n2, total2), path + [q.progress], out)
            leaves_in_review = leaves_in_review or got > 0
            most = max(most, abs(got))
        else:
            out["paths"] += 1
            if st.status == "review":
                assert n == total, (survey.id, "the last question's total is exact", path, shown)
                out["longest"] = max(out["longest"], n)
                leaves_in_review = True
                most = max(most, n)
            else:
                assert st.status == "ended", st.status
    if leaves_in_review:
        # the bound is tight: some answers below this question reach exactly the total shown
        assert most == total, (survey.id, sid, path, shown, most)
        return most
    return -n      # only screened-out paths below: no claim on the total


@pytest.mark.parametrize("name", list(SURVEYS))
def test_every_gate_path_counts_down_and_is_tight(name: str) -> None:
    survey = SURVEYS[name]
    r = step(survey, new_state(survey), Start(), 0.0, confirm=False)
    q = _question(r.replies)
    assert q is not None and q.progress is not None and q.progress[0] == 1
    out: dict[str, Any] = {"decisive": _decisive(survey), "paths": 0, "longest": 0}
    _explore(survey, r.state, q.progress, [q.progress], out)
    assert out["paths"] >= 2 and out["longest"] == q.progress[1]
    # the welcome announces the same bound
    assert f" {q.progress[1]} " in r.replies[0].text


def test_services_agency_block_counts_once_and_feedback_block_counts_down() -> None:
    """Issue 14: "Câu 37/84" must not become "Câu 38/87". The 17 agency-specific questions
    (one applies) count as one from the start; the 4 feedback items count until "no"."""
    survey = SURVEYS["sipas-services-2021"]
    c = compile_survey(survey)
    state, replies = _apply(survey, new_state(survey), [Start()], 0.0)
    seen: list[tuple[str, tuple[int, int]]] = []
    for i in range(200):
        q = _question(replies)
        if state.status != "active" or q is None:
            break
        assert q.progress is not None and q.step_id is not None
        seen.append((q.step_id, q.progress))
        sp = c.by_id[q.step_id]
        answer = [Choose(sp.id, 0)] if sp.id == "q_feedback" else _answers(survey, sp.id, False)[0]
        state, replies = _apply(survey, state, answer, float(i))
    assert state.status == "review"
    totals = dict(seen)
    agency = totals["q_agency"]
    after = seen[[s for s, _ in seen].index("q_agency") + 1]
    assert after[0].startswith("q_field_") and after[1] == (agency[0] + 1, agency[1])
    fb = totals["q_feedback"]
    nxt = seen[[s for s, _ in seen].index("q_feedback") + 1][1]
    assert nxt == (fb[0] + 1, fb[1] - 4)      # the 4 feedback items are ruled out
    assert seen[-1][1][0] == seen[-1][1][1] == len(seen)


@pytest.mark.parametrize("name", list(SURVEYS))
def test_random_walks_with_back_edit_and_skip(name: str) -> None:
    survey = SURVEYS[name]
    c = compile_survey(survey)
    decisive = _decisive(survey)
    rng = random.Random(name)
    moves = 0
    for walk in range(60):
        state, replies = _apply(survey, new_state(survey), [Start()], 0.0)
        shown_at: dict[tuple[str, tuple[Any, ...]], tuple[int, int]] = {}
        last: tuple[int, tuple[int, int]] | None = None     # (index, figures) of a question answered
        for i in range(400):
            q = _question(replies)
            if state.status == "active" and q is not None and q.progress is not None:
                sid = q.step_id
                assert sid is not None
                n, total = q.progress
                assert 1 <= n <= total
                idx = c.by_id[sid].idx
                before = tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                      for k, v in state.answers.items() if c.by_id[k].idx < idx))
                prior = shown_at.setdefault((sid, before), q.progress)
                assert prior == q.progress, (name, walk, sid, prior, q.progress)
                if last is not None and last[0] < idx:      # answered forward
                    assert n > last[1][0] and total <= last[1][1], (name, walk, last, q.progress)
                    moves += 1
            if state.status in ("review", "ended", "submitted"):
                if state.status == "review" and rng.random() < 0.5 and state.trail:
                    inp: list[Input] = [Command("edit", str(rng.randint(1, len(state.trail))))]
                    last = None
                else:
                    break
            else:
                sid = state.current
                assert sid is not None
                roll = rng.random()
                last = None
                if roll < 0.08 and state.trail:
                    inp = [Command("back")]
                elif roll < 0.1 and state.trail:
                    inp = [Command("edit", str(rng.randint(1, len(state.trail))))]
                else:
                    inp = rng.choice(_answers(survey, sid, sid in decisive))
                    if q is not None and q.progress is not None:
                        last = (c.by_id[sid].idx, q.progress)
            state, replies = _apply(survey, state, inp, float(i))
    assert moves >= 100     # forward moves checked (screening ends many walks early)
