"""The upkeep jobs ``hailong run`` runs beside the channels, whatever the channels are.

* **Pruning** the processed-update keys past the redelivery window, so that the table stays
  bounded (a round of 6 000 households leaves about half a million keys) and a reused update id is
  never mistaken for an old one (``storage.step_write.PROCESSED_WINDOW_S``).
* **Closing idle conversations** as partial once the round's expiry has passed
  (``storage.responses.expire_idle``), for every channel: it used to be the Telegram channel's,
  so a Zalo-only deployment never closed any.
* **Re-reading the staff chats** linked to accounts (``hailong staff link-chat``).

Several workers on one database (PostgreSQL, ``worker`` given): pruning and closing need doing
once, not once per worker, so each run of them first takes a lease of its own
(``storage.leases``) for nine tenths of its interval: one worker does the work, the others skip;
when it dies its lease runs out and the next worker to come round does it. Both jobs are
idempotent, so the lease saves work, it does not guard correctness. The staff list lives in each
process's settings, so every worker refreshes its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

from bot.settings import Settings
from storage.leases import acquire as acquire_lease
from storage.responses import expire_idle, prune_processed_updates
from storage.staff import staff_chat_ids

log = logging.getLogger("hailong.run")

__all__ = ["PRUNE_EVERY_S", "STAFF_REFRESH_S", "repeat_forever", "staff_chats_forever", "upkeep"]

#: How often processed-update keys past the redelivery window are deleted.
PRUNE_EVERY_S = 3600.0
#: How often the staff chats linked to accounts are re-read.
STAFF_REFRESH_S = 60.0
#: Share of its interval for which one worker keeps a job (renewed at its next run).
LEASE_SHARE = 0.9


async def repeat_forever(db: Any, name: str, job: Callable[[], Awaitable[int]], every_s: float, done: str, *,
                         worker: str | None = None) -> None:
    """Run ``job`` now and then every ``every_s`` seconds, logging ``done % n`` when it did
    something; a failure is logged and tried again next time (upkeep never stops the bot). With
    ``worker``, only while this worker holds the job's lease (see the module docstring)."""
    while True:
        try:
            if worker is None or (await acquire_lease(db, f"upkeep:{name}", worker, every_s * LEASE_SHARE)).held:
                n = await job()
                if n:
                    log.info(done, n)
        except Exception as exc:  # storage trouble: try again next time, never stop the bot
            log.warning("%s failed: %s", name, exc)
        await asyncio.sleep(every_s)


async def staff_chats_forever(db: Any, settings: Settings, every_s: float = STAFF_REFRESH_S) -> None:
    """Keep ``settings.staff_ids`` = the configured ids (``HAILONG_STAFF_IDS``) plus the Telegram
    chats linked to active staff accounts (``storage.staff``): one list for the bot's /status,
    updated in place so that a link or a disabled account takes effect within a minute."""
    configured = set(settings.staff_ids)
    while True:
        try:
            linked = {int(c) for c in await staff_chat_ids(db, "telegram") if c.lstrip("-").isdigit()}
            settings.staff_ids[:] = sorted(configured | linked)
        except Exception as exc:  # storage trouble: keep the last list, try again next time
            log.warning("reading the staff chats failed: %s", exc)
        await asyncio.sleep(every_s)


def upkeep(db: Any, settings: Settings, *, worker: str | None = None,
           clock: Callable[[], float] = time.time) -> "asyncio.Future[Any]":
    """Start every upkeep job; cancel the returned future to stop them."""

    async def prune() -> int:
        return await prune_processed_updates(db)

    async def close_idle() -> int:
        return len(await expire_idle(db, clock()))

    return asyncio.gather(
        repeat_forever(db, "prune-updates", prune, PRUNE_EVERY_S,
                       "deleted %d processed-update keys past the redelivery window", worker=worker),
        repeat_forever(db, "idle-sweep", close_idle, settings.idle_sweep_interval_s,
                       "closed %d idle conversations as partial", worker=worker),
        staff_chats_forever(db, settings))
