"""Concurrent paging: the pages of later streams are fetched while earlier ones are emitted.

A sync is a row of streams, each a chain of pages (a cursor is only known from the page
before it). When the API's latency, not the CPU, bounds a sync, waiting for one page at a
time wastes most of it. `Prefetcher` walks the page chains of up to `max_parallel_requests`
streams at once, in worker threads, each a few pages ahead of what is emitted, while the
main thread emits records in the usual order, stream after stream, page after page. So:

- records, STATE messages and bookmarks are exactly those of a sequential run: only the main
  thread touches state, and a bookmark only advances past records it has emitted;
- every request still passes the tap's one rate limiter, which paces all threads by the
  x-ratelimit-* headers (counting requests in flight), so the burst allowance holds;
- memory stays bounded: a worker waits once its stream has `PAGES_AHEAD` pages unread;
- an error met by a worker (after its retries) is raised where the sequential run would
  have met it: after the records before it are emitted and their state written.

Only top-level streams whose paging depends on nothing but the API's answers are fetched
ahead; child streams, partitioned streams and streams that stop at a bookmark they read
are fetched in the main thread, as before.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import requests
from singer_sdk import typing as th

if TYPE_CHECKING:
    from tap_pipedrive.client import PipedriveStream

PAGES_AHEAD = 2  # unread pages a worker may hold per stream (each ~1 MB of JSON when parsed)
DEFAULT_PARALLEL = 4  # below the smallest plan's burst (20 requests / 2 s for an API token)
_DONE = object()


def settings() -> list[th.Property]:
    return [
        th.Property(
            "max_parallel_requests", th.IntegerType, default=DEFAULT_PARALLEL,
            description="Streams whose pages are fetched at the same time, ahead of the one "
            "being emitted (records, order and state stay those of a sequential run). The "
            "rate limiter paces every request by Pipedrive's burst headers whatever the "
            "value; 1 fetches one page at a time.",
        ),
    ]


MINIMUMS = {"max_parallel_requests": 1}


class _Walk:
    """One stream's pages, fetched by a worker into a short queue."""

    def __init__(self, stream: PipedriveStream, stop: threading.Event) -> None:
        self.stream = stream
        self.pages: queue.Queue[Any] = queue.Queue(PAGES_AHEAD)
        self._stop = stop

    def run(self) -> None:
        try:
            for response in self.stream.iter_pages(None):
                if not self._put(response):
                    return
            self._put(_DONE)
        except BaseException as exc:  # handed to the main thread, raised in order there
            self._put(exc)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self.pages.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def take(self) -> Iterator[requests.Response]:
        while True:
            item = self.pages.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


class Prefetcher:
    """Hands each stream its pages: fetched ahead by workers, or in the calling thread."""

    def __init__(self, parallel: int) -> None:
        self.parallel = parallel
        self._walks: dict[str, _Walk] = {}
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self.armed = False  # only a sync reads ahead (not discovery, not auth commands)

    def pages(self, stream: PipedriveStream, context: dict | None) -> Iterator[requests.Response]:
        """The stream's pages, in order. The first stream of a sync that can be read ahead
        plans the walks of itself and every such stream after it (the SDK has set up their
        state by then)."""
        if self.armed and self._pool is None and self.parallel > 1 and context is None \
                and _walkable(stream):
            self._start(stream)
        walk = self._walks.pop(stream.name, None) if context is None else None
        if walk is None:
            return stream.iter_pages(context)
        return walk.take()

    def _start(self, first: PipedriveStream) -> None:
        order = list(first._tap.streams.values())
        later = order[order.index(first):]  # those before it are done
        self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="pages")
        for stream in filter(_walkable, later):
            if stream.replication_key:
                stream.start_pin = (_starting_value(stream),)
            walk = _Walk(stream, self._stop)
            self._walks[stream.name] = walk
            self._pool.submit(walk.run)

    def close(self) -> None:
        """Stop the workers (after a failure, pages still queued are dropped)."""
        self.armed = False
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _starting_value(stream: PipedriveStream) -> Any:
    """The bookmark the SDK will start this stream from (it decides when the stream starts:
    state, start_date), worked out on a copy of the state: state stays the main thread's."""
    manager = copy.copy(stream.state_manager)
    manager.tap_state = copy.deepcopy(stream.state_manager.tap_state)
    manager._logger = logging.getLogger("tap-pipedrive.prefetch")  # the SDK logs it later
    manager._logger.disabled = True
    manager.write_starting_replication_value(
        context=None, replication_method=stream.replication_method,
        replication_key=stream.replication_key, config=dict(stream.config),
        compare_start_date_fn=stream.compare_start_date)
    return manager.get_starting_replication_value(None, stream.replication_method)


def _walkable(stream: Any) -> bool:
    """A top-level stream whose pages depend only on the API's answers."""
    from tap_pipedrive.client import PipedriveStream
    from tap_pipedrive.streams.base import BatchingParent

    cls = type(stream)
    return (
        isinstance(stream, PipedriveStream)
        and (stream.selected or stream.has_selected_descendents)
        and stream.parent_stream_type is None
        and stream.partitions is None
        and cls.keep_paging is PipedriveStream.keep_paging
        and cls.get_records in (PipedriveStream.get_records, BatchingParent.get_records)
        and cls.request_records is PipedriveStream.request_records
    )
