"""Time windows within one stream: a large backfill read by several page chains at once.

A stream's pages are a chain (each cursor is in the page before it), so one stream alone is
read one round trip at a time. For the streams whose endpoint filters on both ends of
update_time (`updated_since` inclusive, `updated_until` exclusive: v2 deals, archived deals,
persons, organizations, activities), the range still to read is cut into time windows, each
its own chain, fetched in parallel by worker threads; their pages are emitted in window order.

- Same output as one chain: the stream is sorted by update_time, the windows are adjacent
  half-open ranges [edge, next edge) in whole seconds, so window after window is the same
  records in the same order, with the same STATE messages and bookmarks (the main thread
  emits; only it touches state).
- The first window is the stream's usual chain. Its first page tells how dense the records
  are (500 records between its first and last update_time); the rest of the range, from the
  first page's last second to now, is split only if that density says it is worth it: every
  window ends with one partial page, so a stream estimated at P pages gets at most
  `window_overhead_percent` (2) x P / 100 extra chains (1 for 50-99 pages, 40 for 2,000).
  After its first page, the first chain carries on with `updated_until` set to the first edge
  (a v2 cursor holds the sort position only; the filters are the query's).
- The last window has no `updated_until`: a record edited during the run moves to a time
  after the run began, which is in it. If that window was read before the edit, every
  bookmark of the run is older than the edit, so the next run reads it: nothing is lost
  (the same holds for a run stopped or killed on the way).
- Products has `updated_since` but no `updated_until`: it is one chain, fetched ahead of the
  records being emitted (prefetch.py), never windowed.

At most `max_parallel_requests` requests are in flight, all through the one rate limiter,
windows of earlier streams first (inflight.py); fetched pages wait in prefetch.py's spool.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import msgspec

from tap_pipedrive import inflight, page
from tap_pipedrive.client import PAGE_SIZE, WINDOW

if TYPE_CHECKING:
    import requests

    from tap_pipedrive.client import PipedriveStream

OVERHEAD = 2.0  # percent: extra requests (one partial page per window) per page read
MOST_WINDOWS = 64
PROBE_AT = 0.2  # windows the first page's density must promise before the newest is read
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])


def applies(stream: Any) -> bool:
    return bool(getattr(stream, "windowed", False)) and stream.replication_key == "update_time"


def stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str) or not value[:4].isdigit():
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def worth_asking(first: float, last: float, now: float, records: int,
                 overhead: float = OVERHEAD) -> bool:
    """Whether the first page (`records` updated between `first` and `last`) says the stream
    may be long enough for windows: then the newest page is asked for (it is the last
    window, so it costs no more than a window does)."""
    pages = records / PAGE_SIZE * (now - first) / max(last - first, 1.0)
    return overhead / 100 * pages >= PROBE_AT


def edges(first: float, last: float, now: float, records: int, overhead: float = OVERHEAD,
          newest: tuple[float, float] = (0.0, 0.0)) -> list[int]:
    """Where windows after the first begin (epoch seconds, ascending), between the first
    page (`records` updated between `first` and `last`) and the newest page (500 updated
    between `newest`); [] when one chain up to the newest page is best. The density is taken
    to change linearly from the first page's to the newest page's; the windows hold about
    as many records each, and at most `overhead` percent of the estimated pages are spent
    on their partial pages."""
    low, high = newest
    gap = low - last
    if gap <= 2:
        return []
    old = records / max(last - first, 1.0)  # records per second, at each end
    new = PAGE_SIZE / max(high - low, 1.0)
    middle = (old + new) / 2 * gap
    pages = (records + PAGE_SIZE + middle) / PAGE_SIZE
    # Each chain ends with a partial page: that is the cost. The newest page is not: it
    # holds the last window's records, which a single chain would read as a full page too.
    chains = min(1 + int(overhead / 100 * pages), MOST_WINDOWS - 1)
    if chains < 2:
        return []
    a = (new - old) / (2 * gap)  # records from `last` to last + x: old x + a x^2
    cuts = set()
    for i in range(1, chains):
        target = middle * i / chains
        x = target / old if abs(a) < 1e-12 else (-old + math.sqrt(old * old + 4 * a * target)) / (
            2 * a)
        cuts.add(math.floor(last + x) + 1)
    return sorted(c for c in cuts if last < c <= low)


def newest_window(response: requests.Response, since: int) -> requests.Response:
    """The newest page (sorted newest first) as the last window's page: its records updated
    at `since` or later, oldest first, each record's bytes as they came."""
    document = response.page  # type: ignore[attr-defined]
    keep = [raw for raw, record in zip(_RAW_LIST.decode(document.envelope.data),
                                       document.data(), strict=True)
            if (_epoch(record.get("update_time")) or 0) >= since]
    body = b'{"success":true,"data":[%s],"additional_data":{"next_cursor":null}}' % b",".join(
        bytes(raw) for raw in reversed(keep))
    copy = page.without_body(response)
    page.attach(copy, body)
    return copy


