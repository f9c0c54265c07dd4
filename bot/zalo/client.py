"""A small async client for the **Zalo Bot API** (the Telegram-style bot platform Zalo opened in 2025).

No Python package for this API was mature enough to depend on, so this module is the whole client:
typed methods, timeouts, error mapping and clean splitting of long texts.

What the API looks like (found in public documentation and in maintained client code; the
official reference is https://bot.zaloplatforms.com/docs, formerly https://bot.zapps.me/docs):

* Base URL ``https://bot-api.zaloplatforms.com/bot<TOKEN>/<method>``; the older host
  ``https://bot-api.zapps.me`` still appears in guides, so the base URL is configurable
  (``base_url``; the emulator in ``demo/emulators/zalo.py`` is just another base URL).
  Sources: openclaw ``extensions/zalo/src/api.ts`` (github.com/openclaw/openclaw), the cURL
  reference of the n8n Zalo node, https://docs.beeblast.co/channels/zalo.
* Requests are ``POST`` with a JSON body. Responses are ``{"ok": true, "result": …}`` or
  ``{"ok": false, "error_code": <int>, "description": "…"}`` (same envelope as Telegram's).
* Methods: ``getMe`` → ``{"id", "account_name", "account_type", "can_join_groups"}``;
  ``getUpdates`` ``{"timeout": "30"}`` → **one** update (not a list) and there is **no offset**:
  an update is consumed when it is returned. When nothing arrives before the timeout the server
  answers ``error_code`` 408 ("Request timeout"), which is normal and is mapped to ``None`` here;
  ``setWebhook`` ``{"url", "secret_token"}`` (secret 8–256 characters), ``deleteWebhook``,
  ``getWebhookInfo`` → ``{"url", "updated_at"}``; ``sendMessage`` ``{"chat_id", "text"}`` with text
  **at most 2000 characters** → ``{"message_id", "date"}``; ``sendPhoto`` ``{"chat_id", "photo"
  (an absolute http(s) URL), "caption"}``; ``sendChatAction`` ``{"chat_id", "action":
  "typing" | "upload_photo"}``.
* Updates: ``{"event_name": "message.text.received", "message": {"from": {"id", "display_name",
  "is_bot"}, "chat": {"id", "chat_type": "PRIVATE" | "GROUP"}, "text", "message_id", "date"}}``.
  Ids are opaque strings; ``date`` is in **milliseconds**. Other events:
  ``message.image.received`` (``photo_url``, ``caption``), ``message.sticker.received``
  (``sticker``), ``message.unsupported.received`` (voice, files, locations…).
* Webhook requests carry the header ``X-Bot-Api-Secret-Token`` holding the secret given to
  ``setWebhook``; their body is the update itself (clients also accept it wrapped in the
  ``{"ok", "result"}`` envelope, and so does ``parse_update``).

Where the documentation is silent we decided, and the emulator behaves the same way:

* **429**: the docs give no retry hint. We honour ``parameters.retry_after`` (Telegram's field) or
  an HTTP ``Retry-After`` header when present; ``ZaloRetryAfter.retry_after`` is ``None``
  otherwise and callers (``bot/zalo/pacer.py``) back off exponentially.
* **403** means "this chat cannot be reached" (the citizen blocked or left the bot):
  ``ZaloForbidden``; the adapter marks the respondent unreachable instead of retrying.
* The 2000-character limit is counted in UTF-16 code units (what a JavaScript backend counts);
  for Vietnamese text this equals the number of characters, and for emoji it errs on the safe side.

Transport: aiohttp rather than httpx, because one ``aiohttp.ClientSession`` keeps a pool of
keep-alive connections at a fraction of httpx's CPU cost per request, and the adapter sends one
HTTP request per outgoing message (the benchmark in ``benchmarks/zalo_e2e.py`` measures it).
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import aiohttp

DEFAULT_BASE_URL: Final = "https://bot-api.zaloplatforms.com"
LEGACY_BASE_URL: Final = "https://bot-api.zapps.me"
SECRET_HEADER: Final = "X-Bot-Api-Secret-Token"
MAX_TEXT: Final = 2000

EVENT_TEXT: Final = "message.text.received"
EVENT_IMAGE: Final = "message.image.received"
EVENT_STICKER: Final = "message.sticker.received"
EVENT_UNSUPPORTED: Final = "message.unsupported.received"

ChatAction = Literal["typing", "upload_photo"]


# ------------------------------------------------------------------ errors

class ZaloError(Exception):
    """Base of every error this client raises."""


class ZaloNetworkError(ZaloError):
    """The request did not complete (connection refused/reset, timeout, garbled answer).

    Retryable: the server may or may not have acted on a send, which is acceptable for chat
    replies (a duplicate message is better than a lost question).
    """

    def __init__(self, method: str, reason: str) -> None:
        super().__init__(f"Zalo {method}: {reason}")
        self.method = method
        self.reason = reason


class ZaloApiError(ZaloError):
    """The server answered ``ok: false`` (or an HTTP error status)."""

    def __init__(self, method: str, code: int, description: str) -> None:
        super().__init__(f"Zalo {method} failed ({code}): {description}")
        self.method = method
        self.code = code
        self.description = description

    @property
    def retryable(self) -> bool:
        """Server-side trouble that may pass: 429 and 5xx."""
        return self.code == 429 or 500 <= self.code < 600


class ZaloRetryAfter(ZaloApiError):
    """429 Too Many Requests. ``retry_after`` (seconds) when the server gave a hint, else None."""

    def __init__(self, method: str, description: str, retry_after: float | None) -> None:
        super().__init__(method, 429, description)
        self.retry_after = retry_after


class ZaloForbidden(ZaloApiError):
    """403: the chat cannot receive messages from this bot (blocked, left, never talked to it)."""


class ZaloUnauthorized(ZaloApiError):
    """401: the bot token is wrong or revoked. A configuration problem, never retried."""


class ZaloUpdateError(ValueError):
    """An update (from getUpdates or a webhook body) that does not have the documented shape."""


# ------------------------------------------------------------------ types

@dataclass(frozen=True, slots=True)
class BotInfo:
    id: str
    account_name: str
    account_type: str = ""
    can_join_groups: bool = False


@dataclass(frozen=True, slots=True)
class ZaloUser:
    id: str
    display_name: str = ""
    is_bot: bool = False


@dataclass(frozen=True, slots=True)
class ZaloChat:
    id: str
    chat_type: str = "PRIVATE"


@dataclass(frozen=True, slots=True)
class ZaloMessage:
    message_id: str
    sender: ZaloUser
    chat: ZaloChat
    date_ms: int
    text: str | None = None
    photo_url: str | None = None
    caption: str | None = None
    sticker: str | None = None


@dataclass(frozen=True, slots=True)
class ZaloUpdate:
    event_name: str
    message: ZaloMessage | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_text(self) -> bool:
        return self.event_name == EVENT_TEXT and self.message is not None and self.message.text is not None


@dataclass(frozen=True, slots=True)
class SentMessage:
    message_id: str
    date_ms: int


@dataclass(frozen=True, slots=True)
class WebhookInfo:
    url: str
    updated_at_ms: int | None = None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def parse_update(obj: Any) -> ZaloUpdate:
    """Turn a decoded update (getUpdates result or webhook body) into a ``ZaloUpdate``.

    Tolerant to what the docs leave open (numeric ids, ``name`` instead of ``display_name``, a
    ``{"ok", "result"}`` envelope) and strict about what the adapter relies on: an event name, and
    for message events a message id and a chat id. Raises ``ZaloUpdateError`` otherwise.
    """
    if isinstance(obj, dict) and obj.get("ok") is True and isinstance(obj.get("result"), dict):
        obj = obj["result"]
    if not isinstance(obj, dict):
        raise ZaloUpdateError("update is not a JSON object")
    event = obj.get("event_name")
    if not isinstance(event, str) or not event:
        raise ZaloUpdateError("update has no event_name")
    raw_msg = obj.get("message")
    if raw_msg is None:
        return ZaloUpdate(event, None, obj)
    if not isinstance(raw_msg, dict):
        raise ZaloUpdateError("message is not an object")
    mid = raw_msg.get("message_id")
    chat = raw_msg.get("chat") or {}
    sender = raw_msg.get("from") or {}
    if not isinstance(chat, dict) or not isinstance(sender, dict):
        raise ZaloUpdateError("chat/from is not an object")
    chat_id = chat.get("id", sender.get("id"))
    if mid in (None, "") or chat_id in (None, ""):
        raise ZaloUpdateError("message has no message_id or chat id")
    try:
        date_ms = int(raw_msg.get("date") or 0)
    except (TypeError, ValueError):
        date_ms = 0
    text = raw_msg.get("text")
    msg = ZaloMessage(
        message_id=str(mid),
        sender=ZaloUser(
            id=str(sender.get("id", chat_id)),
            display_name=str(sender.get("display_name") or sender.get("name") or ""),
            is_bot=bool(sender.get("is_bot", False)),
        ),
        chat=ZaloChat(id=str(chat_id), chat_type=str(chat.get("chat_type") or "PRIVATE")),
        date_ms=date_ms,
        text=text if isinstance(text, str) else None,
        photo_url=_opt_str(raw_msg.get("photo_url") or raw_msg.get("photo")),
        caption=_opt_str(raw_msg.get("caption")),
        sticker=_opt_str(raw_msg.get("sticker")),
    )
    return ZaloUpdate(event, msg, obj)


# ------------------------------------------------------------------ splitting long texts

def text_length(text: str) -> int:
    """Length as the server counts it: UTF-16 code units (astral characters such as emoji count 2)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _prefix_fitting(text: str, limit: int) -> int:
    """Largest ``i`` such that ``text[:i]`` is at most ``limit`` UTF-16 units."""
    head = text[:limit]
    if text_length(head) == len(head):
        return len(head)
    units = 0
    for i, ch in enumerate(head):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return i
    return len(head)


