"""Broadcast of 2 000 invites against the Telegram emulator with Telegram's limits on (30 msg/s
overall, 1 msg/s per chat): nothing lost, nothing sent twice, although the sender process is
killed with SIGKILL halfway and restarted.

How the kill is placed: after 1 000 accepted messages the emulator stops accepting (requests
that arrive are held, never stored); once the database shows every accepted message marked
sent, the test SIGKILLs the sender — it then has requests in flight and rows claimed in
'sending' — lets the held requests fail and starts a new sender. This makes the run
deterministic: it exercises the crash with requests in flight and rows claimed but unsent, which
must be requeued, never lost, and never resent if they were already marked. The one window no sender can close
(the platform accepted, the process died before the "sent" mark was durable) is documented in
``fieldwork/outbox.py``; ``requeued`` in the restarted sender's report bounds it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

from fieldwork.outbox import enqueue_invites
from demo.emulators.telegram import TelegramEmulator
from demo.emulators.telegram_rules import ApiError, FloodLimits
from storage.db import Database
from storage.outbox import outbox_counts
from support.db import make_round

N = 2000
KILL_AFTER = 1000
BASE = 500_000


async def _spawn(db_path: Path, emu: TelegramEmulator, cwd: Path, log_name: str) -> asyncio.subprocess.Process:
    # stderr to a file: an unread pipe could fill up and stall the sender
    with open(cwd / log_name, "wb") as log:  # the child keeps its own copy of the descriptor
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.telegram.sender", "--db", str(db_path), "--token", emu.token,
            "--base-url", emu.base_url, "--stale-after", "0", "--rate", "30",
            cwd=str(cwd), stdout=asyncio.subprocess.PIPE, stderr=log,
            env={k: v for k, v in os.environ.items() if not k.startswith("HAILONG_")})


async def test_broadcast_2000_with_sigkill_and_restart(tmp_path: Path) -> None:
    db_path = tmp_path / "broadcast.db"
    db = await Database.open(db_path)
    try:
        rid, ids = await make_round(db, N, telegram_base=BASE)
        res = await enqueue_invites(db, rid, "telegram", bot_username="hailong_test_bot")
        assert res.new == N
    finally:
        await db.close()

    emu = TelegramEmulator(limits=FloodLimits(enabled=True, global_per_s=30.0, per_chat_per_s=1.0))
    await emu.start()
    for i in range(N):
        emu.user(BASE + i, f"Dân {i}")
    gate = {"accepted": 0, "closed": False, "held": 0}
    release = asyncio.Event()
    original = emu._api_sendmessage

    async def gated(params):  # noqa: ANN001, ANN202
        if gate["closed"]:
            gate["held"] += 1
            await release.wait()
            raise ApiError(502, "Bad Gateway: sender gone")
        result = await original(params)
        gate["accepted"] += 1
        if gate["accepted"] >= KILL_AFTER:
            gate["closed"] = True
        return result

    emu._api_sendmessage = gated  # type: ignore[method-assign]
    t0 = time.monotonic()
    try:
        first = await _spawn(db_path, emu, tmp_path, "first.log")
        await emu.wait_until(lambda: gate["closed"], timeout=150)
        t_gate = time.monotonic() - t0
        # held requests change nothing visible in the emulator, so poll rather than wait_until
        for _ in range(1000):
            if gate["held"] > 0 or first.returncode is not None:
                break
            await asyncio.sleep(0.01)
        assert gate["held"] > 0, "the sender should have requests in flight when killed"
        watcher = await Database.open(db_path)
        try:
            for _ in range(500):
                counts = await outbox_counts(watcher, rid)
                if counts.get(("invite", "sent"), 0) >= gate["accepted"]:
                    break
                await asyncio.sleep(0.01)
        finally:
            await watcher.close()
        assert first.returncode is None
        first.send_signal(signal.SIGKILL)
        await first.wait()
        assert first.returncode == -signal.SIGKILL
        release.set()
        await asyncio.sleep(0.05)
        emu._api_sendmessage = original  # type: ignore[method-assign]

        db = await Database.open(db_path)
        try:
            mid = await outbox_counts(db, rid)
        finally:
            await db.close()
        assert mid.get(("invite", "sending"), 0) > 0      # the kill left claimed rows behind
        assert mid.get(("invite", "sent"), 0) <= KILL_AFTER

        second = await _spawn(db_path, emu, tmp_path, "second.log")
        out, _ = await asyncio.wait_for(second.communicate(), timeout=150)
        assert second.returncode == 0, (tmp_path / "second.log").read_text(errors="replace")
        report = json.loads(out.decode().strip().splitlines()[-1])
        assert report["requeued"] == mid[("invite", "sending")]
        assert report["dead"] == 0
    finally:
        await emu.stop()
    elapsed = time.monotonic() - t0

    per_chat = [len(emu.bot_messages(BASE + i)) for i in range(N)]
    assert per_chat.count(1) == N, f"lost: {per_chat.count(0)}, doubled: {sum(c > 1 for c in per_chat)}"
    db = await Database.open(db_path)
    try:
        assert await outbox_counts(db, rid) == {("invite", "sent"): N}
    finally:
        await db.close()
    # The rate target (>= 90% of 30/s) is shown by benchmarks/broadcast.py, not asserted here
    # (a timed assertion would flake on a loaded CI machine).
    print(f"broadcast: {N} in {elapsed:.1f}s (gate at {t_gate:.1f}s), 429s: {emu.stats['429']}, requeued: {report['requeued']}")
