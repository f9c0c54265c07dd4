"""What every webhook endpoint checks before an update reaches a channel (Telegram and Zalo alike).

A webhook is a port on the public internet: anyone can post to it. Only the platform knows the
secret we registered with ``setWebhook``, so the secret header is the authentication, checked in
constant time before the body is even read; a missing secret refuses everything (fail closed).
The body is then bounded twice: in bytes (413 above :data:`MAX_BODY_BYTES`) and in nesting depth
(400 above :data:`MAX_JSON_DEPTH`). Real updates are small and shallow (Telegram's largest, a
message with a long text and its entities, is a few KiB, nested ~6 levels); a body of 100 000
``[`` would otherwise make ``json.loads`` raise ``RecursionError`` (a 500, and a traceback per
request), and a deep but parseable one could do the same later in code that walks it.

Rejections are logged at WARNING, throttled (:class:`RejectionLog`), because a forged-request flood
must not become a log flood. Nothing from the request other than its peer address is logged.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any, Callable

from aiohttp import web

#: Largest webhook body accepted (bytes); aiohttp answers 413 above it.
MAX_BODY_BYTES = 256 * 1024
#: Deepest JSON nesting accepted (the top-level object is depth 1).
MAX_JSON_DEPTH = 32


class BadWebhookBody(Exception):
    """The request body is not an acceptable update; ``status`` is the HTTP answer (400 or 413)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def secret_matches(given: str | None, expected: bytes | None) -> bool:
    """Constant-time comparison of the secret header with the configured secret.

    ``expected`` None (no secret configured) matches nothing: an unauthenticated webhook would
    accept forged updates from anyone who finds the URL.
    """
    if expected is None or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected)


def _too_deep(obj: Any, limit: int) -> bool:
    """True if ``obj`` nests dicts/lists deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def parse_json_object(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """Decode a webhook body that must be one JSON object of bounded depth.

    Raises :class:`BadWebhookBody` (400) for anything else: not UTF-8, not JSON, not an object,
    nested too deeply. The depth walk only runs when the body has more brackets than the limit
    (counted in C), so ordinary updates pay nothing for it.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadWebhookBody(400, "bad update: not JSON") from None
    if not isinstance(data, dict):
        raise BadWebhookBody(400, "bad update: not a JSON object")
    if body.count(b"{") + body.count(b"[") > max_depth and _too_deep(data, max_depth):
        raise BadWebhookBody(400, "bad update: nested too deeply")
    return data


async def read_json_object(request: web.Request, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """Read and decode the body of ``request`` (see :func:`parse_json_object`); 413 if too large.

    The declared length is checked before reading; a chunked body is cut off by aiohttp's
    ``client_max_size`` (set it with :func:`webhook_application`).
    """
    if request.content_length is not None and request.content_length > max_bytes:
        raise BadWebhookBody(413, "update too large")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BadWebhookBody(413, "update too large") from None
    if len(body) > max_bytes:
        raise BadWebhookBody(413, "update too large")
    return parse_json_object(body)


def webhook_application(max_bytes: int = MAX_BODY_BYTES) -> web.Application:
    """An aiohttp application whose request bodies are capped at ``max_bytes``."""
    return web.Application(client_max_size=max_bytes)


class RejectionLog:
    """WARNING lines for refused webhook requests: the first at once, then at most one per
    ``every_s`` seconds carrying the count since the last line."""

    def __init__(self, logger: logging.Logger, what: str, every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.what, self.every_s, self.clock = logger, what, every_s, clock
        self._last = float("-inf")
        self._unlogged = 0

    def rejected(self, reason: str, remote: str | None) -> None:
        self._unlogged += 1
        now = self.clock()
        if now - self._last < self.every_s:
            return
        self.logger.warning("%s: refused %d request(s) (%s; last from %s)", self.what, self._unlogged,
                            reason, remote or "?")
        self._last = now
        self._unlogged = 0
