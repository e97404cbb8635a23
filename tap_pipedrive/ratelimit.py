"""Pipedrive's limits, seen from the tap: the burst window, the daily budget, the run's cap.

One `RateLimiter` per tap, shared by every stream and thread:

- before a request, `acquire()` stops the run at its token cap, waits while the burst window
  is known to be full (`x-ratelimit-remaining: 0` until `x-ratelimit-reset`) or while a 429
  asked everyone to wait, and counts the request and its tokens;
- after a response, `check()` reads the headers (`observe()`); for a 429 it decides between
  the burst limit (`RateLimited`: wait for the reset, then retry) and the daily budget (stop:
  `DailyBudgetSpent`). Every 429 is handled here: the stream's retries only wait what
  `RateLimited.retry_wait()` says (client.py).

Pipedrive documents no header for the daily budget. A 429 is taken as the daily budget when
the undocumented `x-daily-ratelimit-token-remaining` is 0, when the wait it asks for is longer
than `max_rate_limit_wait`, or when it comes twice in a row although the burst window still
had room. Otherwise the retries are bounded by `max_retries` (see client.py).
"""

from __future__ import annotations

import email.utils
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th
from singer_sdk.exceptions import RetriableAPIError

from tap_pipedrive.errors import TapPipedriveError

if TYPE_CHECKING:
    import requests

EXIT_BUDGET = 75  # EX_TEMPFAIL: nothing is broken, run again later
MIN_WAIT = 0.25  # a full window whose reset reads 0 still needs a moment
PROBE_WAIT = 0.02  # how often others look whether the request testing a new window is back
NOT_BURST_STRIKES = 2  # 429s in a row with room in the burst window: the daily budget


class BudgetStop(TapPipedriveError):
    """The run stopped before its end on purpose; its state lets the next run resume."""

    exit_code = EXIT_BUDGET


class DailyBudgetSpent(BudgetStop):
    """The company's daily API budget is spent (shared by all its integrations)."""


class RunCapReached(BudgetStop):
    """`max_tokens_per_run` would be exceeded by the next request."""


class LongWait(BudgetStop):
    """The burst window's reset is further away than `max_rate_limit_wait`."""


def budget_stop(exc: BaseException | None) -> BudgetStop | None:
    """The budget stop that caused `exc` (it may be wrapped, e.g. by a metadata error)."""
    seen: BaseException | None = exc
    for _ in range(10):  # a short chain; never loop on a cycle
        if seen is None or isinstance(seen, BudgetStop):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class RateLimited(RetriableAPIError):
    """A burst-limit 429: retry after `wait` seconds (the rate limiter's answer)."""

    def __init__(self, message: str, response: requests.Response, wait: float) -> None:
        super().__init__(message, response)
        self.wait = wait

    def retry_wait(self) -> float:
        """The wait before the retry, with a little jitter: the threads that met the same
        429 do not all come back at the same instant."""
        return self.wait + random.uniform(0, 0.25)


def settings() -> list[th.Property]:
    return [
        th.Property(
            "max_tokens_per_run", th.IntegerType(minimum=1),
            description="API tokens (the spec's x-token-cost per call) one run may spend. At "
            "the cap the run stops cleanly: state saved, exit code 75, the next run resumes. "
            "Keeps a sync from eating the daily budget other integrations share. Unset: no cap.",
        ),
        th.Property(
            "max_retries", th.IntegerType(minimum=0), default=5,
            description="Retries of a failed request (5xx, 429, dropped or broken connection, "
            "timeout, invalid body) before the run fails with resumable state.",
        ),
        th.Property(
            "retry_backoff_seconds", th.NumberType(minimum=0), default=2,
            description="Wait before the first retry; it doubles on each retry, with jitter, up "
            "to 60 s. A 429 waits for x-ratelimit-reset instead.",
        ),
        th.Property(
            "max_rate_limit_wait", th.IntegerType(minimum=2), default=60,  # 2 s: the burst window
            description="Longest wait for a rate-limit reset, in seconds (x-ratelimit-reset "
            "with no room left, on a 200 or a 429, and Retry-After). A 429 asking for a "
            "longer wait is taken as the daily budget being spent, a 200 as a window that "
            "will not reopen soon: either way the run stops cleanly (state saved, exit 75).",
        ),
        th.Property(
            # The SDK annotates `minimum` as int; JSON Schema (and its validator) take any number.
            "request_timeout", th.NumberType(minimum=0.1),  # type: ignore[arg-type]
            default=120,
            description="Seconds one API request may take, connecting and receiving the "
            "whole answer; a slower one is abandoned and retried.",
        ),
    ]


@dataclass
class Usage:
    requests: int = 0
    tokens: int = 0
    retries: int = 0
    rate_limited: int = 0


BEYOND = 1e15  # seconds or counts: any header value past this is read as this (no overflow)
SHOWN_DAYS = 366  # a wait longer than this is not given a date


