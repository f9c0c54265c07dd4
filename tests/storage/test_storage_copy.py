"""``hailong db copy``: a province's database moved to PostgreSQL (and back) without losing a
row: counts and checksums verified per table, identical indices and exports computed from it."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from typer.testing import CliRunner

from analytics.analysis import analyse
from analytics.exports import export
from analytics.load import load_round
from analytics.settings import AnalyticsSettings
from demo.synthetic import populate_db, small_survey
from hailong.cli import app
from storage.conversations import SqliteConversationStore
from storage.copy import CopyError, copy_database
from storage.db import Database
from storage.outbox import OutboxItem, enqueue_outbox
from storage.respondents import RespondentIn, insert_respondents
from storage.rounds import list_rounds

ROUND = "LC-2025"


def _demo_database(path: str) -> None:
    """Submitted responses (bulk), plus live traffic: an outbox, a claimed invitation, a step."""
    populate_db(path, small_survey(), 400, seed=5, round_code=ROUND)

    async def live() -> None:
        db = await Database.open(path)
        try:
            rnd = (await list_rounds(db))[0]
            unit = await db.fetchval("SELECT id FROM units WHERE kind = 'village' ORDER BY id LIMIT 1")
            people = await insert_respondents(db, rnd.id, [RespondentIn(unit, "hộ thêm / extra household")])
            await enqueue_outbox(db, [OutboxItem("telegram", "c1", "invite", "invite:x", {"text": "Mời ông/bà"},
                                                 rnd.id, people[0].id)])
            await db.write(lambda c: c.execute("UPDATE rounds SET status = 'open'"))
            store = SqliteConversationStore(db)
            claim = await store.claim_invite(people[0].token, "telegram", "chat-1", update_key="u1")
            assert claim.status == "ok", claim
        finally:
            await db.close()

    asyncio.run(live())


def _index_and_csv(url: str, out) -> tuple[list[float], dict[str, bytes]]:
    lr = load_round(url, ROUND)
    a = analyse(lr.data, lr.survey, ROUND, AnalyticsSettings(bootstrap_b=60, seed=1), units=lr.units,
                dispositions=lr.dispositions)
    paths = export(a, "csv", out)
    return a.overall.overall.tolist(), {p.name: p.read_bytes() for p in paths}


def test_a_demo_database_moves_to_postgresql_and_back_identically(tmp_path, pg_url):
    src = str(tmp_path / "province.db")
    _demo_database(src)
    checks = asyncio.run(copy_database(src, pg_url))
    assert all(c.ok for c in checks)
    rows = {c.table: c.rows for c in checks}
    assert rows["answers"] > 1000 and rows["answers_current"] > 1000 and rows["outbox"] == 1
    assert rows["chat_bindings"] == 1 and rows["claim_attempts"] == 1
    # and back to a new SQLite file: the same checksums on every table
    back = str(tmp_path / "back.db")
    again = asyncio.run(copy_database(pg_url, back))
    assert [(c.table, c.rows, c.checksum) for c in again] == [(c.table, c.rows, c.checksum) for c in checks]
    # identical indices and exports, from SQLite and from PostgreSQL
    idx_sqlite, csv_sqlite = _index_and_csv(src, tmp_path / "a")
    idx_pg, csv_pg = _index_and_csv(pg_url, tmp_path / "b")
    assert idx_pg == idx_sqlite and csv_pg == csv_sqlite and csv_sqlite

    async def goes_on() -> None:                 # the copy is a working database: ids continue
        db = await Database.open(pg_url)
        try:
            rnd = (await list_rounds(db))[0]
            unit = await db.fetchval("SELECT id FROM units WHERE kind = 'village' ORDER BY id LIMIT 1")
            new = await insert_respondents(db, rnd.id, [RespondentIn(unit, "hộ mới / new household")])
            assert new[0].id == rows["respondents"] + 1
        finally:
            await db.close()

    asyncio.run(goes_on())


def flat(res) -> str:
    """The command's output with Rich's line wrapping undone."""
    return " ".join(res.output.split())


def test_the_cli_copies_migrates_and_refuses_what_it_must(tmp_path, pg_url):
    runner = CliRunner()
    src = str(tmp_path / "p.db")
    _demo_database(src)
    res = runner.invoke(app, ["db", "migrate", "--db", pg_url])
    assert res.exit_code == 0 and "→" in flat(res), flat(res)          # 0 → newest
    res = runner.invoke(app, ["db", "migrate", "--db", pg_url])
    assert res.exit_code == 0 and "up to date" in flat(res)
    res = runner.invoke(app, ["db", "copy", "--from", f"sqlite:///{src}", "--to", pg_url])
    assert res.exit_code == 0 and "copied and verified" in flat(res), flat(res)
    # a destination that holds rows is never merged into
    res = runner.invoke(app, ["db", "copy", "--from", src, "--to", pg_url])
    assert res.exit_code == 2 and "already holds rows" in flat(res) and "đã có dữ liệu" in flat(res)
    for bad in ("mysql://x/y", "sqlite://relative.db", "", "postgresql://nobody@127.0.0.1:1/none"):
        res = runner.invoke(app, ["db", "copy", "--from", src, "--to", bad])
        assert res.exit_code == 2 and "Lỗi / Error" in flat(res), (bad, flat(res))
    res = runner.invoke(app, ["db", "copy", "--from", src, "--to", f"sqlite:///{src}"])
    assert res.exit_code == 2 and "same database" in flat(res)
    # a password in a URL is not printed back
    res = runner.invoke(app, ["db", "migrate", "--db", "postgresql://u:s3cret@127.0.0.1:1/x"])
    assert res.exit_code == 2 and "s3cret" not in flat(res)


def test_a_source_written_during_the_copy_is_reported(tmp_path, pg_url, monkeypatch):
    """A bot still writing to the source: the verification finds rows the copy does not have."""
    import storage.copy as copy_mod

    src = str(tmp_path / "busy.db")
    _demo_database(src)
    real = copy_mod._Side.end

    def end_then_write(self) -> None:           # a write lands right after the snapshot
        real(self)
        if not self.where.is_postgres:
            c = sqlite3.connect(src)
            c.execute("INSERT INTO audit_log (at, actor, action, details) VALUES (1, 'bot', 'late', '{}')")
            c.commit()
            c.close()

    monkeypatch.setattr(copy_mod._Side, "end", end_then_write)
    with pytest.raises(CopyError, match="audit_log"):
        asyncio.run(copy_database(src, pg_url))
