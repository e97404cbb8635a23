"""Time windows within one stream: a large backfill read by several page chains at once.

A stream's pages are a chain (each cursor is in the page before it), so one stream alone is
read one round trip at a time. For the streams whose endpoint filters on both ends of
update_time (`updated_since` inclusive, `updated_until` exclusive: v2 deals, archived deals,
persons, organizations, activities), the range still to read is cut into ranges, and each
range is read from both ends at once: a chain sorted oldest first from its start, a chain
sorted newest first from its end. They stop where they meet, wherever that is, so the two
always share the work evenly, whatever the records' spread.

- Same output as one chain: the stream is sorted by update_time and id (the sort key of a v2
  cursor). Chains are emitted in order (a range's ascending chain as it comes, then its
  descending one turned oldest first, then the next range), each record once: those at or
  below the last key emitted are left out (read twice where two chains meet). So the same
  records in the same order, with the same STATE messages and bookmarks (the main thread
  emits; only it touches state). Ranges are adjacent half-open [edge, next edge), in whole
  seconds.
- Each request's bounds are set just before it is sent (a v2 cursor holds the sort position
  only; the filters are the query's), from what the other chain of its range has read: the
  ascending chain up to the descending one's lowest second, the descending one down to the
  ascending one's highest. The descending chain stops once about two pages are left between
  them, and the ascending one reads those (two pages crossing would waste a request).
- Cost: where two chains meet there is one partial page, as a single chain ends with one,
  so a range costs one request at most: when the records of the meeting second, read by
  both chains, make that page overflow (with counts a multiple of 500, always). The ranges
  are paid from `window_overhead_percent` (2) of the pages of the run's windowed streams
  (Budget), each at that worst case, the first included: planned in the order the streams
  are emitted, what is left first to the stream emitted first while it is read; at most
  `max_parallel_requests` / 2 ranges at first.
- Where: the first page tells how dense the records are at the start, the newest page (the
  first page of the last descending chain: it costs nothing) how dense they are now; the
  edges split the records estimated between them evenly. As the guess may be wrong, when
  two chains are free (a range met early) the range with the most left is split in two at
  its estimated middle, while the budget lasts.
- No chain reads above the newest page: a record edited during the run moves to a time
  after that page was read, and every bookmark of the run is older than that (each is a
  record's time, all at or below that page): the next run reads it. Nothing is lost, nor on
  a run stopped or killed on the way.
- Products has `updated_since` but no `updated_until`: it is one chain, fetched ahead of the
  records being emitted (prefetch.py), never windowed.

At most `max_parallel_requests` requests are in flight, all through the one rate limiter,
chains of earlier streams and ranges first (inflight.py); fetched pages wait in
prefetch.py's spool.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import msgspec

from tap_pipedrive import inflight, page
from tap_pipedrive.client import PAGE_SIZE, WINDOW
from tap_pipedrive.endpoints import V2_NEWEST_FIRST

if TYPE_CHECKING:
    import requests

    from tap_pipedrive.client import PipedriveStream

OVERHEAD = 2.0  # percent: extra requests (one partial page per range at most)
MOST_RANGES = 32
PROBE_AT = 0.1  # ranges the first page must promise before the newest page is asked for
PLAN_WAIT = 10.0  # seconds a stream waits for the plans of the windowed streams before it
LEAVE = 2 * PAGE_SIZE  # records left between two chains when the descending one stops
STEAL = 4 * PAGE_SIZE  # records left in a range worth splitting it for two free chains
DOWN_SPOOL = 128 * 2**20  # bytes a descending chain spools at most (~120 pages of deals)

Key = tuple[float, float]  # (update_time in epoch seconds, id): the order of the stream
BELOW = -math.inf  # Key (t, BELOW): before every record of second t


class _Stamp(msgspec.Struct):
    id: Any = None
    update_time: Any = None


_STAMPS = msgspec.json.Decoder(list[_Stamp])


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


def _key(item: _Stamp) -> Key | None:
    moment = _epoch(item.update_time)
    if moment is None or not isinstance(item.id, int) or isinstance(item.id, bool):
        return None
    return (moment, float(item.id))


def keys(raw: Any) -> list[Key] | None:
    """The sort keys of a page's records (its raw `data`); None if one has none."""
    try:
        found = [_key(item) for item in _STAMPS.decode(raw)]
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return None if None in found else found  # type: ignore[return-value]


