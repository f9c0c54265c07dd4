"""Purge after the purpose ends: a round's personal data deleted so that it cannot be recovered.

Law 91/2025/QH15 asks a controller to delete personal data once the purpose is done; for a
survey round the purpose ends when the round is closed and its re-check (phúc tra) is recorded.
Then ``purge_round`` deletes, for every respondent of the round:

- ``contacts`` (names, phones, addresses, Telegram/Zalo ids) and ``chat_bindings`` (chat ids);
- invitation credentials: the token and the card code are replaced by values nobody knows, the
  household reference (a line of the commune's list) is cleared, the selection reason (which
  names that line) becomes the rule code only, ``attrs`` keep only the sampling rule and codes;
- the outbox rows of the round: chat id, payload (invite texts, deep links), errors and platform
  message ids;
- claim attempts of the round's chats, credential hand-overs, and the processed-update keys
  recorded while the round ran (keys of other rounds still inside the redelivery window are
  kept: they are not linked to anyone and stop a double answer);
- free text stays, masked again (``storage.redact``) with the respondent's name, and so do the
  re-check notes.

Kept: dispositions, answers (de-identified), paradata, re-check outcomes, consent receipts,
rights requests and the audit log, so every index and export of the round is the same after the
purge (tests/storage/test_privacy_purge.py). Deleted means gone from the file: the purge connection runs
with ``PRAGMA secure_delete``, then the database is rebuilt (``VACUUM``: free space inside pages
may still hold values overwritten long ago) and the write-ahead log is checkpointed and
truncated; the test scans the raw bytes of the database and its WAL for the purged values.

This module talks to SQLite directly, on a connection of its own: ``VACUUM`` cannot run inside
the group-commit writer's transactions. ``dry_run`` reports the same counts without writing.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from storage.audit import audit_op
from storage.db import StorageError, code_schema_version, connect_writer
from storage.dialect import parse_db_url
from storage.pg import PgConnection
from storage.redact import mask, text_steps
from storage.rounds import get_round_op
from storage.step_write import PROCESSED_WINDOW_S
from storage.util import dumps, loads_obj
from survey_defs.schema import Survey

DAY = 86_400.0
#: ``respondents.attrs`` keys a purge keeps (sampling rule and unit codes: no household detail).
KEPT_ATTRS = ("rule", "village_code", "agency", "field")
#: Round setting: days after closing when the retention job purges the round.
RETENTION_KEY = "purge_after_days"
#: Without the setting: the shipped consent notice promises "at the latest 12 months after the
#: round closes".
DEFAULT_RETENTION_DAYS = 365


class PurgeError(StorageError):
    """A purge was refused (round unknown, still open, re-check not recorded…): bilingual message."""


@dataclass
class PurgeReport:
    """What a purge deletes (dry run) or deleted; ``blockers`` say why it may not run yet."""

    round_code: str
    round_id: int
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    blockers: list[str] = field(default_factory=list)
    purged_at: float | None = None
    already_purged_at: float | None = None
    #: after the purge: the WAL was checkpointed and truncated to 0 bytes (nothing old left in it)
    wal_truncated: bool | None = None

    @property
    def allowed(self) -> bool:
        return not self.blockers


#: Bilingual labels of the counts, in the order a dry run lists them.
LABELS: dict[str, str] = {
    "contacts": "liên hệ (tên, số điện thoại, địa chỉ, mã Telegram/Zalo) / contacts (names, phones, addresses, Telegram/Zalo ids)",
    "chat_bindings": "liên kết chat / chat bindings (chat ids)",
    "tokens": "mã mời và mã thẻ / invitation tokens and card codes",
    "household_refs": "mã hộ trong danh sách / household references",
    "outbox": "tin nhắn đi (chat id, nội dung, đường dẫn) / outbox messages (chat id, payload, links)",
    "claim_attempts": "lượt nhận mã mời của các chat / claim attempts of the round's chats",
    "handovers": "yêu cầu chuyển mã mời / credential hand-overs",
    "processed_updates": "khóa cập nhật đã xử lý / processed-update keys",
    "free_text_masked": "câu trả lời tự do được che thêm / free-text answers masked again",
    "recheck_notes_masked": "ghi chú phúc tra được che / re-check notes masked",
    "audit_masked": "mục nhật ký có ghi chú được che / audit entries with notes masked",
}


def _respondent_ids(conn: sqlite3.Connection, round_id: int) -> list[int]:
    return [r[0] for r in conn.execute("SELECT id FROM respondents WHERE round_id = ?", (round_id,))]


def _in(ids: Sequence[int]) -> str:
    return ",".join(str(int(i)) for i in ids) or "NULL"


def blockers_op(conn: sqlite3.Connection, round_id: int) -> list[str]:
    """Why the round may not be purged yet (empty: it may)."""
    r = get_round_op(conn, round_id)
    if r is None:
        return [f"không có đợt / no round {round_id}"]
    out = []
    if r.status != "closed":
        out.append(f"đợt {r.code} chưa đóng ({r.status}) / round {r.code} is not closed ({r.status})")
    drawn, pending = conn.execute(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE outcome IS NULL) FROM recheck WHERE round_id = ?",
        (round_id,)).fetchone()
    if pending:
        out.append(f"còn {pending}/{drawn} phiếu phúc tra chưa ghi kết quả / {pending} of {drawn} re-check "
                   "outcomes not recorded yet")
    elif not drawn and r.recheck_share != 0:
        out.append("chưa rút mẫu phúc tra (hoặc đặt tỷ lệ phúc tra = 0) / the re-check has not been drawn "
                   "and recorded (or set the round's re-check share to 0)")
    return out


def _processed_window(conn: sqlite3.Connection, round_id: int, at: float) -> tuple[str, tuple[Any, ...]]:
    """WHERE clause of the processed-update keys that go with the round (see the module doc)."""
    start = conn.execute("SELECT created_at FROM rounds WHERE id = ?", (round_id,)).fetchone()[0]
    others_open = conn.execute("SELECT COUNT(*) FROM rounds WHERE status = 'open' AND id != ?",
                               (round_id,)).fetchone()[0]
    if others_open:   # their recent keys still stop double answers: only keys past the window go
        return "at >= ? AND at < ?", (start, at - PROCESSED_WINDOW_S)
    return "at >= ?", (start,)


def _chats(conn: sqlite3.Connection, ids: Sequence[int]) -> set[tuple[str, str]]:
    chats = {(r[0], r[1]) for r in conn.execute(
        f"SELECT channel, chat_id FROM chat_bindings WHERE respondent_id IN ({_in(ids)})")}
    for tg, zl in conn.execute(f"SELECT telegram_id, zalo_id FROM contacts WHERE respondent_id IN ({_in(ids)})"):
        if tg:
            chats.add(("telegram", str(tg)))
        if zl:
            chats.add(("zalo", str(zl)))
    for h in conn.execute(f"SELECT from_channel, from_chat, to_channel, to_chat FROM claim_handovers"
                          f" WHERE respondent_id IN ({_in(ids)})"):
        chats.update({(h[0], h[1]), (h[2], h[3])})
    return chats


def _survey(conn: sqlite3.Connection, round_id: int) -> Survey:
    raw = conn.execute("SELECT v.definition FROM rounds AS r JOIN survey_versions AS v ON v.hash = r.survey_hash"
                       " WHERE r.id = ?", (round_id,)).fetchone()[0]
    return Survey.model_validate(json.loads(raw))


def _mask_free_text(conn: sqlite3.Connection, ids: Sequence[int], steps: frozenset[str], write: bool) -> int:
    """Mask free-text answers of these respondents again (history and current); returns rows changed."""
    if not steps or not ids:
        return 0
    names = {r[0]: r[1] for r in conn.execute(
        f"SELECT respondent_id, name FROM contacts WHERE respondent_id IN ({_in(ids)})")}
    marks = ",".join("?" * len(steps))
    changed = 0
    for table, key in (("answers", "id"), ("answers_current", "rowid")):
        if table == "answers_current":   # WITHOUT ROWID: keyed by (response_id, step_id)
            rows = conn.execute(
                f"SELECT a.response_id, a.step_id, a.value, rs.respondent_id FROM answers_current AS a"
                f" JOIN responses AS rs ON rs.id = a.response_id WHERE rs.respondent_id IN ({_in(ids)})"
                f" AND a.step_id IN ({marks})", tuple(steps)).fetchall()
        else:
            rows = conn.execute(
                f"SELECT a.id, a.step_id, a.value, rs.respondent_id FROM answers AS a"
                f" JOIN responses AS rs ON rs.id = a.response_id WHERE rs.respondent_id IN ({_in(ids)})"
                f" AND a.step_id IN ({marks}) AND a.value IS NOT NULL", tuple(steps)).fetchall()
        for k, step, value, pid in rows:
            try:
                text = json.loads(value)
            except ValueError:
                continue
            if not isinstance(text, str):
                continue
            masked = mask(text, [names[pid]] if names.get(pid) else [])
            if masked == text:
                continue
            changed += 1
            if write:
                new = json.dumps(masked, ensure_ascii=False)
                if table == "answers":
                    conn.execute("UPDATE answers SET value = ? WHERE id = ?", (new, k))
                else:
                    conn.execute("UPDATE answers_current SET value = ? WHERE response_id = ? AND step_id = ?",
                                 (new, k, step))
    return changed


def _mask_recheck_notes(conn: sqlite3.Connection, round_id: int, write: bool) -> int:
    rows = conn.execute(
        "SELECT rc.id, rc.note, c.name FROM recheck AS rc LEFT JOIN contacts AS c ON c.respondent_id = rc.respondent_id"
        " WHERE rc.round_id = ? AND rc.note IS NOT NULL", (round_id,)).fetchall()
    n = 0
    for rid, note, name in rows:
        masked = mask(note, [name] if name else [])
        if masked != note:
            n += 1
            if write:
                conn.execute("UPDATE recheck SET note = ? WHERE id = ?", (masked, rid))
    return n


def _mask_json(value: object, names: list[str]) -> object:
    if isinstance(value, str):
        return mask(value, names)
    if isinstance(value, list):
        return [_mask_json(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _mask_json(v, names) for k, v in value.items()}
    return value


def _mask_audit(conn: sqlite3.Connection, round_id: int, write: bool) -> int:
    """Staff notes copied into the audit log (a re-check note, a reason) masked like free text,
    with the name of the respondent the entry is about."""
    names = {r[0]: r[1] for r in conn.execute(
        "SELECT c.respondent_id, c.name FROM contacts AS c JOIN respondents AS p ON p.id = c.respondent_id"
        " WHERE p.round_id = ? AND c.name IS NOT NULL", (round_id,))}
    n = 0
    for aid, details in conn.execute("SELECT id, details FROM audit_log WHERE round_id = ?", (round_id,)).fetchall():
        d = loads_obj(details)
        who = [d.get(k) for k in ("respondent_id", "old", "new") if isinstance(d.get(k), int)]
        masked = _mask_json(d, [names[w] for w in who if w in names])
        if masked != d:
            n += 1
            if write:
                conn.execute("UPDATE audit_log SET details = ? WHERE id = ?", (dumps(masked), aid))
    return n


def erase_respondents_op(conn: sqlite3.Connection, round_id: int, ids: Sequence[int], *, write: bool,
                         survey: Survey | None = None) -> dict[str, int]:
    """Delete (or, ``write=False``, count) the personal data of these respondents of a round.

    Shared by the round purge and a citizen's erasure request (``/xoa``). Returns counts by
    ``LABELS`` key (rows that hold personal data, before the change).
    """
    survey = survey or _survey(conn, round_id)
    where = f"respondent_id IN ({_in(ids)})"
    chats = _chats(conn, ids)
    counts = {
        "contacts": conn.execute(f"SELECT COUNT(*) FROM contacts WHERE {where}").fetchone()[0],
        "chat_bindings": conn.execute(f"SELECT COUNT(*) FROM chat_bindings WHERE {where}").fetchone()[0],
        "tokens": conn.execute(f"SELECT COUNT(*) FROM respondents WHERE id IN ({_in(ids)})"
                               " AND token NOT LIKE 'purged-%'").fetchone()[0],
        "household_refs": conn.execute(f"SELECT COUNT(*) FROM respondents WHERE id IN ({_in(ids)})"
                                       " AND household_ref IS NOT NULL").fetchone()[0],
        "outbox": conn.execute(f"SELECT COUNT(*) FROM outbox WHERE {where} AND (chat_id != '' OR payload != '{{}}')"
                               ).fetchone()[0],
        "claim_attempts": sum(conn.execute("SELECT COUNT(*) FROM claim_attempts WHERE channel = ? AND chat_id = ?",
                                           c).fetchone()[0] for c in chats),
        "handovers": conn.execute(f"SELECT COUNT(*) FROM claim_handovers WHERE {where}").fetchone()[0],
        "free_text_masked": _mask_free_text(conn, ids, text_steps(survey), write),
    }
    if not write:
        return counts
    for pid in ids:
        conn.execute("UPDATE respondents SET token = ?, card_code = ? WHERE id = ? AND token NOT LIKE 'purged-%'",
                     ("purged-" + secrets.token_urlsafe(24), f"purged-{int(pid)}", pid))
    for pid, reason, attrs in conn.execute(
            f"SELECT id, selection_reason, attrs FROM respondents WHERE id IN ({_in(ids)})").fetchall():
        kept = {k: v for k, v in loads_obj(attrs).items() if k in KEPT_ATTRS}
        conn.execute("UPDATE respondents SET household_ref = NULL, attrs = ?, selection_reason = ? WHERE id = ?",
                     (dumps(kept), f"rule: {kept['rule']}" if kept.get("rule") else "(đã xóa / purged)", pid))
    conn.execute(f"DELETE FROM contacts WHERE {where}")
    conn.execute(f"DELETE FROM chat_bindings WHERE {where}")
    conn.execute(f"DELETE FROM claim_handovers WHERE {where}")
    conn.executemany("DELETE FROM claim_attempts WHERE channel = ? AND chat_id = ?", sorted(chats))
    conn.execute("UPDATE outbox SET chat_id = '', payload = '{}', last_error = NULL, provider_message_id = NULL,"
                 " status = CASE WHEN status IN ('pending', 'sending') THEN 'cancelled' ELSE status END"
                 f" WHERE {where}")
    return counts


def plan_or_purge_op(conn: sqlite3.Connection, round_id: int, actor: str, dry_run: bool, at: float) -> PurgeReport:
    """The purge inside one transaction (or its dry run): counts, then the deletions and audit."""
    r = get_round_op(conn, round_id)
    if r is None:
        raise PurgeError(f"không có đợt / no round {round_id}")
    rep = PurgeReport(r.code, r.id, dry_run)
    done = conn.execute("SELECT purged_at FROM round_purges WHERE round_id = ?", (round_id,)).fetchone()
    rep.already_purged_at = done[0] if done else None
    rep.blockers = blockers_op(conn, round_id)
    ids = _respondent_ids(conn, round_id)
    write = not dry_run and rep.allowed
    # Notes first: they are masked with the names that the erasure deletes.
    rep.counts["recheck_notes_masked"] = _mask_recheck_notes(conn, round_id, write)
    rep.counts["audit_masked"] = _mask_audit(conn, round_id, write)
    rep.counts.update(erase_respondents_op(conn, round_id, ids, write=write))
    pw, pp = _processed_window(conn, round_id, at)
    rep.counts["outbox"] += conn.execute(
        "SELECT COUNT(*) FROM outbox WHERE round_id = ? AND respondent_id IS NULL AND (chat_id != '' OR payload != '{}')",
        (round_id,)).fetchone()[0]
    rep.counts["processed_updates"] = conn.execute(f"SELECT COUNT(*) FROM processed_updates WHERE {pw}", pp).fetchone()[0]
    rep.counts = {k: rep.counts[k] for k in LABELS if k in rep.counts}
    if not write:
        return rep
    conn.execute("UPDATE outbox SET chat_id = '', payload = '{}', last_error = NULL, provider_message_id = NULL,"
                 " status = CASE WHEN status IN ('pending', 'sending') THEN 'cancelled' ELSE status END"
                 " WHERE round_id = ?", (round_id,))
    conn.execute(f"DELETE FROM processed_updates WHERE {pw}", pp)
    conn.execute("INSERT INTO round_purges (round_id, purged_at, actor, counts) VALUES (?, ?, ?, ?)"
                 " ON CONFLICT (round_id) DO UPDATE SET purged_at = excluded.purged_at, actor = excluded.actor,"
                 " counts = excluded.counts", (round_id, at, actor, dumps(rep.counts)))
    audit_op(conn, actor, "privacy.purge", {"code": r.code, "counts": rep.counts}, round_id, at)
    rep.purged_at = at
    return rep


def scrub_file(conn: sqlite3.Connection, attempts: int = 50, pause: float = 0.1) -> bool:
    """Make deleted values unrecoverable from the files: checkpoint, ``VACUUM`` (rebuilds every
    page, so no old bytes stay in free space), checkpoint again and truncate the WAL. Returns
    whether the WAL could be truncated (a reader holding an old snapshot prevents it: retried)."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    for _ in range(attempts):
        busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            return True
        time.sleep(pause)
    return False


