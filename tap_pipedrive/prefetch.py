"""Concurrent paging: the pages of later streams are fetched while earlier ones are emitted.

A sync is a row of streams, each a chain of pages (a cursor is only known from the page
before it). When the API's latency, not the CPU, bounds a sync, waiting for one page at a
time wastes most of it. `Prefetcher` walks the page chains of up to `max_parallel_requests`
streams at once, in worker threads, ahead of what is emitted, while the main thread emits
records in the usual order, stream after stream, page after page. So:

- records, STATE messages and bookmarks are exactly those of a sequential run: only the main
  thread touches state, and a bookmark only advances past records it has emitted;
- every request still passes the run's one rate limiter, which paces all threads by the
  x-ratelimit-* headers (counting requests in flight), so the burst allowance holds;
- memory stays flat: the bodies of pages fetched ahead wait in temporary files, at most
  SPOOL_LIMIT bytes (plus the page being emitted); a worker waits when that is full;
- an error met by a worker (after its retries) is raised where the sequential run would
  have met it: after the records before it are emitted and their state written.

Only top-level streams whose paging depends on nothing but the API's answers are fetched
ahead; child streams and partitioned streams are fetched in the main thread, as before. Of
a stream that stops at the bookmark it reads (newest first: pipelines, stages, files), only
the first page is fetched ahead, often its only one; the main thread asks for the rest.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, TypeGuard

import requests
from singer_sdk import typing as th
from singer_sdk.helpers.types import Context

from tap_pipedrive import inflight, page, sdk_compat, windows

if TYPE_CHECKING:
    from tap_pipedrive.client import PipedriveStream

# Below the smallest plan's burst (20 requests / 2 s for an API token), and the limiter
# paces them by its headers whatever the plan; on a larger plan (80 per 2 s and more) 8 in
# flight read a one-stream backfill about a tenth faster than 4 (50,000 deals at 0.2 s a
# page: 0.32 x the sequential walk against 0.33-0.36 x; benchmarks/bench_sync.py).
DEFAULT_PARALLEL = 8
FIELD_READS = 4  # field metadata endpoints read at once (deals, persons, organizations, products)
SPOOL_LIMIT = 256 * 2**20  # bytes of fetched, unread pages, on disk (~250 pages of deals)
_DONE = object()


def settings() -> list[th.Property]:
    return [
        th.Property(
            "max_parallel_requests", th.IntegerType(minimum=1), default=DEFAULT_PARALLEL,
            description="Streams whose pages are fetched at the same time, ahead of the one "
            "being emitted (records, order and state stay those of a sequential run). The "
            "rate limiter paces every request by Pipedrive's burst headers whatever the "
            "value; 1 fetches one page at a time.",
        ),
        th.Property(
            "window_overhead_percent", th.NumberType(minimum=0), default=windows.OVERHEAD,
            description="A backfill of deals, archived deals, persons, organizations or "
            "activities is read in time windows, each from both ends at once, in parallel; "
            "each window costs one partial page at most. At most this many extra requests, "
            "in percent of the windowed streams' pages (estimated from their first and "
            "newest pages), are spent on them, each window counted at its most; 0: no "
            "windows.",
        ),
    ]


class _Walk:
    """One stream's pages, fetched by a worker: the bodies wait in a temporary file (not in
    memory), the rest of each response in a list; the main thread takes them in order."""

    def __init__(self, stream: PipedriveStream, shelf: _Shelf) -> None:
        self.stream = stream
        self._shelf = shelf
        self._file: Any = None
        self._io = threading.Lock()  # the file position, shared by the two threads
        self._written = 0
        self._pages: deque[tuple[requests.Response, int, int]] = deque()
        self.unread = 0  # bytes
        self.outcome: Any = None  # _DONE, or the exception that ended the walk

    def run(self, pages: Iterator[requests.Response] | None = None) -> None:
        """Spool the stream's pages (or `pages`: one time window's, windows.py)."""
        try:
            for response in self.stream.iter_pages(None) if pages is None else pages:
                if not self._put(response):
                    return
                del response  # its body is on disk: not held while the next is fetched
            self._shelf.finish(self, _DONE)
        except BaseException as exc:  # handed to the main thread, raised in order there
            self._shelf.finish(self, exc)

    def _put(self, response: requests.Response) -> bool:
        body = response.content
        if not self._shelf.make_room(self, len(body)):
            return False  # the run is over
        with self._io:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="tap-pipedrive-")  # noqa: SIM115
            self._file.seek(self._written)
            self._file.write(body)
        self._shelf.add(self, (page.without_body(response), self._written, len(body)))
        self._written += len(body)
        return True

    def push(self, item: tuple[requests.Response, int, int]) -> None:
        self._pages.append(item)
        self.unread += item[2]

    @property
    def pending(self) -> bool:
        return bool(self._pages)

    def pop(self, last: bool = False) -> tuple[requests.Response, int, int] | None:
        if not self._pages:
            return None
        item = self._pages.pop() if last else self._pages.popleft()
        self.unread -= item[2]
        return item

    def read(self, offset: int, size: int) -> bytes:
        with self._io:
            self._file.seek(offset)
            return self._file.read(size)

    def close(self) -> None:
        with self._io:
            if self._file is not None:
                self._file.close()
                self._file = None


class _FirstPage:
    """The first page of a stream whose paging depends on what it emits (`_first_ahead`),
    fetched by a worker; the main thread goes on from it. If no worker has started on it
    when the main thread gets there, the main thread fetches it itself (a worker may be
    waiting for spool room that only the main thread can free)."""

    def __init__(self, stream: PipedriveStream) -> None:
        self.stream = stream
        self._claim = threading.Lock()  # held by whichever thread fetches the first page
        self._ready = threading.Event()
        self._pages: Iterator[requests.Response] | None = None
        self._first: requests.Response | None = None
        self._error: BaseException | None = None

    def run(self) -> None:
        if not self._claim.acquire(blocking=False):
            return
        try:
            self._pages = self.stream.iter_pages(None)
            self._first = next(self._pages, None)
        except BaseException as exc:  # raised where the main thread would have met it
            self._error = exc
        finally:
            self._ready.set()

    def take(self) -> Iterator[requests.Response]:
        if self._claim.acquire(blocking=False):
            yield from self.stream.iter_pages(None)
            return
        self._ready.wait()
        if self._error is not None:
            raise self._error
        if self._first is not None:
            yield self._first
            yield from self._pages  # type: ignore[misc]  # set together with the first page

    def close(self) -> None:
        """Only once the workers have stopped (Prefetcher.close)."""
        if self._pages is not None:
            self._pages.close()  # type: ignore[attr-defined]


class _Shelf:
    """Where fetched pages wait, and how many: a walk may add a page while all the walks'
    unread pages stay under SPOOL_LIMIT; the walk being emitted (the head) may go past that
    up to SPOOL_LIMIT of its own, so that the main thread never waits for a page that cannot
    be fetched (no deadlock)."""

    def __init__(self, stop: threading.Event) -> None:
        self._cond = threading.Condition()
        self._stop = stop
        self.head: _Walk | None = None
        self._whole: _Walk | None = None
        self.unread = 0

    def make_room(self, walk: _Walk, size: int) -> bool:
        with self._cond:
            while not self._stop.is_set():
                if walk is self._whole:
                    return True
                own_room = walk.unread == 0 or walk.unread + size <= SPOOL_LIMIT
                shared_room = self.unread == 0 or self.unread + size <= SPOOL_LIMIT
                if own_room and (shared_room or walk is self.head):
                    return True
                self._cond.wait(0.5)
            return False

    def add(self, walk: _Walk, item: tuple[requests.Response, int, int]) -> None:
        with self._cond:
            walk.push(item)
            self.unread += item[2]
            self._cond.notify_all()

    def finish(self, walk: _Walk, how: Any) -> None:
        with self._cond:
            walk.outcome = how
            self._cond.notify_all()

    def take(self, walk: _Walk, last_first: bool = False) -> Iterator[requests.Response]:
        """The walk's pages in order, waiting for each; then its end (an error is raised).
        `last_first`: all of them once the walk has ended, the last fetched first (windows.py
        turns a chain sorted newest first around); such a walk is never made to wait for
        room, since nothing of it is read before its end."""
        with self._cond:
            self.head = walk
            if last_first:
                self._whole = walk
            self._cond.notify_all()
        try:
            while True:
                with self._cond:
                    while walk.outcome is None and (last_first or not walk.pending):
                        self._cond.wait()
                    item = walk.pop(last_first)
                    if item is not None:
                        self.unread -= item[2]
                        self._cond.notify_all()
                if item is None:
                    if walk.outcome is not _DONE:
                        raise walk.outcome
                    return
                response, offset, size = item
                page.attach(response, walk.read(offset, size), checked=True)
                yield response
        finally:
            walk.close()


class Prefetcher:
    """Hands each stream its pages: fetched ahead by workers, or in the calling thread."""

    def __init__(self, parallel: int) -> None:
        self.parallel = parallel
        self._walks: dict[str, Any] = {}
        self._windowed: list[windows.WindowedWalk] = []
        self.gate = inflight.Gate(parallel)
        self._stop = threading.Event()
        self._shelf = _Shelf(self._stop)
        self._pool: ThreadPoolExecutor | None = None
        self._fields: ThreadPoolExecutor | None = None  # field metadata, beside the pages
        self.armed = False  # only a sync reads ahead (not discovery, not auth commands)

    def pages(self, stream: PipedriveStream,
              context: Context | None) -> Iterator[requests.Response]:
        """The stream's pages, in order. The first stream of a sync that can be read ahead
        plans the walks of itself and every such stream after it (the SDK has set up their
        state by then)."""
        if self.armed and self._pool is None and self.parallel > 1 and context is None \
                and (_walkable(stream) or _first_ahead(stream)):
            self._start(stream)
        walk = self._walks.pop(stream.name, None) if context is None else None
        if walk is None:
            return stream.iter_pages(context)
        if isinstance(walk, (windows.WindowedWalk, _FirstPage)):
            return walk.take()
        return self._shelf.take(walk)

    def _start(self, first: PipedriveStream) -> None:
        order = list(first.run.streams.values())
        later = order[order.index(first):]  # those before it are done
        self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="pages")
        self._fields = ThreadPoolExecutor(FIELD_READS, thread_name_prefix="fields")
        overhead = first.config.get("window_overhead_percent")
        budget = windows.Budget(windows.OVERHEAD if overhead is None else float(overhead))
        for place, stream in enumerate(s for s in later if _walkable(s) or _first_ahead(s)):
            if (source := getattr(stream, "custom_field_source", None)) is not None:
                self._fields.submit(_placed, place,  # just before its pages
                                    partial(_read_field_metadata, stream, source), -1)
            if not _walkable(stream):
                self._walks[stream.name] = ahead = _FirstPage(stream)
                self._pool.submit(_placed, place, ahead.run)
                continue
            if stream.replication_key:
                stream.start_pin = (_starting_value(stream),)
            walk: Any = _Walk(stream, self._shelf)
            if windows.applies(stream):  # a backfill may be read in time windows
                walk = windows.WindowedWalk(stream, self._shelf, self.parallel, place,
                                            lambda s: _Walk(s, self._shelf), budget)
                self._windowed.append(walk)
            self._walks[stream.name] = walk
            self._pool.submit(_placed, place, walk.run)

    def close(self) -> None:
        """Stop the workers (after a failure, pages still queued are dropped)."""
        self.armed = False
        self._stop.set()
        for pool in (self._pool, self._fields):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        for walk in self._walks.values():  # planned, never emitted (the run stopped)
            walk.close()
        for windowed in self._windowed:
            windowed.close(wait=True)


def _placed(place: int, run: Callable[[], Any], window: int = 0) -> None:
    inflight.set_priority(place, window)  # earlier streams' requests go first (inflight.py)
    run()


def _read_field_metadata(stream: PipedriveStream, source: Any) -> None:
    """The custom field definitions the stream's records need, read ahead while its first
    page is (not before: one round trip less before a backfill's windows are planned): the
    main thread would ask for them (one round trip, or a call a budget stop refuses) only
    once it starts emitting the stream. A failure is left for the main thread to meet where
    a sequential run meets it."""
    with contextlib.suppress(Exception):
        stream.run.custom_fields.items(source)


def _starting_value(stream: PipedriveStream) -> Any:
    """The bookmark the SDK will start this stream from (it decides when the stream starts:
    state, start_date), worked out on a copy of the state: state stays the main thread's."""
    manager = sdk_compat.state_manager_copy(stream)  # logs nothing: the SDK logs it later
    manager.write_starting_replication_value(
        context=None, replication_method=stream.replication_method,
        replication_key=stream.replication_key, config=dict(stream.config),
        compare_start_date_fn=stream.compare_start_date)
    return manager.get_starting_replication_value(None, stream.replication_method)


def _top_level(stream: Any) -> TypeGuard[PipedriveStream]:
    """A stream of the tap read for itself or its children, with no parent or partitions."""
    from tap_pipedrive.client import PipedriveStream

    return (
        isinstance(stream, PipedriveStream)
        and (stream.selected or stream.has_selected_descendents)
        and stream.parent_stream_type is None
        and stream.partitions is None
    )


def _first_ahead(stream: Any) -> TypeGuard[PipedriveStream]:
    """A top-level stream read newest first down to its bookmark: its first request depends
    on nothing emitted (the bookmark only decides where it stops)."""
    from tap_pipedrive.streams.base import NewestFirstStream

    return isinstance(stream, NewestFirstStream) and _top_level(stream)


def _walkable(stream: Any) -> TypeGuard[PipedriveStream]:
    """A top-level stream whose pages depend only on the API's answers."""
    from tap_pipedrive.client import PipedriveStream
    from tap_pipedrive.streams.base import BatchingParent

    cls = type(stream)
    return (
        _top_level(stream)
        and cls.keep_paging is PipedriveStream.keep_paging
        and cls.get_records in (PipedriveStream.get_records, BatchingParent.get_records)
        and cls.request_records is PipedriveStream.request_records
    )
