"""The endpoint table (tap_pipedrive/endpoints.py) is the one place a stream is declared: its
entries hang together, and a new v2 list is one entry plus its sandbox data (and its schema,
which scripts/generate_schemas.py writes from the spec)."""

from __future__ import annotations

import io
import json
import re
import urllib.request
from contextlib import redirect_stdout
from typing import Any

import pytest
from helpers import sandbox_config

from tap_pipedrive import tap as tap_module
from tap_pipedrive.client import V2Stream
from tap_pipedrive.endpoints import BY_NAME, ENDPOINTS, Endpoint
from tap_pipedrive.streams import BEHAVIOURS, STREAMS
from tap_pipedrive.streams.base import static_schema
from tap_pipedrive.streams.factory import stream_classes
from tap_pipedrive.tap import TapPipedrive
from tap_pipedrive_sandbox import api


def test_names_are_unique_and_references_resolve():
    assert len(BY_NAME) == len(ENDPOINTS)
    for entry in ENDPOINTS:
        if entry.custom_fields:
            assert BY_NAME[entry.custom_field_source].field_metadata, entry.name
        if entry.replication == "child":
            assert entry.parent in BY_NAME and entry.parent_param, entry.name
            # a path placeholder is the parent parameter, or there is none
            assert set(re.findall(r"\{(\w+)\}", entry.path)) <= {entry.parent_param}, entry.name
        else:
            assert not (entry.parent or entry.parent_param or entry.batch_param), entry.name
        assert (entry.replication == "newest_first") == bool(entry.sort), entry.name
        assert entry.version in ("v1", "v2") or entry.paging == "none", entry.name


def test_every_class_of_its_own_names_one_entry():
    named = [cls.__dict__["endpoint"] for cls in BEHAVIOURS]
    assert len(named) == len(set(named)) and set(named) <= set(BY_NAME)
    with pytest.raises(ValueError, match="no entry"):
        stream_classes(ENDPOINTS[:3], BEHAVIOURS)
    with pytest.raises(ValueError, match="no class of its own"):
        stream_classes([BY_NAME["custom_field_mappings"]], [])


def test_a_stream_is_built_from_its_entry():
    deals = next(s for s in STREAMS if s.name == "deals")
    assert deals.path == "/api/v2/deals" and deals.windowed  # type: ignore[attr-defined]
    assert deals.custom_field_source.name == "deal_fields"  # type: ignore[attr-defined]
    phases = next(s for s in STREAMS if s.name == "phases")
    assert phases.parent_stream_type.name == "boards"  # type: ignore[attr-defined]


# --- a new stream: one entry ----------------------------------------------------------------

# A v2 cursor list the tap does not have. Its sandbox data: the tasks' (entity); its schema:
# what scripts/generate_schemas.py would write for it, here the tasks' own.
NEW = Endpoint("open_tasks", "/api/v2/openTasks", "cursor", entity="tasks")


def _get(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"x-api-token": "sandbox-api-token"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def _sync(config: dict[str, Any], catalog: dict[str, Any]) -> dict[str, list[dict]]:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")  # the tap's writer needs .buffer
    with redirect_stdout(out):
        TapPipedrive(config=config, catalog=catalog, parse_env_config=False).sync_all()
    out.flush()
    records: dict[str, list[dict]] = {}
    for line in raw.getvalue().decode().splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            records.setdefault(message["stream"], []).append(message["record"])
    return records


def test_a_new_v2_list_is_one_entry_plus_sandbox_data(make_sandbox, monkeypatch):
    table = (*ENDPOINTS, NEW)
    monkeypatch.setattr(api, "ROUTES", api.routes(table))  # the sandbox serves the table
    streams = stream_classes(table, BEHAVIOURS)  # the tap's streams from the same table
    new = streams[-1]
    monkeypatch.setattr(new, "schema", static_schema("tasks"), raising=False)
    monkeypatch.setattr(tap_module, "STREAMS", streams)
    assert issubclass(new, V2Stream) and new.path == NEW.path  # type: ignore[attr-defined]

    sb = make_sandbox(records=120, seed=41, burst_limit=0)
    truth = [task["id"] for task in sb.data.records("tasks")]
    assert len(truth) == 12
    # The sandbox pages it by cursor, as a v2 list.
    url, seen = f"{sb.url}/api/v2/openTasks?limit=5", []
    while url:
        page = _get(url)
        seen += [item["id"] for item in page["data"]]
        cursor = page["additional_data"]["next_cursor"]
        url = cursor and f"{sb.url}/api/v2/openTasks?limit=5&cursor={cursor}"
    assert seen == truth

    config = sandbox_config(sb.url)
    catalog = TapPipedrive(config=config, parse_env_config=False).catalog_dict
    (entry,) = [s for s in catalog["streams"] if s["tap_stream_id"] == "open_tasks"]
    (top,) = [m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == []]
    assert top["selected-by-default"] is True and list(entry["key_properties"]) == ["id"]
    for stream in catalog["streams"]:
        for meta in stream["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = stream["tap_stream_id"] == "open_tasks"
    sb.reset_requests()
    records = _sync(config, catalog)
    assert [r["id"] for r in records["open_tasks"]] == truth
    assert [r["path"] for r in sb.requests if r["path"].startswith("/api/v2/open")] == [
        "/api/v2/openTasks"]
