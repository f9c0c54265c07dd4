"""Property tests: random walks through the shipped questionnaires (and the feature-complete
test survey) never raise, always answer, and valid walks end submitted (or screened out) with
answers that satisfy every rule of the definition.

The rules are checked with an evaluator written here, independently of the engine's compiled
closures, so that a bug shared by the compiler and the checker cannot hide.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import engine
from engine import compile_survey, new_state, step
from engine.types import Choose, Command, Done, Start, State, TypedText
from survey_defs.loader import get_survey, load_survey
from survey_defs.schema import All, Answered, Any_, Compare, Equals, In, Not, Survey

MINI = Path(__file__).parents[1] / "transcripts" / "surveys" / "mini.yaml"
SURVEYS: dict[str, Survey] = {
    "mini": load_survey(MINI),
    "sipas-households": get_survey("sipas-households"),
    "sipas-services-2021": get_survey("sipas-services-2021"),
}
COMMAND_NAMES = ["back", "pause", "resume", "help", "stop", "lang", "review", "submit", "edit", "skip"]
TYPED_COMMANDS = ["quay lại", "tạm dừng", "tiếp tục", "trợ giúp", "/back", "/pause", "/continue", "/help",
                  "/lang en", "/lang vi", "/lang", "xem lại", "bỏ qua", "gửi", "sửa 1", "sửa 99", "xong", "/start"]
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=False)


@pytest.fixture(autouse=True)
def _strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.steps, "STRICT", True)


# ------------------------------------------------------------------ independent rule checker

def _same(a: Any, b: Any) -> bool:
    return a == b or str(a) == str(b)


def holds(cond: Any, answers: dict[str, Any]) -> bool:
    if isinstance(cond, Equals):
        k, v = cond.equals
        a = answers.get(k)
        if a is None:
            return False
        return any(_same(x, v) for x in a) if isinstance(a, list) else _same(a, v)
    if isinstance(cond, In):
        k, vs = cond.in_
        a = answers.get(k)
        if a is None:
            return False
        picks = a if isinstance(a, list) else [a]
        return any(_same(x, v) for x in picks for v in vs)
    if isinstance(cond, Not):
        return not holds(cond.not_, answers)
    if isinstance(cond, All):
        return all(holds(c, answers) for c in cond.all)
    if isinstance(cond, Any_):
        return any(holds(c, answers) for c in cond.any)
    if isinstance(cond, Answered):
        return cond.answered in answers
    if isinstance(cond, Compare):
        for op in ("lt", "le", "gt", "ge"):
            pair = getattr(cond, op)
            if pair is not None:
                a = answers.get(pair[0])
                if not isinstance(a, int):
                    return False
                return {"lt": a < pair[1], "le": a <= pair[1], "gt": a > pair[1], "ge": a >= pair[1]}[op]
    raise AssertionError(cond)


def steps_of(survey: Survey):
    """(step id, question, item, [conditions]) in order, matrix items as steps."""
    for sec in survey.sections:
        for q in sec.questions:
            if q.type.value == "matrix":
                for it in q.items or []:
                    yield it.id, q, [sec.relevant, q.relevant, it.relevant]
            else:
                yield q.id, q, [sec.relevant, q.relevant]


def check_submitted(survey: Survey, answers: dict[str, Any]) -> None:
    known = set()
    for sid, q, conds in steps_of(survey):
        known.add(sid)
        applies = all(holds(c, answers) for c in conds if c is not None)
        if q.type.value == "note":
            assert sid not in answers
            continue
        if not applies:
            assert sid not in answers, f"{sid} answered but does not apply"
            continue
        if sid not in answers:
            assert not q.required, f"required applicable {sid} missing"
            continue
        v = answers[sid]
        t = q.type.value
        opts = [o.value for o in survey.options_of(q)]
        if t == "multi":
            assert isinstance(v, list) and len(v) == len(set(v)) and all(x in opts for x in v)
            assert len(v) >= (q.min_picks or 1) and len(v) <= (q.max_picks or len(opts))
            if len(v) > 1:
                assert not set(v) & set(q.exclusive)
        elif t in ("single", "scale", "matrix", "yesno"):
            assert v in opts, (sid, v)
        elif t == "number":
            assert isinstance(v, int)
            assert q.min is None or v >= q.min
            assert q.max is None or v <= q.max
        elif t == "text":
            assert isinstance(v, str) and v.strip()
            assert len(v) <= (q.max_length or engine.answers.DEFAULT_TEXT_MAX)
        if q.constraint is not None:
            assert holds(q.constraint, answers), f"{sid} violates its constraint"
    assert set(answers) <= known
    for rule in survey.end_rules:
        assert not holds(rule.when, answers), f"submitted although end rule {rule.id} holds"


def check_invariants(survey: Survey, state: State) -> None:
    c = compile_survey(survey)
    assert state.status in ("new", "active", "paused", "review", "submitted", "ended")
    assert set(state.answers) <= set(c.by_id)
    assert State.from_json(state.to_json()) == state
    if state.status in ("active", "review", "paused"):
        assert len(state.trail) == len(set(state.trail))
        for sid in state.trail:
            assert c.by_id[sid].relevant is None or c.by_id[sid].relevant(state.answers)
    if state.status == "active":
        assert state.current in c.by_id and state.current not in state.trail
    if state.status == "review":
        assert state.current is None


# ------------------------------------------------------------------ random inputs

def random_input(data: st.DataObject, survey: Survey, state: State):
    c = compile_survey(survey)
    ids = list(c.by_id)
    kind = data.draw(st.sampled_from(["valid", "valid", "valid", "choose_bad", "stale", "typed", "garbage",
                                      "command", "typed_command", "start", "long", "done"]))
    cur = c.by_id.get(state.current or "")
    if kind == "valid" and cur is not None and cur.values:
        return Choose(cur.id, data.draw(st.sampled_from(list(cur.values))))
    if kind == "valid" and cur is not None:
        return TypedText(data.draw(st.sampled_from(["45", "3", "Không có ý kiến", "0", "200"])))
    if kind == "choose_bad":
        return Choose(state.current or "x", data.draw(st.one_of(st.integers(-5, 99), st.text(max_size=5))))
    if kind == "stale":
        return Choose(data.draw(st.sampled_from(ids)), data.draw(st.integers(0, 6)))
    if kind == "done":
        return Done(data.draw(st.sampled_from(ids + [state.current or "x"])))
    if kind == "typed":
        return TypedText(data.draw(st.sampled_from(["4", "hài lòng", "hai long", "HAI LONG", "hài", "1 3",
                                                    "1,3 xong", "có", "không", "0", "-1", "2.5", "45 tuổi",
                                                    "rất", "k", "🙂", "", " ", "sửa 2"])))
    if kind == "garbage":
        return TypedText(data.draw(st.text(max_size=40)))
    if kind == "long":
        return TypedText(data.draw(st.sampled_from(["x", "🙂", "hài lòng ", "1 "])) * 10_000)
    if kind == "command":
        name = data.draw(st.sampled_from(COMMAND_NAMES))
        arg = data.draw(st.one_of(st.none(), st.sampled_from(["en", "vi", "fr", "1", "3", "999"] + ids[:5]),
                                  st.text(max_size=8)))
        return Command(name, arg)  # type: ignore[arg-type]
    if kind == "typed_command":
        return TypedText(data.draw(st.sampled_from(TYPED_COMMANDS)))
    return Start()


@pytest.mark.parametrize("name", list(SURVEYS))
@SETTINGS
@given(data=st.data())
def test_random_inputs_never_raise_and_always_reply(name: str, data: st.DataObject) -> None:
    survey = SURVEYS[name]
    state = new_state(survey, data.draw(st.sampled_from(["vi", "en"])))
    n = data.draw(st.integers(1, 60))
    for i in range(n):
        inp = random_input(data, survey, state)
        before = state.to_json()
        r = step(survey, state, inp, float(i))
        assert state.to_json() == before
        assert r.replies and all(isinstance(x.text, str) and x.text for x in r.replies)
        state = r.state
        check_invariants(survey, state)
    if state.status == "submitted":
        check_submitted(survey, state.answers)


# ------------------------------------------------------------------ valid walks

def fires(survey: Survey, answers: dict[str, Any], sid: str, value: Any) -> bool:
    """Would answering ``value`` make a screening rule hold that does not hold now?"""
    trial = {**answers, sid: value}
    return any(holds(r.when, trial) and not holds(r.when, answers) for r in survey.end_rules)


def valid_input(data: st.DataObject, survey: Survey, state: State, step_no: int):
    """A valid answer (Choose or typed), with backs, pauses, language switches and edits mixed in."""
    c = compile_survey(survey)
    if state.status == "paused":
        return data.draw(st.sampled_from([Command("resume"), TypedText("tiếp tục"), Start()]))
    # Draw 0 is always "answer validly" (what shrinking converges to), and disturbances stop after
    # a while, so every walk terminates.
    calm = step_no > 400
    if state.status == "review":
        if not calm and data.draw(st.integers(0, 9)) == 9 and state.trail:
            return data.draw(st.sampled_from([Command("back"),
                                              Command("edit", str(data.draw(st.integers(1, len(state.trail)))))]))
        return data.draw(st.sampled_from([Command("submit"), TypedText("gửi")]))
    roll = 0 if calm else data.draw(st.integers(0, 99))
    if roll >= 94:
        return Command("back")
    if roll >= 92:
        return Command("pause")
    if roll >= 90:
        return Command("lang", data.draw(st.sampled_from(["vi", "en"])))
    if roll >= 89:
        return TypedText("trợ giúp")
    sp = c.by_id[state.current]
    q = sp.question
    if sp.type == "multi":
        if state.picks and not data.draw(st.booleans()):
            return Done(sp.id)
        allowed = [v for i, v in enumerate(sp.values) if i not in sp.exclusive]
        if sp.exclusive and sp.values[min(sp.exclusive)] not in state.picks and data.draw(st.integers(0, 5)) == 5:
            return Choose(sp.id, sp.values[min(sp.exclusive)])
        k = data.draw(st.integers(1, max(1, min(sp.max_picks, len(allowed)))))
        picks = data.draw(st.lists(st.sampled_from(allowed), min_size=k, max_size=k, unique=True))
        positions = sorted(sp.values.index(v) + 1 for v in picks)
        return TypedText(" ".join(map(str, positions)) + " xong")
    if sp.values:
        # Mostly stay eligible (answers that would fire a screening rule are drawn 1 time in 10),
        # so that walks reach the review and submit as well as the screening ends.
        ending = [i for i, v in enumerate(sp.values) if fires(survey, state.answers, sp.id, v)]
        keep = [i for i in range(len(sp.values)) if i not in ending]
        if keep and (not ending or data.draw(st.integers(0, 9)) < 9):
            pos = data.draw(st.sampled_from(keep))
        else:
            pos = data.draw(st.integers(0, len(sp.values) - 1))
        how = data.draw(st.sampled_from(["choose", "number", "label"]))
        if how == "choose":
            return Choose(sp.id, sp.values[pos])
        if how == "number":
            return TypedText(str(pos + 1))
        return TypedText(sp.labels[pos].get(state.lang) or sp.labels[pos]["vi"])
    if sp.type == "number":
        lo = q.min if q.min is not None else 0
        hi = q.max if q.max is not None else lo + 1000
        n = data.draw(st.integers(lo, hi))
        if fires(survey, state.answers, sp.id, n) and data.draw(st.integers(0, 9)) < 9:
            n = hi
        if q.constraint is not None and not holds(q.constraint, {**state.answers, sp.id: n}):
            # a valid citizen corrects the number: the first bound-respecting value that passes
            n = next((x for x in (hi, lo, (lo + hi) // 2, *range(lo, hi + 1))
                      if holds(q.constraint, {**state.answers, sp.id: x})), n)
        return TypedText(str(n))
    if sp.type == "text":
        if not sp.required and data.draw(st.booleans()):
            return Command("skip")
        words = data.draw(st.lists(st.sampled_from(["ý", "kiến", "tốt", "cần", "cải", "thiện", "ok"]),
                                   min_size=1, max_size=6))
        return TypedText(" ".join(words))
    raise AssertionError(sp.type)


@pytest.mark.parametrize("name", list(SURVEYS))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_valid_walks_finish_with_answers_satisfying_every_rule(name: str, data: st.DataObject) -> None:
    survey = SURVEYS[name]
    state = new_state(survey, data.draw(st.sampled_from(["vi", "en"])))
    r = step(survey, state, Start(), 0.0)
    state = r.state
    log: list[Any] = []
    for i in range(2000):
        if state.status in ("submitted", "ended"):
            break
        inp = valid_input(data, survey, state, i)
        r = step(survey, state, inp, float(i + 1))
        assert r.replies
        state = r.state
        log.append((inp, [f"{x.kind}: {x.text[:70]}" for x in r.replies]))
        del log[:-6]
    else:
        raise AssertionError(f"a valid walk did not finish; last inputs: {log}")
    event(f"{name}: {state.status}")
    if state.status == "submitted":
        assert state.outcome == "complete"
        check_submitted(survey, state.answers)
        for sid in state.answers:
            m = state.meta[sid]
            assert m.asked_at is not None and m.answered_at is not None and m.answered_at >= m.asked_at
    else:
        fired = [rule for rule in survey.end_rules if holds(rule.when, state.answers)]
        assert fired, "ended without an end rule holding"
        assert state.outcome == fired[0].outcome


@pytest.mark.parametrize("name", ["sipas-households", "sipas-services-2021"])
def test_back_at_first_question_and_garbage_floods(name: str) -> None:
    survey = SURVEYS[name]
    state = step(survey, new_state(survey), Start(), 0.0).state
    for i, inp in enumerate([Command("back"), TypedText("quay lại"), TypedText("🙂" * 10_000),
                             TypedText("\x00\u202e"), Choose("nope", 1), Done("nope")]):
        r = step(survey, state, inp, float(i))
        assert r.replies
        state = r.state
    assert state.status == "active" and state.answers == {}
