"""Packed answer vectors (migration 13, storage/vectors.py): written in the commit that submits a
response through the real write path, equal to a fresh packing of its current answers, deleted by
any later change of its answers and written again at its next status update; analytics reads the
same table with and without them."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from engine.types import Choose, Command, Done
from storage.conversations import SqliteConversationStore
from support.conversations import answer_through_store
from storage.db import Database
from demo.seed import seed_round, tiny_survey
from storage.vectors import VECTOR_SELECT, rebuild_vectors


@pytest.fixture
async def db(tmp_path):
    d = await Database.open(tmp_path / "t.db")
    yield d
    await d.close()


async def _sql(db: Database, sql: str, params: tuple = ()) -> None:
    await db.write(lambda conn: conn.execute(sql, params).rowcount)


def _vector(path: str, rid: int) -> tuple | None:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT response_id, answered, steps, codes, loose FROM response_vectors"
                           " WHERE response_id = ?", (rid,)).fetchone()
    finally:
        con.close()


def _fresh(path: str, rid: int) -> tuple:
    con = sqlite3.connect(path)
    try:
        return con.execute(VECTOR_SELECT.format(where="response_id = ?"), (rid,)).fetchone()
    finally:
        con.close()


async def test_vector_written_at_submit_dropped_on_change_and_rewritten(db, tmp_path):
    seeded = await seed_round(db, tiny_survey(), respondents=3)
    store = SqliteConversationStore(db)
    path = str(tmp_path / "t.db")
    done = await answer_through_store(store, seeded.respondents[0].token, "c0",
                         [Choose("q1", 1), Choose("q2", 4), Choose("q3", 2), Done("q3"), Command("submit")])
    partial = await answer_through_store(store, seeded.respondents[1].token, "c1", [Choose("q1", 2)])
    v = _vector(path, done)
    assert v is not None and v == _fresh(path, done)
    assert v[1] == 3 and v[4] != "[]"                   # q3 is a multiple choice: a loose answer
    assert _vector(path, partial) is None               # only submitted responses are packed
    # any change of a submitted response's answers drops its vector, in the same transaction
    await _sql(db, "UPDATE answers_current SET value = '2', value_num = 2 WHERE response_id = ? AND step_id = 'q1'",
                     (done,))
    assert _vector(path, done) is None
    # the next status update writes it again, from the changed answers
    await _sql(db, "UPDATE responses SET status = status WHERE id = ?", (done,))
    v2 = _vector(path, done)
    assert v2 is not None and v2 == _fresh(path, done) and v2 != v
    await _sql(db, "DELETE FROM answers_current WHERE response_id = ? AND step_id = 'q2'", (done,))
    assert _vector(path, done) is None
    con = sqlite3.connect(path)
    try:
        assert rebuild_vectors(con) == 1
        con.commit()
    finally:
        con.close()
    assert _vector(path, done) == _fresh(path, done)


async def test_many_submissions_in_one_group_commit_are_each_packed(db, tmp_path):
    seeded = await seed_round(db, tiny_survey(), respondents=6)
    store = SqliteConversationStore(db)
    path = str(tmp_path / "t.db")
    rids = await asyncio.gather(*(
        answer_through_store(store, seeded.respondents[i].token, f"g{i}",
                [Choose("q1", 1), Choose("q2", 1 + i % 5), Choose("q3", 1), Done("q3"), Command("submit")])
        for i in range(6)))
    con = sqlite3.connect(path)
    try:
        assert con.execute("SELECT count(*) FROM responses WHERE status = 'submitted'").fetchone()[0] == 6
    finally:
        con.close()
    for rid in rids:
        v = _vector(path, rid)
        assert v is not None and v == _fresh(path, rid)
