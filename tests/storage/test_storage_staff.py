"""storage.staff and storage.staff_views on both backends (SQLite and PostgreSQL): accounts,
staff chats, sessions, login attempts, unit scope, and the console's read-only queries."""

from __future__ import annotations

import pytest

from storage.audit import list_audit
from storage.db import Database
from storage.outbox import OutboxItem, enqueue_outbox
from storage.recheck import RecheckDraw, record_recheck_draw
from storage.staff import (StaffError, create_account, create_session, credentials_for, end_session, get_session,
                           link_chat, list_accounts, recent_failures, record_login_attempt, set_active, set_role,
                           staff_chat_ids, touch_session, unit_subtree, unlink_chat)
from storage.staff_views import (counts_by_channel, data_version, failed_sends, recheck_worklist, reminder_waves,
                                 respondent_unit, unreachable_respondents)
from demo.seed import seed_round, tiny_survey


@pytest.fixture
async def db(db_url):
    d = await Database.open(db_url)
    try:
        yield d
    finally:
        await d.close()


async def test_accounts_chats_sessions_and_attempts(db: Database) -> None:
    seeded = await seed_round(db, tiny_survey(), respondents=4)
    c1 = seeded.unit_ids["C1"]
    admin = await create_account(db, username="Admin", role="admin", password_hash="h1", actor="t")
    officer = await create_account(db, username="xa1", role="commune", unit_id=c1, password_hash="h2", actor="t",
                                   display_name="Cán bộ xã")
    assert admin.username == "admin" and officer.unit_id == c1
    with pytest.raises(StaffError):
        await create_account(db, username="ADMIN", role="analyst", password_hash="x", actor="t")
    with pytest.raises(StaffError):
        await create_account(db, username="y1", role="commune", password_hash="x", actor="t")
    with pytest.raises(StaffError):
        await create_account(db, username="y2", role="commune", unit_id=999_999, password_hash="x", actor="t")
    creds = await credentials_for(db, " ADMIN ")
    assert creds is not None and creds[1] == "h1"
    assert await credentials_for(db, "x" * 500) is None

    await link_chat(db, "admin", "telegram", "4242", "t")
    await link_chat(db, "xa1", "telegram", "4343", "t")
    assert await staff_chat_ids(db, "telegram") == {"4242", "4343"}
    assert {a.username: a.chats for a in await list_accounts(db)}["admin"] == (("telegram", "4242"),)
    with pytest.raises(StaffError):
        await link_chat(db, "admin", "telegram", "12 OR 1=1", "t")
    assert await unlink_chat(db, "telegram", "4343", "t") and not await unlink_chat(db, "telegram", "4343", "t")

    await create_session(db, officer.id, "a" * 64, "csrf", 3600, "127.0.0.1")
    s = await get_session(db, "a" * 64, idle_s=600)
    assert s is not None and s.account.username == "xa1" and s.csrf == "csrf"
    await touch_session(db, "a" * 64)
    assert await get_session(db, "b" * 64, idle_s=600) is None
    assert await get_session(db, "a" * 64, idle_s=600, at=s.created_at + 7200) is None      # expired
    await set_role(db, "xa1", "district", c1, "t")                                          # ends sessions
    assert await get_session(db, "a" * 64, idle_s=600) is None
    await create_session(db, officer.id, "c" * 64, "csrf", 3600, "127.0.0.1")
    await set_active(db, "xa1", False, "t")
    assert await get_session(db, "c" * 64, idle_s=600) is None
    await create_session(db, admin.id, "d" * 64, "csrf", 3600, "127.0.0.1")
    await end_session(db, "d" * 64, "web:admin")
    assert await get_session(db, "d" * 64, idle_s=600) is None

    for ok in (False, False, True, False):
        await record_login_attempt(db, "admin", "10.0.0.1", ok)
    await record_login_attempt(db, "other", "10.0.0.1", False)
    by_user, by_client, _oldest = await recent_failures(db, "admin", "10.0.0.1", 900)
    assert (by_user, by_client) == (3, 4)

    scope = await unit_subtree(db, seeded.unit_ids["LC"])
    assert c1 in scope and len(scope) == 3 and await unit_subtree(db, c1) == {c1}
    actions = {e.action for e in await list_audit(db)}
    assert {"staff.add", "staff.link_chat", "staff.unlink_chat", "staff.login", "staff.logout", "staff.role",
            "staff.disable", "staff.login_failed"} <= actions


async def test_the_console_read_queries_respect_the_unit_scope(db: Database) -> None:
    seeded = await seed_round(db, tiny_survey(), respondents=6)
    rid = seeded.round.id
    c1, c2 = seeded.unit_ids["C1"], seeded.unit_ids["C2"]
    people = seeded.respondents
    await enqueue_outbox(db, [OutboxItem("telegram", f"9{p.id}", "invite", f"invite:{rid}:{p.id}", {"t": 1},
                                         round_id=rid, respondent_id=p.id) for p in people])
    await enqueue_outbox(db, [OutboxItem("telegram", f"9{p.id}", "reminder", f"reminder:{p.id}:1",
                                         {"reminder": 1, "target": "not_started"}, round_id=rid, respondent_id=p.id)
                              for p in people[:2]])
    await db.write(lambda conn: conn.execute(
        "UPDATE outbox SET status = 'dead', last_error = 'Forbidden: blocked 123456789' WHERE kind = 'invite'"))
    await db.write(lambda conn: conn.execute(
        "UPDATE respondents SET status = 'unreachable', status_reason = 'blocked 987654321' WHERE id = ?",
        (people[0].id,)))
    mine = {c1}
    all_channels = await counts_by_channel(db, rid)
    assert sum(all_channels["telegram"].values()) == 6
    assert sum((await counts_by_channel(db, rid, mine)).get("telegram", {}).values()) == \
        sum(1 for p in people if p.unit_id == c1)
    waves = await reminder_waves(db, rid)
    assert [(w.number, w.target, w.pending) for w in waves] == [(1, "not_started", 2)]
    failed = await failed_sends(db, rid)
    assert len(failed) == 6 and all("123456789" not in f.error for f in failed)
    assert {f.unit_id for f in await failed_sends(db, rid, {c2})} == {c2}
    blocked = await unreachable_respondents(db, rid)
    assert len(blocked) == 1 and "987654321" not in blocked[0].reason
    assert await unreachable_respondents(db, rid, {u for u in (c1, c2) if u != people[0].unit_id}) == []
    assert await failed_sends(db, rid, set()) == []
    assert await respondent_unit(db, rid, people[1].id) == people[1].unit_id
    assert await respondent_unit(db, rid + 1, people[1].id) is None
    v1 = await data_version(db, rid)
    await db.write(lambda conn: conn.execute("UPDATE respondents SET status = 'completed' WHERE id = ?",
                                             (people[1].id,)))
    await record_recheck_draw(db, rid, 1, [RecheckDraw(people[1].id, "C")], actor="t")
    assert [w.respondent_id for w in await recheck_worklist(db, rid)] == [people[1].id]
    other = c2 if people[1].unit_id == c1 else c1
    assert await recheck_worklist(db, rid, {other}) == []
    assert len(await data_version(db, rid)) == len(v1) == 5
