"""The desktop login: a one-shot HTTP listener on the loopback callback URL, the system
browser on the authorization page, `state` checked, then the code exchanged (RFC 8252)."""

from __future__ import annotations

import functools
import http.server
import ipaddress
import os
import secrets
import socket
import threading
import webbrowser
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

import click

from tap_pipedrive.auth.oauth import OAuthClient, consent_error
from tap_pipedrive.auth.tokens import Tokens
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
    # Served in the background: a BROWSER command may wait until the page has loaded.
    with CallbackListener(client.app.redirect_uri) as listener:
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
    # POSIX SO_REUSEADDR only skips the last login's TIME_WAIT; a listening port still fails.
    # On Windows it would let two programs share the port, so it stays off there.
    allow_reuse_address = os.name != "nt"
    callback_path = "/"
    query: dict[str, str]
    arrived: threading.Event


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path != self.server.callback_path or self.server.arrived.is_set():
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
        self.server.arrived.set()

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
        self.server.arrived = threading.Event()
        self.server.timeout = 0.2  # handle_request() returns this often to see if we are done
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> CallbackListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._thread.join()
        self.server.server_close()

    def _serve(self) -> None:
        while not (self._closing.is_set() or self.server.arrived.is_set()):
            self.server.handle_request()

    def wait(self, timeout: float) -> dict[str, str]:
        if not self.server.arrived.wait(timeout):
            raise AuthError(f"no OAuth callback arrived within {timeout:g} s; run "
                            "`tap-pipedrive auth login` again and finish in the browser")
        return self.server.query


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
