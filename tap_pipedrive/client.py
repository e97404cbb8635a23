"""PipedriveStream: a list endpoint's records (parse, conform, drift, dedupe, state), and the
stream kinds by API version and paging (v2 cursor, v1 offset). Requests are request.py's."""

from __future__ import annotations

import copy
import logging
import sys
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

import requests
from singer_sdk import singerlib as singer
from singer_sdk.helpers.types import Context
from singer_sdk.pagination import BaseAPIPaginator, SinglePagePaginator
from singer_sdk.schema.source import SchemaDirectory, StreamSchema
from typing_extensions import override

from tap_pipedrive import drift, page, schemas
from tap_pipedrive.conform import Conformer
from tap_pipedrive.paging import PAGE_SIZE, CursorPaginator, PagingLoop, V1OffsetPaginator
from tap_pipedrive.ratelimit import BudgetStop, budget_stop
from tap_pipedrive.request import RESUME, ConnectionFailed, RequestStream
from tap_pipedrive.sdk_compat import selected_schema
from tap_pipedrive.seen import SeenKeys

WINDOW = "_window"  # context key of a time window's bounds (windows.py)
# Pages in a row holding only records already read in this walk: the paging is stuck.
NO_PROGRESS_PAGES = 5


SDK_SYNC_ERROR = "An unhandled error occurred while syncing '%s'"  # Stream.sync's line


class _StopIsNoError(logging.Filter):
    """The SDK logs an ERROR for any exception that leaves a stream's sync; a budget stop is
    no error (the run exits 75 and the next one resumes): say what it is."""

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == SDK_SYNC_ERROR and budget_stop(sys.exc_info()[1]):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = ("%s: stopped by the run's budget; what was read is written and "
                          "the state saved")
        return True


_STOP_IS_NO_ERROR = _StopIsNoError()