#: Tables whose rows a purge deletes or rewrites (PostgreSQL rewrites them with VACUUM FULL).
PURGED_TABLES = ("contacts", "chat_bindings", "respondents", "outbox", "claim_attempts", "claim_handovers",
                 "processed_updates", "answers", "answers_current", "recheck", "audit_log")


def scrub_postgres(conn: Any) -> bool:
    """PostgreSQL's counterpart of ``scrub_file``: ``VACUUM FULL`` rewrites the purged tables (dead
    row versions gone from the table files), then a ``CHECKPOINT``. Old copies can remain in WAL
    segments until PostgreSQL recycles them, and in archives and replicas (docs/privacy.md).
    Returns whether the checkpoint could run (it needs the pg_checkpoint role or a superuser)."""
    for table in PURGED_TABLES:
        conn.execute(f"VACUUM FULL {table}")
    try:
        conn.execute("CHECKPOINT")
    except Exception:  # noqa: BLE001 - a role without pg_checkpoint: the data is deleted all the same
        return False
    return True


def _connect(db_path: str) -> tuple[Any, bool]:
    """(connection, is PostgreSQL) for a path or URL (``storage.dialect.parse_db_url``)."""
    where = parse_db_url(db_path)
    if where.is_postgres:
        return PgConnection(where.target), True
    return connect_writer(where.target), False


