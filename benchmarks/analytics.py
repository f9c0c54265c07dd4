"""Analytics benchmark, two parts, each side by side with a baseline measured in the same run.

(a) From the database: N_DB (100 000) stored ``sipas-households`` responses (≈ 2.5 × the
    national survey) in a SQLite database made by storage's migrations, loaded and turned into
    every index with 95% intervals (Wilson + Rao–Wu bootstrap at the design's first stage, B = 1000;
    the bootstrap part is printed: the same analysis without intervals, subtracted), perceptions,
    expectations and quality flags, by every unit level (province, district, commune, village).
    Targets: < 10 s and < 1 GB peak RSS. Each path runs in its own process (so that each peak
    RSS is its own), one after the other on the same database:
    * ``bulk``: the current reader (analytics.answers_read: the packed answer vector stored per
      submitted response, migration 13; rows found per response, answers scattered by numpy into
      cache-sized chunk matrices, paradata per chunk sorted per response row; the cyclic GC
      paused while loading; quality flags without a Python call per row);
    * ``earlier``: the reader before issue 21 (benchmarks/lib/analytics_old_read.py: two packed
      columns, everything held at once, two global sorts of every answer time), the baseline;
    * ``rows``: a row-by-row load (one Python dict per response, ``json.loads`` per answer), the
      obvious way to read the answers table.
    Wall time depends on what else the machine runs: the load average and CPU seconds are printed.
(b) In memory: N_MEM (1 000 000) synthetic responses, all point indices (item, component, pillar,
    overall) by every unit level. Target: < 3 s and ≥ 10× a straightforward per-response Python
    loop; the loop runs on a subsample and is scaled linearly (said in the output).

``--quick``: 10× smaller. Last stdout line: one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.analysis import analyse  # noqa: E402
from benchmarks.lib.machine import cpu_s, describe, machine, peak_rss_mb  # noqa: E402
from analytics.indices import index_items, indices_by_levels  # noqa: E402
from analytics.load import load_round, unit_chains  # noqa: E402
from analytics.settings import AnalyticsSettings  # noqa: E402
from demo.synthetic import hierarchy, populate_db  # noqa: E402
from survey_defs.loader import get_survey  # noqa: E402

LEVELS = ["province", "district", "commune", "village"]


rss_mb = peak_rss_mb


# ---------------------------------------------------------------- part (a)

def row_by_row_load(db: str, round_code: str) -> pd.DataFrame:
    """Baseline loader: read every answer row and build one dict per response in Python."""
    conn = sqlite3.connect(db)
    rid = conn.execute("SELECT id FROM rounds WHERE code = ?", (round_code,)).fetchone()[0]
    units = pd.read_sql_query("SELECT id AS unit_id, kind, code, name, parent_id FROM units", conn)
    chains = unit_chains(units).set_index("unit_id").to_dict("index")
    resp: dict[int, dict] = {}
    for r in conn.execute("SELECT rs.id, p.unit_id, rs.mode, rs.channel, rs.status FROM responses rs"
                          " JOIN respondents p ON p.id = rs.respondent_id WHERE rs.round_id = ?", (rid,)):
        if r[4] == "submitted":
            resp[r[0]] = {"response_id": r[0], "mode": r[2], "channel": r[3], **chains[r[1]]}
    for r in conn.execute("SELECT a.response_id, a.step_id, a.value FROM answers_current a"
                          " JOIN responses rs ON rs.id = a.response_id WHERE rs.round_id = ?", (rid,)):
        row = resp.get(r[0])
        if row is not None:
            v = json.loads(r[2])
            row[r[1]] = float(v) if isinstance(v, int) else v
    conn.close()
    return pd.DataFrame.from_records(list(resp.values()))


def analyse_once(db: str, reader: str, b: int) -> dict:
    """One path, in this (fresh) process: load + every index with intervals; CPU, wall, peak RSS."""
    from benchmarks.lib.analytics_old_read import old_reader

    settings = AnalyticsSettings(bootstrap_b=b)
    rss0 = rss_mb()
    c0, t0 = cpu_s(), time.perf_counter()
    if reader == "rows":
        survey = get_survey("sipas-households")
        data = row_by_row_load(db, "LC-2025")
        kw: dict = {}
    else:
        lr = load_round(db, "LC-2025", **({"reader": old_reader} if reader == "earlier" else {}))
        survey, data = lr.survey, lr.data
        kw = {"units": lr.units, "dispositions": lr.dispositions}
    t_load, c_load = time.perf_counter() - t0, cpu_s() - c0
    a = analyse(data, survey, "LC-2025", settings, groupings=(), **kw)
    t_total, c_total = time.perf_counter() - t0, cpu_s() - c0
    out = {"reader": reader, "load_s": round(t_load, 3), "load_cpu_s": round(c_load, 3),
           "total_s": round(t_total, 3), "total_cpu_s": round(c_total, 3), "peak_rss_mb": round(rss_mb(), 1),
           "rss_before_mb": round(rss0, 1), "overall": float(a.overall.overall.iloc[0]),
           "units": {lv: len(a.levels[lv].keys) for lv in a.levels}}
    if reader == "bulk":      # the bootstrap part: the same analysis without intervals, subtracted
        t1 = time.perf_counter()
        analyse(data, survey, "LC-2025", settings, groupings=(), intervals=False, **kw)
        t_plain = time.perf_counter() - t1
        out.update(plain_s=round(t_plain, 3), bootstrap_part_s=round((t_total - t_load) - t_plain, 3))
    return out


def _child(db: str, reader: str, b: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--role", "analyse", "--db", db, "--reader", reader,
                           "--bootstrap", str(b)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{reader} path failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def part_a(n: int, b: int, workdir: Path, with_rows: bool, keep_db: str | None = None) -> dict:
    survey = get_survey("sipas-households")
    db = keep_db or str(workdir / "bench.db")
    villages = max(20, n // 50)                                 # ≈ 50 households per village
    communes = max(2, villages // 10)
    units = hierarchy(n_districts=8, communes_per_district=max(1, communes // 8), villages_per_commune=10)
    t = time.perf_counter()
    reused = keep_db is not None and Path(keep_db).exists()
    if not reused:
        populate_db(db, survey, n, seed=1, units=units)
    setup_s = time.perf_counter() - t
    con = sqlite3.connect(db)
    n_answers = con.execute("SELECT COUNT(*) FROM answers_current").fetchone()[0]
    n = con.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    con.close()
    print(f"(a) setup: {n:,} responses, {n_answers:,} current answers, {len(units):,} villages, "
          + (f"reused from {db}" if reused else f"written in {setup_s:.1f} s (bulk insert, not measured)"))
    m0 = machine()
    print("(a) " + describe(m0))
    res = {r: _child(db, r, b) for r in (["bulk", "earlier"] + (["rows"] if with_rows else []))}
    m1 = machine()
    new = res["bulk"]
    for r, x in res.items():
        assert abs(x["overall"] - new["overall"]) < 1e-9, f"{r} disagrees with the bulk reader"
        print(f"(a) {r:8s}: load {x['load_s']:6.2f} s ({x['load_cpu_s']:.2f} CPU-s), load + indices with intervals "
              f"(B={b}) {x['total_s']:6.2f} s wall, {x['total_cpu_s']:6.2f} CPU-s; peak RSS {x['peak_rss_mb']:.0f} MB "
              f"(process before: {x['rss_before_mb']:.0f} MB)")
    print(f"(a) units {new['units']}; overall {new['overall']:.2f}%")
    print(f"(a) bootstrap part (intervals, Rao–Wu at the design's first stage, B={b}): "
          f"{new['bootstrap_part_s']:.2f} s wall (analysis without intervals: {new['plain_s']:.2f} s)")
    old = res["earlier"]
    print(f"(a) bulk against the earlier reader: load {old['load_cpu_s'] / new['load_cpu_s']:.1f}× less CPU, "
          f"total {old['total_cpu_s'] / new['total_cpu_s']:.1f}× less CPU, {old['total_s'] / new['total_s']:.1f}× "
          f"less wall time, peak RSS {old['peak_rss_mb']:.0f} → {new['peak_rss_mb']:.0f} MB")
    print("(a) " + describe(m1))
    ok = new["total_s"] < 10 and new["peak_rss_mb"] < 1024
    ok_cpu = new["total_cpu_s"] < 10 and new["peak_rss_mb"] < 1024
    print(f"(a) target < 10 s and < 1024 MB: {'MET' if ok else 'NOT MET'} in wall time, "
          f"{'MET' if ok_cpu else 'NOT MET'} in CPU seconds (load average {m1['loadavg_1m']} on {m1['cpus']} CPUs)")
    out = {"a_responses": n, "a_answers": n_answers, "a_bootstrap_b": b,
           "a_load_s": new["load_s"], "a_load_cpu_s": new["load_cpu_s"], "a_bootstrap_part_s": new["bootstrap_part_s"],
           "a_total_s": new["total_s"], "a_total_cpu_s": new["total_cpu_s"], "a_peak_rss_mb": new["peak_rss_mb"],
           "a_earlier_load_s": old["load_s"], "a_earlier_load_cpu_s": old["load_cpu_s"],
           "a_earlier_total_s": old["total_s"], "a_earlier_total_cpu_s": old["total_cpu_s"],
           "a_earlier_peak_rss_mb": old["peak_rss_mb"],
           "a_load_cpu_ratio": round(old["load_cpu_s"] / new["load_cpu_s"], 2),
           "a_total_cpu_ratio": round(old["total_cpu_s"] / new["total_cpu_s"], 2),
           "a_total_ratio": round(old["total_s"] / new["total_s"], 2),
           "a_target_met": ok, "a_target_met_cpu": ok_cpu, "a_machine_start": m0, "a_machine_end": m1}
    if with_rows:
        rows = res["rows"]
        out.update(a_rows_total_s=rows["total_s"], a_rows_total_cpu_s=rows["total_cpu_s"],
                   a_rows_peak_rss_mb=rows["peak_rss_mb"],
                   a_rows_total_cpu_ratio=round(rows["total_cpu_s"] / new["total_cpu_s"], 2))
    return out


# ---------------------------------------------------------------- part (b)

def synthetic_satisfaction(n: int, items: list, seed: int = 3) -> pd.DataFrame:
    """1 M responses: unit chain (2 000 villages) + the 39 satisfaction answers (vectorised)."""
    rng = np.random.default_rng(seed)
    units = hierarchy(n_districts=8, communes_per_district=25, villages_per_commune=10)
    v = rng.integers(0, len(units), n)
    df = units.iloc[v].reset_index(drop=True)
    mood = rng.normal(0, 0.6, len(units))[v] + rng.normal(0, 0.8, n)
    cols = {}
    for it in items:
        x = np.clip(np.round(4.3 + mood + rng.normal(0, 1.0, n)), 1, 5)
        x[rng.random(n) < 0.02] = np.nan
        cols[it.step_id] = x
    return pd.concat([df, pd.DataFrame(cols)], axis=1)


def python_loop_indices(records: list[dict], items: list) -> dict:
    """Baseline: one pass per response in plain Python, counters per level, unit and item, then
    the same formulas (item %, component and pillar means, pooled overall)."""
    sat = {lv: defaultdict(lambda: defaultdict(int)) for lv in LEVELS}
    val = {lv: defaultdict(lambda: defaultdict(int)) for lv in LEVELS}
    for r in records:
        for it in items:
            x = r[it.step_id]
            if x != x or x not in it.valid:
                continue
            s = x in it.satisfied
            for lv in LEVELS:
                u = r[f"{lv}_id"]
                val[lv][u][it.step_id] += 1
                if s:
                    sat[lv][u][it.step_id] += 1
    out = {}
    for lv in LEVELS:
        res = {}
        for u, vv in val[lv].items():
            idx = {k: 100.0 * sat[lv][u][k] / c for k, c in vv.items() if c}
            comps, pils = defaultdict(list), defaultdict(list)
            for it in items:
                if it.step_id in idx:
                    comps[it.component].append(idx[it.step_id])
                    pils[it.pillar].append(idx[it.step_id])
            res[u] = {"overall": sum(idx.values()) / len(idx) if idx else float("nan"),
                      "components": {c: sum(x) / len(x) for c, x in comps.items()},
                      "pillars": {p: sum(x) / len(x) for p, x in pils.items()}}
        out[lv] = res
    return out


def part_b(n: int, sub: int) -> dict:
    survey = get_survey("sipas-households")
    items = index_items(survey)
    t = time.perf_counter()
    df = synthetic_satisfaction(n, items)
    print(f"(b) setup: {n:,} synthetic responses × {len(items)} satisfaction items in "
          f"{time.perf_counter() - t:.1f} s (not measured)")
    t0 = time.perf_counter()
    tables = indices_by_levels(df, items, LEVELS)
    t_fast = time.perf_counter() - t0
    print(f"(b) hailong: all point indices by {len(tables)} unit levels "
          f"({', '.join(f'{lv} {len(tables[lv].keys)}' for lv in tables)}) in {t_fast:.3f} s")
    subset = df.iloc[:sub]
    records = subset.to_dict("records")
    t0 = time.perf_counter()
    loop = python_loop_indices(records, items)
    t_sub = time.perf_counter() - t0
    t_loop = t_sub * n / sub
    # the two agree on the subsample
    check = indices_by_levels(subset, items, LEVELS)
    u0 = check["district"].keys["district_id"].iloc[0]
    assert abs(loop["district"][u0]["overall"] - float(check["district"].overall.iloc[0])) < 1e-9
    ratio = t_loop / t_fast
    print(f"(b) baseline per-response Python loop: {t_sub:.2f} s on a {sub:,}-response subsample, "
          f"scaled linearly to {n:,}: {t_loop:.1f} s; hailong is {ratio:.0f}× faster")
    ok = t_fast < 3 and ratio >= 10
    print(f"(b) target < 3 s and ≥ 10×: {'MET' if ok else 'NOT MET'}")
    return {"b_responses": n, "b_points_s": round(t_fast, 3), "b_baseline_subsample": sub,
            "b_baseline_subsample_s": round(t_sub, 3), "b_baseline_scaled_s": round(t_loop, 2),
            "b_ratio": round(ratio, 1), "b_target_met": ok}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10× smaller")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--no-rows", action="store_true", help="skip the row-by-row path (slow at full size)")
    ap.add_argument("--keep-db", default=None, metavar="PATH",
                    help="database of part (a): made there if missing, reused if present (setup takes minutes)")
    ap.add_argument("--role", default="bench", help=argparse.SUPPRESS)
    ap.add_argument("--db", default="", help=argparse.SUPPRESS)
    ap.add_argument("--reader", default="bulk", choices=["bulk", "earlier", "rows"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "analyse":
        print(json.dumps(analyse_once(args.db, args.reader, args.bootstrap)))
        return
    scale = 10 if args.quick else 1
    with tempfile.TemporaryDirectory(prefix="hailong-bench-") as d:
        ra = part_a(100_000 // scale, args.bootstrap, Path(d), with_rows=not args.no_rows, keep_db=args.keep_db)
    rb = part_b(1_000_000 // scale, 50_000 // scale)
    print(json.dumps({"benchmark": "analytics", "quick": args.quick, **ra, **rb, "machine_end": machine()}))


if __name__ == "__main__":
    main()
