"""Unit tests of the conversation engine (engine/) on a small survey with every feature."""

from __future__ import annotations

from pathlib import Path

import pytest

import engine
from engine import compile_survey, new_state, step
from engine.types import (
    AnswerCleared,
    AnswerSet,
    Choose,
    Command,
    Done,
    Start,
    State,
    StatusChanged,
    StepResult,
    TypedText,
)
from survey_defs.loader import load_survey

MINI = Path(__file__).parents[1] / "transcripts" / "surveys" / "mini.yaml"


@pytest.fixture(autouse=True)
def _strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.steps, "STRICT", True)


@pytest.fixture(scope="module")
def survey():
    return load_survey(MINI)


class Bot:
    """Drives the engine like a channel would and keeps the last result."""

    def __init__(self, survey, lang: str = "vi") -> None:
        self.survey = survey
        self.state = new_state(survey, lang)
        self.now = 1000.0
        self.last: StepResult | None = None

    def send(self, inp) -> StepResult:
        if isinstance(inp, str):
            inp = TypedText(inp)
        self.now += 1
        before = self.state.to_json()
        r = step(self.survey, self.state, inp, self.now)
        assert self.state.to_json() == before, "the input state must not be mutated"
        assert r.replies, "every input gets a reply"
        self.state = r.state
        self.last = r
        return r

    def run(self, *inputs) -> StepResult:
        r = None
        for i in inputs:
            r = self.send(i)
        return r

    @property
    def kinds(self) -> list[str]:
        return [r.kind for r in self.last.replies]

    @property
    def q(self):
        return self.last.replies[-1]


def to_channels(b: Bot) -> None:
    """Start and answer up to (not including) the multiple-choice question."""
    b.run(Start(), "có", "có", "40", "1", "3", "bỏ qua")
    assert b.state.current == "channels"


# ------------------------------------------------------------------ start, typed answers

def test_start_welcomes_and_asks_first_question(survey) -> None:
    b = Bot(survey)
    r = b.send(Start())
    assert b.kinds == ["info", "question"]
    assert "Khảo sát thử" in r.replies[0].text
    assert r.replies[-1].step_id == "consent"
    assert r.replies[-1].text.startswith("Câu 1/")
    assert [o.label for o in r.replies[-1].options] == ["Có", "Không"]
    assert b.state.status == "active"
    assert StatusChanged("active", None, b.now) in r.events
    assert b.state.meta["consent"].asked_at == b.now


def test_any_first_input_starts(survey) -> None:
    b = Bot(survey)
    b.send("xin chào")
    assert b.state.current == "consent" and b.kinds[-1] == "question"


@pytest.mark.parametrize("typed", ["4", "hài lòng", "hai long", "Hài Lòng", "HAI LONG", "hài lòng!",
                                   "Ha\u0300i lo\u0300ng", "4. Hài lòng", "satisfied", "  4  "])
def test_typed_forms_of_satisfied(survey, typed: str) -> None:
    b = Bot(survey)
    to_channels(b)
    b.run("4 xong", "có")
    assert b.state.current == "sat_access"
    r = b.send(typed)
    assert AnswerSet("sat_access", 4, b.now) in r.events


@pytest.mark.parametrize("typed", ["hài", "hai", "không"])
def test_ambiguous_text_is_asked_again_listing_options(survey, typed: str) -> None:
    b = Bot(survey)
    to_channels(b)
    b.run("4 xong", "có")
    r = b.send(typed)
    assert b.kinds == ["invalid", "question"]
    assert "nhiều lựa chọn" in r.replies[0].text and "2. Không hài lòng" in r.replies[0].text
    assert b.state.current == "sat_access" and "sat_access" not in b.state.answers


@pytest.mark.parametrize("typed", ["9", "0", "xyz", "🙂", "x" * 10_000, ""])
def test_unknown_choice_is_invalid(survey, typed: str) -> None:
    b = Bot(survey)
    to_channels(b)
    b.run("4 xong", "có")
    b.send(typed)
    assert b.kinds == ["invalid", "question"]
    assert "từ 1 đến 5" in b.last.replies[0].text
    assert b.state.current == "sat_access"


