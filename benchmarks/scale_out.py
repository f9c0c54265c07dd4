"""Scale-out: durable answers/s with 1, 2 and 4 worker processes on PostgreSQL, beside one SQLite
process in the same run; and the outbox's sent messages/s against the shared cap with 2 workers.

Answers: the same citizens (scripted, ``demo.seed.scripted_input``) answer the real
``sipas-households`` questionnaire through ``SqliteConversationStore`` — chat lock, load,
engine step, ``commit_step`` (durable on return: group commit, ``synchronous_commit = on``) —
spread over W worker processes that start together. "Answers per CPU-second" divides by the
CPU time of the workers *and* of the local PostgreSQL server's processes during the run
(/proc; on a shared machine the server also serves others, which this counts too).

Outbox: M messages queued; 2 worker processes run ``hailong run``'s outbox loop
(``fieldwork.outbox.OutboxSender`` with a ``SendBudget``): take tokens from the shared budget
(``storage.send_budget``, cap ``--cap`` messages/s), claim that many rows (``FOR UPDATE SKIP
LOCKED``), "send" them (the platform call is a no-op here: the cap is what is measured) and
mark each sent. Every sent id is reported by its worker: the parent counts duplicates and rows
left unsent.

PostgreSQL: ``$HAILONG_BENCH_POSTGRES``, else ``$HAILONG_TEST_POSTGRES``, else
postgresql://postgres@127.0.0.1:5432/test; each run uses a fresh schema, dropped afterwards.
The last line is one JSON object (``ratio``: 2-worker PostgreSQL answers/s over SQLite's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

SURVEY = "sipas-households"
CHANNEL = "telegram"


def _server() -> str:
    return (os.environ.get("HAILONG_BENCH_POSTGRES") or os.environ.get("HAILONG_TEST_POSTGRES")
            or "postgresql://postgres@127.0.0.1:5432/test")


def _server_cpu() -> float:
    """CPU seconds used so far by the local PostgreSQL server's processes (0 if it is remote).

    A connection's backend process may start and end between two samples: its time is then in
    the postmaster's ``cutime``/``cstime`` (children waited for), so those are counted too."""
    ticks = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)
            if not fields[0].endswith("(postgres"):
                continue
            rest = fields[1].split()
            ticks += int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])   # u/s time, children's
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ worker processes

async def answer_worker(url: str, first: int, count: int, start_at: float) -> dict[str, Any]:
    from engine import step
    from storage.conversations import SqliteConversationStore
    from storage.db import Database
    from storage.respondents import list_respondents
    from storage.rounds import list_rounds
    from demo.seed import scripted_input

    db = await Database.open(url)
    store = SqliteConversationStore(db)
    rnd = (await list_rounds(db, "open"))[0]
    survey = await store.survey(rnd.survey_hash)
    people = (await list_respondents(db, rnd.id))[first:first + count]
    answers = 0

    async def citizen(rid: int, token: str) -> None:
        nonlocal answers
        chat = f"chat{rid}"
        claim = await store.claim_invite(token, CHANNEL, chat)
        assert claim.status == "ok", claim
        while True:
            async with store.chat_lock(CHANNEL, chat):
                session = await store.session_for_chat(CHANNEL, chat)
                nxt = scripted_input(survey, session.state, rid)
                if nxt is None:
                    return
                res = step(survey, session.state, nxt[0], time.time())
                assert await store.commit_step(session, res.state, res.events, CHANNEL, nxt[1])
            answers += sum(1 for ev in res.events if type(ev).__name__ == "AnswerSet")

    await asyncio.sleep(max(0.0, start_at - time.time()))
    t0 = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(citizen(p.id, p.token) for p in people))
    elapsed = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    await db.close()
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {"answers": answers, "elapsed": elapsed, "cpu": cpu, "t0": time.time() - elapsed}


async def outbox_worker(url: str, name: str, cap: float, start_at: float) -> dict[str, Any]:
    """``hailong run``'s outbox loop (``fieldwork.outbox.OutboxSender`` with a ``SendBudget``:
    tokens from the shared bucket, then claims, then a mark per message) with a no-op platform."""
    from fieldwork.outbox import OutboxSender, SendBudget
    from storage.db import Database

    sent: list[int] = []
    times: list[float] = []

    class Platform:
        channel = CHANNEL

        async def send(self, message: Any) -> str:       # the platform call would be here
            times.append(time.time())
            sent.append(message.id)
            return f"m{message.id}"

    db = await Database.open(url)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    outbox = OutboxSender(db, Platform(), budget=SendBudget(cap), worker=name, poll_interval=0.1)
    await outbox.run(until_idle=True, max_seconds=600)
    await db.close()
    return {"sent": sent, "times": times}


# ------------------------------------------------------------------ the parent

def _fresh_pg() -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_server(), autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in _server() else "?"
    return f"{_server()}{sep}options=-csearch_path%3D{schema}", schema


def _drop_pg(schema: str) -> None:
    with psycopg.connect(_server(), autocommit=True) as c:
        c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _seed(url: str, citizens: int) -> None:
    from storage.db import Database
    from demo.seed import seed_round
    from survey_defs.loader import get_survey

    async def go() -> None:
        db = await Database.open(url)
        try:
            await seed_round(db, get_survey(SURVEY), respondents=citizens, communes=4, quota=citizens)
        finally:
            await db.close()

    asyncio.run(go())


def _spawn(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, cwd=ROOT)


