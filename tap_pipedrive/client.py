"""PipedriveStream: base URL, authentication, paging (v2 cursor, v1 offset) and errors."""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import datetime, timezone
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse

import backoff
import requests
from singer_sdk import singerlib as singer
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.types import Context
from singer_sdk.pagination import BaseAPIPaginator, SinglePagePaginator
from singer_sdk.schema.source import SchemaDirectory, StreamSchema
from typing_extensions import override

from tap_pipedrive import drift, page, schemas, transport
from tap_pipedrive.conform import Conformer
from tap_pipedrive.errors import TapPipedriveError
from tap_pipedrive.ratelimit import RateLimited
from tap_pipedrive.sdk_compat import RESTStreamSeam, selected_schema
from tap_pipedrive.token_costs import cost_of

WINDOW = "_window"  # context key of a time window's bounds (windows.py)
PAGE_SIZE = 500  # the largest page Pipedrive serves; fewer calls, fewer tokens
MAX_BACKOFF = 60.0  # seconds; the longest wait between two retries of a failed call
# What is retried: the SDK's list (RESTStream.request_decorator).
RETRIED = (ConnectionResetError, RetriableAPIError, requests.exceptions.Timeout,
           requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
           requests.exceptions.ContentDecodingError, transport.ResponseTooLarge)
# Pages in a row holding only records already read in this walk: the paging is stuck.
NO_PROGRESS_PAGES = 5

# What a user can do about an error, by status.
HINTS = {
    401: "check api_token, or re-authorize the OAuth app (tap-pipedrive auth status)",
    402: "the Pipedrive company account is not active (trial ended or payment due)",
    403: "the token's user or OAuth scopes do not allow this endpoint",
    404: "check company_domain / api_url",
    410: "Pipedrive has removed this endpoint",
    429: "rate limited; when it persists, the company's daily API budget is probably spent",
}
CLOUDFLARE = ("Pipedrive's firewall (Cloudflare) blocked the request: a 403 HTML page to GET "
              "{path}. It follows requests that kept coming after 429s, or a blocked network; "
              "wait an hour or more, and check that no other job floods the API with this token")


RESUME = "run again with the last state to resume from the page that failed"
_retry_wait = threading.local()  # a retry's wait, from backoff_jitter to backoff_handler


if TYPE_CHECKING:
    from tap_pipedrive.run import Run


class ConnectionFailed(TapPipedriveError):
    """The network failed on every attempt of a request."""


class PagingLoop(TapPipedriveError):
    """The API's paging goes round in circles, or makes no progress."""


class _Revisited(Exception):
    """A paginator was pointed at a page it already read (cursor or offset, and where)."""

    def __init__(self, token: Any, first: int, now: int) -> None:
        super().__init__(token, first, now)
        self.token, self.first, self.now = token, first, now


