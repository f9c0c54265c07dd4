"""Three workers on one PostgreSQL database, one SIGKILLed at random moments 20+ times.

The test plays the platform (what Telegram does in webhook mode behind a load balancer): each
simulated citizen sends the next update of their conversation (the real ``sipas-households``
questionnaire, ``demo.seed.scripted_input``) once the previous one was acknowledged; each
update goes to a random live worker, sometimes to two at once (a redelivery racing the
original); an update whose worker died before acknowledging it is delivered again, to another
worker. A worker (this file run as a script) handles an update as a channel does — chat lock,
load the session, engine step, ``commit_step`` — and acknowledges it only after the commit
returned. Beside that, each worker sends the outbox's invites (claimed ``FOR UPDATE SKIP
LOCKED`` with a lease, paced by the shared send budget), printing ``SENT`` when the "platform"
accepted a message, just before marking it sent.

At the end: every conversation is complete and stored exactly as computed in memory, no answer
stored twice (one revision per step, one processed key per update), every acknowledged update
stored; every invite sent, and sent twice only inside the documented window (the worker was
killed between the platform accepting it and the row being marked sent).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from engine import new_state, step
from engine.types import AnswerSet, Choose, Command, Done, Input, Start, TypedText
from demo.seed import scripted_input

CHANNEL = "telegram"
SURVEY_ID = "sipas-households"
CITIZENS = 16
WORKERS = 3
KILLS = 21
LEASE_S = 4.0
_INPUTS = {c.__name__: c for c in (Start, Choose, Done, TypedText, Command)}


def encode(inp: Input) -> str:
    return json.dumps({"t": type(inp).__name__, **dataclasses.asdict(inp)}, ensure_ascii=False)


def decode(raw: str) -> Input:
    d = json.loads(raw)
    return _INPUTS[d.pop("t")](**d)


def conversation(survey: Any, rid: int) -> tuple[list[tuple[str, str]], list[tuple[str, Any]], str]:
    """In memory: the citizen's updates (encoded input, update key), answers and end status."""
    st = new_state(survey)
    updates: list[tuple[str, str]] = []
    answers: list[tuple[str, Any]] = []
    t = 1000.0
    while (nxt := scripted_input(survey, st, rid)) is not None:
        res = step(survey, st, nxt[0], t)
        t += 1
        updates.append((encode(nxt[0]), nxt[1]))
        answers += [(ev.step_id, ev.value) for ev in res.events if isinstance(ev, AnswerSet)]
        st = res.state
    return updates, answers, st.status


# ------------------------------------------------------------------ the worker process