def _collect(procs: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    out = []
    for p in procs:
        stdout, _ = p.communicate(timeout=900)
        if p.returncode != 0:
            raise SystemExit(f"worker failed ({p.returncode})")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def run_answers(url: str, workers: int, citizens: int) -> dict[str, Any]:
    _seed(url, citizens)
    share = -(-citizens // workers)
    start_at = time.time() + 3.0                          # after every worker has opened the database
    procs = [_spawn(["answer-worker", url, str(i * share), str(share), repr(start_at)]) for i in range(workers)]
    while time.time() < start_at:
        time.sleep(0.005)
    cpu_before = _server_cpu()
    res = _collect(procs)
    # SQLite has no server: the PostgreSQL processes' time then belongs to someone else
    server = _server_cpu() - cpu_before if url.startswith("postgresql") else 0.0
    workers_cpu = sum(r["cpu"] for r in res)
    answers = sum(r["answers"] for r in res)
    wall = max(r["t0"] + r["elapsed"] for r in res) - min(r["t0"] for r in res)
    return {"workers": workers, "answers": answers, "seconds": round(wall, 2),
            "answers_per_s": round(answers / wall, 1), "worker_cpu_s": round(workers_cpu, 2),
            "server_cpu_s": round(server, 2), "answers_per_cpu_s": round(answers / max(workers_cpu + server, 1e-9), 1)}


def run_outbox(url: str, messages: int, cap: float) -> dict[str, Any]:
    from storage.db import Database
    from storage.outbox import OutboxItem, enqueue_outbox, outbox_counts

    async def fill() -> None:
        db = await Database.open(url)
        try:
            await enqueue_outbox(db, [OutboxItem(CHANNEL, f"c{i}", "notice", f"bench:{i}", {"text": "Thông báo / notice"})
                                      for i in range(messages)])
        finally:
            await db.close()

    asyncio.run(fill())
    start_at = time.time() + 3.0
    res = _collect([_spawn(["outbox-worker", url, f"w{i}", repr(cap), repr(start_at)]) for i in range(2)])
    ids = [i for r in res for i in r["sent"]]
    times = sorted(t for r in res for t in r["times"])

    async def left() -> dict[tuple[str, str], int]:
        db = await Database.open(url)
        try:
            return await outbox_counts(db)
        finally:
            await db.close()

    counts = asyncio.run(left())
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    # the first second may hold the bucket's burst: the steady rate is measured after it
    steady = [t for t in times if t >= times[0] + 1.0]
    steady_rate = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else float("nan")
    return {"messages": messages, "cap_per_s": cap, "sent": len(ids), "duplicated": len(ids) - len(set(ids)),
            "lost": messages - len(set(ids)), "left_pending": sum(v for (_, st), v in counts.items() if st != "sent"),
            "per_worker": [len(r["sent"]) for r in res], "seconds": round(span, 2),
            "msgs_per_s": round(steady_rate, 1), "share_of_cap": round(steady_rate / cap, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer citizens and messages (make bench)")
    ap.add_argument("--citizens", type=int, default=None)
    ap.add_argument("--cap", type=float, default=200.0, help="shared send cap, messages/s")
    ap.add_argument("--messages", type=int, default=None)
    a = ap.parse_args()
    citizens = a.citizens or (80 if a.quick else 240)
    messages = a.messages or int(a.cap * (4 if a.quick else 8))
    try:
        with psycopg.connect(_server(), connect_timeout=5) as c:
            c.execute("SELECT 1")
    except psycopg.Error as exc:
        print(json.dumps({"skipped": f"no PostgreSQL at {_server()}: {str(exc).strip()[:120]}"}))
        return
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = run_answers(str(Path(tmp) / "bench.db"), 1, citizens)
        base["backend"] = "sqlite"
        rows.append(base)
        print(f"sqlite      1 worker : {base['answers_per_s']:>8} answers/s  {base['answers_per_cpu_s']:>7} /CPU-s",
              flush=True)
    for w in (1, 2, 4):
        url, schema = _fresh_pg()
        try:
            r = run_answers(url, w, citizens)
        finally:
            _drop_pg(schema)
        r["backend"] = "postgresql"
        rows.append(r)
        print(f"postgresql  {w} worker{'s' if w > 1 else ' '}: {r['answers_per_s']:>8} answers/s  "
              f"{r['answers_per_cpu_s']:>7} /CPU-s  (workers {r['worker_cpu_s']} s, server {r['server_cpu_s']} s)",
              flush=True)
    url, schema = _fresh_pg()
    try:
        ob = run_outbox(url, messages, a.cap)
    finally:
        _drop_pg(schema)
    print(f"outbox, 2 workers, cap {a.cap:g}/s: {ob['msgs_per_s']} msgs/s ({ob['share_of_cap']:.1%} of the cap), "
          f"lost {ob['lost']}, duplicated {ob['duplicated']}, per worker {ob['per_worker']}", flush=True)
    pg = {r["workers"]: r for r in rows if r["backend"] == "postgresql"}
    print(json.dumps({
        "benchmark": "scale_out", "cores": os.cpu_count(), "citizens": citizens,
        "sqlite_answers_per_s": base["answers_per_s"],
        "pg_answers_per_s": {str(w): pg[w]["answers_per_s"] for w in pg},
        "pg_answers_per_cpu_s": {str(w): pg[w]["answers_per_cpu_s"] for w in pg},
        "sqlite_answers_per_cpu_s": base["answers_per_cpu_s"],
        "ratio": round(pg[2]["answers_per_s"] / base["answers_per_s"], 3),
        "ratio_baseline": "PostgreSQL with 2 workers over one SQLite process, answers/s",
        "outbox": ob,
    }))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "answer-worker":
        print(json.dumps(asyncio.run(answer_worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                                                   float(sys.argv[5])))))
    elif len(sys.argv) > 1 and sys.argv[1] == "outbox-worker":
        print(json.dumps(asyncio.run(outbox_worker(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])))))
    else:
        main()
