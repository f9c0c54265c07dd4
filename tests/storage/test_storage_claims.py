"""Claims in storage: the ledger and its limits (storage/claims.py), one refusal for every code a
chat may not use, and the hand-over rule (storage/handovers.py, docs/claim_texts.md)."""

from __future__ import annotations

import json
import logging

import pytest

from engine import claim_texts
from engine import step
from engine.types import Choose, Command, Done, Start
from storage.credentials import new_short_code
from storage.claims import ClaimPolicy, claims_report
from storage.credentials import MALFORMED, Credential, read_credential
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.handovers import handover_counts
from storage.outbox import list_outbox
from storage.respondents import set_status
from storage.rounds import close_round
from demo.seed import seed_round, tiny_survey

T0 = 1_760_000_000.0


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def seeded(db):
    return await seed_round(db, tiny_survey(), respondents=6)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(db, clock):
    return SqliteConversationStore(db, clock=clock)


def wrong_codes(n: int, taken: set[str]) -> list[str]:
    """Codes that pass the check character (what a guesser who read the code sends) but belong
    to nobody."""
    out: list[str] = []
    while len(out) < n:
        c = new_short_code()
        if c not in taken and c not in out:
            out.append(c)
    return out


def spaced(code: str, n: int) -> str:
    """The forms citizens (and guessers) type: with a space, a dash, lower case, a prefix."""
    return (f"{code[:4]} {code[4:]}", f"ks-{code[:3]}-{code[3:]}".lower(), f"Mã KS: {code.lower()}", code)[n % 4]


async def answer_q1(store, seeded, channel: str, chat: str, i: int = 0):
    claim = await store.claim_invite(seeded.respondents[i].token, channel, chat)
    assert claim.status == "ok", claim
    s = claim.session
    survey = await store.survey(s.state.survey_hash)
    r1 = step(survey, s.state, Start(), T0)
    assert await store.commit_step(s, r1.state, r1.events, channel, f"{chat}:start")
    s = await store.session_for_chat(channel, chat)
    r2 = step(survey, s.state, Choose("q1", 1), T0 + 1)
    assert await store.commit_step(s, r2.state, r2.events, channel, f"{chat}:q1")
    return survey


# ------------------------------------------------------------------ normalise first

def test_read_credential_normalises_every_form_of_one_attempt():
    code = new_short_code()
    for form in (code, code.lower(), f"{code[:4]} {code[4:]}", f"{code[:3]}-{code[3:]}", f"KS {code}",
                 f"Mã KS: {code.lower()}", f" ks-{code[:2]} {code[2:]} ", f"ＫＳ {code}", f"Mã số: {code}",
                 f"mả {code[:4]} {code[4:]}", f"CODE #{code}"):
        assert read_credential(form) == Credential("code", code), form
    bad = code[:-1] + ("2" if code[-1] != "2" else "3")          # a wrong check character
    for form in (bad, f"{bad[:4]} {bad[4:]}", f"KS {bad}", "hello123", "KS ABCDE", "mã 12345"):
        assert read_credential(form) == MALFORMED, form
    for not_an_attempt in ("xin chào", "tôi muốn trả lời khảo sát", "", "   ", "1", "hài lòng",
                           "x" * 5000, "🙂" * 8, None, 12345):
        assert read_credential(not_an_attempt) is None, not_an_attempt
    new, old = "A" * 32, "b-_" * 8
    assert read_credential(new) == Credential("token", new)
    assert read_credential(old) == Credential("token", old)          # 144-bit tokens still work


async def test_new_tokens_are_192_bits_and_old_24_character_tokens_still_claim(db, seeded, store):
    assert {len(r.token) for r in seeded.respondents} == {32}
    old = "Q" * 20 + "-_x1"
    await db.write(lambda c: c.execute("UPDATE respondents SET token = ? WHERE id = ?",
                                       (old, seeded.respondents[0].id)))
    claim = await store.claim_invite(old, "telegram", "legacy")
    assert claim.status == "ok" and claim.session.respondent_id == seeded.respondents[0].id


# ------------------------------------------------------------------ the per-chat limit

