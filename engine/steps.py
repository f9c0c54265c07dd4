"""The engine's public functions: (survey, state, input, now) -> (new state, replies, events).

Pure and synchronous: no I/O, no clock (time comes in as ``now``), no randomness, and the input
state is never mutated (a new :class:`~engine.types.State` is returned). Channels (console,
Telegram, Zalo, the web page) turn platform updates into :mod:`engine.types` inputs and render the
replies; storage persists the state and the events. Every input in every state gets at least one
reply; nothing raises (a last-resort guard answers politely, and the property tests run with
:data:`STRICT` on to prove it is never reached). How a step is taken: ``engine/walk.py``.
"""

from __future__ import annotations

from engine import texts
from engine.compile import CompiledSurvey, compile_survey
from engine.types import Input, Reply, State, StepResult
from engine.walk import _Run
from survey_defs.i18n import text_in
from survey_defs.schema import Survey

__all__ = ["STRICT", "new_state", "step", "current_replies", "step_compiled"]

#: When True the last-resort guard re-raises instead of answering politely (tests and fuzzing).
STRICT = False


def new_state(survey: Survey, lang: str = "vi") -> State:
    """A fresh response state for ``survey`` (status "new"; the first input starts it)."""
    langs = survey.languages or ["vi"]
    if lang not in langs or lang not in texts.LANGS:
        lang = "vi" if "vi" in langs else langs[0]
    return State(survey_id=survey.id, survey_hash=survey.content_hash, lang=lang)


def step(survey: Survey, state: State, inp: Input, now: float, *, buttons: bool = True,
         confirm: bool = True) -> StepResult:
    """Apply one input to ``state``: the new state, the replies to send, the events to persist.

    ``buttons``: whether the channel shows buttons (Telegram, the page) or only text (console,
    Zalo); prompts are worded for it ("bấm «Xong»" only where there is a Xong button).
    ``confirm``: ask "is that right?" before an answer ends the survey by a screening rule (a
    chat; the page's form shows the value and passes False).

    Never raises and never mutates ``state``. Unexpected internal errors (none are known; the
    fuzz tests run with :data:`STRICT`) leave the state unchanged and answer with an apology.
    """
    try:
        return step_compiled(compile_survey(survey), state, inp, now, buttons=buttons, confirm=confirm)
    except Exception:
        if STRICT:
            raise
        lang = state.lang if isinstance(getattr(state, "lang", None), str) else "vi"
        return StepResult(state=state, replies=(Reply(kind="info", text=texts.t("error", lang)),))


def current_replies(survey: Survey, state: State, *, buttons: bool = True) -> tuple[Reply, ...]:
    """What the citizen should see now, for ``state`` as it is: the current question (with the
    state's own ``seq``, so its buttons stay valid), the review, the pause notice or the closing
    message; nothing for a conversation not started.

    Why: a channel that committed a step may crash before its replies reach the citizen; after
    the restart it shows them this (the replies a step promised end with what to answer next).
    Pure like :func:`step`; the state is not changed (paradata of a re-shown question is not
    touched: it was asked when the step was committed).
    """
    c = compile_survey(survey)
    if state.survey_hash != c.hash:
        return (Reply("info", texts.t("version_mismatch", state.lang)),)
    run = _Run(c, state, 0.0, buttons)
    s = run.s
    status = s.status
    if status == "active" and run.cur() is not None:
        s.seq = state.seq - 1          # ask() counts one up: the question keeps the state's seq
        run.show_current()             # the question, or "is that right?" for an answer that ends it
    elif status in ("active", "review"):
        run.review()
    elif status == "paused":
        run.info("paused")
    elif status == "submitted":
        run.replies.append(Reply("thanks", run.t("thanks")))
    elif status == "ended":
        rule = next((r for r in c.rules if r.rule.outcome == s.outcome and r.when(s.answers)), None)
        text = text_in(rule.rule.message, s.lang) if rule is not None else \
            run.t("stopped" if s.outcome == "refused" else "already_ended")
        run.replies.append(Reply("ended", text))
    return tuple(run.replies)


def step_compiled(c: CompiledSurvey, state: State, inp: Input, now: float, *, buttons: bool = True,
                  confirm: bool = True) -> StepResult:
    """:func:`step` on an already compiled survey, without the guard (benchmarks, internals)."""
    if state.survey_hash != c.hash:
        return StepResult(state=state, replies=(Reply("info", texts.t("version_mismatch", state.lang)),))
    return _Run(c, state, now, buttons, confirm).dispatch(inp)
