"""Hand-overs: a credential already bound to one chat moves to another only as the rule says.

The rule (docs/credentials.md), for a claim by chat B of a respondent whose response chat A
holds:

* **no answers yet**: the binding moves to B at once (nothing to reveal) and A is told;
* **answers given**: B is *held* ("already in use on another chat; we asked that chat") and A is
  asked, with buttons on Telegram or typed words elsewhere, to allow the move or say "not me":

  - allowed → B is bound and continues, seeing everything (A vouched for it); A is unbound;
  - "not me" → B is refused for that respondent from then on, and staff see it;
  - no answer within ``ClaimPolicy.handover_timeout_s``, or A cannot be reached (the request
    to A died in the outbox) → B's next claim binds it, but every step answered so far is
    *hidden* from it (``State.hidden``: "back" stops there, the review shows them without
    values) and A's binding goes.

Only one request per respondent is pending at a time (a second chat is held without asking A
again); a request that timed out is replaced by a newer one (``lapsed``). Every notice goes
through the outbox, written in the same transaction as the decision it announces, so it
survives a crash and reaches a chat on any channel. All functions here are writer ops: they run
inside the caller's transaction.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass, replace
from typing import Any, Literal

from engine import claim_texts as texts
from storage.claims import ClaimPolicy
from storage.outbox import OutboxItem, enqueue_op
from storage.respondents import bind_chat_op
from storage.state_rows import cursor_json, load_state_op

Chat = tuple[str, str]          # (channel, chat id)
Request = Literal["held", "not_allowed", "expired"]

_COLS = ("id, respondent_id, from_channel, from_chat, to_channel, to_chat, nonce, asked_at, status,"
         " decided_at")


@dataclass(frozen=True, slots=True)
class Handover:
    id: int
    respondent_id: int
    from_channel: str
    from_chat: str
    to_channel: str
    to_chat: str
    nonce: str
    asked_at: float
    status: str
    decided_at: float | None

    @property
    def holder(self) -> Chat:
        return self.from_channel, self.from_chat

    @property
    def claimer(self) -> Chat:
        return self.to_channel, self.to_chat


def _row(r: Any) -> Handover:
    return Handover(*tuple(r))


def has_answers_op(conn: sqlite3.Connection, response_id: int) -> bool:
    """Whether any step of the response was settled (answered or skipped)."""
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM answers_current WHERE response_id = ?1)"
        " OR EXISTS (SELECT 1 FROM response_steps WHERE response_id = ?1 AND answered_at IS NOT NULL)",
        (response_id,)).fetchone()[0] == 1


def move_binding_op(conn: sqlite3.Connection, respondent_id: int, to: Chat, at: float) -> None:
    """Bind ``to`` as the respondent's only chat; requests still pending for it lapse."""
    conn.execute("DELETE FROM chat_bindings WHERE respondent_id = ? AND NOT (channel = ? AND chat_id = ?)",
                 (respondent_id, *to))
    bind_chat_op(conn, to[0], to[1], respondent_id, at)
    conn.execute("UPDATE claim_handovers SET status = 'lapsed', decided_at = ? WHERE respondent_id = ?"
                 " AND status = 'pending'", (at, respondent_id))


def _notify(conn: sqlite3.Connection, to: Chat, key: str, text: str, round_id: int, at: float,
            buttons: list[list[dict[str, str]]] | None = None) -> None:
    payload: dict[str, Any] = {"text": text}
    if buttons:
        payload["buttons"] = buttons
    # No respondent id: a notice that cannot be delivered must not mark the respondent (who may
    # be answering on the other chat) unreachable; a dead request is read by ``_due`` instead.
    enqueue_op(conn, [OutboxItem(to[0], to[1], "notice", key, payload, round_id=round_id)], at)


def notify_moved_op(conn: sqlite3.Connection, round_id: int, holders: list[Chat], claimer: Chat,
                    at: float, key: str) -> None:
    """Tell the former holders of a credential without answers that another chat took it."""
    for h in holders:
        _notify(conn, h, f"moved:{key}:{h[0]}:{h[1]}", texts.moved(h[0], claimer[0]), round_id, at)


def _due(conn: sqlite3.Connection, h: Handover, policy: ClaimPolicy, at: float) -> bool:
    """A pending request the holder can no longer answer in time: timed out, or undeliverable."""
    if h.asked_at + policy.handover_timeout_s <= at:
        return True
    row = conn.execute("SELECT status FROM outbox WHERE dedupe_key = ?", (f"handover:{h.id}:ask",)).fetchone()
    return row is not None and row[0] == "dead"