class PipedriveStream(RequestStream):
    """A Pipedrive list endpoint: its records (requests are request.py's RequestStream)."""

    records_jsonpath = "$.data[*]"
    schema = StreamSchema(SchemaDirectory(schemas))
    # A STATE message after every full page: a run killed at any point resumes near there.
    STATE_MSG_FREQUENCY = PAGE_SIZE

    # --- records: values that fit the schema, and when to stop paging ----------------------

    @cached_property
    def conformer(self) -> Conformer:
        schema = self.effective_schema
        if not self.selected:  # read only for its children: nothing is emitted, keep all
            return Conformer(schema, self.name, self.run.odd_values)
        selected = selected_schema(self.name, schema, self.mask)
        return Conformer(selected, self.name, self.run.odd_values, known=schema,
                         undeclared=self.undeclared)

    @cached_property
    def undeclared(self) -> drift.Handler:
        """What happens to properties the catalog does not declare (drift.py)."""
        return drift.Handler(self.name, drift.policy(self.config), self.run.undeclared,
                             self.widen, lambda: self.effective_schema)

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        """Odd values become null or text (counted), never a crash or a lost record;
        deselected properties are dropped, undeclared ones go by `undeclared_properties`."""
        conformer = self.conformer  # made first: it makes the handler of a selected stream
        handler = self.__dict__.get("undeclared")
        if handler is not None and handler.added:
            handler.divert(row)  # may add the catch-all column, and so remake the conformer
            conformer = self.conformer
        row = conformer.conform(row)  # may add columns (handler.added)
        if handler is not None and handler.added:
            handler.count_added(row)
        return row

    # --- drift: columns added during the run (drift.py) ------------------------------------

    _widened: dict[str, Any] | None = None  # the catalog's schema, with the added columns

    @property
    @override
    def effective_schema(self) -> dict:
        if self._widened is not None:
            return self._widened
        return super().effective_schema

    def widen(self, properties: dict[str, dict[str, Any]], path: str = "") -> None:
        """Add `properties` to the stream's schema (to the object at `path`, a conformer path,
        when given) and send its SCHEMA message again, before the record that carries them:
        the mapper (stream maps, flattening) and both record paths (the tap's conformer, the
        SDK's) use the wider schema from here on."""
        schema = copy.deepcopy(self.effective_schema)
        node = drift.locate(schema, path)
        if node is None:  # the handler located it in the same schema
            raise ValueError(f"{self.name}: no object at {path!r} in the schema")
        node.setdefault("properties", {}).update(properties)
        self._widened = schema
        self.__dict__.pop("conformer", None)  # rebuilt with the new columns
        selected = selected_schema(self.name, self._widened, self.mask)
        self.sdk_tap.mapper.register_raw_stream_schema(self.name, selected, self.primary_keys)
        self.resend_schema()

    @cached_property
    def _sdk_conformance(self) -> bool:  # read once, not per record
        return bool(self.config.get("sdk_conformance"))

    @override
    def lean_sync(self) -> bool:
        """The SDK's record loop without its per-record bookkeeping, unless `sdk_conformance`
        asks for the SDK's own way (tests prove both emit the same)."""
        return not self._sdk_conformance

    @override
    def record_messages(self, record: dict) -> Generator[singer.RecordMessage, None, None]:
        """RECORD messages of a record that `post_process` has already made fit the selected
        schema: the SDK's own pass (pruning, then recursive type conformance) would walk
        every value again and change nothing; it costs more than half the tap's CPU. The
        `sdk_conformance` setting runs it anyway (tests prove both paths emit the same)."""
        if self._sdk_conformance:
            yield from self.sdk_record_messages(record)
            return
        for alias, mapped in self._mapped(record):
            yield singer.RecordMessage(stream=alias, record=mapped, version=self.stream_version,
                                       time_extracted=datetime.now(timezone.utc))

    @override
    def write_record(self, record: dict) -> None:
        """The same RECORD lines, written by the tap's writer from each mapped record and its
        stream, version and time, without making message objects (~1 us a record), when the
        writer can (performance.py); else as messages."""
        direct = None if self._sdk_conformance else getattr(self.sdk_tap.message_writer,
                                                              "write_record", None)
        if direct is None:
            super().write_record(record)
            return
        for alias, mapped in self._mapped(record):
            direct(alias, mapped, self.stream_version, datetime.now(timezone.utc))

    def _mapped(self, record: dict) -> Iterator[tuple[str, dict]]:
        """The record as each stream map makes it (the stream's alias, the record), unless
        the map filters it out."""
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield stream_map.stream_alias, mapped

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The page's records, each parsed as it is taken (page.parsed); the whole document
        for a stream whose records are elsewhere than in `data`."""
        body = response.page  # type: ignore[attr-defined]
        items = body.items() if self.records_jsonpath == "$.data[*]" else None
        if items is not None:  # what the SDK's JSONPath would yield, without walking it
            self.run.progress.page(self.name, len(items))
            return page.parsed(items)
        records = list(super().parse_response(response))
        self.run.progress.page(self.name, len(records))
        return records

    def keep_paging(self) -> bool:
        """Asked before each next page; a stream that has read enough says False."""
        return True

    # --- a budget stop ends this stream, not the run's writing ------------------------------

    # The run's budget (token cap, daily budget, a far-off burst reset) stopped this stream
    # before its end; its state is the last record emitted (tap.py stops the run with it).
    budget_stop: BudgetStop | None = None

    @override  # type: ignore[misc]  # final in the SDK; extended, not replaced
    def sync(self, context: Context | None = None) -> None:
        """A budget stop ends this stream where it stands, and the run goes on with the pages
        the later streams have already fetched (paid for): each stops at its first call not
        made. Then the run exits 75, as it would have at the first stop."""
        self.logger.addFilter(_STOP_IS_NO_ERROR)  # once: a filter is added only once
        try:
            super().sync(context)
        except Exception as exc:
            stop = budget_stop(exc)
            if stop is None or context is not None or self.parent_stream_type is not None:
                raise  # a child's stop ends its parent: that parent's state is the one kept
            self.budget_stop = stop
            rewind = getattr(self, "rewind_pending_children", None)
            if rewind is not None:  # parents read, their children not: read them again
                rewind()
                self.write_state_now()

    @override
    def finalize_state_progress_markers(self, state: dict | None = None) -> None:
        """Not for a stream a budget stop ended: its newest value seen is no bookmark (a
        stream read newest first has not reached its old bookmark yet)."""
        if self.budget_stop is None:
            super().finalize_state_progress_markers(state)

    @override
    def request_records(self, context: Context | None) -> Iterable[dict]:
        """Records page by page; pages may have been fetched ahead (prefetch.py). On any
        failure, first write the state of what was emitted, so that the next run resumes at
        the page that failed (sorted streams) and never skips one.

        A record whose primary key this walk has already read is dropped (pages that shift
        while they are read repeat records); NO_PROGRESS_PAGES pages in a row of nothing
        but such records stop the walk (PagingLoop). The keys read are kept in SeenKeys: a
        bit per integer id, so a million-record walk holds its keys in ~125 kB, not 60 MB."""
        key_of = self._key_of()
        seen = SeenKeys()
        repeated = stale = 0
        try:
            for response in self.run.prefetcher.pages(self, context):
                new = old = 0
                for record in self.parse_response(response):
                    key = key_of(record) if key_of is not None else None
                    if key is not None and not seen.add(key):
                        old += 1
                        continue
                    new += 1
                    yield record
                repeated += old
                stale = stale + 1 if old and not new else 0
                if stale >= NO_PROGRESS_PAGES:
                    raise PagingLoop(
                        f"Pipedrive's paging of GET {self.path} makes no progress: {stale} "
                        "pages in a row held only records already read; stopped there. "
                        f"State is saved; {RESUME}")
        except Exception as exc:
            if threading.current_thread() is threading.main_thread():  # the one writer
                self.write_state_now()  # the SDK itself does not on errors
            if isinstance(exc, requests.RequestException):  # retries are spent: say so
                raise self.retries_spent(exc) from None
            if isinstance(exc, page.BadBody):  # read once the envelope was found sound
                raise ConnectionFailed(f"Pipedrive answered GET {self.path} {exc}; "
                                       f"{RESUME}") from None
            raise
        finally:
            if repeated:
                self.logger.warning("%s: %d records came again on a later page of the same "
                                    "read; each was emitted once", self.name, repeated)

    def _key_of(self) -> Callable[[dict], Any] | None:
        """The record's primary key (hashable), or None when it has none."""
        keys = list(self.primary_keys or [])
        if not keys:
            return None
        nothing = (None,) * len(keys)

        def key_of(record: dict) -> Any:
            key = record.get(keys[0]) if len(keys) == 1 else tuple(record.get(k) for k in keys)
            if isinstance(key, (int, str)):  # the usual ids: no check needed
                return key
            try:
                hash(key)
            except TypeError:
                return None
            return None if key is None or key == nothing else key

        return key_of

    # Set by the prefetcher, before a worker reads ahead: the bookmark this stream's sync
    # will start from, so the worker never reads (or creates) the stream's state.
    start_pin: tuple[Any] | None = None

    @override
    def get_starting_replication_key_value(self, context: Context | None) -> Any:
        if context is None and self.start_pin is not None:
            return self.start_pin[0]
        return super().get_starting_replication_key_value(context)


