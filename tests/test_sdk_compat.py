"""The seam to the Singer SDK's private names (tap_pipedrive/sdk_compat.py), checked against
the installed SDK: each private name the seam uses exists with the signature it calls, and
does what the tap relies on, shown on a small tap of its own (no network). A new SDK release
that renames or changes one fails here, by name. And no module but the seam uses one."""

from __future__ import annotations

import ast
import inspect
import json
import os
import signal
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
import singer_sdk
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.configuration import _dict_config
from singer_sdk.exceptions import AbortedSyncPausedException, FatalAPIError, RetriableAPIError
from singer_sdk.helpers import _catalog, _classproperty
from singer_sdk.pagination import SinglePagePaginator
from singer_sdk.plugin_base import PluginBase
from singer_sdk.singerlib import MetadataMapping
from singer_sdk.streams import RESTStream

from tap_pipedrive import request, sdk_compat, transport

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = th.PropertiesList(th.Property("id", th.IntegerType),
                           th.Property("note", th.StringType)).to_dict()


class _Canned(requests.adapters.BaseAdapter):
    """Answers every request with 200 `{}` and keeps the requests it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        response = requests.Response()
        response.status_code, response._content = 200, b"{}"
        response.url, response.request = request.url or "", request
        return response

    def close(self) -> None:
        pass


class Things(sdk_compat.RESTStreamSeam):
    name = "things"
    path = "/things"
    url_base = "http://127.0.0.1:9"
    primary_keys: ClassVar[list[str]] = ["id"]
    schema = SCHEMA
    emit_activate_version_messages = True
    rows: ClassVar[list[dict]] = [{"id": 1, "note": "a", "extra": "undeclared"}]

    def get_records(self, context: dict | None) -> Any:
        yield from (dict(row) for row in self.rows)

    def get_url_params(self, context: dict | None, next_page_token: Any) -> dict[str, Any]:
        return {"limit": 5}

    def generate_child_contexts(self, record: dict, context: dict | None) -> Any:
        return iter(())  # children only by sync_children_now


class Parts(sdk_compat.RESTStreamSeam):
    name = "parts"
    path = "/parts"
    url_base = "http://127.0.0.1:9"
    schema = SCHEMA
    parent_stream_type = Things
    state_partitioning_keys: ClassVar[list[str]] = []
    contexts: ClassVar[list[Any]] = []

    def get_records(self, context: dict | None) -> Any:
        self.contexts.append(context)
        return iter(())


class SeamTap(sdk_compat.TapSeam):
    name = "tap-seam-check"
    config_jsonschema = th.PropertiesList(th.Property("word", th.StringType)).to_dict()

    def discover_streams(self) -> list[Stream]:
        return [Things(tap=self), Parts(tap=self)]


@pytest.fixture
def tap():
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield SeamTap(config={"word": "a"})
    for signum, handler in handlers.items():  # the SDK's Tap installs its own
        signal.signal(signum, handler)


def messages(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


# --- the private names, as the seam calls them ---------------------------------------------

SIGNATURES = [
    (Stream, "_generate_record_messages", ["self", "record"]),
    (Stream, "_write_record_message", ["self", "record"]),
    (RESTStream, "_request", ["self", "prepared_request", "context"]),
    (RESTStream, "_prepare_request", ["self", "context", "page"]),
    (Stream, "_write_state_message", ["self"]),
    (Stream, "_sync_children", ["self", "child_context"]),
    (Stream, "_sync_records", ["self", "context", "write_messages"]),
    (Stream, "_write_starting_replication_value", ["self", "context"]),
    (Stream, "_finalize_state", ["self", "state"]),
    (Stream, "_write_schema_message", ["self"]),
    (Tap, "_handle_termination", ["self", "signum", "frame"]),
    (_catalog, "get_selected_schema", ["stream_name", "schema", "mask"]),
    (_dict_config, "parse_environment_config", ["config_schema", "prefix", "dotenv_path"]),
]


@pytest.mark.parametrize(("owner", "name", "params"), SIGNATURES,
                         ids=[name for _, name, _ in SIGNATURES])
def test_private_name_has_the_signature_the_seam_calls(owner, name, params):
    assert list(inspect.signature(getattr(owner, name)).parameters) == params


def test_private_properties_exist():
    assert isinstance(PluginBase.__dict__["_env_var_config"], _classproperty.classproperty)
    assert isinstance(PluginBase.__dict__["_env_var_prefix"], _classproperty.classproperty)
    assert issubclass(_classproperty.classproperty, property)
    assert inspect.signature(RESTStream._prepare_request).parameters["context"].kind \
        is inspect.Parameter.KEYWORD_ONLY


# --- what each does -------------------------------------------------------------------------

def test_records_pass_through_record_messages(tap, capsys):
    seen = []

    def record_messages(self: Things, record: dict) -> Any:
        seen.append(dict(record))
        return self.sdk_record_messages(record)

    stream = tap.streams["things"]
    stream.record_messages = record_messages.__get__(stream)
    capsys.readouterr()
    tap.sync_all()
    out = messages(capsys.readouterr().out)
    records = [m for m in out if m["type"] == "RECORD"]
    assert seen == Things.rows  # the hook got the record as processed, before the SDK's pass
    assert [r["record"] for r in records] == [{"id": 1, "note": "a"}]  # SDK pruned "extra"
    assert stream.stream_version is not None
    assert records[0]["version"] == stream.stream_version


def test_a_record_written_through_write_record_makes_a_state_due(tap, capsys):
    """The SDK writes a record through `_write_record_message`, which the seam routes to
    `write_record`, and marks the state unflushed, as the SDK's own does: a STATE follows."""
    stream = tap.streams["things"]
    stream.state_manager.is_flushed = True
    stream._write_record_message({"id": 1, "note": "a"})
    assert stream.state_manager.is_flushed is False
    stream.write_state_now()
    out = messages(capsys.readouterr().out)
    assert [m["type"] for m in out] == ["RECORD", "STATE"]


