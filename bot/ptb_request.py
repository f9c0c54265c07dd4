"""A python-telegram-bot transport on aiohttp, for many requests in flight.

Why: PTB's default ``HTTPXRequest`` keeps a small connection pool and httpx's per-request overhead
is high; beyond about 16 concurrent requests it queues and burns CPU. With hundreds of citizens
answering at once the bot sends two requests per answer (edit the old question, send the next),
so the transport is on the hot path. ``AiohttpRequest`` implements PTB 22's ``BaseRequest`` on an
``aiohttp.ClientSession`` with a sized ``TCPConnector`` pool. ``HTTPXRequest`` stays available
through the ``transport`` setting (``bot.settings.Settings.transport``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


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

    def _value(self, given: ODVInput[float], key: str) -> float | None:
        return self._timeouts[key] if isinstance(given, DefaultValue) else given  # type: ignore[return-value]

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
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


class UpdatesRequest(AiohttpRequest):
    """The transport for ``getUpdates``: drops what the adapter never reads before PTB parses it.

    A callback query carries a full copy of the pressed message, keyboard included; building
    PTB objects for that keyboard was a sizeable share of the bot's CPU per answer. The adapter
    needs only the message id and text, so ``reply_markup`` and ``entities`` of those embedded
    messages are removed while the JSON is decoded (no re-encoding).
    """

    __slots__ = ()

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        data = BaseRequest.parse_json_payload(payload)
        result = data.get("result")
        if isinstance(result, list):
            for upd in result:
                cq = upd.get("callback_query") if isinstance(upd, dict) else None
                msg = cq.get("message") if isinstance(cq, dict) else None
                if isinstance(msg, dict):
                    msg.pop("reply_markup", None)
                    msg.pop("entities", None)
        return data
