"""Load a round from the database into the wide analytics table, once, without personal data.

One SQL query per table (rounds, survey_versions, responses+respondents+recheck, units,
round_units, respondent dispositions; answers_current in two: packed integer answers and the
few non-integer ones), then pandas/numpy: integer answers arrive packed by SQLite, one string
per response, parsed by numpy straight into a preallocated (responses × steps) array, never one
Python object per answer, so 100 000 responses (≈ 9 million answers) load in seconds.

Excluded: responses not submitted (partial ones unless asked for), withdrawn (respondent refused,
i.e. /stop), and those whose re-check (phúc tra) was "not confirmed"; the reason counts are kept
in ``LoadedRound.excluded``. Never selected: ``contacts``, ``chat_bindings``, ``respondents.attrs``
(it may carry household details), tokens and card codes.
"""

from __future__ import annotations

import json
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analytics.indices import age_band
from analytics.weights import urban_rural_of
from fieldwork.dispositions import disposition_from_status
from storage.db import DatabaseTooNew, StorageError, code_schema_version, read_schema_version
from survey_defs.schema import QuestionType, Survey
from storage.dialect import parse_db_url
from storage.snapshot import sqlite_snapshot

#: Profile steps → demographic columns of the wide table (household questionnaire ids; a survey
#: without them simply has no such column). Values are exported as Vietnamese labels.
DEMOGRAPHIC_STEPS: dict[str, tuple[str, ...]] = {
    "sex": ("q_sex", "sex"), "ethnicity": ("q_ethnic", "ethnicity"), "education": ("q_edu", "education"),
    "occupation": ("q_occ", "occupation"), "age": ("q_age", "age"),
}


class LoadError(Exception):
    """A clear, user-facing problem (unknown round, not a hailong database)."""


@dataclass
class LoadedRound:
    round_code: str
    round_id: int
    survey: Survey
    data: pd.DataFrame                       # the wide table
    units: pd.DataFrame                      # every unit of the round with its chain (for empty units)
    dispositions: pd.DataFrame               # long: chain columns, disposition, count
    excluded: dict[str, int] = field(default_factory=dict)
    plan_id: str | None = None               # the sampling plan the round was drawn by
    #: every unit of the round's frame: code, kind, parent_code, selected, households (in the
    #: village's list), sampled (households drawn for it): the counts behind design weights
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)


def _connect(path: str | Path) -> sqlite3.Connection:
    p = Path(path)
    if not p.exists():
        raise LoadError(f"Không tìm thấy cơ sở dữ liệu {p} / database not found: {p}")
    conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
    conn.execute("PRAGMA busy_timeout = 15000")
    # A database from a newer hailong is refused, never misread (analytics reads the tables itself).
    try:
        found, supported = read_schema_version(conn), code_schema_version()
    except StorageError as exc:
        conn.close()
        raise LoadError(str(exc)) from exc
    if found > supported:
        conn.close()
        raise LoadError(str(DatabaseTooNew(found, supported)))
    return conn


def step_columns(survey: Survey) -> list[tuple[str, QuestionType]]:
    """Every answer key of the survey in order, with its question type."""
    out = []
    for q in survey.questions:
        if q.type is QuestionType.matrix:
            out.extend((it.id, q.type) for it in q.items or [])
        elif q.type is not QuestionType.note:
            out.append((q.id, q.type))
    return out


