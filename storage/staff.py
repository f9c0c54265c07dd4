"""Staff accounts: who may use the web console and the bot's staff commands, and what they see.

An account has a role (``admin``, ``analyst`` = province analyst, ``district`` / ``commune`` =
district or commune officer, ``enumerator`` = điều tra viên) and, for the last three, a unit:
the officer sees that unit and every unit below it (``unit_subtree``). What each role may do is
decided in one place, ``hailong.console.roles``; storage only keeps the facts.

Passwords are stored only as hashes made by the caller (argon2, ``hailong.console.passwords``);
console sessions only as the SHA-256 of the cookie token, so a copy of the database opens no
session. Failed logins are rows here so that the rate limit holds across restarts and across
several processes sharing one database. Every change writes its audit row in the same
transaction (``storage.audit``).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Literal, get_args

from storage.audit import audit_op
from storage.db import Database, StorageError
from storage.util import now

Role = Literal["admin", "analyst", "district", "commune", "enumerator"]
ROLES: tuple[str, ...] = get_args(Role)
#: Roles whose account must name a unit (they see only its subtree).
SCOPED_ROLES: frozenset[str] = frozenset({"district", "commune", "enumerator"})
CHANNELS: tuple[str, ...] = ("telegram", "zalo")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MAX_DISPLAY_NAME = 120
#: Login attempts older than this are pruned.
KEEP_ATTEMPTS_S = 86_400.0


class StaffError(StorageError):
    """An account change that cannot be made (bilingual message naming the problem)."""


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    display_name: str
    role: str
    unit_id: int | None
    active: bool
    lang: str
    created_at: float
    chats: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class StaffSession:
    token_hash: str
    account: Account
    csrf: str
    created_at: float
    last_seen: float
    expires_at: float


_ACCOUNT_COLS = "id, username, display_name, role, unit_id, active, lang, created_at"


def normalise_username(text: str) -> str:
    """Lower-case, trimmed; raises StaffError unless 2–64 of a–z, 0–9, '.', '_', '-'."""
    name = (text or "").strip().lower()
    if not USERNAME_RE.match(name):
        raise StaffError(f"tên đăng nhập không hợp lệ {text[:70]!r}: 2–64 ký tự a–z, 0–9, . _ - / "
                         "bad user name: 2–64 characters a–z, 0–9, '.', '_', '-'")
    return name


def _account(row: sqlite3.Row | tuple, chats: tuple[tuple[str, str], ...] = ()) -> Account:
    return Account(int(row[0]), row[1], row[2], row[3], row[4], bool(row[5]), row[6], float(row[7]), chats)


def _check(role: str, unit_id: int | None, display_name: str) -> None:
    if role not in ROLES:
        raise StaffError(f"vai trò không hợp lệ {role[:40]!r}; dùng / use: {', '.join(ROLES)} / unknown role")
    if role in SCOPED_ROLES and unit_id is None:
        raise StaffError(f"vai trò {role} cần một đơn vị (--unit) / role {role} needs a unit (--unit)")
    if len(display_name) > MAX_DISPLAY_NAME:
        raise StaffError(f"họ tên quá dài (tối đa {MAX_DISPLAY_NAME} ký tự) / display name too long")


# ------------------------------------------------------------------ accounts

async def create_account(db: Database, *, username: str, role: str, password_hash: str, actor: str,
                         display_name: str = "", unit_id: int | None = None, lang: str = "vi") -> Account:
    """Add an account (audited ``staff.add``); raises StaffError for a taken name or bad role."""
    name = normalise_username(username)
    _check(role, unit_id, display_name)
    if lang not in ("vi", "en"):
        raise StaffError("ngôn ngữ phải là vi hoặc en / language must be vi or en")
    at = now()

    def op(conn: sqlite3.Connection) -> int:
        if conn.execute("SELECT 1 FROM staff_accounts WHERE username = ?", (name,)).fetchone():
            raise StaffError(f"tên đăng nhập {name!r} đã có / user name {name!r} is taken")
        if unit_id is not None and not conn.execute("SELECT 1 FROM units WHERE id = ?", (unit_id,)).fetchone():
            raise StaffError(f"không có đơn vị {unit_id} / no unit {unit_id}")
        cur = conn.execute(
            "INSERT INTO staff_accounts (username, display_name, role, unit_id, password_hash, lang, created_at,"
            " password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (name, display_name, role, unit_id if role in SCOPED_ROLES else None, password_hash, lang, at, at))
        audit_op(conn, actor, "staff.add", {"username": name, "role": role, "unit_id": unit_id}, None, at)
        return int(cur.lastrowid or 0)

    account_id = await db.write(op)
    acc = await get_account(db, account_id)
    assert acc is not None
    return acc


async def get_account(db: Database, account_id: int) -> Account | None:
    row = await db.fetchone(f"SELECT {_ACCOUNT_COLS} FROM staff_accounts WHERE id = ?", (account_id,))
    if row is None:
        return None
    chats = await db.fetchall("SELECT channel, chat_id FROM staff_chats WHERE account_id = ?"
                              " ORDER BY channel, chat_id", (account_id,))
    return _account(row, tuple((r[0], r[1]) for r in chats))


async def credentials_for(db: Database, username: str) -> tuple[Account, str] | None:
    """(account, password hash) for a login, or None for an unknown or malformed name."""
    try:
        name = normalise_username(username)
    except StaffError:
        return None
    row = await db.fetchone(f"SELECT {_ACCOUNT_COLS}, password_hash FROM staff_accounts WHERE username = ?", (name,))
    return None if row is None else (_account(row), str(row[8]))


async def list_accounts(db: Database) -> list[Account]:
    rows = await db.fetchall(f"SELECT {_ACCOUNT_COLS} FROM staff_accounts ORDER BY username")
    chats: dict[int, list[tuple[str, str]]] = {}
    for r in await db.fetchall("SELECT account_id, channel, chat_id FROM staff_chats ORDER BY channel, chat_id"):
        chats.setdefault(int(r[0]), []).append((r[1], r[2]))
    return [_account(r, tuple(chats.get(int(r[0]), ()))) for r in rows]


def _id_of(conn: sqlite3.Connection, username: str) -> int:
    row = conn.execute("SELECT id FROM staff_accounts WHERE username = ?", (normalise_username(username),)).fetchone()
    if row is None:
        raise StaffError(f"không có tài khoản {username[:70]!r} / no account {username[:70]!r}")
    return int(row[0])


async def set_password(db: Database, username: str, password_hash: str, actor: str) -> None:
    """Replace the password hash; every open session of the account ends (audited)."""
    at = now()

    def op(conn: sqlite3.Connection) -> None:
        aid = _id_of(conn, username)
        conn.execute("UPDATE staff_accounts SET password_hash = ?, password_changed_at = ? WHERE id = ?",
                     (password_hash, at, aid))
        conn.execute("DELETE FROM staff_sessions WHERE account_id = ?", (aid,))
        audit_op(conn, actor, "staff.password", {"username": normalise_username(username)}, None, at)

    await db.write(op)


async def set_active(db: Database, username: str, active: bool, actor: str) -> None:
    """Enable or disable an account; disabling ends its sessions and its chats' staff rights."""
    at = now()

    def op(conn: sqlite3.Connection) -> None:
        aid = _id_of(conn, username)
        conn.execute("UPDATE staff_accounts SET active = ? WHERE id = ?", (int(active), aid))
        if not active:
            conn.execute("DELETE FROM staff_sessions WHERE account_id = ?", (aid,))
        audit_op(conn, actor, "staff.enable" if active else "staff.disable",
                 {"username": normalise_username(username)}, None, at)

    await db.write(op)


