"""Read a round's current answers into the wide (responses × steps) table, in bulk.

Why this shape: Python's sqlite3 costs about 2 µs per fetched row, and SQLite itself about a
microsecond per answer scanned, so the ~8.4 million answer rows of 100 000 responses must not be
read one by one. A submitted response has a packed answer vector (storage/vectors.py, kept by
triggers): one row per response, its coded answers as ``ms << 12 | code + 2048`` text parsed by
numpy in C, its step ids mapped to columns once per distinct layout. Responses without a vector
(partial ones, paper imports, answers changed after submission, databases before migration 13)
are read from ``answers_current``, packed by SQLite one row per response (:class:`Packing`).
Answers that are not small integers (multiple-choice lists, text, large numbers) come as rows.
Responses are read in chunks, one read-only connection each (in threads where cores are to
spare: sqlite3 releases the GIL while SQLite works); per chunk, Python handles each response as
a few references (no Python object per answer), finds its row once (not once per answer), and
numpy scatters the answers into the chunk's own (responses × steps) matrices of codes and
answer times, small enough to stay in the CPU's cache; the codes' rows are then copied into the
wide matrix.

Paradata (the median gap between consecutive answers, robust to a pause) is computed per chunk
on its matrix of answer times, each response's row sorted on its own (``np.sort`` along the
row): no global sort of millions of (response, time) pairs and no matrix of times for all
responses. The cyclic garbage collector is paused while a round loads (:func:`gc_paused`).
"""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from storage.vectors import EPOCH_MS, STEP_SEPARATOR

_VALUE_BITS = 12                       # codes -2048..2047 (every coded answer, ages, years); others loose
_VALUE_OFFSET = 1 << (_VALUE_BITS - 1)
_SPAN_MS = 70 * 365 * 86_400_000       # answer times representable: 70 years after EPOCH_MS
CHUNK = 8192                           # responses per query: bounds the packed text held at once


_gc_lock = threading.Lock()
_gc_pauses = [0, False]                 # loads under way, whether the collector was enabled before them


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a round is read. Why: reading creates
    hundreds of thousands of container objects (rows, parsed lists) and none of them form
    cycles, yet every few hundred allocations the collector walks the young objects and now and
    then every object alive: measured at 100 000 responses, about a third of the reading's CPU.
    Re-entrant and thread-safe: the collector is enabled again (if it was) when the last
    concurrent load ends; reference counting frees everything meanwhile."""
    with _gc_lock:
        if _gc_pauses[0] == 0:
            _gc_pauses[1] = gc.isenabled()
            gc.disable()
        _gc_pauses[0] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses[0] -= 1
            if _gc_pauses[0] == 0 and _gc_pauses[1]:
                gc.enable()


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

    def columns(self, texts: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """The column of every answer of ``texts`` (one layout per response, answers in order) and
        the answers per response. Equal layout strings are found by pandas' hash table in C, so
        Python handles each distinct layout once, not each response."""
        idx, uniq = pd.factorize(np.array(texts, dtype=object), sort=False)
        layouts = [self(t) for t in uniq]
        lens_u = np.array([len(c) for c in layouts], dtype=np.int64)
        width = int(lens_u.max()) if len(lens_u) else 0
        padded = np.full((len(layouts), width), -1, dtype=np.int64)
        for i, c in enumerate(layouts):
            padded[i, :len(c)] = c
        lens = lens_u[idx]
        # row by row, each response's columns in its layout's order (a boolean mask keeps C order)
        return padded[idx][np.arange(width) < lens[:, None]], lens


_NONE = np.zeros(0, dtype=np.int64)


@dataclass
class _Loose:
    """Answers that are not small integers, column-wise: position of the response in its chunk,
    column, stored value text, ms after EPOCH_MS, SQLite's json_valid of the value."""

    pos: list[np.ndarray]
    col: list[np.ndarray]
    value: list[Any]
    ms: list[Any]
    valid: list[Any]

    @staticmethod
    def empty() -> "_Loose":
        return _Loose([], [], [], [], [])

    def add(self, pos: np.ndarray, col: np.ndarray, value: Any, ms: Any, valid: Any) -> None:
        self.pos.append(pos)
        self.col.append(col)
        self.value.extend(value)
        self.ms.extend(ms)
        self.valid.extend(valid)