def test_yes_no_words_and_numbers(survey) -> None:
    for typed, value in [("có", 1), ("co", 1), ("1", 1), ("yes", 1), ("Không", 0), ("ko", 0), ("2", 0), ("0", 0)]:
        b = Bot(survey)
        b.send(Start())
        r = b.send(typed)
        if value == 1:
            assert AnswerSet("consent", 1, b.now) in r.events
        else:   # a refusal ends at once (not asked back)
            assert AnswerSet("consent", 0, b.now) in r.events
            assert b.state.status == "ended"


def test_choose_button_records_value(survey) -> None:
    b = Bot(survey)
    b.send(Start())
    r = b.send(Choose("consent", 1))
    assert AnswerSet("consent", 1, b.now) in r.events and b.state.current == "represent"
    # a string value from callback data counts as the same option
    r = b.send(Choose("represent", "1"))
    assert AnswerSet("represent", 1, b.now) in r.events


def test_choose_invalid_value(survey) -> None:
    b = Bot(survey)
    b.send(Start())
    b.send(Choose("consent", 7))
    assert b.kinds == ["invalid", "question"] and b.state.current == "consent"


# ------------------------------------------------------------------ screening

def test_no_consent_ends_refused(survey) -> None:
    """A refusal ends at once: asking back "are you sure?" would press the citizen to consent."""
    b = Bot(survey)
    r = b.run(Start(), "không")
    assert b.state.status == "ended" and b.state.outcome == "refused"
    assert b.kinds == ["ended"] and "Hẹn gặp lại" in r.replies[0].text
    assert StatusChanged("ended", "refused", b.now) in r.events


def test_end_rule_waits_until_its_question_is_reached(survey) -> None:
    # "represent = 0" must not fire just because represent is not answered yet
    b = Bot(survey)
    b.run(Start(), "có")
    assert b.state.status == "active" and b.state.current == "represent"


@pytest.mark.parametrize("inputs", [("có", "không", "đúng"), ("có", "có", "17", "có"), ("có", "có", "17", "17"),
                                    ("có", "có", "17", Command("resume"))])
def test_screening_ineligible(survey, inputs) -> None:
    b = Bot(survey)
    b.run(Start(), *inputs)
    assert (b.state.status, b.state.outcome) == ("ended", "ineligible")
    b.send("4")
    assert b.kinds == ["info"] and "kết thúc" in b.last.replies[0].text
    assert b.last.events == ()


# ------------------------------------------------------------------ validation

def test_number_validation(survey) -> None:
    b = Bot(survey)
    b.run(Start(), "có", "có")
    for bad, msg in [("abc", "số nguyên"), ("2.5", "số nguyên"), ("1.000", "số nguyên"), ("-5", "từ 0 đến 120"),
                     ("121", "từ 0 đến 120"), ("9" * 40, "số nguyên")]:
        b.send(bad)
        assert b.kinds == ["invalid", "question"], bad
        assert msg in b.last.replies[0].text, bad
    r = b.send("35 tuổi")
    assert AnswerSet("age", 35, b.now) in r.events


def test_constraint_message(survey) -> None:
    b = Bot(survey)
    b.run(Start(), "có", "có", "40", "1")
    assert b.state.current == "household_size"
    b.send("0")
    assert b.kinds == ["invalid", "question"]
    assert b.last.replies[0].text == "Hộ phải có ít nhất 1 người."
    b.send("3")
    assert b.state.answers["household_size"] == 3


def test_text_max_length_and_empty(survey) -> None:
    b = Bot(survey)
    b.run(Start(), "có", "có", "40", "2")
    assert b.state.current == "ethnic_other"
    b.send("x" * 41)
    assert b.kinds == ["invalid", "question"] and "tối đa 40" in b.last.replies[0].text
    b.send("   ")
    assert b.kinds == ["invalid", "question"]
    b.send("  Thái\u200b ")
    assert b.state.answers["ethnic_other"] == "Thái"


def test_text_question_keeps_command_like_words_as_answers(survey) -> None:
    b = Bot(survey)
    b.run(Start(), "có", "có", "40", "2")
    b.send("quay lại")  # a free-text step: only slash commands are commands
    assert b.state.answers["ethnic_other"] == "quay lại"
    b.send("/back")
    assert b.state.current == "ethnic_other"


