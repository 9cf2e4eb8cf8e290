"""Clock and the three sending limits of the Cloud API (reference §4): throughput, pair rate, daily recipients."""

from __future__ import annotations

import time
from collections import deque


class Clock:
    """Real time plus an offset that tests can advance, so "25 hours later" takes no time at all."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def wall(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class TokenBucket:
    """`rate` tokens a second up to `capacity`; a request takes one token or is refused."""

    def __init__(self, rate: float, capacity: float, clock: Clock):
        self.rate = rate
        self.capacity = capacity
        self.clock = clock
        self.tokens = capacity
        self.updated = clock.monotonic()

    def try_take(self) -> bool:
        now = self.clock.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class PairLimiter:
    """One message per `interval` to the same user, with bursts of `burst` that borrow from future quota (M-AP)."""

    def __init__(self, interval: float, burst: int, clock: Clock):
        self.interval = interval
        self.burst = burst
        self.clock = clock
        self.buckets: dict[str, TokenBucket] = {}

    def try_take(self, wa_id: str) -> bool:
        bucket = self.buckets.get(wa_id)
        if bucket is None:
            bucket = self.buckets[wa_id] = TokenBucket(1.0 / self.interval, float(self.burst), self.clock)
        return bucket.try_take()


class DailyRecipients:
    """Unique users reached by business-initiated messages in a moving 24 h window (the messaging limit, M-ML)."""

    WINDOW = 24 * 3600.0

    def __init__(self, limit: int | None, clock: Clock):
        self.limit = limit
        self.clock = clock
        self.first_seen: dict[str, float] = {}
        self.order: deque[tuple[float, str]] = deque()

    def _expire(self, now: float) -> None:
        while self.order and now - self.order[0][0] >= self.WINDOW:
            seen_at, wa_id = self.order.popleft()
            if self.first_seen.get(wa_id) == seen_at:
                del self.first_seen[wa_id]

    def allows(self, wa_id: str) -> bool:
        """True if `wa_id` may be reached now; a user already counted in the window never costs twice."""
        now = self.clock.monotonic()
        self._expire(now)
        return self.limit is None or wa_id in self.first_seen or len(self.first_seen) < self.limit

    def record(self, wa_id: str) -> None:
        if wa_id not in self.first_seen:
            now = self.clock.monotonic()
            self.first_seen[wa_id] = now
            self.order.append((now, wa_id))

    @property
    def used(self) -> int:
        self._expire(self.clock.monotonic())
        return len(self.first_seen)
