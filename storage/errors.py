"""Storage errors: the ones meant for users, and the one that means "try again later".

``StorageError`` is the base of errors whose ``str()`` is a bilingual message for a user.

``StorageUnavailable`` is raised when the database cannot take a write *right now* (the disk is
full, another process holds the write lock past the busy timeout, an I/O error): nothing of the
failed transaction is stored, and the same write may succeed later. Channels must then not
acknowledge the update (a webhook answers 5xx, polling does not confirm it), so the platform
delivers it again once the database recovers. It is kept apart from a failing op (a constraint,
a bug), which fails alone and would fail again.
"""

from __future__ import annotations

import sqlite3

import psycopg

# Primary SQLite result codes that concern the database or its file, not the statement: the
# transaction cannot go on (SQLite may already have rolled it back by itself).
_UNAVAILABLE_CODES: dict[int, str] = {
    5: "busy",          # SQLITE_BUSY: another connection holds the lock past the busy timeout
    6: "locked",        # SQLITE_LOCKED
    7: "nomem",         # SQLITE_NOMEM
    8: "readonly",      # SQLITE_READONLY (file or directory not writable)
    10: "ioerr",        # SQLITE_IOERR
    13: "full",         # SQLITE_FULL: disk (or max_page_count) full
    14: "cantopen",     # SQLITE_CANTOPEN
    15: "protocol",     # SQLITE_PROTOCOL
}

# PostgreSQL SQLSTATE classes and codes with the same meaning (the server, not the statement).
_PG_UNAVAILABLE: dict[str, str] = {
    "08": "cantopen",    # connection exception (server gone, network cut)
    "53": "full",        # insufficient resources (disk full, out of memory, too many connections)
    "57": "busy",        # operator intervention (shutdown, statement/lock timeout, query cancelled)
    "58": "ioerr",       # system error (I/O)
    "40001": "busy",     # serialization failure: try again
    "40P01": "busy",     # deadlock detected: try again
    "25006": "readonly", # read-only transaction (a standby)
}

_REASONS: dict[str, tuple[str, str]] = {
    "busy": ("cơ sở dữ liệu đang bị tiến trình khác khóa", "the database is locked by another process"),
    "locked": ("cơ sở dữ liệu đang bị khóa", "the database is locked"),
    "full": ("đĩa hoặc cơ sở dữ liệu đã đầy", "the disk or the database is full"),
    "ioerr": ("lỗi đọc ghi đĩa", "a disk I/O error"),
    "readonly": ("không có quyền ghi tệp cơ sở dữ liệu", "the database file is not writable"),
}
_OTHER = ("cơ sở dữ liệu tạm thời không ghi được", "the database cannot be written right now")


class StorageError(Exception):
    """Base of storage errors meant for users: ``str(exc)`` is a bilingual message."""


class StorageUnavailable(StorageError):
    """The database cannot be written right now; nothing of the transaction was stored.

    ``reason`` is a short name (``full``, ``busy``, ``ioerr``…); ``__cause__`` is SQLite's error.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        vi, en = _REASONS.get(reason, _OTHER)
        super().__init__(f"Không ghi được dữ liệu: {vi} / cannot store data: {en} (SQLite: {detail})")


def unavailable_reason(exc: BaseException) -> str | None:
    """The reason name if ``exc`` means the database is unavailable (see the module docstring)."""
    if isinstance(exc, StorageUnavailable):
        return exc.reason
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if isinstance(code, int):
            return _UNAVAILABLE_CODES.get(code & 0xFF)
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate or ""
        if not state:   # no server answer at all: the connection is gone
            return "cantopen" if isinstance(exc, psycopg.OperationalError) else None
        return _PG_UNAVAILABLE.get(state) or _PG_UNAVAILABLE.get(state[:2])
    return None


def is_transient_conflict(exc: BaseException) -> bool:
    """A PostgreSQL deadlock or serialization failure (or one wrapped as StorageUnavailable):
    the transaction was rolled back because of another one, and running it again will do."""
    cur: BaseException | None = exc
    for _ in range(5):
        if cur is None:
            return False
        if isinstance(cur, psycopg.Error) and cur.sqlstate in ("40P01", "40001"):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def is_unavailable(exc: BaseException) -> bool:
    """True if ``exc`` (or a cause of it) means "the database cannot be written now, try later"."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 5:
        if unavailable_reason(cur) is not None:
            return True
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return False


def as_unavailable(exc: BaseException) -> StorageUnavailable:
    """``exc`` as a ``StorageUnavailable`` naming SQLite's own message (the real error)."""
    if isinstance(exc, StorageUnavailable):
        return exc
    err = StorageUnavailable(unavailable_reason(exc) or "unavailable", str(exc))
    err.__cause__ = exc
    return err