def _schema_version(conn: Any) -> int:
    """The schema version, 0 for a database without hailong's tables (either backend)."""
    try:
        return int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0)
    except (sqlite3.Error, psycopg.Error, StorageError):
        return 0


def purge_round(db_path: str, round_code: str, *, actor: str, dry_run: bool = False,
                at: float | None = None) -> PurgeReport:
    """Purge (or list what would go from) a closed, re-checked round; see the module doc.
    ``db_path``: a SQLite path or a ``postgresql://`` URL.

    Raises PurgeError if the round is unknown, or (not a dry run) if a blocker stands.
    """
    at = time.time() if at is None else at
    conn, postgres = _connect(db_path)
    try:
        if _schema_version(conn) < code_schema_version():
            raise PurgeError(f"{parse_db_url(db_path).redacted()}: không phải cơ sở dữ liệu hailong hoặc chưa nâng "
                             "cấp (hailong init) / not a hailong database, or not upgraded yet (run hailong init)")
        if not postgres:
            conn.execute("PRAGMA secure_delete = ON")
        row = conn.execute("SELECT id FROM rounds WHERE code = ?", (round_code.strip(),)).fetchone()
        if row is None:
            raise PurgeError(f"không có đợt khảo sát {round_code!r} / no round {round_code!r}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            rep = plan_or_purge_op(conn, int(row[0]), actor, dry_run, at)
            conn.execute("COMMIT" if not dry_run and rep.allowed else "ROLLBACK")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if not dry_run and not rep.allowed:
            raise PurgeError("; ".join(rep.blockers))
        if not dry_run:
            rep.wal_truncated = scrub_postgres(conn) if postgres else scrub_file(conn)
        return rep
    finally:
        conn.close()


def due_for_purge(db_path: str, at: float | None = None) -> list[str]:
    """Codes of closed rounds whose retention (``settings.purge_after_days``, default
    ``DEFAULT_RETENTION_DAYS``) has run out and that are not purged yet (the retention job purges
    them; blocked ones are reported by the job)."""
    at = time.time() if at is None else at
    conn, _ = _connect(db_path)
    try:
        rows = conn.execute(
            "SELECT r.code, r.closed_at, r.settings FROM rounds AS r"
            " WHERE r.status = 'closed' AND r.closed_at IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM round_purges AS p WHERE p.round_id = r.id)").fetchall()
    finally:
        conn.close()
    out = []
    for code, closed_at, settings in rows:
        days = loads_obj(settings).get(RETENTION_KEY)
        days = DEFAULT_RETENTION_DAYS if days is None else days
        if isinstance(days, (int, float)) and days >= 0 and closed_at + days * DAY <= at:
            out.append(code)
    return out


def purge_due(db_path: str, *, actor: str = "retention", at: float | None = None) -> list[PurgeReport]:
    """Purge every round whose retention has run out; a round still blocked is reported, not purged."""
    out = []
    for code in due_for_purge(db_path, at):
        try:
            out.append(purge_round(db_path, code, actor=actor, at=at))
        except PurgeError:
            out.append(purge_round(db_path, code, actor=actor, dry_run=True, at=at))
    return out
