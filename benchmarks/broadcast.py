"""Broadcast benchmark: invites through the outbox sender against the Telegram emulator with
Telegram's limits on (30 msg/s overall, 1 msg/s per chat).

Figures: the achieved send rate of ``fieldwork.outbox.OutboxSender`` (PTB ExtBot + priority rate
limiter, durable per-message "sent" marks in SQLite) as a share of the 30/s limit — target ≥ 90% —
and, measured in the same run, a naive baseline: sequential ``send_message`` calls with a fixed
sleep of 1/30 s between them (what a hand-rolled loop does). Last stdout line: one JSON object.

    .venv/bin/python benchmarks/broadcast.py [--quick] [-n 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.lib.machine import cpu_s, describe, machine  # noqa: E402
from bot.telegram.sender import TelegramSender, build_telegram_bot  # noqa: E402

from fieldwork.outbox import OutboxSender, enqueue_invites  # noqa: E402
from demo.emulators.telegram import TelegramEmulator  # noqa: E402
from demo.emulators.telegram_rules import FloodLimits  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.outbox import outbox_counts  # noqa: E402
from storage.respondents import ContactIn, RespondentIn, insert_respondents  # noqa: E402
from storage.rounds import create_round, open_round  # noqa: E402
from storage.units import UnitIn, insert_units  # noqa: E402
from survey_defs.loader import get_survey  # noqa: E402

LIMIT = 30.0


async def _seed(db: Database, n: int, base: int) -> int:
    ids = await insert_units(db, "bench", [UnitIn("commune", "X1", "Xã Mường So"),
                                           UnitIn("village", "V1", "Bản Nà Khum", parent_code="X1")])
    rnd = await create_round(db, code="BENCH", survey=get_survey("sipas-households"))
    await open_round(db, rnd.id)
    await insert_respondents(db, rnd.id, [RespondentIn(ids["V1"], f"hộ {i}", contact=ContactIn(
        telegram_id=str(base + i))) for i in range(n)])
    await enqueue_invites(db, rnd.id, "telegram", bot_username="hailong_test_bot")
    return rnd.id


async def _outbox_run(n: int, workdir: Path) -> dict[str, float]:
    base = 700_000
    async with TelegramEmulator(limits=FloodLimits(enabled=True, global_per_s=LIMIT)) as emu:
        for i in range(n):
            emu.user(base + i)
        db = await Database.open(workdir / "bench.db")
        bot = build_telegram_bot(emu.token, emu.base_url, rate=LIMIT)
        try:
            rid = await _seed(db, n, base)
            await bot.initialize()
            sender = OutboxSender(db, TelegramSender(bot))
            stats = await sender.run()
            counts = await outbox_counts(db, rid)
        finally:
            await bot.shutdown()
            await db.close()
        delivered = sum(len(emu.bot_messages(base + i)) for i in range(n))
        return {"sent": stats.sent, "elapsed_s": stats.elapsed, "rate": stats.sent / stats.elapsed,
                "delivered": delivered, "rows_sent": counts.get(("invite", "sent"), 0),
                "http_429": emu.stats["429"]}


async def _naive_run(n: int) -> dict[str, float]:
    from telegram import Bot
    from telegram.error import RetryAfter

    base = 900_000
    async with TelegramEmulator(limits=FloodLimits(enabled=True, global_per_s=LIMIT)) as emu:
        for i in range(n):
            emu.user(base + i)
        bot = Bot(emu.token, base_url=emu.base_url)
        await bot.initialize()
        t0 = time.monotonic()
        sent = 0
        try:
            for i in range(n):
                try:
                    await bot.send_message(base + i, "Kính mời gia đình tham gia khảo sát sự hài lòng.")
                    sent += 1
                except RetryAfter as exc:
                    ra = exc.retry_after
                    await asyncio.sleep(float(ra.total_seconds() if hasattr(ra, "total_seconds") else ra))
                await asyncio.sleep(1 / LIMIT)
        finally:
            await bot.shutdown()
        elapsed = time.monotonic() - t0
        return {"sent": sent, "elapsed_s": elapsed, "rate": sent / elapsed, "http_429": emu.stats["429"]}


async def main(n: int, n_base: int) -> None:
    m0 = machine()
    print(describe(m0), flush=True)
    c0 = cpu_s()
    with tempfile.TemporaryDirectory() as d:
        ours = await _outbox_run(n, Path(d))
    c1 = cpu_s()
    base = await _naive_run(n_base)
    c2 = cpu_s()
    m1 = machine()
    # this process runs the emulator too: CPU per message is an upper bound for the sender
    ours["per_cpu_s"], base["per_cpu_s"] = ours["sent"] / max(c1 - c0, 1e-9), base["sent"] / max(c2 - c1, 1e-9)
    share = ours["rate"] / LIMIT
    print(f"outbox sender : {ours['sent']} sent in {ours['elapsed_s']:.1f}s = {ours['rate']:.2f} msg/s "
          f"({share:.0%} of {LIMIT:.0f}/s), delivered {ours['delivered']}, 429s {ours['http_429']}")
    print(f"naive baseline: {base['sent']} sent in {base['elapsed_s']:.1f}s = {base['rate']:.2f} msg/s "
          f"({base['rate'] / LIMIT:.0%} of limit), 429s {base['http_429']}")
    print(f"messages per CPU-second (sender + emulator in this process): outbox {ours['per_cpu_s']:.0f}, "
          f"naive {base['per_cpu_s']:.0f}")
    print(describe(m1))
    print(f"target ≥ 90% of the limit: {'met' if share >= 0.9 else 'NOT met'}")
    print(json.dumps({
        "messages": n, "limit_per_s": LIMIT, "rate_per_s": round(ours["rate"], 3),
        "share_of_limit": round(share, 4), "target_share": 0.9, "target_met": share >= 0.9,
        "delivered_exactly_once": ours["delivered"] == n == ours["rows_sent"],
        "http_429": ours["http_429"], "baseline_messages": n_base,
        "baseline_rate_per_s": round(base["rate"], 3), "baseline_share_of_limit": round(base["rate"] / LIMIT, 4),
        "ratio_vs_baseline": round(ours["rate"] / base["rate"], 3),
        "messages_per_cpu_s": round(ours["per_cpu_s"], 1), "baseline_messages_per_cpu_s": round(base["per_cpu_s"], 1),
        "machine_start": m0, "machine_end": m1,
    }))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="300 messages (about 10 s + baseline)")
    p.add_argument("-n", type=int, default=None)
    a = p.parse_args()
    n = a.n or (300 if a.quick else 1500)
    asyncio.run(main(n, min(n, 150 if a.quick else 300)))
