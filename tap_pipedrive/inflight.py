"""How many requests are in flight at once, and whose goes first.

Pages are fetched by several threads (prefetch.py: one per stream read ahead; windows.py:
one per time window of a stream). `Gate` lets at most `max_parallel_requests` requests be in
flight whatever the number of threads, and when threads wait for a slot, the one whose pages
will be emitted first goes first: the main thread (it waits for its answer), then by stream
order, then by window order. Each thread says its place with `set_priority`.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

MAIN = (-1, 0)  # the thread that emits: nothing it asks for can wait behind reads ahead
_local = threading.local()


def set_priority(*place: int) -> None:
    """This thread's place in emission order (stream index, window index): lower goes first."""
    _local.priority = tuple(place)


class Gate:
    """At most `slots` requests at once; waiting ones go in priority order (thread-safe)."""

    def __init__(self, slots: int) -> None:
        self._cond = threading.Condition()
        self._free = max(1, slots)
        self._waiting: list[tuple[tuple[int, ...], int]] = []
        self._order = itertools.count()

    @contextmanager
    def slot(self) -> Iterator[None]:
        ticket = (getattr(_local, "priority", MAIN), next(self._order))
        with self._cond:
            heapq.heappush(self._waiting, ticket)
            while self._free == 0 or self._waiting[0] != ticket:
                self._cond.wait()
            heapq.heappop(self._waiting)
            self._free -= 1
            self._cond.notify_all()  # the next waiter may take a slot still free
        try:
            yield
        finally:
            with self._cond:
                self._free += 1
                self._cond.notify_all()
