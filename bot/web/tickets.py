"""Page tickets and CSRF tokens: short HMAC-signed strings, nothing stored.

A *ticket* is the page's capability for one respondent, carried in the URL path
(``/s/<ticket>``): the page needs no cookie to work inside Telegram's and Zalo's in-app browsers,
and ``Referrer-Policy: no-referrer`` keeps the URL from leaking to other sites. It says which
chat the page speaks for, never who it is:

* ``c`` (a chat's page): made after a Telegram Mini App's ``initData`` was checked, or put by the
  bot into a link it sends inside a bound chat (Zalo, Telegram). It names the respondent and a
  keyed digest of the (channel, chat id) bound to it; every request checks that this chat is
  still the respondent's chat, so a ticket dies when the invitation moves to another chat
  (docs/credentials.md).
* ``w`` (a browser's own claim of an invitation link): names the respondent and a digest of the
  browser id in the ``hl_b`` cookie; a request from another browser with the same URL is refused.

The chat id itself is never in the URL (only its digest). Tickets expire (``issued`` + ttl).
A CSRF token is bound to the ticket, hence to the respondent and the chat.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

__all__ = ["Ticket", "TicketSigner", "new_browser_id", "BROWSER_ID_RE"]

_B64 = re.compile(r"^[A-Za-z0-9_-]{1,400}$")
#: A browser id as stored in the ``hl_b`` cookie: 128 random bits, URL-safe base64.
BROWSER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_browser_id() -> str:
    """A fresh browser id (the web "chat id" of a browser that claims an invitation link)."""
    return _b64(secrets.token_bytes(16))


@dataclass(frozen=True, slots=True)
class Ticket:
    kind: Literal["c", "w"]
    respondent_id: int
    chat_digest: str
    issued: int


class TicketSigner:
    """Makes and checks tickets, chat digests and CSRF tokens with one server key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the page key must be at least 16 bytes / khóa trang phải dài ít nhất 16 byte")
        self._key = hashlib.sha256(b"hailong-page-v1|" + key).digest()

    def _mac(self, label: str, text: str, n: int = 16) -> bytes:
        return hmac.new(self._key, f"{label}|{text}".encode("utf-8"), hashlib.sha256).digest()[:n]

    def chat_digest(self, channel: str, chat_id: str) -> str:
        """A keyed digest of a chat: names it in a ticket without revealing it."""
        return _b64(self._mac("chat", f"{channel}|{chat_id}", 12))

    def make(self, kind: Literal["c", "w"], respondent_id: int, chat_digest: str, issued: float) -> str:
        body = f"{kind}.{int(respondent_id)}.{chat_digest}.{int(issued)}"
        return _b64(body.encode("ascii")) + "." + _b64(self._mac("ticket", body))

    def read(self, text: str, now: float, ttl_s: float) -> Ticket | None:
        """The ticket ``text`` is, if its signature holds and it has not expired; else None."""
        if not isinstance(text, str) or len(text) > 300 or text.count(".") != 1:
            return None
        body_b64, sig_b64 = text.split(".")
        if not _B64.match(body_b64) or not _B64.match(sig_b64):
            return None
        try:
            body = _unb64(body_b64).decode("ascii")
            sig = _unb64(sig_b64)
        except (ValueError, UnicodeDecodeError):
            return None
        if _b64(body.encode("ascii")) != body_b64 or _b64(sig) != sig_b64:
            return None       # one spelling per ticket (base64's spare bits would give several)
        if not hmac.compare_digest(sig, self._mac("ticket", body)):
            return None
        parts = body.split(".")
        if len(parts) != 4 or parts[0] not in ("c", "w") or not parts[1].isdigit() or not parts[3].isdigit():
            return None
        issued = int(parts[3])
        if issued > now + 60 or now - issued > ttl_s:
            return None
        return Ticket(parts[0], int(parts[1]), parts[2], issued)  # type: ignore[arg-type]

    def csrf(self, ticket_text: str) -> str:
        """The CSRF token of every form of this ticket (bound to its respondent and chat)."""
        return _b64(self._mac("csrf", ticket_text))

    def csrf_ok(self, ticket_text: str, token: object) -> bool:
        return isinstance(token, str) and len(token) < 100 and hmac.compare_digest(token, self.csrf(ticket_text))

    def browser_proof(self, browser_id: str, token: str) -> str:
        """Binds the claim form of an invitation link to the browser that loaded it."""
        return _b64(self._mac("claim", f"{browser_id}|{token}"))

    def browser_proof_ok(self, browser_id: str, token: str, proof: object) -> bool:
        return isinstance(proof, str) and len(proof) < 100 and \
            hmac.compare_digest(proof, self.browser_proof(browser_id, token))
