"""The staff console on a PostgreSQL database: every page for every role, the results page and
its downloads (analytics reads through a snapshot), and the purge page (the console's pages
that run outside the event loop take the database's URL, not a file path). The console's
database is built on SQLite and moved with ``hailong db copy``'s function."""

from __future__ import annotations

import re
from typing import Any

import io

import openpyxl
import pytest
from aiohttp.test_utils import TestClient, TestServer

from hailong.console.app import ConsoleConfig, make_app
from hailong.console.roles import PERMISSIONS
from storage.copy import copy_database
from storage.db import Database
from support.console_db import ACCOUNTS, ROUND, ConsoleDb, build, csrf_of, login, pages


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> ConsoleDb:
    return build(tmp_path_factory.mktemp("console-pg") / "base.db", completed=60)


@pytest.fixture
async def env(built: ConsoleDb, pg_url: str) -> Any:
    await copy_database(str(built.path), pg_url)
    db = await Database.open(pg_url)
    assert db.backend == "postgresql"
    client = TestClient(TestServer(make_app(db, ConsoleConfig(secure_cookies=False, bootstrap=30))))
    await client.start_server()
    try:
        yield client, db, built
    finally:
        await client.close()
        await db.close()


async def test_every_page_answers_for_every_role_on_postgresql(env: Any) -> None:
    client, _db, built = env
    for user, role, unit in ACCOUNTS:
        client.session.cookie_jar.clear()
        assert (await login(client, user)).status == 303
        allowed = PERMISSIONS[role]
        for path, perms in pages(built, unit).items():
            r = await client.get(path, allow_redirects=False)
            expected = 200 if any(p in allowed for p in perms) else 403
            assert r.status == expected, (user, path, r.status, (await r.read())[:300])


async def test_results_and_downloads_on_postgresql(env: Any) -> None:
    client, _db, _ = env
    await login(client, "analyst")
    page = await (await client.get(f"/rounds/{ROUND}/results")).text()
    assert re.search(r'id="headline">([0-9.,]+)%', page), page[:500]
    r = await client.get(f"/rounds/{ROUND}/download/xlsx")
    assert r.status == 200
    assert len(openpyxl.load_workbook(io.BytesIO(await r.read()), read_only=True).sheetnames) > 5
    r = await client.get(f"/rounds/{ROUND}/download/csv")
    assert r.status == 200 and len(await r.read()) > 100


async def test_an_admin_purges_a_round_on_postgresql(env: Any) -> None:
    client, db, _ = env
    await login(client, "admin")
    csrf = await csrf_of(client)
    text = await (await client.get(f"/rounds/{ROUND}/purge")).text()
    assert "chưa đóng" in text and 'name="confirm"' not in text                 # still open: blocked
    await client.post(f"/rounds/{ROUND}/close", data={"csrf": csrf, "reason": "xong"})
    await db.write(lambda conn: conn.execute("UPDATE recheck SET outcome = 'confirmed', recorded_by = 't',"
                                             " recorded_at = 1.0"))
    text = await (await client.get(f"/rounds/{ROUND}/purge")).text()
    assert 'name="confirm"' in text
    r = await client.post(f"/rounds/{ROUND}/purge", data={"csrf": csrf, "confirm": f"{ROUND}'; DROP TABLE contacts; --"})
    assert r.status == 400                                                       # a forged confirmation
    assert await db.fetchval("SELECT COUNT(*) FROM contacts WHERE phone IS NOT NULL") > 0
    r = await client.post(f"/rounds/{ROUND}/purge", data={"csrf": csrf, "confirm": ROUND})
    assert r.status == 200 and "Đã xóa dữ liệu cá nhân" in await r.text()
    assert await db.fetchval("SELECT COUNT(*) FROM contacts WHERE phone IS NOT NULL") == 0
    assert await db.fetchval("SELECT actor FROM audit_log WHERE action = 'privacy.purge'") == "web:admin"