def test_required_cannot_be_skipped_optional_can(survey) -> None:
    b = Bot(survey)
    b.send(Start())
    b.send(Command("skip"))
    assert b.kinds == ["invalid", "question"] and "bắt buộc" in b.last.replies[0].text
    b.run("có", "có", "40", "1", "3")
    assert b.state.current == "children"
    assert any(a.input == Command("skip") for a in b.q.actions)
    r = b.send("bỏ qua")
    assert "children" not in b.state.answers and b.state.current == "channels"
    assert b.state.meta["children"].answered_at is not None
    assert not [e for e in r.events if isinstance(e, AnswerSet)]


# ------------------------------------------------------------------ multiple choice

def test_multi_toggle_checkbox_list_and_done(survey) -> None:
    b = Bot(survey)
    to_channels(b)
    seq = b.state.seq
    r = b.send(Choose("channels", 1))
    assert b.kinds == ["question"] and b.q.multi and b.q.step_id == "channels"
    assert [o.selected for o in b.q.options] == [True, False, False, False, False]
    assert b.q.seq == seq and b.state.seq == seq  # an in-place update, not a new question
    b.send(Choose("channels", 3))
    b.send(Choose("channels", 1))  # untick
    assert b.state.picks == [3]
    r = b.send(Done("channels"))
    assert AnswerSet("channels", [3], b.now) in r.events and b.state.current == "used"


def test_multi_typed_picks_then_xong(survey) -> None:
    b = Bot(survey)
    to_channels(b)
    b.send("1, 3")
    assert b.state.picks == [1, 3] and b.state.current == "channels"
    b.send("internet")
    assert b.state.picks == [4]
    b.send("loa phường xã, internet")
    assert b.state.picks == [1, 4]
    b.send("xong")
    assert b.state.answers["channels"] == [1, 4]


def test_multi_min_max_exclusive(survey) -> None:
    b = Bot(survey)
    to_channels(b)
    b.send(Done("channels"))
    assert b.kinds == ["invalid", "question"] and "ít nhất 1" in b.last.replies[0].text
    b.send("1 2 3 4")
    assert b.kinds == ["invalid", "question"] and "tối đa 3" in b.last.replies[0].text
    b.send("1 5")
    assert b.kinds == ["invalid", "question"] and "Không theo dõi" in b.last.replies[0].text
    b.run(Choose("channels", 1), Choose("channels", 2), Choose("channels", 3))
    b.send(Choose("channels", 4))
    assert b.kinds == ["invalid", "question"] and b.state.picks == [1, 2, 3]
    b.send(Choose("channels", 5))  # exclusive: clears the others
    assert b.state.picks == [5]
    b.send(Choose("channels", 2))  # and is cleared by another pick
    assert b.state.picks == [2]
    b.send("xong")
    assert b.state.answers["channels"] == [2]


def test_multi_typed_with_done_word_finishes(survey) -> None:
    b = Bot(survey)
    to_channels(b)
    b.send("2 4 xong")
    assert b.state.answers["channels"] == [2, 4] and b.state.current == "used"


# ------------------------------------------------------------------ relevance and back

def full_answers(b: Bot) -> None:
    to_channels(b)
    b.run("4 xong", "có", "4", "5", "3", "có", "4", "4")
    assert b.state.current == "comment"


def test_relevance_skips_sections_questions_and_items(survey) -> None:
    b = Bot(survey)
    b.run(Start(), "có", "có", "40", "1", "3", "bỏ qua", "1 xong", "không")
    # used = no: the services section (matrix, feedback) is not asked at all
    assert b.state.current == "comment"
    assert b.q.progress == (9, 9)
    b2 = Bot(survey)
    full_answers(b2)
    assert {"sat_access", "sat_staff", "sat_online", "fb_easy", "fb_timely"} <= set(b2.state.answers)
    b3 = Bot(survey)
    b3.run(Start(), "có", "có", "40", "1", "3", "bỏ qua", "1 xong", "có", "4", "4")
    assert b3.state.current == "gave_feedback"  # sat_online needs channel 4 (internet)


def test_back_shows_current_answer_and_keeps_later_answers(survey) -> None:
    b = Bot(survey)
    full_answers(b)
    b.send(Command("back"))
    assert b.state.current == "fb_timely" and "Câu trả lời hiện tại: Hài lòng" in b.q.text
    assert [o.selected for o in b.q.options] == [False, False, False, True, False]
    b.send("quay lại")
    assert b.state.current == "fb_easy"
    b.send("5")  # changed; the next answered step still applies: continue at the first open step
    assert b.state.current == "comment"
    assert b.state.answers["fb_easy"] == 5 and b.state.answers["fb_timely"] == 4
    assert b.state.meta["fb_easy"].changes == 1


