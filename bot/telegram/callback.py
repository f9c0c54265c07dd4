"""Signed, compact callback data for inline buttons: never trust what a button press carries.

Telegram returns a button's ``callback_data`` (at most 64 bytes) verbatim when it is pressed, but
any client can send any data with any message id. So every button we send carries::

    v1|<kind>|<ref>|<value>|<seq>|<sig>

* ``kind``: ``c`` choose an option, ``d`` done (multiple choice), ``k`` a command (back, pause…);
* ``ref``: the step id (or the command name); ``value``: the option value (or the command arg);
  either is replaced by ``#`` + 6 hash characters when it would not fit, and resolved against the
  survey on the way back, so long ids never break the 64-byte limit;
* ``seq``: ``State.seq`` when the question was sent, so a press on an older message is recognised
  as stale even when it names the current step (e.g. after "back");
* ``sig``: 12 characters of base64url HMAC-SHA256 over the chat id and the fields, keyed by a
  server secret: data cannot be forged, nor copied from one citizen's chat to another's.
  The key's two padded hash states are computed once (:class:`Signer`); each signature copies
  them instead of building an ``hmac`` object (the key schedule) per button and per press.

:func:`verify` returns a :class:`Press` or ``None`` (forged, malformed, another chat, unknown
version): the adapter then answers the callback with a short notice and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Iterable, Literal

from engine import compile_survey
from engine.types import AnswerValue, Choose, Command, Done, Input, State
from survey_defs.schema import Survey

MAX_BYTES = 64
VERSION = "v1"
_SIG_LEN = 12
Kind = Literal["c", "d", "k"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def short_hash(text: str) -> str:
    """``#`` + 6 characters identifying a long id or value (36 bits: unique within one survey)."""
    return "#" + _b64(hashlib.sha256(text.encode("utf-8")).digest())[:6]


def _field(text: str, room: int) -> str:
    if "|" in text or len(text.encode("utf-8")) > room:
        return short_hash(text)
    return text


class Signer:
    """HMAC-SHA256 under one key, with the key's inner and outer hash states made once.

    Why: a question message carries a signature per button and every press is checked; the
    ``hmac`` module pads and hashes the key again for every message. Same MAC (RFC 2104)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def mac(self, chat_id: int | str, body: str) -> bytes:
        """The first bytes of the MAC over the chat id and ``body`` (what a signature encodes)."""
        inner = self._inner.copy()
        inner.update(f"{chat_id}|{body}".encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:_SIG_BYTES]


_SIG_BYTES = _SIG_LEN * 3 // 4      # 12 base64 characters are exactly 9 bytes
_SIG_RE = re.compile(r"[A-Za-z0-9_-]{%d}" % _SIG_LEN)


def _sign(key: Signer, chat_id: int | str, body: str) -> str:
    return _b64(key.mac(chat_id, body))


@dataclass(frozen=True, slots=True)
class Press:
    """A verified press. ``ref``/``value`` may still be a ``#hash`` to resolve with :func:`resolve`."""

    kind: Kind
    ref: str
    value: str
    seq: int


def encode(key: Signer, chat_id: int | str, kind: Kind, ref: str, value: str, seq: int) -> str:
    """Callback data for one button; always within 64 bytes."""
    head = f"{VERSION}|{kind}|"
    tail = f"|{seq}|"
    room = MAX_BYTES - len(head) - len(tail) - _SIG_LEN - 1  # -1 for the "|" between ref and value
    ref_f = _field(ref, max(7, room - min(len(value.encode("utf-8")), 7)))
    value_f = _field(value, room - len(ref_f.encode("utf-8")))
    body = f"{head}{ref_f}|{value_f}{tail}"
    data = body + _sign(key, chat_id, body)
    if len(data.encode("utf-8")) > MAX_BYTES:  # only with an absurd seq; hash both to be safe
        body = f"{head}{short_hash(ref)}|{short_hash(value)}{tail}"
        data = body + _sign(key, chat_id, body)
    return data


def encode_input(key: Signer, chat_id: int | str, inp: Input, seq: int) -> str | None:
    """Callback data for an engine input behind a button, or None for inputs buttons never carry."""
    if isinstance(inp, Choose):
        return encode(key, chat_id, "c", inp.step_id, str(inp.value), seq)
    if isinstance(inp, Done):
        return encode(key, chat_id, "d", inp.step_id, "", seq)
    if isinstance(inp, Command):
        return encode(key, chat_id, "k", inp.name, inp.arg or "", seq)
    return None


def verify(key: Signer, chat_id: int | str, data: str | None) -> Press | None:
    """The press if ``data`` is well formed and signed for this chat, else None. Never raises."""
    if not data or len(data) > MAX_BYTES * 4:
        return None
    parts = data.split("|")
    if len(parts) != 6 or parts[0] != VERSION or parts[1] not in ("c", "d", "k"):
        return None
    sig = parts[5]
    if _SIG_RE.fullmatch(sig) is None:      # the base64url alphabet only: one spelling per signature
        return None
    try:
        given = base64.urlsafe_b64decode(sig)
    except (binascii.Error, ValueError):    # pragma: no cover - the pattern admits only valid text
        return None
    if not hmac.compare_digest(key.mac(chat_id, data[: len(data) - _SIG_LEN]), given):
        return None
    if not parts[4].isdigit() or len(parts[4]) > 12:
        return None
    return Press(kind=parts[1], ref=parts[2], value=parts[3], seq=int(parts[4]))  # type: ignore[arg-type]


def resolve(token: str, candidates: Iterable[AnswerValue]) -> AnswerValue | None:
    """The candidate a field names: equal text, or matching ``#hash``; None if none does."""
    for cand in candidates:
        text = str(cand)
        if token == text or (token.startswith("#") and short_hash(text) == token):
            return cand
    return None


def press_input(press: Press, state: State, survey: Survey) -> Input | None:
    """The engine input a verified press stands for, resolved against the survey (None: the
    press names nothing of the current question, e.g. a button of a changed definition)."""
    if press.kind == "k":
        name = resolve(press.ref, ("back", "pause", "resume", "help", "stop", "lang", "review",
                                      "submit", "edit", "skip"))
        return None if name is None else Command(str(name), press.value or None)  # type: ignore[arg-type]
    candidates = [state.current] if state.current else []
    step_id = resolve(press.ref, candidates)
    if step_id is None:
        return None
    if press.kind == "d":
        return Done(str(step_id))
    compiled = compile_survey(survey).by_id.get(str(step_id))
    if compiled is None:
        return None
    value = resolve(press.value, compiled.values)
    return None if value is None else Choose(str(step_id), value)
