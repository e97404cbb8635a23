"""A stream's requests: base URL, authentication, pacing through the rate limiter, retries,
response checks and the page loop. Record handling (parse, conform, state) is client.py's."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Generator, Iterator
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import backoff
import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.types import Context
from singer_sdk.pagination import SinglePagePaginator
from typing_extensions import override

from tap_pipedrive import page, transport
from tap_pipedrive.errors import TapPipedriveError
from tap_pipedrive.paging import PagingLoop, Revisited, token_text
from tap_pipedrive.ratelimit import RateLimited
from tap_pipedrive.sdk_compat import RESTStreamSeam
from tap_pipedrive.token_costs import cost_of

MAX_BACKOFF = 60.0  # seconds; the longest wait between two retries of a failed call
# What is retried: the SDK's list (RESTStream.request_decorator).
RETRIED = (ConnectionResetError, RetriableAPIError, requests.exceptions.Timeout,
           requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
           requests.exceptions.ContentDecodingError, transport.ResponseTooLarge)

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
    from singer_sdk import Tap

    from tap_pipedrive.run import Run


class ConnectionFailed(TapPipedriveError):
    """The network failed on every attempt of a request."""


class RequestStream(RESTStreamSeam):
    """A Pipedrive endpoint's requests. Streams never know which auth method signs them."""

    extra_params: dict[str, Any] = {}
    # Tokens one call costs; None: the spec's x-token-cost for `path` (token_costs.json).
    token_cost: int | None = None

    def __init__(self, tap: Tap, run: Run, **kwargs: Any) -> None:
        # The run's services (run.py), handed by the tap that makes the stream; set first:
        # the SDK's __init__ reads the schema, which may need the field registry.
        self.run = run
        super().__init__(tap, **kwargs)

    @property
    @override
    def url_base(self) -> str:
        return self.run.api_base

    @property
    @override
    def authenticator(self) -> requests.auth.AuthBase:
        return self.run.connection.auth

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
        return f"tap-pipedrive/{self.sdk_tap.plugin_version}"

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        return dict(self.extra_params)

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
        """The SDK's retries, with every attempt first passing the run's rate limiter, and
        one log line per retry (backoff_handler) instead of two."""
        limiter = self.run.rate_limiter
        gate = self.run.prefetcher.gate  # at most max_parallel_requests in flight (inflight.py)

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
            self.run.rate_limiter.unreachable(self.retries_spent(exc))

    def retries_spent(self, exc: requests.RequestException) -> ConnectionFailed:
        """The one line for a request whose retries are spent."""
        return ConnectionFailed(f"{_connection_problem(exc)} on GET {self.path} (gave up after "
                                f"{self.backoff_max_tries() - 1} retries; {RESUME})")

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
        self.run.rate_limiter.retried(self.name)
        wait = getattr(_retry_wait, "value", 0.0)
        exc = details.get("exception")
        if isinstance(exc, RetriableAPIError):
            reason = str(exc.args[0]) if exc.args else type(exc).__name__
        else:
            reason = f"{type(exc).__name__} calling GET {self.path}"
        self.logger.warning("%s: retry %d of %d in %.1f s after: %s", self.name,
                            details.get("tries", 0), self.backoff_max_tries() - 1,
                            wait, reason)
        self.run.rate_limiter.pause(wait)

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
                except Revisited as again:
                    raise PagingLoop(
                        f"Pipedrive's paging of GET {self.path} goes round in circles: page "
                        f"{again.now} points to {token_text(again.token)}, which page "
                        f"{again.first} already used; stopped there. State is saved: a run "
                        "again resumes there but may meet the same loop (a Pipedrive fault)"
                    ) from None
                del response  # not held (its body: ~1 MB) while the next page is fetched

    # --- responses: errors and bad bodies -------------------------------------------------

    @override
    def validate_response(self, response: requests.Response) -> None:
        self.run.rate_limiter.check(self.name, self.request_cost, response,
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


def _is_html(response: requests.Response) -> bool:
    kind = response.headers.get("Content-Type", "").lower()
    return "html" in kind or response.content.lstrip()[:1] == b"<"
