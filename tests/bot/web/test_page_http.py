"""The questionnaire page over real HTTP without JavaScript: the pure engine, SQLite storage and
the page app, driven by a scripted browser that only reads HTML and posts forms
(``demo.page_client``). Browser tests with Chromium are in test_page_browser.py."""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from demo.page_client import PageClient, answer_whole_page_survey
from demo.emulators.telegram_rules import sign_init_data
from bot.web.app import PageApp, PageConfig
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.responses import current_answers, get_response_for_respondent
from demo.seed import seed_round
from survey_defs.loader import get_survey

TOKEN = "123456:TEST-token-for-the-page"
KEY = b"page-test-key-0123456789abcdef"


@dataclass
class PageWorld:
    db: Database
    store: SqliteConversationStore
    page: PageApp
    server: TestServer
    tokens: list[str]
    ids: list[int]
    clock: list[float]

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def client(self) -> PageClient:
        return PageClient(self.base)

    async def stored(self, respondent_id: int) -> dict:
        resp = await get_response_for_respondent(self.db, respondent_id)
        assert resp is not None
        return await current_answers(self.db, resp.id)


@pytest.fixture
async def world(tmp_path: Path):
    db = await Database.open(str(tmp_path / "page.db"))
    seeded = await seed_round(db, get_survey("sipas-households"), respondents=8)
    clock = [time.time()]
    store = SqliteConversationStore(db, clock=lambda: clock[0])
    page = PageApp(store, db, PageConfig(key=KEY, telegram_token=TOKEN), clock=lambda: clock[0])
    root = web.Application()
    page.mount(root)
    server = TestServer(root, host="127.0.0.1")
    await server.start_server()
    w = PageWorld(db, store, page, server, [r.token for r in seeded.respondents],
                  [r.id for r in seeded.respondents], clock)
    yield w
    await server.close()
    await db.close()


async def _claimed(world: PageWorld, i: int):
    client = world.client()
    page = await client.claim(f"/p/t/{world.tokens[i]}")
    assert page.status == 200 and page.kind == "section", page.text[:300]
    return client, page


async def test_whole_household_questionnaire_on_the_page(world: PageWorld) -> None:
    survey = get_survey("sipas-households")
    client, page = await _claimed(world, 0)
    try:
        assert page.section == "consent" and "Khảo sát" in page.text
        last, chosen = await answer_whole_page_survey(client, page, survey, random.Random(3))
        assert last.kind == "end" and "cảm ơn" in last.text.lower()
        assert await world.stored(world.ids[0]) == chosen
        assert len(chosen) >= 80
        rows = await world.db.fetchall("SELECT DISTINCT channel FROM answers")
        assert [r[0] for r in rows] == ["web"]             # every answer records the page
        status = await world.db.fetchone("SELECT status FROM respondents WHERE id = ?", (world.ids[0],))
        assert status[0] == "completed"
        # one commit per page submitted, never one per answer
        assert world.page.stats["commits"] <= 14 < world.page.stats["answers"]
    finally:
        await client.close()


async def test_relevance_and_back_drop_answers_that_no_longer_apply(world: PageWorld) -> None:
    client, page = await _claimed(world, 1)
    try:
        page = await client.submit(page, {"q_consent": "1"})
        page = await client.submit(page, {"q_age": "44", "q_household_rep": "1", "q_literate": "1",
                                          "q_legal_capacity": "1"})
        assert page.section == "profile" and "q_ethnic_other" not in page.fields
        page = await client.submit(page, {"q_sex": "1", "q_ethnic": "2", "q_edu": "3", "q_occ": "1"})
        # "Khác" opened a question: the same section again, with it
        assert page.section == "profile" and "q_ethnic_other" in page.fields
        assert any("thêm câu hỏi" in n for n in page.notices)
        page = await client.submit(page, {"q_ethnic_other": "Thái"})
        assert page.section == "perception"
        assert (await world.stored(world.ids[1]))["q_ethnic_other"] == "Thái"
        page = await client.submit(page, action="back")
        assert page.section == "profile" and page.fields["q_ethnic_other"].value == "Thái"
        page = await client.submit(page, {"q_ethnic": "1"})
        assert page.section == "perception"
        stored = await world.stored(world.ids[1])
        assert stored["q_ethnic"] == 1 and "q_ethnic_other" not in stored
        cleared = await world.db.fetchone("SELECT cleared FROM answers WHERE step_id = 'q_ethnic_other'"
                                          " ORDER BY revision DESC LIMIT 1")
        assert cleared[0] == 1                      # dropped by the engine, kept in the history
    finally:
        await client.close()


