"""``current_replies``: what to show again after a crash equals what the step showed."""

from __future__ import annotations

import random

import pytest

from engine import compile_survey, current_replies, new_state, step
from engine.types import Choose, Command, Done, Start, TypedText
from survey_defs.loader import get_survey


def _walk(survey_id: str, seed: int, refuse: bool = False, pause_at: int = -1):
    """(result of each step) along a random but valid conversation."""
    survey = get_survey(survey_id)
    c = compile_survey(survey)
    rng = random.Random(seed)
    st = new_state(survey)
    res = step(survey, st, Start(), 1.0)
    out = [res]
    st = res.state
    n = 0
    while st.status not in ("submitted", "ended") and n < 400:
        n += 1
        if st.status == "review":
            inp = Command("submit")
        elif st.status == "paused":
            inp = Command("resume")
        elif n == pause_at:
            inp = Command("pause")
        else:
            sp = c.by_id[st.current]
            if sp.type == "multi":
                inp = Choose(sp.id, sp.values[0]) if sp.values[0] not in st.picks else Done(sp.id)
            elif sp.type == "number":
                inp = TypedText("45")
            elif sp.type == "text":
                inp = TypedText("không có ý kiến")
            elif sp.type == "yesno":
                inp = Choose(sp.id, 0 if refuse else 1)
            else:
                inp = Choose(sp.id, rng.choice(sp.values))
        res = step(survey, st, inp, 1.0 + n)
        out.append(res)
        st = res.state
    return survey, out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_current_question_is_shown_exactly_as_the_step_showed_it(seed: int) -> None:
    survey, results = _walk("sipas-households", seed, pause_at=7)
    kinds = set()
    for res in results:
        again = current_replies(survey, res.state)
        last = res.replies[-1]
        kinds.add(res.state.status)
        if res.state.status == "active" and last.kind == "question":
            assert again == (last,)                      # same text, options, buttons and seq
        elif res.state.status == "review":
            assert again == tuple(r for r in res.replies if r.kind == "review")
        elif res.state.status == "paused":
            assert [r.text for r in again] == [last.text]
        elif res.state.status == "submitted":
            assert [r.text for r in again] == [last.text]
    assert {"active", "review", "paused", "submitted"} <= kinds
    assert results[-1].state.status == "submitted"


def test_an_ended_conversation_shows_its_closing_message_and_nothing_changes() -> None:
    survey, results = _walk("sipas-households", 4, refuse=True)
    end = results[-1]
    assert end.state.status == "ended"
    before = end.state.to_json()
    assert [r.text for r in current_replies(survey, end.state)] == [end.replies[-1].text]
    assert end.state.to_json() == before
    assert current_replies(survey, new_state(survey)) == ()
