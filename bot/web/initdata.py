"""Telegram Mini App ``initData``: checked exactly as Telegram documents it.

Telegram opens a Mini App with a signed query string (``Telegram.WebApp.initData``, also in the
URL fragment as ``tgWebAppData``). Its documentation ("Validating data received via the Mini
App", core.telegram.org/bots/webapps) says:

* ``secret_key = HMAC_SHA256(key="WebAppData", message=bot_token)``;
* the *data-check-string* is every received field except ``hash``, as ``key=value`` with the
  value URL-decoded, sorted by key, joined by a line feed;
* the data is from Telegram when ``hex(HMAC_SHA256(key=secret_key, message=data_check_string))``
  equals ``hash``; ``auth_date`` (Unix seconds) tells how old it is, so a stale one is refused.

Why so strict here: the page binds to the chat's respondent through ``user.id`` (in a private
chat Telegram's chat id is the user id), so a forged or replayed ``initData`` would show one
household's answers to someone else. Anything unusual is refused with a reason for the log and
never an exception: a duplicated key, a missing or malformed field, a hash of the wrong shape,
an ``auth_date`` too old or in the future, an over-long string.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl

__all__ = ["InitData", "InitDataError", "MAX_INIT_DATA", "secret_key", "validate_init_data", "data_check_string"]

#: Longest initData accepted (Telegram's are a few hundred bytes; a user object with a long name
#: and photo URL stays well under 4 KB).
MAX_INIT_DATA = 4096
#: Clock skew tolerated for an ``auth_date`` slightly in the future (seconds).
FUTURE_SKEW_S = 60.0


class InitDataError(ValueError):
    """Why an initData was refused (for the log; the citizen sees one bilingual text)."""


@dataclass(frozen=True, slots=True)
class InitData:
    """What a valid initData says: the Telegram user id (= the private chat id), when it was
    signed, the user's language code if any, and the fields as received."""

    user_id: int
    auth_date: int
    language_code: str | None
    fields: dict[str, str]


def secret_key(bot_token: str) -> bytes:
    """HMAC_SHA256 of the bot token with the constant "WebAppData" as the key."""
    return hmac.new(b"WebAppData", bot_token.encode("utf-8"), hashlib.sha256).digest()


def data_check_string(fields: dict[str, str]) -> str:
    """Every field but ``hash``, ``key=value``, sorted by key, joined by line feeds."""
    return "\n".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "hash")


def _fields(raw: str) -> dict[str, str]:
    if not isinstance(raw, str) or not raw:
        raise InitDataError("empty")
    if len(raw) > MAX_INIT_DATA:
        raise InitDataError("too long")
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True, max_num_fields=64)
    except ValueError as exc:
        raise InitDataError(f"not a query string: {exc}") from None
    out: dict[str, str] = {}
    for k, v in pairs:
        if k in out:
            raise InitDataError(f"duplicated field {k[:20]!r}")
        out[k] = v
    return out


def validate_init_data(raw: str, bot_token: str, now: float, max_age_s: float) -> InitData:
    """The checked content of ``raw`` or :class:`InitDataError`.

    ``max_age_s``: how old ``auth_date`` may be (Telegram signs it when the Mini App opens, so a
    page opened from the chat always carries a fresh one).
    """
    fields = _fields(raw)
    received = fields.get("hash", "")
    if len(received) != 64 or any(c not in "0123456789abcdef" for c in received):
        raise InitDataError("missing or malformed hash")
    expected = hmac.new(secret_key(bot_token), data_check_string(fields).encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, received):
        raise InitDataError("hash mismatch")
    auth = fields.get("auth_date", "")
    if not auth.isascii() or not auth.isdigit() or len(auth) > 12:
        raise InitDataError("missing or malformed auth_date")
    auth_date = int(auth)
    if auth_date > now + FUTURE_SKEW_S:
        raise InitDataError("auth_date in the future")
    if now - auth_date > max_age_s:
        raise InitDataError("stale auth_date")
    try:
        user = json.loads(fields.get("user", ""))
    except ValueError:
        raise InitDataError("missing or malformed user") from None
    uid = user.get("id") if isinstance(user, dict) else None
    if type(uid) is not int or uid <= 0:
        raise InitDataError("missing or malformed user id")
    lang = user.get("language_code")
    return InitData(uid, auth_date, lang if isinstance(lang, str) and len(lang) <= 16 else None, fields)