async def test_required_and_invalid_answers_are_the_engines_words(world: PageWorld) -> None:
    client, page = await _claimed(world, 2)
    try:
        page = await client.submit(page, {"q_consent": "1"})
        blank = await client.submit(page, {})
        assert blank.section == "screening" and blank.fields["q_age"].error
        assert "bắt buộc" in blank.fields["q_age"].error.lower()
        bad = await client.submit(blank, {"q_age": "hai mươi", "q_household_rep": "1"})
        assert bad.fields["q_age"].error and bad.fields["q_age"].value == "hai mươi"
        assert bad.fields["q_household_rep"].options[0][2]        # kept checked though not stored yet
        old = await client.submit(bad, {"q_age": "200"})
        assert "120" in old.fields["q_age"].error
        stored = await world.stored(world.ids[2])
        assert "q_age" not in stored and stored["q_consent"] == 1
        # too long for a text question: the engine refuses, nothing stored
        assert "q_household_rep" not in stored
    finally:
        await client.close()


async def test_under_age_ends_the_interview_like_the_chat(world: PageWorld) -> None:
    client, page = await _claimed(world, 3)
    try:
        page = await client.submit(page, {"q_consent": "1"})
        page = await client.submit(page, {"q_age": "15"})
        assert page.kind == "end" and "18" in page.text
        st = await world.db.fetchone("SELECT status FROM respondents WHERE id = ?", (world.ids[3],))
        assert st[0] == "ineligible"
        again = await client.get(page.url)
        assert again.kind == "end"
    finally:
        await client.close()


async def test_the_same_form_sent_twice_is_stored_once(world: PageWorld) -> None:
    client, page = await _claimed(world, 4)
    try:
        first = await client.submit(page, {"q_consent": "1"})
        revs = await world.db.fetchone("SELECT state_rev FROM responses")
        replay = await client.submit(page, {"q_consent": "0"})     # same nonce, other value
        assert replay.kind == "section" and replay.section == first.section
        assert await world.db.fetchone("SELECT state_rev FROM responses") == revs
        assert (await world.stored(world.ids[4])) == {"q_consent": 1}
        assert world.page.stats["duplicates"] == 1
    finally:
        await client.close()


async def test_language_switch_and_english(world: PageWorld) -> None:
    client, page = await _claimed(world, 5)
    try:
        page = await client.submit(page, action="lang:en")
        assert "Save and continue" in page.html and page.section == "consent"
        page = await client.submit(page, {"q_consent": "1"})
        assert "How old are you" in page.text or "age" in page.text.lower()
        page = await client.submit(page, action="lang:vi")
        assert "Lưu và tiếp tục" in page.html
    finally:
        await client.close()


async def test_review_edit_and_submit_like_the_chat(world: PageWorld) -> None:
    survey = get_survey("sipas-households")
    client, page = await _claimed(world, 6)
    try:
        review, chosen = await answer_whole_page_survey(client, page, survey, random.Random(5), submit=False)
        assert review.kind == "review" and "edit:q_consent" in review.actions
        edit = [a for a in review.actions if a.startswith("edit:q_sex")]
        page = await client.submit(review, action=edit[0])
        assert page.section == "profile"
        other = "2" if str(chosen["q_sex"]) == "1" else "1"
        page = await client.submit(page, {"q_sex": other})
        assert page.kind == "review"                  # every later step still answered
        done = await client.submit(page, action="submit")
        assert done.kind == "end"
        assert (await world.stored(world.ids[6]))["q_sex"] == int(other)
    finally:
        await client.close()


# ------------------------------------------------------------------ hostile input


async def test_security_headers_on_every_response(world: PageWorld) -> None:
    client = world.client()
    try:
        for url in (f"/p/t/{world.tokens[0]}", "/p/s/forged.ticket", "/p/tg", "/p/static/page.css"):
            async with client.session.get(world.base + url) as resp:
                h = resp.headers
                assert h["Referrer-Policy"] == "no-referrer", url
                assert "default-src 'none'" in h["Content-Security-Policy"] and "script-src 'self'" in \
                    h["Content-Security-Policy"], url
                assert h["X-Content-Type-Options"] == "nosniff"
    finally:
        await client.close()