async def test_a_chat_is_limited_whatever_the_spelling_and_the_ledger_outlives_the_process(db_url, clock):
    path = db_url
    db = await Database.open(path)
    seeded = await seed_round(db, tiny_survey(), respondents=3)
    right = seeded.respondents[0].card_code
    store = SqliteConversationStore(db, clock=clock)
    taken = {r.card_code for r in seeded.respondents}
    for n, code in enumerate(wrong_codes(5, taken)):
        clock.t += 10
        assert (await store.claim_invite(spaced(code, n), "zalo", "guesser")).status == "unknown"
    clock.t += 10
    refused = await store.claim_invite(f"{right[:4]} {right[4:]}", "zalo", "guesser")   # even the right one
    assert refused.status == "limited" and 800 < refused.retry_after <= 900
    # a second process on the same database, and a restart, see the same ledger
    other = await Database.open(path)
    try:
        assert (await SqliteConversationStore(other, clock=clock).claim_invite(right, "zalo", "guesser")).status \
            == "limited"
    finally:
        await other.close()
    await db.close()
    db = await Database.open(path)
    try:
        store = SqliteConversationStore(db, clock=clock)
        assert (await store.claim_invite(right, "zalo", "guesser")).status == "limited"
        assert (await store.claim_invite(right, "zalo", "someone-else")).status == "ok"   # per chat
        clock.t += refused.retry_after + 1
        assert (await store.claim_invite(right, "zalo", "guesser")).status == "ok"
        assert await db.fetchval("SELECT COUNT(*) FROM claim_attempts WHERE outcome = 'failed'") == 5
        assert await db.fetchval("SELECT SUM(refused) FROM claim_refusals") == 3
    finally:
        await db.close()


async def test_typos_count_against_the_chat_and_a_redelivered_claim_counts_once(db, seeded, store, clock):
    for n in range(6):
        clock.t += 1
        c = await store.claim_invite("KS AAAAA0", "telegram", "typist", update_key="same-update")
        assert c.status == "typo" and c.repeat == (n > 0)
    assert await db.fetchval("SELECT COUNT(*) FROM claim_attempts") == 1
    for n in range(4):
        assert (await store.claim_invite(f"hello12{n}", "telegram", "typist", update_key=f"u{n}")).status == "typo"
    assert (await store.claim_invite(seeded.respondents[0].token, "telegram", "typist")).status == "limited"
    # typos are never looked up: they do not count against the channel
    assert await db.fetchval("SELECT COUNT(*) FROM claim_attempts WHERE outcome = 'failed'") == 0


# ------------------------------------------------------------------ the channel: ceiling and campaign

async def test_a_guessing_campaign_slows_every_claim_is_logged_and_reported(db, seeded, store, clock, caplog):
    taken = {r.card_code for r in seeded.respondents}
    codes = wrong_codes(40, taken)
    caplog.set_level(logging.INFO, logger="hailong.claims")
    statuses = []
    for n, code in enumerate(codes):                # 40 chats, one wrong code each, 5 s apart
        clock.t += 5
        statuses.append((await store.claim_invite(spaced(code, n), "zalo", f"bot-{n}")).status)
    policy = store.claim_policy
    assert statuses[:policy.campaign_failures_per_hour] == ["unknown"] * policy.campaign_failures_per_hour
    # from the 31st on: one look-up per 60 s on the channel, for everyone (the 30th was 50 s ago)
    assert set(statuses[30:]) == {"slowed"}
    honest = await store.claim_invite(seeded.respondents[1].card_code, "zalo", "citizen")
    assert honest.status == "slowed" and 0 < honest.retry_after <= 60
    assert (await store.claim_invite(seeded.respondents[1].token, "telegram", "tg")).status == "ok"   # per channel
    clock.t += honest.retry_after
    assert (await store.claim_invite(seeded.respondents[1].card_code, "zalo", "citizen")).status == "ok"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    line = warnings[0].getMessage()
    assert "guessing on zalo" in line and "from 30 chats" in line
    assert "bot-" not in line and not any(c in line or c.lower() in line for c in codes)
    report = {c.channel: c for c in await claims_report(db, policy, clock.t)}
    z = report["zalo"]
    assert z.campaign and z.failed == 30 and z.chats == 30 and z.refused == 11
    assert "telegram" not in report
    clock.t += 2 * 3600                              # the burst is over: back to normal
    assert (await store.claim_invite(wrong_codes(1, taken)[0], "zalo", "late")).status == "unknown"
    assert any("back to normal" in r.getMessage() for r in caplog.records)
    assert not any(c.campaign for c in await claims_report(db, policy, clock.t))


async def test_the_channel_ceiling_holds_when_the_spacing_is_off(db, seeded, clock):
    store = SqliteConversationStore(db, clock=clock, claim_policy=ClaimPolicy(
        channel_failures_per_hour=50, campaign_failures_per_hour=10, campaign_spacing_s=0))
    taken = {r.card_code for r in seeded.respondents}
    out = []
    for n, code in enumerate(wrong_codes(80, taken)):
        clock.t += 1
        out.append((await store.claim_invite(code, "telegram", f"c{n}")).status)
    assert out.count("unknown") == 50 and set(out[50:]) == {"limited"}


async def test_old_ledger_rows_are_pruned(db, seeded, store, clock):
    taken = {r.card_code for r in seeded.respondents}
    for n, code in enumerate(wrong_codes(3, taken)):
        await store.claim_invite(code, "zalo", f"old-{n}")
    clock.t += store.claim_policy.keep_s + 120
    await store.claim_invite(wrong_codes(1, taken)[0], "zalo", "new")
    assert await db.fetchval("SELECT COUNT(*) FROM claim_attempts") == 1
    assert await db.fetchval("SELECT COUNT(*) FROM claim_refusals") == 0


