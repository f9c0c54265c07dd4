"""The questionnaire as data: pydantic models for a survey definition.

A definition is a YAML file (see ``survey_defs/*.yaml``), in the spirit of XLSForm: sections of
questions, reusable answer scales, structured relevance conditions (never ``eval``), screening end
rules and index roles that tell analytics which answers count as "satisfied".

Ids are global: every question id and every matrix item id is unique in the whole survey, because
each becomes one answer key (and one column in analytics). Cross-reference checks (unknown or
forward references, duplicate ids, missing translations) live in ``survey_defs.validate`` so that
errors can name the file and the question and suggest a fix.
"""

from __future__ import annotations

import hashlib
import json
from enum import Enum
from functools import cached_property
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

# A translated text: language code -> text. "vi" is required everywhere (checked in validate.py).
Text = dict[str, str]
AnswerValue = Union[int, str]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuestionType(str, Enum):
    single = "single"      # one of listed options
    multi = "multi"        # several of listed options (min_picks/max_picks)
    scale = "scale"        # one value of a named answer scale
    matrix = "matrix"      # one scale, many items, asked one item per message
    yesno = "yesno"        # Có / Không, stored as 1 / 0
    number = "number"      # integer within min/max
    text = "text"          # free text up to max_length
    note = "note"          # information only, no answer


class Option(_Model):
    """One answer option. ``aliases`` are extra typed forms accepted per language."""

    value: AnswerValue
    label: Text
    aliases: dict[str, list[str]] = Field(default_factory=dict)


class Scale(_Model):
    """A reusable answer scale, e.g. the 5-point satisfaction scale."""

    id: str
    options: list[Option]
    # Values counted as "satisfied" when this scale is used by an index item (default for items).
    satisfied: list[AnswerValue] = Field(default_factory=list)


# ---------------------------------------------------------------- conditions (structured, no eval)

class Equals(_Model):
    equals: tuple[str, AnswerValue]  # (question or item id, value); for multi: value is among the picks


class In(_Model):
    in_: tuple[str, list[AnswerValue]] = Field(alias="in")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Not(_Model):
    not_: "Condition" = Field(alias="not")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class All(_Model):
    all: list["Condition"]


class Any_(_Model):
    any: list["Condition"]


class Answered(_Model):
    answered: str


class Compare(_Model):
    """Numeric comparison, e.g. ``{lt: [age, 18]}``: used by screening rules and constraints."""

    lt: tuple[str, float] | None = None
    le: tuple[str, float] | None = None
    gt: tuple[str, float] | None = None
    ge: tuple[str, float] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Compare":
        set_ = [k for k in ("lt", "le", "gt", "ge") if getattr(self, k) is not None]
        if len(set_) != 1:
            raise ValueError("a comparison needs exactly one of lt, le, gt, ge")
        return self


Condition = Annotated[Union[Equals, In, Not, All, Any_, Answered, Compare], Field(union_mode="left_to_right")]


def condition_refs(cond: Condition) -> list[str]:
    """Ids a condition reads, for the forward/unknown reference checks."""
    if isinstance(cond, Equals):
        return [cond.equals[0]]
    if isinstance(cond, In):
        return [cond.in_[0]]
    if isinstance(cond, Not):
        return condition_refs(cond.not_)
    if isinstance(cond, All):
        return [r for c in cond.all for r in condition_refs(c)]
    if isinstance(cond, Any_):
        return [r for c in cond.any for r in condition_refs(c)]
    if isinstance(cond, Answered):
        return [cond.answered]
    for k in ("lt", "le", "gt", "ge"):
        v = getattr(cond, k)
        if v is not None:
            return [v[0]]
    return []


# ---------------------------------------------------------------- index roles

class IndexRole(_Model):
    """Where an item counts in the satisfaction index (SIPAS_METHOD.md §2).

    ``pillar``: e.g. "policy" / "services"; ``component``: block such as "II.A";
    ``criterion``: the item's short name; ``satisfied``: answer values counted as satisfied
    (default: the scale's ``satisfied`` values, i.e. 4 and 5 on the 5-point scale).
    ``kind`` separates satisfaction items from perception and expectation indicators, which
    are reported as shares per option.
    """

    kind: Literal["satisfaction", "perception", "expectation"] = "satisfaction"
    pillar: str | None = None
    component: str | None = None
    criterion: str | None = None
    satisfied: list[AnswerValue] | None = None


