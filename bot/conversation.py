"""What every chat channel shares around the engine and storage: the per-chat lock, the counters,
and how a step's events are counted.

Each channel adapter (``bot/telegram/channel.py``, ``bot/zalo/channel.py``, ``bot/console.py``)
turns platform updates into engine inputs and replies into platform messages; between the two
they all run the same pipeline: take the chat's lock (a chat's messages are handled in arrival
order, different chats concurrently), load the session, apply the engine step, commit it with
``storage.api.ConversationStore.commit_step``, send the replies, count. The pieces of that
pipeline that are not platform code live here, once, so the channels cannot drift apart: the
lock registry (:class:`ChatLocks`), the counters (:class:`ChannelStats`) and
:func:`answers_in`. What citizens are told about credentials and hand-overs is shared too
(``engine/claim_texts.py``); channels are started and stopped (``start``/``stop``) and registered
in one place, ``hailong/run.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable, Iterable
from dataclasses import asdict, dataclass

from engine.types import AnswerSet, Event

__all__ = ["ChatLocks", "ChannelStats", "answers_in"]


class ChatLocks:
    """One ``asyncio.Lock`` per chat, kept only while someone holds it or waits for it.

    Why counted: thousands of chats pass through a bot process; a lock per chat ever seen would
    grow without bound, and dropping a lock that another update of the same chat is waiting for
    would let two of that chat's updates run at once. The count of holders and waiters says when
    a lock may go (without peeking at ``asyncio.Lock`` internals).
    """

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    async def acquire(self, chat_id: Hashable) -> None:
        """Wait for the chat's lock (creating it if no one holds or waits for it)."""
        lock, n = self._locks.get(chat_id, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[chat_id] = (lock, n + 1)
        try:
            await lock.acquire()
        except BaseException:       # cancelled while waiting: no longer a waiter
            self._forget(chat_id)
            raise

    def release(self, chat_id: Hashable) -> None:
        """Release the chat's lock taken with :meth:`acquire`."""
        self._locks[chat_id][0].release()
        self._forget(chat_id)

    @contextlib.asynccontextmanager
    async def hold(self, chat_id: Hashable) -> AsyncIterator[None]:
        """``async with locks.hold(chat_id):`` the chat's updates one at a time."""
        await self.acquire(chat_id)
        try:
            yield
        finally:
            self.release(chat_id)

    def _forget(self, chat_id: Hashable) -> None:
        lock, n = self._locks[chat_id]
        if n <= 1:
            del self._locks[chat_id]
        else:
            self._locks[chat_id] = (lock, n - 1)


@dataclass
class ChannelStats:
    """What a channel counts (the same names on every channel; a channel leaves the counters it
    has no use for at zero). Shown by the demo and in tests; never personal data."""

    updates: int = 0              # platform updates handled
    answers: int = 0              # answers stored (AnswerSet events)
    duplicates: int = 0           # redelivered updates recognised and not applied again
    errors: int = 0               # updates whose handling failed (logged)
    ignored: int = 0              # updates that are not for us (stickers, joins…)
    replies: int = 0              # messages sent back
    send_failures: int = 0        # replies the platform refused
    unreachable: int = 0          # citizens who blocked the bot (marked unreachable)
    webhook_rejected: int = 0     # webhook requests refused (bad secret, junk body)
    poll_errors: int = 0          # polling calls that failed (retried)
    forged: int = 0               # button data that is no button of ours
    stale: int = 0                # buttons of a question already answered
    storage_unavailable: int = 0  # updates retried because storage could not take them

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def answers_in(events: Iterable[Event]) -> int:
    """How many answers a committed step stored."""
    return sum(1 for e in events if isinstance(e, AnswerSet))