_OPTION_LINE = re.compile(r"\s*(?:\d{1,3}|[a-zA-Z])[.):]\s")
_SENTENCE_END = re.compile(r"[.!?…;:](?=\s)")


def _is_option(line: str) -> bool:
    return bool(_OPTION_LINE.match(line))


def _safe_cut(text: str, i: int) -> int:
    """Move a hard cut left so that it never separates a base letter from its combining marks
    (Vietnamese text in NFD form puts tone marks after the letter) nor ``\\r`` from ``\\n``."""
    while i > 1 and (unicodedata.combining(text[i]) or unicodedata.category(text[i]) == "Mn"
                     or (text[i] == "\n" and text[i - 1] == "\r")
                     or text[i] in "\u200d\ufe0f"):
        i -= 1
    return i


def _line_at(text: str, start: int) -> str:
    end = text.find("\n", start)
    return text[start:] if end == -1 else text[start:end]


def _best_cut(rest: str, fit: int) -> int:
    """Where to cut ``rest`` given that ``rest[:fit]`` is the longest prefix that fits.

    Preference, best first: a blank line or a line break that is not between two numbered options
    (so a question keeps its options together), any line break, the end of a sentence, a space,
    and only then a hard cut. Returns the index where the next chunk starts.
    """
    window = rest[:fit]
    starts = [m.end() for m in re.finditer(r"\n", window) if m.end() > 1]
    if starts:
        def between_options(pos: int) -> bool:
            prev_start = window.rfind("\n", 0, pos - 1) + 1
            return _is_option(window[prev_start:pos - 1]) and _is_option(_line_at(rest, pos))

        for pos in reversed(starts):
            if window[pos - 2] == "\n" and not between_options(pos):
                return pos
        for pos in reversed(starts):
            if not between_options(pos):
                return pos
        return starts[-1]
    ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    if ends:
        return ends[-1]
    space = max(window.rfind(" "), window.rfind("\t"))
    if space > 0:
        return space
    return _safe_cut(rest, fit)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` UTF-16 units on clean boundaries.

    Never inside a word unless a single "word" is longer than the limit (a pasted URL), and then
    never inside a character or between a letter and its combining tone mark. Chunks are stripped
    of the whitespace at the cut; empty input gives no chunk.
    """
    if limit < 16:
        raise ValueError("limit too small to split sensibly")
    chunks: list[str] = []
    rest = text.strip("\n")
    while rest:
        if text_length(rest) <= limit:
            chunks.append(rest)
            break
        fit = _prefix_fitting(rest, limit)
        cut = _best_cut(rest, fit)
        if cut <= 0:
            cut = fit
        chunk = rest[:cut].rstrip()
        if chunk:
            chunks.append(chunk)
        rest = rest[cut:].lstrip(" \t\n") if chunk else rest[cut:]
    return [c for c in chunks if c.strip()]


# ------------------------------------------------------------------ the client

class ZaloBotClient:
    """Async Zalo Bot API client. One instance per bot token; safe to share between tasks.

    ``session``: an ``aiohttp.ClientSession`` to reuse (the caller closes it); otherwise the client
    creates one lazily with a keep-alive pool of ``pool_size`` connections and closes it in
    ``close()``. ``timeout``: seconds for ordinary calls; long polls add their own poll timeout.
    The token never appears in exception messages.
    """

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float = 10.0,
        pool_size: int = 100,
    ) -> None:
        if not token or "/" in token:
            raise ValueError("Zalo bot token is empty or malformed")
        base = base_url.rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ValueError("Zalo base URL must start with http:// or https://")
        self._prefix = f"{base}/bot{token}/"
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._pool_size = pool_size
        self.base_url = base

    # -- lifecycle
    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=30),
                json_serialize=lambda o: json.dumps(o, ensure_ascii=False),
            )
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def __aenter__(self) -> "ZaloBotClient":
        self._get_session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transport
    async def call(self, method: str, payload: dict[str, Any] | None = None,
                   *, timeout: float | None = None) -> Any:
        """Call ``method`` and return its ``result``; raise a ``ZaloError`` subclass otherwise."""
        return await self._request(self._get_session(), method, payload, timeout)

    async def _request(self, session: aiohttp.ClientSession, method: str,
                       payload: dict[str, Any] | None, timeout: float | None) -> Any:
        body = json.dumps(payload or {}, ensure_ascii=False).encode()
        try:
            async with session.post(
                self._prefix + method,
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=timeout or self._timeout),
            ) as resp:
                status = resp.status
                raw = await resp.read()
                retry_header = resp.headers.get("Retry-After")
                reason = resp.reason or ""
        except asyncio.TimeoutError:
            raise ZaloNetworkError(method, "timed out") from None
        except aiohttp.ClientError as exc:
            raise ZaloNetworkError(method, type(exc).__name__) from None
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if status >= 400:
                raise _error_for(method, status, reason or "HTTP error", None, retry_header)
            raise ZaloNetworkError(method, "answer is not a JSON object")
        if data.get("ok") is True and status < 400:
            return data.get("result")
        try:
            code = int(data.get("error_code") or status)
        except (TypeError, ValueError):
            code = status
        if code < 400:
            code = status if status >= 400 else 400
        desc = str(data.get("description") or reason or "error")
        raise _error_for(method, code, desc, data.get("parameters"), retry_header)

    # -- methods
    async def get_me(self) -> BotInfo:
        r = await self.call("getMe")
        r = r if isinstance(r, dict) else {}
        return BotInfo(id=str(r.get("id", "")), account_name=str(r.get("account_name") or r.get("name") or ""),
                       account_type=str(r.get("account_type") or ""),
                       can_join_groups=bool(r.get("can_join_groups", False)))

    async def get_updates(self, timeout: int = 30) -> ZaloUpdate | None:
        """Long-poll for the next event; ``None`` when none arrived within ``timeout`` seconds.

        The event is consumed by this call (there is no offset): the caller must process it or
        accept that it is lost from the server's side. Malformed events raise ``ZaloUpdateError``.
        """
        try:
            r = await self.call("getUpdates", {"timeout": str(int(timeout))}, timeout=timeout + 10)
        except ZaloApiError as exc:
            if exc.code == 408:
                return None
            raise
        if not r:
            return None
        return parse_update(r)

    async def set_webhook(self, url: str, secret_token: str) -> WebhookInfo:
        if not 8 <= len(secret_token) <= 256:
            raise ValueError("webhook secret must be 8 to 256 characters")
        r = await self.call("setWebhook", {"url": url, "secret_token": secret_token})
        r = r if isinstance(r, dict) else {}
        return WebhookInfo(url=str(r.get("url", url)), updated_at_ms=r.get("updated_at"))

    async def delete_webhook(self) -> None:
        await self.call("deleteWebhook")

    async def get_webhook_info(self) -> WebhookInfo:
        r = await self.call("getWebhookInfo")
        r = r if isinstance(r, dict) else {}
        return WebhookInfo(url=str(r.get("url") or ""), updated_at_ms=r.get("updated_at"))

    async def send_message(self, chat_id: str, text: str) -> SentMessage:
        """Send one text of at most 2000 characters (use ``split_text`` / ``send_text`` for more)."""
        if not text:
            raise ValueError("cannot send an empty message")
        if text_length(text) > MAX_TEXT:
            raise ValueError(f"message longer than {MAX_TEXT} characters; split it first")
        r = await self.call("sendMessage", {"chat_id": chat_id, "text": text})
        return _sent(r)

    async def send_text(self, chat_id: str, text: str) -> list[SentMessage]:
        """Send ``text`` of any length as consecutive messages split on clean boundaries."""
        return [await self.send_message(chat_id, part) for part in split_text(text)]

    async def send_photo(self, chat_id: str, photo_url: str, caption: str | None = None) -> SentMessage:
        if not photo_url.startswith(("http://", "https://")):
            raise ValueError("photo must be an absolute http(s) URL")
        payload: dict[str, Any] = {"chat_id": chat_id, "photo": photo_url}
        if caption:
            payload["caption"] = split_text(caption)[0] if text_length(caption) > MAX_TEXT else caption
        return _sent(await self.call("sendPhoto", payload, timeout=max(self._timeout, 30.0)))

    async def send_chat_action(self, chat_id: str, action: ChatAction = "typing") -> None:
        await self.call("sendChatAction", {"chat_id": chat_id, "action": action})


def _sent(r: Any) -> SentMessage:
    r = r if isinstance(r, dict) else {}
    try:
        date_ms = int(r.get("date") or 0)
    except (TypeError, ValueError):
        date_ms = 0
    return SentMessage(message_id=str(r.get("message_id", "")), date_ms=date_ms)


def _error_for(method: str, code: int, desc: str, params: Any,
               retry_header: str | None) -> ZaloApiError:
    if code == 429:
        hint: float | None = None
        if isinstance(params, dict) and params.get("retry_after") is not None:
            try:
                hint = float(params["retry_after"])
            except (TypeError, ValueError):
                hint = None
        if hint is None and retry_header:
            try:
                hint = float(retry_header)
            except ValueError:
                hint = None
        if hint is not None:
            hint = min(max(hint, 0.0), 3600.0)
        return ZaloRetryAfter(method, desc, hint)
    if code == 403:
        return ZaloForbidden(method, code, desc)
    if code == 401:
        return ZaloUnauthorized(method, code, desc)
    return ZaloApiError(method, code, desc)


__all__ = [
    "DEFAULT_BASE_URL", "LEGACY_BASE_URL", "SECRET_HEADER", "MAX_TEXT",
    "EVENT_TEXT", "EVENT_IMAGE", "EVENT_STICKER", "EVENT_UNSUPPORTED",
    "ZaloError", "ZaloNetworkError", "ZaloApiError", "ZaloRetryAfter", "ZaloForbidden",
    "ZaloUnauthorized", "ZaloUpdateError",
    "BotInfo", "ZaloUser", "ZaloChat", "ZaloMessage", "ZaloUpdate", "SentMessage", "WebhookInfo",
    "parse_update", "split_text", "text_length", "ZaloBotClient",
]
