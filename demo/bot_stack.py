"""The demo's bot: both channels against the emulators, in this process or in a child process.

Split from :mod:`demo.round` because it is the one part of the demo that runs the product as
``hailong run`` does (the real Telegram and Zalo stacks, the questionnaire page) and its own
child-process protocol (JSON lines on stdin/stdout, ``python -m demo --bot-process SPEC``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import Any

from bot.settings import Settings
from bot.telegram.channel import TelegramChannel
from bot.zalo.channel import ZaloChannel
from bot.zalo.client import ZaloBotClient
from bot.zalo.pacer import Pacer
from demo.round_types import DemoClock, DemoError
from storage.conversations import SqliteConversationStore
from storage.db import Database
from storage.private_files import open_private

__all__ = ["BotStack", "BotProcess", "child_env", "free_port", "serve_bot"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for the questionnaire page)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotStack:
    """The bot on both channels against the emulators (``(token, base_url)`` each), sharing one
    store and the demo clock: what ``hailong run`` starts, with pacing off for the emulators."""

    def __init__(self, db: Any, clock: DemoClock, telegram: tuple[str, str], zalo: tuple[str, str],
                 zalo_pollers: int, page_port: int | None = None) -> None:
        self.db, self.clock = db, clock
        self.page_port = page_port
        self.page: Any = None
        self._page_runner: Any = None
        self.tg_token, self.tg_url = telegram
        self.zl_token, self.zl_url = zalo
        self.zalo_pollers = zalo_pollers
        self.telegram: Any = None
        self.zalo: Any = None
        self._zalo_stop = asyncio.Event()
        self._zalo_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        store = SqliteConversationStore(self.db, clock=self.clock)
        page_url = f"http://127.0.0.1:{self.page_port}/p" if self.page_port else None
        settings = Settings(telegram_token=self.tg_token, telegram_base_url=self.tg_url,
                            db=Path(self.db.path), telegram_rate_limit=False, telegram_poll_timeout=1,
                            callback_secret=secrets.token_urlsafe(24), telegram_pool_size=64,
                            page_public_url=page_url)
        self.telegram = TelegramChannel(settings, store, clock=self.clock)
        await self.telegram.start()
        if self.page_port:
            from bot.web.serve import page_for, serve_alone

            self.page = page_for(settings.model_copy(update={"listen_port": self.page_port}), store, self.db)
            self._page_runner = await serve_alone(self.page, settings.model_copy(update={"listen_port": self.page_port}))
        client = ZaloBotClient(self.zl_token, self.zl_url)
        self.zalo = await ZaloChannel(client, store, pacer=Pacer(rate=None, per_chat_rate=None),
                                      clock=self.clock).start()
        self._zalo_task = asyncio.create_task(
            self.zalo.run_polling(self._zalo_stop, poll_timeout=1, pollers=self.zalo_pollers))

    async def start_zalo_only(self) -> None:
        """Only the Zalo side (tests of one citizen on Zalo)."""
        store = SqliteConversationStore(self.db, clock=self.clock)
        self.zalo = await ZaloChannel(ZaloBotClient(self.zl_token, self.zl_url), store,
                                      pacer=Pacer(rate=None, per_chat_rate=None), clock=self.clock).start()
        self._zalo_task = asyncio.create_task(
            self.zalo.run_polling(self._zalo_stop, poll_timeout=1, pollers=self.zalo_pollers))

    async def set_offset(self, offset: float) -> None:
        self.clock.offset = offset

    def stats(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        if self.telegram is not None:
            out["telegram"] = self.telegram.stats.as_dict()
        if self.zalo is not None:
            out["zalo"] = self.zalo.stats.as_dict()
        if self.page is not None:
            out["page"] = dict(self.page.stats)
        return out

    async def stop(self) -> dict[str, dict[str, int]]:
        if self._page_runner is not None:
            await self._page_runner.cleanup()
        if self.telegram is not None:
            await self.telegram.stop()
        self._zalo_stop.set()
        if self._zalo_task is not None:
            try:
                await asyncio.wait_for(self._zalo_task, 5)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - shutting down
                self._zalo_task.cancel()
        if self.zalo is not None:
            await self.zalo.stop(drain_timeout=5)
            await self.zalo.client.close()
        return self.stats()


def child_env() -> dict[str, str]:
    """The environment of a child ``python -m demo…``: the demo is not installed (it ships with
    the source, outside the runtime packages), so the child finds it through ``PYTHONPATH``
    whatever its working directory."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


class BotProcess:
    """The same bot in a child process (``python -m demo --bot-process SPEC``), so that the
    bot and the emulators with their citizens use two cores, as in a real deployment where the
    platforms are elsewhere. Commands are JSON lines on stdin; the child stops on EOF, so it never
    outlives the demo."""

    def __init__(self, db_path: Path, clock: DemoClock, telegram: tuple[str, str], zalo: tuple[str, str],
                 zalo_pollers: int, log_path: Path, page_port: int | None = None) -> None:
        self.spec = {"db": str(db_path), "clock": clock.spec(), "telegram": list(telegram),
                     "zalo": list(zalo), "zalo_pollers": zalo_pollers, "page_port": page_port}
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self._log: Any = None

    async def _line(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            raise DemoError(f"tiến trình bot đã dừng / the bot process stopped (see {self.log_path})")
        return json.loads(raw)

    async def _send(self, obj: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        await self.proc.stdin.drain()

    async def start(self) -> None:
        self._log = open_private(self.log_path, "ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "demo.round", "--bot-process", json.dumps(self.spec),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=self._log, env=child_env())
        ready = await self._line(60)
        if not ready.get("ready"):
            raise DemoError(f"tiến trình bot không khởi động / the bot process did not start: "
                            f"{ready.get('error', ready)} (xem / see {self.log_path})")

    async def set_offset(self, offset: float) -> None:
        await self._send({"offset": offset})
        await self._line(30)

    async def stop(self) -> dict[str, dict[str, int]]:
        stats: dict[str, dict[str, int]] = {}
        if self.proc is None:
            return stats
        try:
            if self.proc.returncode is None:
                await self._send({"stop": True})
                stats = (await self._line(30)).get("stats", {})
                await asyncio.wait_for(self.proc.wait(), 15)
        except (asyncio.TimeoutError, DemoError, ConnectionError, ValueError):
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        finally:
            if self._log is not None:
                self._log.close()
        return stats


async def serve_bot(spec: dict[str, Any]) -> None:
    """The child side of :class:`BotProcess`."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    c = spec["clock"]
    clock = DemoClock(c["scale"], c["t0"], c["m0"], c["offset"])
    db = await Database.open(spec["db"])
    stack = BotStack(db, clock, tuple(spec["telegram"]), tuple(spec["zalo"]), int(spec["zalo_pollers"]),
                      page_port=spec.get("page_port"))
    loop = asyncio.get_running_loop()
    try:
        try:
            await stack.start()
        except Exception as exc:
            logging.getLogger("hailong.demo").exception("the demo bot could not start")
            print(json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
            return
        print(json.dumps({"ready": True}), flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            cmd = json.loads(line)
            if "offset" in cmd:
                await stack.set_offset(float(cmd["offset"]))
                print(json.dumps({"ok": True}), flush=True)
            if cmd.get("stop"):
                break
    finally:
        stats = await stack.stop()
        await db.close()
        print(json.dumps({"stats": stats}), flush=True)