def test_stream_knows_its_tap(tap):
    assert tap.streams["things"].sdk_tap is tap


def test_write_state_now_writes_a_state_message(tap, capsys):
    stream = tap.streams["things"]
    stream.state_manager.is_flushed = False  # as after a record
    capsys.readouterr()
    stream.write_state_now()
    stream.write_state_now()  # nothing new: not written again
    assert [m["type"] for m in messages(capsys.readouterr().out)] == ["STATE"]


def test_resend_schema_sends_the_mappers_new_schema(tap, capsys):
    stream = tap.streams["things"]
    assert stream.stream_maps  # read once: the SDK caches them
    wider = {**SCHEMA, "properties": {**SCHEMA["properties"], "added": {"type": ["string"]}}}
    tap.mapper.register_raw_stream_schema("things", wider, ["id"])
    capsys.readouterr()
    stream.resend_schema()
    sent = messages(capsys.readouterr().out)
    assert [m["type"] for m in sent] == ["SCHEMA"]
    assert "added" in sent[0]["schema"]["properties"]
    assert "added" in stream.stream_maps[0].transformed_schema["properties"]


def test_sync_children_now_syncs_the_children(tap, capsys):
    Parts.contexts.clear()
    tap.streams["things"].sync_children_now({"id": 7})
    assert Parts.contexts == [{"id": 7}]


class Dated(sdk_compat.RESTStreamSeam):
    """An incremental stream of 1,050 sorted records, a STATE every 100: the record loop's
    whole bookkeeping (bookmark, progress markers, periodic and final STATE) shows."""
    name = "dated"
    path = "/dated"
    url_base = "http://127.0.0.1:9"
    primary_keys: ClassVar[list[str]] = ["id"]
    replication_key = "updated"
    is_sorted = True
    STATE_MSG_FREQUENCY = 100
    schema = th.PropertiesList(th.Property("id", th.IntegerType),
                               th.Property("updated", th.DateTimeType)).to_dict()
    lean = True
    loops: ClassVar[list[str]] = []

    def lean_sync(self) -> bool:
        return self.lean

    def _lean_sync_records(self) -> Any:
        self.loops.append("lean")
        return super()._lean_sync_records()

    def get_records(self, context: dict | None) -> Any:
        since = self.get_starting_replication_key_value(context) or ""
        for i in range(1050):
            if i == 7:
                yield None  # post_process drops it
            updated = f"2025-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z"
            if updated >= since:
                yield {"id": i, "updated": updated}

    def post_process(self, row: dict | None, context: dict | None = None) -> dict | None:
        return row


def _dated_run(lean: bool, capsys, state: dict | None = None) -> list[dict]:
    class LeanTap(SeamTap):
        name = "tap-lean-check"

        def discover_streams(self) -> list[Stream]:
            stream = Dated(tap=self)
            stream.lean = lean
            return [stream]

    capsys.readouterr()
    LeanTap(config={}, state=state).sync_all()
    out = messages(capsys.readouterr().out)
    for m in out:
        m.pop("time_extracted", None)
        for entry in m.get("value", {}).get("bookmarks", {}).values():
            entry.pop("replication_key_signpost", None)
    return out


@pytest.mark.parametrize("state", [None, {"bookmarks": {"dated": {
    "replication_key": "updated", "replication_key_value": "2025-01-01T00:01:00Z"}}}],
    ids=["first-run", "from-state"])
