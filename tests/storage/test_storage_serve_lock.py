"""The serve lock of a database (storage.serve_lock): exclusive, names its holder, freed on release
and when the holding process dies, and a clear error when it cannot be created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage.db import StorageError
from storage.serve_lock import DatabaseInUse, acquire_serve_lock, lock_path


def test_one_holder_at_a_time_and_release_frees_it(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with acquire_serve_lock(db):
        assert lock_path(db).read_text().strip() == str(os.getpid())
        assert lock_path(db).stat().st_mode & 0o777 == 0o600
        with pytest.raises(DatabaseInUse) as held:        # another open file description: refused
            acquire_serve_lock(db)
        assert f"pid {os.getpid()}" in str(held.value) and "another hailong run" in str(held.value)
    acquire_serve_lock(db).release()                     # free again after release


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from storage.serve_lock import acquire_serve_lock; "
        f"lock = acquire_serve_lock({str(db)!r}); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(DatabaseInUse, match=f"pid {holder.pid}"):
            acquire_serve_lock(db)
    finally:
        holder.kill()
        holder.wait()
    acquire_serve_lock(db).release()


def test_a_lock_that_cannot_be_created_is_a_clear_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot create the lock file"):
        acquire_serve_lock(tmp_path / "missing-dir" / "h.db")


def test_on_postgresql_one_exclusive_server_or_any_number_of_webhook_workers(pg_url):
    """Polling (or an unspecified mode) is one process per database; webhook workers share it,
    but never beside a poller (which would delete their webhook)."""
    first = acquire_serve_lock(pg_url)
    try:
        with pytest.raises(DatabaseInUse) as info:
            acquire_serve_lock(pg_url)
        assert "only one may run" in str(info.value) and "chỉ được chạy một" in str(info.value)
        with pytest.raises(DatabaseInUse, match="webhook workers cannot run beside it"):
            acquire_serve_lock(pg_url, shared_ok=True)
    finally:
        first.release()
    shared = [acquire_serve_lock(pg_url, shared_ok=True) for _ in range(3)]
    try:
        with pytest.raises(DatabaseInUse, match="webhook workers are serving") as info:
            acquire_serve_lock(pg_url)
        assert "chỉ một" in str(info.value) and "postgresql" in str(info.value)
    finally:
        for s in shared:
            s.release()
    again = acquire_serve_lock(pg_url)           # released: free again (a dead process's too)
    again.release()
    assert not list(Path(".").glob("postgresql*"))   # no lock file named after the URL


def test_the_postgresql_serve_lock_is_per_schema(pg_url):
    """Two provinces in two schemas of one server do not block each other."""
    import uuid

    import psycopg

    other = f"t_{uuid.uuid4().hex[:12]}"
    base = pg_url.split("options=")[0].rstrip("?&")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {other}")
    try:
        sep = "&" if "?" in base else "?"
        a = acquire_serve_lock(pg_url)
        b = acquire_serve_lock(f"{base}{sep}options=-csearch_path%3D{other}")
        a.release()
        b.release()
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {other} CASCADE")


def test_a_postgresql_server_that_cannot_be_reached_is_a_storage_error_without_the_password():
    with pytest.raises(StorageError, match="cannot connect to PostgreSQL") as info:
        acquire_serve_lock("postgresql://hailong:s3cret-pw@127.0.0.1:1/none?connect_timeout=2")
    assert "s3cret-pw" not in str(info.value)
