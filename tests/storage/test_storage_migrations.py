"""Migrations: fresh database, upgrade with data kept, refusing a newer database, `hailong init`."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storage.db import (
    MIGRATIONS_DIR,
    Database,
    DatabaseTooNew,
    MigrationError,
    available_migrations,
    code_schema_version,
    connect_writer,
    migrate,
    read_schema_version,
)

EXPECTED_TABLES = {"survey_versions", "units", "rounds", "round_units", "respondents", "contacts", "chat_bindings",
                   "responses", "answers", "answers_current", "processed_updates", "outbox", "recheck", "audit_log",
                   "schema_version"}


def tables(path: Path) -> set[str]:
    c = sqlite3.connect(path)
    try:
        return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        c.close()


async def test_fresh_database_has_every_table_and_newest_version(tmp_path):
    db = await Database.open(tmp_path / "f.db")
    try:
        assert db.schema_version == code_schema_version() == len(available_migrations()) >= 2
        rows = await db.fetchall("SELECT version, name FROM schema_version ORDER BY version")
        assert [r[0] for r in rows] == list(range(1, db.schema_version + 1))
    finally:
        await db.close()
    assert EXPECTED_TABLES <= tables(tmp_path / "f.db")


async def test_reopening_is_a_no_op(tmp_path):
    for _ in range(3):
        db = await Database.open(tmp_path / "r.db")
        await db.close()
    c = sqlite3.connect(tmp_path / "r.db")
    assert c.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == code_schema_version()
    c.close()


async def test_upgrade_from_version_1_keeps_and_backfills_data(tmp_path):
    path = tmp_path / "old.db"
    conn = connect_writer(str(path))
    assert migrate(conn, target=1) == (0, 1)
    # data written by a version-1 hailong: an answer edited once and a cleared one
    conn.executescript("""
        INSERT INTO survey_versions VALUES ('h', 's', '1', '{}', 0);
        INSERT INTO units (id, kind, code, name) VALUES (1, 'commune', 'C1', 'Xã Mường Tè');
        INSERT INTO rounds (id, code, survey_id, survey_hash, created_at) VALUES (1, 'R', 's', 'h', 0);
        INSERT INTO respondents (id, round_id, unit_id, selection_reason, token, card_code, created_at)
            VALUES (1, 1, 1, 'hộ thứ 2', 'tok_tok_tok_tok_tok_tok_', 'ACDEFG', 0);
        INSERT INTO responses (id, respondent_id, round_id, survey_hash, state, started_at, updated_at)
            VALUES (1, 1, 1, 'h', '{}', 0, 0);
        INSERT INTO answers (response_id, step_id, revision, value, value_num, answered_at) VALUES
            (1, 'q1', 1, '3', 3, 1), (1, 'q1', 2, '5', 5, 2), (1, 'q2', 1, '"ok"', NULL, 3);
        INSERT INTO answers (response_id, step_id, revision, value, cleared, answered_at) VALUES (1, 'q2', 2, NULL, 1, 4);
    """)
    assert "answers_current" not in tables(path)
    conn.close()
    db = await Database.open(path)
    try:
        assert db.schema_version == code_schema_version()
        assert await db.fetchval("SELECT name FROM units WHERE id = 1") == "Xã Mường Tè"
        cur = [tuple(r) for r in await db.fetchall("SELECT step_id, revision, value FROM answers_current")]
        assert cur == [("q1", 2, "5")]
        assert await db.fetchval("SELECT COUNT(*) FROM answers") == 4
    finally:
        await db.close()


async def test_newer_database_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "new.db"
    db = await Database.open(path)
    await db.close()
    c = sqlite3.connect(path)
    c.execute("INSERT INTO schema_version VALUES (99, 'from_the_future', 0)")
    c.commit()
    c.close()
    with pytest.raises(DatabaseTooNew) as ei:
        await Database.open(path)
    msg = str(ei.value)
    v = code_schema_version()
    assert f"database schema version 99 is newer than this hailong ({v}): upgrade hailong" in msg
    assert "phiên bản lược đồ 99" in msg and "nâng cấp hailong" in msg


def _copy_migrations(tmp_path: Path) -> Path:
    d = tmp_path / "migs"
    shutil.copytree(MIGRATIONS_DIR, d)
    return d


async def test_failing_migration_leaves_database_at_previous_version(tmp_path):
    d = _copy_migrations(tmp_path)
    n = code_schema_version() + 1
    (d / f"{n:04d}_broken.sql").write_text(
        "CREATE TABLE extra (a INTEGER);\nINSERT INTO no_such_table VALUES (1);\n", encoding="utf-8")
    path = tmp_path / "b.db"
    with pytest.raises(MigrationError) as ei:
        await Database.open(path, migrations_dir=d)
    assert "failed" in str(ei.value)
    c = sqlite3.connect(path)
    assert read_schema_version(c) == n - 1
    assert "extra" not in {r[0] for r in c.execute("SELECT name FROM sqlite_master")}
    c.close()


async def test_gaps_and_bad_names_are_rejected(tmp_path):
    d = _copy_migrations(tmp_path)
    gap = d / f"{len(available_migrations(d)) + 2:04d}_gap.sql"     # one number skipped
    gap.write_text("SELECT 1;", encoding="utf-8")
    with pytest.raises(MigrationError, match="without gaps"):
        available_migrations(d)
    gap.unlink()
    (d / "third.sql").write_text("SELECT 1;", encoding="utf-8")
    with pytest.raises(MigrationError, match="bad migration file name"):
        available_migrations(d)


def _app():
    import typer

    from storage.cli import register

    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:  # a second command so typer keeps "init" as a subcommand name
        pass

    return app


def test_cli_init_creates_upgrades_and_refuses(tmp_path, monkeypatch):
    runner = CliRunner()
    app = _app()
    path = tmp_path / "cli.db"
    r = runner.invoke(app, ["init", "--db", str(path)])
    assert r.exit_code == 0, r.output
    assert f"schema version {code_schema_version()}" in " ".join(r.output.split())
    r = runner.invoke(app, ["init", "--db", str(path)])
    assert r.exit_code == 0 and "up to date" in r.output
    # default path from HAILONG_DB
    monkeypatch.setenv("HAILONG_DB", str(tmp_path / "env.db"))
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert (tmp_path / "env.db").exists()
    # a newer database: non-zero exit, bilingual message, no traceback
    c = sqlite3.connect(path)
    c.execute("INSERT INTO schema_version VALUES (42, 'x', 0)")
    c.commit()
    c.close()
    r = runner.invoke(app, ["init", "--db", str(path)])
    assert r.exit_code == 2
    out = " ".join(r.output.split())
    assert "newer than this hailong" in out and "Traceback" not in out
    # not a database
    bad = tmp_path / "bad.db"
    bad.write_text("hello", encoding="utf-8")
    r = runner.invoke(app, ["init", "--db", str(bad)])
    assert r.exit_code == 2 and "not a database" in " ".join(r.output.split())


def test_cli_upgrade_message(tmp_path):
    path = tmp_path / "up.db"
    conn = connect_writer(str(path))
    migrate(conn, target=1)
    conn.close()
    r = CliRunner().invoke(_app(), ["init", "--db", str(path)])
    assert r.exit_code == 0 and f"1 → {code_schema_version()}" in r.output


async def test_upgrade_to_version_5_splits_the_state_blob(tmp_path):
    """A version-4 database kept the whole engine state as JSON: after the upgrade the cursor
    stays in responses.state, paradata moves to response_steps, and the State loads the same."""
    from engine.types import AnswerMeta, State
    from storage.responses import get_response

    path = tmp_path / "v4.db"
    conn = connect_writer(str(path))
    migrate(conn, target=4)
    old = State("s", "h", lang="en", status="active", current="q3", answers={"q1": 5, "q2": [1, 3]},
                trail=["q1", "q2"], seq=3,
                meta={"q1": AnswerMeta(1.5, 2.25, 1), "q2": AnswerMeta(3.0, 4.0, 0), "q3": AnswerMeta(5.0)})
    conn.executescript("""
        INSERT INTO survey_versions VALUES ('h', 's', '1', '{}', 0);
        INSERT INTO units (id, kind, code, name) VALUES (1, 'commune', 'C1', 'Xã Mường Tè');
        INSERT INTO rounds (id, code, survey_id, survey_hash, created_at) VALUES (1, 'R', 's', 'h', 0);
        INSERT INTO respondents (id, round_id, unit_id, selection_reason, token, card_code, created_at)
            VALUES (1, 1, 1, 'hộ thứ 2', 'tok_tok_tok_tok_tok_tok_', 'ACDEFG', 0);
    """)
    conn.execute("INSERT INTO responses (id, respondent_id, round_id, survey_hash, state, started_at, updated_at)"
                 " VALUES (1, 1, 1, 'h', ?, 0, 0)", (old.to_json(),))
    conn.execute("INSERT INTO answers (response_id, step_id, revision, value, value_num, answered_at) VALUES"
                 " (1, 'q1', 1, '5', 5, 2.25), (1, 'q2', 1, '[1,3]', NULL, 4)")
    conn.close()
    db = await Database.open(path)
    try:
        assert db.schema_version == code_schema_version()
        raw = await db.fetchval("SELECT state FROM responses WHERE id = 1")
        assert "meta" not in raw and "answers" not in raw
        assert await db.fetchval("SELECT COUNT(*) FROM response_steps WHERE response_id = 1") == 3
        assert (await get_response(db, 1)).state == old
    finally:
        await db.close()


def test_cli_init_refuses_a_directory_and_junk_cleanly(tmp_path):
    runner = CliRunner()
    app = _app()
    for target in (tmp_path, tmp_path / "junk.db"):
        if target.name == "junk.db":
            target.write_bytes(b"this is not a database, " * 200)
        r = runner.invoke(app, ["init", "--db", str(target)])
        out = " ".join(r.output.split())
        assert r.exit_code == 2, (target, r.output)
        assert "Lỗi / Error" in out and "Traceback" not in out and "OperationalError" not in out, out
    assert "is a directory" in " ".join(runner.invoke(app, ["init", "--db", str(tmp_path)]).output.split())
