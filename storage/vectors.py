"""Packed answer vectors: one row per submitted response holding all its current answers, so that
analytics reads 100 000 responses as 100 000 rows instead of ~8.4 million answer rows.

Kept by triggers (migration 13; on PostgreSQL the same triggers as PL/pgSQL functions, written
by storage/dialect.py), in the transaction that changes the answers, so a vector is
never stale: a response's vector is written when its status becomes ``submitted`` and deleted by
any later change to its ``answers_current`` rows (then analytics reads that response's answers
row by row, and the vector is written again on the response's next status update). A response
without a vector (partial, imported from paper, changed after submission) is always read from
``answers_current``; the vector is only a faster copy.

Format (analytics.answers_read reads it):

* ``steps``: the step ids of the coded answers (integers −2048…2047), separated by U+001F;
* ``codes``: for the same answers, in the same order, ``ms << 12 | code + 2048`` as decimal text,
  comma-separated, where ``ms`` is the answer time in milliseconds after 2024-01-01 UTC (≥ 0);
* ``loose``: every other answer as JSON ``[[step, stored value text, ms, json_valid], …]``;
* ``answered``: the number of current answers.
"""

from __future__ import annotations

import sqlite3
from typing import Any

#: answer times are packed as milliseconds after this instant (2024-01-01 UTC); earlier ones as 0
EPOCH_MS = 1_704_067_200_000
CODE_MIN, CODE_MAX = -2048, 2047
STEP_SEPARATOR = "\x1f"

_MS = f"max(0, CAST(round(answered_at * 1000) AS INTEGER) - {EPOCH_MS})"
_CODED = f"value_num BETWEEN {CODE_MIN} AND {CODE_MAX}"

#: the vector of every response in ``answers_current`` matched by ``{where}`` (grouped by response)
VECTOR_SELECT = (
    "SELECT response_id, count(*),"
    f" coalesce(group_concat(step_id, char(31)) FILTER (WHERE {_CODED}), ''),"
    f" coalesce(group_concat(({_MS} << 12) | (value_num + 2048), ',') FILTER (WHERE {_CODED}), ''),"
    f" json_group_array(json_array(step_id, value, {_MS}, json_valid(value))) FILTER (WHERE NOT ({_CODED})"
    " OR value_num IS NULL)"
    " FROM answers_current WHERE {where} GROUP BY response_id")

# The same packing in PostgreSQL's terms (storage/dialect.py's triggers for migration 13 use it):
# string_agg/json_agg for group_concat/json_group_array, floor(x + 0.5) for SQLite's round (half
# away from zero; PostgreSQL's round of a double rounds half to even), trunc() for the integer
# conversion of SQLite's ``|``, and hailong_json_valid() for json_valid (PostgreSQL 15 has no
# ``IS JSON``). The aggregates share one ORDER BY, so steps and codes stay aligned.
_MS_PG = f"greatest(0, floor(answered_at * 1000 + 0.5)::bigint - {EPOCH_MS})"
VECTOR_SELECT_PG = (
    "SELECT response_id, count(*),"
    f" coalesce(string_agg(step_id, chr(31) ORDER BY step_id) FILTER (WHERE {_CODED}), ''),"
    f" coalesce(string_agg((({_MS_PG} << 12) | trunc(value_num + 2048)::bigint)::text, ',' ORDER BY step_id)"
    f" FILTER (WHERE {_CODED}), ''),"
    f" coalesce((json_agg(json_build_array(step_id, value, {_MS_PG}, hailong_json_valid(value)) ORDER BY step_id)"
    f" FILTER (WHERE NOT ({_CODED}) OR value_num IS NULL))::text, '[]')"
    " FROM answers_current WHERE {where} GROUP BY response_id")

_SUBMITTED = "response_id IN (SELECT id FROM responses WHERE status = 'submitted')"


def rebuild_vectors(conn: sqlite3.Connection | Any) -> int:
    """(Re)write the vector of every submitted response: for bulk loads that insert submitted
    responses and their answers directly (the triggers only pack on a status change). Returns
    the number of vectors written. The caller commits. Either backend."""
    if getattr(conn, "dialect", "sqlite") == "postgresql":
        cur = conn.execute(
            "INSERT INTO response_vectors (response_id, answered, steps, codes, loose) "
            + VECTOR_SELECT_PG.format(where=_SUBMITTED)
            + " ON CONFLICT (response_id) DO UPDATE SET answered = excluded.answered, steps = excluded.steps,"
              " codes = excluded.codes, loose = excluded.loose")
        return cur.rowcount
    cur = conn.execute(
        "INSERT OR REPLACE INTO response_vectors (response_id, answered, steps, codes, loose) "
        + VECTOR_SELECT.format(where=_SUBMITTED))
    return cur.rowcount
