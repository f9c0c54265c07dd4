"""A submitted page as engine inputs: the pure part of the page driver (no I/O).

A page shows one section at a time, but the engine asks one step at a time. A submitted section
is therefore turned into the inputs a chat citizen would have sent, in the engine's own order,
and run through the same pure ``step``; the page never decides an answer is valid, required,
relevant or final itself:

* a step the engine is asking now gets the submitted value (``Choose`` with the step id, so
  a stale form cannot answer another question; a multiple choice as its typed form "1 3 xong");
  a blank one on "Save and continue" is ``skip``: the engine refuses it for a required step,
  and its refusal is the error shown;
* a step answered before (behind the engine's current step) whose submitted value differs is
  ``edit`` + the value, exactly as "sửa câu N" in the chat: the engine then drops the answers that
  no longer apply and continues at the first open step;
* anything the engine does not reach (a gap before it, a question that relevance hides) stays
  on the page as typed ("sticky") and is not stored.

All the steps one submission makes are collected and committed by the caller as one
``commit_step`` (one update key per submission: a re-sent form is a no-op).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from engine import CompiledStep, compile_survey, step
from engine.types import Choose, Command, Event, Input, Reply, Start, State, TypedText, Value
from engine.normalize import clean_text
from survey_defs.schema import Survey

__all__ = ["FormResult", "Raw", "apply_section", "go_back", "run_inputs", "section_steps", "section_of"]

#: A submitted value: one string, or several for a multiple choice.
Raw = str | list[str]
#: Longest submitted text kept (the engine refuses anything over a question's own limit).
MAX_RAW = 20_000
_UNKNOWN_PICK = "999999"


@dataclass(slots=True)
class FormResult:
    """What one submission did: the new state, every event of every step in order, the engine's
    complaints per step id, its other replies (end of screening, notices), and the values that
    were not applied (kept on the page)."""

    state: State
    events: list[Event] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    replies: list[Reply] = field(default_factory=list)
    sticky: dict[str, Raw] = field(default_factory=dict)
    steps: int = 0

    @property
    def changed(self) -> bool:
        return self.steps > 0


def section_steps(survey: Survey, section_id: str) -> list[CompiledStep]:
    """The compiled steps of one section, in survey order."""
    return [sp for sp in compile_survey(survey).steps if sp.section.id == section_id]


def section_of(survey: Survey, step_id: str | None) -> str | None:
    sp = compile_survey(survey).by_id.get(step_id) if step_id else None
    return sp.section.id if sp is not None else None


def run_inputs(survey: Survey, state: State, inputs: Iterable[Input], now: float,
               result: FormResult | None = None) -> FormResult:
    """Apply ``inputs`` one by one through the engine, collecting events and replies."""
    out = result or FormResult(state)
    for inp in inputs:
        _feed(survey, out, inp, now)
    return out


def _feed(survey: Survey, out: FormResult, inp: Input, now: float) -> list[Reply]:
    before = out.state
    r = step(survey, before, inp, now, confirm=False)   # the form shows the value: no "are you sure?"
    if r.state is not before or r.events:
        out.steps += 1
    out.state = r.state
    out.events.extend(r.events)
    for reply in r.replies:
        if reply.kind == "invalid" and reply.step_id is not None:
            out.errors.setdefault(reply.step_id, reply.text)
        elif reply.kind in ("ended", "thanks", "stale"):
            out.replies.append(reply)
    return list(r.replies)


def _same(sp: CompiledStep, stored: Value | None, raw: Raw) -> bool:
    """Whether ``raw`` as submitted is the answer already stored (then it is not sent again)."""
    if stored is None:
        return False
    if sp.type == "multi":
        vals = raw if isinstance(raw, list) else [raw]
        picked = {sp.values[p] for p in (sp.by_value.get(v) for v in vals) if p is not None}
        return isinstance(stored, list) and len(picked) == len(vals) and picked == set(stored)
    if isinstance(raw, list):
        return False
    if sp.has_options:
        pos = sp.by_value.get(raw)
        return pos is not None and sp.values[pos] == stored
    if sp.type == "number":
        s = raw.strip()
        return s.lstrip("+-").isdigit() and len(s) < 19 and int(s) == stored
    return clean_text(raw) == stored


def _blank(raw: Raw | None) -> bool:
    if raw is None:
        return True
    if isinstance(raw, list):
        return not raw
    return not raw.strip()


def _answer_input(sp: CompiledStep, raw: Raw) -> Input:
    """The input a chat citizen would send for ``raw`` on ``sp``."""
    if sp.type == "multi":
        vals = raw if isinstance(raw, list) else [raw]
        nums = []
        for v in vals:
            pos = sp.by_value.get(v)
            nums.append(str(pos + 1) if pos is not None else _UNKNOWN_PICK)
        return TypedText(" ".join(nums) + " xong")
    value = raw[0] if isinstance(raw, list) and raw else raw
    return Choose(sp.id, value if isinstance(value, str) else "")


def clean_form(survey: Survey, section_id: str, values: Mapping[str, Sequence[str]]) -> dict[str, Raw]:
    """Keep only this section's steps; one string per step (a list for multiple choice), bounded."""
    out: dict[str, Raw] = {}
    for sp in section_steps(survey, section_id):
        if sp.is_note or sp.id not in values:
            continue
        got = [v[:MAX_RAW] for v in values[sp.id] if isinstance(v, str)]
        if sp.type == "multi":
            out[sp.id] = [v for v in got if v][: len(sp.values) + 1]
        elif got:
            out[sp.id] = got[0]
    return out