class PipedriveStream(RESTStreamSeam):
    """A Pipedrive list endpoint. Streams never know which auth method signs requests."""

    records_jsonpath = "$.data[*]"
    schema = StreamSchema(SchemaDirectory(schemas))
    extra_params: dict[str, Any] = {}
    # Tokens one call costs; None: the spec's x-token-cost for `path` (token_costs.json).
    token_cost: int | None = None
    # A STATE message after every full page: a run killed at any point resumes near there.
    STATE_MSG_FREQUENCY = PAGE_SIZE

    @property
    def tap(self) -> Run:
        """The tap, and the run's services it holds (rate limiter, prefetcher, ...)."""
        return cast("Run", self.sdk_tap)

    @property
    @override
    def url_base(self) -> str:
        return self.tap.api_base

    @property
    @override
    def authenticator(self) -> requests.auth.AuthBase:
        return self.tap.connection.auth

    @property
    @override
    def requests_session(self) -> requests.Session:
        """The SDK's session, replaced by one that sends only to the API's origin, within
        a deadline, reading at most max_response_bytes (transport.py)."""
        session = self.__dict__.get("guarded_session")
        if session is None:
            session = self.__dict__["guarded_session"] = transport.api_session(
                self.url_base, self.timeout,
                int(self.config.get("max_response_bytes")
                    or transport.DEFAULT_MAX_RESPONSE_BYTES))
        return session

    @cached_property
    @override
    def user_agent(self) -> str:
        return f"tap-pipedrive/{self.tap.plugin_version}"

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        return dict(self.extra_params)

    # --- records: values that fit the schema, and when to stop paging ----------------------

    @cached_property
    def conformer(self) -> Conformer:
        schema = self.effective_schema
        if not self.selected:  # read only for its children: nothing is emitted, keep all
            return Conformer(schema, self.name, self.tap.odd_values)
        selected = selected_schema(self.name, schema, self.mask)
        return Conformer(selected, self.name, self.tap.odd_values, known=schema,
                         undeclared=self.undeclared)

    @cached_property
    def undeclared(self) -> drift.Handler:
        """What happens to properties the catalog does not declare (drift.py)."""
        return drift.Handler(self.name, drift.policy(self.config), self.tap.undeclared,
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
        self.tap.mapper.register_raw_stream_schema(self.name, selected, self.primary_keys)
        self.resend_schema()

    @cached_property
    def _sdk_conformance(self) -> bool:  # read once, not per record
        return bool(self.config.get("sdk_conformance"))

    @override
    def record_messages(self, record: dict) -> Generator[singer.RecordMessage, None, None]:
        """RECORD messages of a record that `post_process` has already made fit the selected
        schema: the SDK's own pass (pruning, then recursive type conformance) would walk
        every value again and change nothing; it costs more than half the tap's CPU. The
        `sdk_conformance` setting runs it anyway (tests prove both paths emit the same)."""
        if self._sdk_conformance:
            yield from self.sdk_record_messages(record)
            return
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield singer.RecordMessage(stream=stream_map.stream_alias, record=mapped,
                                           version=self.stream_version,
                                           time_extracted=datetime.now(timezone.utc))

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The page's records, from the document parsed once in `_check_body`."""
        data = response.page.data()  # type: ignore[attr-defined]
        if self.records_jsonpath == "$.data[*]" and isinstance(data, list):
            records = data  # what the SDK's JSONPath would yield, without walking it
        else:
            records = list(super().parse_response(response))
        self.tap.progress.page(self.name, len(records))
        return records

    def keep_paging(self) -> bool:
        """Asked before each next page; a stream that has read enough says False."""
        return True

    # --- requests: cost, pacing, retries ---------------------------------------------------

    @property
    def request_cost(self) -> int:
        return self.token_cost if self.token_cost is not None else cost_of(self.path or "")

    @property
    @override
    def timeout(self) -> float:  # type: ignore[override]
        return float(self.config.get("request_timeout") or 120)

    @override
    def request_decorator(self, func: Callable) -> Callable:
        """The SDK's retries, with every attempt first passing the tap's rate limiter, and
        one log line per retry (backoff_handler) instead of two."""
        limiter = self.tap.rate_limiter
        gate = self.tap.prefetcher.gate  # at most max_parallel_requests in flight (inflight.py)

        def paced(prepared_request: requests.PreparedRequest, context: Any) -> Any:
            with gate.slot():
                limiter.acquire(self.name, self.request_cost)
                try:
                    return func(prepared_request, context)
                except requests.exceptions.ConnectionError:
                    limiter.unanswered(self.name, self.request_cost)  # Pipedrive never saw it
                    raise
                finally:
                    limiter.release()

        return backoff.on_exception(
            self.backoff_wait_generator, RETRIED, max_tries=self.backoff_max_tries,
            on_backoff=self.backoff_handler, on_giveup=self._gave_up,
            jitter=self.backoff_jitter, logger=None,
        )(paced)

    def _gave_up(self, details: Any) -> None:
        """Retries spent on connecting: the API is unreachable for every stream, so the
        other threads stop now (ratelimit.unreachable) rather than retry the same outage."""
        exc = details.get("exception")
        if isinstance(exc, requests.exceptions.ConnectionError):
            self.tap.rate_limiter.unreachable(ConnectionFailed(
                f"{_connection_problem(exc)} on GET {self.path} (gave up after "
                f"{self.backoff_max_tries() - 1} retries; {RESUME})"))

    @override
    def backoff_max_tries(self) -> int:
        return int(self.config.get("max_retries", 5)) + 1

    @override
    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        """A 429 waits as long as the rate limiter says; anything else backs off
        exponentially from `retry_backoff_seconds`, with jitter, capped."""
        base = float(self.config.get("retry_backoff_seconds", 2))
        attempt = 0
        exc = yield  # type: ignore[misc]  # primed by backoff with None
        while True:
            attempt += 1
            if isinstance(exc, RateLimited):  # the rate limiter's wait (ratelimit.py)
                wait = exc.retry_wait()
            else:
                wait = min(base * 2 ** (attempt - 1), MAX_BACKOFF) * random.uniform(0.5, 1.0)
            exc = yield wait

    @override
    def backoff_jitter(self, value: float) -> float:
        """The generator already jitters. backoff sleeps what this returns, which cannot be
        cut short: 0, and backoff_handler waits `value` itself (rate_limiter.pause)."""
        _retry_wait.value = value
        return 0.0

    @override
    def backoff_handler(self, details: Any) -> None:
        """One warning line per retry; never a URL query or header. Then the retry's wait."""
        self.tap.rate_limiter.retried(self.name)
        wait = getattr(_retry_wait, "value", 0.0)
        exc = details.get("exception")
        if isinstance(exc, RetriableAPIError):
            reason = str(exc.args[0]) if exc.args else type(exc).__name__
        else:
            reason = f"{type(exc).__name__} calling GET {self.path}"
        self.logger.warning("%s: retry %d of %d in %.1f s after: %s", self.name,
                            details.get("tries", 0), self.backoff_max_tries() - 1,
                            wait, reason)
        self.tap.rate_limiter.pause(wait)

    def iter_pages(self, context: Context | None) -> Iterator[requests.Response]:
        """The stream's pages, each requested once the one before it is read (its cursor or
        offset is in it): the SDK's page loop, without the records. Runs in the main thread,
        or in a worker of the prefetcher (prefetch.py), which must not touch state."""
        paginator = self.get_new_paginator() or SinglePagePaginator()
        request = self.request_decorator(self.send)
        with self.get_http_request_counter() as request_counter:
            request_counter.with_context(context)
            while not paginator.finished:
                prepared = self.prepare_page_request(context, paginator)
                response = request(prepared, context)
                request_counter.increment()
                self.update_sync_costs(prepared, response, context)
                yield response
                if response.page.is_empty and not paginator.continue_if_empty(response):
                    return  # an empty page ends the stream, as in the SDK's loop
                try:
                    paginator.advance(response)
                except _Revisited as again:
                    raise PagingLoop(
                        f"Pipedrive's paging of GET {self.path} goes round in circles: page "
                        f"{again.now} points to {_token(again.token)}, which page "
                        f"{again.first} already used; stopped there. State is saved: a run "
                        "again resumes there but may meet the same loop (a Pipedrive fault)"
                    ) from None

    @override
    def request_records(self, context: Context | None) -> Iterable[dict]:
        """Records page by page; pages may have been fetched ahead (prefetch.py). On any
        failure, first write the state of what was emitted, so that the next run resumes at
        the page that failed (sorted streams) and never skips one.

        A record whose primary key this walk has already read is dropped (pages that shift
        while they are read repeat records); NO_PROGRESS_PAGES pages in a row of nothing
        but such records stop the walk (PagingLoop). The keys read are kept in a set: about
        60 bytes per record of the walk (120 for text ids), ~60 MB per million records."""
        key_of = self._key_of()
        seen: set[Any] = set()
        repeated = stale = 0
        try:
            for response in self.tap.prefetcher.pages(self, context):
                new = old = 0
                for record in self.parse_response(response):
                    key = key_of(record) if key_of is not None else None
                    if key is not None:
                        if key in seen:
                            old += 1
                            continue
                        seen.add(key)
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
            self.write_state_now()  # the SDK itself does not on errors
            if isinstance(exc, requests.RequestException):  # retries are spent: say so
                raise ConnectionFailed(
                    f"{_connection_problem(exc)} on GET {self.path} (gave up after "
                    f"{self.backoff_max_tries() - 1} retries; {RESUME})") from None
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

    # --- responses: errors and bad bodies -------------------------------------------------

    @override
    def validate_response(self, response: requests.Response) -> None:
        self.tap.rate_limiter.check(self.name, self.request_cost, response,
                                    self.response_error_message)  # every 429, in one place
        status = response.status_code
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(self.response_error_message(response), response)
        if status == HTTPStatus.FORBIDDEN and _is_html(response):
            path = urlparse(response.url).path
            raise RetriableAPIError(CLOUDFLARE.format(path=path), response)
        if status >= HTTPStatus.BAD_REQUEST:
            raise FatalAPIError(self.response_error_message(response))
        self._check_body(response)

    def _check_body(self, response: requests.Response) -> None:
        """A 200 must carry Pipedrive's success envelope: a body cut short or `success:
        false` is retried, never read as an empty (last) page. The envelope is read here
        (maybe in a prefetch worker), the records when they are emitted (page.py)."""
        try:
            page.attach(response, response.content)
        except page.BadBody as bad:
            path = urlparse(response.url).path
            raise RetriableAPIError(f"Pipedrive answered {response.status_code} to GET {path} "
                                    f"{bad}", response) from None

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """One line: status, method and path (no query: never a secret), Pipedrive's words."""
        path = urlparse(response.url).path
        try:
            body = response.json()
            said = body.get("error") if isinstance(body, dict) else ""
        except (ValueError, RecursionError):
            said = ""
        msg = f"Pipedrive answered {response.status_code} {response.reason} to GET {path}"
        if said and isinstance(said, str):
            msg += f": {said}"
        if hint := HINTS.get(response.status_code):
            msg += f" ({hint})"
        return msg


def _connection_problem(exc: requests.RequestException) -> str:
    if isinstance(exc, transport.ResponseTooLarge):
        return str(exc.args[0])
    if isinstance(exc, requests.Timeout):  # a read, or the whole request (transport.py)
        return "no answer within request_timeout"
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ContentDecodingError)):
        return "the connection broke in the middle of an answer"
    return f"could not reach Pipedrive ({type(exc).__name__})"