class _Chunk:
    """A chunk of the wanted responses (their ids, ascending): where a response id sits in it,
    and its own (responses × steps) matrices of codes and answer times, small enough to stay in
    the CPU's cache while answers are scattered into them."""

    def __init__(self, ids: np.ndarray, k: int, col_of: dict[str, int], space: threading.local) -> None:
        """``space``: the worker thread's, whose two matrices every chunk it reads reuses (fresh
        ones per chunk cost the kernel ~190 MB of page faults at 100 000 responses)."""
        self.ids, self.k, self.col_of = ids, k, col_of
        if getattr(space, "matrices", None) is None:
            space.matrices = (np.empty((CHUNK, k)), np.empty((CHUNK, k)))
        self.num, self.times = (m[:len(ids)] for m in space.matrices)
        self.num.fill(np.nan)
        self.times.fill(np.nan)
        self.loose = _Loose.empty()

    def positions(self, rids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Position in the chunk of each response id, and whether it is one of the chunk's."""
        pos = np.clip(np.searchsorted(self.ids, rids), 0, len(self.ids) - 1)
        return pos, self.ids[pos] == rids

    def place(self, pos: np.ndarray, col: np.ndarray, value: np.ndarray, ms: np.ndarray) -> None:
        cell = pos * self.k + col
        self.num.reshape(-1)[cell] = value              # views: the matrices are C-contiguous
        self.times.reshape(-1)[cell] = ms

    def add_loose(self, rid: np.ndarray, step: list[Any], value: list[Any], ms: list[Any], valid: list[Any]) -> None:
        """Loose answers of response ids ``rid``: those of the chunk's responses and the survey's
        steps are kept (their times go into the chunk's matrix with the others)."""
        pos, keep = self.positions(rid)
        col = np.array([self.col_of.get(x, -1) for x in step], dtype=np.int64)
        keep &= col >= 0
        sel = np.flatnonzero(keep).tolist()
        if len(sel) < len(step):
            value, ms, valid = [value[i] for i in sel], [ms[i] for i in sel], [valid[i] for i in sel]
            pos, col = pos[sel], col[sel]
        self.loose.add(pos, col, value, ms, valid)
        self.times[pos, col] = np.array(ms, dtype=float)


def _vectors(conn: sqlite3.Connection, layouts: _Layouts, chunk: _Chunk) -> np.ndarray | None:
    """The stored vectors of the chunk's id range into its matrices; the ids that have one. None
    if a vector cannot be read (a step id holding the separator): then every response of the
    range is read from answers_current.

    Per response, Python only moves references (columns are taken apart by ``zip``); the
    numbers are parsed by numpy, the layouts matched by pandas, the positions found per
    response (not per answer)."""
    fetched = conn.execute("SELECT response_id, steps, codes, loose FROM response_vectors"
                           " WHERE response_id BETWEEN ? AND ?", (int(chunk.ids[0]), int(chunk.ids[-1]))).fetchall()
    if not fetched:
        return _NONE
    rid_t, steps_t, codes_t, loose_t = zip(*fetched)
    del fetched
    rids = np.array(rid_t, dtype=np.int64)
    col, lens = layouts.columns(steps_t)
    x = _ints(",".join([c for c in codes_t if c]))
    del codes_t
    if len(x) != len(col):
        return None
    pos, keep = chunk.positions(rids)
    pos = np.repeat(pos, lens)
    if not (keep.all() and len(col) and col.min() >= 0):      # responses or steps not wanted: drop them
        take = np.repeat(keep, lens) & (col >= 0)
        pos, col, x = pos[take], col[take], x[take]
    chunk.place(pos, col, (x & 0xFFF) - 2048, x >> 12)
    extra = [i for i in np.flatnonzero(keep).tolist() if loose_t[i] != "[]"]
    if extra:
        parsed = json.loads("[" + ",".join([loose_t[i] for i in extra]) + "]")   # SQLite wrote it: valid JSON
        items = [it for p in parsed for it in p]
        chunk.add_loose(np.repeat(rids[extra], [len(p) for p in parsed]), [it[0] for it in items],
                        [it[1] for it in items], [it[2] for it in items], [it[3] for it in items])
    return rids


def read_answers_wide(connect: Callable[[], sqlite3.Connection], response_ids: np.ndarray, steps: list[str],
                      multi_or_text: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The current answers of ``response_ids`` as a wide table (rows in that order, one column per
    step) and per-response paradata (``median_step_s``: median seconds between consecutive
    answers; ``answered_steps``). ``connect`` opens a read-only connection (one per worker).

    Each chunk of responses is read into matrices of its own, its paradata computed there, and
    its rows then copied into the wide matrix: no matrix of answer times for all responses."""
    n, k = len(response_ids), len(steps)
    num = np.full((n, k), np.nan)
    if n == 0:
        return pd.DataFrame(num, columns=steps), paradata(np.full((0, k), np.nan))
    med, answered = np.full(n, np.nan), np.zeros(n, dtype=np.int64)
    order = np.argsort(response_ids)
    sorted_ids = response_ids[order]
    packing = Packing.for_steps(k)
    probe = connect()
    try:
        with_vectors = probe.execute("SELECT 1 FROM sqlite_master WHERE name = 'response_vectors'").fetchone() is not None
    finally:
        probe.close()
    layouts = _Layouts(steps)
    col_of = {s: i for i, s in enumerate(steps)}
    space = threading.local()

    def work(i0: int) -> tuple[np.ndarray, _Loose]:
        """One chunk of responses (sorted_ids[i0:i0 + CHUNK]): the stored vectors, then the
        responses without one read from answers_current; its rows into the wide matrix and the
        paradata (chunks never share a row). Returns the rows and their loose answers."""
        chunk = _Chunk(sorted_ids[i0:i0 + CHUNK], k, col_of, space)
        lo, hi = int(chunk.ids[0]), int(chunk.ids[-1])
        conn = connect()
        try:
            have = _vectors(conn, layouts, chunk) if with_vectors else None
            missing = chunk.ids[~np.isin(chunk.ids, have)].tolist() if have is not None and len(have) else None
            if missing is None or missing:
                rid, step, value, ms, more = _scan(conn, steps, packing, lo, hi, missing)
                pos, keep = chunk.positions(rid)
                keep &= step >= 0
                chunk.place(pos[keep], step[keep], value[keep], ms[keep])
                if more:
                    r, st, v, m, ok = zip(*more)
                    chunk.add_loose(np.array(r, dtype=np.int64), list(st), list(v), list(m), list(ok))
        finally:
            conn.close()
        rows = order[i0:i0 + CHUNK]
        num[rows] = chunk.num
        med[rows], answered[rows] = _median_gaps(chunk.times)
        return rows, chunk.loose

    # Chunks bound the memory. Threads overlap SQLite's work (the GIL released) with Python's,
    # but sqlite3 hands the GIL over at every fetched row: on 2 cores, 2 threads took ~0.4 CPU-s
    # more than reading in this thread (GIL hand-overs, futex calls) for the same wall time at
    # 100 000 responses, so threads are used only where there are cores to spare.
    starts = range(0, n, CHUNK)
    workers = max(1, min(4, (os.cpu_count() or 1) // 2, len(starts)))
    if workers == 1:
        parts = [work(i0) for i0 in starts]
    else:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(work, starts))
    wide = pd.DataFrame(num, columns=steps, copy=False)
    if any(loose.value for _, loose in parts):
        _put_loose(wide, [(rows, loose) for rows, loose in parts if loose.value], steps, multi_or_text)
    return wide, pd.DataFrame({"median_step_s": med, "answered_steps": answered})


def _put_loose(wide: pd.DataFrame, parts: list[tuple[np.ndarray, _Loose]], steps: list[str],
               multi_or_text: set[str]) -> None:
    """Answers that are not small integers (lists, text, large numbers) into their columns;
    ``parts``: per chunk, its rows of the wide table and its loose answers."""
    row = np.concatenate([rows[np.concatenate(loose.pos)] for rows, loose in parts])
    col = np.concatenate([c for _, loose in parts for c in loose.col])
    values = [v for _, loose in parts for v in loose.value]
    valid = [v for _, loose in parts for v in loose.valid]
    for c in np.unique(col).tolist():
        sid = steps[c]
        sel = np.flatnonzero(col == c)
        parsed = parse_values([values[i] for i in sel.tolist()], [valid[i] for i in sel.tolist()])
        arr = wide[sid].astype(object).where(wide[sid].notna(), None).to_numpy(dtype=object)
        # fromiter keeps each parsed list as one object (no broadcasting into 2-D)
        arr[row[sel]] = np.fromiter(parsed, dtype=object, count=len(parsed))
        # the column's other values are numbers or None: it is text or lists iff a parsed value is
        if sid in multi_or_text or any(isinstance(v, (str, list)) for v in parsed):
            wide[sid] = pd.Series(arr)
        else:
            wide[sid] = pd.to_numeric(pd.Series(arr), errors="coerce")


def paradata(times_ms: np.ndarray) -> pd.DataFrame:
    """Per response (row): answered steps and the median gap in seconds between consecutive answer
    times. Each row is sorted on its own, in place (``times_ms`` is consumed); missing answers
    (NaN) sort last and are not counted."""
    med, answered = _median_gaps(times_ms)
    return pd.DataFrame({"median_step_s": med, "answered_steps": answered})


def _median_gaps(times_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`paradata`'s two columns as arrays (the reader calls it per chunk)."""
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
    return med, answered.astype(np.int64)
