"""A database for console tests: a real questionnaire, districts → communes → villages, completed
responses (analytics' synthetic loader), households in every disposition with names, phones and
chat ids, failed sends, reminders, a re-check draw, and one account per role."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo.synthetic import hierarchy, populate_db
from hailong.console.passwords import hash_password
from storage.db import Database
from storage.outbox import OutboxItem, enqueue_op
from storage.recheck import RecheckDraw, record_recheck_draw
from storage.respondents import ContactIn, RespondentIn, insert_respondents, list_respondents
from storage.rounds import get_round_by_code, open_round
from storage.staff import create_account, link_chat
from survey_defs.loader import get_survey

PASSWORD = "mật khẩu thử nghiệm"
ROUND = "LC-2025"
#: (user, role, unit code or None)
ACCOUNTS = (("admin", "admin", None), ("analyst", "analyst", None), ("huyen1", "district", "D01"),
            ("xa11", "commune", "D01C01"), ("xa21", "commune", "D02C01"), ("dtv111", "enumerator", "D01C01V01"))
STAFF_CHAT = "777000111"


@dataclass(frozen=True)
class ConsoleDb:
    path: Path
    unit_ids: dict[str, int]
    phones: list[str]          # phone numbers stored in contacts
    chat_ids: list[str]        # citizens' chat ids (and the staff chat id)


def build(path: Path, completed: int = 160) -> ConsoleDb:
    survey = get_survey("sipas-households")
    ids = populate_db(str(path), survey, completed, seed=3, round_code=ROUND, units=hierarchy(2, 2, 2))
    return asyncio.run(_more(path, ids))


async def _more(path: Path, ids: dict[str, int]) -> ConsoleDb:
    db = await Database.open(str(path))
    phones: list[str] = []
    chats: list[str] = []
    try:
        r = await get_round_by_code(db, ROUND)
        assert r is not None
        await open_round(db, r.id)
        villages = [c for c in ids if "V" in c]
        items = []
        for i in range(40):
            phone = f"09{12345600 + i:08d}"
            phones.append(phone)
            items.append(RespondentIn(ids[villages[i % len(villages)]], "thử / test", household_ref=f"H{i:04d}",
                                      contact=ContactIn(name=f"Lò Văn {i}", phone=phone, address=f"Bản {i}")))
        extra = await insert_respondents(db, r.id, items)
        statuses = ["invited", "refused", "unreachable", "sampled", "partial"]

        def op(conn: sqlite3.Connection) -> None:
            for k, p in enumerate(extra):
                st = statuses[k % len(statuses)]
                conn.execute("UPDATE respondents SET status = ?, status_reason = ?, invited_at = 1.74e9 WHERE id = ?",
                             (st, "telegram: 403 Forbidden: bot was blocked by the user" if st == "unreachable"
                              else None, p.id))
                chat = f"55{p.id:09d}"
                chats.append(chat)
                conn.execute("INSERT INTO chat_bindings (channel, chat_id, respondent_id, bound_at) VALUES"
                             " ('telegram', ?, ?, 1.74e9)", (chat, p.id))
                conn.execute("UPDATE contacts SET telegram_id = ? WHERE respondent_id = ?", (chat, p.id))
            enqueue_op(conn, [OutboxItem("telegram", f"55{p.id:09d}", "invite", f"invite:x:{p.id}", {"text": "mời"},
                                         round_id=r.id, respondent_id=p.id) for p in extra[:10]], 1.74e9)
            conn.execute("UPDATE outbox SET status = 'dead', attempts = 5, last_error = 'Forbidden: bot was blocked"
                         " by the user 5512345678' WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT 3)")
            enqueue_op(conn, [OutboxItem("telegram", f"55{p.id:09d}", "reminder", f"reminder:{p.id}:1",
                                         {"reminder": 1, "target": "not_started", "text": "nhắc"}, round_id=r.id,
                                         respondent_id=p.id) for p in extra[10:20]], 1.74e9)
            conn.execute("UPDATE outbox SET status = 'sent', sent_at = 1.7399e9 WHERE kind = 'reminder'")
            # contacts for some completed households too (the re-check calls them)
            for pid, in conn.execute("SELECT id FROM respondents WHERE status = 'completed' ORDER BY id LIMIT 60")\
                    .fetchall():
                phone = f"08{pid:08d}"
                phones.append(phone)
                conn.execute("INSERT INTO contacts (respondent_id, name, phone) VALUES (?, ?, ?)",
                             (pid, f"Hoàng Thị {pid}", phone))

        await db.write(op)
        chats.append("5512345678")          # inside a platform error message (masked on the problems page)
        done = await list_respondents(db, r.id, statuses=("completed",))
        by_unit: dict[int, list[int]] = {}
        for p in done[:60]:
            by_unit.setdefault(p.unit_id, []).append(p.id)
        picks = [RecheckDraw(pid, str(uid)) for uid, pids in by_unit.items() for pid in pids[:2]]
        await record_recheck_draw(db, r.id, 7, picks, actor="test")
        pw = hash_password(PASSWORD)
        for user, role, unit in ACCOUNTS:
            await create_account(db, username=user, role=role, password_hash=pw, actor="test",
                                 unit_id=ids[unit] if unit else None, display_name=f"Cán bộ {user}")
        await link_chat(db, "admin", "telegram", STAFF_CHAT, "test")
        chats.append(STAFF_CHAT)
    finally:
        await db.close()
    return ConsoleDb(path, ids, phones, chats)


async def citizens_answer(db: Database, tokens: list[str], pause_s: float = 0.0) -> int:
    """Invited citizens answer to the end through the real conversation store and engine, as on a
    channel (claim, one committed step per typed line); returns how many submitted."""
    import random

    import engine
    from bot.console import citizen_answer
    from engine.types import Start, TypedText
    from storage.conversations import SqliteConversationStore

    store = SqliteConversationStore(db)
    done = 0
    for n, token in enumerate(tokens):
        claim = await store.claim_invite(token, "telegram", f"9{n:08d}", f"claim-{token}")
        assert claim.status == "ok", claim
        session = claim.session
        assert session is not None
        survey = await store.survey(session.state.survey_hash)
        rng = random.Random(n)
        state, inp = session.state, Start()
        for turn in range(2000):
            res = engine.step(survey, state, inp, 1.75e9 + turn)
            assert await store.commit_step(session, res.state, res.events, "telegram", f"{token}-{turn}")
            state = res.state
            if state.status in ("submitted", "ended"):
                done += state.status == "submitted"
                break
            last = res.replies[-1]
            inp = TypedText("gửi" if state.status == "review" else citizen_answer(survey, last, rng, "numbers"))
            if pause_s:
                await asyncio.sleep(pause_s)
    return done


# ------------------------------------------------------------------ a console test client

async def login(client: Any, user: str, password: str = PASSWORD) -> Any:
    """Log ``user`` in on a console test client (the login form's CSRF token included)."""
    page = await client.get("/login")
    text = await page.text()
    token = re.search(r'name="csrf" value="([^"]+)"', text).group(1)  # type: ignore[union-attr]
    return await client.post("/login", data={"username": user, "password": password, "csrf": token, "next": "/"},
                             allow_redirects=False)


async def csrf_of(client: Any, path: str = "/invites") -> str:
    """The CSRF token a logged-in page carries (for POSTs)."""
    text = await (await client.get(path)).text()
    m = re.search(r'"X-CSRF-Token": "([^"]+)"', text)
    assert m, text[:300]
    return m.group(1)


def unit_id(built: ConsoleDb, code: str) -> int:
    """The id of the unit with this code."""
    return built.unit_ids[code]


def pages(built: ConsoleDb, unit: str | None = None) -> dict[str, tuple[str, ...]]:
    """Every GET page → the permissions of which it needs one (the unit page: a village of ``unit``)."""
    own_village = unit_id(built, min(c for c in built.unit_ids if c.startswith(unit or "D") and len(c) == 9))
    return {
        "/rounds": ("progress", "invites"), "/invites": ("invites",), "/staff": ("accounts",),
        "/audit": ("audit",), f"/rounds/{ROUND}/progress": ("progress",),
        f"/rounds/{ROUND}/progress/live": ("progress",), f"/rounds/{ROUND}/reminders": ("progress",),
        f"/rounds/{ROUND}/problems": ("problems",), f"/rounds/{ROUND}/recheck": ("recheck",),
        f"/rounds/{ROUND}/results": ("results",), f"/rounds/{ROUND}/results/chart/components.png": ("results",),
        f"/rounds/{ROUND}/units/{own_village}": ("invites", "progress"),
        f"/rounds/{ROUND}/units/{own_village}/cards.pdf": ("cards",),
        f"/rounds/{ROUND}/download/xlsx": ("exports",), f"/rounds/{ROUND}/download/report": ("exports",),
        f"/rounds/{ROUND}/purge": ("rounds_manage",),
    }
