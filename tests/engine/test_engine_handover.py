"""State.hidden: answers given on a chat that never confirmed a hand-over are never shown to the
chat that continues (docs/credentials.md). The engine keeps them (analysis) but "back", "edit",
the review and a re-asked question all stop short of showing them."""

from __future__ import annotations

from dataclasses import replace

from engine import new_state, step
from engine.types import Choose, Command, Done, Start, TypedText
from demo.seed import tiny_survey

SURVEY = tiny_survey()


def _walk(*inputs):
    st = new_state(SURVEY)
    res = step(SURVEY, st, Start(), 1.0)
    for n, inp in enumerate(inputs):
        res = step(SURVEY, res.state, inp, 2.0 + n)
    return res.state


def _seal(st):
    """What storage.handovers.seal_op does: every settled step (and the current one if answered)."""
    settled = [k for k, m in st.meta.items() if m.answered_at is not None]
    return replace(st, hidden=list(dict.fromkeys([*st.trail, *settled, *st.answers])), picks=[])


def _texts(res) -> str:
    return "\n".join(r.text for r in res.replies)


def test_back_edit_and_review_never_show_hidden_answers():
    st = _seal(_walk(Choose("q1", 1), Choose("q2", 4)))
    assert st.current == "q3" and st.hidden == ["q1", "q2"]
    res = step(SURVEY, st, Start(), 10.0)
    q = res.replies[-1]
    assert q.step_id == "q3" and all(a.input != Command("back") for a in q.actions)     # no back button
    back = step(SURVEY, st, Command("back"), 11.0)
    assert "giữ kín" in back.replies[0].text and back.state.current == "q3" and back.state.trail == st.trail
    for edit in (Command("edit", "1"), Command("edit", "q2"), TypedText("sửa 2")):
        r = step(SURVEY, st, edit, 12.0)
        assert "giữ kín" in r.replies[0].text and r.state.current == "q3", edit
    review = step(SURVEY, st, Command("review"), 13.0)
    text = review.replies[0].text
    assert text.count("(đã trả lời trên thiết bị trước)") == 2 and "Mức 4" not in text and "Có" not in text
    # the new chat answers the rest and submits: the hidden answers are kept, still unseen
    done = step(SURVEY, step(SURVEY, st, Choose("q3", 2), 14.0).state, Done("q3"), 15.0)
    assert done.state.status == "review" and "Mức 4" not in _texts(done)
    assert done.state.answers == {"q1": 1, "q2": 4, "q3": [2]}
    back_from_review = step(SURVEY, done.state, Command("back"), 16.0)
    assert back_from_review.state.current == "q3"                 # its own answer: reachable
    again = step(SURVEY, back_from_review.state, Command("back"), 17.0)
    assert "giữ kín" in again.replies[0].text and again.state.current == "q3"
    sent = step(SURVEY, done.state, Command("submit"), 18.0)
    assert sent.state.status == "submitted"


def test_a_hidden_current_step_shows_no_earlier_answer_and_becomes_visible_once_answered():
    # the holder went back to q2 (answered Mức 4) before the hand-over
    st = _walk(Choose("q1", 1), Choose("q2", 4), Command("back"))
    assert st.current == "q2" and st.answers["q2"] == 4
    st = _seal(st)
    assert "q2" in st.hidden
    shown = step(SURVEY, st, Start(), 20.0).replies[-1]
    assert shown.step_id == "q2" and not any(o.selected for o in shown.options)
    assert "Câu trả lời hiện tại" not in shown.text and "4" not in shown.text.split("\n", 1)[1]
    res = step(SURVEY, st, Choose("q2", 2), 21.0)
    assert "q2" not in res.state.hidden and res.state.answers["q2"] == 2 and res.state.current == "q3"
    back = step(SURVEY, res.state, Command("back"), 22.0)         # its own answer now
    assert back.state.current == "q2" and "Mức 2" in back.replies[-1].text
    assert "giữ kín" in step(SURVEY, back.state, Command("back"), 23.0).replies[0].text


def test_a_hidden_multiple_choice_in_progress_starts_empty():
    st = _walk(Choose("q1", 1), Choose("q2", 3), Choose("q3", 1), Choose("q3", 3), Done("q3"))
    assert st.status == "review"
    st = step(SURVEY, st, Command("edit", "3"), 30.0).state        # the holder reopened q3
    assert st.current == "q3" and st.picks == [1, 3]
    st = _seal(st)
    q = step(SURVEY, st, Start(), 31.0).replies[-1]
    assert q.multi and not any(o.selected for o in q.options) and st.picks == []


def test_the_state_round_trips_through_json_and_nothing_changes_without_hidden():
    from engine.types import State

    st = _seal(_walk(Choose("q1", 1)))
    assert State.from_json(st.to_json()) == st
    plain = _walk(Choose("q1", 1), Command("back"))
    assert plain.hidden == [] and plain.current == "q1"
