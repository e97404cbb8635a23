"""`tap-pipedrive capture`: save what the API answers a sync, bounded and scrubbed, to attach
to a bug report or to replay (`tap-pipedrive sandbox --replay DIR`).

The capture is a real sync of the selected streams (records discarded), so every request is
the one a sync makes: the same URLs and parameters, field metadata, children of parents,
connection, auth method and rate limiter. A response hook on the tap's authenticator sees
every answer before the stream reads it, and:

- ends each walk after `pages` pages: the last page kept says there are no more (cursor
  null, more_items_in_collection false), so the capture run and any replay of it stop there
  and read exactly the captured records;
- writes the answer, scrubbed (scrub.py), to one file per request; field metadata (the
  *Fields endpoints) is kept as sent: it describes the schema, not people.

Child streams are asked for the first `parents` parents only (a batched endpoint, one call
for up to 100 parents, counts one per call); a replay answers the others with no items.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import cached_property, partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import simplejson
from singer_sdk import singerlib as singer
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_pipedrive import capturefile
from tap_pipedrive.auth import Connection
from tap_pipedrive.errors import TapPipedriveError
from tap_pipedrive.scrub import Scrubber, Secrets
from tap_pipedrive.services import RunServices
from tap_pipedrive.streams import STREAMS
from tap_pipedrive.streams.base import PARENT_IDS, ChildStream
from tap_pipedrive.tap import TapPipedrive

# Response headers worth keeping: what the answer is and what the API said about limits.
KEPT_HEADERS = ("content-type", "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining",
                "x-ratelimit-reset", "x-daily-ratelimit-token-limit",
                "x-daily-ratelimit-token-remaining", "x-token-cost")
CREDENTIAL_HEADERS = ("authorization", "x-api-token", "cookie", "proxy-authorization")
SECRET_SETTINGS = ("api_token", "oauth_client_secret", "oauth_access_token",
                   "oauth_refresh_token", "oauth_verifier")


class CaptureError(TapPipedriveError):
    """The capture cannot be written where asked."""


class Recorder:
    """Answers to files, walks bounded; called from the response hook (any thread)."""

    def __init__(self, out: Path, pages: int, scrubber: Scrubber | None) -> None:
        self.out = out
        self.pages = pages
        self.scrubber = scrubber
        self.secrets = Secrets()  # redacted from every file, scrubbed or not
        self.routes: list[tuple[re.Pattern[str], str]] = []
        self.answers: dict[tuple, dict[str, Any]] = {}
        self._walks: dict[tuple, list[Any]] = {}  # walk: the paging values seen, in order
        self._lock = threading.Lock()

    def stream_of(self, path: str) -> str:
        for pattern, name in self.routes:
            if pattern.fullmatch(path):
                return name
        return "other"

    def auth(self, inner: requests.auth.AuthBase) -> requests.auth.AuthBase:
        return _RecordingAuth(inner, self)

    # --- the hook ------------------------------------------------------------------------

    def on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> Any:
        if response.is_redirect or response.request is None:
            return response
        request = response.request
        parts = urlsplit(request.url or "")
        path = capturefile.api_path(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        query = {k: v for k, v in query.items() if k.lower() not in
                 capturefile.CREDENTIAL_PARAMS and v not in self.secrets}
        method = request.method or "GET"
        with self._lock:
            page, synthetic = self._bound(response, method, path, query)
            self._write(response, method, path, query, page, synthetic)
        return response

    def _bound(self, response: requests.Response, method: str, path: str,
               query: dict[str, str]) -> tuple[int, bool]:
        """Which page of its walk this is; the last one kept is made to end the walk, and one
        past it (an endpoint that says nothing about more pages) becomes an empty page."""
        walk_key = (method, path, capturefile.match_query(query, *capturefile.PAGING_PARAMS))
        walk = self._walks.setdefault(walk_key, [])
        value = next((query[p] for p in capturefile.PAGING_PARAMS if p in query), None)
        value = None if value == "0" else value  # v1's first page: start=0
        if value not in walk:  # else a retry of a page already seen
            walk.append(value)
        page = walk.index(value) + 1
        if response.status_code != 200 or page < self.pages:
            return page, False
        doc = _load(response.content)
        if not isinstance(doc, dict):
            return page, False
        if page > self.pages:
            doc = {"success": True, "data": [], "additional_data": None}
        elif not _end_walk(doc):
            return page, False
        response._content = simplejson.dumps(doc, use_decimal=True).encode()
        return page, page > self.pages

    def _write(self, response: requests.Response, method: str, path: str,
               query: dict[str, str], page: int, synthetic: bool) -> None:
        key = (method, path, tuple(sorted(query.items())))
        entry = self.answers.get(key)
        stream = self.stream_of(path)
        if entry is None:
            entry = {"file": f"{len(self.answers) + 1:04d}-{stream}.json", "stream": stream,
                     "method": method, "path": path, "query": query, "page": page}
            self.answers[key] = entry
        doc = _load(response.content)
        is_fields = path.rsplit("/", 1)[-1].endswith("Fields")
        if doc is not None and self.scrubber is not None:
            if is_fields:
                self.scrubber.learn_fields(doc)  # kept as sent: it names fields, not people
            else:
                doc = self.scrubber.scrub_body(doc)
        entry["status"] = response.status_code
        body: dict[str, Any] = {"body": doc} if doc is not None else {
            "body_text": _text_stand_in(response.content)}
        headers = {k: v for k in KEPT_HEADERS if (v := response.headers.get(k)) is not None}
        answer = {
            "stream": stream, "page": page,
            "request": {"method": method, "path": path, "query": query},
            "response": {"status": response.status_code, "headers": headers, **body},
        }
        if synthetic:
            answer["note"] = "asked for after the captured pages: written as an empty page"
        items = doc.get("data") if isinstance(doc, dict) else None
        entry["records"] = len(items) if isinstance(items, list) else None
        text = simplejson.dumps(answer, use_decimal=True, ensure_ascii=False, indent=1)
        (self.out / entry["file"]).write_text(self.secrets.redact(text) + "\n",
                                              encoding="utf-8")

    def note_credentials(self, request: requests.PreparedRequest) -> None:
        """The secrets a request carries, so that no file ever holds them (redact)."""
        for name in CREDENTIAL_HEADERS:
            value = request.headers.get(name)
            if value:
                self.secrets.add(value)
                self.secrets.add(value.split(" ", 1)[-1])  # "Bearer <token>"
        query = parse_qs(urlsplit(request.url or "").query)
        for name, values in query.items():
            if name.lower() in capturefile.CREDENTIAL_PARAMS:
                for value in values:
                    self.secrets.add(value)


class _RecordingAuth(requests.auth.AuthBase):
    """The tap's own authenticator, plus the recorder's response hook (once per request:
    the SDK applies the authenticator twice)."""

    def __init__(self, inner: requests.auth.AuthBase, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    @override
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request = self.inner(request)
        self.recorder.note_credentials(request)
        if self.recorder.on_response not in request.hooks["response"]:
            request.register_hook("response", self.recorder.on_response)
        return request


def _load(content: bytes) -> Any:
    try:
        return simplejson.loads(content, use_decimal=True)
    except (ValueError, UnicodeDecodeError):
        return None


def _text_stand_in(content: bytes) -> str:
    """A body that is not JSON (a firewall's HTML page): its kind and size, not its text,
    which may hold the caller's address."""
    kind = "html" if content.lstrip()[:1] == b"<" else "text"
    return f"<!-- a {kind} body of {len(content)} bytes, left out -->" if kind == "html" \
        else f"[a text body of {len(content)} bytes, left out]"


def _end_walk(doc: dict[str, Any]) -> bool:
    """Make a page say that no more follow; whether it said there were."""
    extra = doc.get("additional_data")
    if not isinstance(extra, dict):
        return False
    changed = False
    if extra.get("next_cursor") is not None:
        extra["next_cursor"] = None
        changed = True
    for paging in (extra, extra.get("pagination")):
        if isinstance(paging, dict) and paging.get("more_items_in_collection"):
            paging["more_items_in_collection"] = False
            paging.pop("next_start", None)
            changed = True
    return changed


class _Discard(MsgSpecWriter):
    """A capture keeps answers, not Singer messages."""

    @override
    def write_message(self, message: singer.Message) -> None:
        pass


class RecordingRun(RunServices):
    """The run's services, with the authenticator recording every answer."""

    def __init__(self, recorder: Recorder, *args: Any, **kwargs: Any) -> None:
        self.recorder = recorder
        super().__init__(*args, **kwargs)

    @cached_property
    @override
    def connection(self) -> Connection:
        connection = RunServices.connection.func(self)  # type: ignore[attr-defined]
        return replace(connection, auth=self.recorder.auth(connection.auth))


class CaptureTap(TapPipedrive):
    """The tap, with its run's authenticator recording every answer."""

    message_writer_class = _Discard

    def __init__(self, *, recorder: Recorder, **kwargs: Any) -> None:
        self.recorder = recorder
        self.run_class = partial(RecordingRun, recorder)
        super().__init__(**kwargs)


def _limit_children(stream: ChildStream, parents: int) -> None:
    """The child stream reads the first `parents` parents (or batches of parents) only."""
    original = stream.get_records
    used = [0]

    def limited(context: Context | None) -> Any:
        ids = list((context or {}).get(PARENT_IDS) or [])
        if stream.batch_param:
            if used[0] >= parents:
                return
            used[0] += 1
            yield from original(context)
            return
        taken = ids[:max(parents - used[0], 0)]
        used[0] += len(taken)
        if taken:
            yield from original({**(context or {}), PARENT_IDS: taken})

    stream.get_records = limited  # type: ignore[method-assign]


def _route(path: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)))