def test_back_then_change_drops_answers_no_longer_applicable(survey) -> None:
    b = Bot(survey)
    full_answers(b)
    b.run(Command("edit", "used"))
    assert b.state.current == "used"
    r = b.send("không")
    cleared = {e.step_id for e in r.events if isinstance(e, AnswerCleared)}
    assert cleared == {"sat_access", "sat_staff", "sat_online", "gave_feedback", "fb_easy", "fb_timely"}
    assert b.state.current == "comment"
    assert not cleared & set(b.state.answers)
    # and when it applies again it is asked again (not silently restored)
    b.run(Command("back"), "có")
    assert b.state.current == "sat_access"


def test_back_at_first_question_is_a_friendly_notice(survey) -> None:
    b = Bot(survey)
    b.send(Start())
    b.send(Command("back"))
    assert b.kinds == ["info", "question"] and "câu đầu tiên" in b.last.replies[0].text
    assert b.state.current == "consent"


def test_back_from_multi_restores_picks(survey) -> None:
    b = Bot(survey)
    to_channels(b)
    b.run("1 3 xong", "/back")
    assert b.state.current == "channels" and b.state.picks == [1, 3]
    assert [o.selected for o in b.q.options] == [True, False, True, False, False]


# ------------------------------------------------------------------ stale, pause, lang, help, stop

def test_stale_press_changes_nothing(survey) -> None:
    b = Bot(survey)
    b.run(Start(), "có")
    state = b.state
    r = b.send(Choose("consent", 0))
    assert b.kinds == ["stale"] and r.state is state and r.events == ()
    b.send(Done("channels"))
    assert b.kinds == ["stale"]


def test_pause_and_resume(survey) -> None:
    b = Bot(survey)
    b.run(Start(), "có")
    r = b.send("tạm dừng")
    assert b.state.status == "paused" and StatusChanged("paused", None, b.now) in r.events
    r = b.send("có")  # answer-like input while paused resumes, without recording
    assert b.state.status == "active" and "represent" not in b.state.answers
    assert b.kinds == ["info", "question"] and b.q.step_id == "represent"
    b.send("/pause")
    b.send("tiếp tục")
    assert b.state.status == "active" and b.q.step_id == "represent"
    b.send("/pause")
    b.send(Start())
    assert b.state.status == "active" and b.q.step_id == "represent"


def test_lang_switch_rerenders_question(survey) -> None:
    b = Bot(survey)
    b.run(Start(), "có")
    b.send("/lang en")
    assert b.state.lang == "en" and b.kinds == ["info", "question"]
    assert b.q.text.startswith("Question 2/") and "represent" in b.q.text
    assert [o.label for o in b.q.options] == ["Yes", "No"]
    b.send("yes")
    assert b.state.answers["represent"] == 1
    b.send("/lang vi")
    assert b.q.text.startswith("Câu 3/")
    b.send("/lang fr")
    assert b.state.lang == "vi" and "vi, en" in b.last.replies[0].text


def test_help_then_question(survey) -> None:
    b = Bot(survey)
    b.run(Start(), "trợ giúp")
    assert b.kinds == ["info", "question"] and "quay lại" in b.last.replies[0].text


def test_stop_withdraws(survey) -> None:
    b = Bot(survey)
    b.run(Start(), "có")
    r = b.send("dừng")
    assert (b.state.status, b.state.outcome) == ("ended", "refused")
    assert b.kinds == ["ended"] and StatusChanged("ended", "refused", b.now) in r.events


def test_dung_without_accent_is_not_stop(survey) -> None:
    # "đúng" (right) folds to the same letters as "dừng" (stop): it must not withdraw anyone
    b = Bot(survey)
    b.run(Start(), "đúng")
    assert b.state.status == "active"


# ------------------------------------------------------------------ review, edit, submit

