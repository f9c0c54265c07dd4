"""What a page shows, computed from the engine's state (no I/O, no HTML).

The section shown is the section of the step the engine asks now; within it, a step is shown
when its relevance holds for the answers so far (the engine's own compiled condition, so a
question that opens after an answer appears on the next render, and one that closes disappears
with its answer already dropped by the engine). A matrix is a run of cards, one per item, each
with the whole scale stacked vertically: no grid (grids on phones raise straight-lining).
Answers given on a chat that never confirmed a hand-over (``State.hidden``) are never shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from engine import texts as engine_texts
from engine import CompiledStep, answer_label, compile_survey, current_replies
from engine.types import State, Value
from bot.web.form import Raw
from bot.web.texts import page_text
from survey_defs.schema import Survey

__all__ = ["OptionView", "StepView", "SectionView", "ReviewView", "ReviewRow", "section_view", "review_view",
           "end_text", "applicable_sections"]


@dataclass(frozen=True, slots=True)
class OptionView:
    value: str
    label: str
    checked: bool


@dataclass(slots=True)
class StepView:
    id: str
    type: str
    text: str
    help: str = ""
    stem: str = ""                    # matrix: the question's text, shown above its first item
    hint: str = ""
    options: tuple[OptionView, ...] = ()
    value: str = ""                   # number / text
    required: bool = True
    error: str = ""
    elsewhere: bool = False           # answered on a chat that never confirmed the hand-over
    min: int | None = None
    max: int | None = None
    max_length: int | None = None


@dataclass(slots=True)
class SectionView:
    id: str
    title: str
    index: int
    total: int
    steps: list[StepView]
    progress: tuple[int, int] | None
    can_back: bool
    welcome: str = ""
    description: str = ""
    visible_key: str = ""             # which steps are shown (the page script compares it)
    notices: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ReviewRow:
    text: str
    answer: str


@dataclass(slots=True)
class ReviewSection:
    id: str
    title: str
    edit_step: str | None
    rows: list[ReviewRow]


@dataclass(slots=True)
class ReviewView:
    sections: list[ReviewSection]


def _txt(text: Mapping[str, str] | None, lang: str) -> str:
    if not text:
        return ""
    return text.get(lang) or text.get("vi") or next(iter(text.values()), "")


def _applies(sp: CompiledStep, answers: Mapping[str, Value]) -> bool:
    return sp.relevant is None or bool(sp.relevant(answers))


def applicable_sections(survey: Survey, state: State) -> list[str]:
    """Sections with at least one answerable step that applies given the answers so far."""
    out: list[str] = []
    for sp in compile_survey(survey).steps:
        if not sp.is_note and sp.section.id not in out and _applies(sp, state.answers):
            out.append(sp.section.id)
    return out


def _str(v: object) -> str:
    return "" if v is None else str(v)


def _step_view(sp: CompiledStep, state: State, lang: str, sticky: Mapping[str, Raw],
               errors: Mapping[str, str], stem_shown: set[str]) -> StepView:
    q = sp.question
    hidden = sp.id in state.hidden
    if sp.id in sticky:
        value: object = sticky[sp.id]
    elif hidden:
        value = None
    elif sp.type == "multi" and state.current == sp.id and state.picks:
        value = list(state.picks)
    else:
        value = state.answers.get(sp.id)
    text = _txt(sp.item.text if sp.item is not None else q.text, lang)
    stem = ""
    if sp.item is not None and sp.qid not in stem_shown:
        stem = _txt(q.text, lang)
        stem_shown.add(sp.qid)
    hint = ""
    if sp.type == "multi":
        hint = page_text("multi_hint_range", lang, min=sp.min_picks, max=sp.max_picks) \
            if q.min_picks is not None or q.max_picks is not None else page_text("multi_hint", lang)
    elif sp.type == "number":
        hint = page_text("number_hint_range", lang, min=q.min, max=q.max) \
            if q.min is not None and q.max is not None else page_text("number_hint", lang)
    options: tuple[OptionView, ...] = ()
    if sp.has_options:
        chosen = {_str(v) for v in value} if isinstance(value, list) else ({_str(value)} if value is not None else set())
        options = tuple(OptionView(_str(v), _txt(lab, lang), _str(v) in chosen)
                        for v, lab in zip(sp.values, sp.labels))
    return StepView(
        id=sp.id, type=sp.type, text=text, help=_txt(q.help, lang) if sp.item is None or stem else "",
        stem=stem, hint=hint, options=options,
        value="" if sp.has_options or value is None or isinstance(value, list) else _str(value),
        required=sp.required, error=errors.get(sp.id, ""), elsewhere=hidden,
        min=q.min, max=q.max, max_length=q.max_length)


def section_view(survey: Survey, state: State, section_id: str, sticky: Mapping[str, Raw] | None = None,
                 errors: Mapping[str, str] | None = None) -> SectionView:
    """The section ``section_id`` as it should be shown for ``state``."""
    lang = state.lang
    c = compile_survey(survey)
    sticky = sticky or {}
    errors = errors or {}
    # Relevance is judged on the stored answers plus what is still on the page, so a question
    # opened by an answer the engine could not take yet (a gap before it) stays visible.
    answers: dict[str, Value] = dict(state.answers)
    steps = [sp for sp in c.steps if sp.section.id == section_id]
    for sp in steps:
        raw = sticky.get(sp.id)
        if raw is not None and sp.has_options:
            vals = raw if isinstance(raw, list) else [raw]
            picked = [sp.values[p] for p in (sp.by_value.get(v) for v in vals) if p is not None]
            if picked:
                answers[sp.id] = picked if sp.type == "multi" else picked[0]
    shown: list[StepView] = []
    stems: set[str] = set()
    for sp in steps:
        if not _applies(sp, answers):
            continue
        shown.append(_step_view(sp, state, lang, sticky, errors, stems))
    sections = applicable_sections(survey, state)
    index = sections.index(section_id) + 1 if section_id in sections else len(sections)
    progress = None
    for reply in current_replies(survey, state):
        if reply.kind == "question" and reply.progress is not None:
            progress = reply.progress
    section = steps[0].section if steps else None
    first = bool(sections) and section_id == sections[0]
    return SectionView(
        id=section_id, title=_txt(section.title if section else None, lang), index=index,
        total=max(len(sections), index), steps=shown, progress=progress,
        can_back=bool(state.trail) and not (state.hidden and state.trail[-1] in state.hidden),
        welcome=_txt(survey.title, lang) if first else "",
        description=_txt(survey.description, lang) if first else "",
        visible_key=",".join(s.id for s in shown))


def review_view(survey: Survey, state: State) -> ReviewView:
    """The answers the engine holds (its trail: every applicable settled step), by section."""
    lang = state.lang
    c = compile_survey(survey)
    out: dict[str, ReviewSection] = {}
    hidden = set(state.hidden)
    for sid in state.trail:
        sp = c.by_id.get(sid)
        if sp is None:
            continue
        sec = out.get(sp.section.id)
        if sec is None:
            sec = out[sp.section.id] = ReviewSection(sp.section.id, _txt(sp.section.title, lang), None, [])
        if sid in hidden:
            answer = page_text("answered_elsewhere", lang)
        elif sid in state.answers:
            answer = answer_label(survey, sid, state.answers[sid], lang)
        else:
            answer = page_text("skipped", lang)
        if sec.edit_step is None and sid not in hidden:
            sec.edit_step = sid
        text = _txt(sp.item.text if sp.item is not None else sp.question.text, lang)
        if sp.item is not None:
            text = f"{_txt(sp.question.text, lang)} — {text}" if sp.first_in_matrix else text
        sec.rows.append(ReviewRow(text, answer))
    return ReviewView(list(out.values()))


def end_text(survey: Survey, state: State) -> str:
    """The engine's own closing words for a finished state (thanks, or the screening's end)."""
    texts = [r.text for r in current_replies(survey, state) if r.kind in ("thanks", "ended", "info")]
    return "\n\n".join(texts) or engine_texts.t("thanks", state.lang)
