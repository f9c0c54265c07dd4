"""``hailong run --channel telegram [--channel zalo]``: run the chat channels on one database.

Channels plug in through a small registry, filled in one place (this module, below): each entry
names a factory ``(settings, store, db) -> Channel`` (``start``/``stop``), what it needs to run and
how its start-up errors read. The channel modules are imported by their factories, not at the top:
every ``hailong`` command imports this module, and python-telegram-bot, aiohttp and the channel
adapters are the largest part of a start-up that ``hailong status`` does not need.
Several ``--channel`` flags (or ``--channel all``) run them side by side in one process and one
event loop, sharing the storage writer (group commit works across channels).

Several processes on one PostgreSQL database (``HAILONG_DB=postgresql://…``, every channel in
webhook mode, behind a load balancer: docs/durability.md §7, README "Several workers"): each is a
*worker* with a name of its own (host, pid, a random part). The serve lock is then shared (a
polling process is still refused), each outbox sender takes its channel's shared send budget
before claiming rows, and reminders and deadlines run only where the scheduler lease is held.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import secrets
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional, Protocol

import typer
from pydantic import ValidationError

from bot import log_hygiene
from bot.settings import Settings
from bot.startup_errors import (EXIT_CONFIG, EXIT_TEMPORARY, Explain, StartupError, api_host, explain_common,
                                rejected_token, unreachable)
from fieldwork.outbox import OutboxSender, SendBudget
from fieldwork.reminders import ReminderScheduler
from hailong.upkeep import upkeep
from storage.conversations import SqliteConversationStore
from storage.commands import fail
from storage.db import Database
from storage.dialect import parse_db_url
from storage.respondents import progress_by_unit
from storage.rounds import list_rounds
from storage.serve_lock import DatabaseInUse, acquire_serve_lock

log = logging.getLogger("hailong.run")


class Channel(Protocol):
    """What ``hailong run`` needs from a channel."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


ChannelFactory = Callable[[Settings, Any, Any], Channel]


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    factory: ChannelFactory
    configured: Callable[[Settings], bool]   # has what it needs (a token…) to run
    help: str = ""
    needs: str = ""                          # what to set when not configured (named in the error)
    explain: Explain | None = None           # start-up exceptions → one bilingual line + exit code
    polls: Callable[[Settings], bool] = lambda s: True   # fetches updates itself (one process only)


_REGISTRY: dict[str, ChannelSpec] = {}


#: Services that run beside the channels in the same process (``hailong run --web``), registered by
#: the packages that provide them (the web console registers "web" when the CLI mounts it), so
#: that this module never imports the app above it. A factory starts its service and returns the
#: coroutine function that stops it.
ServiceFactory = Callable[[Settings, Any, dict[str, Any]], Awaitable[Callable[[], Awaitable[None]]]]
_SERVICES: dict[str, ServiceFactory] = {}


def register_service(name: str, factory: ServiceFactory) -> None:
    """Make ``hailong run --NAME`` start ``factory(settings, db, options)`` beside the channels."""
    _SERVICES[name] = factory


def register_channel(name: str, factory: ChannelFactory, configured: Callable[[Settings], bool],
                     help: str = "", needs: str = "", explain: Explain | None = None,
                     polls: Callable[[Settings], bool] = lambda s: True) -> None:
    """Make ``hailong run --channel NAME`` available (every channel is registered below, here).

    ``needs``: the setting(s) an operator must give when ``configured`` is false. ``explain``:
    turns what the channel's ``start()`` raises for a known cause (token rejected, API
    unreachable) into a :class:`~bot.startup_errors.StartupError`. ``polls``: whether the channel
    fetches its updates itself with these settings (long polling: only one process may), rather
    than receiving them on a webhook (any number of workers behind a load balancer)."""
    _REGISTRY[name] = ChannelSpec(name, factory, configured, help, needs, explain, polls)


def channels() -> dict[str, ChannelSpec]:
    """The registered channels."""
    return dict(_REGISTRY)


# ------------------------------------------------------------------ Telegram registration

