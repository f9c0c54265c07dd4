"""Purge after the purpose ends (issue 15, item 3): allowed only for a closed, re-checked round;
the dry run lists what goes; after the purge the purged phone numbers, names and chat ids are
absent from the raw bytes of the database file and its WAL, and every index and export of the
round is unchanged."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest

from analytics.analysis import analyse
from analytics.exports import export
from analytics.load import load_round
from analytics.settings import AnalyticsSettings
from demo.synthetic import populate_db
from storage.db import Database
from storage.purge import LABELS, PurgeError, due_for_purge, purge_due, purge_round
from storage.recheck import RecheckDraw, record_recheck_draw, record_recheck_outcome
from storage.rounds import RoundError, close_round, get_round_by_code, open_round, update_round
from engine import step
from engine.types import Choose, Start
from storage.conversations import SqliteConversationStore
from demo.seed import seed_round
from survey_defs.loader import get_survey

CODE = "LC-2025"
PHONE = "0987123456"           # written into contacts, an outbox payload and a comment
PHONE_SPACED = "0987 123 456"
CHAT = "770055443322"          # a Telegram chat id: binding, contact, outbox, claim ledger
ZALO = "zl-4455667788"
NAME = "Lò Thị Phượng"


def _seed(path: str) -> None:
    """A round of 60 submitted questionnaires plus the personal data a real round leaves."""
    populate_db(path, get_survey("sipas-households"), 60, seed=4, round_code=CODE)
    conn = sqlite3.connect(path)
    with conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM respondents ORDER BY id")]
        rid = conn.execute("SELECT id FROM rounds WHERE code = ?", (CODE,)).fetchone()[0]
        for i, pid in enumerate(ids):
            conn.execute("INSERT INTO contacts (respondent_id, name, phone, telegram_id, zalo_id, address)"
                         " VALUES (?, ?, ?, ?, ?, ?)",
                         (pid, NAME if i == 0 else f"Người {i}", PHONE if i == 0 else f"03{i:08d}",
                          CHAT if i == 0 else f"5{i:09d}", ZALO if i == 0 else None, "Bản Nậm Sỏ"))
            conn.execute("INSERT INTO chat_bindings VALUES ('telegram', ?, ?, 1.7e9)",
                         (CHAT if i == 0 else f"5{i:09d}", pid))
            conn.execute("UPDATE respondents SET household_ref = ?, attrs = ? WHERE id = ?",
                         (f"HH-{i:04d}", json.dumps({"sub_hamlet": "Xóm 2", "rule": "random"}), pid))
        conn.execute("INSERT INTO outbox (round_id, respondent_id, channel, chat_id, kind, payload, dedupe_key,"
                     " status, created_at) VALUES (?, ?, 'telegram', ?, 'invite', ?, 'invite:1', 'sent', 1.7e9)",
                     (rid, ids[0], CHAT, json.dumps({"text": f"Gọi {PHONE} nếu cần", "start_token": "T" * 32})))
        conn.execute("INSERT INTO claim_attempts (channel, chat_id, update_key, at, outcome)"
                     " VALUES ('telegram', ?, 'u1', 1.7e9, 'ok')", (CHAT,))
        conn.execute("INSERT INTO processed_updates VALUES ('telegram', '99887766', ?)", (time.time(),))
        # the comment was stored before masking existed (an old version, a paper import)
        for table in ("answers", "answers_current"):   # a writer of answers writes both (migration 14)
            conn.execute(f"INSERT INTO {table} (response_id, step_id, revision, value, answered_at)"
                         " SELECT id, 'q_comment', 1, ?, 1.74e9 FROM responses WHERE respondent_id = ?",
                         (json.dumps(f"Tôi là {NAME}, sđt {PHONE_SPACED}", ensure_ascii=False), ids[0]))
    conn.close()


async def _close_and_recheck(path: str, record: bool = True) -> None:
    db = await Database.open(path)
    try:
        r = await get_round_by_code(db, CODE)
        await open_round(db, r.id)
        await close_round(db, r.id, actor="lead")
        ids = [x[0] for x in await db.fetchall("SELECT id FROM respondents WHERE round_id = ? ORDER BY id LIMIT 3",
                                               (r.id,))]
        await record_recheck_draw(db, r.id, 7, [RecheckDraw(i) for i in ids], actor="mttq")
        if record:
            for i in ids:
                await record_recheck_outcome(db, r.id, i, "confirmed", recorded_by="mttq",
                                             note=f"gọi {NAME} lúc 9h" if i == ids[0] else None)
    finally:
        await db.close()


def _indices_and_exports(path: str, out: Path) -> tuple[pd.DataFrame, dict[str, bytes]]:
    lr = load_round(path, CODE)
    a = analyse(lr.data, lr.survey, CODE, AnalyticsSettings(bootstrap_b=50), units=lr.units,
                dispositions=lr.dispositions)
    files = export(a, "csv", out)
    return a.levels["commune"].overall.copy(), {p.name: p.read_bytes() for p in files}


def _raw_bytes(path: str) -> bytes:
    data = Path(path).read_bytes()
    wal = Path(path + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


@pytest.fixture()
def seeded(tmp_path) -> str:
    p = str(tmp_path / "p.db")
    _seed(p)
    return p


def test_refused_while_open_or_recheck_pending(seeded):
    rep = purge_round(seeded, CODE, actor="lead", dry_run=True)
    assert rep.blockers and "not closed" in rep.blockers[0]
    with pytest.raises(PurgeError, match="not closed"):
        purge_round(seeded, CODE, actor="lead")
    asyncio.run(_close_and_recheck(seeded, record=False))
    with pytest.raises(PurgeError, match="re-check outcomes not recorded"):
        purge_round(seeded, CODE, actor="lead")
    assert PHONE.encode() in _raw_bytes(seeded)               # nothing was deleted
    with pytest.raises(PurgeError, match="no round"):
        purge_round(seeded, "NOPE", actor="lead")


def test_purge_deletes_unrecoverably_and_keeps_every_index_and_export(seeded, tmp_path):
    asyncio.run(_close_and_recheck(seeded))
    before_idx, before_files = _indices_and_exports(seeded, tmp_path / "before")
    raw = _raw_bytes(seeded)
    for value in (PHONE, CHAT, ZALO, NAME, PHONE_SPACED):
        assert value.encode() in raw                            # the test would see them

    dry = purge_round(seeded, CODE, actor="lead", dry_run=True)
    assert dry.allowed and dry.purged_at is None
    assert dry.counts["contacts"] == 60 and dry.counts["chat_bindings"] == 60 and dry.counts["tokens"] == 60
    assert dry.counts["outbox"] == 1 and dry.counts["claim_attempts"] == 1 and dry.counts["processed_updates"] == 1
    assert dry.counts["free_text_masked"] == 2                 # history and current
    assert dry.counts["recheck_notes_masked"] == 1
    assert set(dry.counts) <= set(LABELS)
    assert CHAT.encode() in _raw_bytes(seeded)                 # a dry run writes nothing

    rep = purge_round(seeded, CODE, actor="lead")
    assert rep.purged_at is not None and rep.wal_truncated is True
    raw = _raw_bytes(seeded)
    for value in (PHONE, CHAT, ZALO, NAME, PHONE_SPACED, "HH-0001", "T" * 32):
        assert value.encode() not in raw, value
    after_idx, after_files = _indices_and_exports(seeded, tmp_path / "after")
    pd.testing.assert_series_equal(before_idx, after_idx)
    assert after_files == before_files                         # byte for byte, every table

    conn = sqlite3.connect(seeded)
    try:
        assert conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM chat_bindings").fetchone()[0] == 0
        statuses = conn.execute("SELECT status, COUNT(*) FROM respondents GROUP BY 1").fetchall()
        assert statuses == [("completed", 60)]                 # dispositions kept
        comment = json.loads(conn.execute("SELECT value FROM answers_current WHERE step_id = 'q_comment'").fetchone()[0])
        assert comment == "Tôi là [tên], sđt [SĐT]"
        assert conn.execute("SELECT note FROM recheck WHERE note IS NOT NULL").fetchone()[0] == "gọi [tên] lúc 9h"
        audit = conn.execute("SELECT actor, details FROM audit_log WHERE action = 'privacy.purge'").fetchall()
        assert len(audit) == 1 and audit[0][0] == "lead" and json.loads(audit[0][1])["counts"]["contacts"] == 60
        assert json.loads(conn.execute("SELECT attrs FROM respondents LIMIT 1").fetchone()[0]) == {"rule": "random"}
    finally:
        conn.close()

    again = purge_round(seeded, CODE, actor="lead", dry_run=True)
    assert again.already_purged_at == rep.purged_at and not any(
        v for k, v in again.counts.items() if k != "processed_updates")

    async def reopen() -> None:
        db = await Database.open(seeded)
        try:
            r = await get_round_by_code(db, CODE)
            with pytest.raises(RoundError, match="purged"):
                await open_round(db, r.id)
        finally:
            await db.close()

    asyncio.run(reopen())


def test_retention_schedules_the_purge(seeded):
    asyncio.run(_close_and_recheck(seeded))

    async def set_days(days: int) -> float:
        db = await Database.open(seeded)
        try:
            r = await get_round_by_code(db, CODE)
            await update_round(db, r.id, settings={**r.settings, "purge_after_days": days}, actor="lead")
            return r.closed_at
        finally:
            await db.close()

    closed = sqlite3.connect(seeded).execute("SELECT closed_at FROM rounds").fetchone()[0]
    # without a setting: 365 days, as the consent notice promises
    assert due_for_purge(seeded, closed + 364 * 86_400) == []
    assert due_for_purge(seeded, closed + 366 * 86_400) == [CODE]
    assert asyncio.run(set_days(30)) == closed
    assert due_for_purge(seeded, closed + 29 * 86_400) == []
    assert due_for_purge(seeded, closed + 30 * 86_400 + 1) == [CODE]
    reps = purge_due(seeded, at=closed + 31 * 86_400)
    assert [r.purged_at for r in reps] == [closed + 31 * 86_400]
    assert PHONE.encode() not in _raw_bytes(seeded)
    assert due_for_purge(seeded, closed + 90 * 86_400) == []


def test_recent_update_keys_stay_while_another_round_is_open(seeded):
    """Update keys are not linked to a round: with another round open, only keys past the
    redelivery window go (the recent ones still stop a double answer in that round)."""
    asyncio.run(_close_and_recheck(seeded))
    now = time.time()
    conn = sqlite3.connect(seeded)
    with conn:
        conn.execute("UPDATE rounds SET created_at = ? WHERE code = ?", (now - 10 * 86_400, CODE))
        h = conn.execute("SELECT survey_hash FROM rounds WHERE code = ?", (CODE,)).fetchone()[0]
        conn.execute("INSERT INTO rounds (code, survey_id, survey_hash, status, created_at)"
                     " VALUES ('OTHER', 'sipas-households', ?, 'open', ?)", (h, now))
        conn.executemany("INSERT INTO processed_updates VALUES ('zalo', ?, ?)",
                         [("old", now - 4 * 86_400), ("recent", now - 3600)])
    conn.close()
    rep = purge_round(seeded, CODE, actor="lead", at=now)
    assert rep.purged_at == now
    left = {r[0] for r in sqlite3.connect(seeded).execute("SELECT update_key FROM processed_updates")}
    assert "old" not in left and {"recent", "99887766"} <= left


async def test_purge_on_each_backend(db_url):
    """The purge deletes the same things on SQLite and on PostgreSQL (VACUUM FULL there)."""
    survey = get_survey("sipas-households")
    db = await Database.open(db_url)
    try:
        seeded = await seed_round(db, survey, respondents=4)
        store = SqliteConversationStore(db)
        s = (await store.claim_invite(seeded.respondents[0].token, "telegram", CHAT)).session
        res = step(survey, s.state, Start(), time.time())
        assert await store.commit_step(s, res.state, res.events, "telegram", "u1")
        s = await store.session_for_chat("telegram", CHAT)
        res = step(survey, s.state, Choose("q_consent", 1), time.time())
        assert await store.commit_step(s, res.state, res.events, "telegram", "u2")
        await update_round(db, seeded.round.id, recheck_share=0)
        await close_round(db, seeded.round.id, actor="lead")
    finally:
        await db.close()
    dry = purge_round(db_url, "R1", actor="lead", dry_run=True)
    assert dry.allowed and dry.counts["contacts"] == 4 and dry.counts["chat_bindings"] == 1
    rep = purge_round(db_url, "R1", actor="lead")
    assert rep.purged_at is not None and rep.wal_truncated is not None
    db = await Database.open(db_url)
    try:
        assert await db.fetchval("SELECT COUNT(*) FROM contacts") == 0
        assert await db.fetchval("SELECT COUNT(*) FROM chat_bindings") == 0
        assert await db.fetchval("SELECT COUNT(*) FROM answers_current WHERE step_id = 'q_consent'") == 1
        assert await db.fetchval("SELECT COUNT(*) FROM consent_receipts") == 1
        assert await db.fetchval("SELECT COUNT(*) FROM respondents WHERE token LIKE 'purged-%'") == 4
        assert await db.fetchval("SELECT COUNT(*) FROM audit_log WHERE action = 'privacy.purge'") == 1
    finally:
        await db.close()
    assert due_for_purge(db_url, time.time() + 400 * 86_400) == []          # purged: never due again
