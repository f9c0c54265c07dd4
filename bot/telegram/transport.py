"""python-telegram-bot transports for many requests in flight, and the trimming of updates.

Why: PTB's default ``HTTPXRequest`` keeps a small connection pool and httpx's per-request overhead
is high; beyond about 16 concurrent requests it queues and burns CPU. With hundreds of citizens
answering at once the bot sends three requests per answer (answer the press, edit the old
question, send the next), so the transport is on the hot path. ``AiohttpRequest`` implements
PTB 22's ``BaseRequest`` on an ``aiohttp.ClientSession`` with a sized ``TCPConnector`` pool.
The setting ``telegram_transport`` (``bot.settings.Settings``) picks ``lean`` (default),
``aiohttp`` or PTB's ``httpx``.

``LeanRequest`` (the default) goes one step further: a small HTTP/1.1 keep-alive client on
asyncio's ``Protocol`` API for the one request shape the Bot API needs (POST a JSON body, read a
JSON answer). In benchmarks/telegram_e2e.py aiohttp's generic machinery (request and response
objects, a writer task, timeout handles, header multidicts) was about a third of the bot's
main-thread CPU; the Bot API needs none of it. Uploads (multipart) are delegated to an
``AiohttpRequest``. TLS (https, the real Bot API) uses the system's default trust store.

:func:`trim_update` shrinks raw updates before PTB parses them (see there).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from telegram import Update
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

#: "Not given" as PTB passes it (``BaseRequest.DEFAULT_NONE`` and its kin): the type of PTB's public
#: sentinel, so that this module needs nothing from PTB's private ``telegram._utils``.
DefaultValue = type(BaseRequest.DEFAULT_NONE)
#: A timeout as PTB passes it: seconds, None (wait forever) or a DefaultValue (not given).
ODVInput = Any


_JSON_HEADERS = {"Content-Type": "application/json"}
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class AiohttpRequest(BaseRequest):
    """PTB ``BaseRequest`` over aiohttp.

    Args:
        connection_pool_size: maximum simultaneous connections (per host; the Bot API is one host).
        read_timeout / write_timeout / connect_timeout / pool_timeout: defaults in seconds used
            when PTB passes ``DEFAULT_NONE``; ``None`` means wait forever.
        media_write_timeout: write timeout for uploads (documents, photos).
    """

    __slots__ = ("_pool_size", "_session", "_timeouts", "_media_write_timeout", "_lock")

    def __init__(self, connection_pool_size: int = 256, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 5.0, media_write_timeout: float | None = 20.0) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._session: aiohttp.ClientSession | None = None
        self._timeouts = {"read": read_timeout, "write": write_timeout, "connect": connect_timeout,
                          "pool": pool_timeout}
        self._media_write_timeout = media_write_timeout
        self._lock = asyncio.Lock()

    @property
    def read_timeout(self) -> float | None:
        """Default read timeout: PTB adds it to long-polling timeouts of getUpdates."""
        return self._timeouts["read"]

    async def initialize(self) -> None:
        async with self._lock:
            if self._session is None or self._session.closed:
                connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=self._pool_size,
                                                 ttl_dns_cache=300, enable_cleanup_closed=True)
                self._session = aiohttp.ClientSession(
                    connector=connector, headers={"User-Agent": self.USER_AGENT},
                    json_serialize=json.dumps, auto_decompress=True)

    async def shutdown(self) -> None:
        async with self._lock:
            if self._session is not None and not self._session.closed:
                await self._session.close()
            self._session = None

    def _value(self, given: ODVInput, key: str) -> float | None:
        return self._timeouts[key] if isinstance(given, DefaultValue) else given  # type: ignore[return-value]

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; returns (HTTP status, body). Network trouble -> NetworkError/TimedOut."""
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        # JSON bodies are built from the plain values (one encoding, nested objects stay objects);
        # forms need PTB's per-field JSON strings.
        params: Any = (request_data.json_parameters if files else request_data.parameters) if request_data \
            else None

        read = self._value(read_timeout, "read")
        connect = self._value(connect_timeout, "connect")
        pool = self._value(pool_timeout, "pool")
        write = self._value(write_timeout, "write") if not files or not isinstance(write_timeout, DefaultValue) \
            else self._media_write_timeout
        # aiohttp has no separate write timeout: the total bounds pool wait + connect + send + read.
        parts = [t for t in (pool, connect, write, read) if t is not None]
        total = sum(parts) if len(parts) == 4 else None
        timeout = aiohttp.ClientTimeout(total=total, connect=pool, sock_connect=connect, sock_read=read)

        data: Any
        if files:
            form = aiohttp.FormData(quote_fields=False)
            for name, value in (params or {}).items():
                form.add_field(name, value)
            for name, field in files.items():
                filename, content, mimetype = field if isinstance(field, tuple) and len(field) == 3 \
                    else (name, field, "application/octet-stream")
                if hasattr(content, "read"):
                    content = content.read()
                form.add_field(name, content, filename=filename or name,
                               content_type=mimetype or "application/octet-stream")
            data = form
            headers = None
        else:
            # A JSON body costs far less to build than aiohttp's form encoding (the Bot API accepts
            # both), and encoding the plain values once avoids PTB's per-field ``json_parameters``
            # strings being escaped a second time inside the body.
            data = _dumps(params).encode("utf-8") if params else None
            headers = _JSON_HEADERS if params else None
        try:
            async with session.request(method, url, data=data, headers=headers, timeout=timeout) as resp:
                return resp.status, await resp.read()
        except asyncio.TimeoutError as err:
            raise TimedOut(f"Timed out talking to the Bot API ({url.rsplit('/', 1)[-1]})") from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err


