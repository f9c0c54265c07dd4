"""What personal data protection costs: the consent-receipt trigger on the answer hot path, masking
of free text, and a round purge.

1. Answers stored with the consent trigger (migration 0011) against the same inserts with the
   trigger dropped, on two fresh databases in the same process, alternating trials: the ratio is
   the trigger's cost on every answer row (it must stay near 1: the trigger's WHEN clause is one
   indexed look-up, a receipt is written only for the consent step).
2. ``storage.redact.mask`` per free-text answer (a typical 200-character comment with a name and
   a phone number) against ``str.lower`` of the same text as a floor.
3. ``storage.purge.purge_round`` of a closed round of N respondents (with the VACUUM).

    .venv/bin/python benchmarks/privacy.py [--quick]

Prints a table and, as the last line, a JSON object with the figures and ratios.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncio  # noqa: E402

from demo.synthetic import populate_db  # noqa: E402
from storage.db import Database, connect_writer  # noqa: E402
from storage.purge import purge_round  # noqa: E402
from storage.redact import mask  # noqa: E402
from storage.rounds import create_round  # noqa: E402
from survey_defs.loader import get_survey  # noqa: E402

COMMENT = ("Tôi là Nguyễn Văn An ở bản Nà Cại, sđt 0912 345 678. Cán bộ một cửa nhiệt tình nhưng phải chờ 3 ngày, "
           "phí 150.000 đồng năm 2025; mong xã bố trí thêm ghế ngồi và bảng hướng dẫn. Email an.nv@gmail.com")


async def _prepare(path: str, drop_trigger: bool) -> tuple[int, str]:
    db = await Database.open(path)
    try:
        survey = get_survey("sipas-households")
        rnd = await create_round(db, code="B", survey=survey)
        if drop_trigger:
            await db.write(lambda c: c.execute("DROP TRIGGER answers_consent_receipt"))
        return rnd.id, rnd.survey_hash
    finally:
        await db.close()


def _insert_answers(path: str, round_id: int, survey_hash: str, responses: int, steps: list[str]) -> float:
    """Seconds to insert ``responses`` × ``steps`` answer rows, one transaction per response."""
    conn = connect_writer(path)
    try:
        conn.execute("PRAGMA synchronous = OFF")     # measure the statements, not the disk
        base = conn.execute("SELECT COALESCE(MAX(id), 0) FROM respondents").fetchone()[0]
        unit = conn.execute("INSERT INTO units (frame, kind, code, name) VALUES ('b', 'province', ?, 'x')"
                            " RETURNING id", (f"P{base}",)).fetchone()[0]
        t0 = time.perf_counter()
        for i in range(responses):
            pid = base + i + 1
            conn.execute("BEGIN")
            conn.execute("INSERT INTO respondents (id, round_id, unit_id, selection_reason, token, card_code,"
                         " created_at) VALUES (?, ?, ?, 'b', ?, ?, 0)",
                         (pid, round_id, unit, f"tok-bench-{pid:018d}", f"C{pid}"))
            rid = conn.execute("INSERT INTO responses (respondent_id, round_id, survey_hash, state, started_at,"
                               " updated_at) VALUES (?, ?, ?, '{}', 0, 0) RETURNING id",
                               (pid, round_id, survey_hash)).fetchone()[0]
            conn.executemany("INSERT INTO answers (response_id, step_id, revision, value, value_num, answered_at)"
                             " VALUES (?, ?, 1, '1', 1, 0)", [(rid, s) for s in steps])
            conn.execute("COMMIT")
        return time.perf_counter() - t0
    finally:
        conn.close()


def bench_trigger(tmp: Path, responses: int, trials: int) -> dict[str, float]:
    steps = [q.id for q in get_survey("sipas-households").questions][:60]
    with_t, without_t = str(tmp / "with.db"), str(tmp / "without.db")
    a = asyncio.run(_prepare(with_t, False))
    b = asyncio.run(_prepare(without_t, True))
    tw, to = [], []
    for _ in range(trials):      # alternate: a slow spell of the shared machine hits both
        tw.append(_insert_answers(with_t, *a, responses, steps))
        to.append(_insert_answers(without_t, *b, responses, steps))
    receipts = sqlite3.connect(with_t).execute("SELECT COUNT(*) FROM consent_receipts").fetchone()[0]
    rows = responses * len(steps)
    return {"rows_per_trial": rows, "with_trigger_rows_s": rows / statistics.median(tw),
            "without_trigger_rows_s": rows / statistics.median(to),
            "trigger_cost_ratio": statistics.median(tw) / statistics.median(to), "receipts": receipts}


def bench_mask(n: int) -> dict[str, float]:
    names = ["Nguyễn Văn An"]
    t0 = time.perf_counter()
    for _ in range(n):
        mask(COMMENT, names)
    t_mask = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for _ in range(n):
        COMMENT.lower()
    t_lower = (time.perf_counter() - t0) / n
    return {"mask_us": t_mask * 1e6, "lower_us": t_lower * 1e6, "mask_vs_lower": t_mask / t_lower}


def bench_purge(tmp: Path, n: int) -> dict[str, float]:
    path = str(tmp / "purge.db")
    populate_db(path, get_survey("sipas-households"), n, seed=3, round_code="P")
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany("INSERT INTO contacts (respondent_id, name, phone) VALUES (?, ?, ?)",
                         [(r[0], f"Người {r[0]}", f"09{r[0]:08d}") for r in conn.execute("SELECT id FROM respondents")])
        conn.execute("UPDATE rounds SET status = 'closed', closed_at = 1, recheck_share = 0")
    conn.close()
    size = Path(path).stat().st_size
    t0 = time.perf_counter()
    rep = purge_round(path, "P", actor="bench")
    return {"respondents": n, "purge_s": time.perf_counter() - t0, "db_mb": size / 1e6,
            "wal_truncated": bool(rep.wal_truncated)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller counts (CI)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        trig = bench_trigger(tmp, 300 if args.quick else 2000, 3 if args.quick else 5)
        m = bench_mask(500 if args.quick else 5000)
        p = bench_purge(tmp, 500 if args.quick else 5000)
    print(f"answer rows/s with the consent trigger: {trig['with_trigger_rows_s']:,.0f}, without: "
          f"{trig['without_trigger_rows_s']:,.0f} (cost ratio {trig['trigger_cost_ratio']:.3f})")
    print(f"masking one comment: {m['mask_us']:.1f} µs ({m['mask_vs_lower']:.0f}× str.lower)")
    print(f"purge of {p['respondents']} respondents ({p['db_mb']:.1f} MB): {p['purge_s']:.2f} s, WAL truncated: "
          f"{p['wal_truncated']}")
    print(json.dumps({"quick": args.quick, "trigger": trig, "mask": m, "purge": p,
                      "ratio": round(trig["trigger_cost_ratio"], 4)}))


if __name__ == "__main__":
    main()