def test_the_lean_record_loop_emits_what_the_sdks_loop_emits(capsys, state):
    Dated.loops.clear()
    lean = _dated_run(True, capsys, state)
    assert Dated.loops == ["lean"]
    sdk = _dated_run(False, capsys, state)
    assert Dated.loops == ["lean"]  # the second run went the SDK's way
    assert lean == sdk
    assert sum(m["type"] == "RECORD" for m in lean) == (1050 if state is None else 990)
    assert sum(m["type"] == "STATE" for m in lean) >= 11  # every 100 records, and the last
    assert lean[-1]["value"]["bookmarks"]["dated"]["replication_key_value"] \
        == "2025-01-01T00:17:29Z"


def test_the_lean_record_loop_leaves_a_record_limit_to_the_sdk(capsys):
    """A dry run's record limit (ABORT_AT_RECORD_COUNT) is the SDK's loop's to apply: it
    pauses the stream (a sorted one) after that many records."""
    Dated.loops.clear()
    Dated.ABORT_AT_RECORD_COUNT = 5
    try:
        with pytest.raises(AbortedSyncPausedException):
            _dated_run(True, capsys)
    finally:
        Dated.ABORT_AT_RECORD_COUNT = None
    assert Dated.loops == ["lean"]  # asked, and handed to the SDK's loop
    assert sum(m["type"] == "RECORD" for m in messages(capsys.readouterr().out)) == 5


def test_prepare_page_request_and_send(tap):
    stream = tap.streams["things"]
    adapter = _Canned()
    stream.requests_session.mount("http://", adapter)
    validated = []
    stream.validate_response = validated.append
    prepared = stream.prepare_page_request(None, SinglePagePaginator())
    assert prepared.url == "http://127.0.0.1:9/things?limit=5"
    response = stream.send(prepared, None)
    assert adapter.sent == [prepared] and validated == [response]


def test_raw_config_is_the_config_itself(tap):
    tap.raw_config["word"] = "b"
    assert tap.config["word"] == "b"


def test_env_var_config_is_the_sdks_hook(monkeypatch):
    monkeypatch.setenv("TAP_SEAM_CHECK_WORD", "from-env")
    assert SeamTap.env_var_prefix() == "TAP_SEAM_CHECK_"
    assert SeamTap.env_var_config()["word"] == "from-env"

    class Parsed(SeamTap):
        @classmethod
        def env_var_config(cls) -> dict[str, Any]:
            return {"word": "parsed"}

    assert Parsed(config=None, parse_env_config=True).config["word"] == "parsed"


def test_the_sdks_signal_handler_calls_on_termination(tap):
    calls = []
    tap.on_termination = lambda signum, frame: calls.append(signum)
    handler = signal.getsignal(signal.SIGTERM)
    assert getattr(handler, "__self__", None) is tap  # installed by the SDK's Tap
    handler(signal.SIGTERM, None)
    assert calls == [signal.SIGTERM]


def test_state_manager_copy_leaves_the_state_alone(tap, caplog):
    stream = tap.streams["things"]
    copied = sdk_compat.state_manager_copy(stream)
    assert copied is not stream.state_manager
    assert copied.tap_state == stream.state_manager.tap_state
    assert copied.tap_state is not stream.state_manager.tap_state
    assert copied._logger.disabled and not stream.state_manager._logger.disabled
    copied.tap_state["bookmarks"] = {"changed": {}}
    assert "changed" not in stream.state_manager.tap_state.get("bookmarks", {})


def test_selected_schema_drops_what_the_catalog_deselects():
    metadata = MetadataMapping.get_standard_metadata(schema=SCHEMA, key_properties=["id"])
    metadata[()].selected = True
    metadata[("properties", "note")].selected = False
    selected = sdk_compat.selected_schema("things", SCHEMA, metadata.resolve_selection())
    assert set(selected["properties"]) == {"id"}


def test_environment_config_reads_prefixed_variables(monkeypatch):
    monkeypatch.setenv("SEAM_CHECK_WORD", "hello")
    assert sdk_compat.environment_config(SCHEMA | {"properties": {"word": {"type": "string"}}},
                                         "SEAM_CHECK_", dotenv_path=os.devnull) == \
        {"word": "hello"}


def test_the_tap_retries_what_the_sdk_retries(tap):
    """request.RETRIED is the SDK's list (RESTStream.request_decorator) plus ResponseTooLarge:
    the tap's decorator cannot wrap the SDK's (it adds a log line per retry and has no
    give-up hook), so the copy is checked here against what the SDK's retries."""
    stream = tap.streams["things"]
    stream.backoff_max_tries = lambda: 2
    def no_wait() -> Any:
        while True:
            yield 0.0

    stream.backoff_wait_generator = no_wait
    stream.backoff_handler = lambda details: None
    candidates = {ConnectionResetError, RetriableAPIError, FatalAPIError, OSError, ValueError,
                  *(getattr(requests.exceptions, n) for n in dir(requests.exceptions)
                    if isinstance(getattr(requests.exceptions, n), type)
                    and issubclass(getattr(requests.exceptions, n), BaseException))}

    def sdk_retries(kind: type[BaseException]) -> bool:
        calls = []

        def fail(*args: Any) -> None:
            calls.append(1)
            raise kind("x") if kind is not RetriableAPIError else kind("x", None)

        with pytest.raises(BaseException):  # noqa: B017
            RESTStream.request_decorator(stream, fail)(None, None)
        return len(calls) == 2

    ours = tuple(k for k in request.RETRIED if k is not transport.ResponseTooLarge)
    for kind in candidates:
        assert sdk_retries(kind) == issubclass(kind, ours), kind


