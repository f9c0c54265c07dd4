"""The token bucket both API emulators answer 429 with (Telegram's and Zalo's flood limits).

One module because the Telegram and Zalo emulators model rate limits the same way: ``rate`` tokens
a second, at most ``burst`` stored, one token per message.
"""

from __future__ import annotations

import time

__all__ = ["TokenBucket"]


class TokenBucket:
    """Token bucket: ``rate`` tokens per second, at most ``burst`` stored; starts full."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, burst, time.monotonic()

    def take(self, now: float | None = None) -> float:
        """Take a token and return 0, or return the seconds until one is available.

        ``now`` (``time.monotonic()`` by default) lets a caller check several buckets at one
        instant; a ``now`` earlier than the last one adds no tokens.
        """
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate
