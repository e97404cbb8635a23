"""Run the tap as users do (a subprocess of the console script) and read its output."""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TAP = str(Path(sys.executable).with_name("tap-pipedrive"))


@dataclass
class TapRun:
    returncode: int
    stdout: str
    stderr: str
    records: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    schemas: dict[str, dict] = field(default_factory=dict)
    states: list[dict] = field(default_factory=list)

    @property
    def state(self) -> dict:
        return self.states[-1] if self.states else {}

    def ids(self, stream: str) -> list:
        return [r["id"] for r in self.records[stream]]


def free_port() -> int:
    """A loopback port that was free a moment ago: nothing listens on it once this returns."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def script_module(name: str) -> Any:
    """A module of scripts/ (a folder of programs, not a package), imported for its functions."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def run_tap(
    tmp_path: Path,
    config: dict[str, Any] | None,
    *args: str,
    state: dict | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> TapRun:
    """`tap-pipedrive --config <file> [--state <file>] ARGS`, messages parsed."""
    argv = [TAP]
    if config is not None:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        argv += ["--config", str(path)]
    if state is not None:
        path = tmp_path / "state.json"
        path.write_text(json.dumps(state))
        argv += ["--state", str(path)]
    argv += list(args)
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_PIPEDRIVE_")}
    run_env.update(env or {})
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=run_env, stdin=subprocess.DEVNULL
    )
    result = TapRun(proc.returncode, proc.stdout, proc.stderr)
    for line in proc.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue  # not a Singer message (e.g. a pretty-printed catalog)
        if not isinstance(message, dict):
            continue
        kind = message.get("type")
        if kind == "RECORD":
            result.records[message["stream"]].append(message["record"])
        elif kind == "SCHEMA":
            result.schemas[message["stream"]] = message
        elif kind == "STATE":
            result.states.append(message["value"])
    return result


def sandbox_config(url: str, **extra: Any) -> dict[str, Any]:
    return {"api_url": url, "api_token": "sandbox-api-token", **extra}


SUMMARY_COLUMNS = ("records", "requests", "tokens", "time", "retries", "429s", "odd values")


def summary_table(stderr: str) -> dict[str, dict[str, Any]]:
    """The end-of-run table on stderr (progress.py), by stream and `total`: numbers as int,
    `time` as written."""
    messages = [line.rsplit(" | ", 1)[-1] for line in stderr.splitlines()]
    header = [i for i, m in enumerate(messages) if m.split()[:2] == ["stream", "records"]]
    assert len(header) == 1, f"no summary table (or several) on stderr: {stderr[-3000:]}"
    rows: dict[str, dict[str, Any]] = {}
    for message in messages[header[0] + 1:]:
        name, *cells = message.split()
        rows[name] = {column: cell if column == "time" else int(cell)
                      for column, cell in zip(SUMMARY_COLUMNS, cells, strict=True)}
        if name == "total":
            return rows
    raise AssertionError(f"the summary table has no total row: {stderr[-3000:]}")
