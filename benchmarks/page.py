"""Page benchmark: answers per CPU-second on the questionnaire page next to the chat's, and the
first page's bytes over the wire.

The page server runs in its own process and reports its own ``time.process_time()`` while N
scripted citizens (no JavaScript: they read the HTML and post the forms, ``demo.page_client``)
answer the whole of sipas-services-2021, concurrently, through real HTTP. The chat figure is
measured in the same run the same way: ``benchmarks/telegram_e2e.py``'s hailong bot (real PTB,
Bot API emulator, one commit per answer) in its own process, with the same survey and the same
number of citizens. Both write every answer durably (SQLite, group commit); the page commits
once per section submitted.

First page bytes: what a phone downloads to show the first question (the invitation link's
page, the consent section and its stylesheet and script), uncompressed.

Usage: ``.venv/bin/python benchmarks/page.py [--quick] [--n 200]``; the last stdout line is a
JSON object with the figures and the page/chat ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))   # telegram_e2e (after the packages: benchmarks/storage.py)

SURVEY_ID = "sipas-services-2021"
PY = sys.executable


async def _serve(db_path: str) -> None:
    """The page server: PageApp on SQLite, on a free port; CPU reported on stop."""
    from aiohttp import web

    from hailong.run import tune_process
    from bot.web.app import PageApp, PageConfig
    from storage.conversations import SqliteConversationStore
    from storage.db import Database
    from telegram_e2e import _serve_until_stop

    db = await Database.open(db_path)
    store = SqliteConversationStore(db)
    page = PageApp(store, db, PageConfig(key=b"bench-page-key-0123456789", posts_per_minute=10_000,
                                         failures_per_window=10_000))
    root = web.Application()
    page.mount(root)
    runner = web.AppRunner(root, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(port, flush=True)
    tune_process()
    await _serve_until_stop(extra=lambda: dict(page.stats))
    await runner.cleanup()
    await db.close()


async def _citizens(base: str, tokens: list[str], concurrency: int) -> dict[str, Any]:
    from demo.page_client import PageClient, answer_whole_page_survey
    from survey_defs.loader import get_survey

    survey = get_survey(SURVEY_ID)
    sem = asyncio.Semaphore(concurrency)
    done: list[int] = []
    errors: list[str] = []

    async def one(i: int, token: str) -> None:
        async with sem:
            client = PageClient(base)
            try:
                first = await client.claim(f"/p/t/{token}")
                last, chosen = await answer_whole_page_survey(client, first, survey, random.Random(i))
                if last.kind != "end":
                    errors.append(last.text[:120])
                done.append(len(chosen))
            except Exception as exc:  # reported, never hidden
                errors.append(repr(exc)[:200])
            finally:
                await client.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
    return {"answers": sum(done), "completed": len(done), "errors": errors, "wall_s": time.perf_counter() - t0}


async def _first_page_bytes(base: str, token: str) -> dict[str, int]:
    """Bytes of the first page a phone shows (document + stylesheet + script), uncompressed."""
    from demo.page_client import PageClient

    client = PageClient(base)
    try:
        landing = await client.get(f"/p/t/{token}")
        first = await client.post(landing.form_action or "", list(landing.hidden.items()))
        html = len(first.html.encode("utf-8"))
        assets = 0
        for ref in re.findall(r'(?:src|href)="(/p/static/[^"]+)"', first.html):
            async with client.session.get(base + ref) as resp:
                assets += len(await resp.read())
        outside = len(re.findall(r'(?:src|href)="https?://', first.html))
        return {"first_page_html_bytes": html, "first_page_asset_bytes": assets,
                "first_page_bytes": html + assets, "landing_bytes": len(landing.html.encode("utf-8")),
                "external_requests": outside}
    finally:
        await client.close()


def run_page(n: int, workdir: Path, concurrency: int) -> dict[str, Any]:
    from telegram_e2e import _line, _prepare_db

    db_path = workdir / f"page-{n}.db"
    tokens = asyncio.run(_prepare_db(str(db_path), n + 1))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (workdir / f"page-{n}-server.log").open("w")
    server = subprocess.Popen([PY, __file__, "--role", "server", "--db", str(db_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=str(ROOT))
    try:
        port = int(_line(server, "page server"))
        if _line(server, "page server") != "READY":
            raise RuntimeError("page server did not start")
        base = f"http://127.0.0.1:{port}"
        sizes = asyncio.run(_first_page_bytes(base, tokens[-1]))
        result = asyncio.run(_citizens(base, tokens[:n], concurrency))
        assert server.stdin
        server.stdin.write("stop\n")
        server.stdin.flush()
        out = json.loads(_line(server, "page server"))
        server.wait(60)
    finally:
        if server.poll() is None:
            server.kill()
    con = sqlite3.connect(str(db_path))
    try:
        durable = con.execute("SELECT COUNT(*) FROM answers_current a JOIN responses r ON r.id = a.response_id"
                              " WHERE r.status = 'submitted'").fetchone()[0]
    finally:
        con.close()
    cpu = out["cpu_s"]
    answers = result["answers"]
    return {"kind": "page", "n": n, "answers": answers, "completed": result["completed"],
            "errors": len(result["errors"]), "first_errors": result["errors"][:3], "durable_answers": durable,
            "wall_s": round(result["wall_s"], 2), "server_cpu_s": round(cpu, 2),
            "answers_per_cpu_s": round(answers / cpu, 1) if cpu else None,
            "commits": out["stats"].get("commits"), **sizes}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="50 citizens")
    p.add_argument("--n", type=int, default=None, help="citizens (default 200)")
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--role", choices=["orchestrate", "server"], default="orchestrate")
    p.add_argument("--db", default="")
    p.add_argument("--timeout", type=float, default=300.0)
    args = p.parse_args()
    if args.role == "server":
        import logging
        logging.basicConfig(level=logging.WARNING)
        asyncio.run(_serve(args.db))
        return
    from telegram_e2e import run_one

    n = args.n or (50 if args.quick else 200)
    with tempfile.TemporaryDirectory(prefix="hailong-page-bench-") as tmp:
        page = run_page(n, Path(tmp), args.concurrency)
        print(f"page  N={n}: {page['answers']} answers, server CPU {page['server_cpu_s']} s, "
              f"{page['answers_per_cpu_s']} answers/CPU-s, {page['commits']} commits, errors {page['errors']}, "
              f"first page {page['first_page_bytes']} bytes", flush=True)
        chat = run_one("hailong", n, Path(tmp), args.timeout)
        print(f"chat  N={n}: {chat['answers']} answers, bot CPU {chat['bot_cpu_s']} s, "
              f"{chat['answers_per_cpu_s']} answers/CPU-s, errors {chat['errors']}", flush=True)
    ratio = round(page["answers_per_cpu_s"] / chat["answers_per_cpu_s"], 2) \
        if page["answers_per_cpu_s"] and chat["answers_per_cpu_s"] else None
    print(json.dumps({
        "benchmark": "page", "survey": SURVEY_ID, "n": n,
        "page_answers_per_cpu_s": page["answers_per_cpu_s"], "chat_answers_per_cpu_s": chat["answers_per_cpu_s"],
        "ratio": ratio, "ratio_of": "page answers per CPU-second / chat (Telegram) answers per CPU-second",
        "first_page_bytes": page["first_page_bytes"], "first_page_limit_bytes": 60_000,
        "first_page_under_limit": page["first_page_bytes"] < 60_000,
        "external_requests": page["external_requests"],
        "page_all_durable": page["durable_answers"] == page["answers"] and page["errors"] == 0,
        "page": page, "chat": {k: chat.get(k) for k in ("answers", "errors", "bot_cpu_s", "answers_per_cpu_s",
                                                        "durable_answers", "wall_s")},
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
