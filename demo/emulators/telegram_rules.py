"""What Telegram's Bot API refuses, as the emulator checks it: errors, flood limits, text, keyboards.

Split from :mod:`demo.emulators.telegram` because these are the API's rules, not its state: the
error shape Telegram answers with (:class:`ApiError`), its flood limits (:class:`FloodLimits`),
entity checks of HTML/MarkdownV2 text, inline keyboards (64-byte callback data, ``web_app``
URLs) and the Mini App ``initData`` signature (:func:`sign_init_data`, which tests of the
questionnaire page use to act as Telegram).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

__all__ = ["ApiError", "FloodLimits", "MAX_CALLBACK_DATA", "MAX_TEXT", "check_markup", "sign_init_data",
           "visible_text", "web_app_url_ok"]

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64


class ApiError(Exception):
    """An error answered to the bot exactly as Telegram shapes it."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            out["parameters"] = {"retry_after": self.retry_after}
        return out


@dataclass
class FloodLimits:
    """Telegram's flood limits as token buckets. ``enabled=False`` (the default) never answers 429.

    Telegram documents "about 30 messages per second" overall and "avoid more than one message per
    second" per chat, with short bursts tolerated; ``per_chat_burst`` is that tolerance. Edits are
    counted only if ``count_edits`` (Telegram limits them more loosely than sends).
    """

    enabled: bool = False
    global_per_s: float = 30.0
    per_chat_per_s: float = 1.0
    per_chat_burst: float = 3.0
    count_edits: bool = False


class _EntityChecker(HTMLParser):
    """Checks Telegram's HTML subset (balanced, allowed tags) and yields the visible text."""

    ALLOWED = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code",
                         "pre", "span", "tg-spoiler", "blockquote", "tg-emoji"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.parts: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.ALLOWED:
            self.error = self.error or f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or f'Unmatched end tag "{tag}"'
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(text: str, parse_mode: str | None) -> str:
    """The text a citizen sees; raises 400 "can't parse entities" like Telegram on bad markup."""
    if not parse_mode:
        return text
    mode = parse_mode.lower()
    if mode == "html":
        checker = _EntityChecker()
        checker.feed(text)
        checker.close()
        if checker.error is None and checker.stack:
            checker.error = f'Can\'t find end tag corresponding to start tag "{checker.stack[-1]}"'
        if checker.error:
            raise ApiError(400, f"Bad Request: can't parse entities: {checker.error}")
        return "".join(checker.parts)
    if mode == "markdownv2":
        out: list[str] = []
        it = iter(range(len(text)))
        for i in it:
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                next(it, None)
            elif ch in "_*[]()~`>#+-=|{}.!":
                if ch in "_*~`":
                    continue  # formatting marker; balance is not checked here
                raise ApiError(400, f"Bad Request: can't parse entities: Character '{ch}' is reserved "
                                    "and must be escaped with the preceding '\\'")
            else:
                out.append(ch)
        return "".join(out)
    if mode == "markdown":
        return text.replace("*", "").replace("_", "").replace("`", "")
    raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode!r}")


def check_markup(markup: Any) -> dict[str, Any] | None:
    """Validates a reply_markup like Telegram does (the parts the bot can get wrong)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup  # reply keyboards / remove / force reply: accepted as is
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise ApiError(400, "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an array")
    for row in rows:
        for btn in row:
            if not isinstance(btn, dict) or not btn.get("text"):
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
            data = btn.get("callback_data")
            if data is not None and not (1 <= len(str(data).encode("utf-8")) <= MAX_CALLBACK_DATA):
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            app = btn.get("web_app")
            if app is not None and not web_app_url_ok(app.get("url") if isinstance(app, dict) else None):
                raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
    return markup


def web_app_url_ok(url: object) -> bool:
    """Telegram wants an HTTPS Mini App URL; the emulator also allows plain HTTP on this machine."""
    if not isinstance(url, str) or len(url) > 2048:
        return False
    return url.startswith("https://") or url.startswith(("http://127.0.0.1", "http://localhost"))


def sign_init_data(bot_token: str, fields: dict[str, str]) -> str:
    """``initData`` as Telegram makes it for a Mini App: the fields plus their ``hash``
    (HMAC-SHA256 of the sorted ``key=value`` lines, keyed by HMAC-SHA256("WebAppData", token))."""
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    check = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
    digest = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode({**fields, "hash": digest})
