"""``make demo`` prints the console's URL and a demo login; with ``--web`` the console stays up
(serving the demo database) until Ctrl-C."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import aiohttp
import pytest

from hailong.console.demo_web import serve_demo_console
from support.console_db import ConsoleDb, build


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> ConsoleDb:
    return build(tmp_path_factory.mktemp("demo") / "base.db", completed=40)


async def test_the_demo_prints_a_login_that_works_and_serves_until_stopped(built: ConsoleDb, tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    shutil.copy(built.path, path)
    lines: list[str] = []
    await serve_demo_console(path, lines.append, keep=False)
    assert "hailong web --insecure-cookies" in "\n".join(lines)
    stop = asyncio.Event()
    lines.clear()
    task = asyncio.ensure_future(serve_demo_console(path, lines.append, keep=True, port=0, stop=stop))
    for _ in range(100):
        if lines:
            break
        await asyncio.sleep(0.05)
    m = re.search(r"(http://127\.0\.0\.1:\d+)\s+đăng nhập / login: (\S+) / (\S+)", lines[0])
    assert m, lines
    url, user, password = m.groups()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:   # an IP host
        page = await (await http.get(url + "/login")).text()
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        r = await http.post(url + "/login", data={"username": user, "password": password, "csrf": token})
        assert r.status == 200 and "LC-2025" in await r.text()
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 10)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(url + "/login")
