"""The staff CLI end to end on a small database: rounds, invites, cards, status, re-check,
reminders; user errors are clean messages with exit code 2 and actions are audited."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import openpyxl
from typer.testing import CliRunner

from hailong.cli import app
from storage.audit import list_audit
from storage.db import Database
from storage.outbox import list_outbox
from storage.recheck import list_recheck
from storage.respondents import list_respondents, set_status
from storage.rounds import get_round_by_code
from support.db import make_round

runner = CliRunner()


def _run(coro_fn, path: Path):  # noqa: ANN001, ANN202
    async def go():  # noqa: ANN202
        db = await Database.open(path)
        try:
            return await coro_fn(db)
        finally:
            await db.close()
    return asyncio.run(go())


def _seed(path: Path) -> tuple[int, list[int]]:
    async def go(db):  # noqa: ANN001, ANN202
        rid, ids = await make_round(db, 40, per_unit=20)
        for i in ids[:20]:
            await set_status(db, i, "completed", actor="test")
        for i in ids[20:24]:
            await set_status(db, i, "refused", actor="test")
        return rid, ids
    return _run(go, path)


def invoke(*args: str):  # noqa: ANN201
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_round_lifecycle_and_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    r = invoke("round", "create", "--code", "LC2025", "--survey", "sipas-households", "--plan", "laichau-2025",
               "--opens", "2025-09-01", "--closes", "2025-09-30", "--db", db, "--actor", "staff:lan")
    assert r.exit_code == 0, r.output
    assert invoke("round", "open", "--code", "LC2025", "--db", db).exit_code == 0
    out = invoke("round", "list", "--db", db).output
    assert "LC2025" in out and "open" in out
    again = invoke("round", "create", "--code", "LC2025", "--survey", "sipas-households", "--db", db)
    assert again.exit_code == 2 and "already exists" in again.output
    bad_date = invoke("round", "create", "--code", "X", "--survey", "sipas-households", "--closes", "30/09", "--db", db)
    assert bad_date.exit_code == 2 and "YYYY-MM-DD" in bad_date.output
    assert invoke("round", "open", "--code", "NOPE", "--db", db).exit_code == 2
    assert invoke("round", "close", "--code", "LC2025", "--db", db).exit_code == 0
    rnd = _run(lambda d: get_round_by_code(d, "LC2025"), Path(db))
    assert rnd.status == "closed" and rnd.reminder_policy == {"after_days": [1.0, 3.0], "max": 2}
    audit = _run(lambda d: list_audit(d, round_id=rnd.id), Path(db))
    assert {"round.create", "round.open", "round.close"} <= {a.action for a in audit}
    assert any(a.actor == "staff:lan" for a in audit)


def test_invites_cards_status(tmp_path: Path) -> None:
    path = tmp_path / "f.db"
    rid, ids = _seed(path)
    db = str(path)
    r = invoke("invites", "make", "--round", "LC2025", "--out", str(tmp_path / "inv.csv"),
               "--bot-username", "hailong_test_bot", "--db", db)
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(tmp_path / "inv.csv", encoding="utf-8-sig")))
    assert len(rows) == 40 and rows[0]["code"].startswith("KS ") and "phone" not in rows[0]
    r = invoke("invites", "cards", "--round", "LC2025", "--out", str(tmp_path / "c.pdf"),
               "--bot-username", "hailong_test_bot", "--db", db)
    assert r.exit_code == 0, r.output
    assert "16 phiếu" in " ".join(r.output.split())  # 40 sampled - 20 completed - 4 refused
    assert (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")
    assert invoke("invites", "cards", "--round", "LC2025", "--out", str(tmp_path / "c.pdf"),
                  "--db", db).exit_code == 2
    r = invoke("invites", "send", "--round", "LC2025", "--channel", "telegram", "--enqueue-only",
               "--bot-username", "hailong_test_bot", "--db", db)
    assert r.exit_code == 0, r.output
    assert len(_run(lambda d: list_outbox(d, kind="invite"), path)) == 16
    assert invoke("invites", "send", "--round", "LC2025", "--channel", "sms", "--db", db).exit_code == 2
    r = invoke("status", "--round", "LC2025", "--db", db)
    assert r.exit_code == 0, r.output
    assert "RR1" in r.output and "1 đơn vị cần thay thế" in r.output  # V001: 4 refused, quota 20
    assert "50.0%" in r.output  # 20 complete of 40 eligible


def test_recheck_draw_export_record(tmp_path: Path) -> None:
    path = tmp_path / "rc.db"
    rid, ids = _seed(path)
    db = str(path)
    r = invoke("recheck", "draw", "--round", "LC2025", "--seed", "7", "--db", db)
    assert r.exit_code == 0, r.output
    drawn = _run(lambda d: list_recheck(d, rid), path)
    assert len(drawn) == 2  # ceil(10% of 20)
    again = invoke("recheck", "draw", "--round", "LC2025", "--seed", "7", "--db", db)
    assert "0" in again.output and len(_run(lambda d: list_recheck(d, rid), path)) == 2
    r = invoke("recheck", "export", "--round", "LC2025", "--out", str(tmp_path / "rc.xlsx"), "--db", db)
    assert r.exit_code == 0, r.output
    ws = openpyxl.load_workbook(tmp_path / "rc.xlsx").active
    header = [c.value for c in ws[1]]
    assert "Điện thoại / phone" in header and ws.max_row == 3
    assert invoke("recheck", "export", "--round", "LC2025", "--out", str(tmp_path / "x.txt"), "--db", db).exit_code == 2
    target = drawn[0].respondent_id
    no_note = invoke("recheck", "record", "--round", "LC2025", "--respondent", str(target),
                     "--outcome", "not_confirmed", "--db", db)
    assert no_note.exit_code == 2
    r = invoke("recheck", "record", "--round", "LC2025", "--respondent", str(target), "--outcome", "not_confirmed",
               "--note", "hộ nói không trả lời phiếu", "--db", db)
    assert r.exit_code == 0, r.output
    # (the seeded completions have no response rows, so excluded_by_recheck has nothing to join;
    # the outcome and its reason are what analytics reads)
    row = next(x for x in _run(lambda d: list_recheck(d, rid), path) if x.respondent_id == target)
    assert (row.outcome, row.note) == ("not_confirmed", "hộ nói không trả lời phiếu")
    resp = _run(lambda d: list_respondents(d, rid), path)
    other = next(x for x in resp if x.id == drawn[1].respondent_id)
    r = invoke("recheck", "record", "--round", "LC2025", "--code", f"ks {other.card_code.lower()}",
               "--outcome", "confirmed", "--db", db)
    assert r.exit_code == 0, r.output
    not_drawn = next(x for x in resp if x.status == "completed" and x.id not in {d.respondent_id for d in drawn})
    assert invoke("recheck", "record", "--round", "LC2025", "--respondent", str(not_drawn.id),
                  "--outcome", "confirmed", "--db", db).exit_code == 2


def test_reminders_plan_and_run_once(tmp_path: Path) -> None:
    import time

    from storage.respondents import mark_invited

    path = tmp_path / "rem.db"

    async def go(db):  # noqa: ANN001, ANN202
        rid, ids = await make_round(db, 6, closes_at=time.time() + 30 * 86400,
                                    reminder_policy={"after_days": [1, 3], "max": 2})
        await mark_invited(db, ids, at=time.time() - 2 * 86400)
        return rid
    rid = _run(go, path)
    r = invoke("reminders", "plan", "--round", "LC2025", "--db", str(path))
    assert r.exit_code == 0, r.output
    assert "chưa bắt đầu" in r.output and "6" in r.output
    r = invoke("reminders", "run", "--once", "--db", str(path))
    assert r.exit_code == 0, r.output
    # in quiet hours nothing is queued; otherwise all six get reminder 1
    n = len(_run(lambda d: list_outbox(d, kind="reminder"), path))
    assert n in (0, 6)
    assert invoke("reminders", "plan", "--round", "NOPE", "--db", str(path)).exit_code == 2


def test_status_problems_show_a_guessing_campaign_and_refused_hand_overs(tmp_path: Path) -> None:
    """docs/credentials.md: a burst of failed claims across chats, and a holder's "not me",
    are problems for staff (no chat id, no code in the line)."""
    from engine import step
    from engine.types import Choose, Start
    from storage.credentials import new_short_code
    from storage.conversations import SqliteConversationStore

    path = tmp_path / "g.db"
    rid, ids = _seed(path)
    db = str(path)
    quiet = invoke("status", "--round", "LC2025", "--problems", "--db", db)
    assert quiet.exit_code == 0 and "dò mã" not in quiet.output and "không phải tôi" not in quiet.output

    async def attack(d):  # noqa: ANN001, ANN202
        store = SqliteConversationStore(d)
        people = await list_respondents(d, rid)
        target = next(p for p in people if p.status == "sampled")
        claim = await store.claim_invite(target.token, "telegram", "holder-chat")
        survey = await store.survey(claim.session.state.survey_hash)
        res = step(survey, claim.session.state, Start(), 1.0)
        await store.commit_step(claim.session, res.state, res.events, "telegram", "h1")
        s = await store.session_for_chat("telegram", "holder-chat")
        res = step(survey, s.state, Choose("q_consent", 1), 2.0)
        await store.commit_step(s, res.state, res.events, "telegram", "h2")
        assert (await store.claim_invite(target.card_code, "zalo", "thief-chat")).status == "held"
        assert (await store.decide_handover("telegram", "holder-chat", False)).status == "denied"
        codes = {p.card_code for p in people}
        for n in range(45):
            code = new_short_code()
            if code not in codes:
                await store.claim_invite(f"{code[:4]} {code[4:]}", "zalo", f"guesser-{n}")
        return target.id

    target = _run(attack, path)
    r = invoke("status", "--round", "LC2025", "--problems", "--db", db)
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "possible invitation-code guessing on zalo" in out and "from 30 chats" in out
    assert "guesser-" not in out and "thief-chat" not in out
    assert f"respondents {target}" in out and "không phải tôi" in out
