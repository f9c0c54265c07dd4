"""Respondents (sampled households / service users), their contacts, chat bindings and progress.

A respondent carries two invitation secrets:
- ``token``: 192 random bits, URL-safe, 32 characters (``storage.credentials.new_token``): the
  Telegram deep-link parameter (Telegram allows at most 64 characters of [A-Za-z0-9_-]).
  Tokens made before were 144 bits (24 characters) and are still accepted: any 22-64 character
  token is looked up as it is.
- ``card_code``: the short code of ``storage.credentials`` (one scheme for cards, messages and
  lookups): 7 characters from an alphabet without look-alikes (no 0/O, 1/I/L), the last one a
  check character, printed as "KS 4F7K2QM" for citizens who type it; unique per round and among
  non-closed rounds. A single mistyped character or two swapped neighbours fail the check, so a
  typo is recognised as a typo (``claim_invite`` answers "unknown") and never lands on another
  household. It is short on purpose, so it is only valid while its round is open (guessing one
  opens an anonymous questionnaire slot at most, never anyone's personal data).

Status (disposition) follows AAPOR-style outcomes: sampled → invited → opened → started →
partial → completed, or refused, ineligible, unreachable, substituted. Personal data (name,
phone, chat ids) is kept in ``contacts``/``chat_bindings`` and never joined by analytics.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from storage.credentials import new_short_code, new_token
from storage.audit import audit_op
from storage.db import Database, StorageError
from storage.util import dumps, loads_obj, now

RespondentStatus = Literal["sampled", "invited", "opened", "started", "partial", "completed",
                           "refused", "ineligible", "unreachable", "substituted"]
RESPONDENT_STATUSES: tuple[str, ...] = get_args(RespondentStatus)
# Statuses a conversation may still move forward from (an answer proves the citizen is there).
OPEN_STATUSES: tuple[str, ...] = ("sampled", "invited", "opened", "partial", "unreachable")
FINAL_STATUSES: tuple[str, ...] = ("completed", "refused", "ineligible", "substituted")

class RespondentError(StorageError):
    """A respondent cannot be stored or changed as asked (bilingual message)."""


@dataclass(frozen=True, slots=True)
class ContactIn:
    """Personal contact data of a respondent (kept apart from answers)."""

    name: str | None = None
    phone: str | None = None
    telegram_id: str | None = None
    zalo_id: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    respondent_id: int
    name: str | None
    phone: str | None
    telegram_id: str | None
    zalo_id: str | None
    address: str | None


@dataclass(frozen=True, slots=True)
class RespondentIn:
    """A selected household / service user: ``selection_reason`` is the rule that chose it
    (written for staff, e.g. "hộ thứ 12 của danh sách thôn Nà Cại, xóm Trên")."""

    unit_id: int
    selection_reason: str
    household_ref: str | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)   # non-personal (sub-hamlet, stratum…)
    contact: ContactIn | None = None
    substitute_of: int | None = None


@dataclass(frozen=True, slots=True)
class Respondent:
    id: int
    round_id: int
    unit_id: int
    household_ref: str | None
    selection_reason: str
    attrs: dict[str, Any]
    status: str
    status_reason: str | None
    substitute_of: int | None
    walk_in: bool
    token: str
    card_code: str
    created_at: float
    invited_at: float | None
    opened_at: float | None
    started_at: float | None
    finished_at: float | None
    status_at: float | None


_COLS = ("id, round_id, unit_id, household_ref, selection_reason, attrs, status, status_reason,"
         " substitute_of, walk_in, token, card_code, created_at, invited_at, opened_at, started_at,"
         " finished_at, status_at")


def respondent_from_row(r: Sequence[Any]) -> Respondent:
    return Respondent(r[0], r[1], r[2], r[3], r[4], loads_obj(r[5]), r[6], r[7], r[8], bool(r[9]),
                      r[10], r[11], r[12], r[13], r[14], r[15], r[16], r[17])


def get_respondent_op(conn: sqlite3.Connection, respondent_id: int) -> Respondent | None:
    r = conn.execute(f"SELECT {_COLS} FROM respondents WHERE id = ?", (respondent_id,)).fetchone()
    return None if r is None else respondent_from_row(r)


def _unique_card_code(conn: sqlite3.Connection, round_id: int, taken: set[str]) -> str:
    """A code unused in this round and in every open/draft round (so a typed code is unambiguous)."""
    for _ in range(100):
        c = new_short_code()
        if c in taken:
            continue
        if conn.execute(
            "SELECT 1 FROM respondents AS p JOIN rounds AS r ON r.id = p.round_id"
            " WHERE p.card_code = ? AND (p.round_id = ? OR r.status != 'closed') LIMIT 1",
            (c, round_id)).fetchone():
            continue
        taken.add(c)
        return c
    raise RespondentError("could not find a free card code / không tạo được mã thẻ")


def _set_contact_op(conn: sqlite3.Connection, respondent_id: int, c: ContactIn) -> None:
    conn.execute(
        "INSERT INTO contacts (respondent_id, name, phone, telegram_id, zalo_id, address)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (respondent_id) DO UPDATE SET name = excluded.name,"
        " phone = excluded.phone, telegram_id = excluded.telegram_id, zalo_id = excluded.zalo_id,"
        " address = excluded.address",
        (respondent_id, c.name, c.phone, c.telegram_id, c.zalo_id, c.address))


def insert_respondent_op(conn: sqlite3.Connection, round_id: int, item: RespondentIn, *,
                         taken_codes: set[str] | None = None, walk_in: bool = False,
                         status: str = "sampled", at: float | None = None) -> int:
    if not item.selection_reason.strip():
        raise RespondentError(f"unit {item.unit_id}: every selected respondent needs a reason / "
                              "mỗi người được chọn cần lý do chọn")
    at = now() if at is None else at
    code = _unique_card_code(conn, round_id, taken_codes if taken_codes is not None else set())
    rid = conn.execute(
        "INSERT INTO respondents (round_id, unit_id, household_ref, selection_reason, attrs, status,"
        " substitute_of, walk_in, token, card_code, created_at, status_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (round_id, item.unit_id, item.household_ref, item.selection_reason, dumps(dict(item.attrs)),
         status, item.substitute_of, int(walk_in), new_token(), code, at, at),
    ).fetchone()[0]
    if item.contact is not None:
        _set_contact_op(conn, rid, item.contact)
    return int(rid)


async def insert_respondents(db: Database, round_id: int, items: Sequence[RespondentIn],
                             actor: str = "system") -> list[Respondent]:
    """Store selected respondents with reasons, fresh tokens and card codes, in one transaction.

    Returns them in input order. Raises RespondentError / sqlite3.IntegrityError (unknown unit or
    round): then nothing is stored.
    """
    items = list(items)

    def op(conn: sqlite3.Connection) -> list[Respondent]:
        if not conn.execute("SELECT 1 FROM rounds WHERE id = ?", (round_id,)).fetchone():
            raise RespondentError(f"không có đợt khảo sát / no round with id {round_id}")
        taken: set[str] = set()
        at = now()
        ids = [insert_respondent_op(conn, round_id, it, taken_codes=taken, at=at) for it in items]
        audit_op(conn, actor, "respondents.insert", {"count": len(ids)}, round_id, at)
        out = []
        for i in ids:
            r = get_respondent_op(conn, i)
            assert r is not None
            out.append(r)
        return out

    return await db.write(op)


async def get_respondent(db: Database, respondent_id: int) -> Respondent | None:
    r = await db.fetchone(f"SELECT {_COLS} FROM respondents WHERE id = ?", (respondent_id,))
    return None if r is None else respondent_from_row(r)


async def get_respondent_by_token(db: Database, token: str) -> Respondent | None:
    r = await db.fetchone(f"SELECT {_COLS} FROM respondents WHERE token = ?", (token,))
    return None if r is None else respondent_from_row(r)


async def list_respondents(db: Database, round_id: int, *, statuses: Iterable[str] | None = None,
                           unit_id: int | None = None) -> list[Respondent]:
    sql = f"SELECT {_COLS} FROM respondents WHERE round_id = ?"
    params: list[Any] = [round_id]
    if unit_id is not None:
        sql += " AND unit_id = ?"
        params.append(unit_id)
    if statuses is not None:
        st = list(statuses)
        sql += f" AND status IN ({','.join('?' * len(st))})"
        params.extend(st)
    sql += " ORDER BY id"
    return [respondent_from_row(r) for r in await db.fetchall(sql, params)]


# ------------------------------------------------------------------ contacts & chat bindings

async def set_contact(db: Database, respondent_id: int, contact: ContactIn) -> None:
    await db.write(lambda conn: _set_contact_op(conn, respondent_id, contact))


async def get_contact(db: Database, respondent_id: int) -> Contact | None:
    r = await db.fetchone("SELECT respondent_id, name, phone, telegram_id, zalo_id, address FROM contacts"
                          " WHERE respondent_id = ?", (respondent_id,))
    return None if r is None else Contact(*tuple(r))


async def contacts_for(db: Database, respondent_ids: Sequence[int]) -> dict[int, Contact]:
    """Contacts of many respondents (for invitation cards and sending); chunked for SQLite limits."""
    out: dict[int, Contact] = {}
    ids = list(respondent_ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        rows = await db.fetchall(
            "SELECT respondent_id, name, phone, telegram_id, zalo_id, address FROM contacts"
            f" WHERE respondent_id IN ({','.join('?' * len(chunk))})", chunk)
        for r in rows:
            out[r[0]] = Contact(*tuple(r))
    return out


def bind_chat_op(conn: sqlite3.Connection, channel: str, chat_id: str, respondent_id: int,
                 at: float) -> None:
    conn.execute(
        "INSERT INTO chat_bindings (channel, chat_id, respondent_id, bound_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (channel, chat_id) DO UPDATE SET respondent_id = excluded.respondent_id,"
        " bound_at = excluded.bound_at",
        (channel, chat_id, respondent_id, at))


async def chats_for(db: Database, respondent_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """respondent id → [(channel, chat_id)…] of chats bound to it (where reminders can go)."""
    out: dict[int, list[tuple[str, str]]] = {}
    ids = list(respondent_ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        rows = await db.fetchall(
            "SELECT respondent_id, channel, chat_id FROM chat_bindings"
            f" WHERE respondent_id IN ({','.join('?' * len(chunk))}) ORDER BY bound_at", chunk)
        for r in rows:
            out.setdefault(r[0], []).append((r[1], r[2]))
    return out


# ------------------------------------------------------------------ status changes

def set_status_op(conn: sqlite3.Connection, respondent_id: int, status: str, at: float,
                  reason: str | None = None) -> None:
    """Set a disposition and its timestamp column (no transition rules: callers decide)."""
    col = {"invited": "invited_at", "opened": "opened_at", "started": "started_at",
           "completed": "finished_at", "refused": "finished_at", "ineligible": "finished_at"}.get(status)
    extra = f", {col} = COALESCE({col}, ?)" if col else ""
    params: list[Any] = [status, at, reason]
    if col:
        params.append(at)
    params.append(respondent_id)
    conn.execute(f"UPDATE respondents SET status = ?, status_at = ?, status_reason = ?{extra} WHERE id = ?",
                 params)


async def mark_invited(db: Database, respondent_ids: Sequence[int], at: float | None = None) -> int:
    """sampled → invited (others unchanged: an invite resent to a starter does not demote them)."""
    ids = list(respondent_ids)
    t = now() if at is None else at

    def op(conn: sqlite3.Connection) -> int:
        n = 0
        for i in ids:
            n += conn.execute(
                "UPDATE respondents SET status = 'invited', status_at = ?, invited_at = COALESCE(invited_at, ?)"
                " WHERE id = ? AND status = 'sampled'", (t, t, i)).rowcount
        return n

    return await db.write(op)


async def set_status(db: Database, respondent_id: int, status: RespondentStatus, *, actor: str,
                     reason: str | None = None) -> Respondent:
    """Staff override of a disposition (e.g. refused on the phone, ineligible at the door); audited."""
    if status not in RESPONDENT_STATUSES:
        raise RespondentError(f"trạng thái không hợp lệ / unknown status {status!r}")

    def op(conn: sqlite3.Connection) -> Respondent:
        old = get_respondent_op(conn, respondent_id)
        if old is None:
            raise RespondentError(f"không có người trả lời / no respondent with id {respondent_id}")
        at = now()
        set_status_op(conn, respondent_id, status, at, reason)
        audit_op(conn, actor, "respondent.status",
                 {"respondent_id": respondent_id, "from": old.status, "to": status, "reason": reason},
                 old.round_id, at)
        r = get_respondent_op(conn, respondent_id)
        assert r is not None
        return r

    return await db.write(op)


async def substitute(db: Database, old_id: int, new: RespondentIn, *, actor: str, reason: str) -> Respondent:
    """Replace a respondent (refused, unreachable, not found…) by ``new``: old → substituted,
    new.substitute_of = old, both in one transaction with an audit row."""

    def op(conn: sqlite3.Connection) -> Respondent:
        old = get_respondent_op(conn, old_id)
        if old is None:
            raise RespondentError(f"không có người trả lời / no respondent with id {old_id}")
        if old.status == "completed":
            raise RespondentError(f"người trả lời {old_id} đã hoàn thành, không thể thay thế / "
                                  f"respondent {old_id} has completed and cannot be substituted")
        at = now()
        set_status_op(conn, old_id, "substituted", at, reason)
        item = RespondentIn(new.unit_id, new.selection_reason, new.household_ref, new.attrs, new.contact,
                            substitute_of=old_id)
        nid = insert_respondent_op(conn, old.round_id, item, at=at)
        conn.execute("DELETE FROM outbox WHERE respondent_id = ? AND status = 'pending'", (old_id,))
        audit_op(conn, actor, "respondent.substitute", {"old": old_id, "new": nid, "reason": reason},
                 old.round_id, at)
        r = get_respondent_op(conn, nid)
        assert r is not None
        return r

    return await db.write(op)


# ------------------------------------------------------------------ progress

@dataclass(frozen=True, slots=True)
class UnitProgress:
    """Dispositions of one unit's respondents against its quota (for ``hailong status``)."""

    unit_id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    quota: int | None
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """Respondents in the sample, substituted ones excluded (their substitute counts)."""
        return sum(v for k, v in self.counts.items() if k != "substituted")

    @property
    def completed(self) -> int:
        return self.counts.get("completed", 0)

    @property
    def invited(self) -> int:
        """Ever invited: every status past sampled (substituted excluded)."""
        return self.total - self.counts.get("sampled", 0)

    @property
    def started(self) -> int:
        return sum(self.counts.get(k, 0) for k in ("started", "partial", "completed"))

    @property
    def shortfall(self) -> int:
        """Completed responses still missing against the quota (0 if no quota)."""
        return max(0, (self.quota or 0) - self.completed)

    @property
    def response_rate(self) -> float | None:
        """Completed / eligible sample (ineligible excluded), as AAPOR RR1-like share."""
        denom = self.total - self.counts.get("ineligible", 0)
        return None if denom <= 0 else self.completed / denom


async def progress_by_unit(db: Database, round_id: int) -> list[UnitProgress]:
    """Counts per status per unit of the round, with the round's quota (or the unit's default).

    Units selected for the round without respondents yet are listed with zero counts.
    """
    async with db.reading(snapshot=True) as conn:
        units = await conn.execute_fetchall(
            "SELECT u.id, u.code, u.name, u.kind, u.parent_id, COALESCE(ru.quota, u.quota)"
            " FROM units AS u LEFT JOIN round_units AS ru ON ru.unit_id = u.id AND ru.round_id = ?"
            " WHERE ru.round_id IS NOT NULL"
            "    OR u.id IN (SELECT DISTINCT unit_id FROM respondents WHERE round_id = ?)"
            " ORDER BY ru.sort_order, u.id", (round_id, round_id))
        counts = await conn.execute_fetchall(
            "SELECT unit_id, status, COUNT(*) FROM respondents WHERE round_id = ? GROUP BY unit_id, status",
            (round_id,))
    by_unit: dict[int, dict[str, int]] = {}
    for uid, st, n in counts:
        by_unit.setdefault(uid, {})[st] = n
    return [UnitProgress(u[0], u[1], u[2], u[3], u[4], u[5], by_unit.get(u[0], {})) for u in units]