class WindowedWalk:
    """One stream's pages from several windows; the walk interface of prefetch.py (`run` in a
    worker, `take` in the main thread, `close`). `make_walk` builds a prefetch walk, which
    spools one chain's pages."""

    def __init__(self, stream: PipedriveStream, shelf: Any, parallel: int, place: int,
                 make_walk: Callable[[Any], Any]) -> None:
        self.stream = stream
        self._shelf = shelf
        self._parallel = parallel
        self._place = place
        self._make_walk = make_walk
        self.head = make_walk(stream)
        self.windows: list[tuple[Any, dict[str, str | None]]] = []  # after the head, in order
        self._runner: ThreadPoolExecutor | None = None

    def run(self) -> None:
        start = self.stream.get_starting_timestamp(None)  # the pinned start (prefetch.py)
        bounds: dict[str, str | None] = {
            "updated_since": stamp(start.timestamp()) if start else None,
            "updated_until": None,
        }
        self.head.run(self._head_pages(bounds))

    def _head_pages(self, bounds: dict[str, str | None]) -> Iterator[requests.Response]:
        for n, response in enumerate(self.stream.iter_pages({WINDOW: bounds})):
            yield response
            if n == 0:  # before the next request, which then stops at the first edge
                self._split(response, bounds)

    def _split(self, response: requests.Response, bounds: dict[str, str | None]) -> None:
        first_page = response.page  # type: ignore[attr-defined]
        if not first_page.additional.get("next_cursor"):
            return
        records = first_page.data()
        if not isinstance(records, list) or not records:
            return
        first = _epoch(records[0].get("update_time"))
        last = _epoch(records[-1].get("update_time"))
        if first is None or last is None:
            return
        overhead = self.stream.config.get("window_overhead_percent")
        overhead = OVERHEAD if overhead is None else float(overhead)
        now = time.time()
        if not worth_asking(first, last, now, len(records), overhead):
            return
        pages = self.stream.iter_pages({WINDOW: {**bounds, "sort_direction": "desc"}})
        newest = next(iter(pages))
        pages.close()  # type: ignore[attr-defined]
        top = newest.page.data()  # type: ignore[attr-defined]
        if not isinstance(top, list) or not top:
            return
        low, high = _epoch(top[-1].get("update_time")), _epoch(top[0].get("update_time"))
        if low is None or high is None or low <= last:
            return  # the newest page reaches back to the first: one chain reads the rest
        final = math.floor(low) + 1  # the last window: the newest page's records from here
        cuts = [c for c in edges(first, last, now, len(records), overhead, (low, high))
                if c < final] + [final]
        bounds["updated_until"] = stamp(cuts[0])
        for i, lo in enumerate(cuts):
            hi = stamp(cuts[i + 1]) if i + 1 < len(cuts) else None
            self.windows.append((self._make_walk(self.stream),
                                 {"updated_since": stamp(lo), "updated_until": hi}))
        self.stream.logger.info("%s: reading %d time windows in parallel (from %s)",
                                self.stream.name, len(cuts) + 1, stamp(cuts[0]))
        last_walk = self.windows[-1][0]
        last_walk.run(iter([newest_window(newest, final)]))  # read already: spooled now
        if len(self.windows) == 1:
            return
        chains = self.windows[:-1]
        self._runner = ThreadPoolExecutor(min(max(self._parallel - 1, 1), len(chains)),
                                          thread_name_prefix="window")
        for index, (walk, window) in enumerate(chains, start=1):  # started in order
            self._runner.submit(self._fetch, index, walk, window)

    def _fetch(self, index: int, walk: Any, window: dict[str, str | None]) -> None:
        try:
            inflight.set_priority(self._place, index)
            pages = self.stream.iter_pages({WINDOW: window})
        except BaseException as exc:  # raised where this window is emitted, never a hang
            self._shelf.finish(walk, exc)
            return
        walk.run(pages)

    def take(self) -> Iterator[requests.Response]:
        """Every window's pages, window after window (an error is raised in its place)."""
        try:
            yield from self._shelf.take(self.head)
            for walk, _ in self.windows:  # planned after the head's first page, before its end
                yield from self._shelf.take(walk)
        finally:
            self.close()

    def close(self, wait: bool = False) -> None:
        """Free the spool; `wait` (prefetch.py, once the run has stopped): for the window
        threads too."""
        if self._runner is not None:
            self._runner.shutdown(wait=wait, cancel_futures=True)
        self.head.close()
        for walk, _ in self.windows:
            walk.close()
