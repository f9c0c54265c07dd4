"""The engine's vocabulary: inputs it accepts, the state it keeps, replies and events it returns.

This is the contract between the pure engine (``engine/``), the channels (console,
Telegram, Zalo) and storage. Nothing here does I/O. Everything is a plain dataclass so that a
step costs microseconds and a state serialises to JSON (``State.to_json`` / ``State.from_json``)
for storage.

Steps: the engine flattens a survey into *steps*. Each question is one step whose id is the
question id, except a matrix, where each item is one step whose id is the item id. Answers are
keyed by step id, so one key = one analytics column.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal, Union

AnswerValue = Union[int, str]
Value = Union[int, str, list]  # list for multiple choice


# ------------------------------------------------------------------ inputs (normalised by channels)

@dataclass(frozen=True, slots=True)
class Start:
    """A new or returning citizen opens the conversation (/start, a deep link, an invite code)."""


@dataclass(frozen=True, slots=True)
class Choose:
    """A button press: pick ``value`` for step ``step_id`` (toggles it on a multiple-choice step).

    Carrying the step id lets the engine refuse a press on an outdated question.
    """

    step_id: str
    value: AnswerValue


@dataclass(frozen=True, slots=True)
class Done:
    """Finish a multiple-choice step (the "Xong" button)."""

    step_id: str


@dataclass(frozen=True, slots=True)
class TypedText:
    """Anything typed: "4", "hài lòng", "hai long", "1 3 5", "quay lại", emoji, 10 000 chars…"""

    text: str


CommandName = Literal["back", "pause", "resume", "help", "stop", "lang", "review", "submit", "edit", "skip"]


@dataclass(frozen=True, slots=True)
class Command:
    """A control command. ``arg``: the language for ``lang``, the step id for ``edit``."""

    name: CommandName
    arg: str | None = None


Input = Union[Start, Choose, Done, TypedText, Command]


# ------------------------------------------------------------------ state

Status = Literal["new", "active", "paused", "review", "submitted", "ended"]
Outcome = Literal["complete", "ineligible", "refused"]


@dataclass(slots=True)
class AnswerMeta:
    """Paradata of one step: when it was first asked / last answered, how often it was changed."""

    asked_at: float | None = None
    answered_at: float | None = None
    changes: int = 0


@dataclass(slots=True)
class State:
    survey_id: str
    survey_hash: str
    lang: str = "vi"
    status: Status = "new"
    outcome: Outcome | None = None
    current: str | None = None            # step being asked
    answers: dict[str, Value] = field(default_factory=dict)
    picks: list[AnswerValue] = field(default_factory=list)   # multiple choice in progress
    trail: list[str] = field(default_factory=list)           # steps asked, in order, for "back"
    meta: dict[str, AnswerMeta] = field(default_factory=dict)
    seq: int = 0                          # bumps every time a question is sent
    # Steps answered on another chat before a hand-over that chat never confirmed (see
    # docs/credentials.md): their values are never shown here ("back" stops before them, the
    # review lists them without values). Replaced, never mutated in place, so copies may share it.
    hidden: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> "State":
        d = json.loads(raw)
        d["meta"] = {k: AnswerMeta(**v) for k, v in d.get("meta", {}).items()}
        return cls(**d)


# ------------------------------------------------------------------ replies (rendered by channels)

ReplyKind = Literal[
    "question",   # a question to answer (options, progress)
    "invalid",    # the input was not a valid answer: re-prompt follows in the same result
    "stale",      # a press on an outdated question: short notice, nothing changed
    "info",       # help, paused, resumed, language changed…
    "review",     # summary of answers before submit
    "thanks",     # closing message after submit
    "ended",      # screening end (ineligible / refused / withdrawn)
]


@dataclass(frozen=True, slots=True)
class Option:
    value: AnswerValue
    label: str
    selected: bool = False  # multiple choice: ticked


@dataclass(frozen=True, slots=True)
class Action:
    """A non-answer button a channel may show (Xong, Quay lại, Gửi, Sửa câu X…)."""

    label: str
    input: Input


@dataclass(frozen=True, slots=True)
class Reply:
    kind: ReplyKind
    text: str                              # full text in the state's language, progress included
    step_id: str | None = None
    options: tuple[Option, ...] = ()       # buttons, or numbered lines where the channel has none
    actions: tuple[Action, ...] = ()
    progress: tuple[int, int] | None = None  # (n, total) as in "Câu 12/85"
    multi: bool = False                    # checkbox list: channels update it in place
    seq: int = 0                           # State.seq when sent; channels may sign it into buttons


# ------------------------------------------------------------------ events (persisted by storage)

@dataclass(frozen=True, slots=True)
class AnswerSet:
    step_id: str
    value: Value
    at: float


@dataclass(frozen=True, slots=True)
class AnswerCleared:
    """An answer dropped because, after "back", its step no longer applies."""

    step_id: str
    at: float


@dataclass(frozen=True, slots=True)
class StatusChanged:
    status: Status
    outcome: Outcome | None
    at: float


Event = Union[AnswerSet, AnswerCleared, StatusChanged]


@dataclass(frozen=True, slots=True)
class StepResult:
    state: State
    replies: tuple[Reply, ...]
    events: tuple[Event, ...] = ()
