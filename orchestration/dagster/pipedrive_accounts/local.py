"""Everything `make accounts-demo`, the tests and the benchmark start on this machine.

Sandboxes (one `tap-pipedrive sandbox` process per account, each with its own seed, token and
custom field names), a throw-away PostgreSQL server (localpg.py), and a Dagster instance in a
temporary DAGSTER_HOME: PostgreSQL storage, the queued run coordinator with one run per
account and a limit for the machine, and `dagster-daemon` launching the runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from .localpg import Postgres, find_bin_dir

BIN = Path(sys.executable).parent
CODE_DIR = Path(__file__).resolve().parent.parent  # orchestration/dagster
ASSET = "pipedrive_account"
JOB = "sync_accounts"
# Streams whose rows the demo counts against the sandbox (the core entities).
STREAMS = ("deals", "persons", "organizations", "activities", "products", "pipelines",
           "stages", "users")


class SandboxProcess:
    """`tap-pipedrive sandbox` in a child process; its data read through the admin API."""

    def __init__(self, name: str, folder: Path, seed: int, records: int, latency: float = 0.0,
                 token: str | None = None) -> None:
        self.name, self.seed, self.records = name, seed, records
        self.api_token = token or f"token-{name}"
        self.log = folder / f"sandbox-{name}.log"
        argv = [str(BIN / "tap-pipedrive"), "sandbox", "--port", "0", "--records", str(records),
                "--seed", str(seed), "--api-token", self.api_token,
                "--custom-field-suffix", name, "--latency", str(latency)]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = self.log.read_text()
            if " on http://" in text:
                return text.split(" on ", 1)[1].split(" ", 1)[0]
            if self.process.poll() is not None:
                raise RuntimeError(f"sandbox {self.name} did not start: {text.strip()}")
            time.sleep(0.1)
        raise RuntimeError(f"sandbox {self.name} did not start in 60 s")

    def records_of(self, entity: str) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/_sandbox/records/{entity}", timeout=60).json()["data"]

    def expected_rows(self, stream: str) -> int:
        """Rows the stream loads: every deal (deleted ones carry is_deleted), the others
        without deleted records (the API lists none)."""
        rows = self.records_of(stream)
        return len(rows) if stream == "deals" else sum(1 for r in rows if not r.get("is_deleted"))

    def touch(self, entity: str, ids: list[int]) -> None:
        requests.post(f"{self.url}/_sandbox/touch", json={"entity": entity, "ids": ids},
                      timeout=60).raise_for_status()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def start_postgres(root: Path) -> Postgres:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl): install the "
                           "Debian package postgresql, or set PG_BIN")
    server = Postgres(bin_dir, root)
    server.start()
    server.sql("create database dagster", database="postgres")
    return server


def write_accounts(path: Path, postgres: Postgres, sandboxes: list[SandboxProcess],
                   streams: tuple[str, ...] = STREAMS) -> dict[str, str]:
    """The accounts file of the sandboxes; returns the variables holding their tokens."""
    env = {f"PIPEDRIVE_TOKEN_{sb.name.upper()}": sb.api_token for sb in sandboxes}
    doc = {
        "warehouse": {"host": "127.0.0.1", "port": postgres.port, "user": "postgres",
                      "database": "warehouse"},
        "run_dir": str(path.parent / "accounts-run"),
        "accounts": [{
            "name": sb.name, "auth_method": "basic", "api_url": sb.url,
            "credentials": {"api_token": {"env": f"PIPEDRIVE_TOKEN_{sb.name.upper()}"}},
            "target_schema": f"pipedrive_{sb.name}", "streams": list(streams),
            "settings": {"progress_interval": 0},
        } for sb in sandboxes],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return env


def instance_yaml(postgres: Postgres, max_runs: int) -> dict[str, Any]:
    """orchestration/dagster/dagster.yaml, the production instance's, with the machine's limit
    and a quicker dequeue; its PostgreSQL is the local one (DAGSTER_PG_* in `env`)."""
    doc = yaml.safe_load((CODE_DIR / "dagster.yaml").read_text())
    doc["storage"]["postgres"]["postgres_db"]["port"] = postgres.port
    queue = doc["run_coordinator"]["config"]
    queue.update(max_concurrent_runs=max_runs, dequeue_interval_seconds=1)
    return doc


INSTANCE_ENV = {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_USER": "postgres",
                "DAGSTER_PG_PASSWORD": "unused-trust-auth"}


@dataclass
class RunResult:
    account: str
    status: str  # SUCCESS, FAILURE, CANCELED
    metadata: dict[str, Any]
    error: str

    @property
    def records(self) -> dict[str, int]:
        return dict(self.metadata.get("records_per_stream") or {})


class LocalDagster:
    """A Dagster instance in `home`, its daemon running, the code location loaded."""

    def __init__(self, home: Path, postgres: Postgres, accounts_file: Path,
                 env: dict[str, str], max_runs: int = 4) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        (home / "dagster.yaml").write_text(yaml.safe_dump(instance_yaml(postgres, max_runs)))
        self.workspace = home / "workspace.yaml"
        self.workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": {
            "module_name": "pipedrive_accounts.definitions",
            "working_directory": str(CODE_DIR), "executable_path": sys.executable}}]}))
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")},
                    **env, **INSTANCE_ENV, "DAGSTER_HOME": str(home),
                    "PIPEDRIVE_ACCOUNTS_FILE": str(accounts_file),
                    "PYTHONPATH": str(CODE_DIR)}
        os.environ.update(INSTANCE_ENV, DAGSTER_HOME=str(home))  # this process reads it too
        # Ctrl-C or SIGTERM of this process: the finally blocks stop what it started.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        self.daemon_log = open(home / "daemon.log", "wb")  # noqa: SIM115 (closed in stop)
        self.daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace)],
            env=self.env, cwd=home, stdout=self.daemon_log, stderr=subprocess.STDOUT)
        from dagster import DagsterInstance

        self.instance = DagsterInstance.get()

    def backfill(self, accounts: list[str], label: str) -> None:
        """Queue one run per account (the partitions); the daemon launches them."""
        done = subprocess.run(
            [str(BIN / "dagster"), "job", "backfill", "-w", str(self.workspace), "-j", JOB,
             "--partitions", ",".join(accounts), "--tags", json.dumps({"demo/round": label}),
             "--noprompt"], env=self.env, cwd=self.home, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"dagster job backfill failed: {done.stderr[-3000:]}")

    def wait(self, label: str, count: int, timeout: float = 900) -> list[RunResult]:
        from dagster import DagsterRunStatus, RunsFilter

        finished = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE,
                    DagsterRunStatus.CANCELED}
        deadline = time.monotonic() + timeout
        while True:
            runs = self.instance.get_runs(filters=RunsFilter(tags={"demo/round": label}))
            if len(runs) >= count and all(r.status in finished for r in runs):
                return [self._result(r) for r in runs]
            if self.daemon.poll() is not None:
                raise RuntimeError(f"dagster-daemon stopped; see {self.home / 'daemon.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"runs of round {label} not done in {timeout:.0f} s")
            time.sleep(0.5)

    def _result(self, run: Any) -> RunResult:
        from dagster import DagsterEventType

        metadata: dict[str, Any] = {}
        for event in self.instance.all_logs(run.run_id,
                                            of_type=DagsterEventType.ASSET_MATERIALIZATION):
            found = event.dagster_event.event_specific_data.materialization.metadata
            metadata = {k: v.value for k, v in found.items()}
        errors = []
        for event in self.instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE):
            data = event.dagster_event.event_specific_data
            user = getattr(data, "user_failure_data", None)
            errors.append(user.description if user and user.description
                          else (data.error.message.strip() if data.error else "failed"))
        return RunResult(run.tags.get("account", "?"), run.status.value, metadata,
                         "; ".join(errors))

    def stop(self) -> None:
        import psutil  # a dependency of Dagster's

        try:  # runs still going (an interrupted demo) would outlive the daemon
            left = psutil.Process(self.daemon.pid).children(recursive=True)
        except psutil.Error:
            left = []
        if self.daemon.poll() is None:
            self.daemon.terminate()
            try:
                self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        psutil.wait_procs(left, timeout=30)
        self.daemon_log.close()
        self.instance.dispose()