def _telegram_factory(settings: Settings, store: Any, db: Any) -> Channel:
    from bot.telegram.channel import TelegramChannel   # start-up: see the module docstring

    status_provider = None
    if db is not None:
        async def status_provider() -> str:
            return await progress_text(db)
    return TelegramChannel(settings, store, status_provider=status_provider)


def _explain_telegram(exc: BaseException, settings: Settings) -> StartupError | None:
    """PTB's errors at start-up (getMe, setWebhook…) as one line for the operator."""
    from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError, RetryAfter   # start-up

    api = "Telegram Bot API"
    if isinstance(exc, InvalidToken):
        return rejected_token(api, api_host(settings.telegram_base_url), "HAILONG_TELEGRAM_TOKEN")
    if isinstance(exc, BadRequest):     # a NetworkError subclass, but the request itself is wrong
        return StartupError(f"{api} từ chối cấu hình / the {api} refused the configuration: {exc.message}")
    if isinstance(exc, Conflict):
        return StartupError(f"một bot khác đang dùng token này / another process is using this bot token "
                            f"({exc.message})", EXIT_TEMPORARY)
    if isinstance(exc, (NetworkError, RetryAfter)):
        return unreachable(api, api_host(settings.telegram_base_url), str(exc))
    return None


def _zalo_factory(settings: Settings, store: Any, db: Any) -> Channel:
    from bot.zalo.channel import ZaloRunner   # start-up: see the module docstring

    return ZaloRunner(settings, store)


def _explain_zalo(exc: BaseException, settings: Settings) -> StartupError | None:
    from bot.zalo.channel import explain_start_failure   # start-up: see the module docstring

    return explain_start_failure(exc, settings)


register_channel("telegram", _telegram_factory, lambda s: s.telegram_token is not None,
                 "Telegram Bot API (python-telegram-bot)", needs="HAILONG_TELEGRAM_TOKEN or --token",
                 explain=_explain_telegram, polls=lambda s: s.telegram_mode == "polling")
register_channel("zalo", _zalo_factory, lambda s: s.zalo_token is not None,
                 "Zalo Bot API (bot-api.zaloplatforms.com)", needs="HAILONG_ZALO_TOKEN", explain=_explain_zalo,
                 polls=lambda s: s.zalo_mode == "polling")


async def progress_text(db: Any) -> str:
    """/status for staff: progress of each open round per unit (completed / quota, started, rate)."""
    rounds = await list_rounds(db, "open")
    if not rounds:
        return "Không có đợt khảo sát nào đang mở / no open round."
    lines: list[str] = []
    for rnd in rounds:
        units = await progress_by_unit(db, rnd.id)
        done = sum(u.completed for u in units)
        quota = sum(u.quota or 0 for u in units)
        lines.append(f"📊 {rnd.code} {rnd.name}".rstrip() + f": {done}/{quota or '—'} phiếu hoàn thành / completed")
        for u in units:
            rate = "—" if u.response_rate is None else f"{u.response_rate:.0%}"
            lines.append(f"• {u.name}: {u.completed}/{u.quota or '—'} xong, {u.started - u.completed} đang làm, "
                         f"{u.invited} đã mời, tỷ lệ {rate}")
    return "\n".join(lines)


# ------------------------------------------------------------------ running

#: Interpreter settings of the bot process (see tune_process).
GC_THRESHOLDS = (500_000, 50, 100)
SWITCH_INTERVAL_S = 0.0005


