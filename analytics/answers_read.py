"""Read a round's current answers into the wide (responses × steps) table, in bulk.

Why this shape: Python's sqlite3 costs about 2 µs per fetched row, and SQLite itself about a
microsecond per answer scanned, so the ~8.4 million answer rows of 100 000 responses must not be
read one by one. A submitted response has a packed answer vector (storage/vectors.py, kept by
triggers): one row per response, its coded answers as ``ms << 12 | code + 2048`` text parsed by
numpy in C, its step ids mapped to columns once per distinct layout. Responses without a vector
(partial ones, paper imports, answers changed after submission, databases before migration 13)
are read from ``answers_current``, packed by SQLite one row per response (:class:`Packing`).
Answers that are not small integers (multiple-choice lists, text, large numbers) come as rows.
Responses are read in chunks, placed straight into preallocated (responses × steps) matrices,
over a few read-only connections in threads (sqlite3 releases the GIL while SQLite works).

Paradata (the median gap between consecutive answers, robust to a pause) is computed on the
(responses × steps) matrix of answer times, each response's row sorted on its own (``np.sort``
along the row): no global sort of millions of (response, time) pairs, and memory bounded by two
matrices of the wide table's size.
"""

from __future__ import annotations

import json
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from storage.vectors import EPOCH_MS, STEP_SEPARATOR

_VALUE_BITS = 12                       # codes -2048..2047 (every coded answer, ages, years); others loose
_VALUE_OFFSET = 1 << (_VALUE_BITS - 1)
_SPAN_MS = 70 * 365 * 86_400_000       # answer times representable: 70 years after EPOCH_MS
CHUNK = 8192                           # responses per query: bounds the packed text held at once


