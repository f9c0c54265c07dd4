"""Load a round from the database into the wide analytics table, once, without personal data.

One SQL query per table (rounds, survey_versions, responses+respondents+recheck, units,
round_units, respondent dispositions; the answers from the packed vectors, or answers_current in
bulk: see analytics.answers_read), then pandas/numpy: never one Python object per answer, so
100 000 responses (≈ 9 million answers) load in seconds.

Excluded: responses not submitted (partial ones unless asked for), withdrawn (respondent refused,
i.e. /stop), and those whose re-check (phúc tra) was "not confirmed"; the reason counts are kept
in ``LoadedRound.excluded``. Never selected: ``contacts``, ``chat_bindings``, ``respondents.attrs``
(it may carry household details), tokens and card codes.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from analytics.answers_read import gc_paused, read_answers_wide
from analytics.indices import age_band
from analytics.weights import urban_rural_of
from fieldwork.dispositions import disposition_from_status
from storage.db import DatabaseTooNew, StorageError, code_schema_version, read_schema_version
from survey_defs.schema import QuestionType, Survey
from storage.dialect import parse_db_url
from storage.modes import response_mode
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


#: reads the answers: (connect, db path, response ids, step ids, multiple-choice and text steps)
#: → (wide table, paradata); see analytics.answers_read.read_answers_wide
Reader = Callable[[Callable[[], sqlite3.Connection], str, np.ndarray, list[str], set[str]],
                  tuple[pd.DataFrame, pd.DataFrame]]


def _bulk_reader(connect: Callable[[], sqlite3.Connection], db_path: str, response_ids: np.ndarray,
                 steps: list[str], multi_or_text: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return read_answers_wide(connect, response_ids, steps, multi_or_text)


def load_round(db_path: str | Path, round_code: str, include_partial: bool = False,
               reader: Reader = _bulk_reader) -> LoadedRound:
    """The round's wide table, units, dispositions and exclusion counts (read-only).

    ``db_path``: a path, ``sqlite:///…`` or ``postgresql://…`` (read through a local snapshot,
    ``storage.snapshot``). ``reader`` is replaceable so that benchmarks/analytics.py can time the
    earlier reader on the same database in the same run."""
    where = parse_db_url(str(db_path))
    if where.is_postgres:
        with sqlite_snapshot(where.target) as snap:
            return load_round(snap, round_code, include_partial, reader)
    with gc_paused():
        return _load_sqlite(where.target, round_code, include_partial, reader)


def _load_sqlite(db_path: str, round_code: str, include_partial: bool, reader: Reader) -> LoadedRound:
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
        # the statuses as 0/1 flags computed by SQLite: small ints are shared objects, three
        # strings per response are not (100 000 responses: ~0.1 s of Python less)
        resp = pd.read_sql_query(
            "SELECT rs.id AS response_id, p.unit_id, rs.mode, rs.channel, rs.started_at, rs.submitted_at,"
            " rs.status = 'submitted' AS submitted, p.status = 'partial' AS partial,"
            " p.status = 'refused' AS withdrawn, coalesce(rc.outcome = 'not_confirmed', 0) AS failed"
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
        submitted, partial, withdrawn, failed = (resp[c].eq(1) for c in ("submitted", "partial", "withdrawn", "failed"))
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
    wide, para = reader(lambda: _connect(db_path), str(db_path), resp["response_id"].to_numpy(dtype=np.int64),
                        steps, special)
    chains = unit_chains(units)
    df = resp[["response_id", "unit_id", "mode", "channel", "submitted_at", "started_at"]].merge(
        chains, on="unit_id", how="left")
    df.insert(1, "round", round_code)
    df["submitted_at"] = pd.to_datetime(df["submitted_at"], unit="s", utc=True).dt.tz_convert("Asia/Ho_Chi_Minh")
    df["duration_s"] = (resp["submitted_at"] - resp["started_at"]).to_numpy()
    # unit_id dropped before the wide table joins: a drop afterwards copied the whole table
    # once more (~0.1 s and ~90 MB at 100 000 responses)
    df = df.drop(columns=["started_at", "unit_id"])
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