async def test_first_page_is_small_and_asks_nothing_from_elsewhere(world: PageWorld) -> None:
    client, page = await _claimed(world, 0)
    try:
        sizes = [len(page.html.encode())]
        refs = re.findall(r'(?:src|href)="([^"]+)"', page.html)
        assert refs and all(r.startswith("/p/") for r in refs), refs
        for r in refs:
            async with client.session.get(world.base + r) as resp:
                sizes.append(len(await resp.read()))
        assert sum(sizes) < 60_000, sizes
        assert "http://" not in page.html and "https://" not in page.html
    finally:
        await client.close()


async def test_forged_expired_and_foreign_tickets_are_refused(world: PageWorld) -> None:
    client, page = await _claimed(world, 1)
    try:
        ticket = page.url.rsplit("/s/", 1)[1]
        body, sig = ticket.split(".")
        forged = await client.get(f"/p/s/{body}.{sig[:-2]}AA")
        assert forged.status == 403 and "không hợp lệ" in forged.text
        other_id = ticket.replace(body, body[:-1] + ("A" if body[-1] != "A" else "B"))
        assert (await client.get(f"/p/s/{other_id}")).status == 403
        for junk in ("x", "a" * 500, "..", "%00", "e30.e30"):
            assert (await client.get(f"/p/s/{junk}")).status in (403, 404)
        # the same URL from another browser (no cookie of this one): refused, nothing shown
        stranger = world.client()
        try:
            seen = await stranger.get(page.url)
            assert seen.status == 403 and not seen.fields
        finally:
            await stranger.close()
        # expired
        world.clock[0] += world.page.config.ticket_ttl_s + 10
        late = await client.get(page.url)
        assert late.status == 403
    finally:
        await client.close()


async def test_forms_without_a_valid_csrf_token_or_nonce_are_refused(world: PageWorld) -> None:
    client, page = await _claimed(world, 2)
    try:
        ok_hidden = dict(page.hidden)
        bad = [("csrf", "x" * 22), ("n", ok_hidden["n"]), ("section", "consent"), ("q_consent", "1")]
        r = await client.post(page.form_action, bad)
        assert r.status == 403
        no_nonce = [("csrf", ok_hidden["csrf"]), ("section", "consent"), ("q_consent", "1")]
        assert (await client.post(page.form_action, no_nonce)).status == 400
        # a token of another respondent's page does not work here
        other, other_page = await _claimed(world, 3)
        try:
            mixed = [("csrf", other_page.hidden["csrf"]), ("n", "a" * 20), ("section", "consent"), ("q_consent", "1")]
            assert (await client.post(page.form_action, mixed)).status == 403
        finally:
            await other.close()
        cross = await client.session.post(world.base + page.form_action, data=list(page.hidden.items()),
                                          headers={"Origin": "https://evil.example"})
        assert cross.status == 403
        assert await world.stored(world.ids[2]) == {}
    finally:
        await client.close()


async def test_junk_values_and_foreign_fields_change_nothing_they_should_not(world: PageWorld) -> None:
    client, page = await _claimed(world, 4)
    try:
        page = await client.submit(page, {"q_consent": "1"})
        data = list(page.hidden.items()) + [
            ("q_age", "4" * 5000), ("q_household_rep", "7"), ("q_literate", "<script>alert(1)</script>"),
            ("q1_a", "5"), ("q_comment", "chèn vào phần khác"), ("section", "nope"), ("action", "next")]
        r = await client.post(page.form_action, data)
        assert r.status == 200 and "<script>alert" not in r.html
        stored = await world.stored(world.ids[4])
        assert stored == {"q_consent": 1}
        big = [("csrf", page.hidden["csrf"]), ("n", "b" * 20), ("q_comment", "x" * 400_000)]
        async with client.session.post(world.base + page.form_action, data=big) as resp:
            assert resp.status == 413
        unknown_action = list(page.hidden.items()) + [("action", "edit:" + "z" * 300)]
        r = await client.post(page.form_action, unknown_action)
        assert r.status == 200 and r.kind == "section"
    finally:
        await client.close()


