"""Durable answers per second: naive commit-per-answer vs the group-commit writer.

Both variants store exactly the same rows per answer (processed update key, the engine state's
cursor, the answer revision and its current value, the paradata rows the step changed, the
respondent's status) with the same durability (WAL, synchronous=FULL: every acknowledged answer
is fsynced) on a fresh database file:

(a) naive: one aiosqlite connection, one transaction per answer (BEGIN … COMMIT under a lock,
    every statement awaited), i.e. what a hand-written aiosqlite bot does;
(b) hailong: ``SqliteConversationStore.commit_step`` through the group-commit writer.

Each simulated citizen answers the ``sipas-households`` questionnaire step after step (its
engine state grows as in a real conversation) and waits for each answer to be durable before the
next one. At 1, 100 and 10 000 concurrent citizens, each variant gets its own database (every
citizen has answered a third of the questionnaire first), then timed trials alternate between the
variants (this 2-core machine is shared: its speed drifts by up to 2× over minutes, and
alternating puts a slow spell on both). The process runs with ``hailong run``'s interpreter
settings (``hailong.run.tune_process``). Prints a table and, as the last line, a JSON object with the
median and best trial of every figure and the ratios.

    .venv/bin/python benchmarks/storage.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiosqlite  # noqa: E402

from benchmarks.lib.machine import describe  # noqa: E402
from benchmarks.lib.machine import machine as machine_load  # noqa: E402
from engine import compile_survey  # noqa: E402
from engine.types import AnswerMeta, AnswerSet, State  # noqa: E402
from hailong.run import tune_process  # noqa: E402
from storage.api import Session  # noqa: E402
from storage.conversations import SqliteConversationStore  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.state_rows import cursor_json, step_delta  # noqa: E402
from storage.step_write import STATS as STEP_STATS  # noqa: E402
from demo.seed import seed_round  # noqa: E402
from survey_defs.loader import get_survey  # noqa: E402

CHANNEL = "bench"


@dataclass
class Result:
    variant: str
    concurrency: int
    answers: int
    seconds: float
    cpu_seconds: float
    batches: int | None = None
    writer_cpu_seconds: float = 0.0

    @property
    def writer_cpu_us_per_answer(self) -> float:
        """CPU time of the thread that writes (hailong's writer thread, aiosqlite's connection
        thread) per durable answer: the writer's own cost, fair under other load."""
        return 1e6 * self.writer_cpu_seconds / self.answers if self.answers else 0.0

    @property
    def rate(self) -> float:
        return self.answers / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_per_answer(self) -> float:
        """Process CPU (all threads) per durable answer: robust to other load on a shared machine."""
        return 1000.0 * self.cpu_seconds / self.answers if self.answers else 0.0


