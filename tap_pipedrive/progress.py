"""Progress of a sync on stderr, and the end-of-run summary table.

- `page()` is called once per page, in the thread that emits the page's records (client.py).
  It counts pages and records read, and attributes to the page's stream the time since the
  previous page of any stream (waiting for the page, writing the page before it), so that the
  streams' times add up to the run's. When `progress_interval` seconds have passed since the
  last progress lines, it logs one line per stream that read pages since its last line and
  has been running for at least the interval (short streams only show in the summary): the
  first line of a long stream comes once it has run that long, the last one at the first
  report after it ends. Between reports a page costs a clock read, a lock and a comparison.
- `counting()` wraps the tap's message writer to count RECORD messages per stream: the
  summary's records are what the target received, not what was read (a parent read only for
  its children, records older than a bookmark, a stream with no API call of its own).
- `log_summary()` logs one table at the end of every run, failed or stopped ones included:
  records, requests, tokens, time, retries, 429s and odd values per stream, and a total row.

Everything goes through the `tap-pipedrive` logger (stderr, the SDK's log format, structured
when the SDK's logging config says so); nothing is ever written to stdout. Each line carries
its numbers as `extra` (`stream_name`, `progress` or `summary`) for structured logs.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from singer_sdk import typing as th
from singer_sdk.singerlib import RecordMessage

from tap_pipedrive.interrupt import NAMES, Interrupted
from tap_pipedrive.ratelimit import DailyBudgetSpent, RunCapReached, Usage

logger = logging.getLogger("tap-pipedrive")

DEFAULT_INTERVAL = 10  # seconds: often enough for a person watching, few lines in a log


def settings() -> list[th.Property]:
    return [
        th.Property(
            "progress_interval", th.NumberType(minimum=0), default=DEFAULT_INTERVAL,
            description="Seconds between progress lines on stderr (per stream running that "
            "long: records read, records/s, pages, tokens); 0 turns them off. The summary "
            "table at the end of the run is always logged.",
        ),
    ]


def interval(config: Mapping[str, Any]) -> float:
    value = config.get("progress_interval")
    return float(DEFAULT_INTERVAL if value is None else value)


@dataclass
class StreamProgress:
    pages: int = 0
    records: int = 0  # read from the API (RECORD messages written: Progress.written)
    started: float = 0.0  # when its first page was asked for (the previous page of any stream)
    last: float = 0.0  # when its last page came
    busy: float = 0.0  # the run's time spent on it (see the module docstring)
    reported_pages: int = 0  # pages when its last progress line was logged


class Progress:
    """Per-stream counts of one run; thread-safe. `clock` is injectable for tests."""

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        usage: Mapping[str, Usage] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.usage: Mapping[str, Usage] = usage if usage is not None else {}  # tokens, live
        self.streams: dict[str, StreamProgress] = {}
        self.written: dict[str, int] = {}  # RECORD messages per stream, when counting()
        self.counts_written = False
        self._clock = clock
        self._lock = threading.Lock()
        self.started = self._last_event = clock()
        self._due = self.started + interval if interval > 0 else math.inf

    # --- the hot path ---------------------------------------------------------------------

    def page(self, stream: str, records: int) -> None:
        now = self._clock()
        with self._lock:
            entry = self.streams.get(stream)
            if entry is None:
                entry = self.streams[stream] = StreamProgress(started=self._last_event)
            entry.pages += 1
            entry.records += records
            entry.busy += now - self._last_event
            entry.last = self._last_event = now
            if now < self._due:
                return
            self._due = now + self.interval
        self.report(now)

    def counting(self, writer: Any) -> Any:
        """`writer` (the tap's message writer), counting RECORD messages per stream."""
        self.counts_written = True
        if isinstance(writer, _CountingWriter) and writer.counts is self.written:
            return writer  # a second sync_all of the same tap: count once
        return _CountingWriter(writer, self)

    # --- progress lines -------------------------------------------------------------------

    def report(self, now: float | None = None) -> None:
        """One line per stream due one (see the module docstring)."""
        now = self._clock() if now is None else now
        due = []
        with self._lock:
            for name, entry in self.streams.items():
                if entry.pages > entry.reported_pages and (
                        entry.reported_pages or entry.last - entry.started >= self.interval):
                    entry.reported_pages = entry.pages
                    due.append((name, entry.records, entry.pages, entry.last - entry.started))
        for name, records, pages, seconds in due:
            usage = self.usage.get(name)
            tokens = usage.tokens if usage is not None else 0
            rate = records / seconds if seconds > 0 else 0.0
            logger.info(
                "Progress of %s: %d records read in %s (%.0f records/s), %d pages, %d tokens",
                name, records, duration(seconds), rate, pages, tokens,
                extra={"stream_name": name, "progress": {
                    "records": records, "seconds": round(seconds, 3),
                    "records_per_second": round(rate, 1), "pages": pages, "tokens": tokens}})

    # --- the end of the run ---------------------------------------------------------------

    def rows(self, usage: Mapping[str, Usage], odd: Mapping[str, int]) -> list[dict[str, Any]]:
        """The summary's rows, by stream name, then the total; records are RECORD messages
        written when counting() is on (otherwise records read)."""
        with self._lock:
            streams = {name: StreamProgress(**vars(entry)) for name, entry in self.streams.items()}
            written = dict(self.written)
            tail = self._clock() - self._last_event  # writing the last page, and after
        if streams and tail > 0:
            max(streams.values(), key=lambda e: e.last).busy += tail
        rows = []
        for name in sorted({*streams, *written, *usage, *odd}):
            entry, use = streams.get(name, StreamProgress()), usage.get(name, Usage())
            rows.append({
                "stream": name,
                "records": written.get(name, 0) if self.counts_written else entry.records,
                "requests": use.requests, "tokens": use.tokens, "seconds": entry.busy,
                "retries": use.retries, "rate_limited": use.rate_limited,
                "odd_values": odd.get(name, 0),
            })
        total: dict[str, Any] = {"stream": "total"}
        for column in COLUMNS[1:]:
            total[column.key] = sum(row[column.key] for row in rows)
        return [*rows, total]

    def log_summary(self, usage: Mapping[str, Usage], odd: Mapping[str, int],
                    notes: Iterable[str] = (), failure: BaseException | None = None) -> None:
        """The end-of-run table (nothing when nothing was read, written or requested)."""
        rows = self.rows(usage, odd)
        if len(rows) == 1:
            return
        title = "; ".join([outcome(failure), *notes])
        logger.info("Sync summary (%s):", title)
        for line, row in zip(table(rows), [None, *rows], strict=True):
            extra = {} if row is None else {"summary": row}
            if row is not None and row["stream"] != "total":
                extra["stream_name"] = row["stream"]
            logger.info("%s", line, extra=extra)


class _CountingWriter:
    """Passes every message on to the tap's writer; counts RECORD messages per stream.

    No lock (it would double the cost of counting, which runs once per record): Singer output
    has one writer at a time, the thread that emits records; `rows()` copies the counts in one
    step under the GIL.
    """

    def __init__(self, writer: Any, progress: Progress) -> None:
        self.inner = writer
        self._write = writer.write_message
        self._write_record = getattr(writer, "write_record", None)
        self.counts = progress.written

    def write_message(self, message: Any) -> None:
        if isinstance(message, RecordMessage):
            counts = self.counts
            counts[message.stream] = counts.get(message.stream, 0) + 1
        self._write(message)

    def write_record(self, stream: str, record: dict, version: int | None,
                     time_extracted: Any) -> None:
        """A RECORD from its parts (performance.BufferedMsgSpecWriter.write_record); as a
        message to a writer that takes only messages."""
        counts = self.counts
        counts[stream] = counts.get(stream, 0) + 1
        if self._write_record is not None:
            self._write_record(stream, record, version, time_extracted)
        else:
            self._write(RecordMessage(stream=stream, record=record, version=version,
                                      time_extracted=time_extracted))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


# --- formatting -------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    show: Callable[[Any], str] = str


def duration(seconds: float) -> str:
    """12.3s, 4m05s, 2h03m: short enough for a table cell."""
    if seconds < 59.95:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


COLUMNS = (
    Column("stream", "stream"),
    Column("records", "records"),
    Column("requests", "requests"),
    Column("tokens", "tokens"),
    Column("seconds", "time", duration),
    Column("retries", "retries"),
    Column("rate_limited", "429s"),
    Column("odd_values", "odd values"),
)


def table(rows: list[dict[str, Any]]) -> list[str]:
    """A header line, then one aligned line per row: the stream left, numbers right."""
    cells = [[c.title for c in COLUMNS]]
    cells += [[c.show(row[c.key]) for c in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return ["  ".join([line[0].ljust(widths[0]), *(
        cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True))])
            for line in cells]


def outcome(failure: BaseException | None) -> str:
    if failure is None:
        return "finished"
    if isinstance(failure, RunCapReached):
        return "stopped at max_tokens_per_run, state saved"
    if isinstance(failure, DailyBudgetSpent):
        return "stopped: the daily API budget is spent, state saved"
    if isinstance(failure, Interrupted):
        return f"interrupted by {NAMES.get(failure.signum, failure.signum)}, state saved"
    if isinstance(failure, KeyboardInterrupt):
        return "interrupted"
    return "failed"
