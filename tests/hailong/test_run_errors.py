"""``hailong run``'s start-up errors go through the one CLI error helper (``storage.commands.fail``)
with the redactor of its logs: a PostgreSQL password and a bot token never reach the operator's
screen, even when what a library said about the failure quotes them."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from support.processes import one_bilingual_line, run_to_exit


async def test_a_database_error_shows_neither_the_password_nor_the_bot_token(tmp_path: Path,
                                                                              postgres_server: str) -> None:
    password, token = "Sup3r-secret-pw", "123456:SECRET-token-abcdef"
    server = urlsplit(postgres_server)
    # the database's name carries both secrets, so the server's "does not exist" quotes them
    url = (f"postgresql://{server.username or 'postgres'}:{password}@{server.hostname}:{server.port or 5432}/"
           f"{password}-{token}")
    code, text, _took = await run_to_exit(tmp_path, "--token", token, "--db", url)
    line = one_bilingual_line(text)
    assert code == 2, text
    assert "PostgreSQL" in line and "***" in line, line
    assert password not in text and token not in text and "SECRET-token" not in text, text
