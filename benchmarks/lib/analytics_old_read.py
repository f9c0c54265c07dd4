"""The analytics answer reader as it was before issue 21 (kept verbatim as the benchmark's
baseline): a ``group_concat`` scan packing codes in 12 bits, then two global sorts of every
(response, answer time) pair for the paradata. benchmarks/analytics.py runs it in the same run
as the current reader, through ``analytics.load.load_round(..., reader=old_reader)``.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from analytics.load import _connect


def _read_range(db_path: str, steps: list[str], lo: int, hi: int) -> tuple[list, list]:
    """One worker: packed integer answers and loose (non-integer) answers of responses lo..hi."""
    conn = _connect(db_path)
    try:
        conn.execute("CREATE TEMP TABLE analytics_steps (step_id TEXT PRIMARY KEY, k INTEGER NOT NULL)"
                     " WITHOUT ROWID")
        conn.executemany("INSERT INTO temp.analytics_steps VALUES (?, ?)", [(x, i) for i, x in enumerate(steps)])
        packed = conn.execute(
            "SELECT a.response_id, count(*), group_concat(s.k * 4096 + (a.value_num + 2048), ','),"
            " group_concat(CAST(round(a.answered_at * 1000) AS INTEGER) - ?, ',')"
            " FROM answers_current AS a JOIN temp.analytics_steps AS s ON s.step_id = a.step_id"
            " WHERE a.response_id BETWEEN ? AND ? AND a.value_num BETWEEN -2048 AND 2047"
            " GROUP BY a.response_id", (int(EPOCH_MS), lo, hi)).fetchall()
        loose = conn.execute(
            "SELECT a.response_id, a.step_id, a.value, a.answered_at FROM answers_current AS a"
            " WHERE a.response_id BETWEEN ? AND ? AND (a.value_num IS NULL OR a.value_num NOT BETWEEN -2048 AND 2047)",
            (lo, hi)).fetchall()
        return packed, loose
    finally:
        conn.close()


def read_answers_wide(db_path: str, response_ids: np.ndarray, steps: list[str], multi_or_text: set[str]
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the current answers of ``response_ids`` into a wide table (rows in that order) and
    per-response paradata (median seconds between consecutive answers, answered steps).

    Python's sqlite3 costs about 2 µs per fetched row, so 9 million answer rows would take 20 s
    however they are processed afterwards. Integer answers (all coded answers) are therefore
    packed by SQLite itself, one row per response: ``group_concat`` of step number × 4096 + code
    and of the answer time in milliseconds, which numpy parses in C. Only answers that are not
    integers (multiple-choice lists, text) come back as rows (a few per response). The response-id
    range is split over a few read-only connections in threads (sqlite3 releases the GIL while
    SQLite works), so the SQL runs on every core.
    """
    n, k = len(response_ids), len(steps)
    order = np.argsort(response_ids)
    sorted_ids = response_ids[order]
    num = np.full((n, k), np.nan)
    if n == 0:
        return pd.DataFrame(num, columns=steps), pd.DataFrame({"median_step_s": [], "answered_steps": []})
    workers = max(1, min(4, os.cpu_count() or 1, n // 5000 or 1))
    cuts = np.array_split(sorted_ids, workers)
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda c: _read_range(db_path, steps, int(c[0]), int(c[-1])), cuts))
    packed = [r for p, _ in parts for r in p]
    loose = [r for _, lp in parts for r in lp]
    del parts

    def rows_of(rids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.clip(np.searchsorted(sorted_ids, rids), 0, n - 1)
        return order[pos], sorted_ids[pos] == rids

    times_r: list[np.ndarray] = []
    times_ms: list[np.ndarray] = []
    if packed:
        rid = np.fromiter((r[0] for r in packed), dtype=np.int64, count=len(packed))
        cnt = np.fromiter((r[1] for r in packed), dtype=np.int64, count=len(packed))
        codes = _ints(",".join(r[2] for r in packed))
        ms = _ints(",".join(r[3] for r in packed))
        packed.clear()                      # the packed strings are the largest objects: free them
        row, keep = rows_of(np.repeat(rid, cnt))
        step, value = codes // 4096, (codes % 4096 - 2048).astype(float)
        num[row[keep], step[keep]] = value[keep]
        times_r.append(row[keep])
        times_ms.append(ms[keep])
    wide = pd.DataFrame(num, columns=steps)
    if loose:
        lo = pd.DataFrame.from_records(loose, columns=["rid", "step", "value", "at"])
        row, keep = rows_of(lo["rid"].to_numpy(dtype=np.int64))
        lo = lo.assign(row=row)[keep & lo["step"].isin(steps).to_numpy()]
        times_r.append(lo["row"].to_numpy())
        times_ms.append(np.round(lo["at"].to_numpy(dtype=float) * 1000).astype(np.int64) - EPOCH_MS)
        for sid, grp in lo.groupby("step", sort=False):
            arr = wide[sid].astype(object).where(wide[sid].notna(), None).to_numpy(dtype=object)
            # fromiter keeps each parsed list as one object (no broadcasting into 2-D)
            arr[grp["row"].to_numpy()] = np.fromiter(grp["value"].map(_parse), dtype=object, count=len(grp))
            col = pd.Series(arr)
            if sid in multi_or_text or col.map(lambda v: isinstance(v, (str, list))).any():
                wide[sid] = col
            else:
                wide[sid] = pd.to_numeric(col, errors="coerce")
    return wide, _paradata(times_r, times_ms, n)


def _paradata(times_r: list[np.ndarray], times_ms: list[np.ndarray], n: int) -> pd.DataFrame:
    """Median gap between consecutive answers per response (robust to a pause), with two integer
    sorts on a packed (row, value) key instead of a lexsort and a groupby."""
    counts = np.zeros(n, dtype=np.int64)
    med = np.full(n, np.nan)
    if times_r:
        r = np.concatenate(times_r).astype(np.int64)
        t = np.maximum(np.concatenate(times_ms), 0)   # answers before 2024 cannot exist; never negative
        counts = np.bincount(r, minlength=n)
        key = np.sort((r << 40) | t)
        rr, tt = key >> 40, key & ((1 << 40) - 1)
        same = rr[1:] == rr[:-1]
        gr, gap = rr[1:][same], (tt[1:] - tt[:-1])[same]
        if len(gap):
            g = np.sort((gr << 40) | gap)                 # gaps are ≥ 0: times are sorted
            gr, gap = g >> 40, (g & ((1 << 40) - 1)).astype(float) / 1000.0
            m = np.bincount(gr, minlength=n)
            start = np.concatenate([[0], np.cumsum(m)[:-1]])
            has = m > 0
            lo_i = start + (m - 1) // 2
            hi_i = start + m // 2
            med[has] = (gap[lo_i[has]] + gap[hi_i[has]]) / 2
    return pd.DataFrame({"median_step_s": med, "answered_steps": counts})


#: Answer times are packed as integer milliseconds after this instant (2024-01-01 UTC).
EPOCH_MS = 1_704_067_200_000


def _ints(text: str) -> np.ndarray:
    """Parse "1,2,3" into int64 in C (no Python object per number)."""
    if not text:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(text, dtype=np.int64, sep=",")


def _parse(v: Any) -> Any:
    if v is None:
        return None
    try:
        x = json.loads(v)
    except (TypeError, ValueError):
        return v
    return x




def old_reader(connect: Any, db_path: str, response_ids: np.ndarray, steps: list[str], multi_or_text: set[str]
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``load_round``'s reader signature, on the earlier implementation."""
    return read_answers_wide(db_path, response_ids, steps, multi_or_text)
