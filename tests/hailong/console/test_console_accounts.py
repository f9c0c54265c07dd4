"""``hailong staff …``: accounts, chats, passwords, roles, and the bad input each refuses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hailong.cli import app
from hailong.console.passwords import verify_password
from storage.db import Database
from storage.staff import credentials_for, list_accounts, staff_chat_ids
from demo.seed import seed_round, tiny_survey

runner = CliRunner()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "staff.db"

    async def seed() -> None:
        async with await Database.open(str(path)) as db:
            await seed_round(db, tiny_survey(), respondents=2)

    asyncio.run(seed())
    return path


def staff(db_path: Path, *args: str, password: str | None = None) -> tuple[int, str]:
    res = runner.invoke(app, ["staff", *args, "--db", str(db_path)], input=password)
    return res.exit_code, res.output


def test_accounts_are_created_listed_linked_and_changed(db_path: Path) -> None:
    code, out = staff(db_path, "add", "Ha.Nguyen", "--role", "admin", "--name", "Nguyễn Thu Hà", "--password-stdin",
                      password="một mật khẩu dài\n")
    assert code == 0, out
    code, out = staff(db_path, "add", "bo", "--role", "commune", "--unit", "C1", "--password-stdin",
                      password="mật khẩu của xã\n")
    assert code == 0, out
    code, out = staff(db_path, "link-chat", "ha.nguyen", "--chat-id", "123456789")
    assert code == 0, out
    code, out = staff(db_path, "list")
    assert code == 0 and "ha.nguyen" in out and "Xã Thử 1" in out
    asyncio.run(_check_created(db_path))
    assert staff(db_path, "disable", "ha.nguyen")[0] == 0
    assert staff(db_path, "role", "bo", "--role", "analyst")[0] == 0
    assert staff(db_path, "password", "bo", "--password-stdin", password="mật khẩu mới đây\n")[0] == 0
    assert staff(db_path, "unlink-chat", "--chat-id", "123456789")[0] == 0
    asyncio.run(_check_changed(db_path))


async def _check_created(db_path: Path) -> None:
    async with await Database.open(str(db_path)) as db:
        creds = await credentials_for(db, "HA.NGUYEN")
        assert creds is not None and verify_password(creds[1], "một mật khẩu dài")
        assert "một mật khẩu dài" not in creds[1]
        assert await staff_chat_ids(db, "telegram") == {"123456789"}


async def _check_changed(db_path: Path) -> None:
    async with await Database.open(str(db_path)) as db:
        assert await staff_chat_ids(db, "telegram") == set()
        accounts = {a.username: a for a in await list_accounts(db)}
        assert not accounts["ha.nguyen"].active and accounts["bo"].role == "analyst" and accounts["bo"].unit_id is None
        creds = await credentials_for(db, "bo")
        assert creds is not None and verify_password(creds[1], "mật khẩu mới đây")
        actions = [r[0] for r in await db.fetchall("SELECT action FROM audit_log WHERE action LIKE 'staff.%'")]
        assert actions == ["staff.add", "staff.add", "staff.link_chat", "staff.disable", "staff.role",
                           "staff.password", "staff.unlink_chat"]


@pytest.mark.parametrize("args,password,message", [
    (["add", "x", "--role", "admin", "--password-stdin"], "mật khẩu dài đây\n", "bad user name"),
    (["add", "a" * 65, "--role", "admin", "--password-stdin"], "mật khẩu dài đây\n", "bad user name"),
    (["add", "ha ha", "--role", "admin", "--password-stdin"], "mật khẩu dài đây\n", "bad user name"),
    (["add", "ha", "--role", "boss", "--password-stdin"], "mật khẩu dài đây\n", "unknown role"),
    (["add", "ha", "--role", "commune", "--password-stdin"], "mật khẩu dài đây\n", "needs a unit"),
    (["add", "ha", "--role", "commune", "--unit", "NOPE", "--password-stdin"], "mật khẩu dài đây\n", "no unit"),
    (["add", "ha", "--role", "admin", "--password-stdin"], "short\n", "at least 10"),
    (["add", "ha", "--role", "admin", "--password-stdin"], " leading space x\n", "start or end"),
    (["add", "ha", "--role", "admin", "--password-stdin"], "p" * 300 + "\n", "longer than"),
    (["add", "ha", "--role", "admin", "--lang", "fr", "--password-stdin"], "mật khẩu dài đây\n", "vi or en"),
    (["link-chat", "nobody", "--chat-id", "1"], None, "no account"),
    (["link-chat", "nobody", "--chat-id", "1; DROP TABLE x"], None, "bad chat id"),
    (["link-chat", "nobody", "--channel", "sms", "--chat-id", "1"], None, "unknown channel"),
    (["disable", "nobody"], None, "no account"),
    (["unlink-chat", "--chat-id", "42"], None, "not linked"),
])
def test_bad_input_is_refused_with_a_bilingual_message(db_path: Path, args: list[str], password: str | None,
                                                             message: str) -> None:
    code, out = staff(db_path, *args, password=password)
    assert code != 0 and message in " ".join(out.split()), out
    assert "Traceback" not in out


def test_a_taken_name_is_refused(db_path: Path) -> None:
    assert staff(db_path, "add", "ha", "--role", "admin", "--password-stdin", password="mật khẩu dài đây\n")[0] == 0
    code, out = staff(db_path, "add", "HA", "--role", "analyst", "--password-stdin", password="mật khẩu dài đây\n")
    assert code == 2 and "is taken" in out