class Citizen:
    """A citizen's conversation, advanced without the engine (this measures storage only).

    Like the engine, each step returns a NEW State (copy on write: the answers, paradata and trail
    containers are copied, the paradata entry of the answered step and of the next asked step are
    new objects, the others shared), and the session moves on to the committed state, as a
    channel that loads its session before each update would see it.
    """

    __slots__ = ("session", "k", "steps")

    def __init__(self, session: Session, steps: list[str]) -> None:
        self.session = session
        self.k = 0
        self.steps = steps

    def next_answer(self, t: float) -> tuple[State, tuple[AnswerSet, ...], str]:
        n = len(self.steps)
        step_id = self.steps[self.k % n]
        nxt = self.steps[(self.k + 1) % n]
        value = (self.k // n) % 5 + 1        # a later pass changes every answer (a new revision)
        old = self.session.state
        answers = dict(old.answers)
        answers[step_id] = value
        meta = dict(old.meta)
        m = meta.get(step_id)
        meta[step_id] = (AnswerMeta(asked_at=t - 3.0, answered_at=t, changes=0) if m is None else
                         AnswerMeta(asked_at=m.asked_at, answered_at=t, changes=m.changes + 1))
        if nxt not in meta:
            meta[nxt] = AnswerMeta(asked_at=t)
        trail = old.trail if step_id in old.trail else [*old.trail, step_id]
        st = State(old.survey_id, old.survey_hash, old.lang, "active", None, nxt, answers, [], trail, meta,
                   old.seq + 1)
        self.k += 1
        return st, (AnswerSet(step_id, value, t),), f"{self.session.respondent_id}:{self.k}"

    def committed(self, st: State) -> None:
        s = self.session
        self.session = Session(s.respondent_id, s.response_id, s.round_id, st, s.channel, s.chat_id)


async def _prepare(path: Path, n: int) -> tuple[Database, list[Citizen], SqliteConversationStore]:
    """A fresh database with a round of ``n`` respondents who each opened their response."""
    survey = get_survey("sipas-households")
    steps = [s.id for s in compile_survey(survey).steps if not s.is_note]
    db = await Database.open(path)
    seeded = await seed_round(db, survey, respondents=n, communes=10, quota=n // 10 + 1)

    store = SqliteConversationStore(db)
    citizens = []
    for r in seeded.respondents:
        claim = await store.claim_invite(r.token, CHANNEL, f"chat{r.id}")
        assert claim.session is not None
        citizens.append(Citizen(claim.session, steps))

    async def warm(c: Citizen) -> None:
        st, events, _ = c.next_answer(time.time())
        assert await store.commit_step(c.session, st, events, CHANNEL, f"warm:{c.session.respondent_id}:{c.k}")
        c.committed(st)

    # warm up: every citizen has answered a third of the questionnaire (realistic state size)
    for _ in range(len(steps) // 3):
        await asyncio.gather(*(warm(c) for c in citizens))
    return db, citizens, store


class Stop:
    """Shared stop flag: citizens still queued when time is up do not start another answer."""

    def __init__(self) -> None:
        self.stopped = False


async def _drive(citizens: list[Citizen], commit, seconds: float, stop: Stop) -> tuple[int, float, float]:
    """Every citizen answers in a loop for ``seconds``; returns (durable answers, wall s, CPU s)."""
    done = 0

    async def run(c: Citizen) -> None:
        nonlocal done
        while not stop.stopped:
            st, events, key = c.next_answer(time.time())
            ok = await commit(c, st, events, key)
            if ok is None:      # time was up before this answer started: not counted, not stored
                return
            if ok is not True:
                raise RuntimeError("commit refused")
            c.committed(st)
            done += 1

    t0 = time.perf_counter()
    c0 = time.process_time()
    tasks = [asyncio.ensure_future(run(c)) for c in citizens]
    await asyncio.sleep(seconds)
    stop.stopped = True
    await asyncio.gather(*tasks)
    return done, time.perf_counter() - t0, time.process_time() - c0


@dataclass
class Variant:
    """One variant at one level: its prepared conversations and its commit function."""

    name: str
    citizens: list[Citizen]
    commit: Callable[..., Awaitable[bool | None]]
    stop: Stop
    close: Callable[[], Awaitable[None]]
    batches: Callable[[], int] | None = None
    writer_cpu: Callable[[], float] = lambda: 0.0

    async def trial(self, seconds: float) -> Result:
        self.stop.stopped = False
        b0 = self.batches() if self.batches else None
        w0 = self.writer_cpu()
        done, secs, cpu = await _drive(self.citizens, self.commit, seconds, self.stop)
        batches = self.batches() - b0 if self.batches else None
        return Result(self.name, len(self.citizens), done, secs, cpu, batches, self.writer_cpu() - w0)


def _thread_cpu(ident: int | None) -> Callable[[], float]:
    """The CPU time of thread ``ident`` so far (Linux: its own CPU clock)."""
    assert ident is not None
    clock = time.pthread_getcpuclockid(ident)
    return lambda: time.clock_gettime(clock)


async def prepare_group(path: Path, n: int) -> Variant:
    db, citizens, store = await _prepare(path, n)

    async def commit(c: Citizen, st: State, events, key: str) -> bool:
        return await store.commit_step(c.session, st, events, CHANNEL, key)

    return Variant("group", citizens, commit, Stop(), db.close, lambda: db.writer.stats.batches,
                   lambda: db.writer.stats.cpu_s)


async def prepare_naive(path: Path, n: int) -> Variant:
    db, citizens, _ = await _prepare(path, n)
    await db.close()
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("PRAGMA synchronous = FULL")
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute("PRAGMA busy_timeout = 15000")
    lock = asyncio.Lock()
    stop = Stop()

    async def commit(c: Citizen, st: State, events, key: str) -> bool | None:
        s = c.session
        ev = events[0]
        vjson = json.dumps(ev.value)
        delta = step_delta(s.response_id, s.state, st)   # the same rows hailong writes
        assert delta is not None
        at = time.time()
        async with lock:
            if stop.stopped:
                return None
            await conn.execute("BEGIN IMMEDIATE")
            try:
                cur = await conn.execute("INSERT INTO processed_updates (channel, update_key, at) VALUES (?, ?, ?)"
                                         " ON CONFLICT DO NOTHING", (CHANNEL, key, at))
                if cur.rowcount == 0:
                    await conn.execute("ROLLBACK")
                    return False
                await conn.execute("UPDATE responses SET state = ?, status = ?, outcome = ?, lang = ?, channel = ?,"
                                   " updated_at = ?, state_rev = state_rev + 1 WHERE id = ?",
                                   (cursor_json(st), st.status, st.outcome, st.lang, CHANNEL, at, s.response_id))
                async with conn.execute("SELECT value, revision FROM answers_current WHERE response_id = ?"
                                        " AND step_id = ?", (s.response_id, ev.step_id)) as c2:
                    row = await c2.fetchone()
                rev = (row[1] if row else 0) + 1
                await conn.execute("INSERT INTO answers (response_id, step_id, revision, value, value_num, cleared,"
                                   " answered_at, asked_at, channel) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
                                   (s.response_id, ev.step_id, rev, vjson, ev.value, ev.at, at - 3, CHANNEL))
                # the current value beside the history, as hailong writes it (no trigger since migration 14)
                await conn.execute("INSERT INTO answers_current (response_id, step_id, revision, value, value_num,"
                                   " answered_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (response_id, step_id)"
                                   " DO UPDATE SET revision = excluded.revision, value = excluded.value,"
                                   " value_num = excluded.value_num, answered_at = excluded.answered_at",
                                   (s.response_id, ev.step_id, rev, vjson, ev.value, ev.at))
                await conn.executemany("INSERT INTO response_steps (response_id, step_id, asked_at, answered_at,"
                                       " changes, trail_pos) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (response_id,"
                                       " step_id) DO UPDATE SET asked_at = excluded.asked_at, answered_at ="
                                       " excluded.answered_at, changes = excluded.changes, trail_pos ="
                                       " excluded.trail_pos", delta)
                await conn.execute("UPDATE respondents SET status = 'started', started_at = COALESCE(started_at, ?)"
                                   " WHERE id = ? AND status IN ('sampled', 'invited', 'opened')",
                                   (at, s.respondent_id))
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
        return True

    return Variant("naive", citizens, commit, stop, conn.close, None, _thread_cpu(conn._thread.ident))


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else 0.0


async def run_level(tmp: str, n: int, seconds: float, trials: int) -> dict[str, list[Result]]:
    """Both variants on their own fresh database; trials alternate between them, so a slow
    spell of this shared machine lands on both alike."""
    variants = [await prepare_naive(Path(tmp) / f"naive-{n}.db", n), await prepare_group(Path(tmp) / f"group-{n}.db", n)]
    # The process runs as `hailong run` does (interpreter settings: garbage collector, GIL
    # switch interval), for both variants alike.
    tune_process()
    out: dict[str, list[Result]] = {"naive": [], "group": []}
    try:
        for t in range(trials):
            for v in variants:
                r = await v.trial(seconds)
                out[v.name].append(r)
                extra = f", {r.answers / r.batches:.0f} answers per commit" if r.batches else ""
                print(f"  {v.name:5s} {n:>6} concurrent, trial {t + 1}: {r.rate:>9,.0f} durable answers/s "
                      f"({r.answers} in {r.seconds:.2f} s, {r.cpu_ms_per_answer:.3f} CPU-ms/answer, "
                      f"writer {r.writer_cpu_us_per_answer:.1f} CPU-µs/answer{extra})", flush=True)
    finally:
        for v in variants:
            await v.close()
        gc.unfreeze()
        for f in Path(tmp).glob(f"*-{n}.db*"):
            f.unlink()
    return out


def machine_speed(tmp: str) -> dict[str, float]:
    """How fast this shared machine is right now: a fixed pure-Python loop and a 4 KiB fsync.

    Printed with the results so that runs on a slow spell can be told from a regression (the
    same code has measured 1.5-2× apart on this 2-core VM within the same hour)."""
    t0 = time.perf_counter()
    x = 0
    for i in range(2_000_000):
        x += i
    spin_ms = (time.perf_counter() - t0) * 1000
    path = Path(tmp) / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    lat = []
    try:
        for _ in range(9):
            os.write(fd, b"x" * 4096)
            t0 = time.perf_counter()
            os.fsync(fd)
            lat.append((time.perf_counter() - t0) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    return {"python_loop_2M_ms": round(spin_ms, 1), "fsync_4k_ms": round(statistics.median(lat), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller counts and shorter runs (CI)")
    ap.add_argument("--levels", help="comma-separated concurrency levels instead of the default ones")
    args = ap.parse_args()
    levels = [1, 100, 2000] if args.quick else [1, 100, 10_000]
    if args.levels:
        levels = [int(x) for x in args.levels.split(",")]
    seconds = 0.8 if args.quick else 3.0
    trials = 2 if args.quick else 3
    by: dict[tuple[str, int], list[Result]] = {}
    bulk0 = (STEP_STATS.bulk_ops, STEP_STATS.one_by_one_ops)
    load0 = machine_load()
    print(describe(load0), flush=True)
    with tempfile.TemporaryDirectory(prefix="hailong-bench-") as tmp:
        machine = machine_speed(tmp)
        print(f"machine now: pure-Python loop of 2M steps {machine['python_loop_2M_ms']:.0f} ms, "
              f"fsync of 4 KiB {machine['fsync_4k_ms']:.2f} ms", flush=True)
        for n in levels:
            for name, rs in asyncio.run(run_level(tmp, n, seconds, trials)).items():
                by[(name, n)] = rs
    bulk_ops, lone_ops = STEP_STATS.bulk_ops - bulk0[0], STEP_STATS.one_by_one_ops - bulk0[1]

    def med(name: str, n: int) -> float:
        return _median([r.rate for r in by[(name, n)]])

    def best(name: str, n: int) -> float:
        return max(r.rate for r in by[(name, n)])

    print()
    print(f"{'concurrent':>10} | {'naive (a) answers/s':>20} | {'group commit (b) answers/s':>27} | {'b / a':>6}"
          f"   (median of {trials} trials; best in brackets)")
    print("-" * 96)
    ratios = {}
    for n in levels:
        ratios[n] = med("group", n) / med("naive", n) if med("naive", n) else float("inf")
        print(f"{n:>10} | {med('naive', n):>11,.0f} [{best('naive', n):>6,.0f}] | "
              f"{med('group', n):>18,.0f} [{best('group', n):>6,.0f}] | {ratios[n]:>5.1f}x")
    top = levels[-1]
    target_rate, target_ratio, target_writer_us = 25_000, 5.0, 31.0
    writer_us = _median([r.writer_cpu_us_per_answer for r in by[("group", top)]])
    writer_met = writer_us <= target_writer_us
    met = med("group", top) >= target_rate and ratios[top] >= target_ratio
    met_best = best("group", top) >= target_rate and best("group", top) / best("naive", top) >= target_ratio
    load1 = machine_load()
    print(describe(load1))
    for name in ("naive", "group"):
        print(f"{name:5s} answers per CPU-second at {top} concurrent: "
              f"{1000 / _median([r.cpu_ms_per_answer for r in by[(name, top)]]):,.0f}; writer thread "
              f"{_median([r.writer_cpu_us_per_answer for r in by[(name, top)]]):.1f} CPU-µs per answer")
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1):
        print(f"note: load average {load:.1f} on {os.cpu_count()} CPUs: other processes share this machine, "
              "wall-clock rates are depressed; CPU-ms per answer is the load-robust figure")
    print(f"\ntarget at {top} concurrent: ≥ {target_rate:,} answers/s and ≥ {target_ratio:.0f}× naive: "
          f"median {'met' if met else 'NOT met'}, best trial {'met' if met_best else 'NOT met'}"
          + (" (quick run: smaller counts)" if args.quick else ""))
    print(f"target at {top} concurrent: writer ≤ {target_writer_us:.0f} CPU-µs per answer: "
          f"{writer_us:.1f}, {'met' if writer_met else 'NOT met'}")
    print(json.dumps({
        "benchmark": "storage",
        "quick": args.quick,
        "durability": "WAL + synchronous=FULL (fsync per commit)",
        "seconds_per_trial": seconds,
        "trials": trials,
        "naive_answers_per_s": {str(n): round(med("naive", n), 1) for n in levels},
        "group_answers_per_s": {str(n): round(med("group", n), 1) for n in levels},
        "naive_best_answers_per_s": {str(n): round(best("naive", n), 1) for n in levels},
        "group_best_answers_per_s": {str(n): round(best("group", n), 1) for n in levels},
        "group_answers_per_commit": {str(n): round(sum(r.answers for r in by[("group", n)])
                                                   / max(1, sum(r.batches or 0 for r in by[("group", n)])), 1)
                                     for n in levels},
        "group_bulk_share": round(bulk_ops / max(1, bulk_ops + lone_ops), 3),
        "ratio": {str(n): round(ratios[n], 2) for n in levels},
        "naive_cpu_ms_per_answer": {str(n): round(_median([r.cpu_ms_per_answer for r in by[("naive", n)]]), 4)
                                    for n in levels},
        "group_cpu_ms_per_answer": {str(n): round(_median([r.cpu_ms_per_answer for r in by[("group", n)]]), 4)
                                    for n in levels},
        "naive_writer_cpu_us_per_answer": {str(n): round(_median([r.writer_cpu_us_per_answer
                                                                  for r in by[("naive", n)]]), 2) for n in levels},
        "group_writer_cpu_us_per_answer": {str(n): round(_median([r.writer_cpu_us_per_answer
                                                                  for r in by[("group", n)]]), 2) for n in levels},
        "naive_answers_per_cpu_s": {str(n): round(1000 / _median([r.cpu_ms_per_answer for r in by[("naive", n)]]), 1)
                                    for n in levels},
        "group_answers_per_cpu_s": {str(n): round(1000 / _median([r.cpu_ms_per_answer for r in by[("group", n)]]), 1)
                                    for n in levels},
        "load_average_1m": round(os.getloadavg()[0], 2),
        "machine_start": load0, "machine_end": load1,
        "machine": machine,
        "baseline": "naive aiosqlite commit-per-answer",
        "target_answers_per_s": target_rate,
        "target_ratio": target_ratio,
        "target_met": met,
        "target_met_best_trial": met_best,
        "target_writer_cpu_us_per_answer": target_writer_us,
        "target_writer_met": writer_met,
        "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
