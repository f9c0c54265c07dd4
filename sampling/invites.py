"""Invitation credentials: deep-link tokens, short card codes, links and instructions.

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
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable

__all__ = [
    "CODE_ALPHABET",
    "CODE_PREFIX",
    "DEFAULT_CODE_LENGTH",
    "TOKEN_RE",
    "InviteError",
    "check_character",
    "format_code",
    "invite_text",
    "is_valid_code",
    "is_valid_token",
    "new_short_code",
    "new_token",
    "normalise_code",
    "telegram_link",
    "unique_codes",
    "unique_tokens",
    "zalo_instruction",
    "zalo_link",
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

#: Telegram deep-link payload: 1-64 characters of A-Z, a-z, 0-9, _ and -.
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TOKEN_BYTES = 24  # 192 bits -> 32 base64url characters
_BOT_USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")


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


def unique_tokens(n: int, existing: Iterable[str] = ()) -> list[str]:
    """``n`` new tokens, distinct from each other and from ``existing`` (collisions are
    astronomically unlikely at 192 bits, but checking is cheap and makes it a guarantee)."""
    seen = set(existing)
    out: list[str] = []
    while len(out) < n:
        t = new_token()
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


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


def unique_codes(n: int, existing: Iterable[str] = (), length: int = DEFAULT_CODE_LENGTH) -> list[str]:
    """``n`` new short codes distinct from each other and from ``existing``."""
    seen = set(existing)
    out: list[str] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * (n + 10):
            raise InviteError("could not find enough unused short codes; use a longer code length")
        c = new_short_code(length)
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def format_code(code: str) -> str:
    """How a code is printed and said: ``KS 4F7K2QM``."""
    return f"{CODE_PREFIX} {code}"


_STRIP_RE = re.compile(r"[\s\-_.:,;/\\#'\"“”‘’()\[\]]+")
# Words a citizen may type before the code: "mã", "ma", "code", "KS", "mã KS".
_PREFIXES = ("MAKS", "CODEKS", "KS", "MA", "CODE")


def _fold(text: str) -> str:
    """Upper case without Vietnamese diacritics (đ -> D), for prefix matching only."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn").upper()


def normalise_code(text: str) -> str | None:
    """The code a citizen meant, or None if ``text`` holds no valid code.

    Tolerates case, spaces, dashes, quotes and a leading "KS" / "mã" / "Mã KS" / "code", e.g.
    ``"ks 4f7k-2qm"``, ``"Mã KS: 4F7K2QM"``, ``"4f7k2qm"``. Because a code may itself start with
    the letters K S, every reading is tried and the one whose check character is right wins; a
    mistyped code therefore yields None (and the bot asks again) rather than a wrong household.
    """
    if not isinstance(text, str):
        return None
    cleaned = _STRIP_RE.sub("", _fold(text.strip()))
    if not cleaned or len(cleaned) > 40:
        return None
    candidates = [cleaned]
    for p in _PREFIXES:
        if cleaned.startswith(p):
            candidates.append(cleaned[len(p):])
    # The prefix separated by a space is the common printed form: prefer stripping it then.
    words = _fold(text.strip()).split()
    if len(words) >= 2 and words[0].strip(":") in ("KS", "MA", "CODE"):
        candidates.insert(0, _STRIP_RE.sub("", "".join(w for w in words if w.strip(":") not in ("KS", "MA", "CODE"))))
    for cand in candidates:
        if is_valid_code(cand):
            return cand
    return None


# ------------------------------------------------------------------ links and instructions

def telegram_link(bot_username: str, token: str) -> str:
    """The deep link that opens the bot with ``/start <token>``: ``https://t.me/<bot>?start=<token>``.

    Raises InviteError for a malformed bot username or token, since a broken link printed on
    thousands of cards is an expensive mistake.
    """
    name = (bot_username or "").strip().lstrip("@")
    if not _BOT_USERNAME_RE.match(name):
        raise InviteError(f"invalid Telegram bot username {bot_username!r}")
    if not is_valid_token(token):
        raise InviteError("invalid deep-link token: 1-64 characters of A-Z a-z 0-9 _ -")
    return f"https://t.me/{name}?start={token}"


def zalo_link(oa_id: str) -> str:
    """The link that opens the Zalo Official Account / bot chat (Zalo has no start payload, so the
    citizen then types the short code)."""
    oa = (oa_id or "").strip()
    if not oa or not re.match(r"^[A-Za-z0-9_.-]{1,64}$", oa):
        raise InviteError(f"invalid Zalo account id {oa_id!r}")
    return f"https://zalo.me/{oa}"


def zalo_instruction(code: str, zalo_name: str, lang: str = "vi") -> str:
    """One sentence telling the citizen how to answer on Zalo with the short code."""
    shown = format_code(code)
    if lang == "en":
        return f"Or send the code {shown} to “{zalo_name}” on Zalo."
    return f"Hoặc nhắn mã {shown} cho Zalo “{zalo_name}”."


def invite_text(channel: str, code: str, *, deadline: str | None = None, organiser: str = "Sở Nội vụ tỉnh Lai Châu",
                lang: str = "vi") -> str:
    """The invitation message sent through the outbox (Vietnamese first, English after).

    Telegram invites carry a button with the deep link, so the text only says to press it; on Zalo
    (no start payload) the citizen replies with the short code, which the text spells out.
    """
    shown = format_code(code)
    dl_vi = f" Hạn trả lời: {deadline}." if deadline else ""
    dl_en = f" Deadline: {deadline}." if deadline else ""
    if channel == "telegram":
        how_vi = "Bấm nút «Bắt đầu khảo sát» bên dưới để trả lời."
        how_en = "Press the “Start the survey” button below to answer."
    else:
        how_vi = f"Để bắt đầu, hãy nhắn mã {shown} vào cuộc trò chuyện này."
        how_en = f"To begin, send the code {shown} in this chat."
    vi = (f"Kính mời gia đình tham gia khảo sát sự hài lòng của người dân với dịch vụ hành chính công "
          f"do {organiser} thực hiện. Phiếu trả lời mất khoảng 10 phút; thông tin được giữ kín. "
          f"{how_vi}{dl_vi}")
    en = (f"Your household is invited to a short citizen-satisfaction survey ({organiser}); about "
          f"10 minutes, answers kept confidential. {how_en}{dl_en}")
    return en if lang == "en" else f"{vi}\n\n{en}"
