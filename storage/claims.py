"""The claim-attempt ledger: how often a chat, and a whole channel, may try invitation credentials.

A card code is short on purpose (7 characters from 31 symbols, the last a check character: 31^6
≈ 8.9e8 valid codes), so a bot on the public internet must not let anyone try codes quickly; a
deep-link token (192 bits) needs no such care but is counted all the same. The ledger lives in
the database, so it survives a restart and is shared by every bot process on that database, and
every claim goes through it before anything is looked up (``admit_op``, in the same write
transaction as the claim: two processes cannot both take the last allowed attempt).

What is counted (``docs/credentials.md`` has the rule and the arithmetic):

* the text is normalised first (``storage.credentials.read_credential``): a token, a code that passes its check
  (looked up), or a code-shaped text whose check fails (a typo: never looked up, so it reveals
  nothing, but it counts against the chat);
* **per chat**: at most ``chat_failures`` failed attempts (look-ups that found nothing the chat
  may use, and typos) in ``chat_window_s``; then every claim of that chat is refused, unread,
  until the oldest failure leaves the window;
* **per channel**: at most ``channel_failures_per_hour`` failed look-ups in the last hour;
* **a guessing campaign** (``campaign_failures_per_hour`` failed look-ups on a channel in the
  last hour, necessarily from several chats) slows every claim on that channel down: one
  look-up per ``campaign_spacing_s`` while it lasts. It is logged at WARNING and shown by
  ``hailong status --problems`` (:func:`claims_report`).

Claims refused by a limit are counted per channel and minute (``claim_refusals``): a flood of
them costs one row per minute. A redelivered claim (same platform update key) counts once.
Rows older than ``keep_s`` are pruned by the store.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal

from storage.db import Database
from storage.util import now as _now

HOUR = 3600.0

Outcome = Literal["ok", "held", "final", "failed", "malformed"]
#: Outcomes of claims that were looked up (a typo never is).
LOOKED_UP: tuple[str, ...] = ("ok", "held", "final", "failed")
Refusal = Literal["chat", "channel", "slowed"]



@dataclass(frozen=True, slots=True)
class ClaimPolicy:
    """The limits (defaults documented in docs/credentials.md and ``hailong config``)."""

    chat_failures: int = 5
    chat_window_s: float = 900.0
    channel_failures_per_hour: int = 120
    campaign_failures_per_hour: int = 30
    campaign_spacing_s: float = 60.0
    handover_timeout_s: float = 12 * HOUR
    keep_s: float = 24 * HOUR

    def __post_init__(self) -> None:
        if self.chat_failures < 1 or self.channel_failures_per_hour < 1 or self.campaign_failures_per_hour < 1:
            raise ValueError("claim limits must be at least 1 / giới hạn phải ít nhất là 1")
        if self.chat_window_s <= 0 or self.campaign_spacing_s < 0 or self.handover_timeout_s < 0:
            raise ValueError("claim windows must be positive / khoảng thời gian phải dương")
        if self.keep_s < max(HOUR, self.chat_window_s):
            raise ValueError("the ledger must be kept at least as long as its longest window / "
                             "sổ ghi phải giữ ít nhất bằng khoảng dài nhất")


# ------------------------------------------------------------------ admission and recording

@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a claim may go on. ``repeat``: this update was admitted before (a redelivery:
    not counted again, not limited again). ``refused``: which limit refused it, and when to
    retry. ``campaign``: (failed look-ups, distinct chats) in the last hour while the channel
    is under a guessing campaign, for the log line."""

    repeat: bool = False
    refused: Refusal | None = None
    retry_after: float = 0.0
    campaign: tuple[int, int] | None = None


