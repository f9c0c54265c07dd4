"""Does the staff console slow the bot? Answers per second with and without ten staff pages open.

Setting (``hailong run --web``): one process, one event loop, one database; simulated citizens
answer the ``sipas-households`` questionnaire through the real conversation store
(``claim_invite`` → engine step → ``commit_step``, durable group commit), ``--citizens`` of them
at once, each starting a new invitation when it finishes. Three variants alternate, each timed
for the same number of seconds:

(a) baseline: citizens only;
(b) staff: the console served from the same loop, and ten logged-in staff pages refreshing the
    live progress fragment every 5 s, as htmx does (``ConsoleConfig.poll_s``), plus each page
    opening the progress, problems and re-check pages once a minute (each at its own moment);
(c) stress: the same ten pages refreshing back to back, as fast as the console answers.

The staff browsers run in a separate process (as they would on staff PCs), so the bot's process
pays only for serving them. Prints a table and, as its last line, one JSON object with the
medians and ``ratio`` = answers/s with ten staff pages ÷ answers/s without (1.0 = no slowdown),
the median over trials of each trial's ratio to the baseline trial run just before it.

    .venv/bin/python benchmarks/console_load.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PASSWORD = "benchmark-password"
ROUND = "LC-2025"
PAGES = 10


async def prepare(path: Path, invited: int) -> None:
    from demo.synthetic import hierarchy, populate_db
    from hailong.console.passwords import hash_password
    from storage.db import Database
    from storage.respondents import RespondentIn, insert_respondents
    from storage.rounds import get_round_by_code, open_round
    from storage.staff import create_account
    from survey_defs.loader import get_survey

    ids = await asyncio.to_thread(populate_db, str(path), get_survey("sipas-households"), 400, 5, ROUND,
                                  hierarchy(3, 4, 3))
    db = await Database.open(str(path))
    try:
        r = await get_round_by_code(db, ROUND)
        assert r is not None
        await open_round(db, r.id)
        villages = [c for c in ids if "V" in c]
        await insert_respondents(db, r.id, [RespondentIn(ids[villages[i % len(villages)]], "benchmark")
                                            for i in range(invited)])
        pw = hash_password(PASSWORD)
        for i in range(PAGES):
            await create_account(db, username=f"staff{i}", role="admin" if i % 2 else "district", actor="bench",
                                 password_hash=pw, unit_id=None if i % 2 else ids[f"D0{1 + i % 3}"])
    finally:
        await db.close()


class Citizens:
    """``n`` citizens answering continuously; counts committed steps."""

    def __init__(self, db, tokens: list[str], n: int) -> None:
        from storage.conversations import SqliteConversationStore

        self.db = db
        self.store = SqliteConversationStore(db)
        self.tokens = tokens
        self.n = n
        self.steps = 0
        self.running = True

    async def one(self, k: int) -> None:
        import engine
        from bot.console import citizen_answer
        from engine.types import Start, TypedText

        rng = random.Random(k)
        while self.running and self.tokens:
            token = self.tokens.pop()
            claim = await self.store.claim_invite(token, "telegram", f"8{k:07d}{len(self.tokens)}", f"c-{token}")
            if claim.status != "ok" or claim.session is None:
                continue
            session = claim.session
            survey = await self.store.survey(session.state.survey_hash)
            state, inp = session.state, Start()
            for turn in range(2000):
                if not self.running:
                    return
                res = engine.step(survey, state, inp, time.time())
                await self.store.commit_step(session, res.state, res.events, "telegram", f"{token}-{turn}")
                self.steps += 1
                state = res.state
                if state.status in ("submitted", "ended"):
                    break
                inp = TypedText("gửi" if state.status == "review" else
                                citizen_answer(survey, res.replies[-1], rng, "numbers"))

    async def run_for(self, seconds: float) -> float:
        self.running = True
        start_steps = self.steps
        tasks = [asyncio.ensure_future(self.one(k)) for k in range(self.n)]
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        self.running = False
        elapsed = time.perf_counter() - t0
        done = self.steps - start_steps
        await asyncio.gather(*tasks, return_exceptions=True)
        return done / elapsed


def staff_process(url: str, seconds: float, interval: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--staff", url, "--seconds", str(seconds),
                             "--interval", str(interval)], stdout=subprocess.PIPE, text=True)


async def staff_pages(url: str, seconds: float, interval: float) -> int:
    """Ten logged-in staff pages refreshing the live progress (in the child process)."""
    import re

    import aiohttp

    logged_in = 0
    ready = asyncio.Event()

    async def page(i: int) -> int:
        nonlocal logged_in
        n = 0
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            text = await (await http.get(url + "/login")).text()
            token = re.search(r'name="csrf" value="([^"]+)"', text).group(1)  # type: ignore[union-attr]
            await http.post(url + "/login", data={"username": f"staff{i}", "password": PASSWORD, "csrf": token})
            logged_in += 1
            if logged_in == PAGES:
                print("ready", flush=True)
                ready.set()
            await ready.wait()
            end = time.monotonic() + seconds
            # each page (re)opens the full pages once a minute, at its own moment in that minute
            last_full = time.monotonic() - random.uniform(0, 60) if interval else 0.0
            await asyncio.sleep(random.random() * interval)
            while time.monotonic() < end:
                if time.monotonic() - last_full > 60:
                    for p in ("progress", "problems", "recheck"):
                        await (await http.get(f"{url}/rounds/{ROUND}/{p}")).read()
                    last_full = time.monotonic()
                async with http.get(f"{url}/rounds/{ROUND}/progress/live", headers={"HX-Request": "true"}) as r:
                    await r.read()
                    assert r.status == 200, r.status
                n += 1
                if interval:
                    await asyncio.sleep(interval)
        return n

    return sum(await asyncio.gather(*(page(i) for i in range(PAGES))))


async def bench(args: argparse.Namespace) -> dict:
    from hailong.run import tune_process
    from hailong.console.app import ConsoleConfig
    from hailong.console.server import ConsoleServer
    from storage.db import Database

    with tempfile.TemporaryDirectory(prefix="hailong-console-bench-") as tmp:
        path = Path(tmp) / "bench.db"
        await prepare(path, args.invited)
        db = await Database.open(str(path))
        server = await ConsoleServer(db, "127.0.0.1", 0, ConsoleConfig(secure_cookies=False)).start()
        try:
            tokens = [r[0] for r in await db.fetchall("SELECT token FROM respondents WHERE status = 'sampled'")]
            random.Random(1).shuffle(tokens)
            citizens = Citizens(db, tokens, args.citizens)
            tune_process()
            await citizens.run_for(2.0)                         # warm-up
            results: dict[str, list[float]] = {"baseline": [], "staff": [], "stress": []}
            refreshes: dict[str, list[int]] = {"staff": [], "stress": []}
            for _ in range(args.trials):
                for variant in ("baseline", "staff", "stress"):
                    child = None
                    if variant != "baseline":
                        child = staff_process(server.url, args.seconds + 0.5, 5.0 if variant == "staff" else 0.0)
                        line = await asyncio.to_thread(child.stdout.readline)   # logins done before the timing
                        assert line.strip() == "ready", line
                    rate = await citizens.run_for(args.seconds)
                    results[variant].append(rate)
                    if child is not None:
                        out, _ = await asyncio.to_thread(child.communicate, None, 60)
                        refreshes[variant].append(int(out.strip().splitlines()[-1]))
                    print(f"  {variant:9s} {rate:8.1f} answers/s", file=sys.stderr, flush=True)
        finally:
            await server.stop()
            await db.close()
    med = {k: statistics.median(v) for k, v in results.items()}
    # the machine is shared and its speed drifts between trials: each variant is compared with the
    # baseline trial run just before it, and the median of those paired ratios is reported
    paired = {k: statistics.median(x / b for x, b in zip(results[k], results["baseline"])) for k in ("staff", "stress")}
    return {
        "benchmark": "console_load", "quick": args.quick, "citizens": args.citizens, "staff_pages": PAGES,
        "seconds_per_trial": args.seconds, "trials": args.trials,
        "baseline_answers_per_s": round(med["baseline"], 1),
        "with_staff_pages_answers_per_s": round(med["staff"], 1),
        "with_stress_pages_answers_per_s": round(med["stress"], 1),
        "staff_page_refreshes_per_trial": statistics.median(refreshes["staff"]),
        "stress_page_refreshes_per_trial": statistics.median(refreshes["stress"]),
        "stress_ratio": round(paired["stress"], 3),
        "trial_answers_per_s": {k: [round(x, 1) for x in v] for k, v in results.items()},
        "baseline": "the same citizens with no console traffic, measured in the same run",
        "load_average_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
        "ratio": round(paired["staff"], 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--citizens", type=int, default=200)
    ap.add_argument("--invited", type=int, default=6000)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--staff", help=argparse.SUPPRESS)
    ap.add_argument("--interval", type=float, default=5.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.staff:
        print(asyncio.run(staff_pages(args.staff, args.seconds, args.interval)))
        return
    if args.quick:
        args.citizens, args.invited, args.seconds, args.trials = 50, 1500, 6.0, 1
    result = asyncio.run(bench(args))
    print(f"answers/s: without console {result['baseline_answers_per_s']}, with {PAGES} staff pages "
          f"{result['with_staff_pages_answers_per_s']} (ratio {result['ratio']}), with {PAGES} pages refreshing "
          f"back to back {result['with_stress_pages_answers_per_s']} (ratio {result['stress_ratio']})")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