def request_op(conn: sqlite3.Connection, policy: ClaimPolicy, respondent_id: int, round_id: int,
               holder: Chat, claimer: Chat, at: float) -> tuple[Request, Handover | None]:
    """A claim by ``claimer`` of a respondent ``holder`` answers with: held (asked, or waiting),
    not_allowed (the holder said "not me" to this chat before), or expired (the request timed
    out: the caller binds the claimer with every answer so far hidden)."""
    ex = conn.execute
    if ex("SELECT 1 FROM claim_handovers WHERE respondent_id = ? AND to_channel = ? AND to_chat = ?"
          " AND status = 'denied'", (respondent_id, *claimer)).fetchone():
        return "not_allowed", None
    r = ex(f"SELECT {_COLS} FROM claim_handovers WHERE respondent_id = ? AND status = 'pending'"
           " ORDER BY id DESC LIMIT 1", (respondent_id,)).fetchone()
    if r is not None:
        p = _row(r)
        due = _due(conn, p, policy, at)
        if p.claimer == claimer:
            if not due:
                return "held", p
            ex("UPDATE claim_handovers SET status = 'expired', decided_at = ? WHERE id = ?", (at, p.id))
            return "expired", p
        if not due:
            return "held", p           # someone else's request is open: wait without asking again
        ex("UPDATE claim_handovers SET status = 'lapsed', decided_at = ? WHERE id = ?", (at, p.id))
    nonce = secrets.token_urlsafe(12)
    hid = int(ex("INSERT INTO claim_handovers (respondent_id, from_channel, from_chat, to_channel, to_chat, nonce,"
                 " asked_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                 (respondent_id, *holder, *claimer, nonce, at)).fetchone()[0])
    _notify(conn, holder, f"handover:{hid}:ask", texts.ask(holder[0], claimer[0], policy.handover_timeout_s),
            round_id, at, texts.ask_buttons(nonce) if holder[0] == "telegram" else None)
    created = _row(ex(f"SELECT {_COLS} FROM claim_handovers WHERE id = ?", (hid,)).fetchone())
    return "held", created


def seal_op(conn: sqlite3.Connection, response_id: int) -> None:
    """Hide every step settled so far from whoever continues the response (``State.hidden``):
    the current step too if it holds an answer (after "back"), and any picks in progress."""
    loaded = load_state_op(conn, response_id)
    st = loaded.state
    settled = [k for k, m in st.meta.items() if m.answered_at is not None]
    if st.current is not None and st.current in st.answers:
        settled.append(st.current)
    hidden = list(dict.fromkeys([*st.hidden, *st.trail, *settled, *st.answers]))
    sealed = replace(st, hidden=hidden, picks=[])
    conn.execute("UPDATE responses SET state = ?, state_rev = state_rev + 1 WHERE id = ?",
                 (cursor_json(sealed, with_trail=not loaded.trail_in_rows), response_id))


@dataclass(frozen=True, slots=True)
class Decided:
    """The holder's answer to a request: ``allowed``, ``denied``, or ``none`` (no such pending
    request for this chat: already answered, timed out and replaced, or forged)."""

    status: Literal["allowed", "denied", "none"]
    respondent_id: int | None = None


def decide_op(conn: sqlite3.Connection, holder: Chat, nonce: str | None, allow: bool, at: float) -> Decided:
    """The holder allows the move or says "not me". ``nonce`` (from a button) must match the
    request; typed words (``nonce`` None) answer the newest request to this chat."""
    ex = conn.execute
    sql = f"SELECT {_COLS} FROM claim_handovers WHERE from_channel = ? AND from_chat = ? AND status = 'pending'"
    params: list[Any] = [*holder]
    if nonce is not None:
        sql += " AND nonce = ?"
        params.append(nonce)
    r = ex(sql + " ORDER BY id DESC LIMIT 1", params).fetchone()
    if r is None:
        return Decided("none")
    h = _row(r)
    bound = ex("SELECT respondent_id FROM chat_bindings WHERE channel = ? AND chat_id = ?", holder).fetchone()
    round_row = ex("SELECT round_id FROM respondents WHERE id = ?", (h.respondent_id,)).fetchone()
    if bound is None or bound[0] != h.respondent_id or round_row is None:
        ex("UPDATE claim_handovers SET status = 'lapsed', decided_at = ? WHERE id = ?", (at, h.id))
        return Decided("none")
    round_id = int(round_row[0])
    if allow:
        move_binding_op(conn, h.respondent_id, h.claimer, at)
        ex("UPDATE claim_handovers SET status = 'allowed', decided_at = ? WHERE id = ?", (at, h.id))
        _notify(conn, h.claimer, f"handover:{h.id}:allowed", texts.allowed_new(h.to_channel), round_id, at)
        return Decided("allowed", h.respondent_id)
    ex("UPDATE claim_handovers SET status = 'denied', decided_at = ? WHERE id = ?", (at, h.id))
    _notify(conn, h.claimer, f"handover:{h.id}:denied", texts.NOT_ALLOWED, round_id, at)
    return Decided("denied", h.respondent_id)


# ------------------------------------------------------------------ what staff see

@dataclass(frozen=True, slots=True)
class HandoverCounts:
    """Hand-over requests of a round by outcome, and the respondents whose holder said "not me"
    (a possible stolen or guessed card: staff call the household)."""

    pending: int
    allowed: int
    denied: int
    expired: int
    denied_respondents: tuple[int, ...]


async def handover_counts(db: Any, round_id: int) -> HandoverCounts:
    rows = await db.fetchall(
        "SELECT h.status, COUNT(*) FROM claim_handovers AS h JOIN respondents AS p ON p.id = h.respondent_id"
        " WHERE p.round_id = ? GROUP BY h.status", (round_id,))
    n = {r[0]: int(r[1]) for r in rows}
    denied = await db.fetchall(
        "SELECT DISTINCT h.respondent_id FROM claim_handovers AS h JOIN respondents AS p ON p.id = h.respondent_id"
        " WHERE p.round_id = ? AND h.status = 'denied' ORDER BY h.respondent_id", (round_id,))
    return HandoverCounts(n.get("pending", 0), n.get("allowed", 0), n.get("denied", 0), n.get("expired", 0),
                          tuple(int(r[0]) for r in denied))
