"""SQLite implementation of ``storage.api.ConversationStore``: what the channels call.

Flow of one channel update (see storage/api.py): ``session_for_chat`` (or ``claim_invite`` /
``open_walk_in``) → the pure engine → ``commit_step`` → only if it returned True, send the replies.
``commit_step`` goes through the group-commit writer, so it returns once the step is on disk.

Binding rule: one respondent has one response, whatever the channel, and one chat at a time
drives it, so two chats never write the same response concurrently. A claim is counted and
limited (``storage.claims``) and a credential bound to another chat moves only as the hand-over
rule says (``storage.handovers``, docs/credentials.md): at once while nothing was answered,
otherwise after the holder allows it, or with the earlier answers hidden when the holder does
not answer in time.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any, NamedTuple

from engine import new_state as engine_new_state
from engine.types import Event, State
from storage.api import Claim, ClaimStatus, HandoverDecision, Session, StaleSession
from storage.claims import Admission, ClaimPolicy, Outcome, admit_op, prune_op, record_op
from storage.credentials import MALFORMED, Credential, read_credential
from storage.chat_locks import ChatLocks
from storage.db import Database
from storage.dialect import SQLITE
from storage import rights
from storage.masked_write import MaskedStepWrite
from storage.redact import has_text
from storage.handovers import decide_op, has_answers_op, move_binding_op, notify_moved_op, request_op, seal_op
from storage.respondents import RespondentIn, bind_chat_op, insert_respondent_op
from storage.responses import create_response_op, mark_unreachable_op
from storage.state_rows import StepRow, StoredState, load_state_op, step_delta
from storage.step_write import PROCESSED_WINDOW_S, StepWrite, replies_sent_op
from storage.writer import Epoch, WriterClosed
from storage.rounds import Round, get_round, load_survey
from storage.units import walk_in_unit_op
from storage.util import now as _now
from survey_defs.schema import Survey

claims_log = logging.getLogger("hailong.claims")

NewState = Callable[[Survey, str], State]

log = logging.getLogger("hailong.storage")

_WITHDRAWN = ("refused", "substituted")
_DONE = ("completed", "ineligible")
# How each answer to a claim is counted in the ledger (storage.claims).
_OUTCOME: dict[str, Outcome] = {"ok": "ok", "held": "held", "not_allowed": "held", "completed": "final",
                                "closed": "final", "withdrawn": "final", "unknown": "failed", "typo": "malformed"}


class _Claimed(NamedTuple):
    """What a claim did inside its transaction: the status, the response and its state if ok,
    whether it took the response over with the earlier answers hidden, and for a held claim the
    seconds until the holder's time to answer runs out."""

    status: ClaimStatus
    response_id: int = 0
    loaded: StoredState | None = None
    sealed: bool = False
    wait: float = 0.0


#: Several workers: a reply owed for less than this belongs to a live worker (``owed_replies``).
OWED_GRACE_S = 10.0


