"""How ``hailong run`` serves the page: on the webhook server's port, under ``page_prefix``.

With Telegram in webhook mode the page is mounted on the webhook's own aiohttp app (one port,
one server: a deployment adds nothing). Otherwise (polling) the page gets a server of its own
on ``listen_host:listen_port``, the port the webhook would use. The page is off unless
``page_public_url`` is set (links in chats and the Mini App button need the public address).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.settings import Settings
from bot.web.app import PageApp, PageConfig

__all__ = ["page_for", "serve_alone"]


def page_for(settings: Settings, store: Any, db: Any) -> PageApp | None:
    """The page of this deployment, or None when no public URL is configured."""
    if not settings.page_public_url:
        return None
    token = settings.telegram_token.get_secret_value() if settings.telegram_token else None
    return PageApp(store, db, PageConfig(key=settings.page_key(), prefix=settings.page_prefix, telegram_token=token,
                                         public_url=settings.page_public_url,
                                         init_data_max_age_s=settings.page_init_data_max_age_s))


async def serve_alone(page: PageApp, settings: Settings) -> web.AppRunner:
    """A server for the page alone on the webhook port (when no webhook server runs)."""
    root = web.Application()
    page.mount(root)
    runner = web.AppRunner(root, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.listen_host, settings.listen_port).start()
    return runner
