"""Starting and stopping the console: alone (``hailong web``), beside the bot in one process
(``hailong run --web``: the same event loop and the same storage writer), or in tests."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from contextlib import suppress

from aiohttp import web

from hailong.console.app import ConsoleConfig, make_app
from storage.db import Database


class ConsoleServer:
    """A running console on ``host:port`` (port 0: any free port, see ``url``)."""

    def __init__(self, db: Database, host: str = "127.0.0.1", port: int = 8080,
                 config: ConsoleConfig | None = None) -> None:
        self.db = db
        self.host = host
        self.port = port
        self.config = config or ConsoleConfig()
        self._runner: web.AppRunner | None = None

    async def start(self) -> "ConsoleServer":
        app = make_app(self.db, self.config)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def serve_forever(db_path: str, host: str, port: int, config: ConsoleConfig,
                        announce: Callable[[str], object] = print) -> None:
    """Serve until SIGINT/SIGTERM, then close the database cleanly."""
    db = await Database.open(db_path)
    server = ConsoleServer(db, host, port, config)
    try:
        await server.start()
        announce(f"Bảng điều khiển / console: {server.url}  (Ctrl-C để dừng / to stop)")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await server.stop()
        await db.close()