def tune_process(gc_thresholds: tuple[int, int, int] = GC_THRESHOLDS,
                 switch_interval: float = SWITCH_INTERVAL_S) -> None:
    """Interpreter settings for the long-running bot process (an event loop plus the storage
    writer thread).

    Garbage collector: every update allocates many short-lived objects (PTB objects, JSON,
    engine state). ``gc.freeze()`` moves the start-up objects out of the collector's sight. The
    young-generation threshold counts allocations minus deallocations, so with thousands of
    conversations in flight each collection walks every young object still alive, up to the
    whole live set of the conversations (~300 000 objects for 10 000 of them, 0.1–0.5 s): with
    CPython's 700 that was a third of the bot's CPU, with 20 000 a sixth, with 100 000 still
    ~10%. At 500 000 a collection comes every ~15 s under that load (a few %, measured in
    benchmarks/storage.py); at ordinary load, minutes apart. Reference counting still frees
    almost everything at once; only cyclic garbage waits longer (tens of MB at most).

    Switch interval: the writer thread hands the GIL back to the loop during every SQLite
    statement and must take it back after; while the loop is busy that wait lasts up to the
    switch interval (5 ms by default), several times per group commit. 0.5 ms keeps commits
    flowing (measured: about 20% more durable answers per second at 10 000 conversations).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*gc_thresholds)
    sys.setswitchinterval(switch_interval)


async def open_store(settings: Settings) -> tuple[Any, Any]:
    """(store, db) for the configured database."""
    db = await Database.open(str(settings.db))
    return SqliteConversationStore(db, claim_policy=settings.claim_policy()), db


def worker_name() -> str:
    """This process's name among the workers of one database (outbox claims, the scheduler
    lease): host and pid for the operator, a random part so a restarted pid is a new worker."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{secrets.token_hex(3)}"


def send_budget(settings: Settings, channel: str) -> SendBudget | None:
    """The channel's rate limit shared by every worker (None when rate limiting is off)."""
    if channel == "telegram" and settings.telegram_rate_limit:
        return SendBudget(settings.telegram_rate_overall)
    if channel == "zalo" and settings.zalo_rate_limit:
        return SendBudget(settings.zalo_rate_overall)
    return None


async def start_fieldwork(db: Any, started: list[Channel], stop_event: asyncio.Event, *,
                          settings: Settings | None = None, worker: str | None = None
                          ) -> list[Callable[[], Awaitable[None]]]:
    """Run the outbox (invites, reminders) and the reminder scheduler inside the bot process.

    Bulk messages then share each channel's own rate limiter with the citizens' replies, which
    always go first (Telegram: the priority rate limiter; Zalo: the pacer). A channel offers its
    sender through ``bulk_sender()``. Returns the stop functions.

    ``worker``: this process is one of several workers on the database (PostgreSQL): each outbox
    sender then takes the channel's shared send budget (from ``settings``) before claiming and
    claims under the worker's name, and the scheduler ticks only while it holds the scheduler
    lease (``settings.scheduler_lease_s``).
    """
    stops: list[Callable[[], Awaitable[None]]] = []
    for channel in started:
        make = getattr(channel, "bulk_sender", None)
        if make is None:
            continue
        sender = make()
        budget = send_budget(settings, sender.channel) if worker is not None and settings is not None else None
        outbox = OutboxSender(db, sender, budget=budget, worker=worker,
                              stale_after=settings.outbox_lease_s if settings is not None else 60.0)
        task = asyncio.ensure_future(outbox.run(until_idle=False, stop=stop_event))

        async def _stop_outbox(task: asyncio.Task[Any] = task) -> None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

        stops.append(_stop_outbox)
    lease_s = settings.scheduler_lease_s if settings is not None else 30.0
    scheduler = ReminderScheduler(db, holder=worker, lease_s=lease_s)
    await scheduler.start()
    stops.insert(0, scheduler.stop)
    return stops


async def run_channels(settings: Settings, names: list[str],
                       stop_event: asyncio.Event | None = None, tune: bool = False,
                       fieldwork_jobs: bool = True, services: dict[str, dict[str, Any]] | None = None) -> None:
    """Start the named channels, run until ``stop_event`` (or SIGINT/SIGTERM), stop them cleanly.

    ``fieldwork_jobs``: also send queued invites and reminders and close rounds at their deadline
    (:func:`start_fieldwork`); off for processes that only answer (benchmarks).

    ``services``: registered services to run beside the channels (``{"web": {"port": 8080}}``),
    started after the channels and stopped before them.

    ``tune``: apply :func:`tune_process` once the channels are up (the ``hailong run`` process
    does; a caller embedding this in a larger process keeps its own interpreter settings).

    The database's serve lock (``storage.serve_lock``) is held throughout: a second process on
    the same database gets :class:`~bot.startup_errors.StartupError`, unless the database is
    PostgreSQL and no channel polls (then any number of webhook workers share it, see the module
    docstring; a polling process is still refused beside them). A channel that fails to
    start raises ``StartupError`` when it knows the cause (token rejected, API unreachable);
    whatever was started, including the failing channel's half-opened connections, and the
    database are closed first, so the process can exit instead of hanging.
    """
    specs = channels()
    shared = parse_db_url(settings.db).is_postgres and not any(specs[n].polls(settings) for n in names)
    try:
        lock = acquire_serve_lock(settings.db, shared_ok=shared)
    except DatabaseInUse as exc:
        raise StartupError(str(exc), EXIT_TEMPORARY) from None
    try:
        store, db = await open_store(settings)
        try:
            await _serve(settings, [specs[n] for n in names], store, db, stop_event or asyncio.Event(),
                         tune, fieldwork_jobs, services or {}, worker_name() if shared else None)
        finally:
            close: Callable[[], Awaitable[None]] | None = getattr(store, "close", None)
            if close is not None:
                await close()
            await db.close()
    finally:
        lock.release()


