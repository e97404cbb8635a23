"""The HTTP session every API call goes through: bounded, and credentials to one origin only.

- Credentials (x-api-token, the OAuth Bearer token) go only to the API's origin (scheme,
  host and port of `api_url`, the company domain, or the `api_domain` OAuth returned). A
  redirect elsewhere is an error naming both origins (`OffHostRedirect`), raised before
  anything is sent there; same-origin redirects are followed with the same headers. The
  adapter refuses any other origin too, so a resend that bypasses the session (the OAuth
  refresh-and-resend on 401 sends through the adapter) cannot go elsewhere either.
- Each request has a total deadline, connect plus headers plus the whole body: a watchdog
  shuts the socket down when it passes, so a server that trickles a byte a second is
  abandoned (`DeadlineExceeded`, a requests Timeout: retried, then one line). The socket
  timeout alone bounds each read, not the request.
- A body larger than `max_response_bytes` (after decompression, so a gzip bomb counts at
  its real size) is abandoned (`ResponseTooLarge`: retried, then one line).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from singer_sdk import typing as th
from typing_extensions import override
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from tap_pipedrive import performance
from tap_pipedrive.errors import TapPipedriveError

DEFAULT_MAX_RESPONSE_BYTES = 64 * 2**20  # a full page of deals is ~1 MB; 64 times that
CHUNK = 64 * 1024
MAX_REDIRECTS = 5  # same-origin only; Pipedrive itself does not redirect API calls


def settings() -> list[th.Property]:
    return [
        th.Property(
            "max_response_bytes", th.IntegerType(minimum=1024),
            default=DEFAULT_MAX_RESPONSE_BYTES,
            description="Largest API answer accepted, in bytes (64 MiB by default; a full "
            "page is about 1 MB). A larger one is abandoned and retried, like a timeout.",
        ),
    ]


class OffHostRedirect(TapPipedriveError):
    """The API redirected to another origin: the request is not sent there."""


class DeadlineExceeded(requests.exceptions.ReadTimeout):
    """The whole answer did not arrive within request_timeout."""


class ResponseTooLarge(requests.exceptions.RequestException):
    """The answer is larger than max_response_bytes."""


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: no origin matches it
        port = -1
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def origin_text(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


# --- the watchdog's handle on the socket of the request being sent -----------------------

_current = threading.local()  # .watchdog: the one of the request this thread is sending


class _Tracked:
    """Mixed into urllib3's connections: a request tells its watchdog which connection
    carries it (a new one or one reused from the pool)."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        if (watchdog := getattr(_current, "watchdog", None)) is not None:
            watchdog.watch(self)
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Tracked, HTTPConnection):
    pass


class _HTTPSConnection(_Tracked, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Watchdog:
    """Shuts the request's socket down at its deadline: a blocked read then returns."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._done = False
        self._conn: Any = None
        self._lock = threading.Lock()
        self._timer = self._arm(seconds)

    def _arm(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self._fire)
        timer.daemon = True
        timer.start()
        return timer

    def watch(self, conn: Any) -> None:
        with self._lock:
            self._conn = conn

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            sock = getattr(self._conn, "sock", None)
            if sock is None:  # still connecting (the connect timeout bounds it): look again
                self._timer = self._arm(0.05)
                return
        # The plain socket's shutdown: an SSL socket's would drop its state under the reader.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def stop(self) -> bool:
        """Disarm; whether the deadline passed (then the answer may be cut short)."""
        with self._lock:
            self._done = True
            self._timer.cancel()
            return self.fired


class GuardedAdapter(HTTPAdapter):
    """Sends only to `allowed` (an origin), within a deadline, reading at most `max_bytes`."""

    def __init__(self, allowed: str, deadline: float, max_bytes: int) -> None:
        self.allowed = allowed
        self.deadline = deadline
        self.max_bytes = max_bytes
        super().__init__(max_retries=0)

    @override
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    @override
    def send(self, request: requests.PreparedRequest, stream: bool = False,  # type: ignore[override]
             timeout: Any = None, **kwargs: Any) -> requests.Response:
        if origin(request.url or "") != origin(self.allowed):
            raise OffHostRedirect(
                f"refused to send a request to {origin_text(request.url or '')}: credentials "
                f"go only to the API at {origin_text(self.allowed)}")
        started = time.monotonic()
        watchdog = _current.watchdog = _Watchdog(self.deadline)
        try:
            response = super().send(request, stream=True, timeout=timeout, **kwargs)
            _current.watchdog = None
            if response.raw is not None and response.raw.connection is not None:
                watchdog.watch(response.raw.connection)  # a proxy's connection, say
            if not stream:  # (a caller that streams reads the body itself, unbounded)
                self._read(response)
        except requests.RequestException:
            if watchdog.stop():
                raise self._late(request, started) from None
            raise
        finally:
            _current.watchdog = None
            late = watchdog.stop()
        if late:  # a body read until the connection closed would end "complete"
            response.close()
            raise self._late(request, started)
        return response

    def _read(self, response: requests.Response) -> None:
        """The body, as `Response.content` reads it, but at most `max_bytes`. A body sent as
        it is, of a known length, is read in one piece: read 64 kB at a time, a page of
        deals (~0.9 MB) cost 3.2 ms of CPU instead of 1.6 (a compressed one is read in
        pieces: its length says nothing of its size, and the pieces cost no more)."""
        announced = response.headers.get("Content-Length", "")
        length = int(announced) if announced.isdigit() else 0
        if length > self.max_bytes:
            response.close()
            raise self._too_large(response)
        plain = response.headers.get("Content-Encoding", "identity").lower() == "identity"
        piece = length if plain and length else CHUNK
        chunks, size = [], 0
        for chunk in response.iter_content(piece):
            size += len(chunk)
            if size > self.max_bytes:
                response.close()
                raise self._too_large(response)
            chunks.append(chunk)
        response._content = b"".join(chunks)
        response._content_consumed = True  # type: ignore[attr-defined]  # requests' own flag
        performance.body_read(size)

    def _too_large(self, response: requests.Response) -> ResponseTooLarge:
        return ResponseTooLarge(f"an answer larger than max_response_bytes={self.max_bytes}",
                                request=response.request, response=response)

    def _late(self, request: requests.PreparedRequest, started: float) -> DeadlineExceeded:
        return DeadlineExceeded(f"no complete answer within request_timeout={self.deadline:g} "
                                f"s (abandoned after {time.monotonic() - started:.1f} s)",
                                request=request)


class GuardedSession(requests.Session):
    """A redirect to another origin raises OffHostRedirect before anything is sent there."""

    def __init__(self, adapter: GuardedAdapter) -> None:
        super().__init__()
        self.max_redirects = MAX_REDIRECTS
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.allowed = adapter.allowed

    @override
    def rebuild_auth(self, prepared_request: requests.PreparedRequest,
                     response: requests.Response) -> None:
        target = prepared_request.url or ""
        if origin(target) != origin(self.allowed):
            path = urlsplit(response.request.url or "").path
            raise OffHostRedirect(
                f"the API at {origin_text(self.allowed)} redirected GET {path} to "
                f"{origin_text(target)}; credentials go only to {origin_text(self.allowed)}, "
                "so the request was not sent there. Check api_url / company_domain (or "
                "what stands between the tap and Pipedrive: a proxy, a captive portal)")
        super().rebuild_auth(prepared_request, response)


def api_session(api_base: str, deadline: float, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
                ) -> GuardedSession:
    return GuardedSession(GuardedAdapter(api_base, deadline, max_bytes))
