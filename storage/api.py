"""What channels need from storage, as a typed protocol.

Channels (Telegram, Zalo, console with a database) talk to storage only through this facade, so a
PostgreSQL backend can be added later without touching the engine or the channels. The SQLite
implementation is ``storage.conversations.SqliteConversationStore``.

Exactly-once rule: a channel loads the session, runs the pure engine, then calls
``commit_step`` with the channel update key. ``commit_step`` writes the new engine state, the
answer events and the processed-update key in one transaction and returns only once it is
durable; it returns False (and writes nothing) if that update key was already processed, in
which case the channel sends nothing. Only after True may the channel send the replies.

Replies survive a crash: ``commit_step`` records with the step that its replies are owed; the
channel reports them sent (``replies_sent``) and, at start-up, shows every conversation whose
replies were never reported sent its current question again (``owed_replies``). A reply is thus
delivered at least once per step after a commit, and twice only if the process dies in the few
milliseconds between sending it and recording that (see docs/durability.md).

Storage failures: any call may raise an error for which ``is_unavailable(exc)`` is true (the
disk is full, the database is locked by another process, an I/O error): nothing of that call was
stored and it may succeed later. A channel must then not acknowledge the update (webhook: 5xx;
polling: do not confirm it), so that the platform delivers it again.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

from engine.types import Event, State
from storage.errors import StorageUnavailable, is_unavailable
from survey_defs.schema import Survey

__all__ = ["Claim", "ClaimStatus", "ConversationStore", "Session", "StaleSession", "StorageUnavailable",
           "is_unavailable"]

ClaimStatus = Literal["ok", "unknown", "typo", "completed", "closed", "withdrawn", "held", "not_allowed",
                      "limited", "slowed"]


@dataclass(frozen=True, slots=True)
class Session:
    """A chat bound to a respondent and their one response (whatever the channel)."""

    respondent_id: int
    response_id: int
    round_id: int
    state: State                 # engine state; its survey_hash names the pinned definition
    channel: str                 # channel of this chat: "telegram", "zalo", "console"
    chat_id: str
    # The writer's session epoch this session was read at (None: not a candidate for the cache,
    # storage.conversations), and whether this object came from the cache (then a step built
    # on it is refused with StaleSession if it is out of date, and the channel reads again).
    epoch: int | None = None
    cached: bool = False


class StaleSession(Exception):
    """A step was built on a cached session that is out of date (another store, process or
    operation changed the chat's binding or state since): nothing was stored; read the session
    again (``session_for_chat`` without the cache) and handle the update from the start."""


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to a claim (docs/credentials.md).

    ``ok``: ``session`` is this chat's (its ``state.hidden`` lists steps answered on a chat that
    never confirmed the hand-over). ``unknown``: nothing this chat may use (an unknown code, or
    someone else's used, completed, closed or withdrawn one: the same answer, no oracle).
    ``typo``: a code whose check character is wrong (never looked up). ``completed`` /
    ``closed`` / ``withdrawn``: only to the chat bound to that respondent. ``held``: another chat
    holds it with answers and was asked to confirm. ``not_allowed``: that chat said "not me".
    ``limited`` / ``slowed``: refused unread by a limit (this chat's failures, the channel's
    ceiling; or a guessing campaign's back-off): ``retry_after`` seconds. ``repeat``: the same
    update was claimed before (a redelivery: counted once, and the reply was already given).
    ``sealed``: this claim took the response over after the holder did not answer in time
    (tell the citizen why earlier answers are hidden).
    """

    status: ClaimStatus
    session: Session | None = None
    retry_after: float = 0.0
    repeat: bool = False
    sealed: bool = False


@dataclass(frozen=True, slots=True)
class HandoverDecision:
    """The holder's answer to a hand-over request: ``allowed``, ``denied``, or ``none`` (no such
    request pending for this chat: answered already, replaced, or a forged button)."""

    status: Literal["allowed", "denied", "none"]


class ConversationStore(Protocol):
    async def is_processed(self, channel: str, update_key: str) -> bool:
        """Cheap pre-check before running the engine (the authoritative check is in commit_step)."""

    async def session_for_chat(self, channel: str, chat_id: str, *, cached: bool = False) -> Session | None:
        """The active session bound to this chat, if any. ``cached``: one kept from this chat's
        last read or commit may be returned (``Session.cached``); a step built on it is checked
        when it is written (``StaleSession``), and anything decided without a write must read
        again (see ``storage.conversations``)."""

    def forget_session(self, channel: str, chat_id: str) -> None:
        """Drop the chat's cached session (after ``StaleSession``)."""

    async def claim_invite(self, token: str, channel: str, chat_id: str, update_key: str | None = None) -> Claim:
        """Bind a chat to the respondent invited with ``token`` (deep-link token or short card code).

        Counted in the claim ledger and limited per chat and per channel; a credential another
        chat holds moves only as docs/credentials.md says (one response per respondent,
        whatever the channel). ``update_key``: the platform's update id, so that a redelivered
        claim counts once.
        """

    async def decide_handover(self, channel: str, chat_id: str, allow: bool,
                              nonce: str | None = None) -> HandoverDecision:
        """The holder chat allows a pending hand-over or says "not me" (``nonce``: from a button)."""

    async def open_walk_in(self, channel: str, chat_id: str) -> Session | None:
        """A session for an uninvited citizen if the open round allows walk-ins, else None."""

    async def survey(self, survey_hash: str) -> Survey:
        """The exact definition a response was started on (stored per round, by content hash)."""

    def chat_lock(self, channel: str, chat_id: str) -> AbstractAsyncContextManager[None]:
        """Held around load → engine → ``commit_step`` of one update: one update of a chat at a
        time, across every worker sharing the database (``storage.chat_locks``)."""

    async def commit_step(self, session: Session, state: State, events: tuple[Event, ...],
                          channel: str, update_key: str) -> bool:
        """Durably store state + events + processed update key; False if already processed."""

    async def mark_unreachable(self, respondent_id: int, reason: str) -> None:
        """The channel cannot deliver (e.g. Telegram 403: the citizen blocked the bot)."""

    def replies_sent(self, session: Session) -> None:
        """The replies of the step last committed through ``session`` were sent (or cannot be:
        the citizen blocked the bot). Recorded in the background, shortly after."""

    async def replies_owed(self, session: Session) -> bool:
        """After a redelivered update of the session's chat: True if its last step's replies
        were never reported sent and nobody alive is sending them (the worker died between
        commit and send); the channel then shows the current question and calls ``replies_sent``."""

    async def owed_replies(self, channel: str) -> list[Session]:
        """Sessions of this channel whose last committed step's replies were never reported sent
        (the process died in between): the channel shows each one its current question again
        (``engine.current_replies``), then calls ``replies_sent``."""
