"""The fast path (the tap's single conform pass, buffered writer, pages fetched ahead in
parallel, backfills read in time windows) emits exactly what the plain path emits (the SDK's
own conformance as well, one page at a time): the same messages, in the same order, with the
same state."""

from __future__ import annotations

import json

import pytest
from helpers import TAP, run_tap, sandbox_config


def messages(stdout: str) -> list[dict]:
    out = []
    for line in stdout.splitlines():
        message = json.loads(line)
        message.pop("time_extracted", None)  # the moment of reading, different per run
        if message["type"] == "STATE":  # the signpost is the run's start time
            for entry in message["value"].get("bookmarks", {}).values():
                entry.pop("replication_key_signpost", None)
        out.append(message)
    return out


def deselecting_catalog(tmp_path, config) -> str:
    """Every stream as discovered, with a few properties deselected (top level and nested)."""
    import subprocess

    (tmp_path / "discover.json").write_text(json.dumps(config))
    catalog = json.loads(subprocess.run([TAP, "--config", str(tmp_path / "discover.json"),
                                         "--discover"], capture_output=True, text=True,
                                        check=True).stdout)
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] not in ("deals", "persons", "users"):
            continue
        for meta in entry["metadata"]:
            if meta["breadcrumb"] in (["properties", "title"], ["properties", "emails"],
                                      ["properties", "email"], ["properties", "value"]):
                meta["metadata"]["selected"] = False
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return str(path)


PLAIN = {"sdk_conformance": True, "max_parallel_requests": 1}
# A window per estimated page (the default allows one per 50 pages): the sandbox's 3 pages of
# deals, persons and activities are read in several windows each.
FAST = {"sdk_conformance": False, "max_parallel_requests": 4, "window_overhead_percent": 100}
MID_STATE = {"bookmarks": {name: {"replication_key": "update_time",
                                  "replication_key_value": "2025-06-01T00:00:00Z"}
                           for name in ("deals", "persons", "activities", "products")}}


@pytest.mark.parametrize("variant", ["default", "deselected", "maps-and-flattening",
                                     "from-state", "start-date"])
def test_fast_path_emits_what_the_plain_path_emits(shared_sandbox, tmp_path, variant):
    config = sandbox_config(shared_sandbox.url)
    args: list[str] = []
    state = MID_STATE if variant == "from-state" else None
    if variant == "start-date":
        config["start_date"] = "2025-03-01T00:00:00Z"
    if variant == "deselected":
        args = ["--catalog", deselecting_catalog(tmp_path, config)]
    if variant == "maps-and-flattening":
        config.update(flattening_enabled=True, flattening_max_depth=1, stream_maps={
            "deals": {"title_upper": "title.upper()", "value": "__NULL__"}})
    runs = {}
    for path, settings in (("fast", FAST), ("plain", PLAIN)):
        folder = tmp_path / path
        folder.mkdir()
        run = run_tap(folder, {**config, **settings}, *args, state=state)
        assert run.returncode == 0, run.stderr[-2000:]
        runs[path] = messages(run.stdout)
        if path == "fast" and variant == "default":
            for windowed in ("deals", "activities"):  # "deals: about 6 pages; reading 2 ranges"
                assert f"{windowed}: about " in run.stderr, run.stderr[-3000:]
    fast, plain = runs["fast"], runs["plain"]
    assert sum(m["type"] == "RECORD" for m in fast) > 1000
    assert sum(m["type"] == "STATE" for m in fast) > 10
    assert fast == plain
    if variant == "deselected":
        deals = [m["record"] for m in fast if m["type"] == "RECORD" and m["stream"] == "deals"]
        assert deals and not any("title" in d or "value" in d for d in deals)
