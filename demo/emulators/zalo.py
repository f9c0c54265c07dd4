"""A local **Zalo Bot API emulator**: the real HTTP API on 127.0.0.1, plus citizens you can script.

Zalo's servers cannot be reached from our test machines, and staff rehearsing a round need a
phone-free way to see the bot, so this module speaks the same HTTP API as
``https://bot-api.zaloplatforms.com`` (see ``bot/zalo/client.py`` for the API as documented and
the choices made where the documentation is silent). Point any client at ``emulator.base_url``.

Behaviour, method by method:

* ``getMe`` → the bot's id and name.
* ``getUpdates {"timeout"}`` → long poll: **one** event, consumed when returned (no offset);
  after ``timeout`` seconds without an event, ``{"ok": false, "error_code": 408}``. Several
  concurrent polls each get a different event. While a webhook is set: 409.
* ``setWebhook {"url", "secret_token"}`` → from then on every event is POSTed to ``url`` with the
  header ``X-Bot-Api-Secret-Token: <secret>``, in order per chat, up to ``webhook_concurrency``
  chats at once; a non-2xx answer or a connection error is retried (``webhook_retries`` times,
  backing off), then recorded as failed in ``webhook_log``. ``deleteWebhook``,
  ``getWebhookInfo`` as documented.
* ``sendMessage {"chat_id", "text"}``: text must be 1–2000 characters (UTF-16 units) else 400;
  a chat that never wrote to the bot, or whose user blocked it, gets 403. ``sendPhoto`` (absolute
  http(s) URL, caption ≤ 2000), ``sendChatAction`` (``typing`` / ``upload_photo``).
* Flood control, off by default: ``global_rate`` / ``per_chat_rate`` (messages per second, token
  buckets with bursts ``global_burst`` / ``per_chat_burst``); a send over the limit is answered
  ``429`` with ``parameters.retry_after`` and an HTTP ``Retry-After`` header. ``flood(n)`` makes
  the next ``n`` sends fail with 429 whatever the rate.

Citizens (Python API, for tests, the demo and benchmarks)::

    async with ZaloEmulator(token="t") as emu:
        lan = emu.user("u-1001", "Lò Thị Lan")
        ev = lan.send_text("KS 4F7K2Q")          # returns the event (message_id inside)
        first = await lan.wait_for_reply()      # next unread text the bot sent to this chat
        lan.redeliver(ev)                       # the same event again (same message id)
        lan.send_image(); lan.send_sticker(); lan.send_unsupported()
        lan.transcript                          # both directions, in order

:mod:`demo.emulators.zalo_script` (``scripted_answer`` / ``next_prompt`` / ``answer_until_done``)
plays a cooperative citizen who answers every Zalo-rendered question by number (used by the
integration tests and the benchmark). The same is reachable over HTTP for another process (``/_emulator/send``, ``/_emulator/wait``,
``/_emulator/transcript``), and ``python -m demo.emulators.zalo --port N --token T`` runs it alone.

Why one module of ~600 lines: :class:`ZaloEmulator` is one HTTP API whose handlers share one
state (chats, the update queue, the webhook, rate buckets) and :class:`EmulatedUser` acts on that
state directly; the scripted citizen (:mod:`demo.emulators.zalo_script`) and the token bucket
(:mod:`demo.emulators.token_bucket`) live apart.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import aiohttp
from aiohttp import web

from bot.zalo.client import (
    EVENT_IMAGE, EVENT_STICKER, EVENT_TEXT, EVENT_UNSUPPORTED, MAX_TEXT, SECRET_HEADER, text_length,
)
from demo.emulators.token_bucket import TokenBucket

Direction = Literal["in", "out"]


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One message in a chat: ``in`` = citizen → bot, ``out`` = bot → citizen."""

    direction: Direction
    kind: str            # text, image, sticker, unsupported, photo, action
    text: str
    message_id: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    message_id: str
    status: int          # HTTP status of the last attempt, 0 = connection error
    attempts: int
    delivered: bool


