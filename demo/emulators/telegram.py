"""A local Telegram Bot API emulator: the real HTTP Bot API, on loopback, with simulated citizens.

Why: Telegram cannot be reached from our machines, yet the Telegram channel must be tested, demoed
and rehearsed by staff with the *real* python-telegram-bot networking stack. This server speaks the
HTTP Bot API the way PTB (and any other client) calls it: ``POST /bot<token>/<method>`` with JSON,
form-encoded or multipart bodies (or GET query strings), answering ``{"ok": true, "result": …}`` or
``{"ok": false, "error_code": …, "description": …, "parameters": {"retry_after": n}}``.

What it implements, close to Telegram's observable behaviour:

* getMe, getUpdates (long polling with offset / limit / timeout / allowed_updates; 409 while a
  webhook is set), setWebhook / deleteWebhook / getWebhookInfo (in webhook mode updates are POSTed
  to the bot's URL with the header ``X-Telegram-Bot-Api-Secret-Token``, retried until accepted),
* sendMessage (text, parse_mode HTML/MarkdownV2 checked roughly, inline keyboards with the 64-byte
  callback_data limit), editMessageText, editMessageReplyMarkup ("message is not modified"),
  answerCallbackQuery, sendDocument / sendPhoto (multipart uploads or file ids), sendChatAction,
  deleteMessage, setMyCommands / getMyCommands, getChat, close / logOut,
* flood control (429 with ``retry_after``; token buckets: ~30 messages/s overall and ~1/s per chat
  with a small burst, configurable, off by default) and 403 "bot was blocked by the user",
* update ids that start again (``restart_update_ids``), as Telegram's do after a week without updates.

Simulated citizens (for tests, benchmarks, the demo)::

    emu = TelegramEmulator()
    await emu.start()                      # 127.0.0.1, ephemeral port; emu.base_url for PTB
    user = emu.user(1001, "Lan", lang="vi")
    await user.start("INVITE123")          # /start INVITE123 (a deep link)
    msg = await user.wait_for_reply()      # the bot's next message, never a blind sleep
    await user.press_button("Hài lòng")    # presses a button of the last keyboard
    emu.messages(user.chat_id)             # the transcript, edits applied

``python -m demo.emulators.telegram --port 8081`` runs it standalone for staff rehearsals; the page at
``/`` shows every chat and lets a staff member type and press buttons as a citizen.

Why one module of ~1100 lines: :class:`TelegramEmulator` is one HTTP API whose method handlers
share one state (chats, the update queue, the webhook, flood buckets, the staff page), and
:class:`SimUser` / :class:`SimGroup` are its other side: they write updates through the
emulator's internals (``_new_message``, ``_enqueue``, ``_touch``), which a split would turn into a
cross-module API. What stands alone lives apart: the API's rules (errors, flood limits, text and
keyboard checks, ``initData`` signing) in :mod:`demo.emulators.telegram_rules`, the token bucket in
:mod:`demo.emulators.token_bucket`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import html
import itertools
import json
import logging
import math
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable
from urllib.parse import quote

from aiohttp import ClientSession, ClientTimeout, web

from demo.emulators.telegram_rules import MAX_TEXT, ApiError, FloodLimits, check_markup, sign_init_data, visible_text
from demo.emulators.token_bucket import TokenBucket

log = logging.getLogger("hailong.tg_emulator")

DEFAULT_TOKEN = "123456:TEST-hailong-emulator-token"

# Fields whose value arrives JSON-encoded in a form body (PTB encodes every non-string value).
_JSON_FIELDS = frozenset({
    "reply_markup", "allowed_updates", "commands", "entities", "caption_entities",
    "link_preview_options", "reply_parameters", "scope",
})
_INT_FIELDS = frozenset({
    "offset", "limit", "timeout", "message_id", "cache_time", "max_connections",
    "reply_to_message_id", "message_thread_id",
})
_BOOL_FIELDS = frozenset({
    "disable_notification", "show_alert", "drop_pending_updates", "protect_content",
    "disable_web_page_preview", "allow_sending_without_reply",
})
# Methods that create a message and therefore count against flood limits.
_SEND_METHODS = frozenset({
    "sendmessage", "senddocument", "sendphoto", "sendsticker", "sendaudio", "sendvoice",
    "sendvideo", "sendanimation", "sendlocation", "sendcontact", "sendpoll", "senddice",
    "sendmediagroup", "copymessage", "forwardmessage",
})
_EDIT_METHODS = frozenset({"editmessagetext", "editmessagereplymarkup", "editmessagecaption"})
_UPDATE_TYPES = frozenset({
    "message", "edited_message", "channel_post", "edited_channel_post", "callback_query",
    "inline_query", "chosen_inline_result", "my_chat_member", "chat_member",
})




















# ------------------------------------------------------------------ state

@dataclass
class ChatRecord:
    id: int
    type: str  # private | group | supergroup | channel
    title: str | None = None
    first_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    blocked: bool = False
    next_message_id: int = 1

    def as_chat(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            d["first_name"] = self.first_name or str(self.id)
            if self.username:
                d["username"] = self.username
        else:
            d["title"] = self.title or str(self.id)
        return d


@dataclass
class TranscriptMessage:
    """One message of a chat as the citizen currently sees it (edits applied)."""

    message_id: int
    from_bot: bool
    text: str
    keyboard: list[list[tuple[str, str | None]]] = field(default_factory=list)
    raw_text: str = ""
    parse_mode: str | None = None
    edited: int = 0
    kind: str = "text"   # text | document | photo | sticker | voice
    date: int = 0

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        return [b for row in self.keyboard for b in row]


def _keyboard_of(markup: dict[str, Any] | None) -> list[list[tuple[str, str | None]]]:
    if not markup or "inline_keyboard" not in markup:
        return []
    return [[(b.get("text", ""), b.get("callback_data")) for b in row] for row in markup["inline_keyboard"]]


@dataclass
class CallbackAnswer:
    text: str | None
    show_alert: bool


class _BotState:
    """Everything the emulator knows about the one bot it serves."""

    def __init__(self, token: str, username: str) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.username = username
        self.updates: deque[dict[str, Any]] = deque()
        self.next_update_id = 1
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_allowed: list[str] | None = None
        self.webhook_max_connections = 40
        self.webhook_last_error: tuple[int, str] | None = None
        self.commands: list[dict[str, Any]] = []
        self.closed_at: float | None = None


class TelegramEmulator:
    """The emulator server and its citizen-facing Python API (see the module docstring)."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, username: str = "hailong_test_bot",
                 host: str = "127.0.0.1", port: int = 0, limits: FloodLimits | None = None,
                 record_requests: bool = False) -> None:
        self.host = host
        self.port = port
        self.limits = limits or FloodLimits()
        self.bot = _BotState(token, username)
        self.chats: dict[int, ChatRecord] = {}
        self._messages: dict[int, list[TranscriptMessage]] = {}
        self._msg_index: dict[tuple[int, int], TranscriptMessage] = {}
        self._shown: dict[int, list[TranscriptMessage]] = {}
        self._markups: dict[tuple[int, int], dict[str, Any] | None] = {}
        self._next_query = 1
        self._callbacks: dict[str, CallbackAnswer | None] = {}
        self._changed = asyncio.Condition()
        self._global_waiters = 0
        self._chat_waiters: dict[int, list[asyncio.Future[None]]] = {}
        self._callback_chat: dict[str, int] = {}
        self._new_update = asyncio.Event()
        self._global_bucket: TokenBucket | None = None
        self._chat_buckets: dict[int, TokenBucket] = {}
        self._runner: web.AppRunner | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_wakeup = asyncio.Event()
        self._session: ClientSession | None = None
        self._cb_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self.files: dict[str, bytes] = {}
        self.record_requests = record_requests
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.stats: collections.Counter[str] = collections.Counter(
            {"requests": 0, "429": 0, "403": 0, "webhook_posts": 0})
        self._version = 0  # bumps on every visible change (messages, callback answers)

    # -------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """Value for PTB's ``base_url`` (PTB appends the token): ``http://127.0.0.1:PORT/bot``."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def token(self) -> str:
        return self.bot.token

    def app(self) -> web.Application:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/", self._handle_index)
        app.router.add_post("/_ui/send", self._handle_ui_send)
        app.router.add_post("/_ui/press", self._handle_ui_press)
        app.router.add_get("/_ui/chats.json", self._handle_ui_json)
        return app

    async def start(self) -> "TelegramEmulator":
        """Start serving; with port 0 the OS picks a free port (``self.port`` is updated)."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets if site._server else ()  # type: ignore[union-attr]
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self._global_bucket = TokenBucket(self.limits.global_per_s, max(1.0, self.limits.global_per_s))
        log.info("Telegram Bot API emulator on %s", self.base_url)
        return self

    async def stop(self) -> None:
        if self._webhook_task:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._webhook_task
            self._webhook_task = None
        if self._session:
            await self._session.close()
            self._session = None
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "TelegramEmulator":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -------------------------------------------------------------- HTTP API

    async def _params(self, request: web.Request) -> dict[str, Any]:
        """Request parameters from the query string, a JSON body, a form or a multipart body."""
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, tuple[str, bytes, str]] = {}
        ctype = request.content_type
        if request.method == "POST" and request.can_read_body:
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise ApiError(400, "Bad Request: can't parse JSON body") from None
                if not isinstance(body, dict):
                    raise ApiError(400, "Bad Request: JSON body must be an object")
                raw.update(body)
            elif ctype == "multipart/form-data":
                reader = await request.multipart()
                async for part in reader:
                    if part.name is None:
                        continue
                    if part.filename is not None:  # type: ignore[union-attr]
                        data = await part.read(decode=False)  # type: ignore[union-attr]
                        files[part.name] = (part.filename, bytes(data),  # type: ignore[union-attr]
                                            part.headers.get("Content-Type", "application/octet-stream"))
                    else:
                        raw[part.name] = await part.text()  # type: ignore[union-attr]
            else:
                form = await request.post()
                raw.update({k: v for k, v in form.items() if isinstance(v, str)})
        params: dict[str, Any] = {}
        for key, value in raw.items():
            params[key] = self._decode(key, value)
        if files:
            params["__files__"] = files
        return params

    @staticmethod
    def _decode(key: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            if key in _JSON_FIELDS:
                return json.loads(value)
            if key in _INT_FIELDS:
                return int(value)
            if key == "chat_id":
                return int(value) if value.lstrip("-").isdigit() else value
            if key in _BOOL_FIELDS:
                return value.lower() in ("true", "1")
        except ValueError:
            raise ApiError(400, f"Bad Request: wrong parameter {key}") from None
        return value

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        self.stats["requests"] += 1
        token = request.match_info["token"]
        method = request.match_info["method"]
        self.stats["api:" + method.lower()] += 1     # requests per method (benchmarks)
        try:
            if token != self.bot.token:
                if ":" not in token:
                    raise ApiError(404, "Not Found")
                raise ApiError(401, "Unauthorized")
            params = await self._params(request)
            if self.record_requests:
                self.requests.append((method, {k: v for k, v in params.items() if k != "__files__"}))
            handler = getattr(self, f"_api_{method.lower()}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = await handler(params)
            return web.json_response({"ok": True, "result": result})
        except ApiError as err:
            if err.code == 429:
                self.stats["429"] += 1
            elif err.code == 403:
                self.stats["403"] += 1
            return web.json_response(err.body(), status=err.code)

    # ---- helpers

    def _chat_for_send(self, params: dict[str, Any], method: str) -> ChatRecord:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        chat: ChatRecord | None
        if isinstance(chat_id, str):
            chat = next((c for c in self.chats.values() if c.username and "@" + c.username == chat_id), None)
        else:
            chat = self.chats.get(chat_id)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        m = method.lower()
        if self.limits.enabled and (m in _SEND_METHODS or (self.limits.count_edits and m in _EDIT_METHODS)):
            now = time.monotonic()
            bucket = self._chat_buckets.get(chat.id)
            if bucket is None:
                bucket = self._chat_buckets[chat.id] = TokenBucket(self.limits.per_chat_per_s,
                                                               self.limits.per_chat_burst)
            wait_chat = bucket.take(now)
            if wait_chat:
                raise ApiError(429, f"Too Many Requests: retry after {math.ceil(wait_chat)}",
                               retry_after=math.ceil(wait_chat))
            assert self._global_bucket is not None
            wait_all = self._global_bucket.take(now)
            if wait_all:
                bucket.tokens += 1.0  # the chat's token was not spent
                raise ApiError(429, f"Too Many Requests: retry after {math.ceil(wait_all)}",
                               retry_after=math.ceil(wait_all))
        return chat

    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.bot.bot_id, "is_bot": True, "first_name": "Hailong",
                "username": self.bot.username}

    def _message_dict(self, chat: ChatRecord, msg: TranscriptMessage,
                      markup: dict[str, Any] | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {"message_id": msg.message_id, "from": self._bot_user(),
                             "chat": chat.as_chat(), "date": msg.date}
        if msg.kind == "text":
            d["text"] = msg.text
        elif msg.text:
            d["caption"] = msg.text
        if msg.edited:
            d["edit_date"] = int(time.time())
        if markup and "inline_keyboard" in markup:
            d["reply_markup"] = markup
        if extra:
            d.update(extra)
        return d

    async def _touch(self, chat_id: int | None = None) -> None:
        """Wake whoever waits on a change: waiters of this chat, and global waiters if any.

        Per-chat waiting keeps 1 000 simulated citizens cheap: a change in one chat does not
        re-evaluate the other 999 citizens' predicates.
        """
        self._version += 1
        if chat_id is not None:
            for fut in self._chat_waiters.pop(chat_id, ()):
                if not fut.done():
                    fut.set_result(None)
        if self._global_waiters:
            async with self._changed:
                self._changed.notify_all()

    def _store(self, chat_id: int, msg: TranscriptMessage) -> None:
        self._messages.setdefault(chat_id, []).append(msg)
        self._msg_index[(chat_id, msg.message_id)] = msg
        if msg.from_bot:
            self._shown.setdefault(chat_id, []).append(msg)

    def shown(self, chat_id: int) -> list[TranscriptMessage]:
        """What the bot showed the citizen, in order: each message it sent, and again each
        message it edited into a new text with buttons (a question asked in place of the
        answered one). Closing a question (an edit without buttons) or ticking a box (same text)
        shows nothing new. :class:`SimUser` waits for replies here."""
        return self._shown.get(chat_id, [])

    def _new_message(self, chat: ChatRecord, from_bot: bool, text: str, **kw: Any) -> TranscriptMessage:
        msg = TranscriptMessage(message_id=chat.next_message_id, from_bot=from_bot, text=text,
                                date=int(time.time()), **kw)
        chat.next_message_id += 1
        self._store(chat.id, msg)
        return msg

    # ---- methods

    async def _api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**self._bot_user(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False}

    async def _api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.bot.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = params.get("offset") or 0
        limit = max(1, min(100, params.get("limit") or 100))
        timeout = max(0, min(50, params.get("timeout") or 0))
        allowed = params.get("allowed_updates") or None
        if offset:
            while self.bot.updates and self.bot.updates[0]["update_id"] < offset:
                self.bot.updates.popleft()
        deadline = time.monotonic() + timeout
        while True:
            out = [u for u in self.bot.updates if not allowed or _update_type(u) in allowed][:limit]
            remaining = deadline - time.monotonic()
            if out or remaining <= 0:
                return out
            self._new_update.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), remaining)

    async def _api_setwebhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if url and not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not (1 <= len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self.bot.updates.clear()
        self.bot.webhook_url = url
        self.bot.webhook_secret = secret
        self.bot.webhook_allowed = params.get("allowed_updates") or None
        self.bot.webhook_max_connections = params.get("max_connections") or 40
        if url and self._webhook_task is None:
            self._webhook_task = asyncio.create_task(self._webhook_loop())
        self._webhook_wakeup.set()
        return True

    async def _api_deletewebhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self.bot.updates.clear()
        self.bot.webhook_url = ""
        self.bot.webhook_secret = None
        self._webhook_wakeup.set()
        return True

    async def _api_getwebhookinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {"url": self.bot.webhook_url, "has_custom_certificate": False,
                                "pending_update_count": len(self.bot.updates),
                                "max_connections": self.bot.webhook_max_connections}
        if self.bot.webhook_allowed:
            info["allowed_updates"] = self.bot.webhook_allowed
        if self.bot.webhook_last_error:
            info["last_error_date"], info["last_error_message"] = self.bot.webhook_last_error
        return info

    async def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat_for_send(params, "sendMessage")
        raw = params.get("text")
        if not isinstance(raw, str) or not raw.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        text = visible_text(raw, params.get("parse_mode"))
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        markup = check_markup(params.get("reply_markup"))
        msg = self._new_message(chat, True, text, keyboard=_keyboard_of(markup), raw_text=raw,
                                parse_mode=params.get("parse_mode"))
        self._markups[(chat.id, msg.message_id)] = markup
        await self._touch(chat.id)
        return self._message_dict(chat, msg, markup)

    def _editable(self, params: dict[str, Any], method: str) -> tuple[ChatRecord, TranscriptMessage]:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not supported by this emulator")
        chat = self._chat_for_send(params, method)
        mid = params.get("message_id")
        msg = self._msg_index.get((chat.id, mid)) if isinstance(mid, int) else None
        if msg is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not msg.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat, msg

    async def _api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, msg = self._editable(params, "editMessageText")
        raw = params.get("text")
        if not isinstance(raw, str) or not raw.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        text = visible_text(raw, params.get("parse_mode"))
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        markup = check_markup(params.get("reply_markup"))
        keyboard = _keyboard_of(markup)
        if text == msg.text and keyboard == msg.keyboard:
            raise ApiError(400, "Bad Request: message is not modified: specified new message content "
                                "and reply markup are exactly the same as a current content and reply "
                                "markup of the message")
        if keyboard and text != msg.text:
            self._shown.setdefault(chat.id, []).append(msg)
        msg.text, msg.raw_text, msg.keyboard = text, raw, keyboard
        msg.parse_mode = params.get("parse_mode")
        msg.edited += 1
        self._markups[(chat.id, msg.message_id)] = markup
        await self._touch(chat.id)
        return self._message_dict(chat, msg, markup)

    async def _api_editmessagereplymarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, msg = self._editable(params, "editMessageReplyMarkup")
        markup = check_markup(params.get("reply_markup"))
        keyboard = _keyboard_of(markup)
        if keyboard == msg.keyboard:
            raise ApiError(400, "Bad Request: message is not modified: specified new message content "
                                "and reply markup are exactly the same as a current content and reply "
                                "markup of the message")
        msg.keyboard = keyboard
        msg.edited += 1
        self._markups[(chat.id, msg.message_id)] = markup
        await self._touch(chat.id)
        return self._message_dict(chat, msg, markup)

    async def _api_deletemessage(self, params: dict[str, Any]) -> bool:
        chat, msg = self._editable(params, "deleteMessage")
        self._messages[chat.id].remove(msg)
        del self._msg_index[(chat.id, msg.message_id)]
        await self._touch(chat.id)
        return True

    async def _api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        qid = params.get("callback_query_id")
        if qid not in self._callbacks or self._callbacks[qid] is not None:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(text) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._callbacks[qid] = CallbackAnswer(text=text, show_alert=bool(params.get("show_alert")))
        await self._touch(self._callback_chat.get(qid))
        return True

    async def _send_file(self, params: dict[str, Any], method: str, field_name: str) -> dict[str, Any]:
        chat = self._chat_for_send(params, method)
        files = params.get("__files__", {})
        ref = params.get(field_name)
        if field_name in files:
            name, data, mime = files[field_name]
        elif isinstance(ref, str) and ref.startswith("attach://") and ref[9:] in files:
            name, data, mime = files[ref[9:]]
        elif isinstance(ref, str) and ref in self.files:
            name, data, mime = ref, self.files[ref], "application/octet-stream"
        elif isinstance(ref, str) and ref.startswith(("http://", "https://")):
            name, data, mime = ref.rsplit("/", 1)[-1], b"", "application/octet-stream"
        else:
            raise ApiError(400, f"Bad Request: there is no {field_name} in the request")
        if field_name == "photo" and not data and not ref:
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        file_id = f"F{next(self._file_ids):06d}{secrets.token_hex(4)}"
        self.files[file_id] = data
        caption = params.get("caption") or ""
        caption = visible_text(caption, params.get("parse_mode")) if caption else ""
        if len(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        markup = check_markup(params.get("reply_markup"))
        msg = self._new_message(chat, True, caption, keyboard=_keyboard_of(markup), kind=field_name,
                                raw_text=name)
        meta = {"file_id": file_id, "file_unique_id": file_id[:10], "file_size": len(data)}
        if field_name == "photo":
            extra: dict[str, Any] = {"photo": [{**meta, "width": 640, "height": 480}]}
        else:
            extra = {"document": {**meta, "file_name": name, "mime_type": mime}}
        await self._touch(chat.id)
        return self._message_dict(chat, msg, markup, extra)

    async def _api_senddocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_file(params, "sendDocument", "document")

    async def _api_sendphoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_file(params, "sendPhoto", "photo")

    async def _api_sendchataction(self, params: dict[str, Any]) -> bool:
        self._chat_for_send(params, "sendChatAction")
        return True

    async def _api_setmycommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a list of at most 100 BotCommand")
        for c in commands:
            if not isinstance(c, dict) or not c.get("command") or not c.get("description"):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.bot.commands = commands
        return True

    async def _api_getmycommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.bot.commands

    async def _api_deletemycommands(self, params: dict[str, Any]) -> bool:
        self.bot.commands = []
        return True

    async def _api_getchat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return {**chat.as_chat(), "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": {"unlimited_gifts": False, "limited_gifts": False,
                                        "unique_gifts": False, "premium_subscription": False,
                                        "gifts_from_channels": False}}

    async def _api_close(self, params: dict[str, Any]) -> bool:
        self.bot.closed_at = time.time()
        return True

    async def _api_logout(self, params: dict[str, Any]) -> bool:
        return True

    # -------------------------------------------------------------- webhook delivery

    async def _webhook_loop(self) -> None:
        """Deliver queued updates to the webhook in order, retrying failed ones (like Telegram)."""
        self._session = self._session or ClientSession(timeout=ClientTimeout(total=30))
        inflight: set[asyncio.Task[bool]] = set()
        while True:
            if not self.bot.webhook_url or not self.bot.updates:
                self._webhook_wakeup.clear()
                if inflight:
                    await asyncio.wait(inflight, timeout=0.5)
                    inflight = {t for t in inflight if not t.done()}
                    continue
                await self._webhook_wakeup.wait()
                continue
            # deliver the pending updates not yet in flight, up to max_connections at once
            sent_ids = {getattr(t, "update_id") for t in inflight}
            for upd in list(self.bot.updates):
                if len(inflight) >= self.bot.webhook_max_connections:
                    break
                if upd["update_id"] in sent_ids:
                    continue
                if self.bot.webhook_allowed and _update_type(upd) not in self.bot.webhook_allowed:
                    self._drop_update(upd["update_id"])
                    continue
                task = asyncio.create_task(self._post_update(upd))
                task.update_id = upd["update_id"]  # type: ignore[attr-defined]
                inflight.add(task)
            if inflight:
                done, _ = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                inflight -= done
                if any(not t.result() for t in done):
                    await asyncio.sleep(0.2)  # back off before retrying a failed delivery
            else:
                self._webhook_wakeup.clear()
                await self._webhook_wakeup.wait()

    def _drop_update(self, update_id: int) -> None:
        for i, u in enumerate(self.bot.updates):
            if u["update_id"] == update_id:
                del self.bot.updates[i]
                return

    async def _post_update(self, upd: dict[str, Any]) -> bool:
        assert self._session is not None
        headers = {"Content-Type": "application/json"}
        if self.bot.webhook_secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.bot.webhook_secret
        self.stats["webhook_posts"] += 1
        try:
            async with self._session.post(self.bot.webhook_url, data=json.dumps(upd), headers=headers) as resp:
                await resp.read()
                ok = 200 <= resp.status < 300
                if not ok:
                    self.bot.webhook_last_error = (int(time.time()), f"Wrong response from the webhook: {resp.status}")
        except Exception as exc:  # connection refused, timeouts: Telegram retries later
            self.bot.webhook_last_error = (int(time.time()), f"Connection error: {exc.__class__.__name__}")
            ok = False
        if ok:
            self._drop_update(upd["update_id"])
        return ok

    # -------------------------------------------------------------- citizen side

    def _enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        upd = {"update_id": self.bot.next_update_id, kind: payload}
        self.bot.next_update_id += 1
        self.bot.updates.append(upd)
        self._new_update.set()
        self._webhook_wakeup.set()
        return upd

    def _chat(self, chat_id: int, type_: str, **kw: Any) -> ChatRecord:
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = ChatRecord(id=chat_id, type=type_, **kw)
            self._messages[chat_id] = []
        return chat

    def user(self, user_id: int, first_name: str = "", lang: str = "vi",
             username: str | None = None) -> "SimUser":
        """A simulated citizen in a private chat with the bot (chat id = user id, as in Telegram)."""
        chat = self._chat(user_id, "private", first_name=first_name or f"User{user_id}",
                          username=username, language_code=lang)
        return SimUser(self, user_id, chat)

    def group(self, chat_id: int, title: str = "Nhóm thôn") -> "SimGroup":
        """A group chat the bot was added to (negative id, as in Telegram)."""
        return SimGroup(self, self._chat(chat_id, "group", title=title))

    async def channel_post(self, chat_id: int, text: str, title: str = "Kênh") -> dict[str, Any]:
        """A post in a channel where the bot is an administrator."""
        chat = self._chat(chat_id, "channel", title=title)
        msg = self._new_message(chat, False, text)
        upd = self._enqueue("channel_post", {"message_id": msg.message_id, "chat": chat.as_chat(),
                                             "date": msg.date, "text": text})
        await self._touch(chat.id)
        return upd

    def block(self, chat_id: int, blocked: bool = True) -> None:
        """Mark a chat as having blocked the bot: every send then gets 403."""
        self.chats[chat_id].blocked = blocked

    def messages(self, chat_id: int) -> list[TranscriptMessage]:
        """The chat's transcript, oldest first, with edits applied."""
        return list(self._messages.get(chat_id, []))

    def bot_messages(self, chat_id: int) -> list[TranscriptMessage]:
        return [m for m in self._messages.get(chat_id, []) if m.from_bot]

    def url_buttons(self, chat_id: int, message_id: int) -> list[tuple[str, str]]:
        """(label, url) of a bot message's link buttons: what a citizen opens by tapping, e.g. an
        invite's deep link ``https://t.me/<bot>?start=<token>`` (the transcript keeps only
        callback buttons' data)."""
        markup = self._markups.get((chat_id, message_id)) or {}
        return [(str(b.get("text", "")), str(b["url"])) for row in markup.get("inline_keyboard", [])
                for b in row if isinstance(b, dict) and b.get("url")]

    def web_app_buttons(self, chat_id: int, message_id: int) -> list[tuple[str, str]]:
        """(label, url) of a bot message's Mini App buttons (``web_app``)."""
        markup = self._markups.get((chat_id, message_id)) or {}
        return [(str(b.get("text", "")), str(b["web_app"]["url"])) for row in markup.get("inline_keyboard", [])
                for b in row if isinstance(b, dict) and isinstance(b.get("web_app"), dict)]

    def mini_app_url(self, user: "SimUser", url: str, auth_date: int | None = None) -> str:
        """The URL a Telegram client opens for a Mini App button: ``url`` with the signed
        ``initData`` of ``user`` in the fragment (``tgWebAppData``), as Telegram's clients do."""
        fields = {"user": json.dumps(user.user_dict, separators=(",", ":"), ensure_ascii=False),
                  "chat_instance": str(user.chat_id * 7 + 3), "chat_type": "private",
                  "auth_date": str(int(time.time()) if auth_date is None else auth_date),
                  "query_id": f"AA{user.user_id:x}{self._next_query:x}"}
        self._next_query += 1
        init = sign_init_data(self.token, fields)
        return f"{url}#tgWebAppData={quote(init, safe='')}&tgWebAppVersion=7.10&tgWebAppPlatform=android"

    def callback_answer(self, query_id: str) -> CallbackAnswer | None:
        return self._callbacks.get(query_id)

    @property
    def pending_updates(self) -> int:
        return len(self.bot.updates)

    def pending_update_ids(self) -> list[int]:
        """Ids of the updates Telegram still holds: not yet confirmed by the bot (``getUpdates``
        with a higher offset) or, with a webhook, not yet answered 2xx."""
        return [u["update_id"] for u in self.bot.updates]

    def restart_update_ids(self, first: int = 1) -> None:
        """The next update gets id ``first``, as after a week without updates, when Telegram picks
        the next id at random: an id the bot saw long ago can come back as a new update."""
        self.bot.next_update_id = first

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0,
                         chat_id: int | None = None) -> None:
        """Wait until ``predicate()`` holds (re-checked on every visible change); TimeoutError if not.

        With ``chat_id`` only changes in that chat re-check the predicate (cheap at scale).
        """
        if predicate():
            return
        if chat_id is None:
            async def _wait() -> None:
                self._global_waiters += 1
                try:
                    async with self._changed:
                        await self._changed.wait_for(predicate)
                finally:
                    self._global_waiters -= 1
            await asyncio.wait_for(_wait(), timeout)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise asyncio.TimeoutError(f"chat {chat_id}: condition not met within {timeout}s")
            fut: asyncio.Future[None] = loop.create_future()
            self._chat_waiters.setdefault(chat_id, []).append(fut)
            try:
                await asyncio.wait_for(fut, remaining)
            except asyncio.TimeoutError:
                pass

    async def wait_drained(self, timeout: float = 10.0) -> None:
        """Wait until the bot has fetched (or been delivered) every update."""
        deadline = time.monotonic() + timeout
        while self.bot.updates:
            if time.monotonic() > deadline:
                raise asyncio.TimeoutError(f"{len(self.bot.updates)} updates still pending")
            await asyncio.sleep(0.01)

    # -------------------------------------------------------------- staff rehearsal page

    async def _handle_index(self, request: web.Request) -> web.Response:
        rows: list[str] = []
        for chat in sorted(self.chats.values(), key=lambda c: c.id):
            lines = []
            for m in self._messages.get(chat.id, [])[-40:]:
                who = "🤖" if m.from_bot else "🙂"
                buttons = "".join(
                    f'<form method="post" action="/_ui/press" style="display:inline">'
                    f'<input type="hidden" name="chat_id" value="{chat.id}">'
                    f'<input type="hidden" name="message_id" value="{m.message_id}">'
                    f'<input type="hidden" name="data" value="{html.escape(d or "", quote=True)}">'
                    f'<button>{html.escape(t)}</button></form>'
                    for row in m.keyboard for t, d in row)
                edited = " <small>(đã sửa)</small>" if m.edited else ""
                lines.append(f'<div class="{"bot" if m.from_bot else "me"}">{who} '
                             f'<pre>{html.escape(m.text)}</pre>{edited}<div>{buttons}</div></div>')
            form = ""
            if chat.type == "private":
                form = (f'<form method="post" action="/_ui/send"><input type="hidden" name="chat_id" '
                        f'value="{chat.id}"><input name="text" size="40" placeholder="Nhập tin nhắn / type">'
                        f'<button>Gửi</button></form>')
            blocked = " — <b>đã chặn bot / blocked</b>" if chat.blocked else ""
            rows.append(f'<section><h3>{html.escape(chat.first_name or chat.title or "")} '
                        f'({chat.type} {chat.id}){blocked}</h3>{"".join(lines)}{form}</section>')
        new_form = ('<form method="post" action="/_ui/send">Mã người dùng / user id '
                    '<input name="chat_id" size="10"> <input name="text" value="/start" size="30">'
                    '<button>Bắt đầu / start</button></form>')
        page = f"""<!doctype html><html lang="vi"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="3"><title>hailong — Telegram emulator</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:auto}}section{{border:1px solid #ccc;
margin:1em 0;padding:.5em}}pre{{white-space:pre-wrap;display:inline}}.bot{{background:#eef}}
.me{{background:#efe;text-align:right}}button{{margin:2px}}</style></head><body>
<h1>Telegram emulator — @{html.escape(self.bot.username)}</h1>
<p>Bot API: <code>{html.escape(self.base_url)}&lt;token&gt;</code> · cập nhật chờ / pending updates:
{len(self.bot.updates)} · webhook: {html.escape(self.bot.webhook_url or "—")}</p>{new_form}
{"".join(rows) or "<p>Chưa có cuộc trò chuyện nào / no chats yet.</p>"}</body></html>"""
        return web.Response(text=page, content_type="text/html")

    async def _handle_ui_send(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            chat_id = int(str(form.get("chat_id", "")).strip())
        except ValueError:
            return web.Response(status=400, text="chat_id phải là số / chat_id must be a number")
        text = str(form.get("text", "")).strip()
        if text:
            user = self.user(chat_id) if chat_id not in self.chats else SimUser(self, chat_id, self.chats[chat_id])
            await user.send_text(text)
        raise web.HTTPSeeOther("/")

    async def _handle_ui_press(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            chat_id = int(str(form.get("chat_id")))
            message_id = int(str(form.get("message_id")))
        except ValueError:
            return web.Response(status=400, text="bad form")
        chat = self.chats.get(chat_id)
        if chat is not None:
            await SimUser(self, chat_id, chat).press(message_id, str(form.get("data", "")))
        raise web.HTTPSeeOther("/")

    async def _handle_ui_json(self, request: web.Request) -> web.Response:
        out = {str(cid): [{"message_id": m.message_id, "from_bot": m.from_bot, "text": m.text,
                           "keyboard": m.keyboard, "edited": m.edited} for m in msgs]
               for cid, msgs in self._messages.items()}
        return web.json_response(out)


def _update_type(update: dict[str, Any]) -> str:
    return next((k for k in update if k != "update_id"), "")


class SimUser:
    """A simulated citizen: every action becomes a real update the bot fetches or receives."""

    def __init__(self, emu: TelegramEmulator, user_id: int, chat: ChatRecord) -> None:
        self.emu = emu
        self.user_id = user_id
        self.chat = chat
        self.chat_id = chat.id
        self._mark = len(emu.shown(chat.id))

    @property
    def user_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.user_id, "is_bot": False,
                             "first_name": self.chat.first_name or str(self.user_id)}
        if self.chat.language_code:
            d["language_code"] = self.chat.language_code
        if self.chat.username:
            d["username"] = self.chat.username
        return d

    def _remember(self) -> None:
        """Everything the bot sent before this action is "old" for :meth:`wait_for_reply`."""
        self._mark = len(self.emu.shown(self.chat_id))

    async def _message(self, extra: dict[str, Any], text_for_transcript: str, kind: str = "text") -> dict[str, Any]:
        self._remember()
        msg = self.emu._new_message(self.chat, False, text_for_transcript, kind=kind)
        payload = {"message_id": msg.message_id, "from": self.user_dict, "chat": self.chat.as_chat(),
                   "date": msg.date, **extra}
        upd = self.emu._enqueue("message", payload)
        await self.emu._touch(self.chat_id)
        return upd

    async def send_text(self, text: str) -> dict[str, Any]:
        """Type a message (commands get their ``bot_command`` entity, as Telegram adds it)."""
        extra: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            cmd_len = len(text.split(maxsplit=1)[0])
            extra["entities"] = [{"type": "bot_command", "offset": 0,
                                  "length": len(text[:cmd_len].encode("utf-16-le")) // 2}]
        return await self._message(extra, text)

    async def start(self, payload: str | None = None) -> dict[str, Any]:
        """Press Start, optionally through a deep link ``t.me/<bot>?start=<payload>``."""
        return await self.send_text(f"/start {payload}" if payload else "/start")

    async def press(self, message_id: int, callback_data: str) -> str:
        """Press an inline button carrying ``callback_data`` (any data: forging is allowed)."""
        self._remember()
        qid = f"{self.user_id}{next(self.emu._cb_ids):08d}"
        self.emu._callbacks[qid] = None
        self.emu._callback_chat[qid] = self.chat_id
        msg = self.emu._msg_index.get((self.chat_id, message_id))
        message = None
        if msg is not None:
            message = self.emu._message_dict(self.chat, msg, self.emu._markups.get((self.chat_id, message_id)))
        payload: dict[str, Any] = {"id": qid, "from": self.user_dict,
                                   "chat_instance": str(self.chat_id * 7 + 3), "data": callback_data}
        if message is not None:
            payload["message"] = message
        self.emu._enqueue("callback_query", payload)
        await self.emu._touch(self.chat_id)
        return qid

    def last_keyboard_message(self) -> TranscriptMessage | None:
        return next((m for m in reversed(self.emu.bot_messages(self.chat_id)) if m.keyboard), None)

    async def press_button(self, label_or_index: str | int) -> str:
        """Press a button of the latest bot message that has a keyboard: by label or by index."""
        msg = self.last_keyboard_message()
        if msg is None:
            raise LookupError("no message with a keyboard in this chat")
        buttons = msg.buttons
        if isinstance(label_or_index, int):
            text, data = buttons[label_or_index]
        else:
            match = [b for b in buttons if b[0] == label_or_index] or \
                    [b for b in buttons if label_or_index.casefold() in b[0].casefold()]
            if not match:
                raise LookupError(f"no button {label_or_index!r} among {[b[0] for b in buttons]}")
            text, data = match[0]
        if data is None:
            raise LookupError(f"button {text!r} has no callback data")
        return await self.press(msg.message_id, data)

    async def edit_text(self, message_id: int, text: str) -> dict[str, Any]:
        """Edit one of the citizen's own earlier messages (an ``edited_message`` update)."""
        self._remember()
        msg = self.emu._msg_index.get((self.chat_id, message_id))
        if msg is None or msg.from_bot:
            raise LookupError("the citizen can only edit their own messages")
        msg.text = text
        msg.edited += 1
        upd = self.emu._enqueue("edited_message", {
            "message_id": message_id, "from": self.user_dict, "chat": self.chat.as_chat(),
            "date": msg.date, "edit_date": int(time.time()), "text": text})
        await self.emu._touch(self.chat_id)
        return upd

    async def send_sticker(self, emoji: str = "👍") -> dict[str, Any]:
        return await self._message({"sticker": {
            "file_id": "STK1", "file_unique_id": "STK1u", "type": "regular", "width": 512, "height": 512,
            "is_animated": False, "is_video": False, "emoji": emoji}}, emoji, kind="sticker")

    async def send_photo(self, caption: str | None = None) -> dict[str, Any]:
        extra: dict[str, Any] = {"photo": [{"file_id": "PH1", "file_unique_id": "PH1u", "width": 90, "height": 90}]}
        if caption:
            extra["caption"] = caption
        return await self._message(extra, caption or "[ảnh]", kind="photo")

    async def send_voice(self, duration: int = 3) -> dict[str, Any]:
        return await self._message({"voice": {"file_id": "VO1", "file_unique_id": "VO1u",
                                              "duration": duration}}, "[voice]", kind="voice")

    async def send_document(self, file_name: str = "giay.pdf") -> dict[str, Any]:
        return await self._message({"document": {"file_id": "DOC1", "file_unique_id": "DOC1u",
                                                 "file_name": file_name}}, f"[{file_name}]", kind="document")

    async def send_location(self, lat: float = 22.39, lon: float = 103.46) -> dict[str, Any]:
        return await self._message({"location": {"latitude": lat, "longitude": lon}}, "[location]",
                                   kind="location")

    # ---- waiting

    def new_bot_messages(self) -> list[TranscriptMessage]:
        return self.emu.shown(self.chat_id)[self._mark:]

    async def wait_for_reply(self, timeout: float = 10.0) -> TranscriptMessage:
        """The bot's first new message since this citizen's last action (waits for it); a message
        edited into a new question counts (``TelegramEmulator.shown``)."""
        await self.emu.wait_until(lambda: len(self.emu.shown(self.chat_id)) > self._mark, timeout,
                                  self.chat_id)
        return self.emu.shown(self.chat_id)[self._mark]

    async def wait_for_replies(self, n: int, timeout: float = 10.0) -> list[TranscriptMessage]:
        await self.emu.wait_until(lambda: len(self.emu.shown(self.chat_id)) >= self._mark + n,
                                  timeout, self.chat_id)
        return self.emu.shown(self.chat_id)[self._mark:self._mark + n]

    async def wait_for_keyboard(self, timeout: float = 10.0) -> TranscriptMessage:
        """The first new bot message with a keyboard since the last action (e.g. the next question,
        sent or edited in)."""
        def found() -> bool:
            return any(m.keyboard for m in self.emu.shown(self.chat_id)[self._mark:])
        await self.emu.wait_until(found, timeout, self.chat_id)
        return next(m for m in self.emu.shown(self.chat_id)[self._mark:] if m.keyboard)

    async def wait_callback_answer(self, query_id: str, timeout: float = 10.0) -> CallbackAnswer:
        """The bot's answerCallbackQuery for a press (the toast the citizen sees)."""
        await self.emu.wait_until(lambda: self.emu._callbacks.get(query_id) is not None, timeout,
                                  self.chat_id)
        answer = self.emu._callbacks[query_id]
        assert answer is not None
        return answer

    def transcript(self) -> list[TranscriptMessage]:
        return self.emu.messages(self.chat_id)


class SimGroup:
    """A group chat with the bot in it; members post through :meth:`send_text`."""

    def __init__(self, emu: TelegramEmulator, chat: ChatRecord) -> None:
        self.emu = emu
        self.chat = chat
        self.chat_id = chat.id

    async def send_text(self, from_user_id: int, text: str, first_name: str = "") -> dict[str, Any]:
        msg = self.emu._new_message(self.chat, False, text)
        payload: dict[str, Any] = {
            "message_id": msg.message_id, "chat": self.chat.as_chat(), "date": msg.date, "text": text,
            "from": {"id": from_user_id, "is_bot": False, "first_name": first_name or f"User{from_user_id}"}}
        if text.startswith("/"):
            payload["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        upd = self.emu._enqueue("message", payload)
        await self.emu._touch(self.chat_id)
        return upd


async def serve_forever(host: str, port: int, token: str, username: str, limits: FloodLimits,
                        ready: Callable[[TelegramEmulator], Awaitable[None]] | None = None) -> None:
    emu = TelegramEmulator(token, username=username, host=host, port=port, limits=limits)
    await emu.start()
    if ready:
        await ready(emu)
    print(f"Telegram emulator: {emu.base_url}  (token {emu.token})  UI: http://{host}:{emu.port}/", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await emu.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m demo.emulators.telegram``: run the emulator for demos and staff rehearsals."""
    p = argparse.ArgumentParser(description="Local Telegram Bot API emulator (hailong).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--token", default=DEFAULT_TOKEN)
    p.add_argument("--username", default="hailong_test_bot")
    p.add_argument("--limits", action="store_true", help="answer 429 like Telegram's flood control")
    p.add_argument("--global-rate", type=float, default=30.0)
    p.add_argument("--chat-rate", type=float, default=1.0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    limits = FloodLimits(enabled=args.limits, global_per_s=args.global_rate, per_chat_per_s=args.chat_rate)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(args.host, args.port, args.token, args.username, limits))


if __name__ == "__main__":
    main()