class Budget:
    """The extra requests a run may spend on ranges, shared by its windowed streams: at most
    `overhead` percent of their pages. A range costs at most one: the partial page where
    its two chains meet, which overflows when the records of their meeting second (read by
    both) do not fit in it. So a stream's first range costs one too at worst (with counts a
    multiple of 500, as the sandbox's, every time; else in ~2.5 % of runs).

    The pages are estimated as the streams are planned, in the order they are emitted (a
    stream waits for those before it): a stream whose newest page was read, from its first
    and newest pages (Spread); any other, from its first page's density carried to now. That
    guess is low in a growing account, where the oldest records are the sparsest (9 pages
    of a 40-page stream in the sandbox), so no credit is spent on pages that may not come
    (the Spread itself runs high there: 48 pages for 40). A stream reads its newest page,
    which makes its first range, only while the credit pays for it; the run's first such
    page is an advance, read when the first page promises PROBE_AT of a range (nothing
    else is known yet).

    The credit left after the plans goes to the windowed stream emitted first among those
    still being read, to split a range as chains come free: the main thread waits for that
    one, while the later ones are read meanwhile (their ranges would finish early and
    wait). A later stream spends only once every earlier one is read (each `place`, the
    stream's order in the run, is `reading` until `read`)."""

    def __init__(self, overhead: float) -> None:
        self._cond = threading.Condition()
        self.overhead = overhead
        self._spent = 0
        self._guessed: dict[int, float] = {}  # place: pages its first page promised
        self._known: dict[int, float] = {}  # place: pages its first and newest pages told
        self._unplanned: set[int] = set()
        self._reading: set[int] = set()

    def reading(self, place: int) -> None:
        """A windowed stream of the run, at `place`: to be planned, then read."""
        with self._cond:
            self._unplanned.add(place)
            self._reading.add(place)

    def read(self, place: int) -> None:
        with self._cond:
            self._reading.discard(place)
            self._planned(place)

    def planned(self, place: int) -> None:
        """The stream's ranges are set (or it is read as one chain)."""
        with self._cond:
            self._planned(place)

    def _planned(self, place: int) -> None:
        self._unplanned.discard(place)
        self._cond.notify_all()

    def probe(self, place: int, guess: float, timeout: float | None = None) -> bool:
        """Whether the stream at `place`, whose first page promised `guess` pages, reads its
        newest page (its first range: one page at most, paid now); asked once the streams
        before it are planned (or after `timeout` seconds of waiting for them)."""
        with self._cond:
            self._guessed[place] = guess
            self._cond.wait_for(lambda: not any(p < place for p in self._unplanned), timeout)
            if guess * self.overhead / 100 < PROBE_AT or (self._spent and self._left() < 1):
                return False
            self._spent += 1
            return True

    def plan(self, place: int, pages: float, most: int) -> int:
        """The stream's ranges, 1 to `most`, now that its newest page tells its `pages`."""
        with self._cond:
            self._known[place] = pages
            more = max(0, min(most - 1, math.floor(self._left())))
            self._spent += more
            return 1 + more

    def spend(self, most: int, place: int = 0) -> int:
        """Further ranges paid for: as many as the credit buys, up to `most`; none while a
        stream before `place` is still being read."""
        with self._cond:
            if any(p < place for p in self._reading):
                return 0
            count = max(0, min(most, math.floor(self._left())))
            self._spent += count
            return count

    def earn_back(self, ranges: int) -> None:
        with self._cond:
            self._spent -= ranges

    def _left(self) -> float:
        pages = sum(self._known.values()) + sum(
            guess for p, guess in self._guessed.items() if p not in self._known)
        return self.overhead / 100 * pages - self._spent


