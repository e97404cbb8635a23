"""Pipedrive's burst limit: N requests per token in a rolling 2-second window (section 3)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW = 2.0


class BurstLimiter:
    def __init__(self, limit: int, window: float = WINDOW,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = int(limit)
        self.window = window
        self._clock = clock  # injectable: tests drive the window with their own clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> tuple[bool, dict[str, str]]:
        """Count one request for `key`: (allowed, x-ratelimit-* headers). Rejected requests
        do not use up the window. A limit of 0 disables limiting and the headers."""
        if self.limit <= 0:
            return True, {}
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            allowed = len(hits) < self.limit
            if allowed:
                hits.append(now)
            reset = math.ceil(hits[0] + self.window - now) if hits else 0
            headers = {
                "x-ratelimit-limit": str(self.limit),
                "x-ratelimit-remaining": str(self.limit - len(hits)),
                "x-ratelimit-reset": str(max(reset, 0)),
            }
        return allowed, headers


class DailyBudget:
    """The company's daily token budget, shared by every token (section 3).

    Each answered call is charged its `x-token-cost`; once the budget is used up, calls get
    429 until `reset()` (Pipedrive: midnight, server time). The undocumented
    `x-daily-ratelimit-token-*` headers that third-party clients read are sent unless
    `headers` is False, so a client can be tested with and without them. A limit of 0 means
    no daily budget.
    """

    def __init__(self, limit: int, headers: bool = True) -> None:
        self.limit = int(limit)
        self.headers = headers
        self.used = 0
        self._lock = threading.Lock()

    def spent(self) -> bool:
        with self._lock:
            return 0 < self.limit <= self.used

    def charge(self, cost: int) -> None:
        if self.limit > 0:
            with self._lock:
                self.used += cost

    def reset(self) -> int:
        """Start a new day; returns the tokens the old one used."""
        with self._lock:
            used, self.used = self.used, 0
        return used

    def header_values(self) -> dict[str, str]:
        if self.limit <= 0 or not self.headers:
            return {}
        with self._lock:
            left = max(self.limit - self.used, 0)
        return {"x-daily-ratelimit-token-limit": str(self.limit),
                "x-daily-ratelimit-token-remaining": str(left)}
