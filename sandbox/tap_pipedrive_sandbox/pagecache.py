"""An opt-in cache of answered pages, for benchmarks on small machines.

The sandbox builds every record when it is asked for (about 0.1 ms each, under one Python
interpreter lock), so on a 2-core machine a tap fetching pages in parallel waits for the
sandbox's CPU rather than for the latency it simulates: Pipedrive's servers build pages on
many machines at once. With `Sandbox(page_cache_mb=N)` the body of each answered 200 is kept
(least recently used first out, N MB in all) and served again for the same path, query and
data: any change to the data (touch, create, delete) makes new keys. Answers are the same
bytes as without the cache; latency, rate limits, budget and faults still apply to every call.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable


class PageCache:
    def __init__(self, megabytes: float) -> None:
        self.limit = int(megabytes * 2**20)
        self._bodies: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self.limit:
            return
        with self._lock:
            if key in self._bodies:
                return
            self._bodies[key] = body
            self._size += len(body)
            while self._size > self.limit:
                _, old = self._bodies.popitem(last=False)
                self._size -= len(old)
