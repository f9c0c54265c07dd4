"""In-process sliding-window counters for the page (per client address, per ticket).

The claim ledger (``storage.claims``) limits every invitation claim in the database, whatever
the channel; the page adds two cheap fences in memory that a database ledger is not needed for:
failed proofs (bad tickets, bad CSRF tokens, forged or stale Telegram ``initData``) per client
address, and submissions per ticket (each is a durable write). Bounded in size: a flood of
distinct keys forgets the oldest first.
"""

from __future__ import annotations

from collections import OrderedDict, deque

__all__ = ["SlidingWindow"]


class SlidingWindow:
    """At most ``limit`` events per ``window_s`` per key."""

    def __init__(self, limit: int, window_s: float, max_keys: int = 50_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._events.get(key)
        if q is None:
            q = self._events[key] = deque()
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def blocked(self, key: str, now: float) -> float:
        """Seconds until ``key`` may act again (0: it may now)."""
        q = self._recent(key, now)
        if len(q) < self.limit:
            return 0.0
        return max(0.0, q[0] + self.window_s - now)

    def hit(self, key: str, now: float) -> None:
        self._recent(key, now).append(now)

    def take(self, key: str, now: float) -> bool:
        """Count one event if allowed; False when over the limit (nothing counted)."""
        if self.blocked(key, now):
            return False
        self.hit(key, now)
        return True
