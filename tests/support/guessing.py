"""The brute-force measurement both channels' credential tests make (tests/bot/telegram and
tests/bot/zalo ``test_*_credentials.py``): wrong invitation codes to guess with, and the check
that the failed claims the store let through stay within the documented limits
(docs/credentials.md, ``storage.claims.ClaimPolicy``), one chat and the whole channel alike."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from storage.claims import HOUR, ClaimPolicy
from storage.credentials import new_short_code


def wrong_codes(taken: Iterable[str], n: int = 2000) -> list[str]:
    """``n`` well-formed card codes that belong to nobody."""
    taken = set(taken)
    wrong: list[str] = []
    while len(wrong) < n:
        c = new_short_code()
        if c not in taken:
            wrong.append(c)
    return wrong


def max_per_window(times: list[float], window: float = HOUR) -> int:
    """The most events in any window of ``window`` seconds."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def check_guessing_bounded(db: Any, channel: str, since: float, told: Counter, policy: ClaimPolicy) -> None:
    """The failed claims on ``channel`` since ``since`` are what the guessers were told
    (``told["refused"]``), and none of the limits was exceeded in any hour: per chat, per channel,
    and during a campaign the threshold plus one look-up per spacing. Prints the measurement."""
    rows = await db.fetchall("SELECT chat_id, at FROM claim_attempts WHERE channel = ? AND outcome = 'failed'"
                             " AND at > ?", (channel, since))
    assert told["refused"] == len(rows)                          # what guessers saw = the ledger
    per_chat: dict[str, list[float]] = {}
    for chat, at in rows:
        per_chat.setdefault(chat, []).append(at)
    chat_hour = max(max_per_window(ts) for ts in per_chat.values())
    channel_hour = max_per_window([at for _, at in rows])
    per_chat_limit = policy.chat_failures * HOUR / policy.chat_window_s           # 20
    assert chat_hour <= per_chat_limit
    assert channel_hour <= policy.channel_failures_per_hour
    assert channel_hour <= policy.campaign_failures_per_hour + HOUR / policy.campaign_spacing_s + 1
    print(f"\n{channel}: accepted guesses {len(rows)} of {told.total()}; max per chat per hour {chat_hour} "
          f"(limit {per_chat_limit:.0f}); max per channel per hour {channel_hour} "
          f"(limit {policy.channel_failures_per_hour}); told {dict(told)}")
