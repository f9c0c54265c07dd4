"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL (``db_url``).

PostgreSQL is found, in order: ``$HAILONG_TEST_POSTGRES`` (a URL; ``.ci/run`` sets it), else a
throwaway cluster started by pytest-postgresql with the local PostgreSQL binaries (``pg_ctl``;
not as root, which PostgreSQL refuses), else the PostgreSQL tests are skipped with one line
saying why. With ``HAILONG_REQUIRE_POSTGRES=1`` (CI) a missing server fails them instead.

Each test gets its own schema (``search_path`` in the URL), dropped afterwards, so tests run in
parallel on one server without seeing each other's rows.
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import psycopg
import pytest

from storage.db import Database
from storage.dialect import parse_db_url

PG_ENV = "HAILONG_TEST_POSTGRES"
REQUIRE_ENV = "HAILONG_REQUIRE_POSTGRES"
BACKENDS = ("sqlite", "postgresql")


def _with_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@functools.lru_cache(maxsize=1)
def _pg_status() -> tuple[str | None, str]:
    """("env", url) / ("proc", "") if PostgreSQL tests can run, (None, why not) otherwise."""
    url = os.environ.get(PG_ENV, "").strip()
    if url:
        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            return None, f"{PG_ENV} is set but the server does not answer: {str(exc).strip()[:200]}"
        return "env", url
    if shutil.which("pg_ctl") is None:
        return None, f"{PG_ENV} is not set and no pg_ctl is installed to start a throwaway cluster"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return None, f"{PG_ENV} is not set and PostgreSQL refuses to start a cluster as root"
    return "proc", ""


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def _needs_pg(item: pytest.Item) -> bool:
    params = getattr(getattr(item, "callspec", None), "params", {})
    return ("pg_url" in getattr(item, "fixturenames", ()) or "postgres_server" in getattr(item, "fixturenames", ())
            or params.get("db_url") == "postgresql" or params.get("new_db_url") == "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql: the test runs on PostgreSQL (tests/conftest.py)")


#: The tests that take a minute or more (``--durations``; the demo runs, the kill loops, the
#: README walkthroughs), longest first. They are collected first, so that with ``make test``
#: (``-n 2``; the scheduler below hands out tests in collection order) each worker starts on one
#: of them and the short tests fill in behind: scheduled last, one of them kept one worker busy
#: minutes after the other had finished. A prefix of a node id; a stale entry costs only order.
SLOW_FIRST: tuple[str, ...] = (
    "tests/bot/test_channels_kill.py::test_citizens_who_never_nudge_finish_through_20_kills",
    "tests/docs/test_readme.py::test_analyst_section_runs_on_the_demo_database",
    "tests/docs/test_readme.py::test_staff_walkthrough_runs_in_order",
    "tests/bot/test_workers_run_kill.py::test_three_webhook_workers_killed_at_random",
    "tests/fieldwork/test_fieldwork_broadcast.py::test_broadcast_2000_with_sigkill_and_restart",
    "tests/hailong/test_cli_db_url.py::test_a_round_on_the_url_backends",
    "tests/analytics/test_analytics_paper.py::test_export_and_report_cli",
    "tests/bot/zalo/test_zalo_credentials.py::test_brute_force_on_zalo",
    "tests/docs/test_readme.py::test_invites_make_without_bot_username",
    "tests/analytics/test_report_content.py::test_report_cli_writes_docx",
    "tests/bot/telegram/test_telegram_run.py::test_only_one_run_serves_a_database",
    "tests/analytics/test_analytics_design.py::test_intervals_cover_the_truth",
    "tests/storage/test_storage_crash.py::test_sigkill_loses_no_acknowledged_answer",
    "tests/storage/test_workers_kill.py::test_three_workers_killed_at_random",
)


#: Test modules whose tests all go to one xdist worker: their module-scoped fixture is too costly
#: to build on both (test_demo_e2e's ``runs``: two demo runs). Why not ``--dist loadgroup`` and
#: ``xdist_group``: pytest-xdist 3.8 tags the node id through ``item._nodeid``, which pytest 9.2
#: no longer reads, so the group is silently ignored.
ONE_WORKER: tuple[str, ...] = ("tests/demo/test_demo_e2e.py",)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``-n`` and the default ``--dist load``: tests one by one in collection order, except
    the modules of :data:`ONE_WORKER`, each sent whole to one worker (and first: xdist hands out
    the largest units first)."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerModules(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in ONE_WORKER else nodeid

    return OneWorkerModules(config, log)


def _slow_rank(item: pytest.Item) -> int:
    return next((i for i, prefix in enumerate(SLOW_FIRST) if item.nodeid.startswith(prefix)), len(SLOW_FIRST))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a server (and not required): the PostgreSQL tests are left out, and the summary
    says why in one line; with ``HAILONG_REQUIRE_POSTGRES=1`` they stay and fail. The slow tests
    go first (:data:`SLOW_FIRST`; a stable sort, the rest keep their order)."""
    items.sort(key=_slow_rank)
    for it in items:
        if _needs_pg(it):
            it.add_marker(pytest.mark.postgresql)
    mode, _ = _pg_status()
    if mode is not None or _required():
        return
    dropped = [it for it in items if _needs_pg(it)]
    if dropped:
        items[:] = [it for it in items if not _needs_pg(it)]
        config.hook.pytest_deselected(items=dropped)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    mode, detail = _pg_status()
    ran = sum(1 for key in ("passed", "failed", "error") for r in terminalreporter.stats.get(key, [])
              if getattr(r, "when", "call") == "call" and "postgresql" in getattr(r, "keywords", {}))
    if mode is None:
        terminalreporter.write_line(f"PostgreSQL tests skipped: {detail}")
    else:
        where = "a throwaway cluster (pytest-postgresql)" if mode == "proc" else parse_db_url(detail).redacted()
        terminalreporter.write_line(f"PostgreSQL tests ran: {ran} on {where}")


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> str:
    """A PostgreSQL server URL for this test session (see the module docstring)."""
    mode, detail = _pg_status()
    if mode is None:
        pytest.fail(f"PostgreSQL required ({REQUIRE_ENV}=1) but {detail}")
    if mode == "env":
        return detail
    proc = request.getfixturevalue("postgresql_proc")
    password = f":{proc.password}" if proc.password else ""
    return f"postgresql://{proc.user}{password}@{proc.host}:{proc.port}/postgres"


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    """A URL to an empty schema of its own on the test server."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield _with_schema(postgres_server, schema)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A database URL for each backend: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return str(tmp_path / "t.db")
    return request.getfixturevalue("pg_url")


@pytest.fixture(params=BACKENDS)
def new_db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[Callable[[str], str]]:
    """A factory of fresh database URLs (``new_db_url("a")``) on each backend, for tests that
    compare two databases."""
    if request.param == "sqlite":
        yield lambda name: str(tmp_path / f"{name}.db")
        return
    server = request.getfixturevalue("postgres_server")
    schemas: list[str] = []

    def make(name: str) -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        schemas.append(schema)
        return _with_schema(server, schema)

    yield make
    with psycopg.connect(server, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """An open database on each backend (``db_url``), closed after the test."""
    d = await Database.open(db_url)
    yield d
    await d.close()
