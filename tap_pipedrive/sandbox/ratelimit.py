"""Pipedrive's burst limit: N requests per token in a rolling 2-second window (section 3)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

WINDOW = 2.0


class BurstLimiter:
    def __init__(self, limit: int, window: float = WINDOW) -> None:
        self.limit = int(limit)
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> tuple[bool, dict[str, str]]:
        """Count one request for `key`: (allowed, x-ratelimit-* headers). Rejected requests
        do not use up the window. A limit of 0 disables limiting and the headers."""
        if self.limit <= 0:
            return True, {}
        now = time.monotonic()
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
