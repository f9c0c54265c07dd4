"""The staff console over HTTP (aiohttp test server, real database): every page for every role,
personal data only where the role allows it, scoping, sessions, CSRF, rate limiting and hostile
input. Browser behaviour (htmx, downloads) is in test_console_browser.py."""

from __future__ import annotations

import asyncio
import io
import re
import shutil
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from hailong.console.app import ConsoleConfig, make_app
from hailong.console.roles import PERMISSIONS
from hailong.console.texts import TEXTS
from storage.audit import list_audit
from storage.db import Database
from support.console_db import (ACCOUNTS, PASSWORD, ROUND, STAFF_CHAT, ConsoleDb, build, csrf_of, login, pages,
                                 unit_id)

TEMPLATES = Path(__file__).parents[3] / "hailong" / "console" / "templates"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> ConsoleDb:
    return build(tmp_path_factory.mktemp("console") / "base.db")


@pytest.fixture
async def env(built: ConsoleDb, tmp_path: Path) -> Any:
    path = tmp_path / "console.db"
    shutil.copy(built.path, path)
    db = await Database.open(str(path))
    cfg = ConsoleConfig(secure_cookies=False, bootstrap=60)
    client = TestClient(TestServer(make_app(db, cfg)))
    await client.start_server()
    try:
        yield client, db, built
    finally:
        await client.close()
        await db.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(built: ConsoleDb, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One console for the page × role matrix (it only reads): the results are computed once."""
    path = tmp_path_factory.mktemp("shared") / "console.db"
    shutil.copy(built.path, path)
    db = await Database.open(str(path))
    client = TestClient(TestServer(make_app(db, ConsoleConfig(secure_cookies=False, bootstrap=60))))
    await client.start_server()
    try:
        yield client, db, built
    finally:
        await client.close()
        await db.close()


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("user,role,unit", ACCOUNTS)
async def test_every_page_renders_for_every_role_without_personal_data_it_should_not_see(
        shared: Any, user: str, role: str, unit: str | None) -> None:
    client, db, built = shared
    client.session.cookie_jar.clear()
    codes = [r[0] for r in await db.fetchall("SELECT card_code FROM respondents")]
    resp = await login(client, user)
    assert resp.status == 303, await resp.text()
    allowed = PERMISSIONS[role]
    for path, perms in pages(built, unit).items():
        r = await client.get(path, allow_redirects=False)
        body = await r.read()
        assert r.status != 500, (user, path)
        expected = 200 if any(p in allowed for p in perms) else 403
        assert r.status == expected, (user, path, r.status, body[:200])
        if r.content_type.startswith("text/html") or r.content_type == "text/plain":
            text = body.decode("utf-8")
            shown_phones = [p for p in built.phones if p in text]
            if "phones" not in allowed:
                assert not shown_phones, (user, path, shown_phones[:3])
            if "invites" not in allowed:       # card codes are credentials: only for those who hand out cards
                assert not [c for c in codes if c in text], (user, path, "card code shown")
            for chat in built.chat_ids:
                if chat == STAFF_CHAT and role == "admin" and path == "/staff":
                    continue
                assert chat not in text, (user, path, "chat id shown")


async def test_the_admin_sees_phone_numbers_and_the_staff_chat(env: Any) -> None:
    client, _db, built = env
    await login(client, "admin")
    text = await (await client.get(f"/rounds/{ROUND}/recheck")).text()
    assert any(p in text for p in built.phones)
    assert STAFF_CHAT in await (await client.get("/staff")).text()


async def test_a_commune_officer_sees_only_their_commune_and_gets_403_elsewhere(env: Any) -> None:
    client, _db, built = env
    await login(client, "xa11")
    text = await (await client.get(f"/rounds/{ROUND}/progress")).text()
    assert "Xã 1.1" in text and "Bản 1.1.1" in text
    assert "Xã 1.2" not in text and "Xã 2.1" not in text and "Huyện 2" not in text
    other = unit_id(built, "D02C01V01")
    for path in (f"/rounds/{ROUND}/units/{other}", f"/rounds/{ROUND}/units/{other}/cards.pdf",
                 f"/rounds/{ROUND}/units/{unit_id(built, 'D01')}"):
        r = await client.get(path)
        assert r.status == 403, path
        assert "không có quyền" in await r.text()
    worklist = await (await client.get(f"/rounds/{ROUND}/recheck")).text()
    assert "Bản 2." not in worklist and "Bản 1.1." in worklist


async def test_recording_a_recheck_outcome_is_scoped_checked_and_audited(env: Any) -> None:
    client, db, built = env
    await login(client, "xa11")
    csrf = await csrf_of(client, f"/rounds/{ROUND}/recheck")
    rows = await db.fetchall("SELECT r.respondent_id, p.unit_id FROM recheck r JOIN respondents p ON p.id ="
                             " r.respondent_id")
    mine = [rid for rid, uid in rows if uid in (unit_id(built, "D01C01V01"), unit_id(built, "D01C01V02"))]
    theirs = [rid for rid, uid in rows if uid == unit_id(built, "D02C01V01")]
    assert mine and theirs
    r = await client.post(f"/rounds/{ROUND}/recheck/{theirs[0]}", data={"csrf": csrf, "outcome": "confirmed"})
    assert r.status == 403
    r = await client.post(f"/rounds/{ROUND}/recheck/{mine[0]}", data={"csrf": csrf, "outcome": "not_confirmed"})
    assert r.status == 400 and "needs a note" in await r.text()
    r = await client.post(f"/rounds/{ROUND}/recheck/{mine[0]}", data={"csrf": csrf, "outcome": "bogus"})
    assert r.status == 400
    r = await client.post(f"/rounds/{ROUND}/recheck/{mine[0]}",
                          data={"csrf": csrf, "outcome": "not_confirmed", "note": "hộ nói không trả lời"})
    assert r.status == 200 and "Đã ghi kết quả phúc tra" in await r.text()
    row = await db.fetchone("SELECT outcome, note, recorded_by FROM recheck WHERE respondent_id = ?", (mine[0],))
    assert tuple(row) == ("not_confirmed", "hộ nói không trả lời", "web:xa11")
    actions = [e.action for e in await list_audit(db)]
    assert "recheck.outcome" in actions and "staff.login" in actions


async def test_posts_without_csrf_or_from_another_site_are_refused(env: Any) -> None:
    client, db, _built = env
    await login(client, "admin")
    before = await db.fetchval("SELECT status FROM rounds WHERE code = ?", (ROUND,))
    r = await client.post(f"/rounds/{ROUND}/close", data={"reason": "x"})
    assert r.status == 403 and "form expired" in (await r.text()) or "hết hạn" in await r.text()
    r = await client.post(f"/rounds/{ROUND}/close", data={"reason": "x", "csrf": "forged" * 5})
    assert r.status == 403
    csrf = await csrf_of(client)
    r = await client.post(f"/rounds/{ROUND}/close", data={"csrf": csrf}, headers={"Origin": "http://evil.example"})
    assert r.status == 403
    assert await db.fetchval("SELECT status FROM rounds WHERE code = ?", (ROUND,)) == before == "open"
    r = await client.post(f"/rounds/{ROUND}/close", data={"csrf": csrf, "reason": "xong"}, allow_redirects=False)
    assert r.status == 303
    assert await db.fetchval("SELECT status FROM rounds WHERE code = ?", (ROUND,)) == "closed"


async def test_forged_expired_and_missing_sessions_lead_to_the_login_page(env: Any, built: ConsoleDb) -> None:
    client, db, _ = env
    for cookie in ("", "x" * 43, "A" * 5000, "' OR 1=1 --" + "x" * 20):
        client.session.cookie_jar.clear()
        client.session.cookie_jar.update_cookies({"hailong_session": cookie})
        r = await client.get(f"/rounds/{ROUND}/progress", allow_redirects=False)
        assert r.status == 303 and r.headers["Location"].startswith("/login"), cookie[:20]
        r = await client.post(f"/rounds/{ROUND}/close", data={"csrf": "x"}, allow_redirects=False)
        assert r.status == 401
    client.session.cookie_jar.clear()
    await login(client, "analyst")
    assert (await client.get(f"/rounds/{ROUND}/progress")).status == 200
    # a cookie replayed after logout opens nothing
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["hailong_session"].value
    r = await client.post("/logout", data={"csrf": await csrf_of(client, f"/rounds/{ROUND}/progress")},
                          allow_redirects=False)
    assert r.status == 303
    client.session.cookie_jar.update_cookies({"hailong_session": cookie})
    r = await client.get(f"/rounds/{ROUND}/progress", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith("/login")
    await login(client, "analyst")
    await db.write(lambda conn: conn.execute("UPDATE staff_sessions SET expires_at = 1"))
    r = await client.get(f"/rounds/{ROUND}/progress", allow_redirects=False)
    assert r.status == 303


async def test_an_idle_session_expires(built: ConsoleDb, tmp_path: Path) -> None:
    path = tmp_path / "idle.db"
    shutil.copy(built.path, path)
    async with await Database.open(str(path)) as db:
        client = TestClient(TestServer(make_app(db, ConsoleConfig(secure_cookies=False, idle_timeout_s=0.01))))
        await client.start_server()
        try:
            assert (await login(client, "analyst")).status == 303
            await asyncio.sleep(0.1)
            r = await client.get("/rounds", allow_redirects=False)
            assert r.status == 303 and r.headers["Location"].startswith("/login")
        finally:
            await client.close()


async def test_login_is_rate_limited_per_user_name_in_the_database(env: Any) -> None:
    client, db, _ = env
    for _ in range(5):
        r = await login(client, "xa21", "wrong password!")
        assert r.status == 401 and "Sai tên đăng nhập" in await r.text()
    r = await login(client, "xa21")               # the right password no longer helps
    assert r.status == 429 and "Quá nhiều lần" in await r.text()
    assert await db.fetchval("SELECT COUNT(*) FROM staff_login_attempts WHERE username = 'xa21' AND ok = 0") == 6
    assert (await login(client, "xa11")).status == 303   # another user is not locked out


async def test_hostile_login_and_form_input(env: Any) -> None:
    client, db, built = env
    page = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)  # type: ignore[union-attr]
    r = await client.post("/login", data={"username": "admin", "password": PASSWORD})     # no CSRF token
    assert r.status == 403
    r = await client.post("/login", data={"username": "a" * 10_000, "password": "p" * 10_000, "csrf": token})
    assert r.status in (400, 401)
    r = await client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": token,
                                          "next": "//evil.example/x"}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/rounds"
    csrf = await csrf_of(client)
    rid = await db.fetchval("SELECT respondent_id FROM recheck LIMIT 1")
    r = await client.post(f"/rounds/{ROUND}/recheck/{rid}", data={"csrf": csrf, "outcome": "confirmed",
                                                                  "note": "x" * 501})
    assert r.status == 400 and "500" in await r.text()
    r = await client.post(f"/rounds/{ROUND}/recheck/{rid}", data={"csrf": csrf, "outcome": "confirmed",
                                                                  "note": "x" * 100_000})
    assert r.status in (400, 413)
    for path in (f"/rounds/{'x' * 500}/progress", f"/rounds/{ROUND}/units/99999999999999",
                 f"/rounds/{ROUND}/units/-1", f"/rounds/{ROUND}/download/exe", "/rounds/<script>/progress",
                 f"/rounds/{ROUND}/results/chart/nope.png"):
        r = await client.get(path)
        assert r.status == 404, path
    r = await client.post("/rounds", data={"csrf": csrf, "code": "X" * 41, "plan": "laichau-2025",
                                           "survey": "sipas-households"})
    assert r.status == 400
    for code, plan, survey in (("LC-2026", "../../etc/passwd", "sipas-households"),
                               ("LC-2026", "laichau-2025", "/etc/passwd"), ("a/b", "laichau-2025", "sipas-households"),
                               ("<b>x</b>", "laichau-2025", "sipas-households")):
        r = await client.post("/rounds", data={"csrf": csrf, "code": code, "plan": plan, "survey": survey})
        assert r.status == 400 and "root:" not in await r.text(), (code, plan, survey)
    r = await client.delete("/rounds")
    assert r.status == 405


async def test_an_admin_creates_a_round_from_a_plan(env: Any) -> None:
    client, db, _ = env
    await login(client, "admin")
    csrf = await csrf_of(client)
    r = await client.post("/rounds", data={"csrf": csrf, "code": "LC-2026", "name": "Đợt thử 2026",
                                           "plan": "laichau-2025", "survey": "sipas-households",
                                           "closes": "2026-12-31"})
    assert r.status == 200 and "hailong sample draw --round LC-2026" in await r.text()
    row = await db.fetchone("SELECT status, sampling_plan_id, name FROM rounds WHERE code = 'LC-2026'")
    assert tuple(row) == ("draft", "laichau-2025", "Đợt thử 2026")
    assert (await db.fetchone("SELECT actor FROM audit_log WHERE action = 'round.create' ORDER BY id DESC"))[0] \
        == "web:admin"


async def test_results_downloads_open_and_match_the_page(env: Any) -> None:
    client, _db, _ = env
    await login(client, "analyst")
    page = await (await client.get(f"/rounds/{ROUND}/results")).text()
    headline = re.search(r'id="headline">([0-9.,]+)%', page).group(1)  # type: ignore[union-attr]
    r = await client.get(f"/rounds/{ROUND}/download/xlsx")
    assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(await r.read()), read_only=True)
    assert len(wb.sheetnames) > 5
    for fmt in ("csv", "parquet", "sav"):
        r = await client.get(f"/rounds/{ROUND}/download/{fmt}")
        assert r.status == 200 and len(await r.read()) > 100, fmt
    assert headline.replace(",", ".") != ""


async def test_session_cookie_attributes_when_secure(built: ConsoleDb, tmp_path: Path) -> None:
    path = tmp_path / "secure.db"
    shutil.copy(built.path, path)
    async with await Database.open(str(path)) as db:
        client = TestClient(TestServer(make_app(db, ConsoleConfig())))
        await client.start_server()
        try:
            page = await client.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)  # type: ignore[union-attr]
            assert "secure" in page.headers["Set-Cookie"].lower()
            r = await client.post("/login", data={"username": "analyst", "password": PASSWORD, "csrf": token},
                                  headers={"Cookie": f"hailong_login={token}"}, allow_redirects=False)
            assert r.status == 303
            cookie = [v for k, v in r.headers.items() if k.lower() == "set-cookie" and "__Host-hailong=" in v][0]
            low = cookie.lower()
            assert "httponly" in low and "secure" in low and "samesite=strict" in low and "path=/" in low
            assert "domain" not in low
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
            stored = await db.fetchval("SELECT token_hash FROM staff_sessions")
            token = cookie.split("=", 1)[1].split(";")[0]
            assert stored != token and len(stored) == 64
        finally:
            await client.close()


def test_every_text_used_by_a_template_exists_in_both_languages() -> None:
    used: set[str] = set()
    for p in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r'_\("([a-z0-9_]*[a-z0-9])"', p.read_text(encoding="utf-8")))
    missing = sorted(k for k in used if k not in TEXTS)
    assert not missing
    for key, (vi, en) in TEXTS.items():
        assert vi and en, key
    assert TEXTS["recheck"][0] == "Phúc tra"


async def test_the_language_switch(env: Any) -> None:
    client, _db, _ = env
    await login(client, "analyst")
    assert "Tiến độ" in await (await client.get(f"/rounds/{ROUND}/progress")).text()
    r = await client.get(f"/lang/en?next=/rounds/{ROUND}/progress")
    text = await r.text()
    assert "Progress" in text and "AAPOR funnel" in text
    assert (await client.get("/lang/xx")).status == 404


async def test_static_assets_are_served_by_the_package(env: Any) -> None:
    client, _db, _ = env
    r = await client.get("/static/htmx.min.js")
    assert r.status == 200 and b"htmx" in await r.read()
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py"):
        r = await client.get(path, allow_redirects=False)
        assert b"make_app" not in await r.read(), path


async def test_an_admin_draws_the_recheck_sample_as_the_cli_does(env: Any) -> None:
    client, db, _ = env
    await login(client, "admin")
    csrf = await csrf_of(client)
    before = await db.fetchval("SELECT COUNT(*) FROM recheck")
    for bad in ("abc", "0", "150", "9" * 7):
        r = await client.post(f"/rounds/{ROUND}/recheck/draw", data={"csrf": csrf, "share": bad})
        assert r.status == 400, bad
    r = await client.post(f"/rounds/{ROUND}/recheck/draw", data={"csrf": csrf, "share": "20"})
    assert r.status == 200 and "Đã rút" in await r.text()
    after = await db.fetchval("SELECT COUNT(*) FROM recheck")
    completed = await db.fetchval("SELECT COUNT(*) FROM respondents WHERE status = 'completed'")
    assert after > before and after >= round(0.2 * completed) - 2
    await login(client, "xa11")
    r = await client.post(f"/rounds/{ROUND}/recheck/draw", data={"csrf": await csrf_of(client), "share": "20"})
    assert r.status == 403


async def test_an_admin_purges_a_closed_rechecked_round_after_confirming(env: Any) -> None:
    client, db, built = env
    await login(client, "admin")
    csrf = await csrf_of(client)
    r = await client.get(f"/rounds/{ROUND}/purge")
    text = await r.text()
    assert r.status == 200 and "chưa đóng" in text and 'name="confirm"' not in text      # still open: blocked
    await client.post(f"/rounds/{ROUND}/close", data={"csrf": csrf, "reason": "xong"})
    await db.write(lambda conn: conn.execute("UPDATE recheck SET outcome = 'confirmed', recorded_by = 't',"
                                             " recorded_at = 1.0"))
    text = await (await client.get(f"/rounds/{ROUND}/purge")).text()
    assert 'name="confirm"' in text and "liên hệ" in text
    assert await db.fetchval("SELECT COUNT(*) FROM contacts WHERE phone IS NOT NULL") > 0
    r = await client.post(f"/rounds/{ROUND}/purge", data={"csrf": csrf, "confirm": "LC-2024"})
    assert r.status == 400
    assert await db.fetchval("SELECT COUNT(*) FROM contacts WHERE phone IS NOT NULL") > 0
    r = await client.post(f"/rounds/{ROUND}/purge", data={"confirm": ROUND})                 # no CSRF token
    assert r.status == 403
    r = await client.post(f"/rounds/{ROUND}/purge", data={"csrf": csrf, "confirm": ROUND})
    assert r.status == 200 and "Đã xóa dữ liệu cá nhân" in await r.text()
    assert await db.fetchval("SELECT COUNT(*) FROM contacts WHERE phone IS NOT NULL") == 0
    assert await db.fetchval("SELECT actor FROM audit_log WHERE action = 'privacy.purge'") == "web:admin"
    await login(client, "analyst")
    assert (await client.get(f"/rounds/{ROUND}/purge")).status == 403


async def test_a_forged_forwarded_for_does_not_escape_the_per_client_limit(built: ConsoleDb, tmp_path: Path) -> None:
    path = tmp_path / "xff.db"
    shutil.copy(built.path, path)
    async with await Database.open(str(path)) as db:
        cfg = ConsoleConfig(secure_cookies=False, login_failures_per_client=3)
        client = TestClient(TestServer(make_app(db, cfg)))
        await client.start_server()
        try:
            page = await client.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)  # type: ignore[union-attr]
            statuses = []
            for i in range(4):           # a different user name and a forged address each time
                r = await client.post("/login", data={"username": f"guess{i}", "password": "x" * 12, "csrf": token},
                                      headers={"X-Forwarded-For": f"10.0.{i}.1"})
                statuses.append(r.status)
            assert statuses == [401, 401, 401, 429]
        finally:
            await client.close()