# ====================================================================== the lean transport

_MAX_HEAD = 64 * 1024          # bytes of status line + headers we accept
_KEEPALIVE_S = 15.0            # idle connections older than this are not reused (servers drop them)


class _ResponseError(Exception):
    """The server's answer is not HTTP/1.x we can read."""


class _Conn(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its response parsed as bytes arrive."""

    __slots__ = ("transport", "buf", "waiter", "closed", "idle_since", "status", "length", "chunked",
                 "keep_alive", "body", "_until_close")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.length: int | None = None
        self.chunked = False
        self.keep_alive = True
        self.body = bytearray()
        self._until_close = False

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self.closed = True  # bytes nobody asked for: the connection is out of step
            if self.transport is not None:
                self.transport.close()
            return
        self.buf += data
        try:
            self._parse()
        except (_ResponseError, ValueError) as exc:
            self._fail(_ResponseError(f"bad HTTP response from the Bot API: {exc}"))

    def eof_received(self) -> bool:
        if self._until_close and self.status:
            self.body += self.buf
            self.buf.clear()
            self.keep_alive = False
            self._done()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            if self._until_close and self.status:
                self.body += self.buf
                self.buf.clear()
                self.keep_alive = False
                self._done()
            else:
                self._fail(ConnectionResetError("the Bot API closed the connection") if exc is None else exc)

    # -- response parsing

    def _parse(self) -> None:
        buf = self.buf
        while not self.status:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    raise _ResponseError("headers too long")
                return
            head = bytes(buf[:end]).decode("latin-1").split("\r\n")
            del buf[: end + 4]
            version, _, rest = head[0].partition(" ")
            if not version.startswith("HTTP/1."):
                raise _ResponseError(f"not HTTP/1.x: {head[0][:40]!r}")
            status = int(rest[:3])
            if 100 <= status < 200:
                continue  # an interim answer (100 Continue): the real one follows
            connection = ""
            length: int | None = None
            for line in head[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                    if length < 0:
                        raise _ResponseError("negative Content-Length")
                elif name == "transfer-encoding":
                    self.chunked = "chunked" in value.lower()
                elif name == "connection":
                    connection = value.strip().lower()
            self.status = status
            self.keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
            if self.chunked:
                self.length = None
            elif status in (204, 304):
                self.length = 0
            elif length is None:
                self._until_close = True  # no length: the body ends when the server closes
                self.keep_alive = False
            else:
                self.length = length
        if self.chunked:
            self._parse_chunks()
        elif self.length is not None and len(buf) >= self.length:
            if len(buf) > self.length:
                raise _ResponseError("more bytes than Content-Length")
            self.body = buf[: self.length]
            self.buf = bytearray()
            self._done()

    def _parse_chunks(self) -> None:
        buf = self.buf
        while True:
            eol = buf.find(b"\r\n")
            if eol < 0:
                if len(buf) > _MAX_HEAD:
                    raise _ResponseError("chunk header too long")
                return
            size = int(bytes(buf[:eol]).split(b";", 1)[0].strip() or b"x", 16)
            if size == 0:
                # the last chunk, then optional trailers, then an empty line
                if buf[eol + 2: eol + 4] == b"\r\n":
                    del buf[: eol + 4]
                else:
                    end = buf.find(b"\r\n\r\n", eol)
                    if end < 0:
                        return
                    del buf[: end + 4]
                if buf:
                    raise _ResponseError("bytes after the last chunk")
                self._done()
                return
            if len(buf) < eol + 2 + size + 2:
                return
            if buf[eol + 2 + size: eol + 4 + size] != b"\r\n":
                raise _ResponseError("chunk without CRLF")
            self.body += buf[eol + 2: eol + 2 + size]
            del buf[: eol + 4 + size]

    def _done(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((self.status, bytes(self.body)))

    def _fail(self, exc: BaseException) -> None:
        self.keep_alive = False
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def usable(self, now: float) -> bool:
        return (not self.closed and self.transport is not None and not self.transport.is_closing()
                and now - self.idle_since < _KEEPALIVE_S)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class LeanRequest(BaseRequest):
    """PTB ``BaseRequest`` on a minimal HTTP/1.1 keep-alive client (asyncio protocols).

    Each request borrows an idle connection to the Bot API host (or opens one, at most
    ``connection_pool_size`` at a time; beyond that it waits up to the pool timeout), writes the
    request in one ``write`` and resolves when the response is complete (Content-Length, chunked
    or close-delimited). A connection is reused only after a complete, keep-alive response;
    anything unexpected (a timeout, a cancelled request, a malformed answer) closes it.
    Failed requests are not retried here: errors become PTB's ``NetworkError`` / ``TimedOut``,
    exactly as with the other transports, and the callers decide (PTB retries getUpdates).

    Args: as :class:`AiohttpRequest` (``write_timeout`` applies to uploads only: JSON bodies are
        buffered by the transport and bounded by the read timeout), plus ``ssl_context`` for a
        self-hosted Bot API server behind a private CA (default: the system trust store).
        Uploads go through an internal ``AiohttpRequest``.
    """

    __slots__ = ("_pool_size", "_timeouts", "_media_write_timeout", "_slots", "_idle", "_targets",
                 "_ssl", "_files", "_running")

    def __init__(self, connection_pool_size: int = 256, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 5.0, media_write_timeout: float | None = 20.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._timeouts = {"read": read_timeout, "write": write_timeout, "connect": connect_timeout,
                          "pool": pool_timeout}
        self._media_write_timeout = media_write_timeout
        self._ssl = ssl_context
        self._slots: asyncio.Semaphore | None = None
        self._idle: dict[tuple[str, int, bool], list[_Conn]] = {}
        self._targets: dict[str, tuple[tuple[str, int, bool], bytes]] = {}
        self._files: AiohttpRequest | None = None
        self._running = False

    @property
    def read_timeout(self) -> float | None:
        """Default read timeout: PTB adds it to long-polling timeouts of getUpdates."""
        return self._timeouts["read"]

    async def initialize(self) -> None:
        if not self._running:
            self._slots = asyncio.Semaphore(self._pool_size)
            self._running = True

    async def shutdown(self) -> None:
        self._running = False
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        if self._files is not None:
            await self._files.shutdown()
            self._files = None

    def _target(self, url: str) -> tuple[tuple[str, int, bool], bytes]:
        """(host, port, tls) and the request line after the method + fixed headers (cached)."""
        found = self._targets.get(url)
        if found is not None:
            return found
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NetworkError(f"unsupported Bot API URL {url[:60]!r} (http:// or https:// expected)")
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        host_header = host if port == (443 if tls else 80) else f"{host}:{port}"
        head = (f" {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {self.USER_AGENT}\r\n"
                "Accept: application/json\r\nContent-Type: application/json\r\n").encode("latin-1")
        found = ((parts.hostname, port, tls), head)
        if len(self._targets) < 1024:
            self._targets[url] = found
        return found

    def _value(self, given: ODVInput, key: str) -> float | None:
        return self._timeouts[key] if isinstance(given, DefaultValue) else given  # type: ignore[return-value]

    async def _connect(self, key: tuple[str, int, bool], timeout: float | None) -> _Conn:
        loop = asyncio.get_running_loop()
        host, port, tls = key
        if tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(_Conn, host, port, ssl=self._ssl if tls else None), timeout)
        except asyncio.TimeoutError as err:
            raise TimedOut(f"Timed out connecting to the Bot API at {host}:{port}") from err
        except OSError as err:
            raise NetworkError(f"Cannot connect to the Bot API at {host}:{port}: {err}") from err
        return conn

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; returns (HTTP status, body). Network trouble -> NetworkError/TimedOut."""
        slots = self._slots
        if slots is None or not self._running:
            raise RuntimeError("This LeanRequest is not initialized!")
        if request_data is not None and request_data.contains_files:
            if self._files is None:
                t = self._timeouts
                self._files = AiohttpRequest(min(self._pool_size, 8), read_timeout=t["read"],
                                             write_timeout=t["write"], connect_timeout=t["connect"],
                                             pool_timeout=t["pool"], media_write_timeout=self._media_write_timeout)
                await self._files.initialize()
            return await self._files.do_request(url, method, request_data, read_timeout, write_timeout,
                                                connect_timeout, pool_timeout)
        key, head = self._target(url)
        params = request_data.parameters if request_data is not None else None
        body = _dumps(params).encode("utf-8") if params else b""
        verb = b"POST" if method == "POST" else method.upper().encode("ascii")  # GET: file downloads
        message = b"".join((verb, head, b"Content-Length: ", str(len(body)).encode("ascii"), b"\r\n\r\n", body))

        if slots.locked():
            pool = self._value(pool_timeout, "pool")
            try:
                await asyncio.wait_for(slots.acquire(), pool)
            except asyncio.TimeoutError as err:
                raise TimedOut("Pool timeout: all connections to the Bot API are busy") from err
        else:
            await slots.acquire()
        loop = asyncio.get_running_loop()
        conn: _Conn | None = None
        reusable = False
        try:
            idle = self._idle.get(key)
            now = loop.time()
            while idle:
                candidate = idle.pop()
                if candidate.usable(now):
                    conn = candidate
                    break
                candidate.close()
            if conn is None:
                conn = await self._connect(key, self._value(connect_timeout, "connect"))
            waiter: asyncio.Future[tuple[int, bytes]] = loop.create_future()
            conn.waiter = waiter
            conn._reset()
            assert conn.transport is not None
            conn.transport.write(message)
            # The write is buffered by the transport (JSON bodies are a few KB), so there is no
            # separate write wait; the read timeout bounds sending and answering together.
            read = self._value(read_timeout, "read")
            timer = loop.call_later(read, _expire, waiter) if read is not None else None
            try:
                status, payload = await waiter
            except asyncio.TimeoutError as err:
                raise TimedOut(f"Timed out talking to the Bot API ({url.rsplit('/', 1)[-1]})") from err
            except (OSError, _ResponseError) as err:
                raise NetworkError(f"{err.__class__.__name__}: {err}") from err
            finally:
                if timer is not None:
                    timer.cancel()
            reusable = conn.keep_alive and not conn.closed and not conn.buf
            return status, payload
        finally:
            if conn is not None:
                conn.waiter = None
                if reusable and self._running:
                    conn.idle_since = loop.time()
                    self._idle.setdefault(key, []).append(conn)
                else:
                    conn.close()
            slots.release()


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(asyncio.TimeoutError())


# ====================================================================== getUpdates

PRESSED = "hailong_pressed"
"""Key under which a trimmed callback query keeps what it needs of the pressed message:
``{"chat_id", "chat_type", "message_id", "text"}`` (PTB puts unknown fields in
``CallbackQuery.api_kwargs``)."""


def trim_update(update: Any) -> None:
    """Shrink one raw update (a dict, in place) to what the adapter reads, before PTB parses it.

    A callback query carries a full copy of the pressed message, keyboard included. Building the
    PTB ``Message`` for it sets some 240 attributes: about 90 µs, most of the cost of parsing an
    update in benchmarks/telegram_e2e.py, for the four values the adapter reads (chat id and type,
    message id, text). So the embedded message is replaced by those values under
    :data:`PRESSED`; the query then looks like a press on an inline-mode message (no
    ``message``, so no ``Update.effective_chat``) and the adapter reads the chat from
    :data:`PRESSED` (``chat_of``). Anything not of the expected shape is left as is.
    Handlers fed by these updates must not expect ``callback_query.message``.
    """
    cq = update.get("callback_query") if isinstance(update, dict) else None
    msg = cq.get("message") if isinstance(cq, dict) else None
    if not isinstance(msg, dict):
        return
    chat = msg.get("chat")
    if not isinstance(chat, dict) or type(chat.get("id")) is not int or type(msg.get("message_id")) is not int:
        return
    text = msg.get("text")
    cq[PRESSED] = {"chat_id": chat["id"], "chat_type": str(chat.get("type", "")),
                   "message_id": msg["message_id"], "text": text if isinstance(text, str) else ""}
    del cq["message"]


class _TrimUpdates:
    """getUpdates answers pass through :func:`trim_update` while the JSON is decoded."""

    __slots__ = ()

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        data = BaseRequest.parse_json_payload(payload)
        result = data.get("result")
        if isinstance(result, list):
            for upd in result:
                trim_update(upd)
        return data


class UpdatesRequest(_TrimUpdates, AiohttpRequest):
    """``AiohttpRequest`` for getUpdates, answers trimmed (see :class:`_TrimUpdates`)."""

    __slots__ = ()


class LeanUpdatesRequest(_TrimUpdates, LeanRequest):
    """``LeanRequest`` for getUpdates, answers trimmed (see :class:`_TrimUpdates`)."""

    __slots__ = ()


def chat_of(update: Update) -> tuple[int, str] | None:
    """(chat id, chat type) of an update, including callback queries trimmed by
    ``bot.telegram.transport.trim_update`` (their chat travels in ``api_kwargs``); None if it has none."""
    chat = update.effective_chat
    if chat is not None:
        return chat.id, chat.type
    query = update.callback_query
    if query is not None:
        pressed = query.api_kwargs.get(PRESSED)
        if isinstance(pressed, dict) and type(pressed.get("chat_id")) is int:
            return pressed["chat_id"], str(pressed.get("chat_type", ""))
    return None
