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
    """At most `slots` requests at once; waiting ones go in priority order (thread-safe).

    A freed slot is handed to the first waiter alone, which is woken alone: waking every
    waiter to let one through (a condition's notify_all) cost ~3 % of a sync's CPU with a
    score of chains waiting. So while anyone waits, no slot is free."""

    def __init__(self, slots: int) -> None:
        self._lock = threading.Lock()
        self._free = max(1, slots)
        self._waiting: list[tuple[tuple[int, ...], int, threading.Event]] = []  # a heap
        self._order = itertools.count()

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._lock:
            if self._free:
                self._free -= 1
                ticket = None
            else:
                ticket = (getattr(_local, "priority", MAIN), next(self._order),
                          threading.Event())
                heapq.heappush(self._waiting, ticket)
        if ticket is not None:
            self._wait(ticket)
        try:
            yield
        finally:
            self._release()

    def _wait(self, ticket: tuple[tuple[int, ...], int, threading.Event]) -> None:
        try:
            ticket[2].wait()  # set by the one that hands its slot on
        except BaseException:  # interrupted (a signal in the main thread): no slot kept
            with self._lock:
                handed = ticket[2].is_set()
                if not handed:
                    self._waiting.remove(ticket)
                    heapq.heapify(self._waiting)
            if handed:
                self._release()
            raise

    def _release(self) -> None:
        with self._lock:
            if self._waiting:
                heapq.heappop(self._waiting)[2].set()
            else:
                self._free += 1