async def _serve(settings: Settings, specs: list[ChannelSpec], store: Any, db: Any, stop_event: asyncio.Event,
                 tune: bool, fieldwork_jobs: bool, services: dict[str, dict[str, Any]],
                 worker: str | None = None) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop_event.set)
    started: list[Channel] = []
    fieldwork: list[Callable[[], Awaitable[None]]] = []
    upkeep_jobs = upkeep(db, settings, worker=worker)
    from bot.web.serve import page_for, serve_alone   # start-up: see the module docstring

    page = page_for(settings, store, db)
    page_runner = None
    page_mounted = False
    try:
        for spec in specs:
            channel = spec.factory(settings, store, db)
            if page is not None and settings.telegram_mode == "webhook" and hasattr(channel, "mount_on_webhook"):
                channel.mount_on_webhook.append(page.mount)   # one port: the page beside the webhook
                page_mounted = True
            if page is not None and hasattr(channel, "page_link"):
                channel.page_link = page.chat_link            # Zalo: a link that speaks for the chat
            started.append(channel)               # stopped below even if start() fails half-way
            try:
                await channel.start()
            except Exception as exc:
                explained = (spec.explain(exc, settings) if spec.explain else None) or explain_common(exc)
                if explained is None:
                    raise
                raise explained from exc
        if page is not None and not page_mounted:
            page_runner = await serve_alone(page, settings)
        if worker is not None:
            log.info("serving as worker %s (one of several on this database)", worker)
        fieldwork = (await start_fieldwork(db, started, stop_event, settings=settings, worker=worker)
                     if fieldwork_jobs else [])
        for name, options in services.items():
            fieldwork.insert(0, await _SERVICES[name](settings, db, options))
        if tune:
            tune_process()
        await stop_event.wait()
    finally:
        if page_runner is not None:
            with contextlib.suppress(Exception):
                await page_runner.cleanup()
        upkeep_jobs.cancel()
        with contextlib.suppress(BaseException):
            await upkeep_jobs
        for job in fieldwork:
            with contextlib.suppress(Exception):
                await job()
        for channel in reversed(started):
            with contextlib.suppress(Exception):
                await channel.stop()


