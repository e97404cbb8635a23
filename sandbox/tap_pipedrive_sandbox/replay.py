"""Serve a capture (`tap-pipedrive capture`) instead of generated data: `sandbox --replay DIR`.

A request is answered with the captured answer of the same method, path and query, leaving
out credentials and the parameters a bookmark changes (capturefile.py). The server still
asks for the sandbox's own credentials and applies its rate limits and faults.

Child streams were captured for a few parents only: a request for another parent of a
captured child endpoint gets an empty list, so a sync of the replay reads exactly the
captured records. Anything else not in the capture: 404 in Pipedrive's error envelope.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tap_pipedrive.capturefile import FORMAT, MANIFEST, PAGING_PARAMS, api_path, match_query
from tap_pipedrive.errors import TapPipedriveError

from .api import error_envelope

JSON = "application/json; charset=utf-8"
_EMPTY = json.dumps({"success": True, "data": [], "additional_data": None}).encode()


class ReplayError(TapPipedriveError):
    """The directory holds no readable capture."""


@dataclass(frozen=True)
class _Child:
    pattern: re.Pattern[str]
    param: str
    in_query: bool

    def asks_for(self, path: str, query: dict[str, str]) -> bool:
        if self.in_query:
            return self.pattern.fullmatch(path) is not None and self.param in query
        return self.pattern.fullmatch(path) is not None


class Replay:
    def __init__(self, answers: dict[tuple, tuple[int, bytes, str]],
                 children: list[_Child], source: str) -> None:
        self.answers = answers
        self.children = children
        self.source = source

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Replay:
        root = Path(directory)
        manifest = _read(root / MANIFEST, f"{root} holds no capture ({MANIFEST} is missing)")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ReplayError(f"{root / MANIFEST} is not a {FORMAT} manifest")
        answers: dict[tuple, tuple[int, bytes, str]] = {}
        for entry in manifest.get("answers") or []:
            doc = _read(root / str(entry.get("file")), f"{root}: a file of the capture is "
                        f"missing: {entry.get('file')}")
            request, response = doc.get("request") or {}, doc.get("response") or {}
            key = (request.get("method", "GET"), request.get("path", ""),
                   match_query(request.get("query") or {}))
            answers[key] = _answer(response)
        children = [
            _Child(_template(c["path"]), c["param"], c.get("in") == "query")
            for c in (manifest.get("children") or {}).values()
            if isinstance(c, dict) and c.get("path") and c.get("param")
        ]
        return cls(answers, children, str(root))

    def answer(self, method: str, path: str, query: dict[str, str]) -> tuple[int, bytes, str]:
        """(status, body, content type) for a request."""
        path = api_path(path)
        found = self.answers.get((method, path, match_query(query)))
        if found is not None:
            return found
        if method == "GET" and any(c.asks_for(path, query) for c in self.children):
            return 200, _EMPTY, JSON  # a parent whose children were not captured
        said = error_envelope(f"Not in the capture: {method} {path} with these parameters "
                              f"({', '.join(sorted(set(query) - PAGING_PARAMS)) or 'none'})",
                              404)
        return 404, json.dumps(said).encode(), JSON


def _answer(response: dict[str, Any]) -> tuple[int, bytes, str]:
    status = int(response.get("status") or 200)
    kind = (response.get("headers") or {}).get("content-type") or JSON
    if "body" in response:
        return status, json.dumps(response["body"], ensure_ascii=False).encode(), kind
    return status, str(response.get("body_text") or "").encode(), kind


def _template(path: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)))


def _read(path: Path, missing: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReplayError(missing) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReplayError(f"cannot read {path}: {exc}") from None