def admit_op(conn: sqlite3.Connection, policy: ClaimPolicy, channel: str, chat_id: str,
             update_key: str | None, lookup: bool, at: float) -> Admission:
    """Check every limit for one claim (inside the claim's write transaction). A refused claim
    is counted in ``claim_refusals``; an admitted one is recorded by :func:`record_op` once its
    outcome is known."""
    ex = conn.execute
    if update_key is not None and ex("SELECT 1 FROM claim_attempts WHERE channel = ? AND update_key = ?",
                                     (channel, update_key)).fetchone():
        return Admission(repeat=True)
    mine = ex("SELECT at FROM claim_attempts WHERE channel = ? AND chat_id = ? AND at > ?"
              " AND outcome IN ('failed', 'malformed') ORDER BY at",
              (channel, chat_id, at - policy.chat_window_s)).fetchall()
    if len(mine) >= policy.chat_failures:
        retry = mine[len(mine) - policy.chat_failures][0] + policy.chat_window_s - at
        _refused(conn, channel, at)
        return Admission(refused="chat", retry_after=max(1.0, retry))
    fails = ex("SELECT at FROM claim_attempts WHERE channel = ? AND outcome = 'failed' AND at > ? ORDER BY at",
               (channel, at - HOUR)).fetchall()
    n = len(fails)
    campaign = None
    if n >= policy.campaign_failures_per_hour:
        chats = ex("SELECT COUNT(DISTINCT chat_id) FROM claim_attempts WHERE channel = ? AND outcome = 'failed'"
                   " AND at > ?", (channel, at - HOUR)).fetchone()[0]
        campaign = (n, int(chats))
    if not lookup:
        return Admission(campaign=campaign)
    if n >= policy.channel_failures_per_hour:
        retry = fails[n - policy.channel_failures_per_hour][0] + HOUR - at
        _refused(conn, channel, at)
        return Admission(refused="channel", retry_after=max(1.0, retry), campaign=campaign)
    if campaign is not None and policy.campaign_spacing_s > 0:
        last = max((ex("SELECT MAX(at) FROM claim_attempts WHERE channel = ? AND outcome = ?",
                       (channel, o)).fetchone()[0] or 0.0) for o in LOOKED_UP)
        if at - last < policy.campaign_spacing_s:
            _refused(conn, channel, at)
            return Admission(refused="slowed", retry_after=max(1.0, last + policy.campaign_spacing_s - at),
                             campaign=campaign)
    return Admission(campaign=campaign)


def _refused(conn: sqlite3.Connection, channel: str, at: float) -> None:
    conn.execute("INSERT INTO claim_refusals (channel, minute, refused) VALUES (?, ?, 1)"
                 " ON CONFLICT (channel, minute) DO UPDATE SET refused = claim_refusals.refused + 1", (channel, int(at // 60)))


def record_op(conn: sqlite3.Connection, channel: str, chat_id: str, update_key: str | None, at: float,
              outcome: Outcome) -> None:
    """Record an admitted claim's outcome (a redelivered update key is recorded once)."""
    conn.execute("INSERT INTO claim_attempts (channel, chat_id, update_key, at, outcome) VALUES (?, ?, ?, ?, ?)"
                 " ON CONFLICT (channel, update_key) DO NOTHING", (channel, chat_id, update_key, at, outcome))


def prune_op(conn: sqlite3.Connection, policy: ClaimPolicy, at: float) -> int:
    """Drop ledger rows older than ``keep_s``; returns how many attempts went."""
    cut = at - policy.keep_s
    n = conn.execute("DELETE FROM claim_attempts WHERE at < ?", (cut,)).rowcount
    conn.execute("DELETE FROM claim_refusals WHERE minute < ?", (int(cut // 60),))
    return n


# ------------------------------------------------------------------ what staff see

@dataclass(frozen=True, slots=True)
class ChannelClaims:
    """Claims on one channel in the last hour, for ``hailong status``."""

    channel: str
    failed: int          # failed look-ups
    chats: int           # distinct chats among them
    refused: int         # claims refused by a limit, unread
    campaign: bool       # a guessing campaign: claims are slowed down


async def claims_report(db: Database, policy: ClaimPolicy | None = None,
                        at: float | None = None) -> list[ChannelClaims]:
    """Failed and refused claims per channel in the last hour (channels with any)."""
    policy = policy or ClaimPolicy()
    t = _now() if at is None else at
    rows = await db.fetchall(
        "SELECT channel, COUNT(*), COUNT(DISTINCT chat_id) FROM claim_attempts WHERE outcome = 'failed'"
        " AND at > ? GROUP BY channel", (t - HOUR,))
    refused = {r[0]: int(r[1]) for r in await db.fetchall(
        "SELECT channel, SUM(refused) FROM claim_refusals WHERE minute >= ? GROUP BY channel",
        (int((t - HOUR) // 60),))}
    out: dict[str, ChannelClaims] = {}
    for channel, n, chats in rows:
        out[channel] = ChannelClaims(channel, int(n), int(chats), refused.get(channel, 0),
                                     int(n) >= policy.campaign_failures_per_hour)
    for channel, n in refused.items():
        if channel not in out:
            out[channel] = ChannelClaims(channel, 0, 0, n, False)
    return [out[c] for c in sorted(out)]
