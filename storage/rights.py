"""The citizen's rights: access (``/dulieu``, ``/mydata``) and erasure (``/xoa``, ``/delete``).

Law 91/2025/QH15 gives a data subject the right to know and see their data, to withdraw consent
and to have it deleted, and sets deadlines for the controller's answer; hailong logs every
request with a 15-day deadline (``DEADLINE_DAYS``, see docs/privacy.md). A request made in the
chat is answered at once and logged as done; a request made another way (a call, a letter to
the Department) is logged by staff (``hailong requests add``) and stays open until done; open
requests past their deadline show in ``hailong status --problems``.

Erasure (``erase_respondent_op``) deletes the respondent's contact data, chat bindings,
invitation credentials, outbox payloads and claim records (``storage.purge.erase_respondents_op``,
the same code as a round purge), with ``secure_delete`` on so the deleted rows are zeroed in
place; an unfinished questionnaire ends as refused (consent withdrawn). Answers: kept
de-identified (free text masked) unless the round's setting ``erase_answers`` is true, in which
case they are deleted too. The shipped consent notice says answers are kept; a round that
erases them must say so in its questionnaire's notice.

A request row holds no chat id: the respondent id only, so the log survives a purge.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any, Literal

from storage.audit import audit_op
from storage.db import Database, StorageError
from storage.purge import erase_respondents_op
from storage.util import dumps, loads_obj, now

DAY = 86_400.0
#: Days a controller has to act on a request (Law 91/2025/QH15; docs/privacy.md).
DEADLINE_DAYS = 15
RequestKind = Literal["access", "erase"]
KINDS = ("access", "erase")


class RightsError(StorageError):
    """A request cannot be recorded or closed as asked (bilingual message)."""


@dataclass(frozen=True, slots=True)
class RightsRequest:
    id: int
    round_id: int | None
    respondent_id: int | None
    channel: str
    kind: str
    received_at: float
    due_at: float
    status: str
    done_at: float | None
    done_by: str | None
    outcome: dict[str, Any]

    def overdue(self, at: float) -> bool:
        return self.status == "open" and self.due_at < at


@dataclass
class MyData:
    """What is stored about the respondent behind a chat (contact fields already masked)."""

    round_code: str
    round_name: str
    survey_hash: str
    status: str                        # the respondent's disposition
    contact: dict[str, str]            # field → masked value
    chats: list[str]                   # channels with a chat bound
    lang: str = "vi"
    answers: list[tuple[str, Any]] = field(default_factory=list)   # (step id, stored value), asked order
    consents: list[tuple[float, str, str, bool]] = field(default_factory=list)  # at, version, channel, agreed
    request_id: int = 0


_COLS = "id, round_id, respondent_id, channel, kind, received_at, due_at, status, done_at, done_by, outcome"


def _row(r: Any) -> RightsRequest:
    return RightsRequest(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], loads_obj(r[10]))


def mask_value(kind: str, value: str | None) -> str | None:
    """A contact value shown back to its owner, masked enough that a shoulder-reader learns little:
    phone 0912345678 → 09******78, a name → initials, ids → last 3 characters, address → first word."""
    if not value:
        return None
    v = str(value).strip()
    if kind == "phone":
        digits = "".join(ch for ch in v if ch.isdigit())
        return digits[:2] + "*" * max(0, len(digits) - 4) + digits[-2:] if len(digits) > 4 else "*" * len(digits)
    if kind == "name":
        return " ".join(w[0] + "." for w in v.split() if w)
    if kind == "address":
        return v.split()[0] + " …" if " " in v else v[:1] + "…"
    return "…" + v[-3:] if len(v) > 3 else "*" * len(v)


def record_request_op(conn: sqlite3.Connection, kind: str, channel: str, respondent_id: int | None,
                      round_id: int | None, at: float, *, status: str = "open", done_by: str | None = None,
                      outcome: dict[str, Any] | None = None, actor: str = "citizen") -> int:
    """Log a request (with its deadline) and its audit row, in the caller's transaction."""
    if kind not in KINDS:
        raise RightsError(f"loại yêu cầu không hợp lệ / unknown request kind {kind!r}; dùng / use {', '.join(KINDS)}")
    rid = conn.execute(
        "INSERT INTO privacy_requests (round_id, respondent_id, channel, kind, received_at, due_at, status, done_at,"
        " done_by, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (round_id, respondent_id, channel, kind, at, at + DEADLINE_DAYS * DAY, status,
         at if status == "done" else None, done_by, dumps(outcome or {}))).fetchone()[0]
    audit_op(conn, actor, f"privacy.request.{kind}", {"request": rid, "channel": channel, "status": status,
                                                     "respondent_id": respondent_id, **(outcome or {})}, round_id, at)
    return int(rid)


def chat_respondent_op(conn: sqlite3.Connection, channel: str, chat_id: str) -> tuple[int, int] | None:
    """(respondent id, round id) of the chat's latest binding, whatever the round's status."""
    r = conn.execute("SELECT p.id, p.round_id FROM chat_bindings AS b JOIN respondents AS p ON p.id = b.respondent_id"
                     " WHERE b.channel = ? AND b.chat_id = ? ORDER BY b.bound_at DESC LIMIT 1",
                     (channel, str(chat_id))).fetchone()
    return None if r is None else (int(r[0]), int(r[1]))


def my_data_op(conn: sqlite3.Connection, channel: str, chat_id: str, at: float) -> MyData | None:
    """Read what is stored about the chat's respondent and log the access request as done."""
    found = chat_respondent_op(conn, channel, chat_id)
    if found is None:
        record_request_op(conn, "access", channel, None, None, at, status="done", done_by="chat",
                          outcome={"found": False})
        return None
    pid, round_id = found
    r = conn.execute("SELECT code, name, survey_hash FROM rounds WHERE id = ?", (round_id,)).fetchone()
    status = conn.execute("SELECT status FROM respondents WHERE id = ?", (pid,)).fetchone()[0]
    c = conn.execute("SELECT name, phone, telegram_id, zalo_id, address FROM contacts WHERE respondent_id = ?",
                     (pid,)).fetchone()
    contact: dict[str, str] = {}
    if c is not None:
        for kind, value in zip(("name", "phone", "telegram_id", "zalo_id", "address"), c):
            m = mask_value(kind, value)
            if m:
                contact[kind] = m
    chats = [x[0] for x in conn.execute("SELECT DISTINCT channel FROM chat_bindings WHERE respondent_id = ?"
                                        " ORDER BY channel", (pid,))]
    resp = conn.execute("SELECT id, lang FROM responses WHERE respondent_id = ?", (pid,)).fetchone()
    data = MyData(r[0], r[1], r[2], status, contact, chats)
    if resp is not None:
        data.lang = resp[1]
        data.answers = [(s, v) for s, v in conn.execute(
            "SELECT step_id, value FROM answers_current WHERE response_id = ? ORDER BY answered_at", (resp[0],))]
        data.consents = [(a, v, ch or "", bool(g)) for a, v, ch, g in conn.execute(
            "SELECT at, version, channel, agreed FROM consent_receipts WHERE response_id = ? ORDER BY at", (resp[0],))]
    data.request_id = record_request_op(conn, "access", channel, pid, round_id, at, status="done", done_by="chat",
                                        outcome={"found": True, "answers": len(data.answers)})
    return data