def test_policy_refuses_nonsense():
    for bad in (dict(chat_failures=0), dict(chat_window_s=0), dict(keep_s=60), dict(campaign_spacing_s=-1)):
        with pytest.raises(ValueError):
            ClaimPolicy(**bad)


# ------------------------------------------------------------------ no oracle

async def test_codes_a_chat_does_not_hold_all_get_the_same_answer(db, seeded, store, clock):
    """Unknown, used (bound to another chat and finished), completed, closed and withdrawn: one
    answer to a stranger; the chat bound to the household gets the specific text."""
    rs = seeded.respondents
    survey = await answer_q1(store, seeded, "telegram", "owner1", 1)            # r1: completed
    for k, inp in enumerate((Choose("q2", 4), Choose("q3", 1), Done("q3"), Command("submit"))):
        s = await store.session_for_chat("telegram", "owner1")
        res = step(survey, s.state, inp, T0 + 5 + k)
        assert await store.commit_step(s, res.state, res.events, "telegram", f"o1-{k}")
    assert res.state.status == "submitted"
    assert (await store.claim_invite(rs[2].token, "zalo", "owner2")).status == "ok"           # r2: withdrawn
    await set_status(db, rs[2].id, "refused", actor="staff")
    other = await seed_round(db, tiny_survey("closed-one"), respondents=1, code="R0", frame="f0")
    assert (await store.claim_invite(other.respondents[0].card_code, "zalo", "owner3")).status == "ok"
    await close_round(db, other.round.id)                                          # closed
    taken = {r.card_code for r in rs} | {other.respondents[0].card_code}
    cases = {"unknown": wrong_codes(1, taken)[0], "completed": rs[1].card_code,
             "withdrawn": rs[2].card_code, "closed": other.respondents[0].card_code}
    owners = {"completed": ("telegram", "owner1"), "withdrawn": ("zalo", "owner2"), "closed": ("zalo", "owner3")}
    for n, (what, code) in enumerate(cases.items()):
        for channel in ("telegram", "zalo"):
            c = await store.claim_invite(spaced(code, n), channel, f"stranger-{channel}")
            assert c.status == "unknown", (what, channel)
            assert claim_texts.claim_reply(c.status, channel) == claim_texts.REFUSED
        if what in owners:
            ch, chat = owners[what]
            c = await store.claim_invite(code, ch, chat)
            assert c.status == what and claim_texts.claim_reply(c.status, ch) == claim_texts.OWNER[what]


# ------------------------------------------------------------------ hand-overs

async def test_a_second_chat_is_held_and_the_holder_is_asked_once(db, seeded, store, clock):
    await answer_q1(store, seeded, "telegram", "holder")
    code = seeded.respondents[0].card_code
    for n in range(3):                               # the claimant insists, and redeliveries
        clock.t += 60
        c = await store.claim_invite(spaced(code, n), "zalo", "newphone", update_key=f"m{n}")
        assert c.status == "held" and c.session is None
        assert 11 * 3600 < c.retry_after <= 12 * 3600
    assert (await store.claim_invite(code, "zalo", "third")).status == "held"
    assert await store.session_for_chat("zalo", "newphone") is None
    holder = await store.session_for_chat("telegram", "holder")
    assert holder is not None and holder.state.answers == {"q1": 1}
    asks = [m for m in await list_outbox(db) if m.kind == "notice"]
    assert len(asks) == 1 and (asks[0].channel, asks[0].chat_id) == ("telegram", "holder")
    text, buttons = asks[0].payload["text"], asks[0].payload["buttons"]
    assert "Cho phép" in text and "Not me" in text and "Zalo" in text
    assert [b["text"] for b in buttons[0]] == [claim_texts.ALLOW_LABEL, claim_texts.DENY_LABEL]
    assert all(claim_texts.button_decision(b["callback_data"]) for b in buttons[0])
    assert (await handover_counts(db, seeded.round.id)).pending == 1


async def test_allowed_move_continues_with_everything_visible(db, seeded, store, clock):
    await answer_q1(store, seeded, "zalo", "holder")
    assert (await store.claim_invite(seeded.respondents[0].token, "telegram", "newphone")).status == "held"
    ask = [m for m in await list_outbox(db) if m.kind == "notice"][0]
    assert "buttons" not in ask.payload and "CHO PHÉP" in ask.payload["text"]      # typed words on Zalo
    assert (await store.decide_handover("zalo", "someone-else", True)).status == "none"
    assert (await store.decide_handover("zalo", "holder", True)).status == "allowed"
    assert (await store.decide_handover("zalo", "holder", True)).status == "none"   # answered already
    c = await store.claim_invite(seeded.respondents[0].token, "telegram", "newphone")
    assert c.status == "ok" and not c.sealed and c.session.state.hidden == [] and c.session.state.answers == {"q1": 1}
    assert await store.session_for_chat("zalo", "holder") is None
    told = [m for m in await list_outbox(db) if m.kind == "notice" and m.chat_id == "newphone"]
    assert len(told) == 1 and "/start" in told[0].payload["text"]


