"""The numbered migration files (``storage/migrations/NNNN_name.sql``) and the plan both backends
apply: which files exist, which a database at a given version still needs, and how a file splits
into statements. Below ``storage.db`` and ``storage.pg`` so that neither imports the other to
migrate.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from storage.errors import StorageError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_MIGRATION_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class DatabaseTooNew(StorageError):
    """The database was written by a newer hailong: refuse rather than misread it."""

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"Cơ sở dữ liệu có phiên bản lược đồ {found}, mới hơn bản hailong này ({supported}): "
            f"hãy nâng cấp hailong. / database schema version {found} is newer than this "
            f"hailong ({supported}): upgrade hailong"
        )


class MigrationError(StorageError):
    """A migration file is missing, misnamed or failed; the database was left as it was."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    path: Path

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def available_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Migration files in order; numbering must be 1, 2, 3… without gaps or duplicates."""
    found: list[Migration] = []
    for p in sorted(directory.glob("*.sql")):
        m = _MIGRATION_RE.match(p.name)
        if not m:
            raise MigrationError(f"tên tệp migration không hợp lệ / bad migration file name: {p.name}")
        found.append(Migration(int(m.group(1)), m.group(2), p))
    for i, mig in enumerate(found, start=1):
        if mig.version != i:
            raise MigrationError(
                f"migration {mig.path.name}: expected number {i:04d} (numbers must be 1, 2, 3… "
                f"without gaps) / số thứ tự migration phải liên tục"
            )
    return found


def code_schema_version(directory: Path = MIGRATIONS_DIR) -> int:
    """The schema version this code writes (the newest migration)."""
    migs = available_migrations(directory)
    return migs[-1].version if migs else 0


def migration_plan(directory: Path, target: int | None, before: int) -> list[Migration]:
    """The migrations to apply to a database at version ``before``, up to ``target`` (default:
    newest): the checks both backends share (an unknown target, a database newer than this
    code) are made here, before anything is touched."""
    migs = available_migrations(directory)
    newest = migs[-1].version if migs else 0
    if target is None:
        target = newest
    if target > newest:
        raise MigrationError(f"no migration {target:04d} / không có migration {target:04d}")
    if before > newest:
        raise DatabaseTooNew(before, newest)
    return [m for m in migs if before < m.version <= target]


def split_sql(script: str) -> list[str]:
    """Split a migration into statements (sqlite3.complete_statement knows about triggers/strings)."""
    out: list[str] = []
    buf: list[str] = []
    for line in script.splitlines(keepends=True):
        if not buf and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buf.append(line)
        chunk = "".join(buf)
        if sqlite3.complete_statement(chunk):
            out.append(chunk.strip())
            buf = []
    rest = "".join(buf).strip()
    if rest:
        out.append(rest)
    return out
