"""A Pipedrive-compatible HTTP server on a loopback address.

API (auth: `x-api-token: <api_token>` or `Authorization: Bearer <access token>`; an
`api_token` query parameter is NOT accepted, so a tap that puts its token in a URL fails):

    GET /api/v2/{deals,persons,organizations,activities,products,pipelines,stages}
        cursor paging (limit <= 500, cursor), sort_by/sort_direction, updated_since (>=),
        updated_until (<), deals: status=open,won,lost,deleted; custom_fields=<keys>
    GET /api/v2/{deal,person,organization,product,activity}Fields   (include_fields=...)
    GET /api/v1/users, GET /api/v1/users/me
    ...and every other list endpoint of the tap's streams: api.ROUTES, made from the tap's endpoint
    table (tap_pipedrive/endpoints.py), has the full list
    (archived deals, projects, tasks, boards, phases, leads, notes, files, call logs, mail,
    filters, goals, roles, permission sets, v1 field lists, and the per-parent lists such as
    /api/v2/deals/products?deal_ids= and /api/v2/deals/{id}/followers)

    Every /api/* response carries x-ratelimit-limit/-remaining/-reset (per token, 2 s
    rolling window); over the limit: 429. Errors use Pipedrive's envelope
    {"success": false, "error", "errorCode", "error_info", "data": null, "additional_data": null}.

    Daily budget (daily_limit > 0): each answered call is charged its spec x-token-cost; once
    spent, 429 (with x-daily-ratelimit-token-limit/-remaining unless daily_headers=False)
    until reset. ratelimit_headers=False leaves out every x-ratelimit-*/x-daily-* header.
    Fault mode (fault_rate > 0; kinds and order in faults.py): a seeded share of calls fails;
    latency adds a delay to every call.

OAuth (point the tap's `oauth_url` at the sandbox URL):

    GET  /oauth/authorize?client_id=&redirect_uri=&state=   302 to redirect_uri?code=&state=
    POST /oauth/token   form body; grant_type=authorization_code (code, redirect_uri) or
                        refresh_token (refresh_token); client auth by HTTP Basic or body

Admin (no auth, loopback clients only; JSON in, JSON out as {"success": true, "data": ...}).
Admin and OAuth requests must name the sandbox in Host (127.0.0.1:PORT or localhost:PORT, so a
DNS-rebinding page cannot reach them) and carry no foreign Origin (so a page in the user's
browser cannot post to them): 403 otherwise. Every request's Content-Length is checked
(missing on POST: 411; not a number: 400; over 1 MiB: 413) before any body is read, and a
connection that stalls is dropped after 30 s. The request log keeps the newest 100,000 calls.

    POST /_sandbox/touch     {"entity": "deals", "ids": [1, 2], "update_time": null}
    POST /_sandbox/create    {"entity": "deals", "count": 3, "update_time": null}
    POST /_sandbox/delete    {"entity": "deals", "ids": [5]}
    GET  /_sandbox/records/<entity>        every record, deleted ones included
    GET  /_sandbox/requests                the request log (API and OAuth requests)
    POST /_sandbox/requests/reset
    GET  /_sandbox/faults                  fault settings and the faults injected so far
    POST /_sandbox/faults    {"rate": 0.1, "kinds": ["500"], "seed": 1, "after": 0, "paths": []}
    POST /_sandbox/daily-budget/reset      a new day: the daily budget is whole again
    POST /_sandbox/oauth/expire-access-tokens     every issued access token expires now
    POST /_sandbox/oauth/revoke-refresh-tokens    every issued refresh token stops working
    POST /_sandbox/oauth/expire-codes             every pending authorization code expires
    POST /_sandbox/oauth/deny-consent  {"deny": true}   authorize redirects with
                                                        error=user_denied from now on

`update_time` values are RFC 3339 strings (default: now). Nothing secret is ever logged: the
access log holds method, path without query and status, at DEBUG level only.
"""

from __future__ import annotations

import collections
import contextlib
import ipaddress
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from tap_pipedrive.token_costs import cost_of

from . import admin, api
from .api import error_envelope
from .data import SandboxData
from .faults import Faults, inject
from .oauth import OAuthError, OAuthState
from .pagecache import PageCache
from .paging import BadRequest
from .ratelimit import BurstLimiter, DailyBudget
from .replay import Replay

logger = logging.getLogger("tap_pipedrive_sandbox")


