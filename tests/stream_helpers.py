"""Shared by the stream tests: catalogs that select streams, and runs with them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from helpers import TapRun, run_tap, sandbox_config


def discover(tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    run = run_tap(tmp_path, config, "--discover")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def select(catalog: dict[str, Any], streams: Iterable[str] | None) -> dict[str, Any]:
    """The catalog with exactly `streams` selected (None: every stream)."""
    wanted = None if streams is None else set(streams)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = wanted is None or stream["tap_stream_id"] in wanted
    return catalog


def sync(tmp_path: Path, url: str, catalog: dict[str, Any] | None = None,
         state: dict | None = None, **settings: Any) -> TapRun:
    """A sync against the sandbox at `url`; with `catalog`, through a catalog file."""
    args: list[str] = []
    if catalog is not None:
        path = tmp_path / "catalog.json"
        path.write_text(json.dumps(catalog))
        args = ["--catalog", str(path)]
    run = run_tap(tmp_path, sandbox_config(url, **settings), *args, state=state)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def schema_of(catalog: dict[str, Any], stream: str) -> dict[str, Any]:
    return next(s["schema"] for s in catalog["streams"] if s["tap_stream_id"] == stream)