class Spread:
    """How many records were updated when, estimated from the first page (`records` updated
    between `first` and `last`) and the newest page (`newest_records` between `low` and
    `high`). How many: the density taken to change linearly from the one to the other, which
    errs high in a growing account (132 pages for the sandbox's 100, at 50,000 deals), as the
    credit was measured with (Budget). Where: the density taken to change by the same factor
    each second, as an account's activity grows by a share of itself; the linear shape put
    the middle of those 100 pages at page 43 (two ranges of 43 and 58 pages), this one at
    page 52 (sandbox accounts of 20,000 to 100,000 records: within 3 % of the middle)."""

    def __init__(self, first: float, last: float, records: int, low: float, high: float,
                 newest_records: int = PAGE_SIZE) -> None:
        self.last, self.low, self.records = last, low, records
        self.gap = max(low - last, 0.0)
        self.old = records / max(last - first, 1.0)  # records per second, at each end
        new = newest_records / max(high - low, 1.0)
        self.slope = (new - self.old) / (2 * self.gap) if self.gap else 0.0
        self.rate = math.log(new / self.old) / self.gap if self.gap else 0.0  # the shape's
        self.middle = self.before(low) - records  # records between the two pages
        self.total = records + self.middle + newest_records

    @property
    def pages(self) -> float:
        return self.total / PAGE_SIZE

    def before(self, t: float) -> float:
        """Records updated before second t, for last < t <= low."""
        x = min(max(t - self.last, 0.0), self.gap)
        return self.records + self.old * x + self.slope * x * x

    def placed(self, t: float) -> float:
        """Records updated before second t, for last < t <= low, as many in all as `before`
        says but placed by the geometric shape."""
        x = min(max(t - self.last, 0.0), self.gap)
        growth = self.rate * self.gap
        share = x / self.gap if abs(growth) < 1e-9 else (
            math.expm1(self.rate * x) / math.expm1(growth))
        return self.records + self.middle * share

    def halfway(self) -> int:
        """The second that halves the records between the two pages."""
        return self._second(self.records + self.middle / 2)

    def _second(self, target: float) -> int:
        """The first second after `last` with `target` records below it (`placed`)."""
        lo, hi = math.floor(self.last) + 1, math.floor(self.low)
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if self.placed(mid) < target else (lo, mid)
        return lo

    def edges(self, count: int) -> list[int]:
        """Where ranges after the first begin (epoch seconds, ascending, in (last, low]) so
        that `count` ranges hold about as many records each."""
        if count < 2 or self.gap <= 2:
            return []
        return sorted({self._second(self.total * i / count) for i in range(1, count)})


def after(response: requests.Response, last: Key) -> tuple[requests.Response | None, Key]:
    """The page's records after `last` (the last key emitted), oldest first (a descending
    chain's page is turned around), each record's bytes as they came; and the new last key.
    None if none is left. Pages of one chain (no sort keys) are passed as they are."""
    ends: tuple[Key, Key] | None = getattr(response, "sort_ends", None)
    descending = getattr(response, "descending", False)
    if ends is None:  # a descending page without keys: read by the ascending chain instead
        return (None if descending else response), last
    low, high = ends
    if low > last:  # nothing read twice: the page as it came (turned, if descending)
        response.page.turned = descending  # type: ignore[attr-defined]
        return response, max(last, high)
    document = response.page  # type: ignore[attr-defined]
    found = keys(document.raw) or []
    keep = [raw for raw, key in zip(document.items() or [], found, strict=True) if key > last]
    if not keep:
        return None, last
    if descending:
        keep.reverse()
    body = b'{"success":true,"data":[%s],"additional_data":{"next_cursor":null}}' % b",".join(
        bytes(raw) for raw in keep)
    copy = page.without_body(response)
    page.attach(copy, body)
    return copy, max(last, high)


def _mark(response: requests.Response, found: list[Key] | None, descending: bool) -> None:
    """What `after` needs of a page, kept with it while it waits: its lowest and highest
    key (not all 500: a spooled page holds no more than its headers)."""
    response.sort_ends = (min(found), max(found)) if found else None  # type: ignore[attr-defined]
    response.descending = descending  # type: ignore[attr-defined]