async def test_not_me_refuses_the_claimant_for_good_and_staff_see_it(db, seeded, store, clock):
    from fieldwork.status_cli import credential_problems

    await answer_q1(store, seeded, "telegram", "holder")
    assert (await store.claim_invite(seeded.respondents[0].card_code, "zalo", "thief")).status == "held"
    ask = [m for m in await list_outbox(db) if m.kind == "notice"][0]
    nonce, _ = claim_texts.button_decision(ask.payload["buttons"][0][1]["callback_data"])
    assert (await store.decide_handover("telegram", "holder", False, "forged-nonce-123")).status == "none"
    assert (await store.decide_handover("telegram", "holder", False, nonce)).status == "denied"
    clock.t += 7 * 24 * 3600                          # long after any timeout
    assert (await store.claim_invite(seeded.respondents[0].card_code, "zalo", "thief")).status == "not_allowed"
    assert (await store.session_for_chat("telegram", "holder")).state.answers == {"q1": 1}
    counts = await handover_counts(db, seeded.round.id)
    assert counts.denied == 1 and counts.denied_respondents == (seeded.respondents[0].id,)
    lines = credential_problems([], counts)
    assert len(lines) == 1 and str(seeded.respondents[0].id) in lines[0] and "không phải tôi" in lines[0]
    told = [m for m in await list_outbox(db) if m.chat_id == "thief"]
    assert [m.payload["text"] for m in told] == [claim_texts.NOT_ALLOWED]


async def test_no_answer_in_time_continues_with_earlier_answers_hidden(db, seeded, store, clock):
    survey = await answer_q1(store, seeded, "telegram", "holder")
    assert (await store.claim_invite(seeded.respondents[0].card_code, "zalo", "newphone")).status == "held"
    clock.t += store.claim_policy.handover_timeout_s + 1
    c = await store.claim_invite(seeded.respondents[0].card_code, "zalo", "newphone")
    assert c.status == "ok" and c.sealed and c.session.state.hidden == ["q1"]
    assert await store.session_for_chat("telegram", "holder") is None
    st = c.session.state
    assert st.answers == {"q1": 1}                    # kept for the analysis, not shown
    res = step(survey, st, Start(), clock.t)
    shown = "\n".join(r.text for r in res.replies)
    assert "Câu 2/" in shown and "Có" not in shown
    back = step(survey, res.state, Command("back"), clock.t)
    assert "giữ kín" in back.replies[0].text and back.state.current == res.state.current
    review = step(survey, res.state, Command("review"), clock.t)
    assert "(đã trả lời trên thiết bị trước)" in review.replies[0].text
    again = await store.claim_invite(seeded.respondents[0].card_code, "zalo", "newphone")
    assert again.status == "ok" and not again.sealed                 # told once
    stored = json.loads(await db.fetchval("SELECT state FROM responses WHERE respondent_id = ?",
                                          (seeded.respondents[0].id,)))
    assert stored["hidden"] == ["q1"]


async def test_an_unreachable_holder_lets_the_claimant_continue_at_once(db, seeded, store, clock):
    await answer_q1(store, seeded, "telegram", "holder")
    assert (await store.claim_invite(seeded.respondents[0].token, "telegram", "newphone")).status == "held"
    await db.write(lambda c: c.execute("UPDATE outbox SET status = 'dead' WHERE dedupe_key LIKE 'handover:%:ask'"))
    c = await store.claim_invite(seeded.respondents[0].token, "telegram", "newphone")
    assert c.status == "ok" and c.sealed


async def test_a_credential_without_answers_moves_at_once_and_the_old_chat_is_told(db, seeded, store, clock):
    assert (await store.claim_invite(seeded.respondents[3].token, "telegram", "first")).status == "ok"
    c = await store.claim_invite(seeded.respondents[3].card_code, "zalo", "second")
    assert c.status == "ok" and not c.sealed
    assert await store.session_for_chat("telegram", "first") is None
    told = [m for m in await list_outbox(db) if m.chat_id == "first"]
    assert len(told) == 1 and "tài khoản Zalo khác" in told[0].payload["text"]
    # the first chat claims back (it was not them): nothing answered yet, so it simply returns
    assert (await store.claim_invite(seeded.respondents[3].token, "telegram", "first")).status == "ok"
    assert await store.session_for_chat("zalo", "second") is None
