"""Many rows in one SQL statement: a multi-row ``VALUES`` list of bound parameters.

Why: the group-commit writer runs on its own thread, and ``sqlite3`` gives up the GIL around
every statement it steps. Taking the GIL back while the event loop is busy can cost up to the
interpreter's switch interval, so a batch must be a handful of statements, not one per row
(``executemany`` steps once per row). Passing the rows as one JSON array (``json_each``) also
makes one statement, but then Python encodes and SQLite parses every row as text; bound
parameters go straight from Python objects into SQLite's registers.

A statement's text depends on its number of rows, and preparing a long ``VALUES`` list costs
milliseconds, so row counts are rounded up to a few size classes (powers of two) and the rest of
the class is padded with rows of NULLs, which every template filters out (its first column is
never NULL in a real row). Each class is prepared once and then found in the connection's
statement cache. Rows beyond the largest class go in several statements.

PostgreSQL types a ``VALUES`` column from its values, and a column that is NULL in every row of
a batch (no answer has a number, no step has a trail position) would be ``text`` and refused by
an integer or float column. ``types`` (PostgreSQL type names, one per column) casts the first
row's placeholders on PostgreSQL (``?::bigint``), which types the whole column; SQLite's text
stays as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from itertools import chain, repeat
from typing import Any

#: The smallest and largest number of rows in one statement (powers of two).
MIN_ROWS = 8
MAX_ROWS = 4096
#: Bound parameters per statement at the most: SQLite's compiled-in default since 3.32, so the
#: same statements work with any build (Debian's allows more).
MAX_PARAMS = 32766


class BulkStatement:
    """A statement over ``{rows}``, a multi-row ``VALUES`` of ``width`` columns.

    The template names the rows' columns ``column1`` … ``columnN`` (SQLite's names for a
    ``VALUES`` list) and must ignore padding rows, e.g. with ``WHERE column1 IS NOT NULL`` or a
    join on ``column1``. ``run`` returns the number of rows changed (``sqlite3_changes``).
    """

    __slots__ = ("template", "width", "largest", "types", "_sql")

    def __init__(self, template: str, width: int, types: Sequence[str] | None = None) -> None:
        if "{rows}" not in template:
            raise ValueError("a bulk statement template needs a {rows} placeholder")
        if types is not None and len(types) != width:
            raise ValueError(f"a bulk statement of {width} columns needs {width} types")
        self.template = template
        self.width = width
        self.types = tuple(types) if types is not None else None
        largest = MAX_ROWS
        while largest * width > MAX_PARAMS:
            largest //= 2
        self.largest = largest
        self._sql: dict[tuple[int, bool], str] = {}

    def sql(self, rows: int, typed: bool = False) -> str:
        """The statement text for a size class of ``rows`` rows (``typed``: PostgreSQL casts)."""
        key = (rows, typed)
        text = self._sql.get(key)
        if text is None:
            one = "(" + ",".join("?" * self.width) + ")"
            first = one
            if typed and self.types is not None:
                first = "(" + ",".join(f"?::{t}" for t in self.types) + ")"
            text = self.template.replace("{rows}", "VALUES " + ",".join(chain((first,), repeat(one, rows - 1))))
            self._sql[key] = text
        return text

    def size_class(self, n: int) -> int:
        size = MIN_ROWS
        while size < n:
            size *= 2
        return size

    def _cursors(self, conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> Iterator[sqlite3.Cursor]:
        n = len(rows)
        step = self.largest
        typed = getattr(conn, "typed_values", False)
        for lo in range(0, n, step):
            part = rows[lo:lo + step] if n > step else rows
            size = self.size_class(len(part))
            params = list(chain.from_iterable(part))
            if len(params) != len(part) * self.width:
                raise ValueError(f"bulk rows must have {self.width} values each")
            if size > len(part):
                params.extend(repeat(None, (size - len(part)) * self.width))
            yield conn.execute(self.sql(size, typed), params)

    def run(self, conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> int:
        """Run the statement over ``rows`` (tuples of ``width`` values); rows changed."""
        changed = 0
        for cur in self._cursors(conn, rows):
            if cur.rowcount < 0:   # sqlite3 counts only statements that start with INSERT/UPDATE/…
                raise ValueError("a bulk statement whose changes are counted must start with its verb")
            changed += cur.rowcount
        return changed

    def total(self, conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> int:
        """For a ``SELECT count(…)`` template: the count over all of ``rows``."""
        return sum(int(cur.fetchone()[0]) for cur in self._cursors(conn, rows))
