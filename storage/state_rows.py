"""How a conversation's engine ``State`` is stored: a small cursor plus rows.

The state is split by how it grows, so that an answer rewrites only what it changed:

- ``responses.state`` holds the *cursor*: the State fields that do not grow (questionnaire,
  language, status, outcome, current step, picks in progress, seq) and the paradata of the
  current step (``"asked"``: when it was asked…), about 200 bytes. The step being asked changes
  at every answer: keeping its paradata here saves writing a row for it until it is answered;
  when it stops being current (answered, or "back") its row is written;
- ``answers`` / ``answers_current`` hold every answer: ``State.answers`` is rebuilt from
  ``answers_current``;
- ``response_steps`` holds the rest of ``State.meta`` (paradata: asked/answered times, changes),
  one row per step (a row of the current step, if any, is overridden by the cursor's), and
  ``State.trail`` as each step's ``trail_pos`` (its place in the trail, NULL when it is
  not in it; migration 6). An answer appends one step to the trail: its position goes on the
  paradata row the answer writes anyway, so the growing trail is never rewritten.

The trail goes in rows when every step of it has a paradata entry and appears once (always so
for the engine: the trail lists settled steps, each once); otherwise (a hand-made state, a
cursor written before migration 6) the cursor carries the trail itself. Either way
``load_state_op`` rebuilds the exact State.

``responses.state_rev`` counts commits of a response. A step's rows are computed against the
state it started from (``step_delta``: the entries the engine replaced, found by identity, and the
trail positions that moved) and applied only if that is still the stored revision; otherwise
every row of the response is rewritten (``step_rows``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import fields
from itertools import compress, islice
from operator import attrgetter, is_not
from typing import Any, NamedTuple

from engine.types import AnswerMeta, State
from storage.db import StorageError

#: State fields stored in ``responses.state`` (every field but those kept in rows), so a field
#: added to State later is stored too, never silently dropped.
CURSOR_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(State) if f.name not in ("answers", "meta", "trail"))
_cursor_values = attrgetter(*CURSOR_FIELDS)
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_string = json.encoder.encode_basestring   # a JSON string literal, non-ASCII kept (ensure_ascii=False)

#: A ``response_steps`` row as the writers bind it.
StepRow = tuple[int, str, Any, Any, int, "int | None"]


def _current_meta(state: State) -> AnswerMeta | None:
    current = state.current
    return None if current is None else state.meta.get(current)


def _cursor_generic(state: State) -> str:
    d = dict(zip(CURSOR_FIELDS, _cursor_values(state)))
    if not d.get("hidden", True):
        del d["hidden"]          # almost always empty (see State.hidden): the loader defaults it
    m = _current_meta(state)
    if m is not None:
        d["asked"] = [m.asked_at, m.answered_at, m.changes]
    return _encode(d)


def _number(x: Any) -> str | None:
    """A timestamp or count as JSON writes it (None if the fast writer should not guess)."""
    if x is None:
        return "null"
    t = type(x)
    if t is float and x - x == 0.0:      # finite
        return float.__repr__(x)
    if t is int:
        return int.__repr__(x)
    return None


def _cursor_fast(state: State) -> str:
    """``_cursor_generic`` for the State fields of today, written out (4× faster; it runs once
    per answer on the event loop). Same text: ``test_storage_step_write`` compares the two."""
    sid, shash, lang, status, outcome, current, picks, seq, hidden = _cursor_values(state)
    if hidden or not (type(sid) is str and type(shash) is str and type(lang) is str and type(status) is str
            and (outcome is None or type(outcome) is str) and (current is None or type(current) is str)
            and type(seq) is int and type(picks) is list):
        return _cursor_generic(state)
    text = (f'{{"survey_id":{_string(sid)},"survey_hash":{_string(shash)},"lang":{_string(lang)},'
            f'"status":{_string(status)},"outcome":{"null" if outcome is None else _string(outcome)},'
            f'"current":{"null" if current is None else _string(current)},"picks":{_encode(picks) if picks else "[]"},'
            f'"seq":{seq}')
    m = _current_meta(state)
    if m is None:
        return text + "}"
    a, b, c = m.asked_at, m.answered_at, m.changes
    if type(a) is float and b is None and type(c) is int and a - a == 0.0:   # the usual: asked, not answered
        return f'{text},"asked":[{float.__repr__(a)},null,{int.__repr__(c)}]}}'
    a, b, c = _number(a), _number(b), _number(c)
    if a is None or b is None or c is None:
        return _cursor_generic(state)
    return f'{text},"asked":[{a},{b},{c}]}}'


#: The fast cursor writer knows today's fields; a field added to State falls back to the generic one.
CURSOR_FAST = CURSOR_FIELDS == ("survey_id", "survey_hash", "lang", "status", "outcome", "current", "picks", "seq",
                                "hidden")
_cursor = _cursor_fast if CURSOR_FAST else _cursor_generic


def cursor_json(state: State, *, with_trail: bool = False) -> str:
    """The cursor of ``state``: JSON of the fields not kept in rows (the trail too if asked)."""
    text = _cursor(state)
    return text[:-1] + ',"trail":' + _encode(state.trail) + "}" if with_trail else text


def value_json(value: Any) -> str:
    """An answer value as stored in ``answers.value`` (``storage.util.dumps``; ints fast)."""
    return str(value) if type(value) is int else _encode(value)


def state_to_json(state: State) -> str:
    """The whole state as ``State.to_json`` writes it (exports, tests)."""
    return state.to_json()


def trail_fits_rows(state: State) -> bool:
    """Whether the trail can be kept as positions on paradata rows (each step once, with paradata)."""
    trail, meta = state.trail, state.meta
    return len(set(trail)) == len(trail) and all(s in meta for s in trail)


def step_rows(response_id: int, state: State) -> tuple[list[StepRow], bool]:
    """Every ``response_steps`` row of ``state`` (a full rewrite), and whether they hold the
    trail (if not, it goes in the cursor: ``cursor_json(state, with_trail=True)``)."""
    fits = trail_fits_rows(state)
    pos = {s: i for i, s in enumerate(state.trail)} if fits else {}
    return [(response_id, k, m.asked_at, m.answered_at, int(m.changes), pos.get(k))
            for k, m in state.meta.items()], fits


def step_delta(response_id: int, old: State, new: State) -> list[StepRow] | None:
    """The ``response_steps`` rows that differ between ``old`` (stored, trail in rows) and ``new``.

    Relies on the engine's copy on write: a step's state copies the meta dict (same key order)
    and replaces the AnswerMeta of every entry it changes by a new object, appending new steps;
    so changed entries are found by identity, position by position, in C. A misaligned order
    can only report unchanged entries as changed (harmless: rewritten with the same values); an
    entry changed in place is the one thing identity cannot see, and the engine never does that.
    Trail positions: only the steps after the common prefix of the two trails moved (an answer
    appends one step, "back" removes the last ones).

    None when rows cannot express the change (``new`` lost paradata entries, or its trail does
    not fit rows): then every row is rewritten.
    """
    om, nm = old.meta, new.meta
    n_old = len(om)
    if len(nm) < n_old:
        return None
    if nm is om:
        keys: list[str] = []
    else:
        keys = list(compress(nm, map(is_not, nm.values(), om.values())))
        if len(nm) > n_old:
            keys.extend(islice(nm, n_old, None))
    ot, nt = old.trail, new.trail
    moved: dict[str, int] = {}          # step -> its new place, for the steps after the common prefix
    left: list[str] = []                # the old trail's steps after the common prefix
    if nt is not ot:
        lo = len(ot)
        if len(nt) >= lo and nt[:lo] == ot:
            p = lo                      # appended to (an answer)
        else:
            p = 0
            for a, b in zip(ot, nt):
                if a != b:
                    break
                p += 1
        for i in range(p, len(nt)):
            s = nt[i]
            if nt.index(s) != i or s not in nm:   # twice in the trail, or without paradata
                return None
            moved[s] = i
        left = ot[p:]
        keys.extend(left)
        keys.extend(moved)
    current, before = new.current, old.current
    if before != current and before is not None and before in nm:
        keys.append(before)             # its paradata was in the cursor: it needs a row now
    if not keys:
        return []
    rows: list[StepRow] = []
    for k in dict.fromkeys(keys):       # each once, in order
        if k == current and k not in moved and k not in left:
            continue                    # the current step's paradata goes in the cursor (its place
                                        # in the trail, if it changed, still needs the row)
        m = nm.get(k)
        if m is None:      # a step left the paradata (the engine never removes an entry)
            return None
        i = moved.get(k)
        if i is None and k in nt:       # a place that did not move (or the step is not in the trail)
            i = nt.index(k)
        rows.append((response_id, k, m.asked_at, m.answered_at, m.changes, i))
    return rows


def _state_from_rows(cursor: str, answers: Sequence[Sequence[Any]],
                     steps: Sequence[Sequence[Any]]) -> tuple[State, bool]:
    """A State from its cursor JSON, ``(step_id, value_json)`` rows and
    ``(step_id, asked_at, answered_at, changes, trail_pos)`` rows, and whether its trail came
    from the rows."""
    d = json.loads(cursor)
    d.pop("answers", None)   # a cursor never has them; tolerate a whole state all the same
    d.pop("meta", None)
    loads = json.loads
    d["answers"] = {s: loads(v) for s, v in answers}
    meta = d["meta"] = {s: AnswerMeta(a, b, c) for s, a, b, c, _ in steps}
    asked = d.pop("asked", None)
    if asked is not None:                # the current step's paradata, kept in the cursor
        meta[d["current"]] = AnswerMeta(*asked)
    in_rows = "trail" not in d
    if in_rows:
        d["trail"] = [s for _, s in sorted((p, s) for s, _, _, _, p in steps if p is not None)]
    return State(**d), in_rows


class ResponseGone(StorageError):
    """The response a session points at does not exist (deleted database, wrong id)."""


class StoredState(NamedTuple):
    """A response's State as loaded, its ``state_rev``, and whether its trail is in the rows
    (then the next step may write a delta against it)."""

    state: State
    rev: int
    trail_in_rows: bool


def load_state_op(conn: sqlite3.Connection, response_id: int, cursor: str | None = None) -> StoredState:
    """The exact engine State of a response (any connection, any thread).

    Raises ResponseGone if there is no such response.
    """
    row = conn.execute("SELECT state, state_rev FROM responses WHERE id = ?", (response_id,)).fetchone()
    if row is None:
        raise ResponseGone(f"no response {response_id} / không có phiếu trả lời {response_id}")
    answers = conn.execute("SELECT step_id, value FROM answers_current WHERE response_id = ?",
                           (response_id,)).fetchall()
    steps = conn.execute("SELECT step_id, asked_at, answered_at, changes, trail_pos FROM response_steps"
                         " WHERE response_id = ?", (response_id,)).fetchall()
    state, in_rows = _state_from_rows(row[0] if cursor is None else cursor, answers, steps)
    return StoredState(state, int(row[1]), in_rows)