async def set_role(db: Database, username: str, role: str, unit_id: int | None, actor: str) -> None:
    """Change role and unit; open sessions end so the new scope applies at once (audited)."""
    _check(role, unit_id, "")
    at = now()

    def op(conn: sqlite3.Connection) -> None:
        aid = _id_of(conn, username)
        if unit_id is not None and not conn.execute("SELECT 1 FROM units WHERE id = ?", (unit_id,)).fetchone():
            raise StaffError(f"không có đơn vị {unit_id} / no unit {unit_id}")
        conn.execute("UPDATE staff_accounts SET role = ?, unit_id = ? WHERE id = ?",
                     (role, unit_id if role in SCOPED_ROLES else None, aid))
        conn.execute("DELETE FROM staff_sessions WHERE account_id = ?", (aid,))
        audit_op(conn, actor, "staff.role", {"username": normalise_username(username), "role": role,
                                             "unit_id": unit_id}, None, at)

    await db.write(op)


# ------------------------------------------------------------------ chats (the bot's /status)

def _chat_id(channel: str, chat_id: str) -> str:
    if channel not in CHANNELS:
        raise StaffError(f"kênh không hợp lệ {channel[:20]!r}; dùng / use: {', '.join(CHANNELS)} / unknown channel")
    text = str(chat_id).strip()
    if not re.fullmatch(r"-?[0-9A-Za-z_]{1,64}", text):
        raise StaffError("mã chat không hợp lệ (chữ số, tối đa 64 ký tự) / bad chat id (digits, at most 64)")
    return text