async def worker(url: str, name: str) -> None:
    from storage.conversations import SqliteConversationStore
    from storage.db import Database
    from storage.outbox import claim_outbox_batch, mark_sent, requeue_stale
    from storage.rounds import list_rounds
    from storage.send_budget import take_tokens

    db = await Database.open(url)
    store = SqliteConversationStore(db)
    survey = await store.survey((await list_rounds(db, "open"))[0].survey_hash)
    out = sys.stdout

    def emit(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    async def handle(rid: int, k: int, token: str, raw: str, key: str) -> None:
        chat = f"chat{rid}"
        async with store.chat_lock(CHANNEL, chat):
            session = await store.session_for_chat(CHANNEL, chat)
            if session is None:
                claim = await store.claim_invite(token, CHANNEL, chat, update_key=f"claim:{rid}")
                assert claim.status == "ok", claim
                session = claim.session
            res = step(survey, session.state, decode(raw), time.time())
            applied = await store.commit_step(session, res.state, res.events, CHANNEL, key)
        emit(f"ACK {rid} {k} {int(applied)}")

    async def outbox() -> None:
        last_requeue = 0.0
        while True:
            if time.monotonic() - last_requeue > 1.0:
                await requeue_stale(db, LEASE_S)
                last_requeue = time.monotonic()
            got = await take_tokens(db, CHANNEL, 4, rate=40, burst=8)
            rows = await claim_outbox_batch(db, CHANNEL, got, worker=name) if got else []
            for r in rows:
                emit(f"SENT {r.id}")                  # the platform accepted it
                await mark_sent(db, r.id, f"m{r.id}")
            if not rows:
                await asyncio.sleep(0.05)

    tasks: set[asyncio.Task[None]] = set()
    sender = asyncio.create_task(outbox())
    emit("READY")
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        kind, rid, k, token, raw_key = line.decode().rstrip("\n").split(" ", 4)
        raw, key = raw_key.rsplit(" ", 1)
        t = asyncio.create_task(handle(int(rid), int(k), token, raw, key))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    sender.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await db.close()


# ------------------------------------------------------------------ the platform (the test)

class Worker:
    def __init__(self, slot: int, incarnation: int, proc: asyncio.subprocess.Process) -> None:
        self.slot = slot
        self.name = f"w{slot}.{incarnation}"
        self.proc = proc
        self.ready = asyncio.Event()
        self.alive = True
        self.inflight: set[tuple[int, int]] = set()


async def _platform(url: str, people: dict[int, str], convs: dict[int, tuple[list[tuple[str, str]], Any, Any]],
                    invites: int) -> dict[str, Any]:
    rng = random.Random(16)
    pos = {rid: 0 for rid in people}
    sent_to: dict[int, set[str]] = {rid: set() for rid in people}
    acked: dict[int, set[int]] = {rid: set() for rid in people}
    sends: dict[int, list[str]] = {}
    killed: set[str] = set()
    workers: dict[int, Worker] = {}
    changed = asyncio.Event()
    stats = {"kills": 0, "redelivered": 0, "doubled": 0, "updates": 0}
    incarnations = {i: 0 for i in range(WORKERS)}
    root = Path(__file__).resolve().parents[2]

    async def spawn(slot: int) -> None:
        incarnations[slot] += 1
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "worker", url, f"w{slot}.{incarnations[slot]}", cwd=root,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(root)))   # demo.seed
        w = Worker(slot, incarnations[slot], proc)
        workers[slot] = w
        asyncio.create_task(read(w))

    async def read(w: Worker) -> None:
        assert w.proc.stdout is not None
        while raw := await w.proc.stdout.readline():
            if not raw.endswith(b"\n"):
                break                                   # cut by the kill: never said
            kind, *rest = raw.decode().split()
            if kind == "READY":
                w.ready.set()
            elif kind == "ACK":
                rid, k = int(rest[0]), int(rest[1])
                w.inflight.discard((rid, k))
                acked[rid].add(k)
                if k == pos[rid]:
                    pos[rid] += 1
                    sent_to[rid].clear()
            elif kind == "SENT":
                sends.setdefault(int(rest[0]), []).append(w.name)
        w.alive = False
        rc = await w.proc.wait()
        if rc not in (0, -signal.SIGKILL):
            err = await w.proc.stderr.read() if w.proc.stderr else b""
            raise AssertionError(f"worker {w.name} failed ({rc}): {err.decode()[-3000:]}")
        for rid, k in w.inflight:                       # never acknowledged: the platform delivers again
            sent_to[rid].discard(w.name)
            stats["redelivered"] += 1
        changed.set()

    def deliver(w: Worker, rid: int) -> None:
        k = pos[rid]
        raw, key = convs[rid][0][k]
        w.inflight.add((rid, k))
        sent_to[rid].add(w.name)
        assert w.proc.stdin is not None
        w.proc.stdin.write(f"UPD {rid} {k} {people[rid]} {raw} {key}\n".encode())
        stats["updates"] += 1

    async def dispatch() -> None:
        while any(pos[r] < len(convs[r][0]) for r in people):
            live = [w for w in workers.values() if w.alive and w.ready.is_set()]
            if live:
                for rid in people:
                    if pos[rid] < len(convs[rid][0]) and not sent_to[rid]:
                        deliver(rng.choice(live), rid)
                        if len(live) > 1 and rng.random() < 0.08:      # a redelivery racing the original
                            others = [w for w in live if w.name not in sent_to[rid]]
                            deliver(rng.choice(others), rid)
                            stats["doubled"] += 1
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), 0.02)
            except asyncio.TimeoutError:
                pass

    async def killer() -> None:
        while stats["kills"] < KILLS:
            await asyncio.sleep(rng.uniform(0.2, 0.8))
            w = workers[rng.randrange(WORKERS)]
            if not w.ready.is_set() or not w.alive:
                continue
            killed.add(w.name)
            w.proc.send_signal(signal.SIGKILL)
            stats["kills"] += 1
            await w.proc.wait()
            await spawn(w.slot)

    for i in range(WORKERS):
        await spawn(i)
    t0 = time.monotonic()
    kill_task = asyncio.create_task(killer())
    await asyncio.wait_for(dispatch(), 600)
    await asyncio.wait_for(kill_task, 120)
    # all conversations done: wait for the invites, then stop the workers (end of input)
    deadline = time.monotonic() + 120
    while len(sends) < invites and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    for w in workers.values():
        if w.alive and w.proc.stdin is not None:
            w.proc.stdin.close()
    for w in workers.values():
        await asyncio.wait_for(w.proc.wait(), 60)
    stats["seconds"] = round(time.monotonic() - t0, 1)
    return {"stats": stats, "acked": acked, "sends": sends, "killed": killed}


