"""SQLite implementation of ``storage.api.ConversationStore``: what the channels call.

Flow of one channel update (see storage/api.py): ``session_for_chat`` (or ``claim_invite`` /
``open_walk_in``) → the pure engine → ``commit_step`` → only if it returned True, send the replies.
``commit_step`` goes through the group-commit writer, so it returns once the step is on disk.

Binding rule: one respondent has one response, whatever the channel; the latest claim of an
invitation wins, i.e. claiming binds this chat and unbinds any other chat of that respondent,
so a citizen who moves from Zalo to Telegram continues the same answers in Telegram and two
chats never write the same response concurrently.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from bot.engine_types import Event, State
from storage.api import Claim, ClaimStatus, Session
from storage.db import Database
from storage.respondents import (
    RespondentIn,
    bind_chat_op,
    insert_respondent_op,
    looks_like_token,
    normalise_card_code,
)
from storage.responses import create_response_op, mark_unreachable_op
from storage.state_rows import StepRow, StoredState, load_state_op, step_delta
from storage.step_write import PROCESSED_WINDOW_S, StepWrite, replies_sent_op
from storage.writer import WriterClosed
from storage.rounds import Round, get_round, load_survey
from storage.units import walk_in_unit_op
from storage.util import now as _now
from survey_defs.schema import Survey

NewState = Callable[[Survey, str], State]

log = logging.getLogger("hailong.storage")

_WITHDRAWN = ("refused", "substituted")
_DONE = ("completed", "ineligible")


def _default_new_state(survey: Survey, lang: str = "vi") -> State:
    from bot.engine import new_state

    return new_state(survey, lang)


class SqliteConversationStore:
    """ConversationStore over a ``Database``.

    ``new_state`` builds the engine state of a fresh response (default: ``bot.engine.new_state``);
    ``clock`` gives timestamps (tests pass a fake one).
    """

    def __init__(self, db: Database, *, new_state: NewState | None = None,
                 clock: Callable[[], float] = _now, default_lang: str = "vi") -> None:
        self.db = db
        self._new_state: NewState = new_state or _default_new_state
        self._clock = clock
        self.default_lang = default_lang
        # response id -> (state_rev, id(state), id(state.meta)) of the State this store last
        # loaded or committed for it, if its trail is in the rows: the base a step's delta of
        # paradata rows and trail positions is computed against.
        self._bases: dict[int, tuple[int, int, int]] = {}
        self.max_bases = 200_000
        # response id -> (state_rev, channel, chat id) of the step last committed through this
        # store whose replies are owed (see replies_sent); marks wait in _sent until the next
        # loop iteration, so the replies of many steps are recorded sent by one writer op.
        self._due: dict[int, tuple[int, str, str]] = {}
        self._sent: list[tuple[int, int]] = []
        self._sent_scheduled = False

    def _remember(self, response_id: int, rev: int, state: State, trail_in_rows: bool = True) -> None:
        bases = self._bases
        if not trail_in_rows:      # the next step rewrites every row (and moves the trail into them)
            bases.pop(response_id, None)
            return
        if len(bases) >= self.max_bases and response_id not in bases:
            for rid in list(bases)[: self.max_bases // 4]:   # oldest first (insertion order)
                del bases[rid]
        bases[response_id] = (rev, id(state), id(state.meta))

    def _session(self, respondent_id: int, response_id: int, round_id: int, loaded: StoredState,
                 channel: str, chat_id: str) -> Session:
        self._remember(response_id, loaded.rev, loaded.state, loaded.trail_in_rows)
        return Session(respondent_id, response_id, round_id, loaded.state, channel, chat_id)

    # ------------------------------------------------------------------ reads

    async def is_processed(self, channel: str, update_key: str) -> bool:
        return await self.db.fetchone(
            "SELECT 1 FROM processed_updates WHERE channel = ? AND update_key = ? AND at >= ?",
            (channel, update_key, self._clock() - PROCESSED_WINDOW_S)) is not None

    async def session_for_chat(self, channel: str, chat_id: str) -> Session | None:
        """The session of this chat in an open round (None if unbound or the round is not open)."""
        chat_id = str(chat_id)

        def read(conn: sqlite3.Connection) -> tuple[Any, ...] | None:
            r = conn.execute(
                "SELECT b.respondent_id, rs.id, rs.round_id, rs.state FROM chat_bindings AS b"
                " JOIN responses AS rs ON rs.respondent_id = b.respondent_id"
                " JOIN rounds AS ro ON ro.id = rs.round_id"
                " WHERE b.channel = ? AND b.chat_id = ? AND ro.status = 'open'", (channel, chat_id)).fetchone()
            return None if r is None else (r[0], r[1], r[2], load_state_op(conn, r[1], r[3]))

        found = await self.db.read(read)
        if found is None:
            return None
        return self._session(found[0], found[1], found[2], found[3], channel, chat_id)

    async def survey(self, survey_hash: str) -> Survey:
        return await load_survey(self.db, survey_hash)

    # ------------------------------------------------------------------ invitations

    async def _find_invite(self, token: str) -> tuple[int, Round] | None:
        text = (token or "").strip()
        if not text or len(text) > 200:
            return None
        row = None
        if looks_like_token(text):
            row = await self.db.fetchone("SELECT id, round_id FROM respondents WHERE token = ?", (text,))
        if row is None:
            code = normalise_card_code(text)
            if code is None:
                return None
            # A code is unique per round and, by construction, among non-closed rounds: prefer open.
            row = await self.db.fetchone(
                "SELECT p.id, p.round_id FROM respondents AS p JOIN rounds AS r ON r.id = p.round_id"
                " WHERE p.card_code = ? ORDER BY (r.status = 'open') DESC, r.id DESC LIMIT 1", (code,))
            if row is None:
                return None
        r = await get_round(self.db, row[1])
        return None if r is None else (int(row[0]), r)

    def _round_is_open(self, r: Round, at: float) -> bool:
        if r.status != "open":
            return False
        return r.closes_at is None or r.closes_at > at

    async def claim_invite(self, token: str, channel: str, chat_id: str) -> Claim:
        """Bind this chat to the invited respondent (by deep-link token or card code).

        ok: a new response is created from the round's pinned questionnaire, or the existing one
        is continued whatever channel it was started on. unknown: no such token/code. closed: its
        round is not open. withdrawn: the respondent refused (/stop) or was substituted.
        completed: already completed (or screened out as ineligible).
        """
        chat_id = str(chat_id)
        found = await self._find_invite(token)
        if found is None:
            return Claim("unknown")
        respondent_id, rnd = found
        at = self._clock()
        if not self._round_is_open(rnd, at):
            return Claim("closed")
        survey = await load_survey(self.db, rnd.survey_hash)
        # The engine's fresh state is built outside the writer (ops must stay short); the op
        # re-checks inside the transaction, so two simultaneous claims still make one response.
        fresh = self._new_state(survey, self.default_lang)

        def op(conn: sqlite3.Connection) -> tuple[ClaimStatus, int, StoredState | None]:
            st = conn.execute("SELECT status FROM respondents WHERE id = ?", (respondent_id,)).fetchone()[0]
            if st in _WITHDRAWN:
                return "withdrawn", 0, None
            if st in _DONE:
                return "completed", 0, None
            resp = conn.execute("SELECT id FROM responses WHERE respondent_id = ?", (respondent_id,)).fetchone()
            rid = create_response_op(conn, respondent_id, rnd.id, fresh, channel, at) if resp is None else resp[0]
            conn.execute("DELETE FROM chat_bindings WHERE respondent_id = ? AND NOT (channel = ? AND chat_id = ?)",
                         (respondent_id, channel, chat_id))
            bind_chat_op(conn, channel, chat_id, respondent_id, at)
            conn.execute("UPDATE respondents SET status = 'opened', status_at = ?, opened_at = COALESCE(opened_at, ?)"
                         " WHERE id = ? AND status IN ('sampled', 'invited')", (at, at, respondent_id))
            conn.execute("UPDATE respondents SET opened_at = COALESCE(opened_at, ?) WHERE id = ?",
                         (at, respondent_id))
            return "ok", int(rid), load_state_op(conn, rid)

        status, response_id, loaded = await self.db.write(op)
        if status != "ok" or loaded is None:
            return Claim(status)
        return Claim("ok", self._session(respondent_id, response_id, rnd.id, loaded, channel, chat_id))

    async def open_walk_in(self, channel: str, chat_id: str) -> Session | None:
        """An anonymous respondent in the walk-in unit of the newest open round allowing walk-ins.

        Idempotent per chat: a chat that already walked into that round gets its session back.
        """
        chat_id = str(chat_id)
        at = self._clock()
        row = await self.db.fetchone(
            "SELECT id FROM rounds WHERE status = 'open' AND allow_walk_in = 1"
            " AND (closes_at IS NULL OR closes_at > ?) ORDER BY opened_at DESC, id DESC LIMIT 1", (at,))
        if row is None:
            return None
        rnd = await get_round(self.db, row[0])
        if rnd is None:
            return None
        survey = await load_survey(self.db, rnd.survey_hash)
        fresh = self._new_state(survey, self.default_lang)

        def op(conn: sqlite3.Connection) -> tuple[int, int, StoredState]:
            existing = conn.execute(
                "SELECT p.id, rs.id FROM chat_bindings AS b JOIN respondents AS p ON p.id = b.respondent_id"
                " JOIN responses AS rs ON rs.respondent_id = p.id"
                " WHERE b.channel = ? AND b.chat_id = ? AND p.round_id = ?", (channel, chat_id, rnd.id)).fetchone()
            if existing is not None:
                return int(existing[0]), int(existing[1]), load_state_op(conn, existing[1])
            unit_id = rnd.walk_in_unit_id or walk_in_unit_op(conn, rnd.code)
            pid = insert_respondent_op(conn, rnd.id, RespondentIn(
                unit_id, f"tự tham gia qua {channel} / walk-in via {channel}"), walk_in=True, status="opened", at=at)
            conn.execute("UPDATE respondents SET opened_at = ? WHERE id = ?", (at, pid))
            rid = create_response_op(conn, pid, rnd.id, fresh, channel, at)
            bind_chat_op(conn, channel, chat_id, pid, at)
            return pid, rid, load_state_op(conn, rid)

        pid, rid, loaded = await self.db.write(op)
        return self._session(pid, rid, rnd.id, loaded, channel, chat_id)

    # ------------------------------------------------------------------ the hot path

    async def commit_step(self, session: Session, state: State, events: tuple[Event, ...],
                          channel: str, update_key: str) -> bool:
        """Durably store state + events + processed update key in one transaction.

        Returns False (and writes nothing) if (channel, update_key) was already processed; the
        channel then sends nothing. Raises (nothing stored) on a storage failure: the channel
        must not send the replies then, and the platform will redeliver the update.

        ``session`` is the one the store returned (``session_for_chat``, ``claim_invite``,
        ``open_walk_in``) and ``state`` what the engine made of ``session.state``: then only the
        paradata entries this step changed are written. Any other combination (a session kept
        across several steps, a hand-made state) is detected and stores every paradata entry,
        still correct, only slower.
        """
        rid = session.response_id
        base = session.state
        known = self._bases.get(rid)
        delta: list[StepRow] | None = None
        if (known is not None and known[1] == id(base) and known[2] == id(base.meta)
                and (state.meta is not base.meta or (state is base and not events))):
            # The rows that changed against the state this step started from: the engine
            # replaces the AnswerMeta of a step it changes (never mutates one), so identity finds them.
            delta = step_delta(rid, base, state)
        base_rev = known[0] if known is not None and delta is not None else None
        op = StepWrite(rid, session.respondent_id, state, events, channel, str(update_key), self._clock(),
                       delta, base_rev, base)
        try:
            rev = await self.db.write(op)
        except BaseException:
            self._bases.pop(rid, None)
            raise
        if not rev:
            return False
        self._remember(rid, rev, state, op.trail_in_rows)
        self._owe(rid, (rev, channel, session.chat_id))
        return True

    # ------------------------------------------------------------------ replies owed

    def _owe(self, response_id: int, step: tuple[int, str, str]) -> None:
        due = self._due
        if len(due) >= self.max_bases and response_id not in due:
            # Forgetting one only means its reply is shown again after a crash (never lost).
            for rid in list(due)[: self.max_bases // 4]:
                del due[rid]
        due[response_id] = step

    def replies_sent(self, session: Session) -> None:
        """The replies of the step last committed through ``session``'s chat were sent (a step
        committed since through another chat of the same respondent stays owed)."""
        rid = session.response_id
        step = self._due.get(rid)
        if step is None or step[1] != session.channel or step[2] != session.chat_id:
            return
        del self._due[rid]
        self._sent.append((rid, step[0]))
        if not self._sent_scheduled:
            self._sent_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_sent)

    def _flush_sent(self) -> None:
        self._sent_scheduled = False
        rows, self._sent = self._sent, []
        if rows:
            try:
                fut = self.db.write(replies_sent_op(rows))
            except WriterClosed:
                return           # shutting down: these replies are shown again at the next start
            fut.add_done_callback(_log_unrecorded)

    async def owed_replies(self, channel: str) -> list[Session]:
        """Sessions of ``channel`` (open rounds) whose last step's replies were never reported sent."""

        def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            rows = conn.execute(
                "SELECT r.respondent_id, r.id, r.round_id, r.state, b.chat_id, r.reply_due FROM responses AS r"
                " JOIN chat_bindings AS b ON b.respondent_id = r.respondent_id AND b.channel = r.channel"
                " JOIN rounds AS ro ON ro.id = r.round_id"
                " WHERE r.reply_due != 0 AND r.channel = ? AND ro.status = 'open'", (channel,)).fetchall()
            return [(*row[:3], load_state_op(conn, row[1], row[3]), row[4], row[5]) for row in rows]

        out = []
        for respondent_id, response_id, round_id, loaded, chat_id, due in await self.db.read(read):
            self._due[response_id] = (int(due), channel, str(chat_id))
            out.append(self._session(respondent_id, response_id, round_id, loaded, channel, str(chat_id)))
        return out

    async def mark_unreachable(self, respondent_id: int, reason: str) -> None:
        at = self._clock()
        await self.db.write(lambda conn: mark_unreachable_op(conn, respondent_id, reason, at))


def _log_unrecorded(fut: "asyncio.Future[Any]") -> None:
    if not fut.cancelled() and fut.exception() is not None:
        # The replies were sent; only the record of it is missing: at worst they are shown
        # again after a restart.
        log.warning("could not record replies as sent: %s", fut.exception())
