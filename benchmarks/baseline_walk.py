"""The floor the tap is measured against: walk every page, parse it, write RECORD lines.

python benchmarks/baseline_walk.py API_URL TOKEN STREAM_PATH...   (RECORD lines on stdout)
The same requests the tap makes (limit=500, cursor or offset paging), nothing else.
"""

from __future__ import annotations

import json
import sys

import requests


def walk(session: requests.Session, base: str, path: str, out) -> None:
    stream = path.rsplit("/", 1)[-1]
    params: dict[str, object] = {"limit": 500}
    if path == "/api/v2/deals":
        params["status"] = "open,won,lost,deleted"
    if path.startswith("/api/v1/"):
        params = {}
    while True:
        body = session.get(base + path, params=params, timeout=60).json()
        for record in body.get("data") or []:
            out.write(json.dumps({"type": "RECORD", "stream": stream, "record": record}))
            out.write("\n")
        cursor = (body.get("additional_data") or {}).get("next_cursor")
        if not cursor:
            return
        params["cursor"] = cursor


def main() -> None:
    base, token, *paths = sys.argv[1:]
    session = requests.Session()
    session.headers["x-api-token"] = token
    for path in paths:
        walk(session, base, path, sys.stdout)


if __name__ == "__main__":
    main()