@dataclass
class Outcome:
    out: Path
    answers: int
    streams: int


def capture(config: Mapping[str, Any], out: Path, *, catalog: dict | None = None,
            pages: int = capturefile.DEFAULT_PAGES, parents: int = capturefile.DEFAULT_PARENTS,
            parse_env_config: bool = False, scrub: bool = True) -> Outcome:
    """Capture the answers a sync of the selected streams gets into `out` (new or empty).
    scrub=False keeps personal data (for tests of the replay itself); secrets never stay."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CaptureError(f"--out {out} is not an empty directory: choose a new one")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    recorder = Recorder(out, pages, Scrubber() if scrub else None)
    for name in SECRET_SETTINGS:
        recorder.secrets.add(config.get(name))
    settings = {**config, "max_parallel_requests": 1}  # answers in the order of a sync
    tap: CaptureTap | None = None
    error: BaseException | None = None
    try:
        tap = _build_tap(recorder, settings, catalog, parse_env_config, parents)
        tap.sync_all()
    except BaseException as exc:
        error = exc
        raise
    finally:
        if recorder.answers or error is None:
            _write_manifest(recorder, tap, pages, parents, scrub, error)
        elif created:  # failed before the first answer (settings): nothing to keep
            out.rmdir()
    streams = {e["stream"] for e in recorder.answers.values()}
    return Outcome(out, len(recorder.answers), len(streams))


def _build_tap(recorder: Recorder, settings: dict[str, Any], catalog: dict | None,
               parse_env_config: bool, parents: int) -> CaptureTap:
    # Routes before any request: discovery reads field metadata.
    # The SDK types `name` per instance; every stream class sets it.
    paths = [(path, c.name) for c in STREAMS  # type: ignore[misc]
             if (path := getattr(c, "path", None))]
    for path, name in sorted(paths, key=lambda p: "{" in p[0]):  # exact paths first
        recorder.routes.append((_route(path), name))
    tap = CaptureTap(recorder=recorder, config=settings, catalog=catalog,
                     parse_env_config=parse_env_config)
    for name in SECRET_SETTINGS:
        recorder.secrets.add(tap.config.get(name))  # also from TAP_PIPEDRIVE_* variables
    for stream in tap.streams.values():
        if isinstance(stream, ChildStream):
            _limit_children(stream, parents)
    return tap


def _write_manifest(recorder: Recorder, tap: CaptureTap | None, pages: int, parents: int,
                    scrub: bool, error: BaseException | None) -> None:
    children = {}
    for stream in (tap.streams.values() if tap is not None else ()):
        if isinstance(stream, ChildStream) and stream.path and stream.selected:
            param = stream.batch_param or stream.parent_param
            where = "path" if "{" + stream.parent_param + "}" in stream.path else "query"
            children[stream.name] = {"path": stream.path, "param": param, "in": where}
    manifest = {
        "format": capturefile.FORMAT,
        "tap_version": TapPipedrive.plugin_version,
        "captured_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "complete": error is None,
        "pages": pages,
        "parents": parents,
        "scrubbed": scrub,
        "children": children,
        "answers": list(recorder.answers.values()),
    }
    if error is not None:
        manifest["stopped_by"] = type(error).__name__
    text = json.dumps(manifest, indent=1, ensure_ascii=False)
    (recorder.out / capturefile.MANIFEST).write_text(recorder.secrets.redact(text) + "\n",
                                                     encoding="utf-8")