class V2Stream(PipedriveStream):
    """API v2 list endpoint with cursor paging (`additional_data.next_cursor`)."""

    @override
    def get_new_paginator(self) -> BaseAPIPaginator:
        return CursorPaginator(self.keep_paging)

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params = {**super().get_url_params(context, next_page_token), "limit": PAGE_SIZE}
        if next_page_token:
            params["cursor"] = next_page_token
        return params


class IncrementalV2Stream(V2Stream):
    """v2 endpoint filtered and sorted on update_time by the server.

    `updated_since` is inclusive, so records updated in the bookmark's own second are read
    again (a duplicate, never a loss). Sorted ascending, the bookmark advances with each record
    and an interrupted run resumes where it stopped.
    """

    replication_key = "update_time"
    is_sorted = True
    # The server also takes `updated_until` (exclusive): a backfill may be read in time
    # windows fetched in parallel (windows.py).
    windowed = False
    # The inclusive re-read of the bookmark's second may bring records that sort below a
    # sub-second bookmark (`...:36.100Z` < `...:36.551Z`): that repeats records, never skips.
    check_sorted = False

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        params.update(sort_by="update_time", sort_direction="asc")
        if context and WINDOW in context:  # one time window of a backfill (windows.py)
            params.update((k, v) for k, v in context[WINDOW].items() if v)
        elif start := self.get_starting_timestamp(context):
            params["updated_since"] = start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return params


class V1Stream(PipedriveStream):
    """API v1 list endpoint; `paginated` endpoints take `start`/`limit` (up to `page_size`)."""

    paginated = False
    page_size = PAGE_SIZE

    @override
    def get_new_paginator(self) -> BaseAPIPaginator:
        if self.paginated:
            return V1OffsetPaginator(self.page_size, self.keep_paging)
        return SinglePagePaginator()

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        if self.paginated:
            params.update(start=next_page_token or 0, limit=self.page_size)
        return params
