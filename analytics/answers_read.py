"""Read a round's current answers into the wide (responses × steps) table, in bulk.

Why this shape: Python's sqlite3 costs about 2 µs per fetched row, so the ~8.4 million answer rows
of 100 000 responses must never come back one by one. SQLite packs them itself, one row per
response: ``group_concat`` of one integer per answer packing its time, step number and code
(:class:`Packing`), parsed by numpy in C and written straight into preallocated (responses ×
steps) matrices. Only answers that are not small integers (multiple-choice lists, text, large
numbers) come back as rows (a few per response). The response-id range is split over a few read-only connections in threads (sqlite3
releases the GIL while SQLite works), so the scan runs on every core.

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

#: Answer times are packed as milliseconds after this instant (2024-01-01 UTC); earlier ones as 0.
EPOCH_MS = 1_704_067_200_000
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
        t = f"max(0, CAST((a.answered_at * 1000 - {EPOCH_MS}) / {self.unit_ms} AS INTEGER))"
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


def _read_range(connect: Callable[[], sqlite3.Connection], steps: list[str], packing: Packing, lo: int, hi: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[tuple]]:
    """One worker: the packed integer answers of responses ``lo..hi`` as arrays (response id per
    answer, step number, code, time in ms), and the other answers as rows."""
    conn = connect()
    lim = f"BETWEEN {-_VALUE_OFFSET} AND {_VALUE_OFFSET - 1}"
    try:
        conn.execute("CREATE TEMP TABLE analytics_steps (step_id TEXT PRIMARY KEY, k INTEGER NOT NULL)"
                     " WITHOUT ROWID")
        conn.executemany("INSERT INTO temp.analytics_steps VALUES (?, ?)", [(x, i) for i, x in enumerate(steps)])
        packed = conn.execute(
            f"SELECT a.response_id, count(*), group_concat({packing.sql()}, ',')"
            " FROM answers_current AS a JOIN temp.analytics_steps AS s ON s.step_id = a.step_id"
            f" WHERE a.response_id BETWEEN ? AND ? AND a.value_num {lim}"
            " GROUP BY a.response_id", (lo, hi)).fetchall()
        loose = conn.execute(
            "SELECT a.response_id, a.step_id, a.value, a.answered_at, json_valid(a.value) FROM answers_current AS a"
            f" WHERE a.response_id BETWEEN ? AND ? AND (a.value_num IS NULL OR a.value_num NOT {lim})",
            (lo, hi)).fetchall()
    finally:
        conn.close()
    m = len(packed)
    rid = np.fromiter((r[0] for r in packed), dtype=np.int64, count=m)
    cnt = np.fromiter((r[1] for r in packed), dtype=np.int64, count=m)
    x = _ints(",".join([r[2] for r in packed]))
    del packed
    step, value, ms = packing.unpack(x)
    return np.repeat(rid, cnt), step, value, ms, loose


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

    def rows_of(rids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.clip(np.searchsorted(sorted_ids, rids), 0, n - 1)
        return order[pos], sorted_ids[pos] == rids

    def work(ids: np.ndarray) -> list[tuple]:
        """One chunk of responses, straight into the matrices (chunks never share a row)."""
        rid, step, value, ms, loose_rows = _read_range(connect, steps, packing, int(ids[0]), int(ids[-1]))
        row, keep = rows_of(rid)
        row, step = row[keep], step[keep]
        num[row, step] = value[keep]
        times[row, step] = ms[keep]
        return loose_rows

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
    lo = pd.DataFrame.from_records(loose, columns=["rid", "step", "value", "at", "valid"])
    row, keep = rows_of(lo["rid"].to_numpy(dtype=np.int64))
    lo = lo.assign(row=row)[keep & lo["step"].isin(col_of).to_numpy()]
    times[lo["row"].to_numpy(), lo["step"].map(col_of).to_numpy(dtype=np.int64)] = (
        np.round(lo["at"].to_numpy(dtype=float) * 1000) - EPOCH_MS)
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
