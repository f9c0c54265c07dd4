"""The one conversation pipeline every chat channel runs: lock → load session → engine step →
commit → stats.

Each channel adapter (``bot/telegram/channel.py``, ``bot/zalo/channel.py``) keeps only its
transport: it parses platform updates into engine inputs, renders replies as platform messages
and sends them. Between the two, all of them go through one :class:`Conversation`:

* **the chat's lock** (:meth:`Conversation.hold`) is the store's (``store.chat_lock``,
  ``storage.chat_locks``): an ``asyncio`` lock per chat on SQLite, and on a shared PostgreSQL
  database also an advisory lock on the chat, so one respondent's updates are applied in order
  even when several workers receive them. The page (``bot/web``) holds the same lock around its
  commits, so a page and a chat speaking for one respondent take turns;
* **loading the session** (:meth:`Conversation.session`) and the survey it was started on;
* **the step** (:meth:`Conversation.step`): ``engine.step``, then ``commit_step`` with the
  platform's update key, which is the exactly-once check (a redelivered update commits nothing
  and sends nothing);
* **the counters** (:class:`ChannelStats`, the same names on every channel) and the answers a
  committed step stored (:func:`answers_in`);
* **owed replies** after a crash: at start (:meth:`Conversation.owed`) and when the platform
  redelivers the update whose worker died before replying (:meth:`Conversation.owed_again`,
  and :meth:`Conversation.owed_if_redelivered` for a redelivery that no longer reaches a step).

What citizens are told about credentials and hand-overs is shared too (``engine/claim_texts.py``);
channels are started and stopped (``start``/``stop``) and registered in one place,
``hailong/run.py``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass

import engine
from engine.types import AnswerSet, Event, Input, Reply, State, StepResult
from storage.api import ConversationStore, Session, StaleSession
from survey_defs.schema import Survey

__all__ = ["ChannelStats", "Conversation", "Stepped", "answers_in"]


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
    stale_cache: int = 0          # updates handled again: the chat's cached session was out of date

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def answers_in(events: Iterable[Event]) -> int:
    """How many answers a committed step stored."""
    return sum(1 for e in events if isinstance(e, AnswerSet))


@dataclass(frozen=True, slots=True)
class Stepped:
    """One input applied: the engine's result and what became of it.

    ``committed``: durable now, for the first time: the replies may be sent (then
    :meth:`Conversation.sent`). ``duplicate``: this update key was applied before (a
    redelivery): send nothing. Neither: the step changed nothing and was not recorded
    (``record_noop=False``): the replies (a notice) may be sent, nothing is owed.
    """

    result: StepResult
    before: State
    survey: Survey
    committed: bool
    duplicate: bool

    @property
    def replies(self) -> tuple[Reply, ...]:
        return self.result.replies

    @property
    def state(self) -> State:
        return self.result.state


class Conversation:
    """The pipeline of one channel over a ``storage.api.ConversationStore``.

    ``channel``: the channel's name in storage ("telegram", "zalo", "web"). ``clock``: the time
    given to the engine (paradata). ``record_noop``: whether a step that changes nothing (a
    notice such as "already done") is committed anyway, so that its redelivery is recognised:
    Zalo does (its webhook redelivers, and a notice sent twice reads as a bot stutter); Telegram
    does not (a write saved per notice, and polling never redelivers a confirmed update).
    ``buttons``: whether the channel shows buttons (Telegram) or only text (Zalo): the engine's
    prompts say "bấm «Xong»" only where there is a Xong button.
    """

    def __init__(self, store: ConversationStore, channel: str, *,
                 clock: Callable[[], float] = time.time, record_noop: bool = True, buttons: bool = True,
                 cache_sessions: bool = False) -> None:
        self.store = store
        self.cache_sessions = cache_sessions
        self.buttons = buttons      # the channel shows buttons: the engine words prompts for it
        self.channel = channel
        self.clock = clock
        self.record_noop = record_noop
        self.stats = ChannelStats()
        self._surveys: dict[str, Survey] = {}

    # ------------------------------------------------------------------ lock

    def hold(self, chat_id: Hashable) -> AbstractAsyncContextManager[None]:
        """``async with conversation.hold(chat_id):`` one update of the chat at a time, in
        arrival order, across every worker sharing the database (the store's chat lock)."""
        return self.store.chat_lock(self.channel, str(chat_id))

    async def take(self, chat_id: Hashable) -> Callable[[], Awaitable[None]]:
        """Take the chat's lock now and return what releases it (possibly from another task):
        for work that must come before any update of the chat, started before updates are."""
        cm = self.hold(chat_id)
        await cm.__aenter__()

        async def release() -> None:
            await cm.__aexit__(None, None, None)
        return release

    # ------------------------------------------------------------------ load

    async def survey(self, survey_hash: str) -> Survey:
        """The definition a response was started on (kept: definitions never change)."""
        survey = self._surveys.get(survey_hash)
        if survey is None:
            survey = self._surveys[survey_hash] = await self.store.survey(survey_hash)
        return survey

    async def session(self, chat_id: Hashable) -> Session | None:
        """The chat's session (None if the chat is bound to no one in an open round).

        With ``cache_sessions`` it may be the cached one (``Session.cached``; see
        ``storage.conversations``): a step on it is checked when written, and whatever the
        channel decides from it without a write must be decided again on a fresh read: the
        channel raises ``StaleSession`` there (:meth:`fresh_needed`), calls :meth:`forget` and
        handles the update again."""
        return await self.store.session_for_chat(self.channel, str(chat_id), cached=self.cache_sessions)

    def forget(self, chat_id: Hashable) -> None:
        """Drop the chat's cached session: the next :meth:`session` reads it."""
        self.store.forget_session(self.channel, str(chat_id))

    @staticmethod
    def fresh_needed(session: Session) -> None:
        """Raise ``StaleSession`` if ``session`` came from the cache: about to decide something
        without a write (a stale button, a notice), the channel must see the stored state."""
        if session.cached:
            raise StaleSession("decided on a fresh read only / chỉ quyết định theo dữ liệu mới đọc")

    # ------------------------------------------------------------------ step and commit

    async def step(self, session: Session, inp: Input, key: str, *,
                   record_noop: bool | None = None) -> Stepped:
        """Apply ``inp`` to the session's state and commit it under the update ``key``."""
        survey = await self.survey(session.state.survey_hash)
        before = session.state
        result = engine.step(survey, before, inp, self.clock(), buttons=self.buttons)
        noop = result.state is before and not result.events
        if noop and not (self.record_noop if record_noop is None else record_noop):
            self.fresh_needed(session)
            return Stepped(result, before, survey, committed=False, duplicate=False)
        ok = await self.store.commit_step(session, result.state, result.events, self.channel, key)
        if not ok:
            self.fresh_needed(session)      # a redelivery: what is owed is decided on the stored state
        self._count(ok, result.events)
        return Stepped(result, before, survey, committed=ok, duplicate=not ok)

    async def commit(self, session: Session, state: State, events: tuple[Event, ...], key: str) -> bool:
        """``commit_step`` on this channel, counted: False (nothing written) for a redelivery."""
        ok = await self.store.commit_step(session, state, events, self.channel, key)
        self._count(ok, events)
        return ok

    def _count(self, ok: bool, events: tuple[Event, ...]) -> None:
        if ok:
            self.stats.answers += answers_in(events)
        else:
            self.stats.duplicates += 1

    def sent(self, session: Session) -> None:
        """The replies of the step last committed through ``session`` were sent (or cannot be)."""
        self.store.replies_sent(session)

    async def owed_again(self, session: Session, stepped: Stepped) -> tuple[Reply, ...]:
        """For a redelivered update (``stepped.duplicate``): the chat's current question if the
        step's replies were never sent because the worker that committed it died in between
        (``store.replies_owed``), else nothing. The caller sends them, then calls :meth:`sent`."""
        if not stepped.duplicate:
            return ()
        return await self._owed_now(session, stepped.survey)

    async def owed_if_redelivered(self, session: Session, survey: Survey, key: str) -> tuple[Reply, ...] | None:
        """For an update that changes nothing now (a press on a question no longer current, a
        typed answer that no longer fits): None if update ``key`` was never handled, so it is
        what it looks like (the caller says "this question has passed" or similar); else it is
        the platform redelivering the update that moved the conversation on, and this is what
        :meth:`owed_again` gives for it.

        Why: a redelivered press carries the ``seq`` of the question it answered, which the
        committed step has moved past, so it never reaches the step's exactly-once check; if
        the worker that committed it died before replying, the citizen would wait for ever
        (seen in tests/bot/test_workers_run_kill.py). One read, only on this rare path."""
        if not await self.store.is_processed(self.channel, key):
            return None
        return await self._owed_now(session, survey)

    async def _owed_now(self, session: Session, survey: Survey) -> tuple[Reply, ...]:
        if not await self.store.replies_owed(session):
            return ()
        return engine.current_replies(survey, session.state, buttons=self.buttons)

    async def owed(self) -> list[tuple[Session, Survey, tuple[Reply, ...]]]:
        """Sessions whose last replies were never reported sent (the process died between a
        commit and its replies), each with its survey and its current question to show again."""
        out = []
        for session in await self.store.owed_replies(self.channel):
            survey = await self.survey(session.state.survey_hash)
            out.append((session, survey, engine.current_replies(survey, session.state, buttons=self.buttons)))
        return out