def test_three_workers_killed_at_random_lose_and_duplicate_nothing(pg_url):
    from storage.db import Database
    from storage.outbox import OutboxItem, enqueue_outbox
    from demo.seed import seed_round
    from survey_defs.loader import get_survey

    survey = get_survey(SURVEY_ID)

    async def setup() -> dict[int, str]:
        db = await Database.open(pg_url)
        try:
            seeded = await seed_round(db, survey, respondents=CITIZENS, communes=3, quota=CITIZENS)
            await enqueue_outbox(db, [OutboxItem(CHANNEL, f"chat{r.id}", "invite", f"invite:{r.id}",
                                                 {"text": "Mời ông/bà trả lời / please answer"}, seeded.round.id, r.id)
                                      for r in seeded.respondents])
            return {r.id: r.token for r in seeded.respondents}
        finally:
            await db.close()

    people = asyncio.run(setup())
    convs = {rid: conversation(survey, rid) for rid in people}
    result = asyncio.run(_platform(pg_url, people, convs, len(people)))
    stats = result["stats"]
    assert stats["kills"] >= 20

    with psycopg.connect(pg_url) as c:
        stored: dict[int, list[tuple[str, int, Any]]] = {}
        for rid, step_id, rev, value in c.execute(
                "SELECT p.id, a.step_id, a.revision, a.value FROM answers a JOIN responses r ON r.id = a.response_id"
                " JOIN respondents p ON p.id = r.respondent_id ORDER BY a.id"):
            stored.setdefault(rid, []).append((step_id, rev, json.loads(value)))
        statuses = dict(c.execute("SELECT id, status FROM respondents").fetchall())
        keys = c.execute("SELECT COUNT(*), COUNT(DISTINCT (channel, update_key)) FROM processed_updates").fetchone()
        view = c.execute("SELECT * FROM current_answers ORDER BY 1, 2").fetchall()
        table = c.execute("SELECT * FROM answers_current ORDER BY 1, 2").fetchall()
        outbox = dict(c.execute("SELECT id, status FROM outbox").fetchall())
        final = {r[0]: (r[1], r[2]) for r in c.execute("SELECT id, claimed_by, attempts FROM outbox")}
        claimed_by = {r[0] for r in c.execute("SELECT DISTINCT claimed_by FROM outbox")}
    total_answers = 0
    for rid, (updates, answers, end) in convs.items():
        got = stored.get(rid, [])
        assert [(s, v) for s, _, v in got] == answers, f"citizen {rid}: stored answers differ"
        assert all(rev == 1 for _, rev, _ in got), f"citizen {rid}: an answer stored twice"
        assert result["acked"][rid] >= set(range(len(updates))), f"citizen {rid}: unacknowledged updates"
        assert statuses[rid] == "completed" if end == "submitted" else statuses[rid] in ("refused", "ineligible")
        total_answers += len(answers)
    assert keys[0] == keys[1] == sum(len(u) for u, _, _ in convs.values())   # every update once
    assert view == table
    # invites: all sent; twice only if the first sender was killed before marking it sent
    assert set(outbox.values()) == {"sent"} and len(result["sends"]) == len(people)
    twice = {i: s for i, s in result["sends"].items() if len(s) > 1}
    # ... and then the row went through the lease: claimed again (a claim may also die before its
    # send), marked sent by the last sender
    assert all(set(s[:-1]) <= result["killed"] and final[i][0] == s[-1] and final[i][1] >= len(s)
               for i, s in twice.items()), (twice, {i: final[i] for i in twice})
    assert len(claimed_by) > 1
    print(f"\n{stats['kills']} kills, {len(people)} citizens, {total_answers} answers, {stats['updates']} deliveries"
          f" ({stats['redelivered']} redelivered after a kill, {stats['doubled']} doubled), "
          f"{len(people)} invites ({len(twice)} sent twice inside the window), lost 0, duplicated 0, "
          f"{stats['seconds']} s")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "worker":
        asyncio.run(worker(sys.argv[2], sys.argv[3]))
    else:
        print("usage: test_workers_kill.py worker URL NAME", file=sys.stderr)
        sys.exit(2)