def test_review_edit_and_submit(survey) -> None:
    b = Bot(survey)
    full_answers(b)
    r = b.send("không có")
    # one message per section ("Phần 1/3 · …"), the buttons on the last one only
    assert b.state.status == "review" and set(b.kinds) == {"review"} and len(b.kinds) > 1
    text = "\n".join(x.text for x in r.replies)
    assert "1. Bạn có đồng ý tham gia khảo sát không?: Có" in text and "(bỏ qua)" in text
    assert r.replies[0].text.startswith("Xem lại") and f"Phần 1/{len(b.kinds)}" in r.replies[0].text
    assert all(f"Phần {k}/{len(b.kinds)}" in x.text for k, x in enumerate(r.replies, 1))
    assert any(a.input == Command("submit") for a in r.replies[-1].actions)
    assert all(not x.actions for x in r.replies[:-1])
    b.send("sửa 5")  # the 5th line: household size
    assert b.state.current == "household_size" and b.state.status == "active"
    b.send("6")
    assert b.state.status == "review" and b.state.answers["household_size"] == 6
    b.send(Command("edit", "nope"))
    assert "Không tìm thấy" in b.last.replies[0].text
    r = b.send("gửi")
    assert (b.state.status, b.state.outcome) == ("submitted", "complete")
    assert b.kinds == ["thanks"] and r.replies[0].text == "Cảm ơn bạn đã hoàn thành phiếu thử!"
    assert StatusChanged("submitted", "complete", b.now) in r.events
    # a finished response refuses new answers politely and changes nothing
    for inp in ["4", Start(), Command("back"), Choose("comment", 1)]:
        r = b.send(inp)
        assert b.kinds == ["info"] and "đã được ghi nhận" in r.replies[0].text and r.events == ()


def test_submit_before_review_is_refused(survey) -> None:
    b = Bot(survey)
    b.run(Start(), "/submit")
    assert b.kinds == ["invalid", "question"] and b.state.status == "active"


def test_review_back_goes_to_last_question(survey) -> None:
    b = Bot(survey)
    full_answers(b)
    b.run("bỏ qua", "quay lại")
    assert b.state.status == "active" and b.state.current == "comment"


def test_long_review_is_split(survey, monkeypatch) -> None:
    monkeypatch.setattr(engine.render, "REVIEW_CHUNK", 200)
    b = Bot(survey)
    full_answers(b)
    b.send("bỏ qua")
    assert len(b.last.replies) > 2 and all(len(r.text) <= 200 for r in b.last.replies)
    assert b.last.replies[-1].actions and not b.last.replies[0].actions


# ------------------------------------------------------------------ paradata, progress, state

def test_paradata(survey) -> None:
    b = Bot(survey)
    b.send(Start())
    asked = b.now
    b.send("có")
    m = b.state.meta["consent"]
    assert (m.asked_at, m.answered_at, m.changes) == (asked, b.now, 0)
    b.run("/back", "có")
    assert b.state.meta["consent"].changes == 0  # same answer again is not a change
    assert b.state.meta["consent"].asked_at == asked


def test_progress_counts_applicable_steps(survey) -> None:
    b = Bot(survey)
    full_answers(b)
    assert b.q.progress == (15, 15)  # all 15 answerable steps apply on this path
    assert b.q.text.startswith("Câu 15/15")


def test_state_roundtrips_json_mid_survey(survey) -> None:
    b = Bot(survey)
    to_channels(b)
    b.send("1 3")
    b.state = State.from_json(b.state.to_json())
    b.send("xong")
    assert b.state.answers["channels"] == [1, 3]


def test_compiled_once_per_content_hash(survey) -> None:
    assert compile_survey(survey) is compile_survey(survey)
    again = load_survey(MINI)
    assert again is not survey and compile_survey(again) is compile_survey(survey)


def test_version_mismatch_is_polite(survey) -> None:
    b = Bot(survey)
    b.state = State(survey_id="mini", survey_hash="0" * 64)
    b.send(Start())
    assert b.kinds == ["info"] and "phiên bản" in b.last.replies[0].text


def test_guard_answers_politely_when_not_strict(survey, monkeypatch) -> None:
    monkeypatch.setattr(engine.steps, "STRICT", False)

    def boom(*a, **k):
        raise RuntimeError("boom")
    monkeypatch.setattr(engine.steps, "step_compiled", boom)
    st = new_state(survey)
    r = step(survey, st, Start(), 1.0)
    assert r.state is st and r.replies[0].kind == "info" and "lỗi" in r.replies[0].text


