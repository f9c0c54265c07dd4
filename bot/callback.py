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

:func:`verify` returns a :class:`Press` or ``None`` (forged, malformed, another chat, unknown
version): the adapter then answers the callback with a short notice and changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Iterable, Literal

from engine.types import AnswerValue, Command, Done, Input

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


def _sign(key: bytes, chat_id: int | str, body: str) -> str:
    mac = hmac.new(key, f"{chat_id}|{body}".encode("utf-8"), hashlib.sha256).digest()
    return _b64(mac)[:_SIG_LEN]


@dataclass(frozen=True, slots=True)
class Press:
    """A verified press. ``ref``/``value`` may still be a ``#hash`` to resolve with :func:`resolve`."""

    kind: Kind
    ref: str
    value: str
    seq: int


def encode(key: bytes, chat_id: int | str, kind: Kind, ref: str, value: str, seq: int) -> str:
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


def encode_input(key: bytes, chat_id: int | str, inp: Input, seq: int) -> str | None:
    """Callback data for an engine input behind a button, or None for inputs buttons never carry."""
    from engine.types import Choose

    if isinstance(inp, Choose):
        return encode(key, chat_id, "c", inp.step_id, str(inp.value), seq)
    if isinstance(inp, Done):
        return encode(key, chat_id, "d", inp.step_id, "", seq)
    if isinstance(inp, Command):
        return encode(key, chat_id, "k", inp.name, inp.arg or "", seq)
    return None


def verify(key: bytes, chat_id: int | str, data: str | None) -> Press | None:
    """The press if ``data`` is well formed and signed for this chat, else None. Never raises."""
    if not data or len(data) > MAX_BYTES * 4:
        return None
    parts = data.split("|")
    if len(parts) != 6 or parts[0] != VERSION or parts[1] not in ("c", "d", "k"):
        return None
    body, sig = data[: len(data) - len(parts[5])], parts[5]
    if not hmac.compare_digest(_sign(key, chat_id, body).encode(), sig.encode("utf-8", "replace")):
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
