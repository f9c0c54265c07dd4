"""A PostgreSQL database as a local SQLite snapshot, for bulk readers (analytics).

Analytics reads a round in a few large queries over SQLite-specific SQL, in several processes
at once. For a PostgreSQL URL it gets the same thing: ``sqlite_snapshot`` copies the database
once (``storage.copy``: server-side cursors, thousands of rows per round trip, one consistent
snapshot, verified by counts and checksums) into a private temporary SQLite file and yields its
path; every index and export is then computed by the same code from the same rows.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage.copy import copy_database
from storage.dialect import parse_db_url


@contextmanager
def sqlite_snapshot(url: str) -> Iterator[str]:
    """A path to a SQLite copy of the database at ``url`` (the path itself if it is SQLite);
    the copy is removed afterwards."""
    where = parse_db_url(url)
    if not where.is_postgres:
        yield where.target
        return
    tmp = Path(tempfile.mkdtemp(prefix="hailong-snapshot-"))   # mode 0700: personal data inside
    try:
        path = str(tmp / "snapshot.db")
        _run(copy_database(url, path))
        yield path
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(coro):  # type: ignore[no-untyped-def]
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # called from inside an event loop (a test, the console): run it on a thread of its own
    box: list[object] = []
    def target() -> None:
        box.append(asyncio.run(coro))

    th = threading.Thread(target=target)
    th.start()
    th.join()
    return box[0] if box else None