class Range:
    """[lo, hi) of a stream (epoch seconds; None: open), read by an ascending chain and a
    descending one at once. What each has read is a prefix and a suffix of the range; they
    meet when the two cover it. The ranges of a stream share one lock (a range may be split
    while its chains read, WindowedWalk._steal)."""

    def __init__(self, lock: threading.RLock, lo: float | None, hi: float | None) -> None:
        self.lock = lock
        self.lo, self.hi = lo, hi
        self.up: Key = (-math.inf if lo is None else lo, BELOW)  # read: every key <= up
        self.down: Key = (math.inf if hi is None else hi, BELOW)  # read: every key >= down
        self.discard_down = False  # the descending chain's pages are not used
        self.ends: list[tuple[float, float, int] | None] = [None, None]  # latest pages

    @property
    def met(self) -> bool:
        return self.up >= self.down

    def until(self) -> str | None:
        """The ascending chain's next `updated_until`: through the descending one's second."""
        with self.lock:
            t, id_ = self.down
            if math.isinf(t):
                return None
            return stamp(t if id_ == BELOW else math.floor(t) + 1)

    def since(self) -> str | None:
        with self.lock:
            t = self.up[0]
            return None if math.isinf(t) else stamp(math.floor(t))

    def climbed(self, found: list[Key] | None, ended: str | bool | None) -> None:
        """The ascending chain read a page (`found`: its keys); `ended`: its last page, asked
        with that `updated_until` (False: more pages follow)."""
        with self.lock:
            if found:
                self.up = max(self.up, found[-1])
                self.ends[0] = (found[0][0], found[-1][0], len(found))
            if ended is not False:
                end = math.inf if ended is None else _epoch(ended)
                self.up = max(self.up, (end or 0.0, BELOW))

    def descended(self, found: list[Key] | None, ended: str | bool | None) -> bool:
        """The descending chain read a page; whether it goes on (`ended`: as `climbed`)."""
        with self.lock:
            if found is None:  # keys unknown: the ascending chain reads the whole range
                if self.met:
                    return False  # it has: this page is not used (windows.after)
                self.discard_down = True
                self.down = (math.inf if self.hi is None else self.hi, BELOW)
                return False
            if found:
                self.down = min(self.down, found[-1])
                self.ends[1] = (found[-1][0], found[0][0], len(found))
            if ended is not False:
                start = -math.inf if ended is None else _epoch(ended)
                self.down = min(self.down, (start or 0.0, BELOW))
                return False
            left = self.left()
            return not self.met and (left is None or left >= LEAVE)

    def spread(self) -> Spread | None:
        """The records between the two chains, from their latest pages (None: not known)."""
        up, down = self.ends
        if self.met or up is None or down is None or self.discard_down:
            return None
        return Spread(up[0], max(up[1], self.up[0]), up[2], min(down[0], self.down[0]),
                      down[1], down[2])

    def left(self) -> float | None:
        """Records estimated between the two chains (None: not known yet)."""
        spread = self.spread()
        if spread is None:
            return 0.0 if self.met else None
        return spread.total - spread.records - self.ends[1][2]  # type: ignore[index]


class Chain:
    """One chain of a range: its walk (the spooled pages), its bounds and direction."""

    def __init__(self, walk: Any, span: Range, descending: bool,
                 bounds: dict[str, str | None], on_page: Callable[[], None]) -> None:
        self.walk, self.range, self.descending, self.bounds = walk, span, descending, bounds
        self._on_page = on_page
        # Its first page when planning read it (the newest page): held here, not in the
        # worker's arguments, which live as long as the chain is read; pages() lets it go.
        self.first: requests.Response | None = None

    def pages(self, pages: Iterator[requests.Response]) -> Iterator[requests.Response]:
        """`pages` (asked with `bounds`), each request's bounds set from the other chain's
        progress just before it is sent; ends where the two chains meet. `first`, when set:
        its first page, read already (whatever the other chain has read since, it is kept:
        the range counts it as read). Each page carries the ends of its records' sort keys
        (`_mark`), read here, in the worker."""
        read, self.first = self.first, None
        try:
            while read is not None or not self.range.met:
                asked = self._aim()
                response, read = (next(pages, None), None) if read is None else (read, None)
                if response is None:  # the last page was read: to the bound it was asked with
                    self._saw([], asked)
                    return
                found = keys(response.page.envelope.data)  # type: ignore[attr-defined]
                _mark(response, found, self.descending)
                more = bool(response.page.additional.get("next_cursor"))  # type: ignore[attr-defined]
                goes_on = self._saw(found, False if more else asked)
                if self.descending and self.walk.unread > DOWN_SPOOL:
                    goes_on = False  # its pages wait on disk to its end: the other reads on
                self._on_page()
                yield response
                if not (more and goes_on):
                    return
                del response  # not held (its body: ~1 MB) while the next page is fetched
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def _aim(self) -> str | None:
        """Set the next request's bound from the other chain's progress; that bound."""
        with self.range.lock:
            if self.descending:
                since = self.range.since() or self.bounds.get("updated_since")
                self.bounds["updated_since"] = since
                return since
            self.bounds["updated_until"] = until = self.range.until()
            return until

    def _saw(self, found: list[Key] | None, ended: str | bool | None) -> bool:
        with self.range.lock:
            if self.descending:
                return self.range.descended(found, ended)
            self.range.climbed(found, ended)
            return True


