"""Fault mode: the ways a real Pipedrive API (or what stands in front of it) misbehaves.

A seeded draw per API request picks a fault, so a test that sends the same requests in the
same order meets the same faults. Kinds:

    500, 503       JSON error envelope with that status
    502            an HTML "Bad Gateway" page from the proxy
    reset          the connection is closed without an answer
    truncated      headers announce the whole body, half is sent, the connection closes
    badjson        a complete 200 whose body is cut JSON (a proxy that truncated it)
    unsuccessful   200 with {"success": false, ...}
    html403        403 with Cloudflare's HTML block page
    timeout        the answer comes after `delay` seconds (slower than a short client timeout)
    401 402 403 404 410   Pipedrive's JSON error for that status (an account or token problem)

`timeout` and the 4xx kinds are only drawn when asked for: they are not transient.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from typing import Any, Protocol

CLIENT_ERRORS = {
    "401": "unauthorized access",
    "402": "Company account is not open. Possible reason: trial expired or payment overdue",
    "403": "You do not have the permissions to access this resource",
    "404": "Not found",
    "410": "This endpoint has been removed",
}
KINDS = ("500", "502", "503", "reset", "truncated", "badjson", "unsuccessful", "html403",
         "timeout", *CLIENT_ERRORS)
DEFAULT_KINDS = KINDS[:8]

CLOUDFLARE_403 = (
    "<!DOCTYPE html>\n<html><head><title>Attention Required! | Cloudflare</title></head>"
    "<body><h1>Sorry, you have been blocked</h1><p>You are unable to access pipedrive.com</p>"
    "<p>Cloudflare Ray ID: 7d2f0c9e8b1a2f3c</p></body></html>\n"
)
BAD_GATEWAY = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    "</h1></center><hr><center>cloudflare</center></body></html>\n"
)


class _Handler(Protocol):
    connection: socket.socket
    close_connection: bool

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None: ...

    def send_response(self, code: int) -> None: ...
    def send_header(self, keyword: str, value: str) -> None: ...
    def end_headers(self) -> None: ...


def parse_kinds(kinds: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """`"500,reset"` or a sequence; empty or None: the default kinds. ValueError if unknown."""
    if kinds is None or kinds == "" or kinds == ():
        return DEFAULT_KINDS
    items = [k.strip() for k in kinds.split(",")] if isinstance(kinds, str) else list(kinds)
    unknown = [k for k in items if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown fault kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
    return tuple(dict.fromkeys(items))


class Faults:
    """Which API request gets which fault: `rate` of them, after the first `after` requests.
    With `paths`, only requests to those exact paths count and fail."""

    def __init__(self, rate: float = 0.0, kinds: Any = None, seed: int = 1, after: int = 0,
                 delay: float = 5.0, paths: Any = None) -> None:
        self._lock = threading.Lock()
        self.paths: tuple[str, ...] = ()
        self.configure(rate=rate, kinds=kinds, seed=seed, after=after, delay=delay,
                       paths=paths)

    def configure(self, rate: float | None = None, kinds: Any = None, seed: int | None = None,
                  after: int | None = None, delay: float | None = None,
                  paths: Any = None) -> dict[str, Any]:
        """Change settings (None keeps one); the draw sequence and request count restart."""
        with self._lock:
            if paths is not None:
                items = paths.split(",") if isinstance(paths, str) else list(paths)
                self.paths = tuple(p.strip().rstrip("/") for p in items if p.strip())
            if rate is not None:
                if not 0.0 <= float(rate) <= 1.0:
                    raise ValueError(f"fault rate must be between 0 and 1, not {rate}")
                self.rate = float(rate)
            if kinds is not None or not hasattr(self, "kinds"):
                self.kinds = parse_kinds(kinds)
            if seed is not None:
                self.seed = int(seed)
            if after is not None:
                self.after = int(after)
            if delay is not None:
                self.delay = float(delay)
            self._random = random.Random(self.seed)
            self.count = 0
            self.injected: dict[str, int] = {}
            return self.describe()

    def describe(self) -> dict[str, Any]:
        return {"rate": self.rate, "kinds": list(self.kinds), "seed": self.seed,
                "after": self.after, "delay": self.delay, "paths": list(self.paths),
                "injected": dict(self.injected)}

    def draw(self, path: str = "") -> str | None:
        """The fault for the next API request (to `path`), or None."""
        with self._lock:
            if self.paths and path.rstrip("/") not in self.paths:
                return None
            self.count += 1
            if self.rate <= 0 or self.count <= self.after:
                return None
            # Two draws per request whatever the outcome, so the sequence stays aligned.
            hit, pick = self._random.random(), self._random.randrange(len(self.kinds))
            if hit >= self.rate:
                return None
            kind = self.kinds[pick]
            self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind


def inject(handler: _Handler, kind: str, body: dict[str, Any], delay: float) -> bool:
    """Answer (or fail to answer) `handler`'s request with the fault `kind`. `body` is the
    error envelope to use for JSON errors. False when the request should then be served
    normally (a `timeout` fault only delays it)."""
    if kind == "timeout":
        time.sleep(delay)
        return False
    if kind in ("500", "503"):
        handler._send(int(kind), _json(body), "application/json; charset=utf-8")
    elif kind in CLIENT_ERRORS:
        doc = {**body, "error": CLIENT_ERRORS[kind], "errorCode": int(kind)}
        handler._send(int(kind), _json(doc), "application/json; charset=utf-8")
    elif kind == "502":
        handler._send(502, BAD_GATEWAY.encode(), "text/html; charset=utf-8")
    elif kind == "html403":
        handler._send(403, CLOUDFLARE_403.encode(), "text/html; charset=UTF-8")
    elif kind == "unsuccessful":
        handler._send(200, _json({**body, "errorCode": 200}), "application/json; charset=utf-8")
    elif kind == "reset":
        _hang_up(handler)
    elif kind in ("truncated", "badjson"):
        whole = _json({"success": True, "data": [{"id": n} for n in range(50)],
                       "additional_data": {"next_cursor": None}})
        half = whole[: len(whole) // 2]
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(whole if kind == "truncated" else half)))
        handler.end_headers()
        with contextlib.suppress(OSError):
            handler.connection.sendall(half)
        if kind == "truncated":
            _hang_up(handler)
    return True


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _hang_up(handler: _Handler) -> None:
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.shutdown(socket.SHUT_RDWR)