def test_english_session_from_the_start(survey) -> None:
    b = Bot(survey, lang="en")
    r = b.send(Start())
    assert "Test survey" in r.replies[0].text and b.q.text.startswith("Question 1/")
    assert new_state(survey, "fr").lang == "vi"


def test_several_numbers_on_a_single_choice_say_choose_one() -> None:
    """«1 3» on a single-choice question: "choose one", not "type a number" (the citizen did)."""
    import engine
    from engine.types import Start, TypedText
    from survey_defs.loader import get_survey

    s = get_survey("sipas-households")
    r = engine.step(s, engine.new_state(s), Start(), 0.0)
    for typed in ("1 2", "1, 2", "2;1", "1 / 2"):
        got = engine.step(s, r.state, TypedText(typed), 1.0)
        assert got.replies[0].kind == "invalid" and "chỉ chọn một phương án" in got.replies[0].text, typed
        assert got.state.answers == r.state.answers
    assert engine.step(s, r.state, TypedText("1"), 1.0).state.answers.get("q_consent") in (1, "1")
    junk = engine.step(s, r.state, TypedText("1 " * 5000), 1.0)
    assert junk.replies[0].kind == "invalid"


# ------------------------------------------------------------------ wording per channel

def _multi_prompt(survey, buttons: bool) -> str:
    """The prompt of the survey's first multiple-choice question, on a channel with or without buttons."""
    c = engine.compile_survey(survey)
    sp = next(x for x in c.steps if x.type == "multi")
    state = engine.new_state(survey)
    state.status, state.current = "active", sp.id
    return engine.current_replies(survey, state, buttons=buttons)[-1].text


def test_multi_choice_says_press_xong_only_where_there_is_a_button(survey) -> None:
    with_buttons, typed = _multi_prompt(survey, True), _multi_prompt(survey, False)
    assert "bấm «Xong»" in with_buttons
    assert "bấm" not in typed and "gõ «xong»" in typed
    state = engine.new_state(survey, "en")
    r = engine.step(survey, state, Start(), 0.0, buttons=False)
    assert r.replies and all("press" not in x.text for x in r.replies)


# ------------------------------------------------------------------ an answer that ends the survey is asked back

def test_a_mistyped_age_is_asked_back_before_anything_ends(survey) -> None:
    b = Bot(survey)
    b.run(Start(), "có", "có")
    r = b.send("15")
    assert b.state.status == "active" and b.state.current == "age" and "age" not in b.state.answers
    assert r.events == () and b.kinds == ["question"]
    confirm = r.replies[0]
    assert "Ông/Bà trả lời «15»" in confirm.text and "khảo sát sẽ kết thúc" in confirm.text
    assert [a.input for a in confirm.actions] == [Command("resume"), Command("back")]   # Đúng, Không
    # what a channel shows again after a crash is the same question
    assert [x.text for x in engine.current_replies(survey, b.state)] == [confirm.text]
    r = b.send("không")                       # no: the age question again, nothing recorded
    assert b.kinds == ["question"] and b.state.current == "age" and r.events == () and not b.state.picks
    b.send("15")
    r = b.send("51")                          # a corrected answer goes on
    assert AnswerSet("age", 51, b.now) in r.events and b.state.status == "active" and b.state.current != "age"


def test_back_pause_and_language_while_asked_back(survey) -> None:
    b = Bot(survey)
    b.run(Start(), "có", "có", "16")
    b.send(Command("back"))                   # the "« Không, trả lời lại" button
    assert b.state.current == "age" and not b.state.picks and b.kinds == ["question"]
    b.send("16")
    b.send(Command("pause"))
    assert b.state.status == "paused" and not b.state.picks
    b.send(Command("resume"))
    assert b.state.status == "active" and b.state.current == "age"
    b.send("16")
    r = b.send(Command("lang", "en"))
    assert b.state.lang == "en" and "You answered “16”" in r.replies[-1].text
    b.send("yes")
    assert (b.state.status, b.state.outcome) == ("ended", "ineligible") and b.state.answers["age"] == 16


def test_the_page_form_is_not_asked_back(survey) -> None:
    state = engine.new_state(survey)
    for inp in (Start(), TypedText("có"), TypedText("có"), TypedText("16")):
        state = engine.step(survey, state, inp, 1.0, confirm=False).state
    assert (state.status, state.outcome) == ("ended", "ineligible")
