"""A step write whose free-text answers are masked on the writer thread, just before they are
stored (``storage.redact``; docs/privacy.md).

Masking needs the respondent's name, which lives in ``contacts``: reading it on the event loop
would suspend ``commit_step`` and let concurrent commits overtake each other, so the name is read
here, on the writer's connection, inside the transaction that stores the answer. Only steps that
carry a string answer use this class (the writer batches each class on its own, in order); the
others stay plain ``StepWrite``s and pay nothing.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from storage.redact import mask
from storage.step_write import StepWrite

_NAME = "SELECT name FROM contacts WHERE respondent_id = ?"


def _masked_row(row: tuple[Any, ...], names: list[str]) -> tuple[Any, ...]:
    """An answer row (response_id, step_id, value JSON, value_num, cleared, …) with its text masked."""
    raw = row[2]
    if raw is None or not raw.startswith('"'):
        return row
    text = json.loads(raw)
    masked = mask(text, names)
    if masked == text:
        return row
    return (row[0], row[1], json.dumps(masked, ensure_ascii=False), *row[3:])


class MaskedStepWrite(StepWrite):
    """``StepWrite`` with every string answer masked (phones, e-mails, ID numbers, own name)."""

    __slots__ = ()

    def mask_rows(self, conn: sqlite3.Connection) -> None:
        found = conn.execute(_NAME, (self.respondent_id,)).fetchone()
        names = [found[0]] if found and found[0] else []
        done: dict[int, tuple[Any, ...]] = {}
        for rows in (self.answer_rows, self.bulk_rows):
            for i, row in enumerate(rows):
                new = done.get(id(row))
                if new is None:
                    new = done[id(row)] = _masked_row(row, names)
                rows[i] = new

    def __call__(self, conn: sqlite3.Connection) -> int:
        self.mask_rows(conn)
        return StepWrite.__call__(self, conn)

    @staticmethod
    def run_many(conn: sqlite3.Connection, ops: list[StepWrite]) -> list[int]:
        for op in ops:
            if isinstance(op, MaskedStepWrite):
                op.mask_rows(conn)
        return StepWrite.run_many(conn, ops)
