"""The desktop login: an HTTP listener on the loopback callback URL, the system browser on the
authorization page, then the code exchanged (RFC 8252).

A hostile local process or web page can reach the listener, so: connections are served
concurrently, each with its own timeout (one that sends half a request blocks nothing); a
callback without this login's `state` is answered 400 and the listener keeps waiting, before
anything else in it is looked at; only printable text from a callback reaches the terminal;
and the browser's page says "authorized" only once the code has been exchanged. `--timeout`
counts from the start: the BROWSER command runs in the background (webbrowser waits for it).
"""

from __future__ import annotations

import functools
import html
import http.server
import ipaddress
import os
import secrets
import socket
import threading
import time
import webbrowser
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

import click
from typing_extensions import override

from tap_pipedrive.auth.oauth import OAuthClient, consent_error
from tap_pipedrive.auth.tokens import Tokens
from tap_pipedrive.errors import AuthError, ConfigError

DEFAULT_TIMEOUT = 300  # seconds to wait for the browser; the code itself lives 5 minutes
CONNECTION_TIMEOUT = 10  # seconds one connection may take to send its request
EXCHANGE_WAIT = 120  # seconds the browser's page waits for the exchange's outcome
ANSWER_WAIT = 5  # seconds to let the page reach the browser before closing the listener

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>tap-pipedrive</title></head>
<body style="font-family:sans-serif;margin:3em"><h2>{title}</h2><p>{text}</p></body></html>"""


def login(
    client: OAuthClient,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    open_browser: bool = True,
    say: Callable[[str], None] | None = None,
) -> Tokens:
    """Run the browser round trip and return the exchanged tokens (not yet persisted).

    Progress goes to stderr: during a sync, stdout carries Singer messages."""
    deadline = time.monotonic() + timeout
    say = say or functools.partial(click.echo, err=True)
    state = secrets.token_urlsafe(32)
    url = client.authorization_url(state)
    with CallbackListener(client.app.redirect_uri, state) as listener:
        say(f"To authorize tap-pipedrive, open this page in a browser: {url}")
        no_browser = threading.Event()
        if open_browser:
            threading.Thread(target=_open_browser, args=(url, no_browser), daemon=True,
                             name="browser").start()
        query = listener.wait(deadline, timeout, no_browser)
        try:
            if error := query.get("error"):
                raise AuthError(consent_error(error))
            if not query.get("code"):
                raise AuthError("the OAuth callback carried no code; run `tap-pipedrive auth "
                                "login` again")
            tokens = client.exchange(query["code"])
        except BaseException:
            listener.finish(ok=False)
            raise
        listener.finish(ok=True)
    return tokens


def _open_browser(url: str, failed: threading.Event) -> None:
    try:
        opened = webbrowser.open(url, new=1)
    except Exception:  # a broken BROWSER setting: the same as none
        opened = False
    if not opened:
        failed.set()


class _Login:
    """What the connection threads and the waiting thread share."""

    def __init__(self, callback_path: str, state: str) -> None:
        self.callback_path = callback_path
        self.state = state
        self.query: dict[str, str] = {}
        self.arrived = threading.Event()  # a callback with this login's state
        self.outcome = threading.Event()  # the exchange is over; `ok` says how
        self.answered = threading.Event()  # the browser has its page
        self.ok = False
        self._claim = threading.Lock()

    def claim(self, query: dict[str, str]) -> bool:
        """The first callback with the right state wins; any later one is turned away."""
        with self._claim:
            if self.arrived.is_set():
                return False
            self.query = query
            self.arrived.set()
            return True


class _Server(http.server.ThreadingHTTPServer):
    # POSIX SO_REUSEADDR only skips the last login's TIME_WAIT; a listening port still fails.
    # On Windows it would let two programs share the port, so it stays off there.
    allow_reuse_address = os.name != "nt"
    daemon_threads = True  # a connection left hanging never holds the process
    login: _Login


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    timeout = CONNECTION_TIMEOUT  # applied to each connection's socket

    def do_GET(self) -> None:
        login = self.server.login
        url = urlparse(self.path)
        if url.path != login.callback_path:
            self._page(404, "Not found", "This is tap-pipedrive's login listener.")
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        # The state first: nothing else in a request without it is looked at.
        if not secrets.compare_digest(query.get("state", "").encode(), login.state.encode()):
            self._page(400, "Not this login", "This request does not carry the state of the "
                       "login in progress, so it was ignored; tap-pipedrive is still waiting.")
            return
        if not login.claim(query):
            self._page(409, "Already answered", "This login has already received its "
                       "callback; see the terminal.")
            return
        try:
            if "error" in query:
                self._page(200, "Access was not granted", "You can close this tab and return "
                           "to the terminal.")
            elif login.outcome.wait(EXCHANGE_WAIT) and login.ok:
                self._page(200, "tap-pipedrive is authorized", "You can close this tab and "
                           "return to the terminal.")
            else:
                self._page(200, "Authorization failed", "The code could not be exchanged for "
                           "tokens; the terminal says why.")
        finally:  # a browser gone meanwhile keeps no one waiting
            login.answered.set()

    def _page(self, status: int, title: str, text: str) -> None:
        body = PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    @override
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request line holds the authorization code: never log it


class CallbackListener:
    """Listens on the callback URL's loopback address until this login's callback arrives."""

    def __init__(self, callback_url: str, state: str) -> None:
        url = urlparse(callback_url)
        host = url.hostname or ""
        if url.scheme != "http" or not _is_loopback(host):
            raise ConfigError(
                f"callback_url {callback_url!r} is not a loopback http URL, which the desktop "
                "login needs (e.g. http://127.0.0.1:8765/callback); register one with the "
                "OAuth app, or use oauth-web / oauth-headless")
        port = url.port or 80
        bind = "127.0.0.1" if host == "localhost" else host
        server_class = _Server6 if ":" in bind else _Server
        try:
            self.server = server_class((bind, port), _Handler)
        except OSError as exc:
            raise AuthError(
                f"cannot listen for the OAuth callback on {host}:{port} ({exc.strerror}): "
                "the port is in use or not allowed; stop what uses it, or register another "
                "loopback callback_url with the OAuth app") from None
        self.login = self.server.login = _Login(url.path or "/", state)
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True,
                                        name="oauth-callback")

    def __enter__(self) -> CallbackListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.login.outcome.set()  # a page still waiting answers now
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def wait(self, deadline: float, timeout: float, no_browser: threading.Event) -> dict[str, str]:
        """The callback's query, once one with this login's state has arrived."""
        while not self.login.arrived.wait(max(0.0, min(0.1, deadline - time.monotonic()))):
            if no_browser.is_set():
                raise AuthError(
                    "no web browser could be opened for the OAuth login; set BROWSER, or run "
                    "`tap-pipedrive auth login --no-browser` and open the printed URL, or "
                    "use the headless flow (auth url on another machine, then oauth_verifier)")
            if time.monotonic() >= deadline:
                raise AuthError(f"no OAuth callback arrived within {timeout:g} s; run "
                                "`tap-pipedrive auth login` again and finish in the browser")
        return self.login.query

    def finish(self, ok: bool) -> None:
        """The exchange is over (or consent was refused): let the waiting page say how, and
        give it time to go out. A refusal's page too: the process exits next, and a page
        not yet written would reach the browser as a dropped connection."""
        self.login.ok = ok
        self.login.outcome.set()
        self.login.answered.wait(ANSWER_WAIT)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