def apply_section(survey: Survey, state: State, section_id: str, submitted: Mapping[str, Raw],
                  finalize: bool, now: float, shown: set[str] | None = None) -> FormResult:
    """Apply one section's submitted values (see the module docstring).

    ``finalize``: the citizen pressed "Save and continue" (blanks on the engine's current step
    are skipped, so the engine says which are required); otherwise an instant save of what is
    filled so far. ``shown``: the steps the submitted page showed (None: all); a step it did not
    show (opened by an answer just given) is never skipped, it is shown next.
    """
    out = FormResult(state)
    steps = section_steps(survey, section_id)
    ids = {sp.id for sp in steps}
    if not ids:
        return out
    pending = {k: v for k, v in submitted.items() if k in ids}
    if state.status == "new":
        _feed(survey, out, Start(), now)
    elif state.status == "paused":
        _feed(survey, out, Command("resume"), now)
    for _ in range(3 * len(steps) + 4):
        st = out.state
        if st.status not in ("active", "review"):
            break
        hidden = set(st.hidden)
        trail = set(st.trail)
        changed = next((sp for sp in steps if sp.id in pending and sp.id in trail and sp.id not in hidden
                        and not _blank(pending[sp.id]) and not _same(sp, st.answers.get(sp.id), pending[sp.id])),
                       None)
        if changed is not None:
            raw = pending.pop(changed.id)
            _feed(survey, out, Command("edit", changed.id), now)
            if out.state.current == changed.id:
                _feed(survey, out, _answer_input(changed, raw), now)
            continue
        cur = st.current if st.status == "active" else None
        if cur is None or cur not in ids:
            break
        sp = next(s for s in steps if s.id == cur)
        raw = pending.pop(cur, None)
        if not _blank(raw):
            _feed(survey, out, _answer_input(sp, raw), now)  # type: ignore[arg-type]
        elif finalize and cur not in out.errors and (shown is None or cur in shown):
            _feed(survey, out, Command("skip"), now)
        else:
            break
        if out.state.current == cur and out.state.status == "active" and cur in out.errors:
            break      # refused: the engine still asks it; the page shows why
    out.sticky = {k: v for k, v in pending.items() if not _blank(v)}
    for sid in out.errors:
        if sid in submitted and sid not in out.sticky:
            out.sticky[sid] = submitted[sid]       # show what was typed next to the complaint
    return out


def go_back(survey: Survey, state: State, now: float, result: FormResult | None = None) -> FormResult:
    """The previous section: ``edit`` the last answered step before the current section (the
    engine refuses it if that answer came from a chat that never confirmed the hand-over)."""
    out = result or FormResult(state)
    st = out.state
    here = section_of(survey, st.current) if st.status == "active" else None
    target = next((sid for sid in reversed(st.trail) if section_of(survey, sid) != here), None)
    before = st.current
    replies = _feed(survey, out, Command("back") if target is None else Command("edit", target), now)
    if out.state.current == before:      # refused (nothing before, or a hidden hand-over step): say why
        out.replies.extend(r for r in replies[:1] if r.kind in ("info", "invalid"))
    return out