def check_loopback(host: str) -> None:
    """The sandbox has unauthenticated admin endpoints: it must never listen beyond this host."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the sandbox only listens on a loopback address, not {host!r}")


JSON = "application/json; charset=utf-8"


_ENCODER = msgspec.json.Encoder()


def _encode(doc: Any) -> bytes:
    """Compact JSON, UTF-8 as it is (what Pipedrive sends). msgspec writes a page ~4 times
    faster than the standard library, the same bytes but for exponents (`1e16`, not
    `1e+16`, the same number); what it cannot write (an integer beyond 64 bits) the
    standard library does."""
    try:
        return _ENCODER.encode(doc)
    except (TypeError, ValueError, OverflowError):
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


MAX_BODY = 1 << 20  # bytes; admin and OAuth bodies are small
REQUEST_LOG_SIZE = 100_000  # entries kept in `requests`, the newest


def _content_length(method: str, values: list[str] | None) -> tuple[int, tuple[int, str] | None]:
    """(body length, None) or (0, (status, why)): never trust the header blindly."""
    if not values:
        if method in ("POST", "PUT"):
            return 0, (411, "Length Required")
        return 0, None
    value = values[0].strip()
    if len(set(values)) != 1 or not (value.isascii() and value.isdigit()):
        return 0, (400, "Bad Request: invalid Content-Length")
    length = int(value)
    if length > MAX_BODY:
        return 0, (413, "Payload Too Large")
    return length, None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not delay stop()
    sandbox: Sandbox

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-response is routine; the stdlib prints a traceback for it.
        logger.debug("connection error with %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: a tap's session reuses its connection
    # Headers and body go out in two writes: with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms per call on a kept-alive connection).
    disable_nagle_algorithm = True
    timeout = 30
    server_version = "PipedriveSandbox/1"
    sys_version = ""

    # --- plumbing ------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %s %s", self.command, urlsplit(self.path).path, code)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the stdlib version prints request lines, which may carry secrets."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def release(self) -> None:
        """Stop counting this call as being served (replaced while an API call is served)."""

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        self.route_path = parts.path
        self.query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length, refusal = _content_length(self.command, self.headers.get_all("Content-Length"))
        if refusal is None and not parts.path.startswith("/api/"):
            refusal = self._foreign()
        if refusal is not None:  # answered without reading a body: the connection closes
            self.close_connection = True
            self.route_path, self.auth_kind, self.fault, self.logged = parts.path, None, None, True
            self._json(refusal[0], error_envelope(refusal[1], refusal[0]),
                       {"Connection": "close"})
            return
        self.body = self.rfile.read(length) if length else b""
        self.auth_kind: str | None = None
        self.fault: str | None = None
        self.status = 500
        self.logged = parts.path.startswith("/_sandbox/")  # admin calls stay out of the log
        try:
            if parts.path.startswith("/api/"):
                with self.server.sandbox.serving() as self.release:
                    self._api()
            elif parts.path.startswith("/oauth/"):
                self._oauth()
            elif parts.path.startswith("/_sandbox/"):
                self._admin()
                return
            else:
                self._json(404, error_envelope("Not found", 404))
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
            self.close_connection = True
            self.status = 0
        except Exception:  # a bug in the sandbox must still answer, like a real 500
            logger.exception("sandbox error on %s %s", self.command, parts.path)
            self._json(500, error_envelope("Internal server error", 500))
        self._log_once()

    def _foreign(self) -> tuple[int, str] | None:
        """Admin and OAuth endpoints answer only requests addressed to this sandbox (a Host
        a DNS-rebinding page cannot forge) from no web page but its own (Origin)."""
        host = self.headers.get("Host", "").strip().lower()
        if host not in self.server.sandbox.own_hosts():
            return 403, "Forbidden: Host is not this sandbox's address"
        origin = self.headers.get("Origin")
        if origin is not None and origin.strip().lower() not in {
                f"http://{h}" for h in self.server.sandbox.own_hosts()}:
            return 403, "Forbidden: cross-origin requests are refused"
        return None

    def _log_once(self) -> None:
        """Log the request; before its answer goes out when possible, so that a client that
        has its answer also finds it in `sb.requests`."""
        if self.logged:
            return
        self.logged = True
        entry = {
            "method": self.command, "path": self.route_path, "query": dict(self.query),
            "status": self.status, "auth": self.auth_kind,
            "concurrent": self.server.sandbox.active,  # API calls being served, this one too
        }
        if self.fault:
            entry["fault"] = self.fault
        self.server.sandbox._log_request(entry)

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self._log_once()
        self.release()  # the answer is going out: a client that has it may call again at once
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, _encode(doc), JSON, headers)

    # --- /api --------------------------------------------------------------------------

    def _authenticate(self) -> tuple[str | None, str]:
        """(error text or None, the rate-limit key)."""
        sb = self.server.sandbox
        token = self.headers.get("x-api-token")
        authorization = self.headers.get("Authorization") or ""
        if token is not None:
            self.auth_kind = "token"
            valid = secrets.compare_digest(token.encode(), sb.api_token.encode())
            return (None if valid else "unauthorized access"), token
        if authorization.lower().startswith("bearer "):
            self.auth_kind = "bearer"
            access = authorization[7:].strip()
            return sb.oauth.check_access(access), access
        return "unauthorized access", ""

    def _api(self) -> None:
        sb = self.server.sandbox
        if sb.latency:
            time.sleep(sb.latency)
        error, key = self._authenticate()
        allowed, headers = sb.limiter.hit(key)
        if not sb.ratelimit_headers:
            headers = {}
        if not allowed:
            self._json(429, error_envelope("Request over limit", 429), headers)
            return
        if error:
            self._json(401, error_envelope(error, 401), headers)
            return
        if sb.daily.spent():
            if sb.ratelimit_headers:
                headers = {**headers, **sb.daily.header_values()}
            self._json(429, error_envelope("Daily API token budget exceeded", 429), headers)
            return
        self.fault = sb.faults.draw(self.route_path)
        if self.fault:
            self.status = 0 if self.fault in ("reset", "truncated") else 200
            envelope = error_envelope("Internal server error", 500)
            if inject(self, self.fault, envelope, sb.faults.delay):
                return
        if sb.replay is not None:  # a capture's answers instead of generated data
            sb.daily.charge(cost_of(self.route_path))
            self._send(*sb.replay.answer(self.command, self.route_path, self.query), headers)
            return
        version, _, name = self.route_path[len("/api/"):].partition("/")
        route, path_params = api.match(version, name.rstrip("/"))
        if route is None or self.command != "GET":
            self._json(404, error_envelope("Not found", 404), headers)
            return
        sb.daily.charge(cost_of(self.route_path))
        if sb.ratelimit_headers:
            headers = {**headers, **sb.daily.header_values()}
        key = (self.route_path, tuple(sorted(self.query.items())), sb.data.version)
        if sb.page_cache is not None and (body := sb.page_cache.get(key)) is not None:
            self._send(200, body, JSON, headers)
            return
        try:
            doc = api.respond(sb.data, route, self.query, path_params)
        except BadRequest as exc:
            self._json(400, error_envelope(str(exc), 400), headers)
            return
        body = _encode(doc)
        if sb.page_cache is not None:
            sb.page_cache.put(key, body)
        self._send(200, body, JSON, headers)

    # --- /oauth ---------------------------------------------------------------------------

    def _oauth(self) -> None:
        sb = self.server.sandbox
        if self.route_path == "/oauth/authorize" and self.command == "GET":
            status, result = sb.oauth.authorize(self.query)
            if status == 302:
                self._send(302, b"", "text/plain", {"Location": result})
            else:
                self._send(status, result.encode(), "text/html; charset=utf-8")
        elif self.route_path.rstrip("/") == "/oauth/token" and self.command == "POST":
            try:
                self._json(200, sb.oauth.token(self.headers, self.body, sb.url))
            except OAuthError as exc:
                self._json(exc.status, exc.body())
        else:
            self._json(404, error_envelope("Not found", 404))

    # --- /_sandbox -------------------------------------------------------------------------

    def _admin(self) -> None:
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            self._json(403, error_envelope("Admin endpoints are loopback only", 403))
            return
        action = self.route_path[len("/_sandbox/"):].rstrip("/")
        self._json(*admin.call(self.server.sandbox, self.command, action, self.body))


class Sandbox:
    """A running (or ready to run) Pipedrive-compatible server.

    >>> with Sandbox(records=50) as sb:
    ...     requests.get(f"{sb.url}/api/v2/deals", headers={"x-api-token": sb.api_token})
    """

    def __init__(
        self,
        records: int = 1000,
        seed: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
        api_token: str = "sandbox-api-token",
        client_id: str = "sandbox-client-id",
        client_secret: str = "sandbox-client-secret",
        token_ttl: int = 3599,
        burst_limit: int = 400,
        deny_consent: bool = False,
        code_ttl: int = 300,
        daily_limit: int = 0,
        daily_headers: bool = True,
        ratelimit_headers: bool = True,
        fault_rate: float = 0.0,
        fault_kinds: str | list[str] | None = None,
        fault_seed: int | None = None,
        fault_after: int = 0,
        fault_delay: float = 5.0,
        fault_paths: str | list[str] | None = None,
        latency: float = 0.0,
        odd_values: bool = False,
        page_cache_mb: float = 0,
        record_cache: int = 0,
        replay: str | os.PathLike[str] | None = None,
        drift: bool = False,
    ) -> None:
        """burst_limit: requests per token per 2 s (0: none). daily_limit: tokens per day for
        the whole company (0: none); daily_headers: send x-daily-ratelimit-token-*;
        ratelimit_headers=False: send no rate-limit header at all. fault_rate: share of API
        calls that fail (0..1), fault_kinds: which faults (faults.py; default all but
        timeout), fault_seed: their draw (default: seed), fault_after: so many calls first
        go through, fault_delay: seconds a timeout fault stalls, fault_paths: only calls to
        these exact paths fail (and count). latency: seconds added to every API call.
        odd_values: a share of records carries values that broke other connectors (odd.py).
        page_cache_mb: keep answered pages, up to so many MB, and serve them again while the
        data is unchanged (pagecache.py; 0: build every page, the default). record_cache:
        keep up to so many records of each entity built (SandboxData.keep_built; 0: build
        each record as it is served, the default). replay: a
        capture directory whose answers are served instead of generated data (replay.py).
        drift: answers wider and less regular than the spec, as real accounts' are (drift.py)."""
        check_loopback(host)
        self.host, self.port = host, int(port)
        self.api_token = api_token
        self.data = SandboxData(records=records, seed=seed)
        self.data.odd_values = bool(odd_values)
        self.data.drift = bool(drift)
        self.oauth = OAuthState(client_id, client_secret, int(token_ttl), int(code_ttl),
                                deny_consent)
        self.limiter = BurstLimiter(burst_limit)
        self.daily = DailyBudget(daily_limit, daily_headers)
        self.ratelimit_headers = bool(ratelimit_headers)
        self.faults = Faults(fault_rate, fault_kinds, seed if fault_seed is None else fault_seed,
                             fault_after, fault_delay, fault_paths)
        self.latency = float(latency)
        self.page_cache = PageCache(page_cache_mb) if page_cache_mb > 0 else None
        self.data.keep_built(int(record_cache))
        self.replay = Replay.load(replay) if replay is not None else None
        self._requests: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=REQUEST_LOG_SIZE)  # a ring: a long-running sandbox keeps the newest
        self._requests_lock = threading.Lock()
        self.active = 0  # API calls being served now
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._server.server_address[1]}"

    def own_hosts(self) -> set[str]:
        """The Host values that name this sandbox: its address and localhost, with the port."""
        port = self._server.server_address[1] if self._server else self.port
        hosts = {self.host, "localhost"} | ({"127.0.0.1"} if self.host == "localhost" else set())
        return {f"[{h}]:{port}" if ":" in h else f"{h}:{port}" for h in hosts}

    @property
    def client_id(self) -> str:
        return self.oauth.client_id

    @property
    def client_secret(self) -> str:
        return self.oauth.client_secret

    @property
    def deny_consent(self) -> bool:
        return self.oauth.deny_consent

    @deny_consent.setter
    def deny_consent(self, deny: bool) -> None:
        self.oauth.deny_consent = bool(deny)

    def set_deny_consent(self, deny: bool) -> bool:
        self.deny_consent = deny
        return self.deny_consent

    def expire_access_tokens(self) -> int:
        return self.oauth.expire_access_tokens()

    def revoke_refresh_tokens(self) -> int:
        return self.oauth.revoke_refresh_tokens()

    def reset_daily_budget(self) -> int:
        """A new day: the daily budget is whole again; returns the tokens the old day used."""
        return self.daily.reset()

    # --- request log -------------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._requests_lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()

    @contextlib.contextmanager
    def serving(self) -> Iterator[Callable[[], None]]:
        """Count an API call while it is served (`active`: how many at once); the callable
        given ends the count early, once, when the answer starts going out."""
        released = False

        def release() -> None:
            nonlocal released
            with self._requests_lock:
                if not released:
                    released = True
                    self.active -= 1

        with self._requests_lock:
            self.active += 1
        try:
            yield release
        finally:
            release()

    def _log_request(self, entry: dict[str, Any]) -> None:
        with self._requests_lock:
            self._requests.append(entry)

    # --- lifecycle -----------------------------------------------------------------------------

    def bind(self) -> Sandbox:
        """Open the listening socket (OSError if the port is taken) without serving yet."""
        if self._server is None:
            self._server = _Server((self.host, self.port), self)
        return self

    def start(self) -> Sandbox:
        """Serve in a daemon thread."""
        self.bind()
        assert self._server is not None
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="pipedrive-sandbox", daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self, stop: threading.Event | None = None) -> None:
        """Serve until `stop` is set (or forever); blocking. Used by the CLI."""
        self.start()
        stop = stop or threading.Event()
        try:
            while not stop.wait(0.2):
                pass
        finally:
            self.stop()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        if self._thread is not None:  # shutdown() would wait forever for a loop never started
            server.shutdown()
        for conn in list(server.connections):
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(stop: threading.Event | None = None, **options: Any) -> None:
    """Run a Sandbox in the foreground until `stop` is set (blocking entry for the CLI)."""
    Sandbox(**options).serve_forever(stop)
