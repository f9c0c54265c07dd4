"""Packed answer vectors on both backends (migration 13; on PostgreSQL PL/pgSQL triggers from
storage/dialect.py): written when a response is submitted through the real write path, dropped
by any change of its answers, written again at its next status update, rebuilt in bulk; each
vector decodes to exactly the response's current answers (an oracle that reads
``answers_current`` row by row, not the packing SQL)."""

from __future__ import annotations

import json
from typing import Any


from demo.seed import seed_round, tiny_survey
from engine.types import Choose, Command, Done
from storage.conversations import SqliteConversationStore
from support.conversations import answer_through_store
from storage.db import Database
from storage.vectors import CODE_MAX, CODE_MIN, EPOCH_MS, STEP_SEPARATOR, rebuild_vectors


def _decode(row: Any) -> dict[str, tuple]:
    _, answered, steps, codes, loose = row
    out: dict[str, tuple] = {}
    for sid, packed in zip(steps.split(STEP_SEPARATOR) if steps else [], codes.split(",") if codes else []):
        n = int(packed)
        out[sid] = ("coded", (n & 4095) - 2048, n >> 12)
    for sid, value, ms, valid in json.loads(loose):
        out[sid] = ("loose", value, ms, valid)
    assert len(out) == answered
    return out


async def _oracle(db: Database, rid: int) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for sid, value, num, at in await db.fetchall(
            "SELECT step_id, value, value_num, answered_at FROM answers_current WHERE response_id = ?", (rid,)):
        ms = max(0, int(float(at) * 1000 + 0.5) - EPOCH_MS)
        if num is not None and CODE_MIN <= num <= CODE_MAX:
            out[sid] = ("coded", int(num), ms)
        else:
            try:
                json.loads(value)
                valid = 1
            except ValueError:
                valid = 0
            out[sid] = ("loose", value, ms, valid)
    return out


async def _vector(db: Database, rid: int) -> Any:
    return await db.fetchone("SELECT response_id, answered, steps, codes, loose FROM response_vectors"
                             " WHERE response_id = ?", (rid,))


async def _sql(db: Database, sql: str, params: tuple = ()) -> None:
    await db.write(lambda conn: conn.execute(sql, params).rowcount)


async def test_vectors_are_kept_on_both_backends(db):
    seeded = await seed_round(db, tiny_survey(), respondents=3)
    store = SqliteConversationStore(db)
    done = await answer_through_store(store, seeded.respondents[0].token, "c0",
                         [Choose("q1", 1), Choose("q2", 4), Choose("q3", 2), Done("q3"), Command("submit")])
    partial = await answer_through_store(store, seeded.respondents[1].token, "c1", [Choose("q1", 2)])
    v = await _vector(db, done)
    assert v is not None and _decode(v) == await _oracle(db, done)
    assert v[1] == 3 and v[4] != "[]"                      # q3 (multiple choice) is a loose answer
    assert await _vector(db, partial) is None
    await _sql(db, "UPDATE answers_current SET value = '2', value_num = 2 WHERE response_id = ? AND step_id = 'q1'",
               (done,))
    assert await _vector(db, done) is None                 # a change drops it, in the same transaction
    await _sql(db, "UPDATE responses SET status = status WHERE id = ?", (done,))
    v2 = await _vector(db, done)
    assert v2 is not None and _decode(v2) == await _oracle(db, done) and v2 != v
    # hostile stored values: not JSON, a code out of the packed range, a control character
    await _sql(db, "INSERT INTO answers_current (response_id, step_id, revision, value, value_num, answered_at)"
                   " VALUES (?, 'x_text', 1, ?, NULL, ?), (?, 'x_big', 1, '99999', 99999, ?),"
                   " (?, 'x_neg', 1, '-2048', -2048, 1.0)",
               (done, "not json \x1f ' \" %s ?", 1.7e9 + 0.0005, done, 1.75e9, done))
    assert await _vector(db, done) is None
    await _sql(db, "DELETE FROM answers_current WHERE response_id = ? AND step_id = 'q2'", (done,))
    assert await db.write(rebuild_vectors) == 1
    v3 = await _vector(db, done)
    assert v3 is not None and _decode(v3) == await _oracle(db, done)
    decoded = _decode(v3)
    assert decoded["x_text"][0] == "loose" and decoded["x_text"][3] == 0
    assert decoded["x_big"][0] == "loose" and decoded["x_neg"] == ("coded", -2048, 0)


async def test_a_submission_packs_in_the_committing_transaction_on_both_backends(db):
    seeded = await seed_round(db, tiny_survey(), respondents=4)
    store = SqliteConversationStore(db)
    rids = [await answer_through_store(store, seeded.respondents[i].token, f"g{i}",
                          [Choose("q1", 1), Choose("q2", 1 + i), Choose("q3", 1), Done("q3"), Command("submit")])
            for i in range(4)]
    for rid in rids:
        v = await _vector(db, rid)
        assert v is not None and _decode(v) == await _oracle(db, rid)


async def test_migration_15_gives_an_early_postgresql_database_its_vector_triggers(pg_url):
    """A PostgreSQL database migrated to 13 before its triggers had a PostgreSQL form holds an
    empty table and no triggers; migration 15 creates them and packs every submitted response."""
    db = await Database.open(pg_url)
    try:
        seeded = await seed_round(db, tiny_survey(), respondents=2)
        store = SqliteConversationStore(db)
        done = await answer_through_store(store, seeded.respondents[0].token, "e0",
                             [Choose("q1", 1), Choose("q2", 3), Choose("q3", 2), Done("q3"), Command("submit")])
        for stmt in ("DROP TRIGGER responses_pack_answers ON responses",
                     "DROP TRIGGER answers_current_unpack ON answers_current",
                     "DELETE FROM response_vectors", "DELETE FROM schema_version WHERE version >= 15"):
            await _sql(db, stmt)
        assert await _vector(db, done) is None
    finally:
        await db.close()
    db = await Database.open(pg_url)                      # migrates 14 → 15
    try:
        v = await _vector(db, done)
        assert v is not None and _decode(v) == await _oracle(db, done)
        await _sql(db, "UPDATE answers_current SET value = '2', value_num = 2 WHERE response_id = ? AND step_id = 'q1'",
                   (done,))
        assert await _vector(db, done) is None             # the unpack trigger is back
        await _sql(db, "UPDATE responses SET status = status WHERE id = ?", (done,))
        assert _decode(await _vector(db, done)) == await _oracle(db, done)   # and the pack trigger
    finally:
        await db.close()
    again = await Database.open(pg_url)                    # nothing left to apply; opens cleanly
    await again.close()
