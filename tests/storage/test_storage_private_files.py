"""Files holding personal data are owner-only (issue 12, item 7): the helpers, the database with
its -wal/-shm, and every command that writes names, phones, tokens or cards, under a permissive
umask (022, the usual default, which made all of them world-readable before)."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hailong.cli import app
from storage.db import Database
from storage.private_files import create_private_file, create_private_if_missing, make_private_dirs, open_private
from storage.respondents import list_respondents, set_status
from support.db import make_round

DATA = Path(__file__).resolve().parents[2] / "sampling" / "data"
runner = CliRunner()


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


# ------------------------------------------------------------------ the helpers


def test_open_private_creates_and_tightens(tmp_path: Path) -> None:
    p = tmp_path / "new" / "deeper" / "list.csv"
    with open_private(p, "w", encoding="utf-8") as fh:
        fh.write("x")
    assert mode(p) == 0o600 and p.read_text() == "x"
    assert mode(tmp_path / "new") == 0o700 and mode(tmp_path / "new" / "deeper") == 0o700
    old = tmp_path / "old.csv"
    old.write_text("before")
    old.chmod(0o644)
    with open_private(old, "w") as fh:
        fh.write("after")
    assert mode(old) == 0o600 and old.read_text() == "after"
    with open_private(old, "a") as fh:
        fh.write("!")
    assert old.read_text() == "after!"
    with pytest.raises(ValueError):
        open_private(old, "r")


def test_make_private_dirs_leaves_existing_directories_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    make_private_dirs(shared / "a" / "b")
    assert mode(shared) == 0o755 and mode(shared / "a") == 0o700 and mode(shared / "a" / "b") == 0o700


def test_create_private_file_and_if_missing(tmp_path: Path) -> None:
    p = tmp_path / "c.pdf"
    p.write_bytes(b"old")
    p.chmod(0o644)
    create_private_file(p)
    assert mode(p) == 0o600 and p.read_bytes() == b""
    db = tmp_path / "x.db"
    assert create_private_if_missing(db) and mode(db) == 0o600
    db.write_bytes(b"data")
    db.chmod(0o640)                                   # an operator's choice for an existing database
    assert not create_private_if_missing(db)
    assert mode(db) == 0o640 and db.read_bytes() == b"data"


# ------------------------------------------------------------------ the database


def test_database_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "h.db"

    async def go() -> None:
        db = await Database.open(path)
        try:
            await make_round(db, 5)
            for suffix in ("-wal", "-shm"):
                assert Path(f"{path}{suffix}").exists()
                assert mode(Path(f"{path}{suffix}")) == 0o600, suffix
        finally:
            await db.close()

    asyncio.run(go())
    assert mode(path) == 0o600


def test_a_database_that_cannot_be_created_is_a_clean_error(tmp_path: Path) -> None:
    from storage.db import StorageError

    not_a_dir = tmp_path / "notes.txt"
    not_a_dir.write_text("x")
    with pytest.raises(StorageError, match="cannot create the database"):
        asyncio.run(Database.open(not_a_dir / "h.db"))


# ------------------------------------------------------------------ the commands that write personal data


def _invoke(*args: str) -> None:
    r = runner.invoke(app, list(args), catch_exceptions=False)
    assert r.exit_code == 0, r.output


def test_invites_cards_and_recheck_exports_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "f.db"

    async def seed() -> None:
        db = await Database.open(path)
        try:
            rid, ids = await make_round(db, 12, per_unit=6)
            for i in ids[:6]:
                await set_status(db, i, "completed", actor="test")
            assert len(await list_respondents(db, rid)) == 12
        finally:
            await db.close()

    asyncio.run(seed())
    db = str(path)
    out = tmp_path / "exports"                                  # a directory hailong creates
    _invoke("invites", "make", "--round", "LC2025", "--out", str(out / "invites.csv"),
            "--bot-username", "hailong_test_bot", "--db", db)
    _invoke("invites", "cards", "--round", "LC2025", "--out", str(out / "cards" / "cards.pdf"),
            "--bot-username", "hailong_test_bot", "--db", db)
    _invoke("recheck", "draw", "--round", "LC2025", "--share", "0.5", "--db", db)
    stale = out / "recheck.xlsx"
    stale.write_bytes(b"")
    stale.chmod(0o644)                                          # an earlier export, world-readable
    for name in ("recheck.csv", "recheck.xlsx"):
        _invoke("recheck", "export", "--round", "LC2025", "--out", str(out / name), "--db", db)
    for name in ("invites.csv", "cards/cards.pdf", "recheck.csv", "recheck.xlsx"):
        assert mode(out / name) == 0o600, name
    assert (out / "cards" / "cards.pdf").read_bytes().startswith(b"%PDF")
    assert mode(out) == 0o700 and mode(out / "cards") == 0o700


@pytest.mark.parametrize("suffix", [".json", ".csv", ".xlsx"])
def test_sample_lists_are_owner_only(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / "lists" / f"sel{suffix}"
    _invoke("sample", "draw", "--plan", "laichau-2025", "--frame", str(DATA / "laichau-2025"), "--out", str(out))
    assert mode(out) == 0o600 and mode(out.parent) == 0o700 and out.stat().st_size > 1000