class EmulatedUser:
    """A citizen on Zalo. Sending methods enqueue an event and return it (a JSON-able dict)."""

    def __init__(self, emu: "ZaloEmulator", user_id: str, display_name: str) -> None:
        self._emu = emu
        self.user_id = user_id
        self.chat_id = user_id          # private chats: the chat id is the user's id
        self.display_name = display_name
        self.blocked = False
        self._read = 0

    # -- citizen → bot
    def _event(self, event_name: str, kind: str, shown: str, **extra: Any) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "from": {"id": self.user_id, "display_name": self.display_name, "is_bot": False},
            "chat": {"id": self.chat_id, "chat_type": "PRIVATE"},
            "message_id": secrets.token_hex(16),
            "date": _now_ms(),
        }
        msg.update(extra)
        event = {"event_name": event_name, "message": msg}
        self._emu._record(self.chat_id, TranscriptEntry("in", kind, shown, msg["message_id"], msg["date"]))
        self._emu._push(event)
        return event

    def send_text(self, text: str) -> dict[str, Any]:
        return self._event(EVENT_TEXT, "text", text, text=text)

    def send_image(self, photo_url: str = "https://example.invalid/photo.jpg",
                   caption: str | None = None) -> dict[str, Any]:
        extra: dict[str, Any] = {"photo_url": photo_url}
        if caption is not None:
            extra["caption"] = caption
        return self._event(EVENT_IMAGE, "image", caption or "", **extra)

    def send_sticker(self, sticker: str = "sticker-smile") -> dict[str, Any]:
        return self._event(EVENT_STICKER, "sticker", "", sticker=sticker)

    def send_unsupported(self) -> dict[str, Any]:
        return self._event(EVENT_UNSUPPORTED, "unsupported", "")

    def redeliver(self, event: dict[str, Any]) -> None:
        """Deliver ``event`` again, unchanged (same message id), as a platform retry would."""
        self._emu._push(json.loads(json.dumps(event)))

    # -- bot → citizen
    @property
    def received(self) -> list[str]:
        """Every text (or photo caption) the bot sent to this chat, in order."""
        return [e.text for e in self._emu.transcript(self.chat_id) if e.direction == "out" and e.kind != "action"]

    def unread(self) -> list[str]:
        """Bot messages not yet returned by ``wait_for_reply``/``unread``; marks them read."""
        got = self.received
        new, self._read = got[self._read:], len(got)
        return new

    async def wait_for_reply(self, timeout: float = 5.0) -> str:
        """The next unread bot message, waiting up to ``timeout`` seconds (TimeoutError)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.received
            if len(got) > self._read:
                self._read += 1
                return got[self._read - 1]
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no reply to {self.chat_id} within {timeout}s")
            fut = self._emu._reply_waiter(self.chat_id)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(fut, left)

    async def wait_quiet(self, quiet: float = 0.15, timeout: float = 5.0) -> list[str]:
        """All unread bot messages, waiting for at least one and then until ``quiet`` s of silence."""
        first = await self.wait_for_reply(timeout)
        out = [first]
        while True:
            try:
                out.append(await self.wait_for_reply(quiet))
            except TimeoutError:
                return out

    @property
    def transcript(self) -> list[TranscriptEntry]:
        return self._emu.transcript(self.chat_id)

    def block(self) -> None:
        """The citizen blocks the bot: sends to this chat now answer 403."""
        self.blocked = True

    def unblock(self) -> None:
        self.blocked = False


class ZaloEmulator:
    """The emulator server. ``await start()`` / ``await stop()`` or ``async with``."""

    def __init__(
        self,
        token: str = "zalo-test-token",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_id: str = "9100000000000000001",
        bot_name: str = "Khảo sát hài lòng Lai Châu",
        global_rate: float | None = None,
        global_burst: float | None = None,
        per_chat_rate: float | None = None,
        per_chat_burst: float = 3.0,
        webhook_concurrency: int = 64,
        webhook_retries: int = 3,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.global_rate = global_rate
        self.global_burst = global_burst
        self.per_chat_rate = per_chat_rate
        self.per_chat_burst = per_chat_burst
        self.webhook_concurrency = webhook_concurrency
        self.webhook_retries = webhook_retries
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self._webhook_updated: int | None = None
        self.webhook_log: list[WebhookDelivery] = []
        self.stats: collections.Counter[str] = collections.Counter()
        self._users: dict[str, EmulatedUser] = {}
        self._transcripts: dict[str, list[TranscriptEntry]] = collections.defaultdict(list)
        self._waiters: dict[str, list[asyncio.Future[None]]] = collections.defaultdict(list)
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._pollers: collections.deque[asyncio.Future[dict[str, Any]]] = collections.deque()
        self._global_bucket: TokenBucket | None = None
        self._chat_buckets: dict[str, TokenBucket] = {}
        self._flood_left = 0
        self._flood_retry_after = 1.0
        self._wh_queues: dict[str, collections.deque[dict[str, Any]]] = {}
        self._wh_tasks: set[asyncio.Task[None]] = set()
        self._wh_sem: asyncio.Semaphore | None = None
        self._wh_session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> "ZaloEmulator":
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_post("/_emulator/send", self._ctl_send)
        app.router.add_post("/_emulator/redeliver", self._ctl_redeliver)
        app.router.add_post("/_emulator/wait", self._ctl_wait)
        app.router.add_get("/_emulator/transcript", self._ctl_transcript)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        self._wh_sem = asyncio.Semaphore(self.webhook_concurrency)
        return self

    async def stop(self) -> None:
        for fut in self._pollers:
            if not fut.done():
                fut.cancel()
        for task in list(self._wh_tasks):
            task.cancel()
        for task in list(self._wh_tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._wh_session is not None:
            await self._wh_session.close()
            self._wh_session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "ZaloEmulator":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------ citizens
    def user(self, user_id: str, display_name: str = "") -> EmulatedUser:
        """The citizen ``user_id`` (created on first use)."""
        u = self._users.get(user_id)
        if u is None:
            u = self._users[user_id] = EmulatedUser(self, user_id, display_name or f"Người dùng {user_id}")
        return u

    def transcript(self, chat_id: str) -> list[TranscriptEntry]:
        return list(self._transcripts.get(chat_id, ()))

    def flood(self, n: int, retry_after: float = 1.0) -> None:
        """The next ``n`` sends are answered 429 with ``retry_after``."""
        self._flood_left, self._flood_retry_after = n, retry_after

    @property
    def pending_events(self) -> int:
        return len(self._queue) + sum(len(q) for q in self._wh_queues.values())

    def _reply_waiter(self, chat_id: str) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[chat_id].append(fut)
        return fut

    def _record(self, chat_id: str, entry: TranscriptEntry) -> None:
        self._transcripts[chat_id].append(entry)
        if entry.direction == "out":
            waiters = self._waiters.pop(chat_id, None)
            for fut in waiters or ():
                if not fut.done():
                    fut.set_result(None)

    # ------------------------------------------------------------ event delivery
    def _push(self, event: dict[str, Any]) -> None:
        self.stats["events"] += 1
        if self.webhook_url:
            chat = str(event["message"]["chat"]["id"])
            q = self._wh_queues.get(chat)
            if q is None:
                q = self._wh_queues[chat] = collections.deque()
                q.append(event)
                task = asyncio.get_running_loop().create_task(self._deliver_chat(chat))
                self._wh_tasks.add(task)
                task.add_done_callback(self._wh_tasks.discard)
            else:
                q.append(event)
            return
        while self._pollers:
            fut = self._pollers.popleft()
            if not fut.done():
                fut.set_result(event)
                return
        self._queue.append(event)

    async def _deliver_chat(self, chat: str) -> None:
        """Deliver one chat's webhook events in order (one task per chat with pending events)."""
        q = self._wh_queues[chat]
        try:
            while q:
                event = q[0]
                assert self._wh_sem is not None
                async with self._wh_sem:
                    await self._deliver_one(event)
                q.popleft()
        finally:
            if not q:
                self._wh_queues.pop(chat, None)

    async def _deliver_one(self, event: dict[str, Any]) -> None:
        if self._wh_session is None or self._wh_session.closed:
            self._wh_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.webhook_concurrency))
        url, secret = self.webhook_url, self.webhook_secret or ""
        body = json.dumps(event, ensure_ascii=False).encode()
        status, attempts = 0, 0
        for attempt in range(self.webhook_retries + 1):
            attempts = attempt + 1
            if url is None:
                break
            try:
                async with self._wh_session.post(
                    url, data=body, timeout=aiohttp.ClientTimeout(total=30),
                    headers={"Content-Type": "application/json", SECRET_HEADER: secret},
                ) as resp:
                    status = resp.status
                    await resp.read()
            except (aiohttp.ClientError, asyncio.TimeoutError):
                status = 0
            if 200 <= status < 300:
                break
            self.stats["webhook_retries"] += 1
            await asyncio.sleep(min(0.05 * 2 ** attempt, 1.0))
        ok = 200 <= status < 300
        self.stats["webhook_delivered" if ok else "webhook_failed"] += 1
        self.webhook_log.append(WebhookDelivery(str(event["message"]["message_id"]), status, attempts, ok))

    # ------------------------------------------------------------ HTTP API
    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result},
                                 dumps=lambda o: json.dumps(o, ensure_ascii=False))

    @staticmethod
    def _err(code: int, description: str, *, http: int | None = None,
             retry_after: float | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        headers = {}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
            headers["Retry-After"] = str(int(math.ceil(retry_after)))
        return web.json_response(body, status=http or code, headers=headers)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                raw = await request.read()
                if raw.strip():
                    data = json.loads(raw)
                    if not isinstance(data, dict):
                        raise ValueError("body must be a JSON object")
                    params.update(data)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        return params

    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._err(401, "Unauthorized")
        method = request.match_info["method"]
        self.stats[method] += 1
        try:
            params = await self._params(request)
        except ValueError:
            return self._err(400, "Bad Request: invalid JSON body")
        handler = {
            "getMe": self._get_me, "getUpdates": self._get_updates, "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook, "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message, "sendPhoto": self._send_photo,
            "sendChatAction": self._send_chat_action,
        }.get(method)
        if handler is None:
            return self._err(404, "Not Found: method not found")
        return await handler(params)

    async def _get_me(self, p: dict[str, Any]) -> web.Response:
        return self._ok({"id": self.bot_id, "account_name": self.bot_name,
                         "account_type": "BASIC", "can_join_groups": False})

    async def _get_updates(self, p: dict[str, Any]) -> web.Response:
        if self.webhook_url:
            return self._err(409, "Conflict: can't use getUpdates while a webhook is active")
        try:
            timeout = min(max(float(p.get("timeout", 30)), 0.0), 60.0)
        except (TypeError, ValueError):
            return self._err(400, "Bad Request: timeout must be a number")
        if self._queue:
            return self._ok(self._queue.popleft())
        if timeout == 0:
            return self._err(408, "Request timeout", http=200)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pollers.append(fut)
        try:
            event = await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            if fut.done() and not fut.cancelled():
                return self._ok(fut.result())
            fut.cancel()
            return self._err(408, "Request timeout", http=200)
        except asyncio.CancelledError:
            # The poller hung up: give the event back if it was already handed over.
            if fut.done() and not fut.cancelled():
                self._queue.appendleft(fut.result())
            else:
                fut.cancel()
            raise
        return self._ok(event)

    async def _set_webhook(self, p: dict[str, Any]) -> web.Response:
        url, secret = str(p.get("url") or ""), str(p.get("secret_token") or "")
        if not url.startswith(("http://", "https://")):
            return self._err(400, "Bad Request: url must be an http(s) URL")
        if not 8 <= len(secret) <= 256:
            return self._err(400, "Bad Request: secret_token must be 8 to 256 characters")
        self.webhook_url, self.webhook_secret, self._webhook_updated = url, secret, _now_ms()
        while self._queue:              # events waiting for a poll now go to the webhook
            self._push(self._queue.popleft())
            self.stats["events"] -= 1
        return self._ok({"url": url, "updated_at": self._webhook_updated})

    async def _delete_webhook(self, p: dict[str, Any]) -> web.Response:
        self.webhook_url = self.webhook_secret = None
        self._webhook_updated = _now_ms()
        return self._ok({"url": "", "updated_at": self._webhook_updated})

    async def _get_webhook_info(self, p: dict[str, Any]) -> web.Response:
        return self._ok({"url": self.webhook_url or "", "updated_at": self._webhook_updated,
                         "has_custom_certificate": False})

    def _check_send(self, chat_id: str) -> web.Response | None:
        user = self._users.get(chat_id)
        if not chat_id:
            return self._err(400, "Bad Request: chat_id is required")
        if user is None or not self._transcripts.get(chat_id):
            return self._err(403, "Forbidden: the user has not messaged this bot")
        if user.blocked:
            return self._err(403, "Forbidden: the user has blocked this bot")
        if self._flood_left > 0:
            self._flood_left -= 1
            self.stats["429"] += 1
            return self._err(429, "Too Many Requests", retry_after=self._flood_retry_after)
        wait = 0.0
        if self.global_rate:
            if self._global_bucket is None:
                self._global_bucket = TokenBucket(self.global_rate, self.global_burst or max(1.0, self.global_rate))
            wait = self._global_bucket.take()
        if not wait and self.per_chat_rate:
            b = self._chat_buckets.get(chat_id)
            if b is None:
                b = self._chat_buckets[chat_id] = TokenBucket(self.per_chat_rate, self.per_chat_burst)
            wait = b.take()
            if wait and self._global_bucket is not None:
                self._global_bucket.tokens = min(self._global_bucket.burst, self._global_bucket.tokens + 1)
        if wait:
            self.stats["429"] += 1
            return self._err(429, "Too Many Requests", retry_after=round(max(wait, 0.01), 3))
        return None

    def _sent(self, chat_id: str, kind: str, text: str) -> web.Response:
        mid, at = secrets.token_hex(16), _now_ms()
        self._record(chat_id, TranscriptEntry("out", kind, text, mid, at))
        self.stats["delivered"] += 1
        return self._ok({"message_id": mid, "date": at})

    async def _send_message(self, p: dict[str, Any]) -> web.Response:
        chat_id, text = str(p.get("chat_id") or ""), p.get("text")
        if not isinstance(text, str) or not text.strip():
            return self._err(400, "Bad Request: text is required")
        if text_length(text) > MAX_TEXT:
            return self._err(400, f"Bad Request: text is too long (max {MAX_TEXT} characters)")
        refused = self._check_send(chat_id)
        return refused or self._sent(chat_id, "text", text)

    async def _send_photo(self, p: dict[str, Any]) -> web.Response:
        chat_id, photo, caption = str(p.get("chat_id") or ""), str(p.get("photo") or ""), p.get("caption")
        if not photo.startswith(("http://", "https://")):
            return self._err(400, "Bad Request: photo must be an http(s) URL")
        if caption is not None and (not isinstance(caption, str) or text_length(caption) > MAX_TEXT):
            return self._err(400, f"Bad Request: caption is too long (max {MAX_TEXT} characters)")
        refused = self._check_send(chat_id)
        return refused or self._sent(chat_id, "photo", caption or "")

    async def _send_chat_action(self, p: dict[str, Any]) -> web.Response:
        chat_id, action = str(p.get("chat_id") or ""), p.get("action")
        if action not in ("typing", "upload_photo"):
            return self._err(400, "Bad Request: unknown action")
        user = self._users.get(chat_id)
        if user is None or user.blocked:
            return self._err(403, "Forbidden: cannot reach this chat")
        self._record(chat_id, TranscriptEntry("out", "action", str(action), "", _now_ms()))
        return self._ok(True)

    # ------------------------------------------------------------ control API (other processes)
    async def _ctl_send(self, request: web.Request) -> web.Response:
        try:
            p = await request.json()
            u = self.user(str(p["user_id"]), str(p.get("display_name") or ""))
            kind = p.get("kind", "text")
            if kind == "text":
                ev = u.send_text(str(p["text"]))
            elif kind == "image":
                ev = u.send_image(caption=p.get("caption"))
            elif kind == "sticker":
                ev = u.send_sticker()
            elif kind == "unsupported":
                ev = u.send_unsupported()
            else:
                return self._err(400, "Bad Request: unknown kind")
        except (ValueError, KeyError, TypeError):
            return self._err(400, "Bad Request: expected {user_id, text | kind}")
        return self._ok(ev)

    async def _ctl_redeliver(self, request: web.Request) -> web.Response:
        try:
            p = await request.json()
            ev = p["event"]
            self.user(str(ev["message"]["from"]["id"])).redeliver(ev)
        except (ValueError, KeyError, TypeError):
            return self._err(400, "Bad Request: expected {event}")
        return self._ok(True)

    async def _ctl_wait(self, request: web.Request) -> web.Response:
        try:
            p = await request.json()
            u = self.user(str(p["chat_id"]))
            timeout = float(p.get("timeout", 5))
        except (ValueError, KeyError, TypeError):
            return self._err(400, "Bad Request: expected {chat_id, timeout}")
        try:
            return self._ok(await u.wait_for_reply(timeout))
        except TimeoutError:
            return self._err(408, "Request timeout", http=200)

    async def _ctl_transcript(self, request: web.Request) -> web.Response:
        chat_id = request.query.get("chat_id", "")
        return self._ok([asdict(e) for e in self.transcript(chat_id)])


async def _serve(args: argparse.Namespace) -> None:
    emu = ZaloEmulator(token=args.token, host=args.host, port=args.port,
                       global_rate=args.global_rate, per_chat_rate=args.per_chat_rate)
    await emu.start()
    print(f"Zalo Bot API emulator / Trình giả lập Zalo Bot API: {emu.base_url}  token={emu.token}", flush=True)
    print(f"  e.g. curl -X POST {emu.base_url}/bot{emu.token}/getMe", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await emu.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.emulators.zalo",
                                     description="Local Zalo Bot API emulator for tests and demos.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--token", default="zalo-test-token")
    parser.add_argument("--global-rate", type=float, default=None, help="messages/s overall (429 above)")
    parser.add_argument("--per-chat-rate", type=float, default=None, help="messages/s per chat (429 above)")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