class SqliteConversationStore:
    """ConversationStore over a ``Database``.

    ``new_state`` builds the engine state of a fresh response (default: ``engine.new_state``);
    ``clock`` gives timestamps (tests pass a fake one); ``claim_policy``: the claim limits and
    hand-over timeout (``storage.claims.ClaimPolicy``, from the settings in ``hailong run``).
    """

    def __init__(self, db: Database, *, new_state: NewState | None = None,
                 clock: Callable[[], float] = _now, default_lang: str = "vi",
                 claim_policy: ClaimPolicy | None = None) -> None:
        self.db = db
        self.claim_policy = claim_policy or ClaimPolicy()
        self._pruned_at = float("-inf")
        self._campaigns: set[str] = set()
        self._new_state: NewState = new_state or engine_new_state
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
        # response id -> revision whose "sent" mark is queued or on its way to the database
        self._marking: dict[int, int] = {}
        self._chat_locks = ChatLocks(db)
        # (channel, chat id) -> the chat's session as last read or committed here, marked cached
        # (see session_for_chat). SQLite only: one serving process, so a chat's updates all come
        # here; on a database several workers share, the next update of a chat usually reaches
        # another worker, and the cache would mostly be out of date.
        self._sessions: dict[tuple[str, str], Session] = {}
        self.max_sessions = 20_000
        self._epoch: Epoch | None = db.writer.epoch if getattr(db, "backend", "") == SQLITE else None

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
                 channel: str, chat_id: str, epoch: int | None = None) -> Session:
        self._remember(response_id, loaded.rev, loaded.state, loaded.trail_in_rows)
        session = Session(respondent_id, response_id, round_id, loaded.state, channel, chat_id, epoch)
        if epoch is not None and loaded.trail_in_rows:
            self._keep(session)
        return session

    def _keep(self, session: Session) -> None:
        """Cache ``session`` for its chat (marked cached: what a later hit returns)."""
        sessions = self._sessions
        key = (session.channel, session.chat_id)
        if sessions.pop(key, None) is None and len(sessions) >= self.max_sessions:
            for k in list(sessions)[: self.max_sessions // 4]:   # least recently used first
                del sessions[k]
        sessions[key] = replace(session, cached=True)

    def forget_session(self, channel: str, chat_id: str) -> None:
        self._sessions.pop((channel, str(chat_id)), None)

    # ------------------------------------------------------------------ reads

    async def is_processed(self, channel: str, update_key: str) -> bool:
        return await self.db.fetchone(
            "SELECT 1 FROM processed_updates WHERE channel = ? AND update_key = ? AND at >= ?",
            (channel, update_key, self._clock() - PROCESSED_WINDOW_S)) is not None

    async def session_for_chat(self, channel: str, chat_id: str, *, cached: bool = False) -> Session | None:
        """The session of this chat in an open round (None if unbound or the round is not open).

        ``cached``: the session this store last read or committed for the chat, without a read,
        if the writer's session epoch has not moved since it was read (``storage.writer``:
        nothing but steps written, no other process committed) and its state is still the
        base this store knows. Why: the read was a thread hop per update, about a fifth of the
        bot's CPU per answer (benchmarks/telegram_e2e.py). Why it is safe: a step built on it is
        checked on the writer thread (epoch and revision: ``StaleSession``, nothing stored), and
        a channel reads again before deciding anything without a write (a stale button, a
        notice). A miss, or ``cached=False``, reads."""
        chat_id = str(chat_id)
        epoch = self._epoch
        if cached and epoch is not None:
            hit = self._sessions.get((channel, chat_id))
            if hit is not None and hit.epoch == epoch.value:
                known = self._bases.get(hit.response_id)
                if known is not None and known[1] == id(hit.state):
                    return hit
        read_at = epoch.value if epoch is not None else None

        def read(conn: sqlite3.Connection) -> tuple[Any, ...] | None:
            r = conn.execute(
                "SELECT b.respondent_id, rs.id, rs.round_id, rs.state FROM chat_bindings AS b"
                " JOIN responses AS rs ON rs.respondent_id = b.respondent_id"
                " JOIN rounds AS ro ON ro.id = rs.round_id"
                " WHERE b.channel = ? AND b.chat_id = ? AND ro.status = 'open'", (channel, chat_id)).fetchone()
            return None if r is None else (r[0], r[1], r[2], load_state_op(conn, r[1], r[3]))

        found = await self.db.read(read)
        if found is None:
            self._sessions.pop((channel, chat_id), None)
            return None
        return self._session(found[0], found[1], found[2], found[3], channel, chat_id, read_at)

    async def survey(self, survey_hash: str) -> Survey:
        return await load_survey(self.db, survey_hash)

    def chat_lock(self, channel: str, chat_id: str) -> AbstractAsyncContextManager[None]:
        """Hold while loading, stepping and committing one update of this chat: the updates of
        a chat are then applied one after the other, whichever worker receives them
        (``storage.chat_locks``)."""
        return self._chat_locks.hold(channel, str(chat_id))

    # ------------------------------------------------------------------ invitations

    async def _find_invite(self, cred: Credential) -> tuple[int, Round] | None:
        """The respondent a normalised credential names (read-only; a malformed one names none)."""
        if cred.kind == "token":
            row = await self.db.fetchone("SELECT id, round_id FROM respondents WHERE token = ?", (cred.value,))
        elif cred.kind == "code":
            # A code is unique per round and, by construction, among non-closed rounds: prefer open.
            row = await self.db.fetchone(
                "SELECT p.id, p.round_id FROM respondents AS p JOIN rounds AS r ON r.id = p.round_id"
                " WHERE p.card_code = ? ORDER BY (r.status = 'open') DESC, r.id DESC LIMIT 1", (cred.value,))
        else:
            return None
        if row is None:
            return None
        r = await get_round(self.db, row[1])
        return None if r is None else (int(row[0]), r)

    def _round_is_open(self, r: Round, at: float) -> bool:
        if r.status != "open":
            return False
        return r.closes_at is None or r.closes_at > at

    async def claim_invite(self, token: str, channel: str, chat_id: str, update_key: str | None = None) -> Claim:
        """Bind this chat to the invited respondent (by deep-link token or card code), within the
        claim limits and the hand-over rule (``storage.claims``, ``storage.handovers``,
        docs/credentials.md; the statuses are ``storage.api.Claim``'s).

        ok: a new response is created from the round's pinned questionnaire, or the existing one
        is continued whatever channel it was started on.
        """
        chat_id = str(chat_id)
        at = self._clock()
        cred = read_credential(token) or MALFORMED
        found = await self._find_invite(cred)
        fresh: State | None = None
        if found is not None and self._round_is_open(found[1], at):
            survey = await load_survey(self.db, found[1].survey_hash)
            # The engine's fresh state is built outside the writer (ops must stay short); the op
            # re-checks inside the transaction, so two simultaneous claims still make one response.
            fresh = self._new_state(survey, self.default_lang)
        policy = self.claim_policy
        prune = at - self._pruned_at >= 60.0
        if prune:
            self._pruned_at = at

        def op(conn: sqlite3.Connection) -> tuple[Claim, Admission, int, int, StoredState | None]:
            if prune:
                prune_op(conn, policy, at)
            adm = admit_op(conn, policy, channel, chat_id, update_key, cred.kind != "malformed", at)
            if adm.refused is not None:
                status: ClaimStatus = "limited" if adm.refused != "slowed" else "slowed"
                return Claim(status, retry_after=adm.retry_after), adm, 0, 0, None
            c = self._claim_op(conn, cred, found, fresh, channel, chat_id, at)
            record_op(conn, channel, chat_id, update_key, at, _OUTCOME[c.status])
            claim = Claim(c.status, retry_after=c.wait, repeat=adm.repeat, sealed=c.sealed)
            return claim, adm, found[0] if found else 0, c.response_id, c.loaded

        claim, adm, respondent_id, response_id, loaded = await self.db.write(op)
        self._watch_campaign(channel, adm)
        if claim.status != "ok" or loaded is None or found is None:
            return claim
        return Claim("ok", self._session(respondent_id, response_id, found[1].id, loaded, channel, chat_id),
                     repeat=claim.repeat, sealed=claim.sealed)

    def _claim_op(self, conn: sqlite3.Connection, cred: Credential, found: tuple[int, Round] | None,
                  fresh: State | None, channel: str, chat_id: str,
                  at: float) -> _Claimed:
        """The claim itself, inside the write transaction (after admission)."""
        if cred.kind == "malformed":
            return _Claimed("typo")
        if found is None:
            return _Claimed("unknown")
        respondent_id, rnd = found
        here = (channel, chat_id)
        bound = conn.execute("SELECT respondent_id FROM chat_bindings WHERE channel = ? AND chat_id = ?",
                             here).fetchone()
        owner = bound is not None and bound[0] == respondent_id
        # No oracle: what is not this chat's to use gets one answer, whatever the reason.
        if fresh is None:
            return _Claimed(("closed" if owner else "unknown"))
        st = conn.execute("SELECT status FROM respondents WHERE id = ?", (respondent_id,)).fetchone()[0]
        if st in _WITHDRAWN:
            return _Claimed(("withdrawn" if owner else "unknown"))
        if st in _DONE:
            return _Claimed(("completed" if owner else "unknown"))
        resp = conn.execute("SELECT id FROM responses WHERE respondent_id = ?", (respondent_id,)).fetchone()
        holders = [(r[0], r[1]) for r in conn.execute(
            "SELECT channel, chat_id FROM chat_bindings WHERE respondent_id = ? AND NOT (channel = ? AND chat_id = ?)",
            (respondent_id, *here)).fetchall()]
        if resp is None:
            rid = create_response_op(conn, respondent_id, rnd.id, fresh, channel, at)
        else:
            rid = int(resp[0])
        sealed = False
        if holders and not owner and has_answers_op(conn, rid):
            policy = self.claim_policy
            outcome, h = request_op(conn, policy, respondent_id, rnd.id, holders[0], here, at)
            if outcome == "held" and h is not None:
                return _Claimed("held", wait=max(60.0, h.asked_at + policy.handover_timeout_s - at))
            if outcome != "expired":
                return _Claimed(outcome)
            seal_op(conn, rid)
            sealed = True
        elif holders and not owner:
            notify_moved_op(conn, rnd.id, holders, here, at, f"{respondent_id}:{at!r}")
        if holders:
            move_binding_op(conn, respondent_id, here, at)
        else:
            bind_chat_op(conn, channel, chat_id, respondent_id, at)
        conn.execute("UPDATE respondents SET status = 'opened', status_at = ?, opened_at = COALESCE(opened_at, ?)"
                     " WHERE id = ? AND status IN ('sampled', 'invited')", (at, at, respondent_id))
        conn.execute("UPDATE respondents SET opened_at = COALESCE(opened_at, ?) WHERE id = ?",
                     (at, respondent_id))
        return _Claimed("ok", rid, load_state_op(conn, rid), sealed)

    def _watch_campaign(self, channel: str, adm: Admission) -> None:
        """Log when a guessing campaign starts and ends on a channel (no chat ids, no codes)."""
        was = channel in self._campaigns
        if adm.campaign is not None and not was:
            self._campaigns.add(channel)
            failed, chats = adm.campaign
            claims_log.warning("possible invitation-code guessing on %s: %d failed claims from %d chats in the last "
                        "hour; every claim on this channel is now spaced %.0f s apart", channel, failed, chats,
                        self.claim_policy.campaign_spacing_s)
        elif adm.campaign is None and was and not adm.repeat:
            self._campaigns.discard(channel)
            claims_log.info("claims on %s back to normal (failed claims in the last hour below %d)", channel,
                     self.claim_policy.campaign_failures_per_hour)

    async def decide_handover(self, channel: str, chat_id: str, allow: bool,
                              nonce: str | None = None) -> HandoverDecision:
        """The holder chat allows a pending hand-over or says "not me" (``storage.handovers``)."""
        at = self._clock()
        holder = (channel, str(chat_id))
        decided = await self.db.write(lambda conn: decide_op(conn, holder, nonce, allow, at))
        return HandoverDecision(decided.status)

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
        if session.cached and base_rev is None:   # nothing to check it against: read it again
            self._sessions.pop((session.channel, session.chat_id), None)
            raise StaleSession("no known base for a cached session / phiên không còn dùng được")
        # A step with typed text is masked on the writer thread (storage.masked_write).
        kind = MaskedStepWrite if has_text(events) else StepWrite
        epoch = self._epoch
        op = kind(rid, session.respondent_id, state, events, channel, str(update_key), self._clock(),
                  delta, base_rev, base, trusted_at=session.epoch if session.cached else None, epoch=epoch)
        try:
            rev = await self.db.write(op)
        except BaseException:
            self._bases.pop(rid, None)
            self._sessions.pop((session.channel, session.chat_id), None)
            raise
        if not rev:
            return False
        self._remember(rid, rev, state, op.trail_in_rows)
        self._owe(rid, (rev, channel, session.chat_id))
        if epoch is not None and session.epoch is not None:
            if session.epoch == epoch.value and op.trail_in_rows and session.channel == channel:
                # nothing but steps written since the session was read: the new state is the chat's
                self._keep(replace(session, state=state))
            else:
                self._sessions.pop((session.channel, session.chat_id), None)
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
        self._marking[rid] = step[0]
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
            fut.add_done_callback(lambda _f: self._marked(rows))

    def _marked(self, rows: list[tuple[int, int]]) -> None:
        marking = self._marking
        for rid, rev in rows:
            if marking.get(rid) == rev:
                del marking[rid]

    async def replies_owed(self, session: Session) -> bool:
        """After a redelivered update of ``session``'s chat: whether the replies of the
        response's last step are still owed by nobody alive.

        A platform redelivers an update when the worker it went to failed to confirm it; if that
        worker died after committing the step but before its replies were sent, the step is
        stored (the redelivery is a duplicate) yet the citizen never saw the next question, and
        would wait for ever. This process's own steps are not owed here: their replies are being
        sent (``_due``) or their "sent" mark is being written (``_marking``). On a shared
        database another live worker's step is not owed either: it holds the chat's lock while
        it sends (Telegram) and the caller holds that lock now. When True, the step is this
        store's to report sent: show the current question, then call ``replies_sent``."""
        rid = session.response_id
        if rid in self._due or rid in self._marking:
            return False
        row = await self.db.fetchone("SELECT reply_due FROM responses WHERE id = ? AND channel = ?",
                                     (rid, session.channel))
        if row is None or not row[0]:
            return False
        self._owe(rid, (int(row[0]), session.channel, session.chat_id))
        return True

    async def owed_replies(self, channel: str) -> list[Session]:
        """Sessions of ``channel`` (open rounds) whose last step's replies were never reported sent.

        On a database several workers share (PostgreSQL), a step committed in the last
        ``OWED_GRACE_S`` seconds is another live worker's, whose replies are on their way: showing
        that question again from here, from a state read now, could show a question the citizen
        has already moved past. Only steps older than that are owed by a worker that died."""
        shared = getattr(self.db, "backend", "sqlite") == "postgresql"
        recent = " AND r.updated_at < ?" if shared else ""
        params: tuple[Any, ...] = (channel, self._clock() - OWED_GRACE_S) if shared else (channel,)

        def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            rows = conn.execute(
                "SELECT r.respondent_id, r.id, r.round_id, r.state, b.chat_id, r.reply_due FROM responses AS r"
                " JOIN chat_bindings AS b ON b.respondent_id = r.respondent_id AND b.channel = r.channel"
                " JOIN rounds AS ro ON ro.id = r.round_id"
                f" WHERE r.reply_due != 0 AND r.channel = ? AND ro.status = 'open'{recent}", params).fetchall()
            return [(*row[:3], load_state_op(conn, row[1], row[3]), row[4], row[5]) for row in rows]

        out = []
        for respondent_id, response_id, round_id, loaded, chat_id, due in await self.db.read(read):
            self._due[response_id] = (int(due), channel, str(chat_id))
            out.append(self._session(respondent_id, response_id, round_id, loaded, channel, str(chat_id)))
        return out

    # ------------------------------------------------------------------ the citizen's rights

    async def my_data(self, channel: str, chat_id: str, update_key: str | None = None) -> Any:
        """``/dulieu``: what is stored about the chat's respondent (storage.rights.my_data)."""
        return await rights.my_data(self.db, channel, str(chat_id), update_key)

    async def erase_chat(self, channel: str, chat_id: str, update_key: str | None = None) -> Any:
        """``/xoa``: erase the chat's respondent now (storage.rights.erase_chat)."""
        return await rights.erase_chat(self.db, channel, str(chat_id), update_key)

    async def mark_unreachable(self, respondent_id: int, reason: str) -> None:
        at = self._clock()
        await self.db.write(lambda conn: mark_unreachable_op(conn, respondent_id, reason, at))


def _log_unrecorded(fut: "asyncio.Future[Any]") -> None:
    if not fut.cancelled() and fut.exception() is not None:
        # The replies were sent; only the record of it is missing: at worst they are shown
        # again after a restart.
        log.warning("could not record replies as sent: %s", fut.exception())