def erase_respondent_op(conn: sqlite3.Connection, respondent_id: int, round_id: int, at: float) -> dict[str, int]:
    """Erase one respondent's personal data now (see the module doc); returns what went."""
    settings = loads_obj(conn.execute("SELECT settings FROM rounds WHERE id = ?", (round_id,)).fetchone()[0])
    conn.execute("PRAGMA secure_delete = ON")
    try:
        counts = erase_respondents_op(conn, round_id, [respondent_id], write=True)
        resp = conn.execute("SELECT id, status FROM responses WHERE respondent_id = ?", (respondent_id,)).fetchone()
        if resp is not None and resp[1] not in ("submitted", "ended"):
            conn.execute("UPDATE responses SET status = 'ended', outcome = 'refused', updated_at = ?, reply_due = 0"
                         " WHERE id = ?", (at, resp[0]))
            conn.execute("UPDATE respondents SET status = 'refused', status_at = ?, status_reason = ?"
                         " WHERE id = ? AND status NOT IN ('completed', 'substituted')",
                         (at, "rút lại đồng ý / consent withdrawn", respondent_id))
            counts["ended"] = 1
        if settings.get("erase_answers") and resp is not None:
            for table in ("answers_current", "response_steps", "consent_receipts", "answers"):
                counts[f"{table}_deleted"] = conn.execute(f"DELETE FROM {table} WHERE response_id = ?",
                                                          (resp[0],)).rowcount
            # No answers left: the response is withdrawn, so analytics leaves it out (even if submitted).
            conn.execute("UPDATE respondents SET status = 'refused', status_at = ?, status_reason = ? WHERE id = ?",
                         (at, "rút lại đồng ý, đã xóa câu trả lời / consent withdrawn, answers erased",
                          respondent_id))
    finally:
        conn.execute("PRAGMA secure_delete = OFF")
    return counts


def erase_chat_op(conn: sqlite3.Connection, channel: str, chat_id: str, at: float) -> dict[str, int] | None:
    """A citizen's ``/xoa``: erase the chat's respondent now and log the request as done (None:
    nothing is linked to this chat; the request is logged all the same)."""
    found = chat_respondent_op(conn, channel, chat_id)
    if found is None:
        record_request_op(conn, "erase", channel, None, None, at, status="done", done_by="chat",
                          outcome={"found": False})
        return None
    pid, round_id = found
    counts = erase_respondent_op(conn, pid, round_id, at)
    record_request_op(conn, "erase", channel, pid, round_id, at, status="done", done_by="chat",
                      outcome={k: v for k, v in counts.items() if v})
    return counts


#: Returned instead of a result when the platform redelivered an update already acted on.
DUPLICATE: Any = object()
_KEY_SQL = ("INSERT INTO processed_updates (channel, update_key, at) VALUES (?, ?, ?)"
            " ON CONFLICT (channel, update_key) DO NOTHING")


def _new_update(conn: sqlite3.Connection, channel: str, update_key: str | None, at: float) -> bool:
    """Record the update key in the request's transaction: a redelivered request does nothing."""
    return update_key is None or conn.execute(_KEY_SQL, (channel, f"rights:{update_key}", at)).rowcount == 1


async def my_data(db: Database, channel: str, chat_id: str, update_key: str | None = None) -> MyData | None:
    """``/dulieu``: see ``my_data_op``; ``DUPLICATE`` for a redelivered update."""
    at = now()
    return await db.write(lambda conn: my_data_op(conn, channel, str(chat_id), at)
                          if _new_update(conn, channel, update_key, at) else DUPLICATE)


async def erase_chat(db: Database, channel: str, chat_id: str, update_key: str | None = None
                     ) -> dict[str, int] | None:
    """``/xoa``: see ``erase_chat_op``; ``DUPLICATE`` for a redelivered update."""
    at = now()
    return await db.write(lambda conn: erase_chat_op(conn, channel, str(chat_id), at)
                          if _new_update(conn, channel, update_key, at) else DUPLICATE)


# ------------------------------------------------------------------ staff