async def test_too_many_failures_from_one_address_are_slowed(world: PageWorld) -> None:
    client = world.client()
    try:
        statuses = [(await client.get(f"/p/s/bad{i}.x")).status for i in range(25)]
        assert statuses[0] == 403 and statuses[-1] == 429
        page = await client.get(f"/p/t/{world.tokens[0]}")
        assert page.status == 429 and "thử lại" in page.text
    finally:
        await client.close()


async def test_invitation_claims_go_through_the_claim_ledger(world: PageWorld) -> None:
    client = world.client()
    try:
        for i in range(6):
            landing = await client.get(f"/p/t/{'A' * 31}{i}")
            r = await client.post(landing.form_action or "", list(landing.hidden.items()))
        assert r.status == 429 and "thử lại sau" in r.text
        rows = await world.db.fetchall("SELECT channel, outcome FROM claim_attempts")
        assert {row[0] for row in rows} == {"web"} and len(rows) >= 5
        landing = await client.get("/p/t/KS4F7K2QM")             # a card code is not a link
        assert landing.status == 404
    finally:
        await client.close()


async def test_a_second_browser_never_sees_the_first_ones_answers(world: PageWorld) -> None:
    first, page = await _claimed(world, 5)
    try:
        page = await first.submit(page, {"q_consent": "1"})
        page = await first.submit(page, {"q_age": "61", "q_household_rep": "1", "q_literate": "1",
                                         "q_legal_capacity": "1"})
        second = world.client()
        try:
            held = await second.claim(f"/p/t/{world.tokens[5]}")
            assert held.kind == "message" and "đang được dùng" in held.text
            assert "61" not in held.html and not held.fields
        finally:
            await second.close()
        # the first browser still holds it
        again = await first.get(page.url)
        assert again.kind == "section" and again.section == "profile"
    finally:
        await first.close()


# ------------------------------------------------------------------ Telegram Mini App


async def _bind_telegram(world: PageWorld, i: int, uid: int) -> None:
    claim = await world.store.claim_invite(world.tokens[i], "telegram", str(uid), f"u{uid}")
    assert claim.status == "ok"


def _init(uid: int, auth_date: int, token: str = TOKEN, **extra: str) -> str:
    fields = {"user": json.dumps({"id": uid, "first_name": "Lan", "language_code": "vi"}),
              "auth_date": str(auth_date), "query_id": "AAH1", **extra}
    return sign_init_data(token, fields)


async def test_mini_app_binds_to_the_chats_respondent(world: PageWorld) -> None:
    await _bind_telegram(world, 6, 5551)
    client = world.client()
    try:
        boot = await client.get("/p/tg")
        assert boot.kind == "tg"
        async with client.session.post(world.base + "/p/tg",
                                       data={"initData": _init(5551, int(world.clock[0]))}) as resp:
            assert resp.status == 200
            url = (await resp.json())["url"]
        page = await client.get(url)
        assert page.kind == "section" and page.section == "consent"
        page = await client.submit(page, {"q_consent": "1"})
        session = await world.store.session_for_chat("telegram", "5551")
        assert session is not None and session.state.answers == {"q_consent": 1}
        # a page of another browser with the same ticket works too (Telegram's clients share no
        # cookies with us): the ticket names the chat, and the chat must still hold the invitation
        await world.store.claim_invite(world.tokens[6], "telegram", "7777", "u7777")   # moves: nothing
        assert (await client.get(url)).status in (200, 410)
    finally:
        await client.close()