# --- no private SDK name outside the seam ------------------------------------------------

def _sdk_private_names() -> set[str]:
    """Every `_name` the SDK defines or uses as an attribute (not dunders)."""
    names: set[str] = set()
    for path in Path(singer_sdk.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _package_files() -> list[Path]:
    files = [*(ROOT / "tap_pipedrive").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]
    return [f for f in files if f.name != "sdk_compat.py" and "build" not in f.parts]


def _own_names(trees: list[ast.AST]) -> set[str]:
    """`_names` the project defines itself (a method, a `self._x = ...`): one of its own
    classes may share a name with one of the SDK's."""
    own: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                own.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Name) and node.value.id == "self":
                own.add(node.attr)
    return own


def _reserved_names() -> set[str]:
    """The private names of the SDK classes the tap builds on (its streams' and tap's bases,
    the state manager, paginators, writers): never the tap's own, whoever defines them."""
    from singer_sdk.streams._state import StreamStateManager

    bases = {b for c in _sdk_classes() for b in c.__mro__ if b.__module__.startswith("singer_sdk")}
    names: set[str] = set()
    for cls in {*bases, StreamStateManager}:
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        for node in ast.walk(ast.parse(textwrap.dedent(source))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _sdk_classes() -> list[type]:
    import tap_pipedrive.tap
    from tap_pipedrive.streams import STREAMS

    classes = {tap_pipedrive.tap.TapPipedrive, *STREAMS}
    for cls in list(classes):
        classes.update(c for c in cls.__mro__ if c.__module__.startswith("tap_pipedrive"))
    return sorted(classes, key=lambda c: c.__qualname__)


def test_no_sdk_private_name_outside_the_seam():
    private = _sdk_private_names()
    files = _package_files()
    trees = [ast.parse(path.read_text()) for path in files]
    own = _own_names(trees) - _reserved_names()
    found = []
    for path, tree in zip(files, trees, strict=True):
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("singer_sdk"):
                module_private = any(p.startswith("_") for p in node.module.split("."))
                names = [a.name for a in node.names if a.name.startswith("_")]
                if module_private or names:
                    found.append(f"{where}:{node.lineno}: from {node.module} import ...")
            elif isinstance(node, ast.Import):
                found += [f"{where}:{node.lineno}: import {a.name}" for a in node.names
                          if a.name.startswith("singer_sdk")
                          and any(p.startswith("_") for p in a.name.split("."))]
            elif isinstance(node, ast.Attribute) and node.attr in private - own:
                found.append(f"{where}:{node.lineno}: .{node.attr}")
    assert not found, "SDK-private names outside sdk_compat.py:\n" + "\n".join(found)


def test_no_sdk_private_method_overridden_outside_the_seam():
    """A class of the tap that defines a name the SDK's classes keep private overrides it:
    that belongs in sdk_compat.py, behind a public hook."""
    found = []
    for cls in _sdk_classes():
        if cls.__module__ == sdk_compat.__name__:
            continue
        sdk_bases = [b for b in cls.__mro__ if b.__module__.startswith("singer_sdk")]
        for name in vars(cls):
            if name.startswith("_") and not name.startswith("__") and name != "_abc_impl" \
                    and any(name in vars(b) for b in sdk_bases):
                found.append(f"{cls.__module__}.{cls.__qualname__}.{name}")
    assert not found, "SDK-private methods overridden outside sdk_compat.py: " + \
        ", ".join(found)


def test_the_seam_checks_find_a_private_name(tmp_path):
    """The walk above finds what it looks for (it is not vacuous)."""
    bad = tmp_path / "tap_pipedrive" / "bad.py"
    bad.parent.mkdir()
    bad.write_text("from singer_sdk.helpers._util import utc_now\n"
                   "def f(stream):\n    return stream._write_state_message()\n")
    (tmp_path / "plugins").mkdir()
    globals()["ROOT"], saved = tmp_path, ROOT
    try:
        with pytest.raises(AssertionError, match=r"bad.py:1.*\n.*bad.py:3: ._write_state"):
            test_no_sdk_private_name_outside_the_seam()
    finally:
        globals()["ROOT"] = saved

