"""Synthetic wide tables and a small survey, for tests, benchmarks and trying the analytics.

In demo/, outside the runtime packages: no citizen or staff command generates data.

Generated answers are random (seeded) but shaped like a real round: villages nested in communes,
districts and a province, a village effect on satisfaction, some missing and "not applicable"
answers, multiple-choice lists, demographics and paradata. No personal data is generated.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Sequence

import numpy as np
import pandas as pd

from analytics.indices import IndexItem, age_band, index_items
from analytics.load import step_columns
from analytics.quality import evaluate, step_relevance
from analytics.settings import AGE_BANDS
from storage.db import Database
from storage.rounds import create_round
from storage.units import UnitIn, insert_units
from storage.vectors import rebuild_vectors
from survey_defs.schema import Survey


def small_survey() -> Survey:
    """A compact questionnaire with every construct analytics cares about.

    Two pillars (policy: components I.A, I.B; services: II.A, II.B), a 5-point scale with a
    "Không áp dụng" option (code 9), a perception single choice, a perception multiple choice,
    an expectation matrix, a yes/no experience question gating the service block, demographics.
    """
    y = {
        "id": "test-small", "version": "1", "title": {"vi": "Khảo sát thử", "en": "Test survey"},
        "languages": ["vi", "en"],
        "scales": [
            {"id": "sat5", "satisfied": [4, 5], "options": [
                {"value": 1, "label": {"vi": "Rất không hài lòng", "en": "Very dissatisfied"}},
                {"value": 2, "label": {"vi": "Không hài lòng", "en": "Dissatisfied"}},
                {"value": 3, "label": {"vi": "Bình thường", "en": "Neutral"}},
                {"value": 4, "label": {"vi": "Hài lòng", "en": "Satisfied"}},
                {"value": 5, "label": {"vi": "Rất hài lòng", "en": "Very satisfied"}},
                {"value": 9, "label": {"vi": "Không áp dụng", "en": "Not applicable"}}]},
            {"id": "want4", "options": [
                {"value": 1, "label": {"vi": "Không mong muốn", "en": "Not wanted"}},
                {"value": 2, "label": {"vi": "Khá mong muốn", "en": "Somewhat"}},
                {"value": 3, "label": {"vi": "Mong muốn", "en": "Wanted"}},
                {"value": 4, "label": {"vi": "Rất mong muốn", "en": "Strongly wanted"}}]},
        ],
        "sections": [
            {"id": "profile", "title": {"vi": "Thông tin", "en": "Profile"}, "questions": [
                {"id": "sex", "type": "single", "text": {"vi": "Giới tính", "en": "Sex"},
                 "options": [{"value": 1, "label": {"vi": "Nam", "en": "Male"}},
                             {"value": 2, "label": {"vi": "Nữ", "en": "Female"}}]},
                {"id": "age", "type": "number", "min": 18, "max": 110,
                 "text": {"vi": "Tuổi", "en": "Age"}},
            ]},
            {"id": "perc", "title": {"vi": "Nhận định", "en": "Perceptions"}, "questions": [
                {"id": "q5", "type": "single", "text": {"vi": "Công chức gây phiền hà?", "en": "Harassment?"},
                 "index": {"kind": "perception", "component": "Q5"},
                 "options": [{"value": 1, "label": {"vi": "Không có", "en": "None"}},
                             {"value": 2, "label": {"vi": "Một số", "en": "Some"}},
                             {"value": 3, "label": {"vi": "Nhiều", "en": "Many"}}]},
                {"id": "q2", "type": "multi", "min_picks": 1, "max_picks": 3,
                 "text": {"vi": "Kênh theo dõi chính sách", "en": "Channels"},
                 "index": {"kind": "perception", "component": "Q2"},
                 "options": [{"value": 1, "label": {"vi": "Loa phát thanh", "en": "Loudspeaker"}},
                             {"value": 2, "label": {"vi": "Họp dân", "en": "Meetings"}},
                             {"value": 3, "label": {"vi": "Internet", "en": "Internet"}}]},
                {"id": "q8", "type": "yesno", "text": {"vi": "Đã làm thủ tục hành chính?", "en": "Did a procedure?"}},
            ]},
            {"id": "sat", "title": {"vi": "Mức độ hài lòng", "en": "Satisfaction"}, "questions": [
                {"id": "q9p", "type": "matrix", "scale": "sat5", "text": {"vi": "Chính sách", "en": "Policy"},
                 "items": [
                     {"id": "p1", "text": {"vi": "Thông tin đa dạng", "en": "Information"},
                      "index": {"pillar": "policy", "component": "I.A", "criterion": "Thông tin"}},
                     {"id": "p2", "text": {"vi": "Thông tin dễ hiểu", "en": "Clear"},
                      "index": {"pillar": "policy", "component": "I.A", "criterion": "Dễ hiểu"}},
                     {"id": "p3", "text": {"vi": "Góp ý dự thảo", "en": "Comment drafts"},
                      "index": {"pillar": "policy", "component": "I.B", "criterion": "Góp ý"}}]},
                {"id": "q9s", "type": "matrix", "scale": "sat5", "text": {"vi": "Dịch vụ", "en": "Services"},
                 "relevant": {"equals": ["q8", 1]},
                 "items": [
                     {"id": "s1", "text": {"vi": "Biển chỉ dẫn rõ ràng", "en": "Signage"},
                      "index": {"pillar": "services", "component": "II.A", "criterion": "Biển chỉ dẫn"}},
                     {"id": "s2", "text": {"vi": "Đủ ghế ngồi", "en": "Seats"},
                      "index": {"pillar": "services", "component": "II.A", "criterion": "Ghế ngồi"}},
                     {"id": "s3", "text": {"vi": "Công chức lịch sự", "en": "Polite"},
                      "index": {"pillar": "services", "component": "II.B", "criterion": "Lịch sự"}}]},
            ]},
            {"id": "exp", "title": {"vi": "Mong đợi", "en": "Expectations"}, "questions": [
                {"id": "q10", "type": "matrix", "scale": "want4", "required": False,
                 "text": {"vi": "Mong muốn cải thiện", "en": "Wishes"},
                 "items": [
                     {"id": "e1", "text": {"vi": "Công khai minh bạch", "en": "Transparency"},
                      "index": {"kind": "expectation", "criterion": "Minh bạch"}},
                     {"id": "e2", "text": {"vi": "Thái độ công chức", "en": "Attitude"},
                      "index": {"kind": "expectation", "criterion": "Thái độ"}}]},
                {"id": "comment", "type": "text", "required": False, "max_length": 500,
                 "text": {"vi": "Ý kiến khác", "en": "Other comments"}},
            ]},
        ],
    }
    return Survey.model_validate(y)


def hierarchy(n_districts: int = 3, communes_per_district: int = 3, villages_per_commune: int = 3,
              province: str = "Lai Châu") -> pd.DataFrame:
    """A unit table: one row per village with ids and names of every level."""
    rows = []
    for d in range(n_districts):
        for c in range(communes_per_district):
            for v in range(villages_per_commune):
                rows.append({"province_id": "P01", "province_name": province,
                             "district_id": f"D{d + 1:02d}", "district_name": f"Huyện {d + 1}",
                             "commune_id": f"D{d + 1:02d}C{c + 1:02d}", "commune_name": f"Xã {d + 1}.{c + 1}",
                             "village_id": f"D{d + 1:02d}C{c + 1:02d}V{v + 1:02d}",
                             "village_name": f"Bản {d + 1}.{c + 1}.{v + 1}"})
    return pd.DataFrame(rows)


def synthetic_wide(survey: Survey, n: int, seed: int = 1, units: pd.DataFrame | None = None,
                   p_missing: float = 0.02, p_na: float = 0.03) -> pd.DataFrame:
    """``n`` synthetic responses to ``survey`` as the wide analytics table (vectorised)."""
    rng = np.random.default_rng(seed)
    if units is None:
        units = hierarchy()
    uv = units.reset_index(drop=True)
    village = rng.integers(0, len(uv), n)
    df = uv.iloc[village].reset_index(drop=True)
    df.insert(0, "response_id", np.arange(1, n + 1, dtype=np.int64))
    df["round"] = "R1"
    df["mode"] = np.where(rng.random(n) < 0.2, "paper", "chat")
    df["channel"] = np.where(df["mode"] == "paper", "paper", np.where(rng.random(n) < 0.6, "zalo", "telegram"))
    effect = rng.normal(0, 0.6, len(uv))[village]           # village effect: clustered answers
    mood = rng.normal(0, 0.8, n) + effect
    items = {it.step_id: it for it in index_items(survey, ("satisfaction", "perception", "expectation"))}
    for q in survey.questions:
        if q.type.value == "matrix":
            steps = [(it.id, items.get(it.id)) for it in q.items or []]
        elif q.type.value in ("note", "text"):
            continue
        else:
            steps = [(q.id, items.get(q.id))]
        for sid, meta in steps:
            opts = [o.value for o in survey.options_of(q)]
            if q.type.value == "number":
                lo, hi = q.min or 0, min(q.max or 100, 80)
                col = pd.Series(rng.integers(lo, hi + 1, n), dtype="Int64")
            elif q.type.value == "multi":
                picks = rng.random((n, len(opts))) < 0.4
                picks[~picks.any(axis=1), 0] = True
                arr = np.empty(n, dtype=object)
                arr[:] = [[o for o, p in zip(opts, row) if p] for row in picks]
                col = pd.Series(arr)
            elif meta is not None and meta.kind == "satisfaction":
                valid = [v for v in meta.valid if isinstance(v, (int, float))]
                lat = np.clip(np.round(4.3 + mood + rng.normal(0, 1.0, n)), min(valid), max(valid))
                col = pd.Series(lat, dtype="float64")
                na = [v for v in opts if v not in meta.valid]
                if na:
                    col[rng.random(n) < p_na] = na[0]
            else:
                col = pd.Series(np.asarray(opts, dtype=object)[rng.integers(0, len(opts), n)])
                if all(isinstance(v, int) for v in opts):
                    col = col.astype("float64")
            col[rng.random(n) < p_missing] = np.nan
            df[sid] = col
    if "age" in df.columns:
        df["age_band"] = age_band(df["age"])
    else:
        df["age_band"] = np.asarray([b[2] for b in AGE_BANDS], dtype=object)[rng.integers(0, 5, n)]
    df["sex"] = df["sex"] if "sex" in df.columns else np.where(rng.random(n) < 0.5, 1, 2)
    df["submitted_at"] = pd.Timestamp("2025-03-01") + pd.to_timedelta(rng.integers(0, 30 * 86400, n), unit="s")
    df["answered_steps"] = len([c for c in df.columns if c in items])
    df["median_step_s"] = np.round(rng.lognormal(1.6, 0.5, n), 2)
    df["duration_s"] = df["median_step_s"] * df["answered_steps"]
    return df


def wide_for_items(items: Sequence[IndexItem], rows: list[dict]) -> pd.DataFrame:
    """A wide table from hand-written rows (tests): missing step columns are added as NaN."""
    df = pd.DataFrame(rows)
    for it in items:
        if it.step_id not in df.columns:
            df[it.step_id] = np.nan
    return df


def applicable_only(df: pd.DataFrame, survey: Survey) -> pd.DataFrame:
    """Blank the answers to steps that do not apply (relevance), as the engine would never ask them."""
    out = df.copy()
    for sid, conds in step_relevance(survey).items():
        if not conds or sid not in out.columns:
            continue
        ok = np.ones(len(out), dtype=bool)
        for c in conds:
            ok &= evaluate(c, out)
        out.loc[~ok, sid] = np.nan if out[sid].dtype != object else None
    return out


def household_answers(survey: Survey, n: int, seed: int = 1, units: pd.DataFrame | None = None) -> pd.DataFrame:
    """Synthetic ``sipas-households`` answers that pass screening and respect relevance."""
    df = synthetic_wide(survey, n, seed, units, p_missing=0.0)
    rng = np.random.default_rng(seed + 1)
    fixed = {"q_consent": 1.0, "q_household_rep": 1.0, "q_literate": 1.0, "q_legal_capacity": 1.0}
    for k, v in fixed.items():
        if k in df.columns:
            df[k] = v
    if "q_age" in df.columns:
        df["q_age"] = rng.integers(18, 80, n).astype(float)
    for sid in ("q_ethnic_other", "q2_other", "q_comment"):
        if sid in df.columns:
            df[sid] = None
    if "q_ethnic_other" in survey.question_by_id and "q_ethnic" in df.columns:
        df["q_ethnic_other"] = np.where(df["q_ethnic"] == 2, "Thái", None)
    if "q8_complaint" in df.columns:
        df["q8_complaint"] = np.where(rng.random(n) < 0.15, 1.0, 0.0)
    return applicable_only(df, survey)


def populate_db(path: str, survey: Survey, n: int, seed: int = 1, round_code: str = "LC-2025",
                units: pd.DataFrame | None = None) -> dict[str, int]:
    """Create a hailong database (storage's migrations) holding ``n`` submitted chat responses.

    Setup for tests and benchmarks: the frame and the round go through storage's functions; the
    bulk of respondents, responses and answers is inserted with ``executemany`` (the live path,
    one commit per answer, would take an hour for 100 000 questionnaires). Returns unit code → id.
    """
    units = hierarchy() if units is None else units
    uin: list[UnitIn] = []
    seen: set[str] = set()
    for lv, parent in (("province", None), ("district", "province"), ("commune", "district"), ("village", "commune")):
        for r in units[[f"{lv}_id", f"{lv}_name"] + ([f"{parent}_id"] if parent else [])].drop_duplicates().itertuples(index=False):
            if r[0] in seen:
                continue
            seen.add(r[0])
            uin.append(UnitIn(kind=lv, code=r[0], name=r[1], parent_code=r[2] if parent else None))  # type: ignore[arg-type]

    async def setup() -> tuple[dict[str, int], int]:
        db = await Database.open(path)
        try:
            ids = await insert_units(db, "demo", uin)
            rnd = await create_round(db, code=round_code, survey=survey, frame="demo")
            return ids, rnd.id
        finally:
            await db.close()

    ids, round_id = asyncio.run(setup())
    wide = household_answers(survey, n, seed, units)
    steps = [s for s, _ in step_columns(survey) if s in wide.columns]
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        base = conn.execute("SELECT COALESCE(MAX(id), 0) FROM respondents").fetchone()[0]
        rid = base + np.arange(1, n + 1)
        uid = wide["village_id"].map(ids).to_numpy()
        t0 = 1.74e9 + rng_times(n, seed)
        tok = [f"tok{seed:04d}{i:018d}" for i in range(n)]
        conn.executemany(
            "INSERT INTO respondents (id, round_id, unit_id, selection_reason, status, token, card_code, created_at,"
            " started_at, finished_at) VALUES (?, ?, ?, 'synthetic', 'completed', ?, ?, ?, ?, ?)",
            zip(rid.tolist(), [round_id] * n, uid.tolist(), tok, [f"C{i:07d}" for i in range(n)],
                t0.tolist(), t0.tolist(), (t0 + 600).tolist()))
        mode = wide["mode"].to_numpy()
        conn.executemany(
            "INSERT INTO responses (id, respondent_id, round_id, survey_hash, mode, channel, status, outcome, state,"
            " started_at, updated_at, submitted_at) VALUES (?, ?, ?, ?, ?, ?, 'submitted', 'complete', '{}', ?, ?, ?)",
            zip(rid.tolist(), rid.tolist(), [round_id] * n, [survey.content_hash] * n, mode.tolist(),
                wide["channel"].tolist(), t0.tolist(), (t0 + 600).tolist(), (t0 + 600).tolist()))

        def rows():
            for j, sid in enumerate(steps):
                col = wide[sid]
                at = (t0 + 3.0 * (j + 1) + (seed % 3)).tolist()
                if col.dtype == object:
                    for i, v in enumerate(col.tolist()):
                        if v is None or (isinstance(v, float) and np.isnan(v)):
                            continue
                        yield rid[i].item(), sid, json.dumps(v, ensure_ascii=False), (v if type(v) is int else None), at[i]
                else:
                    vals = col.to_numpy(dtype=float)
                    ok = ~np.isnan(vals)
                    for i in np.flatnonzero(ok).tolist():
                        v = int(vals[i])
                        yield rid[i].item(), sid, str(v), v, at[i]
        conn.executemany("INSERT INTO answers_current (response_id, step_id, revision, value, value_num, answered_at)"
                         " VALUES (?, ?, 1, ?, ?, ?)", rows())
        conn.execute("INSERT INTO answers (response_id, step_id, revision, value, value_num, cleared, answered_at)"
                     " SELECT response_id, step_id, revision, value, value_num, 0, answered_at FROM answers_current"
                     " WHERE response_id > ?", (int(base),))
        rebuild_vectors(conn)   # what the submit trigger writes on the live path (storage/vectors.py)
        conn.commit()
    finally:
        conn.close()
    return ids


def rng_times(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed + 7).integers(0, 20 * 86400, n).astype(float)