async def test_forged_and_stale_init_data_are_refused(world: PageWorld) -> None:
    await _bind_telegram(world, 7, 6661)
    now = int(world.clock[0])
    good = _init(6661, now)
    cases = {
        "other bot's token": _init(6661, now, token="999:OTHER"),
        "user changed after signing": good.replace("6661", "6662"),
        "stale": _init(6661, now - 2 * 3600),
        "future": _init(6661, now + 3600),
        "hash removed": re.sub(r"&?hash=[0-9a-f]+", "", good),
        "hash uppercased": re.sub(r"hash=([0-9a-f]+)", lambda m: "hash=" + m.group(1).upper(), good),
        "duplicated field": good + "&auth_date=" + str(now),
        "junk": "%%%&&&===",
        "empty": "",
        "too long": good + "&x=" + "a" * 5000,
        "no user": sign_init_data(TOKEN, {"auth_date": str(now)}),
        "user id not a number": sign_init_data(TOKEN, {"auth_date": str(now), "user": '{"id":"6661"}'}),
    }
    client = world.client()
    try:
        for name, init in cases.items():
            async with client.session.post(world.base + "/p/tg", data={"initData": init}) as resp:
                assert resp.status == 403, name
                body = await resp.json()
                assert "url" not in body and "Telegram" in body["error"], name
        assert world.page.stats["forged_init_data"] == len(cases)
    finally:
        await client.close()


async def test_mini_app_without_a_bound_chat_gets_no_page(world: PageWorld) -> None:
    client = world.client()
    try:
        async with client.session.post(world.base + "/p/tg", data={"initData": _init(8881, int(world.clock[0]))}) as r:
            assert r.status == 404 and "url" not in await r.json()
    finally:
        await client.close()


def _shows_age(html: str) -> bool:
    """The age 67 given before the hand-over appears on the page as a value of its own (not as
    two characters inside a random token or id, which made a plain substring test flaky)."""
    return re.search(r"(?<![A-Za-z0-9_-])67(?![A-Za-z0-9_-])", html) is not None


async def test_after_an_unanswered_hand_over_earlier_answers_stay_hidden_on_the_page(world: PageWorld) -> None:
    first, page = await _claimed(world, 7)
    try:
        page = await first.submit(page, {"q_consent": "1"})
        page = await first.submit(page, {"q_age": "67", "q_household_rep": "1", "q_literate": "1",
                                         "q_legal_capacity": "1"})
    finally:
        await first.close()
    second = world.client()
    try:
        held = await second.claim(f"/p/t/{world.tokens[7]}")
        assert held.kind == "message" and not _shows_age(held.html)
        world.clock[0] += 13 * 3600                     # the holder never answered the request
        page = await second.claim(f"/p/t/{world.tokens[7]}")
        assert page.kind == "section" and page.section == "profile"
        assert not _shows_age(page.html)
        page = await second.submit(page, action="back")
        # the engine refuses to go back into answers given before the hand-over
        assert page.section == "profile" and not _shows_age(page.html)
        review = await second.submit(page, action="edit:q_age")
        assert not _shows_age(review.html)
    finally:
        await second.close()


async def test_constraints_exclusive_choices_and_optional_questions_on_the_mini_survey(tmp_path: Path) -> None:
    from support.transcripts import survey_of

    survey = survey_of("mini")
    db = await Database.open(str(tmp_path / "mini.db"))
    seeded = await seed_round(db, survey, respondents=1)
    store = SqliteConversationStore(db)
    app = PageApp(store, db, PageConfig(key=KEY))
    root = web.Application()
    app.mount(root)
    server = TestServer(root, host="127.0.0.1")
    await server.start_server()
    client = PageClient(str(server.make_url("")))
    try:
        page = await client.claim(f"/p/t/{seeded.respondents[0].token}")
        page = await client.submit(page, {"consent": "1", "represent": "1", "age": "40"})
        assert page.section == "profile" and "Phần 1" in page.text          # the note is shown
        assert "(Không bắt buộc)" in page.fields["children"].legend
        page = await client.submit(page, {"ethnic": "1", "household_size": "0", "channels": ["1", "5"]})
        assert page.fields["household_size"].error == "Hộ phải có ít nhất 1 người."
        page = await client.submit(page, {"household_size": "4"})
        assert "channels" in page.fields and page.fields["channels"].error      # "5" excludes the others
        page = await client.submit(page, {"channels": ["1", "2"], "used": "0"})  # children blank: skipped
        assert page.section != "profile"
        session = await store.session_for_chat("web", next(c.value for c in client.session.cookie_jar
                                                            if c.key == "hl_b"))
        assert session is not None
        answers = session.state.answers
        assert answers["household_size"] == 4 and answers["channels"] == [1, 2] and "children" not in answers
        assert session.state.meta["children"].answered_at is not None            # settled as skipped
    finally:
        await client.close()
        await server.close()
        await db.close()
