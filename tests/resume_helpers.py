"""Shared by the fault, rate-limit and resume tests: pick streams through a catalog, run the
tap with the test-friendly retry settings, kill it, and compare what several runs emitted
with a clean sync."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from helpers import TAP, TapRun, run_tap, sandbox_config
from stream_helpers import discover, select

# The core streams, enough pages at records=1200 (activities, deals, persons: 3 pages each).
CORE = ("activities", "deals", "organizations", "persons", "pipelines", "stages", "users")
FAST_RETRIES = {"retry_backoff_seconds": 0.01, "max_retries": 3}


def catalog(tmp_path: Path, streams: tuple[str, ...] = CORE) -> Path:
    """A catalog (from --discover) selecting only `streams`."""
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(select(discover(tmp_path, {}), streams)))
    return path


def config(url: str, **extra: Any) -> dict[str, Any]:
    return sandbox_config(url, **{**FAST_RETRIES, **extra})


def sync(tmp_path: Path, cfg: dict, cat: Path, state: dict | None = None, **kw: Any) -> TapRun:
    return run_tap(tmp_path, cfg, "--catalog", str(cat), state=state, **kw)


def parse(stdout: str, returncode: int = 0, stderr: str = "") -> TapRun:
    """Singer messages of a (possibly killed) run; a cut last line is ignored."""
    result = TapRun(returncode, stdout, stderr)
    for line in stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("type") == "RECORD":
            result.records[message["stream"]].append(message["record"])
        elif message.get("type") == "STATE":
            result.states.append(message["value"])
    return result


def start_and_kill(tmp_path: Path, cfg: dict, cat: Path, state: dict | None, after: float,
                   sig: int = signal.SIGKILL) -> tuple[TapRun, bool]:
    """Start a sync, send `sig` (`kill -9` by default) `after` seconds later if it still
    runs; (what it had written to stdout, whether it was killed)."""
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    argv = [TAP, "--config", str(tmp_path / "config.json"), "--catalog", str(cat)]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        argv += ["--state", str(tmp_path / "state.json")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_PIPEDRIVE_")}
    out = tmp_path / "stdout.jsonl"
    with out.open("wb") as stdout:
        proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, env=env)
        killed = False
        try:
            proc.wait(timeout=after)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, sig)
            killed = True
            proc.wait(timeout=60)
    return parse(out.read_text(errors="replace"), proc.returncode), killed


def union(*runs: TapRun) -> dict[str, set]:
    ids: dict[str, set] = defaultdict(set)
    for run in runs:
        for stream, records in run.records.items():
            ids[stream] |= {r["id"] for r in records}
    return dict(ids)


def ids_of(run: TapRun) -> dict[str, set]:
    return union(run)


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