async def link_chat(db: Database, username: str, channel: str, chat_id: str, actor: str) -> None:
    """Let this chat use the bot's staff commands as this account (moves it from another account)."""
    cid = _chat_id(channel, chat_id)
    at = now()

    def op(conn: sqlite3.Connection) -> None:
        aid = _id_of(conn, username)
        conn.execute("INSERT INTO staff_chats (channel, chat_id, account_id, linked_at) VALUES (?, ?, ?, ?)"
                     " ON CONFLICT (channel, chat_id) DO UPDATE SET account_id = excluded.account_id,"
                     " linked_at = excluded.linked_at", (channel, cid, aid, at))
        # the chat id itself is not written to the log (staff chat ids are personal data)
        audit_op(conn, actor, "staff.link_chat", {"username": normalise_username(username), "channel": channel},
                 None, at)

    await db.write(op)


async def unlink_chat(db: Database, channel: str, chat_id: str, actor: str) -> bool:
    """Remove a chat's staff rights; False if it was not linked."""
    cid = _chat_id(channel, chat_id)
    at = now()

    def op(conn: sqlite3.Connection) -> bool:
        row = conn.execute("SELECT account_id FROM staff_chats WHERE channel = ? AND chat_id = ?",
                           (channel, cid)).fetchone()
        if row is None:
            return False
        conn.execute("DELETE FROM staff_chats WHERE channel = ? AND chat_id = ?", (channel, cid))
        audit_op(conn, actor, "staff.unlink_chat", {"account_id": int(row[0]), "channel": channel}, None, at)
        return True

    return await db.write(op)


async def staff_chat_ids(db: Database, channel: str) -> set[str]:
    """Chat ids of active accounts on a channel (the bot's staff list, next to its settings)."""
    rows = await db.fetchall("SELECT c.chat_id FROM staff_chats AS c JOIN staff_accounts AS a ON a.id = c.account_id"
                             " WHERE c.channel = ? AND a.active = 1", (channel,))
    return {str(r[0]) for r in rows}


async def account_for_chat(db: Database, channel: str, chat_id: str) -> Account | None:
    row = await db.fetchone(f"SELECT a.{_ACCOUNT_COLS.replace(', ', ', a.')} FROM staff_chats AS c"
                            " JOIN staff_accounts AS a ON a.id = c.account_id"
                            " WHERE c.channel = ? AND c.chat_id = ? AND a.active = 1", (channel, str(chat_id)))
    return None if row is None else _account(row)


# ------------------------------------------------------------------ sessions