def unit_chains(units: pd.DataFrame) -> pd.DataFrame:
    """For every unit: ``{kind}_id`` (the code) and ``{kind}_name`` of itself and its ancestors.

    Units are few (thousands), so walking the parent links per unit is cheap; responses are then
    joined to this table in one vectorised merge.
    """
    by_id = {int(r.unit_id): r for r in units.itertuples(index=False)}
    rows = []
    for uid, r in by_id.items():
        row: dict[str, Any] = {"unit_id": uid}
        cur, seen = r, set()
        while cur is not None and int(cur.unit_id) not in seen:
            seen.add(int(cur.unit_id))
            if cur.kind != "walk_in":
                row.setdefault(f"{cur.kind}_id", cur.code)
                row.setdefault(f"{cur.kind}_name", cur.name)
                if cur.kind == "commune":
                    row.setdefault("urban_rural", urban_rural_of(getattr(cur, "unit_kind", None), cur.name))
            pid = cur.parent_id
            cur = by_id.get(int(pid)) if pid is not None and not pd.isna(pid) else None
        rows.append(row)
    return pd.DataFrame(rows)


def _labels(survey: Survey, step: str) -> dict[Any, str]:
    q = survey.question_by_id.get(step)
    if q is None:
        return {}
    return {o.value: o.label.get("vi", str(o.value)) for o in survey.options_of(q)}


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


def load_round(db_path: str | Path, round_code: str, include_partial: bool = False) -> LoadedRound:
    """The round's wide table, units, dispositions and exclusion counts (read-only).

    ``db_path``: a path, ``sqlite:///…`` or ``postgresql://…`` (read through a local snapshot,
    ``storage.snapshot``)."""
    where = parse_db_url(str(db_path))
    if where.is_postgres:
        with sqlite_snapshot(where.target) as snap:
            return load_round(snap, round_code, include_partial)
    db_path = where.target
    conn = _connect(db_path)
    try:
        try:
            r = conn.execute("SELECT id, survey_hash, sampling_plan_id FROM rounds WHERE code = ?",
                             (round_code,)).fetchone()
        except sqlite3.DatabaseError as exc:
            raise LoadError(f"Không phải cơ sở dữ liệu hailong / not a hailong database: {exc}") from exc
        if r is None:
            codes = [x[0] for x in conn.execute("SELECT code FROM rounds ORDER BY id")]
            raise LoadError(f"Không có đợt khảo sát {round_code!r} / no round {round_code!r}. "
                            f"Các đợt hiện có / rounds: {', '.join(codes) or '(chưa có / none)'}")
        round_id, survey_hash, plan_id = int(r[0]), r[1], r[2]
        definition = conn.execute("SELECT definition FROM survey_versions WHERE hash = ?", (survey_hash,)).fetchone()
        survey = Survey.model_validate_json(definition[0])
        resp = pd.read_sql_query(
            "SELECT rs.id AS response_id, p.unit_id, rs.mode, rs.channel, rs.status, rs.started_at,"
            " rs.submitted_at, p.status AS respondent_status, rc.outcome AS recheck_outcome"
            " FROM responses AS rs JOIN respondents AS p ON p.id = rs.respondent_id"
            " LEFT JOIN recheck AS rc ON rc.respondent_id = rs.respondent_id AND rc.round_id = rs.round_id"
            " WHERE rs.round_id = ? ORDER BY p.id, rs.id", conn, params=(round_id,))
        units = pd.read_sql_query(
            "SELECT id AS unit_id, kind, code, name, parent_id, frame,"
            " json_extract(attrs, '$.kind') AS unit_kind, json_extract(attrs, '$.households') AS households"
            " FROM units", conn)
        round_units = pd.read_sql_query("SELECT unit_id FROM round_units WHERE round_id = ?", conn,
                                        params=(round_id,))
        disp = pd.read_sql_query("SELECT unit_id, status, COUNT(*) AS count FROM respondents WHERE round_id = ?"
                                 " GROUP BY unit_id, status", conn, params=(round_id,))
        # exclusions
        submitted = resp["status"].eq("submitted")
        partial = resp["respondent_status"].eq("partial")
        withdrawn = resp["respondent_status"].eq("refused")
        failed = resp["recheck_outcome"].eq("not_confirmed")
        keep = (submitted | (partial & include_partial)) & ~withdrawn & ~failed
        excluded = {"not_submitted": int((~submitted & ~(partial & include_partial)).sum()),
                    "withdrawn": int((withdrawn & submitted).sum()),
                    "recheck_not_confirmed": int((failed & submitted & ~withdrawn).sum())}
        resp = resp.loc[keep].reset_index(drop=True)
        resp = _with_answer_modes(resp)
        steps_t = step_columns(survey)
        steps = [s for s, _ in steps_t]
        special = {s for s, t in steps_t if t in (QuestionType.multi, QuestionType.text)}
    finally:
        conn.close()
    wide, para = read_answers_wide(str(db_path), resp["response_id"].to_numpy(dtype=np.int64), steps, special)
    chains = unit_chains(units)
    df = resp[["response_id", "unit_id", "mode", "channel", "submitted_at", "started_at"]].merge(
        chains, on="unit_id", how="left")
    df.insert(1, "round", round_code)
    df["submitted_at"] = pd.to_datetime(df["submitted_at"], unit="s", utc=True).dt.tz_convert("Asia/Ho_Chi_Minh")
    df["duration_s"] = (resp["submitted_at"] - resp["started_at"]).to_numpy()
    df = df.drop(columns=["started_at"])
    df = pd.concat([df.reset_index(drop=True), wide, para], axis=1)
    for col, candidates in DEMOGRAPHIC_STEPS.items():
        sid = next((c for c in candidates if c in df.columns and c in survey.question_by_id), None)
        if sid is None:
            continue
        if col == "age":
            df["age_band"] = age_band(df[sid])
        else:
            labels = _labels(survey, sid)
            labels.update({float(v): t for v, t in labels.items() if isinstance(v, int)})
            df[col] = df[sid].map(labels)
    df = df.drop(columns=["unit_id"])
    # every unit of the round (selected units and respondents' units) with its chain
    ids = set(round_units["unit_id"].tolist()) | set(disp["unit_id"].tolist())
    unit_list = chains[chains["unit_id"].isin(ids)].drop(columns="unit_id").reset_index(drop=True)
    disp["disposition"] = [disposition_from_status(s).value for s in disp["status"]]
    frame = _frame_counts(units, round_units, disp)
    disp = disp.merge(chains, on="unit_id", how="left").drop(columns=["unit_id", "status"])
    disp = disp.groupby([c for c in disp.columns if c not in ("count",)], dropna=False, as_index=False)["count"].sum()
    return LoadedRound(round_code, round_id, survey, df, unit_list, disp, excluded, plan_id, frame)