class WindowedWalk:
    """One stream's pages from several chains; the walk interface of prefetch.py (`run` in a
    worker, `take` in the main thread, `close`). `make_walk` builds a prefetch walk, which
    spools one chain's pages."""

    def __init__(self, stream: PipedriveStream, shelf: Any, parallel: int, place: int,
                 make_walk: Callable[[Any], Any], budget: Budget) -> None:
        self.stream = stream
        self._budget = budget
        self._shelf = shelf
        self._parallel = parallel
        self._place = place
        self._make_walk = make_walk
        self.head = make_walk(stream)
        self.chains: list[Chain] = []  # the head's own first, in emission order
        self._lock = threading.RLock()  # the chains, their ranges, what is left to spend
        self._reading = 0  # chains reading now
        self._closed = False
        self._runner: ThreadPoolExecutor | None = None
        budget.reading(place)

    def run(self) -> None:
        start = self.stream.get_starting_timestamp(None)  # the pinned start (prefetch.py)
        bounds: dict[str, str | None] = {
            "updated_since": stamp(start.timestamp()) if start else None,
            "updated_until": None,
        }
        self.head.run(self._head_pages(bounds, start.timestamp() if start else None))

    def _head_pages(self, bounds: dict[str, str | None],
                    start: float | None) -> Iterator[requests.Response]:
        pages = self.stream.iter_pages({WINDOW: bounds})
        head = None
        try:
            first = next(pages, None)
            if first is None:
                return
            found = keys(first.page.envelope.data)  # type: ignore[attr-defined]
            _mark(first, found, False)
            yield first
            head = self._split(first, found, bounds, start)
            self._budget.planned(self._place)  # the later streams plan with what is left
            del first  # not held (~1 MB) while the chain reads on
            if head is None:
                yield from pages  # one chain
                return
        finally:
            if head is None:  # read (or failed) as one chain
                self._budget.read(self._place)
        yield from head.pages(pages)
        self._ended(head)

    def _split(self, response: requests.Response, found: list[Key] | None,
               bounds: dict[str, str | None], start: float | None) -> Chain | None:
        """After the first page: the ranges and their chains, or None for one chain."""
        first_page = response.page  # type: ignore[attr-defined]
        if not first_page.additional.get("next_cursor"):
            return None
        if not found or self._parallel < 2:
            return None
        first, last = found[0][0], found[-1][0]
        # The pages the first page's density promises, carried to now (Budget.probe).
        guess = len(found) / PAGE_SIZE * (time.time() - first) / max(last - first, 1.0)
        if not self._budget.probe(self._place, guess, PLAN_WAIT):
            return None
        newest_bounds = {**bounds, **V2_NEWEST_FIRST}
        newest_pages = self.stream.iter_pages({WINDOW: newest_bounds})
        top = None
        try:
            newest = next(iter(newest_pages))
            top = keys(newest.page.envelope.data)  # type: ignore[attr-defined]
        except Exception as exc:  # a lasting fault: the stream's own chain meets it again
            self.stream.logger.warning("%s: the newest page could not be read (%s); one chain "
                                       "reads the stream", self.stream.name, exc)
        if not top:
            newest_pages.close()  # type: ignore[attr-defined]
            self._budget.earn_back(1)  # the first range it paid for is not read
            return None
        spread = Spread(first, last, len(found), top[-1][0], top[0][0], len(top))
        count = self._budget.plan(self._place, spread.pages,
                                  min(self._parallel // 2, MOST_RANGES))
        cuts = spread.edges(count)
        self._budget.earn_back(count - 1 - len(cuts))  # edges closer than a second
        spans = [Range(self._lock, lo, hi)
                 for lo, hi in zip([start, *cuts], [*cuts, None], strict=True)]
        spans[0].climbed(found, False)
        spans[-1].descended(top, False)  # no chain reads above the newest page (see above)
        head = self._chain(spans[0], False, bounds, self.head)
        for i, span in enumerate(spans):
            if i:
                self._chain(span, False, {"updated_since": stamp(span.lo or 0),
                                          "updated_until": None})
            self._chain(span, True, newest_bounds if i == len(spans) - 1 else {
                "updated_since": None, "updated_until": stamp(span.hi or 0), **V2_NEWEST_FIRST})
        self.stream.logger.info("%s: about %d pages; reading %d ranges from both ends in "
                                "parallel (%d chains)", self.stream.name, round(spread.pages),
                                len(spans), 2 * len(spans))
        self._reading = len(self.chains)
        self._runner = ThreadPoolExecutor(len(self.chains) - 1 + 2 * MOST_RANGES,
                                          thread_name_prefix="window")
        for index, chain in enumerate(self.chains[1:], start=1):  # started in emission order
            if index < len(self.chains) - 1:
                self._runner.submit(self._fetch, index, chain)
            else:  # the newest page is the last descending chain's first
                chain.first = newest
                self._runner.submit(self._fetch, index, chain, newest_pages)
        return head

    def _chain(self, span: Range, descending: bool, bounds: dict[str, str | None],
               walk: Any = None, at: int | None = None) -> Chain:
        """A new chain, placed in emission order (last, or at `at`)."""
        chain = Chain(walk or self._make_walk(self.stream), span, descending, bounds,
                      self._rebalance)
        self.chains.insert(len(self.chains) if at is None else at, chain)
        return chain

    def _fetch(self, index: int, chain: Chain,
               pages: Iterator[requests.Response] | None = None) -> None:
        try:
            inflight.set_priority(self._place, index)
            if pages is None:
                pages = self.stream.iter_pages({WINDOW: chain.bounds})
        except BaseException as exc:  # raised where this chain is emitted, never a hang
            self._shelf.finish(chain.walk, exc)
            return
        chain.walk.run(chain.pages(pages))
        self._ended(chain)

    def _ended(self, chain: Chain) -> None:
        with self._lock:
            self._reading -= 1
            done = self._reading == 0
        if done:  # the ranges' credit goes to the next stream (Budget)
            self._budget.read(self._place)
        self._rebalance()

    def _rebalance(self) -> None:
        """When two chains are free (after a chain stops, checked again after each page
        until then), the range with most left is split in two, while there are partial
        pages to spend (each range costs one)."""
        if self._reading + 2 > max(self._parallel, 2):
            return  # the usual case, without the lock
        with self._lock:
            if self._reading + 2 > max(self._parallel, 2) or self._runner is None \
                    or self._closed or len(self.chains) >= 2 * MOST_RANGES:
                return
            ranges = {id(c.range): c.range for c in self.chains}.values()
            most, widest = max(((r.left() or 0.0, r) for r in ranges), key=lambda pair: pair[0])
            if most < STEAL:
                return
            spread = widest.spread()
            assert spread is not None  # left() is finite
            cut = spread.halfway()
            if not widest.up[0] < cut <= widest.down[0] \
                    or not self._budget.spend(1, self._place):
                return
            upper = Range(self._lock, cut, widest.hi)
            upper.down, upper.ends[1] = widest.down, widest.ends[1]
            widest.hi, widest.down, widest.ends[1] = cut, (cut, BELOW), None
            descending = next(c for c in self.chains if c.range is widest and c.descending)
            descending.range = upper  # its pages are above the cut
            at = self.chains.index(descending)
            new = [self._chain(upper, False, {"updated_since": stamp(cut),
                                              "updated_until": None}, at=at),
                   self._chain(widest, True, {"updated_since": None,
                                              "updated_until": stamp(cut), **V2_NEWEST_FIRST},
                               at=at)]  # in order: widest's descending, then upper's ascending
            self._reading += 2
            for chain_ in new:  # before close(), which takes the lock first
                self._runner.submit(self._fetch, at, chain_)
        self.stream.logger.info("%s: a range split at %s, two chains freed read its upper half",
                                self.stream.name, stamp(cut))

    def take(self) -> Iterator[requests.Response]:
        """Every chain's pages in emission order (an error is raised in its place), each
        record once: those a chain read that an earlier one emitted are left out."""
        last: Key = (-math.inf, BELOW)
        try:
            index = 0
            while True:
                with self._lock:
                    if index and index >= len(self.chains):
                        return
                    chain = self.chains[index] if index else None
                index += 1
                walk = self.head if chain is None else chain.walk
                descending = chain is not None and chain.descending
                for response in self._shelf.take(walk, last_first=descending):
                    if descending and chain.range.discard_down:  # type: ignore[union-attr]
                        continue
                    kept, last = after(response, last)
                    if kept is not None:
                        yield kept
        finally:
            self.close()

    def close(self, wait: bool = False) -> None:
        """Free the spool; `wait` (prefetch.py, once the run has stopped): for the chain
        threads too."""
        with self._lock:
            self._closed = True
            chains = self.chains[1:]
        self._budget.read(self._place)
        if self._runner is not None:
            self._runner.shutdown(wait=wait, cancel_futures=True)
        self.head.close()
        for chain in chains:
            chain.walk.close()