async def create_session(db: Database, account_id: int, token_hash: str, csrf: str, ttl_s: float,
                         client: str) -> None:
    """Store a session (audited ``staff.login``); old expired sessions are pruned on the way."""
    at = now()

    def op(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM staff_sessions WHERE expires_at < ?", (at,))
        conn.execute("INSERT INTO staff_sessions (token_hash, account_id, csrf, created_at, last_seen, expires_at)"
                     " VALUES (?, ?, ?, ?, ?, ?)", (token_hash, account_id, csrf, at, at, at + ttl_s))
        audit_op(conn, f"account:{account_id}", "staff.login", {"client": client}, None, at)

    await db.write(op)


async def get_session(db: Database, token_hash: str, idle_s: float, at: float | None = None) -> StaffSession | None:
    """The live session for this token hash: not expired, not idle longer than ``idle_s``, account active."""
    t = now() if at is None else at
    row = await db.fetchone(
        f"SELECT s.token_hash, s.csrf, s.created_at, s.last_seen, s.expires_at,"
        f" a.{_ACCOUNT_COLS.replace(', ', ', a.')} FROM staff_sessions AS s"
        " JOIN staff_accounts AS a ON a.id = s.account_id"
        " WHERE s.token_hash = ? AND s.expires_at > ? AND s.last_seen > ? AND a.active = 1",
        (token_hash, t, t - idle_s))
    if row is None:
        return None
    return StaffSession(row[0], _account(tuple(row)[5:]), row[1], row[2], row[3], row[4])


async def touch_session(db: Database, token_hash: str) -> None:
    """Move ``last_seen`` (callers do it at most once a minute per session: one small write)."""
    at = now()
    await db.write(lambda conn: conn.execute("UPDATE staff_sessions SET last_seen = ? WHERE token_hash = ?",
                                             (at, token_hash)))


async def end_session(db: Database, token_hash: str, actor: str) -> None:
    at = now()

    def op(conn: sqlite3.Connection) -> None:
        if conn.execute("DELETE FROM staff_sessions WHERE token_hash = ?", (token_hash,)).rowcount:
            audit_op(conn, actor, "staff.logout", {}, None, at)

    await db.write(op)


# ------------------------------------------------------------------ login attempts (rate limit)

async def recent_failures(db: Database, username: str, client: str, window_s: float,
                          at: float | None = None) -> tuple[int, int, float]:
    """(failures for this name, failures from this client, time of the oldest counted) in the window.

    A successful login does not reset the count: a guesser who also knows one password gains
    nothing from it."""
    t = now() if at is None else at
    since = t - window_s
    by_user = await db.fetchone("SELECT COUNT(*), MIN(at) FROM staff_login_attempts WHERE username = ? AND ok = 0"
                                " AND at > ?", (username, since))
    by_client = await db.fetchone("SELECT COUNT(*), MIN(at) FROM staff_login_attempts WHERE client = ? AND ok = 0"
                                  " AND at > ?", (client, since))
    oldest = min(x for x in (by_user[1], by_client[1], t) if x is not None)  # type: ignore[index]
    return int(by_user[0]), int(by_client[0]), float(oldest)  # type: ignore[index]


async def record_login_attempt(db: Database, username: str, client: str, ok: bool) -> None:
    """Count one attempt (``username`` as typed, cut to 64 characters); prunes day-old rows."""
    at = now()

    def op(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM staff_login_attempts WHERE at < ?", (at - KEEP_ATTEMPTS_S,))
        conn.execute("INSERT INTO staff_login_attempts (username, client, at, ok) VALUES (?, ?, ?, ?)",
                     (username[:64], client[:64], at, int(ok)))
        if not ok:
            audit_op(conn, "web", "staff.login_failed", {"username": username[:64], "client": client[:64]}, None, at)

    await db.write(op)


# ------------------------------------------------------------------ scope

async def unit_subtree(db: Database, unit_id: int) -> frozenset[int]:
    """The unit and every unit below it (an officer's scope)."""
    rows = await db.fetchall(
        "WITH RECURSIVE sub(id) AS (SELECT id FROM units WHERE id = ?"
        " UNION SELECT u.id FROM units AS u JOIN sub ON u.parent_id = sub.id) SELECT id FROM sub", (unit_id,))
    return frozenset(int(r[0]) for r in rows)