def _with_answer_modes(resp: pd.DataFrame) -> pd.DataFrame:
    """``mode`` per response: chat, page or paper (``storage.modes``: paper, else the mode of the
    step that submitted it), from columns already read; no answer is read again."""
    from storage.modes import response_mode

    resp = resp.copy()
    resp["mode"] = [response_mode(m, c) for m, c in zip(resp["mode"], resp["channel"])]
    return resp


def _frame_counts(units: pd.DataFrame, round_units: pd.DataFrame, disp: pd.DataFrame) -> pd.DataFrame:
    """The round's frame (the frames its selected units come from) with what design weights need:
    which units were selected, households listed per village and households drawn for it."""
    chosen = set(round_units["unit_id"].tolist())
    frames = set(units.loc[units["unit_id"].isin(chosen), "frame"])
    u = units[units["frame"].isin(frames)] if frames else units
    code_of = dict(zip(units["unit_id"], units["code"]))
    sampled = disp.groupby("unit_id")["count"].sum()
    return pd.DataFrame({
        "code": u["code"].to_numpy(), "kind": u["kind"].to_numpy(),
        "parent_code": [code_of.get(p) if pd.notna(p) else None for p in u["parent_id"]],
        "selected": u["unit_id"].isin(chosen).to_numpy(),
        "households": pd.to_numeric(u["households"], errors="coerce").to_numpy(),
        "sampled": sampled.reindex(u["unit_id"]).fillna(0).to_numpy()})
