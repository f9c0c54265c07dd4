"""Staff commands for personal data protection: round purge (dry run, refusals, --due), requests
(list, add, done, hostile values), privacy report (cross-border transfer named) and consent."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import time

import pytest
from typer.testing import CliRunner

from demo.synthetic import populate_db
from hailong.cli import app
from storage.db import Database
from storage.rounds import close_round, update_round
from demo.seed import seed_round
from survey_defs.consent import consent_hash, consent_text
from survey_defs.loader import get_survey

runner = CliRunner()


def _db(tmp_path, close: bool = True) -> str:
    p = str(tmp_path / "cli.db")
    populate_db(p, get_survey("sipas-households"), 30, seed=6, round_code="LC9")
    conn = sqlite3.connect(p)
    with conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM respondents ORDER BY id")]
        for i, pid in enumerate(ids):
            conn.execute("INSERT INTO contacts (respondent_id, name, phone) VALUES (?, ?, ?)",
                         (pid, f"Người {i}", f"09{i:08d}"))
            conn.execute("INSERT INTO chat_bindings VALUES (?, ?, ?, ?)",
                         ("telegram" if i % 2 else "zalo", f"c{i:06d}", pid, time.time()))
            conn.execute("UPDATE respondents SET card_code = ? WHERE id = ?", (f"KS-CARD{i:03d}", pid))
        if close:
            conn.execute("UPDATE rounds SET status = 'closed', closed_at = ?, recheck_share = 0", (time.time(),))
    conn.close()
    return p


def _ok(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, (args, r.output)
    return r.output


def _fails(args: list[str], code: int = 2) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == code, (args, r.output)
    return r.output


def test_round_purge_dry_run_then_purge(tmp_path):
    db = _db(tmp_path)
    out = _ok(["round", "purge", "--code", "LC9", "--dry-run", "--db", db])
    assert "dry run" in out and "contacts" in out and "30" in out
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM contacts").fetchone()[0] == 30
    out = _ok(["round", "purge", "--code", "LC9", "--db", db, "--actor", "lan"])
    assert "purged" in out and "WAL truncated" in out
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM contacts").fetchone()[0] == 0
    assert b"0900000003" not in open(db, "rb").read()
    assert "was purged" in _ok(["round", "purge", "--code", "LC9", "--dry-run", "--db", db])


def test_round_purge_refusals_and_hostile_values(tmp_path):
    db = _db(tmp_path, close=False)
    assert "not closed" in _fails(["round", "purge", "--code", "LC9", "--db", db])
    _fails(["round", "purge", "--db", db])                               # neither --code nor --due
    _fails(["round", "purge", "--code", "LC9", "--due", "--db", db])     # both
    assert "no round" in _fails(["round", "purge", "--code", "'; DROP TABLE contacts; --", "--db", db])
    _fails(["round", "purge", "--code", "LC9", "--db", str(tmp_path / "missing.db")])
    assert "no round is due" in _ok(["round", "purge", "--due", "--db", db])
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM contacts").fetchone()[0] == 30


def test_requests_add_list_done(tmp_path):
    db = _db(tmp_path)
    assert "no open request" in _ok(["requests", "--db", db])
    out = _ok(["requests", "add", "--round", "LC9", "--card", "ks-card004", "--kind", "erase", "--note", "gọi điện",
               "--db", db, "--actor", "lan"])
    assert "request logged: 1" in out
    listing = _ok(["requests", "--db", db])
    assert "erase" in listing and "staff" in listing and "OVERDUE" not in listing
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE privacy_requests SET due_at = 0")
    conn.close()
    assert "OVERDUE" in _ok(["requests", "--db", db])
    assert "done" in _ok(["requests", "done", "1", "--db", db])
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM contacts WHERE name = 'Người 4'").fetchone()[0] == 0
    assert "no open request" in _ok(["requests", "--db", db])
    assert "erase" in _ok(["requests", "--all", "--round", "LC9", "--db", db])
    # hostile or wrong values
    _fails(["requests", "add", "--round", "LC9", "--card", "KS-NOPE", "--kind", "erase", "--db", db])
    _fails(["requests", "add", "--round", "LC9", "--card", "KS-CARD001", "--kind", "forget", "--db", db])
    _fails(["requests", "add", "--round", "NOPE", "--card", "KS-CARD001", "--kind", "erase", "--db", db])
    _fails(["requests", "add", "--round", "LC9", "--card", "KS-CARD001", "--kind", "access", "--note", "x" * 501,
            "--db", db])
    _fails(["requests", "done", "99", "--db", db])
    _fails(["requests", "done", "1", "--db", db])                         # already done
    _fails(["requests", "done", "abc", "--db", db])
    _fails(["requests", "--round", "NOPE", "--db", db])
    actions = [r[0] for r in sqlite3.connect(db).execute("SELECT action FROM audit_log WHERE action LIKE 'privacy%'")]
    assert actions == ["privacy.request.erase", "privacy.request.close"]


def test_privacy_report_names_the_cross_border_channel(tmp_path):
    db = _db(tmp_path)
    out = tmp_path / "annex.md"
    _ok(["privacy", "report", "--round", "LC9", "--out", str(out), "--db", db])
    text = out.read_text(encoding="utf-8")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert "| Telegram |" in text and "**CÓ / YES**" in text and "cross-border transfer" in text
    zalo = next(line for line in text.splitlines() if line.startswith("| Zalo |"))
    assert zalo.endswith("không / no |")
    assert "Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15" in text and "Sở Nội vụ" in text
    assert "0900000001" not in text and "c000001" not in text           # facts, never personal data
    assert "purged: chưa / not yet" in text
    _fails(["privacy", "report", "--round", "NOPE", "--db", db])


def test_privacy_consent_prints_the_exact_text(tmp_path):
    db = _db(tmp_path)
    s = get_survey("sipas-households")
    out = _ok(["privacy", "consent", "--round", "LC9", "--lang", "vi", "--db", db])
    assert consent_text(s, "vi") in out and consent_hash(consent_text(s, "vi")) in out and "2026.2" in out
    assert consent_text(s, "en") in _ok(["privacy", "consent", "--round", "LC9", "--db", db])
    _fails(["privacy", "consent", "--round", "LC9", "--lang", "fr", "--db", db])


def test_overdue_requests_show_in_status_problems(tmp_path):
    db = _db(tmp_path)
    _ok(["requests", "add", "--round", "LC9", "--card", "KS-CARD002", "--kind", "access", "--db", db])
    assert "quá hạn" not in _ok(["status", "--round", "LC9", "--problems", "--db", db])
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE privacy_requests SET due_at = ?", (time.time() - 1,))
    conn.close()
    out = _ok(["status", "--round", "LC9", "--problems", "--db", db])
    assert "past their 15-day deadline" in " ".join(out.split())


def test_purge_refuses_files_that_are_not_hailong_databases(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    _fails(["round", "purge", "--code", "X", "--db", str(junk)])
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    assert "not a hailong database" in " ".join(_fails(["round", "purge", "--code", "X", "--db", str(empty)]).split())


def test_the_commands_work_on_postgresql(pg_url):
    async def seed() -> None:
        db = await Database.open(pg_url)
        try:
            seeded = await seed_round(db, get_survey("sipas-households"), respondents=3)
            await update_round(db, seeded.round.id, recheck_share=0)
            await close_round(db, seeded.round.id)
        finally:
            await db.close()

    asyncio.run(seed())
    assert "contacts" in _ok(["round", "purge", "--code", "R1", "--dry-run", "--db", pg_url])
    report = _ok(["privacy", "report", "--round", "R1", "--db", pg_url])
    assert "Sở Nội vụ" in report and "purged: chưa / not yet" in report
    assert "no open request" in _ok(["requests", "--db", pg_url])
    assert "purged" in _ok(["round", "purge", "--code", "R1", "--db", pg_url])
    assert "2026.2" in _ok(["privacy", "consent", "--round", "R1", "--db", pg_url])
