"""The one invitation-credential scheme: deep-link tokens, short card codes, and what a typed
text is an attempt at.

Every sampled respondent gets two credentials that both lead to the same response:

* a **token** (``new_token``): 192 random bits, URL-safe, used as the payload of a Telegram deep
  link ``https://t.me/<bot>?start=<token>`` printed as a QR code. Telegram allows at most 64
  characters from ``A-Za-z0-9_-`` in a ``start`` payload; ours is 32.
* a **short code** (``new_short_code``): 6-8 characters a citizen can read off a paper card and
  type into Zalo (or Telegram) by hand, printed as ``KS 4F7K2QM``. Its alphabet drops the
  characters people confuse on paper (0/O, 1/I/L), and its last character is a check character
  (a weighted sum modulo 31, in the spirit of ISO/IEC 7064) so that any single mistyped character
  and any swap of two neighbouring characters is caught before we look the code up — a typo never
  binds a citizen to someone else's household.

Why two credentials: Telegram cannot make first contact (a bot may only write to someone who
pressed Start), so the QR deep link is the low-friction path; older citizens and Zalo users type
the short code. Short codes carry fewer bits (31^6 ≈ 8.9e8 for the default length 7), so every
claim is counted and limited per chat and per channel (``storage.claims``, docs/credentials.md);
tokens need no such care.

Why in storage: storage mints the credentials when it stores a respondent and looks them up when a
chat claims one, so the scheme lives with it, once; the cards, invitation messages and links that
print or send a credential (``sampling/invites.py``, ``sampling/cards.py``) import it from here.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Literal

from engine.normalize import fold

__all__ = [
    "CODE_ALPHABET",
    "CODE_PREFIX",
    "DEFAULT_CODE_LENGTH",
    "MALFORMED",
    "TOKEN_RE",
    "Credential",
    "InviteError",
    "check_character",
    "format_code",
    "is_valid_code",
    "is_valid_token",
    "new_short_code",
    "new_token",
    "normalise_code",
    "read_credential",
]

#: 31 symbols (a prime, which is what makes the check character catch every single substitution
#: and every adjacent transposition): digits 2-9 and letters without I, L, O.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_CODE_INDEX = {ch: i for i, ch in enumerate(CODE_ALPHABET)}
_MOD = len(CODE_ALPHABET)
assert _MOD == 31

#: Printed before the code on cards and in messages ("KS" = khảo sát, survey).
CODE_PREFIX = "KS"
#: Total length including the check character.
DEFAULT_CODE_LENGTH = 7
_MIN_CODE_LENGTH, _MAX_CODE_LENGTH = 6, 8

#: The characters of a Telegram deep-link payload (and of ``secrets.token_urlsafe``).
_TOKEN_CHARS = "A-Za-z0-9_-"
#: Telegram deep-link payload: 1-64 characters of A-Z, a-z, 0-9, _ and -.
TOKEN_RE = re.compile(rf"^[{_TOKEN_CHARS}]{{1,64}}$")
#: A claimed text looked up as a token: 32 characters today (192 bits), 24 before (144 bits); any
#: 22-64 characters of the payload alphabet is tried as it is (shorter ones are no token of ours).
_CLAIMED_TOKEN_RE = re.compile(rf"^[{_TOKEN_CHARS}]{{22,64}}$")
_TOKEN_BYTES = 24  # 192 bits -> 32 base64url characters


class InviteError(ValueError):
    """Bad input to an invite helper (a wrong bot username, a malformed token)."""


# ------------------------------------------------------------------ tokens

def new_token() -> str:
    """A fresh deep-link token: 192 bits from ``secrets``, 32 URL-safe characters.

    Unguessable by design: knowing other citizens' tokens tells nothing about this one, so a
    token can be the only credential needed to open a household's questionnaire.
    """
    return secrets.token_urlsafe(_TOKEN_BYTES)


def is_valid_token(token: str) -> bool:
    """True if ``token`` is usable as a Telegram ``start`` payload (charset and length)."""
    return isinstance(token, str) and bool(TOKEN_RE.match(token))


# ------------------------------------------------------------------ short codes

def check_character(body: str) -> str:
    """The check character for a code body (upper case, alphabet characters only).

    With body values v1..vn and weights 1..n, the check value c is chosen so that
    ``sum(i * v_i) + (n + 1) * c ≡ 0 (mod 31)``. All weights are distinct and non-zero modulo the
    prime 31, so changing one character, or swapping two neighbouring ones (the check character
    included), always breaks the equation.
    """
    if not body or any(ch not in _CODE_INDEX for ch in body):
        raise InviteError(f"code body {body!r} has characters outside {CODE_ALPHABET}")
    n = len(body)
    if n + 1 >= _MOD:
        raise InviteError("code body too long for a mod-31 check")
    s = sum((i + 1) * _CODE_INDEX[ch] for i, ch in enumerate(body)) % _MOD
    inv = pow(n + 1, -1, _MOD)
    return CODE_ALPHABET[(-s * inv) % _MOD]


def new_short_code(length: int = DEFAULT_CODE_LENGTH) -> str:
    """A random short code of ``length`` characters (6-8), the last one a check character."""
    if not _MIN_CODE_LENGTH <= length <= _MAX_CODE_LENGTH:
        raise InviteError(f"short code length must be {_MIN_CODE_LENGTH}-{_MAX_CODE_LENGTH}, got {length}")
    body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(length - 1))
    return body + check_character(body)


def is_valid_code(code: str) -> bool:
    """True if ``code`` (already normalised: upper case, no prefix or spaces) passes the check."""
    if not isinstance(code, str) or not _MIN_CODE_LENGTH <= len(code) <= _MAX_CODE_LENGTH:
        return False
    if any(ch not in _CODE_INDEX for ch in code):
        return False
    return check_character(code[:-1]) == code[-1]


def format_code(code: str) -> str:
    """How a code is printed and said: ``KS 4F7K2QM``."""
    return f"{CODE_PREFIX} {code}"


_STRIP_RE = re.compile(r"[\s\-_.:,;/\\#'\"“”‘’()\[\]]+")
# Words a citizen may type before the code: "mã", "ma", "code", "KS", "mã KS".
_PREFIXES = ("MAKS", "CODEKS", "KS", "MA", "CODE")


def normalise_code(text: str) -> str | None:
    """The code a citizen meant, or None if ``text`` holds no valid code.

    Tolerates case, spaces, dashes, quotes and a leading "KS" / "mã" / "Mã KS" / "code", e.g.
    ``"ks 4f7k-2qm"``, ``"Mã KS: 4F7K2QM"``, ``"4f7k2qm"``. Because a code may itself start with
    the letters K S, every reading is tried and the one whose check character is right wins; a
    mistyped code therefore yields None (and the bot asks again) rather than a wrong household.
    """
    if not isinstance(text, str):
        return None
    upper = fold(unicodedata.normalize("NFKC", text)).upper()   # full-width, diacritics, case
    cleaned = _STRIP_RE.sub("", upper)
    if not cleaned or len(cleaned) > 40:
        return None
    candidates = [cleaned]
    for p in _PREFIXES:
        if cleaned.startswith(p):
            candidates.append(cleaned[len(p):])
    # The prefix separated by a space is the common printed form: prefer stripping it then.
    words = upper.split()
    if len(words) >= 2 and words[0].strip(":") in ("KS", "MA", "CODE"):
        candidates.insert(0, _STRIP_RE.sub("", "".join(w for w in words if w.strip(":") not in ("KS", "MA", "CODE"))))
    for cand in candidates:
        if is_valid_code(cand):
            return cand
    return None




# ------------------------------------------------------------------ what a text is an attempt at

_LEAD_RE = re.compile(r"^(?:ma\s*ks|ma\s*so|ma|code|ks)(?![a-z0-9])[\s:#-]*")


@dataclass(frozen=True, slots=True)
class Credential:
    """What a claimed text is: a ``token``, a ``code`` (passes its check: looked up), or
    ``malformed`` (anything else offered as a credential: never looked up)."""

    kind: Literal["token", "code", "malformed"]
    value: str = ""


MALFORMED = Credential("malformed")


def read_credential(text: object) -> Credential | None:
    """The credential ``text`` is an attempt at, or None if it is no attempt at all.

    Normalises first (NFKC, case, spaces, dashes, a "KS" / "mã" prefix), so that "BJW5 4PD",
    "bjw5-4pd" and "Mã KS: BJW54PD" are one and the same attempt. A text that is no valid code
    but has a code's shape (5 to 10 letters and digits, with a digit or a "KS"/"mã" prefix) is a
    malformed attempt; ordinary words ("xin chào") are not attempts. Channels use this to decide
    whether free text is a claim; an explicit claim (Telegram's ``/start <payload>``) is one
    whatever it holds.
    """
    if not isinstance(text, str):
        return None
    t = unicodedata.normalize("NFKC", text).strip()
    if not t or len(t) > 200:
        return None
    if _CLAIMED_TOKEN_RE.match(t):
        return Credential("token", t)
    folded = fold(t)
    body = _LEAD_RE.sub("", folded, count=1)
    prefixed = body != folded
    code = normalise_code(t) or (normalise_code(body) if prefixed else None)   # "Mã số: …" too
    if code is not None:
        return Credential("code", code)
    compact = _STRIP_RE.sub("", body)
    if 5 <= len(compact) <= 10 and compact.isascii() and compact.isalnum() and (
            prefixed or any(ch.isdigit() for ch in compact)):
        return MALFORMED
    return None