def _number(value: str | None) -> float | None:
    """A header's number, clamped to +-BEYOND; None if absent or not a finite number."""
    try:
        number = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    if number is None or not math.isfinite(number):
        return None
    return max(-BEYOND, min(number, BEYOND))


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if value is None:
        return None
    if (seconds := _number(value)) is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:  # "-0000": UTC, says RFC 5322
            when = when.replace(tzinfo=timezone.utc)
        return (when - datetime.now(timezone.utc)).total_seconds()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        days = seconds / 86400
        return f"{days:.0f} days" if days <= SHOWN_DAYS else "more than a year"
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{math.ceil(seconds)} s"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _when(seconds: float) -> str:
    """`in about 2 h 05 min (2026-01-31 14:05 UTC)`; no date for a wait beyond a year."""
    if seconds > SHOWN_DAYS * 86400:
        return f"in {_duration(seconds)}"
    at = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return f"in about {_duration(seconds)} ({at:%Y-%m-%d %H:%M} UTC)"


class RateLimiter:
    """Shared by a tap's streams; thread-safe. `clock`/`sleep` are injectable for tests."""

    def __init__(
        self,
        token_cap: int | None = None,
        max_wait: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.token_cap = token_cap
        self.max_wait = max_wait
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._remaining: int | None = None  # requests left in the burst window, if known
        self._window_ends = 0.0  # when that window frees a slot (clock time)
        self._blocked_until = 0.0  # a 429 asked everyone to wait until then
        self._rate_limited_in_a_row = 0
        self._not_burst_in_a_row = 0
        self._in_flight = 0  # requests sent and not answered yet (threads)
        self._prober: int | None = None  # the thread whose request tests a new window
        self._sent = threading.local()  # the thread's request in flight: number, flying
        self._requests_sent = 0
        self.daily_left: int | None = None  # x-daily-ratelimit-token-remaining, when sent
        self._stopped: BudgetStop | None = None  # once one request is refused, all are
        self._unreachable: Exception | None = None  # a request gave up: the API is unreachable
        self._unreachable_event = threading.Event()
        self.usage: dict[str, Usage] = {}

    # --- before a request ---------------------------------------------------------------

    def acquire(self, stream: str, cost: int) -> None:
        """Wait until a request may go; count it. RunCapReached if it would pass the cap;
        DailyBudgetSpent if another request (another thread) already found the budget spent."""
        with self._lock:  # check and count at once: threads cannot pass the cap together
            if self._stopped is not None:
                raise type(self._stopped)(*self._stopped.args)
            if self._unreachable is not None:
                raise type(self._unreachable)(*self._unreachable.args)
            spent = self.tokens
            if self.token_cap is not None and spent + cost > self.token_cap:
                # No later call goes either, even a cheaper one: the run is stopping, and
                # writes what it has fetched (PipedriveStream.sync).
                self._stopped = RunCapReached(
                    f"the run reached its token cap (max_tokens_per_run={self.token_cap}): "
                    f"{spent} tokens spent, the next call to {stream} costs {cost}. State "
                    "is saved: the next run resumes here; raise the cap to read more per run"
                )
                raise self._stopped
            usage = self.usage.setdefault(stream, Usage())
            usage.requests += 1
            usage.tokens += cost
        try:
            while (wait := self._wait_needed()) > 0:
                self._sleep(wait)
        except LongWait:
            with self._lock:  # never sent: not counted
                usage.requests -= 1
                usage.tokens -= cost
            raise

    def _wait_needed(self) -> float:
        with self._lock:
            now = self._clock()
            if now < self._blocked_until:
                return self._blocked_until - now
            if self._remaining is None:
                return self._send()
            if self._remaining > 0:
                self._remaining -= 1  # reserve a slot until the response says more
                return self._send()
            if now < self._window_ends:
                wait = self._window_ends - now
                if wait > self.max_wait:  # a 200 said: no room until a reset far away
                    raise self._long_wait(wait)
                return wait
            # The window moved on, but a rolling window may have freed a single slot: one
            # request goes and its answer tells the others how much room there is.
            if self._prober is not None:
                return PROBE_WAIT
            self._prober = threading.get_ident()
            return self._send()

    def _send(self) -> float:
        """Count a request that goes now (the lock is held); 0: no wait."""
        self._sent.flying = self._in_flight  # others on their way: they may arrive after it
        self._in_flight += 1
        self._requests_sent += 1
        self._sent.number = self._requests_sent
        return 0.0

    def release(self) -> None:
        """A request acquired before has been answered (or failed)."""
        with self._lock:
            self._in_flight = max(self._in_flight - 1, 0)
            if self._prober == threading.get_ident():
                self._prober = None

    # --- after a response ---------------------------------------------------------------

    def check(self, stream: str, cost: int, response: requests.Response,
              describe: Callable[[requests.Response], str]) -> None:
        """After each response: its rate-limit headers observed; a 429 raises `RateLimited`
        (retry after the wait) or stops the run (`DailyBudgetSpent`, `LongWait`)."""
        wait = self.observe(stream, cost, response.status_code, response.headers)
        if response.status_code == 429:
            raise RateLimited(describe(response), response, wait)

    def observe(self, stream: str, cost: int, status: int, headers: Mapping[str, str]) -> float:
        """Read a response's rate-limit headers. For a 429: undo its token count (Pipedrive
        rejected it) and return the seconds to wait before retrying; DailyBudgetSpent when
        it is the daily budget. 0 for any other response."""
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset = _number(headers.get("x-ratelimit-reset"))
        daily_left = _number(headers.get("x-daily-ratelimit-token-remaining"))
        with self._lock:
            now = self._clock()
            if daily_left is not None:
                self.daily_left = int(daily_left)
            if remaining is not None:
                # The server counted this request and those it received before it. Requests
                # from several threads reach it in no set order: any sent after this one,
                # or on its way when this one went, may be missing from its count. What is
                # left after those is a floor of the room, as is the room counted down since
                # earlier answers: the higher floor holds (the window only frees slots). A
                # 429 proves the count wrong (another client of the token, say): its own holds.
                number = getattr(self._sent, "number", self._requests_sent)
                unseen = self._requests_sent - number + getattr(self._sent, "flying", 0)
                room = max(int(remaining) - unseen, 0)
                if self._remaining is None or status == 429:
                    self._remaining = room
                else:
                    self._remaining = max(self._remaining, room)
                self._window_ends = now + max(reset or 0.0, MIN_WAIT if remaining <= 0 else 0)
            if status != 429:
                self._rate_limited_in_a_row = self._not_burst_in_a_row = 0
                return 0.0
            usage = self.usage.setdefault(stream, Usage())
            usage.tokens -= cost
            usage.rate_limited += 1
            self._rate_limited_in_a_row += 1
            retry_after = _retry_after(headers.get("retry-after"))
            waits = [w for w in (reset, retry_after) if w is not None]
            wait = max(waits) if waits else None
            if daily_left is not None and daily_left <= 0:
                raise self._daily("x-daily-ratelimit-token-remaining is 0")
            if wait is not None and wait > self.max_wait:
                raise self._daily(f"the rate-limit reset is {_duration(wait)} away", wait)
            if remaining is not None and remaining > 0:
                self._not_burst_in_a_row += 1
                if self._not_burst_in_a_row >= NOT_BURST_STRIKES:
                    raise self._daily("429 although the burst window had room")
            else:
                self._not_burst_in_a_row = 0
            if wait is None:  # no header says how long: back off 2, 4, 8 ... s
                wait = min(2.0 ** self._rate_limited_in_a_row, self.max_wait)
            wait = max(wait, MIN_WAIT)
            self._blocked_until = max(self._blocked_until, now + wait)
            return wait

    def _long_wait(self, wait: float) -> LongWait:
        """The lock is held."""
        self._stopped = LongWait(
            f"Pipedrive asks for a wait of {_duration(wait)} before the next request (no "
            f"room in the burst window until x-ratelimit-reset), longer than "
            f"max_rate_limit_wait={self.max_wait:g} s. State is saved: run again "
            f"{_when(wait)} to resume")
        return self._stopped

    def _daily(self, reason: str, resets_in: float | None = None) -> DailyBudgetSpent:
        if resets_in is not None:
            when = _when(resets_in)
        else:
            when = ("at midnight in Pipedrive's server time zone (Company settings > Usage "
                    "shows the budget)")
        self._stopped = DailyBudgetSpent(
            f"the company's daily Pipedrive API budget is spent ({reason}); it resets {when}. "
            "State is saved: run again after the reset to resume"
        )
        return self._stopped

    def unanswered(self, stream: str, cost: int) -> None:
        """The request never reached Pipedrive (no connection): its tokens were not spent."""
        with self._lock:
            self.usage.setdefault(stream, Usage()).tokens -= cost

    def unreachable(self, error: Exception) -> None:
        """A request gave up on connecting: every other request (any thread) stops with
        `error` at its next attempt, and retry waits end now, instead of each stream
        spending its own retries on the same outage."""
        with self._lock:
            if self._unreachable is None:
                self._unreachable = error
        self._unreachable_event.set()

    def pause(self, seconds: float) -> None:
        """A retry's wait, cut short when the API is found unreachable."""
        self._unreachable_event.wait(seconds)

    def retried(self, stream: str) -> None:
        with self._lock:
            self.usage.setdefault(stream, Usage()).retries += 1

    # --- reporting ----------------------------------------------------------------------

    @property
    def tokens(self) -> int:
        return sum(u.tokens for u in self.usage.values())

    def summary(self) -> tuple[dict[str, Usage], list[str]]:
        """For the end-of-run table (progress.py): each stream's usage (copies), and notes
        on the budget: the run's cap and the daily budget left, when known."""
        with self._lock:
            usage = {name: Usage(**vars(u)) for name, u in sorted(self.usage.items())}
        notes = []
        if self.token_cap is not None:
            notes.append(f"{sum(u.tokens for u in usage.values())} tokens of a "
                         f"{self.token_cap} cap")
        if self.daily_left is not None:
            notes.append(f"daily budget left: {self.daily_left}")
        return usage, notes


def from_config(config: Mapping[str, Any]) -> RateLimiter:
    cap = config.get("max_tokens_per_run")
    return RateLimiter(token_cap=None if cap is None else int(cap),
                       max_wait=float(config.get("max_rate_limit_wait") or 60))