def register(app: typer.Typer) -> None:
    """Mount ``hailong run`` on the CLI."""

    @app.command("run")
    def run(
        channel: list[str] = typer.Option(["telegram"], "--channel", "-c",
                                          help="Kênh chạy / channel to run (repeat, or 'all')"),
        db: Optional[str] = typer.Option(None, help="Cơ sở dữ liệu: tệp SQLite hoặc postgresql://… / database: "
                                                    "a SQLite file or a postgresql:// URL"),
        token: Optional[str] = typer.Option(None, help="Token bot Telegram / Telegram bot token"),
        base_url: Optional[str] = typer.Option(None, help="Bot API base URL (emulator: http://127.0.0.1:8081/bot)"),
        mode: Optional[str] = typer.Option(None, help="polling | webhook"),
        webhook_url: Optional[str] = typer.Option(None, help="Public webhook URL"),
        webhook_secret: Optional[str] = typer.Option(None, help="Webhook secret token"),
        listen: Optional[str] = typer.Option(None, help="Webhook listen address host[:port]"),
        staff: Optional[str] = typer.Option(None, help="Staff user ids, e.g. 123,456"),
        log_level: str = typer.Option("INFO", help="Logging level"),
        web: bool = typer.Option(False, "--web", help="Chạy cả bảng điều khiển web / also serve the staff "
                                                      "web console (hailong web)"),
        web_host: str = typer.Option("127.0.0.1", "--web-host", help="Địa chỉ bảng điều khiển / console address"),
        web_port: int = typer.Option(8080, "--web-port", help="Cổng bảng điều khiển / console port"),
        web_trust_proxy: bool = typer.Option(False, "--web-trust-proxy",
                                             help="Sau nginx: đọc X-Forwarded-For / behind nginx"),
    ) -> None:
        """Chạy bot khảo sát / run the survey bot on the chosen channels."""
        overrides: dict[str, Any] = {}
        for key, value in (("db", db), ("telegram_token", token), ("telegram_base_url", base_url),
                           ("telegram_mode", mode), ("telegram_webhook_url", webhook_url),
                           ("telegram_webhook_secret", webhook_secret), ("staff_ids", staff)):
            if value is not None:
                overrides[key] = value
        if listen:
            host, _, port = listen.rpartition(":") if ":" in listen else (listen, "", "")
            overrides["listen_host"] = host or listen
            if port:
                if not port.isdigit():
                    fail(f"cổng không hợp lệ / invalid port in --listen {listen!r}", EXIT_CONFIG)
                overrides["listen_port"] = int(port)
        try:
            settings = Settings(**overrides)
        except ValidationError as exc:
            fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()),
                 EXIT_CONFIG)
        services: dict[str, dict[str, Any]] = {}
        if web:
            if "web" not in _SERVICES:
                fail("bảng điều khiển web chưa được cài / the web console is not installed", EXIT_CONFIG)
            services["web"] = {"host": web_host, "port": web_port, "trust_proxy": web_trust_proxy}
        specs = channels()
        names = list(specs) if "all" in channel else channel
        unknown = [n for n in names if n not in specs]
        if unknown:
            fail(f"kênh không có / unknown channel {', '.join(unknown)}; có / available: {', '.join(specs)}",
                 EXIT_CONFIG)
        if "all" in channel and any(specs[n].configured(settings) for n in names):
            names = [n for n in names if specs[n].configured(settings)]
        missing = [n for n in names if not specs[n].configured(settings)]
        if missing:
            fail("kênh chưa cấu hình (thiếu token) / channel not configured (missing token): "
                 + "; ".join(f"{n} ({specs[n].needs or 'token'})" for n in missing), EXIT_CONFIG)
        where = parse_db_url(settings.db)
        if not where.is_postgres and not Path(where.target).parent.exists():
            fail(f"thư mục của cơ sở dữ liệu không tồn tại / database directory does not exist: {where.target}",
                 EXIT_CONFIG)
        redact = log_hygiene.install(getattr(logging, log_level.upper(), logging.INFO),
                                     log_hygiene.secrets_of(settings))
        try:
            asyncio.run(run_channels(settings, names, tune=True, services=services))
        except StartupError as exc:
            fail(exc.message, exc.exit_code, redact=redact)
        except ModuleNotFoundError as exc:
            fail(f"thiếu mô-đun / missing module: {exc.name}", EXIT_CONFIG)
        except Exception as exc:  # storage errors carry bilingual messages
            if exc.__class__.__module__.startswith("storage"):
                fail(str(exc), EXIT_CONFIG, redact=redact)
            log.exception("hailong run stopped on an unexpected error")
            fail(f"lỗi không lường trước ({type(exc).__name__}), chi tiết ở nhật ký phía trên / "
                 f"unexpected error ({type(exc).__name__}), details in the log above", 1, redact=redact)


def main() -> None:
    """``python -m hailong.run …``: the ``hailong run`` command alone. The full ``hailong`` CLI
    mounts every package's commands at start-up (analytics brings pandas: about half of the
    start-up's CPU); a worker that systemd restarts after a crash serves again sooner without
    them. Same options, same code."""
    app = typer.Typer(add_completion=False)
    register(app)
    app(prog_name="hailong run")


if __name__ == "__main__":
    main()
