"""Every stream against the sandbox: a full sync equals the sandbox's data, incremental runs
return exactly what changed (plus records from the bookmark's own second), deletes arrive."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from stream_helpers import discover, select, sync

from tap_pipedrive.endpoints import ENDPOINTS
from tap_pipedrive.streams import STREAMS
from tap_pipedrive_sandbox import Sandbox

# stream -> (sandbox entity or field endpoint, primary key property), from the endpoint table
TOP_LEVEL = {entry.name: (entry.entity, entry.primary_keys[0]) for entry in ENDPOINTS
             if entry.path and entry.replication != "child"}
# child stream -> the record property naming the parent: the one the tap sets where items lack
# it, else the item's own (below); None: listed from both sides (relationships)
PARENT = {entry.name: entry.parent_property or None for entry in ENDPOINTS
          if entry.replication == "child"} | {"deal_products": "deal_id",
                                               "deal_installments": "deal_id"}
# Where the same record comes twice by design: a thread in two folders, a relationship
# listed under both organizations.
REPEATS = {"mail_threads", "organization_relationships"}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """One sync of every stream against a small sandbox."""
    tmp = tmp_path_factory.mktemp("full")
    with Sandbox(records=80, seed=21, burst_limit=0) as sb:
        config = {"api_url": sb.url, "api_token": sb.api_token}
        catalog = select(discover(tmp, config), None)
        yield sb, sync(tmp, sb.url, catalog)


def test_every_entry_of_the_endpoint_table_is_a_stream_in_its_order():
    assert [s.name for s in STREAMS] == [entry.name for entry in ENDPOINTS]
    assert set(TOP_LEVEL) | set(PARENT) | {"custom_field_mappings"} == {s.name for s in STREAMS}


@pytest.mark.parametrize("stream", sorted(TOP_LEVEL))
def test_full_sync_equals_sandbox(full, stream):
    sb, run = full
    entity, key = TOP_LEVEL[stream]
    expected = [r[key] for r in sb.data.records(entity)]
    if stream in ("persons", "organizations", "activities", "products"):  # no deleted filter
        expected = [r[key] for r in sb.data.records(entity) if not r.get("is_deleted")]
    got = [r[key] for r in run.records[stream]]
    assert expected, f"the sandbox has no {stream}"
    assert sorted(set(got), key=str) == sorted(expected, key=str)
    if stream not in REPEATS:
        assert len(got) == len(expected), f"duplicates in {stream}"


@pytest.mark.parametrize("stream", sorted(PARENT))
def test_child_stream_equals_sandbox(full, stream):
    sb, run = full
    truth = sb.data.child_records(stream)
    records = run.records[stream]
    assert truth, f"the sandbox has no {stream}"
    if PARENT[stream] is not None:  # as many children per parent as the sandbox has
        assert Counter(r[PARENT[stream]] for r in records) == Counter(p for p, _ in truth)
    ident = next((k for k in ("id", "uuid") if k in truth[0][1]), None)
    if ident:
        assert {r[ident] for r in records} == {item[ident] for _, item in truth}
    if stream not in REPEATS:
        assert len(records) == len(truth)


def test_deleted_and_archived_records_arrive(full):
    sb, run = full
    deleted = {d["id"] for d in run.records["deals"] if d["is_deleted"]}
    assert deleted and deleted == {d["id"] for d in sb.data.records("deals") if d["is_deleted"]}
    assert all(d["is_archived"] for d in run.records["archived_deals"])
    assert not {d["id"] for d in run.records["deals"]} & {
        d["id"] for d in run.records["archived_deals"]}
    assert {p["status"] for p in run.records["projects"]} >= {"deleted"} or not any(
        p["status"] == "deleted" for p in sb.data.records("projects"))
    assert all(lead["is_archived"] for lead in run.records["archived_leads"])


def test_v1_timestamps_are_rfc3339(full):
    _, run = full
    for stream, key in (("notes", "update_time"), ("users", "modified"), ("files", "add_time"),
                        ("deal_flow", "timestamp"), ("deal_changelog", "time")):
        values = [r[key] for r in run.records[stream]]
        assert values and all(v.endswith("Z") and "T" in v for v in values), stream


# --- incremental -------------------------------------------------------------------------------

# the server filters on update_time / only sorts by it
FILTERED = [entry.name for entry in ENDPOINTS if entry.replication == "incremental"]
NEWEST_FIRST = [entry.name for entry in ENDPOINTS if entry.replication == "newest_first"]
INCREMENTAL = FILTERED + NEWEST_FIRST


def _changed_between_runs(sb: Sandbox, state: dict) -> dict[str, set]:
    """Touch a few records of each stream, create one where possible, and touch one more in
    the very second of the bookmark (a same-second update must not be lost)."""
    changed: dict[str, set] = {}
    for stream in INCREMENTAL:
        entity, key = TOP_LEVEL[stream]
        positions = list(range(1, min(3, sb.data.counts[entity] - 1) + 1))
        changed[stream] = {r[key] for r in sb.data.touch(entity, ids=positions)}
        changed[stream] |= {r[key] for r in sb.data.create(entity, count=1)}
        mark = state["bookmarks"][stream]["replication_key_value"]
        untouched = next(i for i, r in enumerate(sb.data.records(entity), 1)
                         if r[key] not in changed[stream])
        [tie] = sb.data.touch(entity, ids=[untouched], update_time=mark)
        changed[stream].add(tie[key])
    return changed


def test_incremental_runs_return_exactly_the_changes(make_sandbox, tmp_path):
    sb = make_sandbox(records=150, seed=22, burst_limit=0)
    catalog = select(discover(tmp_path, {"api_url": sb.url, "api_token": sb.api_token}),
                     INCREMENTAL)
    first = sync(tmp_path, sb.url, catalog)
    for stream in INCREMENTAL:
        assert first.state["bookmarks"][stream]["replication_key_value"], stream
    changed = _changed_between_runs(sb, first.state)

    second = sync(tmp_path, sb.url, catalog, state=first.state)
    for stream in INCREMENTAL:
        key = TOP_LEVEL[stream][1]
        got = {r[key] for r in second.records[stream]}
        assert changed[stream] <= got, stream
        # Anything else was updated in the bookmark's own second (bookmarks are inclusive).
        mark = _second(first.state["bookmarks"][stream]["replication_key_value"])
        extra = {_second(r["update_time"]) for r in second.records[stream]
                 if r[key] not in changed[stream]}
        assert extra <= {mark}, stream

    third = sync(tmp_path, sb.url, catalog, state=second.state)
    for stream in INCREMENTAL:
        mark = _second(second.state["bookmarks"][stream]["replication_key_value"])
        assert {_second(r["update_time"]) for r in third.records[stream]} <= {mark}, stream


def _second(timestamp: str) -> str:
    """Bookmarks compare by the second: v1 leads carry milliseconds."""
    return timestamp[:19]


def test_newest_first_stops_at_the_bookmark(make_sandbox, tmp_path):
    sb = make_sandbox(records=600, seed=23, burst_limit=0)  # 120 files: two pages of 100
    catalog = select(discover(tmp_path, {"api_url": sb.url, "api_token": sb.api_token}),
                     ["files"])
    first = sync(tmp_path, sb.url, catalog)
    assert len(first.records["files"]) == 120
    sb.data.touch("files", ids=[5, 6])
    sb.reset_requests()
    second = sync(tmp_path, sb.url, catalog, state=first.state)
    # One page, newest first: the two changes, then the bookmark's second, then stop.
    calls = [r for r in sb.requests if r["path"] == "/api/v1/files"]
    assert len(calls) == 1 and calls[0]["query"]["sort"] == "update_time DESC"
    mark = first.state["bookmarks"]["files"]["replication_key_value"]
    got = {f["id"]: f["update_time"] for f in second.records["files"]}
    assert {5, 6} <= set(got)
    assert {t for i, t in got.items() if i not in (5, 6)} == {mark}
    assert len(got) < len(first.records["files"])


def test_filtered_streams_ask_the_server(make_sandbox, tmp_path):
    sb = make_sandbox(records=60, seed=24, burst_limit=0)
    catalog = select(discover(tmp_path, {"api_url": sb.url, "api_token": sb.api_token}),
                     ["leads", "notes", "archived_deals"])
    first = sync(tmp_path, sb.url, catalog)
    sb.reset_requests()
    sync(tmp_path, sb.url, catalog, state=first.state)
    by_path: dict[str, dict[str, Any]] = {r["path"]: r["query"] for r in sb.requests}
    assert by_path["/api/v1/leads"]["sort"] == "update_time ASC"
    assert by_path["/api/v1/leads"]["updated_since"].endswith("Z")
    assert by_path["/api/v1/notes"]["updated_since"].endswith("Z")
    assert by_path["/api/v2/deals/archived"]["status"] == "open,won,lost,deleted"
    assert by_path["/api/v2/deals/archived"]["sort_by"] == "update_time"


# --- the README -----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent




def test_readme_lists_every_endpoint_left_out():
    """Each GET endpoint of Pipedrive's specs is a stream's, or named (with its reason) under
    'Endpoints left out'."""
    from test_sandbox_spec import spec

    readme = (ROOT / "README.md").read_text()
    left_out = readme.split("### Endpoints left out", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(/api/v[12]/[^`]+)`", left_out))
    streams = set()
    for stream in STREAMS:
        match = re.match(r"^/api/(v1|v2)(/.*)$", getattr(stream, "path", None) or "")
        if match:
            streams.add(f"/api/{match.group(1)}" + re.sub(r"\{[^}]*\}", "{id}", match.group(2)))
    for version in ("v1", "v2"):
        for path, operations in spec(version)["paths"].items():
            if "get" in operations:
                full = f"/api/{version}{path}"
                assert full in streams or full in named, f"{full}: not a stream, not explained"
    assert not named & streams, f"both a stream and left out: {named & streams}"