async def list_requests(db: Database, *, status: str | None = "open", round_id: int | None = None
                        ) -> list[RightsRequest]:
    """Requests, oldest deadline first (``status=None``: every request)."""
    where, params = [], []
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if round_id is not None:
        where.append("round_id = ?")
        params.append(round_id)
    sql = f"SELECT {_COLS} FROM privacy_requests" + (" WHERE " + " AND ".join(where) if where else "")
    rows = await db.fetchall(sql + " ORDER BY due_at, id", params)
    return [_row(r) for r in rows]


async def overdue_requests(db: Database, at: float | None = None) -> list[RightsRequest]:
    at = now() if at is None else at
    rows = await db.fetchall(f"SELECT {_COLS} FROM privacy_requests WHERE status = 'open' AND due_at < ?"
                             " ORDER BY due_at", (at,))
    return [_row(r) for r in rows]


async def add_request(db: Database, kind: str, round_id: int, card_code: str, *, actor: str,
                      note: str | None = None, at: float | None = None) -> RightsRequest:
    """Log a request received outside the chat (a call, a letter): open until ``close_request``."""
    at = now() if at is None else at
    code = card_code.strip().upper()

    def op(conn: sqlite3.Connection) -> RightsRequest:
        r = conn.execute("SELECT id FROM respondents WHERE round_id = ? AND upper(card_code) = ?",
                         (round_id, code)).fetchone()
        if r is None:
            raise RightsError(f"không có mã thẻ {code!r} trong đợt này / no card code {code!r} in this round")
        rid = record_request_op(conn, kind, "staff", int(r[0]), round_id, at, actor=actor,
                                outcome={"note": note} if note else None)
        return _row(conn.execute(f"SELECT {_COLS} FROM privacy_requests WHERE id = ?", (rid,)).fetchone())

    return await db.write(op)


async def close_request(db: Database, request_id: int, *, actor: str, refuse_reason: str | None = None,
                        at: float | None = None) -> RightsRequest:
    """Act on an open request: an erasure erases now; an access request is marked answered (staff
    sent the data another way); ``refuse_reason`` closes it refused, with the reason kept."""
    at = now() if at is None else at

    def op(conn: sqlite3.Connection) -> RightsRequest:
        row = conn.execute(f"SELECT {_COLS} FROM privacy_requests WHERE id = ?", (request_id,)).fetchone()
        if row is None:
            raise RightsError(f"không có yêu cầu / no request {request_id}")
        req = _row(row)
        if req.status != "open":
            raise RightsError(f"yêu cầu {request_id} đã đóng ({req.status}) / request {request_id} is already "
                              f"closed ({req.status})")
        outcome = dict(req.outcome)
        if refuse_reason:
            status, outcome["refused"] = "refused", refuse_reason
        else:
            status = "done"
            if req.kind == "erase" and req.respondent_id is not None and req.round_id is not None:
                outcome.update({k: v for k, v in erase_respondent_op(conn, req.respondent_id, req.round_id,
                                                                     at).items() if v})
        conn.execute("UPDATE privacy_requests SET status = ?, done_at = ?, done_by = ?, outcome = ? WHERE id = ?",
                     (status, at, actor, dumps(outcome), request_id))
        audit_op(conn, actor, "privacy.request.close", {"request": request_id, "kind": req.kind, "status": status},
                 req.round_id, at)
        return _row(conn.execute(f"SELECT {_COLS} FROM privacy_requests WHERE id = ?", (request_id,)).fetchone())

    return await db.write(op)


def overdue_lines(overdue: list[RightsRequest]) -> list[str]:
    """Problem lines for ``hailong status --problems``: open requests past their deadline."""
    if not overdue:
        return []
    ids = ", ".join(str(r.id) for r in overdue[:20])
    return [f"⚠ {len(overdue)} yêu cầu về dữ liệu cá nhân quá hạn {DEADLINE_DAYS} ngày (số / ids {ids}): xử lý bằng "
            f"«hailong requests done» / {len(overdue)} data subject requests past their {DEADLINE_DAYS}-day deadline: "
            "act on them with `hailong requests done`"]
