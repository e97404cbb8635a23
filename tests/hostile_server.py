"""A local HTTP server that misbehaves on purpose, scripted per test.

`HostileServer(script)` listens on 127.0.0.1 (or 127.0.0.2: another host name for the same
machine) and answers each request with what `script(request)` returns: a `Reply` with any
status and headers, and a body given whole, as chunks written one by one (each after
`pause` seconds: a trickle), or as a generator (a huge body, made as it is sent). Every
request is recorded, headers included, so a test can tell what reached which host.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case


@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    pause: float = 0.0  # seconds before each chunk of an iterable body
    length: int | None = None  # Content-Length to announce for an iterable body
    trickle_head: bool = False  # send the status line and headers a byte at a time too


def envelope(records: list[dict], next_cursor: str | None = None, **extra: Any) -> bytes:
    return json.dumps({"success": True, "data": records,
                       "additional_data": {"next_cursor": next_cursor, **extra}}).encode()


EMPTY = envelope([])


def activity(n: int) -> dict[str, Any]:
    return {"id": n, "subject": f"call {n}", "update_time": f"2024-01-01T00:{n // 60 % 60:02d}:"
            f"{n % 60:02d}Z", "add_time": "2024-01-01T00:00:00Z"}


class HostileServer:
    def __init__(self, script: Callable[[Request], Reply] | None = None,
                 host: str = "127.0.0.1") -> None:
        self.script = script or (lambda request: Reply(body=EMPTY))
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self._serve()

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                request = Request(self.command, parts.path,
                                  {k: v[0] for k, v in parse_qs(parts.query).items()},
                                  {k.lower(): v for k, v in self.headers.items()})
                server.requests.append(request)
                reply = server.script(request)
                with contextlib.suppress(OSError):
                    self._reply(reply)

            def _reply(self, reply: Reply) -> None:
                whole = isinstance(reply.body, bytes)
                head = [f"HTTP/1.1 {reply.status} Whatever\r\n"]
                headers = {"Content-Type": "application/json", **reply.headers}
                if whole:
                    headers["Content-Length"] = str(len(reply.body))  # type: ignore[arg-type]
                elif reply.length is not None:
                    headers["Content-Length"] = str(reply.length)
                if not whole and reply.length is None:
                    headers["Connection"] = "close"  # the body ends when the connection does
                    self.close_connection = True
                head += [f"{k}: {v}\r\n" for k, v in headers.items()] + ["\r\n"]
                raw = "".join(head).encode()
                if reply.trickle_head:
                    for i in range(len(raw)):
                        self.wfile.write(raw[i:i + 1])
                        self.wfile.flush()
                        time.sleep(reply.pause or 1.0)
                else:
                    self.wfile.write(raw)
                chunks = [reply.body] if whole else reply.body
                for chunk in chunks:  # type: ignore[union-attr]
                    if reply.pause and not whole:
                        time.sleep(reply.pause)
                    self.wfile.write(chunk)
                    self.wfile.flush()
                if not whole:
                    self.close_connection = True

        self._httpd = ThreadingHTTPServer((host, 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://{host}:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]