@dataclass(frozen=True)
class Packing:
    """One answer as one non-negative int64: ``time << (k_bits + 12) | step << 12 | code + 2048``.

    One number per answer halves what SQLite formats and numpy parses (the answer time used to
    be a second column). The time unit is 1 ms unless the survey has so many steps that 70 years
    of milliseconds no longer fit in the bits left (then 10 ms, 100 ms…)."""

    k_bits: int
    unit_ms: int

    @staticmethod
    def for_steps(k: int) -> "Packing":
        k_bits = max(1, (max(k, 1) - 1).bit_length())
        unit = 1
        while (_SPAN_MS // unit) >> (63 - _VALUE_BITS - k_bits):
            unit *= 10
        return Packing(k_bits, unit)

    def sql(self) -> str:
        """The packed expression over ``a`` (answers_current) and ``s`` (the step numbers)."""
        t = f"(max(0, CAST(round(a.answered_at * 1000) AS INTEGER) - {EPOCH_MS}) / {self.unit_ms})"
        return (f"(({t} << {self.k_bits + _VALUE_BITS}) | (s.k << {_VALUE_BITS})"
                f" | (a.value_num + {_VALUE_OFFSET}))")

    def unpack(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(step number, code, time in ms after EPOCH_MS) of packed answers."""
        value = (x & ((1 << _VALUE_BITS) - 1)) - _VALUE_OFFSET
        step = (x >> _VALUE_BITS) & ((1 << self.k_bits) - 1)
        return step, value, (x >> (self.k_bits + _VALUE_BITS)) * self.unit_ms


def _ints(text: str) -> np.ndarray:
    """Parse "1,2,3" into int64 in C (no Python object per number)."""
    if not text:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(text, dtype=np.int64, sep=",")


def _parse(v: Any) -> Any:
    if v is None:
        return None
    try:
        return json.loads(v)
    except (TypeError, ValueError):
        return v


def parse_values(values: list[Any], valid: list[Any]) -> list[Any]:
    """JSON-decode many stored values: those SQLite's ``json_valid`` accepted in one ``json.loads``
    call (about 10× cheaper than one call each; valid JSON values joined by commas always parse
    back to exactly those values), the others one by one as :func:`_parse` does (junk stays text)."""
    out: list[Any] = [None] * len(values)
    good = [i for i, ok in enumerate(valid) if ok and type(values[i]) is str]
    bulk: Any = None
    if good:
        try:
            bulk = json.loads("[" + ",".join([values[i] for i in good]) + "]")
        except ValueError:
            bulk = None
    if isinstance(bulk, list) and len(bulk) == len(good):
        for i, v in zip(good, bulk):
            out[i] = v
        done = set(good)
    else:
        done = set()
    for i, v in enumerate(values):
        if i not in done:
            out[i] = _parse(v)
    return out


def _scan(conn: sqlite3.Connection, steps: list[str], packing: Packing, lo: int, hi: int,
          only: list[int] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[tuple]]:
    """Responses ``lo..hi`` (only those in ``only``, if given) read from ``answers_current``: the
    packed integer answers as arrays (response id per answer, step number, code, time in ms),
    the other answers as rows ``(response id, step, value, ms, json_valid)``."""
    lim = f"BETWEEN {-_VALUE_OFFSET} AND {_VALUE_OFFSET - 1}"
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS analytics_steps (step_id TEXT PRIMARY KEY, k INTEGER NOT NULL)"
                 " WITHOUT ROWID")
    conn.executemany("INSERT OR REPLACE INTO temp.analytics_steps VALUES (?, ?)", [(x, i) for i, x in enumerate(steps)])
    among = ""
    if only is not None:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS analytics_ids (id INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM temp.analytics_ids")
        conn.executemany("INSERT INTO temp.analytics_ids VALUES (?)", [(i,) for i in only])
        among = " AND a.response_id IN (SELECT id FROM temp.analytics_ids)"
    packed = conn.execute(
        f"SELECT a.response_id, count(*), group_concat({packing.sql()}, ',')"
        " FROM answers_current AS a JOIN temp.analytics_steps AS s ON s.step_id = a.step_id"
        f" WHERE a.response_id BETWEEN ? AND ?{among} AND a.value_num {lim}"
        " GROUP BY a.response_id", (lo, hi)).fetchall()
    loose = conn.execute(
        "SELECT a.response_id, a.step_id, a.value,"
        f" max(0, CAST(round(a.answered_at * 1000) AS INTEGER) - {EPOCH_MS}), json_valid(a.value)"
        f" FROM answers_current AS a WHERE a.response_id BETWEEN ? AND ?{among}"
        f" AND (a.value_num IS NULL OR a.value_num NOT {lim})", (lo, hi)).fetchall()
    m = len(packed)
    rid = np.fromiter((r[0] for r in packed), dtype=np.int64, count=m)
    cnt = np.fromiter((r[1] for r in packed), dtype=np.int64, count=m)
    x = _ints(",".join([r[2] for r in packed]))
    del packed
    step, value, ms = packing.unpack(x)
    return np.repeat(rid, cnt), step, value, ms, loose


class _Layouts:
    """Step ids of a vector → column numbers (−1: not a step of this survey), memoised: responses
    that took the same path through the questionnaire share one layout string."""

    def __init__(self, steps: list[str]) -> None:
        self.col_of = {s: i for i, s in enumerate(steps)}
        self.memo: dict[str, np.ndarray] = {}

    def __call__(self, text: str) -> np.ndarray:
        cols = self.memo.get(text)
        if cols is None:
            get = self.col_of.get
            cols = np.array([get(t, -1) for t in text.split(STEP_SEPARATOR)] if text else [], dtype=np.int64)
            if len(self.memo) < 50_000:
                self.memo[text] = cols
        return cols


_NONE = np.zeros(0, dtype=np.int64)


def _vectors(conn: sqlite3.Connection, layouts: _Layouts, lo: int, hi: int
             ) -> tuple[set[int], np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[tuple]]:
    """The stored vectors of responses ``lo..hi``: the ids that have one, and their answers as
    ``_scan`` returns them (response id per answer, column, code, ms; loose rows)."""
    rows = conn.execute("SELECT response_id, steps, codes, loose FROM response_vectors"
                        " WHERE response_id BETWEEN ? AND ?", (lo, hi)).fetchall()
    cols = [layouts(r[1]) for r in rows]
    lens = np.fromiter((len(c) for c in cols), dtype=np.int64, count=len(cols))
    x = _ints(",".join([r[2] for r in rows if r[2]]))
    if len(x) != int(lens.sum()):           # a step id holding the separator: read these rows instead
        return set(), _NONE, _NONE, _NONE, _NONE, []
    rid = np.repeat(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)), lens)
    col = np.concatenate(cols) if cols else _NONE
    value, ms = (x & 0xFFF) - 2048, x >> 12
    loose: list[tuple] = []
    extra = [(r[0], r[3]) for r in rows if r[3] != "[]"]
    if extra:
        parsed = json.loads("[" + ",".join(t for _, t in extra) + "]")     # SQLite wrote it: valid JSON
        for (r, _), items in zip(extra, parsed):
            loose.extend((r, it[0], it[1], it[2], it[3]) for it in items)
    return {r[0] for r in rows}, rid, col, value, ms, loose


def read_answers_wide(connect: Callable[[], sqlite3.Connection], response_ids: np.ndarray, steps: list[str],
                      multi_or_text: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The current answers of ``response_ids`` as a wide table (rows in that order, one column per
    step) and per-response paradata (``median_step_s``: median seconds between consecutive
    answers; ``answered_steps``). ``connect`` opens a read-only connection (one per worker)."""
    n, k = len(response_ids), len(steps)
    num = np.full((n, k), np.nan)
    times = np.full((n, k), np.nan)
    if n == 0:
        return pd.DataFrame(num, columns=steps), paradata(times)
    order = np.argsort(response_ids)
    sorted_ids = response_ids[order]
    packing = Packing.for_steps(k)
    probe = connect()
    try:
        with_vectors = probe.execute("SELECT 1 FROM sqlite_master WHERE name = 'response_vectors'").fetchone() is not None
    finally:
        probe.close()

    def rows_of(rids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.clip(np.searchsorted(sorted_ids, rids), 0, n - 1)
        return order[pos], sorted_ids[pos] == rids

    layouts = _Layouts(steps)

    def place(rid: np.ndarray, step: np.ndarray, value: np.ndarray, ms: np.ndarray) -> None:
        row, keep = rows_of(rid)
        keep &= step >= 0
        row, step = row[keep], step[keep]
        num[row, step] = value[keep]
        times[row, step] = ms[keep]

    def work(ids: np.ndarray) -> list[tuple]:
        """One chunk of responses, straight into the matrices (chunks never share a row): the
        stored vectors, then the responses without one read from answers_current."""
        lo, hi = int(ids[0]), int(ids[-1])
        conn = connect()
        try:
            have: set[int] = set()
            loose: list[tuple] = []
            if with_vectors:
                have, rid, col, value, ms, loose = _vectors(conn, layouts, lo, hi)
                place(rid, col, value, ms)
            missing = [int(i) for i in ids if int(i) not in have] if have else None
            if missing is None or missing:
                rid, step, value, ms, more = _scan(conn, steps, packing, lo, hi, missing)
                place(rid, step, value, ms)
                loose.extend(more)
            return loose
        finally:
            conn.close()

    # Chunks bound the memory (each holds its packed text and arrays only while it is placed);
    # a few threads run SQLite on every core.
    chunks = [sorted_ids[i:i + CHUNK] for i in range(0, n, CHUNK)]
    workers = max(1, min(4, os.cpu_count() or 1, len(chunks)))
    with ThreadPoolExecutor(workers) as pool:
        loose = [r for part in pool.map(work, chunks) for r in part]
    wide = pd.DataFrame(num, columns=steps, copy=False)
    if loose:
        _put_loose(wide, times, loose, rows_of, steps, multi_or_text)
    return wide, paradata(times)


def _put_loose(wide: pd.DataFrame, times: np.ndarray, loose: list[tuple],
               rows_of: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], steps: list[str],
               multi_or_text: set[str]) -> None:
    """Answers that are not small integers (lists, text, large numbers) into their columns."""
    col_of = {s: i for i, s in enumerate(steps)}
    lo = pd.DataFrame.from_records(loose, columns=["rid", "step", "value", "ms", "valid"])
    row, keep = rows_of(lo["rid"].to_numpy(dtype=np.int64))
    lo = lo.assign(row=row)[keep & lo["step"].isin(col_of).to_numpy()]
    times[lo["row"].to_numpy(), lo["step"].map(col_of).to_numpy(dtype=np.int64)] = lo["ms"].to_numpy(dtype=float)
    for sid, grp in lo.groupby("step", sort=False):
        arr = wide[sid].astype(object).where(wide[sid].notna(), None).to_numpy(dtype=object)
        # fromiter keeps each parsed list as one object (no broadcasting into 2-D)
        arr[grp["row"].to_numpy()] = np.fromiter(parse_values(grp["value"].tolist(), grp["valid"].tolist()),
                                                     dtype=object, count=len(grp))
        col = pd.Series(arr)
        if sid in multi_or_text or col.map(lambda v: isinstance(v, (str, list))).any():
            wide[sid] = col
        else:
            wide[sid] = pd.to_numeric(col, errors="coerce")


def paradata(times_ms: np.ndarray) -> pd.DataFrame:
    """Per response (row): answered steps and the median gap in seconds between consecutive answer
    times. Each row is sorted on its own, in place (``times_ms`` is consumed); missing answers
    (NaN) sort last and are not counted."""
    n = times_ms.shape[0]
    answered = np.count_nonzero(~np.isnan(times_ms), axis=1) if n else np.zeros(0, dtype=np.int64)
    med = np.full(n, np.nan)
    if n and times_ms.shape[1] > 1:
        times_ms.sort(axis=1)                            # per row: answered times first, NaN last
        gaps = np.diff(times_ms, axis=1)                 # gaps between answered times; NaN after
        gaps.sort(axis=1)
        m = answered - 1                                 # gaps per row
        has = m > 0
        rows = np.flatnonzero(has)
        lo_g = gaps[rows, (m[has] - 1) // 2]
        hi_g = gaps[rows, m[has] // 2]
        med[has] = (lo_g + hi_g) / 2000.0
    return pd.DataFrame({"median_step_s": med, "answered_steps": answered.astype(np.int64)})
