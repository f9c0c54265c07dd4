"""Conditions and index roles in words, for staff reading a questionnaire outline.

``hailong survey show`` uses these; so can a review screen or a report that explains why a
question was skipped. Values are shown with their option labels ("q_ethnic = Khác"), so the
reader does not need the codebook.
"""

from __future__ import annotations

from survey_defs.schema import (
    YES_NO,
    All,
    Answered,
    AnswerValue,
    Any_,
    Compare,
    Condition,
    Equals,
    In,
    IndexRole,
    Not,
    Option,
    QuestionType,
    Survey,
)
from survey_defs.i18n import text_in

_WORDS = {
    "vi": {"and": " và ", "or": " hoặc ", "not": "không phải ", "answered": "đã trả lời {id}",
           "in": "{id} là một trong: {values}", "includes": "{id} có chọn {value}", "eq": "{id} = {value}"},
    "en": {"and": " and ", "or": " or ", "not": "not ", "answered": "{id} is answered",
           "in": "{id} is one of: {values}", "includes": "{id} includes {value}", "eq": "{id} = {value}"},
}
_OPS = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥"}


def _step_options(survey: Survey, step_id: str) -> tuple[list[Option], bool]:
    """(options of the step, whether it is a multiple choice) — empty for free answers."""
    q = survey.question_by_id.get(step_id)
    if q is None:
        for mq in survey.questions:
            if mq.type is QuestionType.matrix and any(it.id == step_id for it in mq.items or []):
                sc = survey.scale_by_id.get(mq.scale or "")
                return (sc.options if sc is not None else []), False
        return [], False
    if q.options is not None:
        return q.options, q.type is QuestionType.multi
    if q.scale is not None and q.scale in survey.scale_by_id:
        return survey.scale_by_id[q.scale].options, False
    if q.type is QuestionType.yesno:
        return YES_NO, False
    return [], False


def _label(opts: list[Option], value: AnswerValue, lang: str) -> str:
    for o in opts:
        if o.value == value:
            return text_in(o.label, lang, str(value))
    return repr(value) if isinstance(value, str) else str(value)


def describe_condition(survey: Survey, cond: Condition, lang: str = "vi") -> str:
    """One line such as ``q_ethnic = Khác và q_age ≥ 18`` (``lang``: vi or en)."""
    w = _WORDS.get(lang, _WORDS["en"])

    def go(c: Condition, nested: bool) -> str:
        if isinstance(c, Equals):
            ref, value = c.equals
            opts, multi = _step_options(survey, ref)
            return w["includes" if multi else "eq"].format(id=ref, value=_label(opts, value, lang))
        if isinstance(c, In):
            ref, values = c.in_
            opts, _multi = _step_options(survey, ref)
            return w["in"].format(id=ref, values=", ".join(_label(opts, v, lang) for v in values))
        if isinstance(c, Answered):
            return w["answered"].format(id=c.answered)
        if isinstance(c, Not):
            return w["not"] + "(" + go(c.not_, False) + ")"
        if isinstance(c, (All, Any_)):
            parts = c.all if isinstance(c, All) else c.any
            text = (w["and"] if isinstance(c, All) else w["or"]).join(go(p, True) for p in parts)
            return f"({text})" if nested and len(parts) > 1 else text
        assert isinstance(c, Compare)
        for k, sym in _OPS.items():
            v = getattr(c, k)
            if v is not None:
                num = int(v[1]) if float(v[1]).is_integer() else v[1]
                return f"{v[0]} {sym} {num}"
        return "?"

    return go(cond, False)


def describe_role(role: IndexRole | None) -> str:
    """Short index-role text: ``satisfaction · services · II.E · Kênh góp ý dễ dàng``."""
    if role is None:
        return ""
    parts = [role.kind, role.pillar, role.component, role.criterion]
    text = " · ".join(p for p in parts if p)
    if role.satisfied is not None:
        text += f" (satisfied: {', '.join(map(str, role.satisfied))})"
    return text
