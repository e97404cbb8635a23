"""The floor the tap is measured against: walk every page, parse it, write RECORD lines.

python benchmarks/baseline_walk.py API_URL TOKEN STREAM_PATH...   (RECORD lines on stdout)
The same requests the tap makes (limit=500, cursor or offset paging), nothing else. Pages are
parsed and lines written with orjson, the fastest JSON library for Python we know of: the
floor of what a tap written in Python spends per record.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import BinaryIO

import orjson
import requests


def pages(session: requests.Session, base: str, path: str) -> Iterator[tuple[bytes, dict]]:
    """The stream's pages as the tap asks for them (limit=500, cursor or offset paging):
    each body, and the document parsed from it (once)."""
    params: dict[str, object] = {"limit": 500}
    if path == "/api/v2/deals":
        params["status"] = "open,won,lost,deleted"
    if path.startswith("/api/v1/"):
        params = {}
    while True:
        content = session.get(base + path, params=params, timeout=60).content
        body = orjson.loads(content)
        yield content, body
        cursor = (body.get("additional_data") or {}).get("next_cursor")
        if not cursor:
            return
        params["cursor"] = cursor


def write_records(body: dict, stream: str, write: Callable[[bytes], object]) -> None:
    """A RECORD line for each record of a parsed page."""
    for record in body.get("data") or []:
        write(orjson.dumps({"type": "RECORD", "stream": stream, "record": record},
                           option=orjson.OPT_APPEND_NEWLINE))


def walk(session: requests.Session, base: str, path: str, out: BinaryIO) -> None:
    stream = path.rsplit("/", 1)[-1]
    for _, body in pages(session, base, path):
        write_records(body, stream, out.write)


def main() -> None:
    base, token, *paths = sys.argv[1:]
    session = requests.Session()
    session.headers["x-api-token"] = token
    # A buffer of its own: stdout is unbuffered under PYTHONUNBUFFERED=1, as the tap's is.
    with open(sys.stdout.fileno(), "wb", closefd=False) as out:
        for path in paths:
            walk(session, base, path, out)


if __name__ == "__main__":
    main()
