"""The bulk answer reader (analytics.answers_read): the wide table and paradata it builds equal a
row-by-row reading of ``answers_current``, including hostile stored values; the packing and the
per-row paradata on their own."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

import analytics.answers_read as answers_read
from analytics.answers_read import EPOCH_MS, Packing, paradata, parse_values, read_answers_wide
from analytics.load import load_round, step_columns
from demo.synthetic import populate_db
from survey_defs.loader import get_survey
from survey_defs.schema import QuestionType


@pytest.fixture(scope="module")
def survey():
    return get_survey("sipas-households")


def _reference(db: str, survey, response_ids: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The obvious reading: every answer row, ``json.loads`` each, times sorted per response."""
    steps = [s for s, _ in step_columns(survey)]
    pos = {r: i for i, r in enumerate(response_ids)}
    rows: list[dict] = [{} for _ in response_ids]
    times: list[list[float]] = [[] for _ in response_ids]
    con = sqlite3.connect(db)
    for rid, sid, value, at in con.execute("SELECT response_id, step_id, value, answered_at FROM answers_current"):
        if rid not in pos or sid not in steps:
            continue
        try:
            v = json.loads(value)
        except ValueError:
            v = value
        rows[pos[rid]][sid] = v
        times[pos[rid]].append(max(0.0, round(at * 1000) - EPOCH_MS))
    con.close()
    med = []
    for t in times:
        t = sorted(t)
        gaps = sorted(b - a for a, b in zip(t, t[1:]))
        med.append(np.nan if not gaps else (gaps[(len(gaps) - 1) // 2] + gaps[len(gaps) // 2]) / 2000)
    para = pd.DataFrame({"median_step_s": med, "answered_steps": [len(t) for t in times]})
    return pd.DataFrame(rows, columns=steps), para


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    for col in want.columns:
        for i, (g, w) in enumerate(zip(got[col].tolist(), want[col].tolist())):
            if isinstance(w, float) and np.isnan(w) or w is None:
                assert g is None or (isinstance(g, float) and np.isnan(g)), (col, i, g)
            elif isinstance(w, (int, float)) and not isinstance(w, bool):
                assert float(g) == pytest.approx(float(w)), (col, i, g, w)
            else:
                assert g == w, (col, i, g, w)


def test_bulk_reader_equals_row_by_row_reading_with_hostile_values(tmp_path, survey) -> None:
    db = str(tmp_path / "h.db")
    populate_db(db, survey, 40, seed=3)
    con = sqlite3.connect(db)
    rids = [r for (r,) in con.execute("SELECT id FROM responses ORDER BY id")]
    a, b, c, d = rids[:4]
    # hostile stored values: text that is not JSON, integers beyond the packed range either side,
    # a list, an unknown step, an answer time before 2024 and one far in the future
    con.execute("UPDATE answers_current SET value = 'không phải JSON {', value_num = NULL"
                " WHERE response_id = ? AND step_id = 'q_age'", (a,))
    con.execute("UPDATE answers_current SET value = '2048', value_num = 2048 WHERE response_id = ? AND step_id = 'q_age'",
                (b,))
    con.execute("UPDATE answers_current SET value = '-2049', value_num = -2049"
                " WHERE response_id = ? AND step_id = 'q_age'", (c,))
    con.execute("UPDATE answers_current SET value = '-2048', value_num = -2048, answered_at = 1.0"
                " WHERE response_id = ? AND step_id = 'q_age'", (d,))
    con.execute("UPDATE answers_current SET value = ?, value_num = ? WHERE response_id = ? AND step_id = 'q_sex'",
                (str(2**40), 2**40, a))
    con.execute("INSERT INTO answers_current (response_id, step_id, revision, value, value_num, answered_at)"
                " VALUES (?, 'not_a_step', 1, '3', 3, 1.8e9)", (b,))
    con.execute("UPDATE answers_current SET answered_at = 4.0e9 WHERE response_id = ? AND step_id = 'q_sex'", (c,))
    con.commit()
    con.close()
    lr = load_round(db, "LC-2025")
    order = lr.data["response_id"].tolist()
    want, want_para = _reference(db, survey, order)
    _same(lr.data[want.columns], want)
    _same(lr.data[["median_step_s", "answered_steps"]], want_para)
    row_a = lr.data.set_index("response_id").loc[a]
    assert row_a["q_age"] == "không phải JSON {" and row_a["q_sex"] == 2**40
    assert "not_a_step" not in lr.data.columns


def test_packing_round_trips_codes_steps_and_times() -> None:
    for k in (1, 2, 91, 1024, 5000):
        p = Packing.for_steps(k)
        step = np.array([0, k - 1, k // 2], dtype=np.int64)
        value = np.array([-2048, 2047, 0], dtype=np.int64)
        ms = np.array([0, 60 * 365 * 86_400_000, 123_456_789], dtype=np.int64) // p.unit_ms * p.unit_ms
        x = (ms // p.unit_ms << (p.k_bits + 12)) | (step << 12) | (value + 2048)
        assert (x >= 0).all()
        s, v, t = p.unpack(x)
        assert s.tolist() == step.tolist() and v.tolist() == value.tolist() and t.tolist() == ms.tolist()
    assert Packing.for_steps(91).unit_ms == 1          # milliseconds for any real questionnaire


def test_paradata_per_row_median_gap() -> None:
    nan = np.nan
    t = np.array([[0.0, 3000.0, 1000.0, nan],      # sorted 0, 1000, 3000: gaps 1 s, 2 s → 1.5 s
                  [nan, nan, nan, nan],            # nothing answered
                  [5000.0, nan, nan, nan],         # one answer: no gap
                  [4000.0, 0.0, 1000.0, 2000.0]])  # gaps 1, 1, 2 s → 1 s
    p = paradata(t)
    assert p["answered_steps"].tolist() == [3, 0, 1, 4]
    assert p["median_step_s"].tolist()[0] == 1.5 and p["median_step_s"].tolist()[3] == 1.0
    assert np.isnan(p["median_step_s"].tolist()[1]) and np.isnan(p["median_step_s"].tolist()[2])
    assert len(paradata(np.zeros((0, 5)))) == 0


def test_parse_values_in_one_call_and_with_junk() -> None:
    assert parse_values(["[1, 2]", '"chữ"', "3"], [1, 1, 1]) == [[1, 2], "chữ", 3]
    # values SQLite found invalid are parsed one by one: junk stays text, NaN as Python reads it
    got = parse_values(["[1]", "không hợp lệ ]", "4", "NaN"], [1, 0, 1, 0])
    assert got[:3] == [[1], "không hợp lệ ]", 4] and np.isnan(got[3])
    # pieces that would merge into other values if joined are never joined (not valid alone)
    assert parse_values(['"a', 'b"', '1],[2'], [0, 0, 0]) == ['"a', 'b"', '1],[2']
    # a wrong validity flag cannot shift values: the bulk parse is checked, then done one by one
    assert parse_values(['"a', 'b"', '1'], [1, 1, 1]) == ['"a', 'b"', 1]
    assert parse_values([None, "5"], [None, 1]) == [None, 5]


def test_vectors_scan_and_no_vector_table_read_the_same(tmp_path, survey) -> None:
    """Stored vectors, some dropped (read from answers_current), and no vector table at all."""
    db = str(tmp_path / "v.db")
    populate_db(db, survey, 30, seed=5)
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM response_vectors").fetchone()[0] == 30
    con.close()
    full = load_round(db, "LC-2025").data
    con = sqlite3.connect(db)
    con.execute("DELETE FROM response_vectors WHERE response_id % 3 = 0")
    con.commit()
    con.close()
    pd.testing.assert_frame_equal(load_round(db, "LC-2025").data, full)
    con = sqlite3.connect(db)
    con.execute("DROP TABLE response_vectors")
    con.commit()
    con.close()
    pd.testing.assert_frame_equal(load_round(db, "LC-2025").data, full)


def test_responses_asked_in_any_order_and_vector_steps_the_survey_lacks(tmp_path, survey) -> None:
    """Rows come in the order asked; vectors of responses not asked for (in the same id range)
    and answers at steps the survey does not have are skipped, their times too."""
    db = str(tmp_path / "s.db")
    populate_db(db, survey, 30, seed=7)
    steps_t = step_columns(survey)
    steps = [s for s, _ in steps_t]
    special = {s for s, t in steps_t if t in (QuestionType.multi, QuestionType.text)}
    con = sqlite3.connect(db)
    ids = np.array([r for (r,) in con.execute("SELECT response_id FROM response_vectors ORDER BY 1")], dtype=np.int64)
    full, full_para = read_answers_wide(lambda: sqlite3.connect(db), ids, steps, special)
    # a step the survey lacks, answered a year after everything else (it would change the gaps)
    con.execute("UPDATE response_vectors SET steps = steps || char(31) || 'not_a_step',"
                " codes = codes || ',' || ((40000000000 << 12) | 2051) WHERE response_id = ?", (int(ids[0]),))
    con.commit()
    con.close()
    again, again_para = read_answers_wide(lambda: sqlite3.connect(db), ids, steps, special)
    pd.testing.assert_frame_equal(again, full)
    pd.testing.assert_frame_equal(again_para, full_para)
    pick = ids[::3][::-1]
    at = [int(np.flatnonzero(ids == r)[0]) for r in pick]
    sub, sub_para = read_answers_wide(lambda: sqlite3.connect(db), pick, steps, special)
    pd.testing.assert_frame_equal(sub, full.iloc[at].reset_index(drop=True))
    pd.testing.assert_frame_equal(sub_para, full_para.iloc[at].reset_index(drop=True))


def test_many_chunks_in_threads_read_the_same(tmp_path, survey, monkeypatch) -> None:
    """Chunks of 4 responses read by 4 threads (as on a machine with cores to spare), some of
    them without vectors, give the table read as one chunk in this thread."""
    db = str(tmp_path / "t.db")
    populate_db(db, survey, 30, seed=9)
    con = sqlite3.connect(db)
    con.execute("DELETE FROM response_vectors WHERE response_id % 4 = 1")
    con.commit()
    con.close()
    whole = load_round(db, "LC-2025").data
    monkeypatch.setattr(answers_read, "CHUNK", 4)
    monkeypatch.setattr(answers_read.os, "cpu_count", lambda: 8)
    pd.testing.assert_frame_equal(load_round(db, "LC-2025").data, whole)