class MatrixItem(_Model):
    id: str
    text: Text
    index: IndexRole | None = None
    relevant: Condition | None = None


class Question(_Model):
    id: str
    type: QuestionType
    text: Text
    help: Text | None = None
    required: bool = True
    relevant: Condition | None = None
    # Extra check on the answer itself, e.g. {ge: [self_id, 18]}; message shown when it fails.
    constraint: Condition | None = None
    constraint_message: Text | None = None
    options: list[Option] | None = None      # single, multi
    scale: str | None = None                 # scale, matrix: id of a Scale
    items: list[MatrixItem] | None = None    # matrix
    min_picks: int | None = None             # multi
    max_picks: int | None = None             # multi
    exclusive: list[AnswerValue] = Field(default_factory=list)  # multi: options that exclude others
    min: int | None = None                   # number
    max: int | None = None                   # number
    max_length: int | None = None            # text
    index: IndexRole | None = None           # scale/single/yesno questions that feed an index


class Section(_Model):
    id: str
    title: Text
    relevant: Condition | None = None
    questions: list[Question]


class EndRule(_Model):
    """Screening: when ``when`` holds after an answer, the interview ends with ``message``."""

    id: str
    when: Condition
    outcome: Literal["ineligible", "refused"] = "ineligible"
    message: Text


class Survey(_Model):
    id: str
    version: str
    title: Text
    description: Text | None = None
    languages: list[str] = Field(default_factory=lambda: ["vi"])
    scales: list[Scale] = Field(default_factory=list)
    sections: list[Section]
    end_rules: list[EndRule] = Field(default_factory=list)
    # Messages that override the engine's defaults (e.g. the closing thank-you), by key.
    messages: dict[str, Text] = Field(default_factory=dict)
    # Display names of the index pillars and components used by ``IndexRole.pillar`` /
    # ``IndexRole.component`` (e.g. "II.A" -> "Tiếp cận dịch vụ"), for reports. Optional; when
    # given, every satisfaction item's pillar/component must be listed (checked in validate.py).
    pillars: dict[str, Text] = Field(default_factory=dict)
    components: dict[str, Text] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    @cached_property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON: a round pins it; a response records what it started on."""
        blob = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True,
                          ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    @cached_property
    def scale_by_id(self) -> dict[str, Scale]:
        return {s.id: s for s in self.scales}

    @cached_property
    def questions(self) -> list[Question]:
        """All questions in asking order."""
        return [q for s in self.sections for q in s.questions]

    @cached_property
    def question_by_id(self) -> dict[str, Question]:
        return {q.id: q for q in self.questions}

    @cached_property
    def section_of(self) -> dict[str, Section]:
        return {q.id: s for s in self.sections for q in s.questions}

    def options_of(self, q: Question) -> list[Option]:
        """The options a citizen picks from for ``q`` (its own, its scale's, or Có/Không)."""
        if q.options is not None:
            return q.options
        if q.scale is not None:
            return self.scale_by_id[q.scale].options
        if q.type is QuestionType.yesno:
            return YES_NO
        return []

    def satisfied_values(self, q: Question, role: IndexRole | None) -> list[AnswerValue]:
        if role is not None and role.satisfied is not None:
            return role.satisfied
        if q.scale is not None:
            return self.scale_by_id[q.scale].satisfied
        return []


YES_NO: list[Option] = [
    Option(value=1, label={"vi": "Có", "en": "Yes"}, aliases={"vi": ["co", "có", "c", "ừ", "vâng", "yes", "y"]}),
    Option(value=0, label={"vi": "Không", "en": "No"}, aliases={"vi": ["khong", "không", "k", "ko", "no", "n"]}),
]

Not.model_rebuild()
All.model_rebuild()
Any_.model_rebuild()
MatrixItem.model_rebuild()
Question.model_rebuild()
Section.model_rebuild()
EndRule.model_rebuild()
Survey.model_rebuild()


def dump_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)