def _token(token: Any) -> str:
    if isinstance(token, int):
        return f"offset {token}"
    text = str(token)
    return f"cursor {text[:40]!r}" + ("..." if len(text) > 40 else "")


class _NoRevisits:
    """Mixed into a paginator: a cursor or offset already used in this walk is a loop
    (`_Revisited`), found before the SDK's own check (the previous token only; then a
    RuntimeError traceback)."""

    def _checked(self, token: Any) -> Any:
        pages: dict[Any, int] = self.__dict__.setdefault(
            "_pages_of", {self.current_value: 1})  # type: ignore[attr-defined]
        if not isinstance(token, (str, int)) or isinstance(token, bool):
            return None  # no next page
        now = self.count  # type: ignore[attr-defined]  # the page just read
        if token in pages:
            raise _Revisited(token, pages[token], now)
        pages[token] = now + 1  # the page it leads to
        return token


def _is_html(response: requests.Response) -> bool:
    kind = response.headers.get("Content-Type", "").lower()
    return "html" in kind or response.content.lstrip()[:1] == b"<"


class CursorPaginator(_NoRevisits, BaseAPIPaginator[str | None]):
    """v2 cursor paging (`additional_data.next_cursor`); stops early when the stream says so."""

    def __init__(self, keep_paging: Callable[[], bool]) -> None:
        super().__init__(None)
        self.keep_paging = keep_paging

    @override
    def has_more(self, response: requests.Response) -> bool:
        return self.keep_paging()

    @override
    def get_next(self, response: requests.Response) -> str | None:
        cursor = response.page.additional.get("next_cursor")  # type: ignore[attr-defined]
        return self._checked(cursor if isinstance(cursor, (str, int)) else None)


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


class V1OffsetPaginator(_NoRevisits, BaseAPIPaginator[int]):
    """v1 offset paging: `start`/`limit`. Whether more exist is in `additional_data.pagination`
    (most endpoints), in `additional_data` itself (leads, deal participants), or nowhere
    (mail threads: then a full page means there may be more)."""

    def __init__(self, page_size: int = PAGE_SIZE,
                 keep_paging: Callable[[], bool] = lambda: True) -> None:
        super().__init__(0)
        self.page_size = page_size
        self.keep_paging = keep_paging

    @override
    def has_more(self, response: requests.Response) -> bool:
        return self.keep_paging()

    @override
    def get_next(self, response: requests.Response) -> int | None:
        additional = response.page.additional  # type: ignore[attr-defined]
        paging = additional.get("pagination") or additional
        start = self.current_value or 0
        if "more_items_in_collection" not in paging:
            full = len(response.page.data() or []) >= self.page_size  # type: ignore[attr-defined]
            return start + self.page_size if full else None
        if not paging["more_items_in_collection"]:
            return None
        return self._checked(paging.get("next_start")
                             or start + (paging.get("limit") or self.page_size))


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
