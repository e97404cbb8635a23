"""The desktop login: a one-shot HTTP listener on the loopback callback URL, the system
browser on the authorization page, `state` checked, then the code exchanged (RFC 8252)."""

from __future__ import annotations

import functools
import http.server
import ipaddress
import secrets
import socket
import threading
import time
import webbrowser
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

import click

from tap_pipedrive.auth.oauth import OAuthClient, Tokens, consent_error
from tap_pipedrive.errors import AuthError, ConfigError

DEFAULT_TIMEOUT = 300  # seconds to wait for the browser; the code itself lives 5 minutes

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
    say = say or functools.partial(click.echo, err=True)
    state = secrets.token_urlsafe(32)
    url = client.authorization_url(state)
    with CallbackListener(client.app.redirect_uri) as listener:
        listener.start()  # serve in the background: a BROWSER command may wait for the page
        say(f"To authorize tap-pipedrive, open this page in a browser: {url}")
        if open_browser and not webbrowser.open(url, new=1):
            raise AuthError(
                "no web browser could be opened for the OAuth login; set BROWSER, or run "
                "`tap-pipedrive auth login --no-browser` and open the printed URL, or "
                "use the headless flow (auth url on another machine, then oauth_verifier)")
        query = listener.wait(timeout)
    if error := query.get("error"):
        raise AuthError(consent_error(error))
    if not secrets.compare_digest(query.get("state", ""), state):
        raise AuthError("the OAuth callback's state does not match this login (a stale or "
                        "forged request); run `tap-pipedrive auth login` again")
    if not query.get("code"):
        raise AuthError("the OAuth callback carried no code; run `tap-pipedrive auth login` again")
    return client.exchange(query["code"])


class _Server(http.server.HTTPServer):
    allow_reuse_address = False  # a port in use must fail, not be shared
    callback_path = "/"
    query: dict[str, str] | None = None


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path != self.server.callback_path or self.server.query is not None:
            self.send_error(404)
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        denied = "error" in query
        body = PAGE.format(
            title="Access was not granted" if denied else "tap-pipedrive is authorized",
            text="You can close this tab and return to the terminal.",
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.query = query

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request line holds the authorization code: never log it


class CallbackListener:
    """Listens on the callback URL's loopback address until one callback arrives."""

    def __init__(self, callback_url: str) -> None:
        url = urlparse(callback_url)
        host = url.hostname or ""
        if url.scheme != "http" or not _is_loopback(host):
            raise ConfigError(
                f"callback_url {callback_url!r} is not a loopback http URL, which the desktop "
                "login needs (e.g. http://127.0.0.1:8765/callback); register one with the "
                "OAuth app, or use oauth-web / oauth-headless")
        port = url.port or 80
        bind = "127.0.0.1" if host == "localhost" else host
        server_class = _Server
        if ":" in bind:
            server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
        try:
            self.server = server_class((bind, port), _Handler)
        except OSError as exc:
            raise AuthError(
                f"cannot listen for the OAuth callback on {host}:{port} ({exc.strerror}): "
                "the port is in use or not allowed; stop what uses it, or register another "
                "loopback callback_url with the OAuth app") from None
        self.server.callback_path = url.path or "/"
        self.server.timeout = 0.2  # handle_request() returns this often to check the deadline
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> CallbackListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()
        self.server.server_close()

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        while not self._done.is_set() and self.server.query is None:
            self.server.handle_request()

    def wait(self, timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while self.server.query is None:
            if time.monotonic() >= deadline:
                raise AuthError(f"no OAuth callback arrived within {timeout:g} s; run "
                                "`tap-pipedrive auth login` again and finish in the browser")
            time.sleep(0.05)
        return self.server.query


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
