"""One account's sync: `tap-pipedrive | target-postgres`, with nothing shared between accounts.

Run by a Dagster materialization through Dagster Pipes (definitions.py), or alone (a Kubernetes
Job, an Airflow task, a shell):

    python -m pipedrive_accounts.sync --accounts accounts.yaml north

Everything the run writes is in the account's own folder (`<run_dir>/<name>/`: the tap's and
the loader's config, the catalog, the state handed to the tap, the OAuth settings file and its
lock); the state between runs is one row per account in PostgreSQL (state.py). The config
files holding secrets are removed when the run ends. The exit code is the tap's (0 done, 75
budget or run cap reached with state saved, 1 error, 130/143 interrupted), or 1 when the loader
failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .accounts import Account, AccountsError, Registry, load
from .state import AccountBusy, StateStore

BIN = Path(sys.executable).parent
# Variables a tap or loader could read as its own settings: each account gets only its files.
PRIVATE_PREFIXES = ("TAP_PIPEDRIVE_", "TARGET_POSTGRES_", "DAGSTER_PIPES_", "MELTANO_")
SUMMARY_ROW = re.compile(r"^(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s")


@dataclass
class Outcome:
    exit_code: int
    error: str = ""
    records: dict[str, int] = field(default_factory=dict)  # per stream, from the tap's summary
    requests: int = 0
    tokens: int = 0
    state_saved: bool = False

    @property
    def total(self) -> int:
        return sum(self.records.values())


class _TapLog:
    """Forwards the tap's stderr and keeps its summary table and its error line."""

    def __init__(self, stream: IO[bytes], out: IO[bytes]) -> None:
        self.outcome = Outcome(0)
        self._in_summary = False
        self.thread = threading.Thread(target=self._read, args=(stream, out), daemon=True)
        self.thread.start()

    def _read(self, stream: IO[bytes], out: IO[bytes]) -> None:
        for raw in stream:
            out.write(raw)
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith("tap-pipedrive: error:"):
                self.outcome.error = line
            message = line.rsplit("| ", 1)[-1].strip()
            if message.startswith("Sync summary ("):
                self._in_summary = True
            elif self._in_summary and (row := SUMMARY_ROW.match(message)):
                stream_name, records, requests, tokens = row.groups()
                if stream_name == "total":
                    self.outcome.requests, self.outcome.tokens = int(requests), int(tokens)
                    self._in_summary = False
                elif int(records):
                    self.outcome.records[stream_name] = int(records)
        out.flush()


def _private_file(path: Path, doc: Any) -> Path:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f)
    return path


def _child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(PRIVATE_PREFIXES)}


def _select(catalog: dict[str, Any], streams: tuple[str, ...]) -> dict[str, Any]:
    if not streams:
        return catalog
    known = {s["tap_stream_id"] for s in catalog["streams"]}
    if missing := sorted(set(streams) - known):
        raise AccountsError(f"unknown stream(s): {', '.join(missing)}")
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


@contextlib.contextmanager
def _forward_signals(procs: list[subprocess.Popen]) -> Iterator[None]:
    """SIGTERM/SIGINT go to the tap, which stops with its state written; the loader then reads
    to the end of its input and commits what it got."""
    def forward(signum: int, frame: Any) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def sync(registry: Registry, account: Account, tap: str | None = None,
         target: str | None = None) -> Outcome:
    tap = tap or str(BIN / "tap-pipedrive")
    target = target or str(BIN / "target-postgres")
    folder = registry.run_dir / account.name
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        store = StateStore(registry.warehouse, account.name)
    except Exception as exc:  # psycopg's errors: the state backend is unreachable
        return Outcome(1, f"tap-pipedrive: error: state backend: {str(exc).splitlines()[0]}")
    secrets = [folder / "tap-config.json", folder / "target-config.json"]
    try:
        store.lock()
        config = _private_file(secrets[0], account.tap_config(folder))
        target_config = _private_file(secrets[1], {
            **registry.warehouse.connection(), "default_target_schema": account.target_schema})
        env = _child_env()
        found = subprocess.run([tap, "--config", str(config), "--discover"], cwd=folder, env=env,
                               capture_output=True)
        if found.returncode != 0:
            sys.stderr.buffer.write(found.stderr)
            errors = [line for line in found.stderr.decode(errors="replace").splitlines()
                      if line.startswith("tap-pipedrive: error:")]
            return Outcome(found.returncode, errors[-1] if errors else "discovery failed")
        catalog = folder / "catalog.json"
        catalog.write_text(json.dumps(_select(json.loads(found.stdout), account.streams)))
        argv = [tap, "--config", str(config), "--catalog", str(catalog)]
        state = store.get()
        if state:
            (folder / "state.json").write_text(json.dumps(state))
            argv += ["--state", str(folder / "state.json")]
        return _pipe(argv, [target, "--config", str(target_config)], folder, env, store)
    except (AccountsError, AccountBusy) as exc:
        return Outcome(1, f"tap-pipedrive: error: {exc}")
    finally:
        for path in secrets:
            path.unlink(missing_ok=True)
        store.close()


def _pipe(tap_argv: list[str], target_argv: list[str], folder: Path, env: dict[str, str],
          store: StateStore) -> Outcome:
    with open(folder / "target.log", "wb") as target_log:
        tap = subprocess.Popen(tap_argv, cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
        target = subprocess.Popen(target_argv, cwd=folder, env=env, stdin=tap.stdout,
                                  stdout=subprocess.PIPE, stderr=target_log)
        assert tap.stdout and tap.stderr and target.stdout
        tap.stdout.close()  # the loader alone reads it: the tap sees a broken pipe if it dies
        log = _TapLog(tap.stderr, sys.stderr.buffer)
        last_state = None
        with _forward_signals([tap]):
            for line in target.stdout:  # the loader echoes each state once it has committed
                with contextlib.suppress(ValueError):
                    last_state = json.loads(line)
            target.wait()
            tap.wait()
        log.thread.join()
    outcome = log.outcome
    outcome.exit_code = tap.returncode
    if last_state is not None:
        store.put(last_state)
        outcome.state_saved = True
    if target.returncode != 0:
        tail = (folder / "target.log").read_text(errors="replace").strip().splitlines()[-1:]
        outcome.exit_code = outcome.exit_code if outcome.exit_code not in (0, 1) else 1
        outcome.error = f"target-postgres failed (exit {target.returncode}): " + "".join(tail)
    elif outcome.exit_code != 0 and not outcome.error:
        outcome.error = f"tap-pipedrive exited with {outcome.exit_code}"
    return outcome


def main(argv: list[str] | None = None) -> int:
    from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR, open_dagster_pipes

    if DAGSTER_PIPES_CONTEXT_ENV_VAR in os.environ:  # started by a materialization
        with open_dagster_pipes() as pipes:
            name = pipes.get_extra("account")
            try:
                registry = load(pipes.get_extra("accounts_file"))
                account = registry.account(name)
                outcome = sync(registry, account)
                schema = account.target_schema
            except AccountsError as exc:
                outcome, schema = Outcome(1, f"tap-pipedrive: error: {exc}"), ""
            report = {"exit_code": outcome.exit_code, "error": outcome.error,
                      "records": outcome.records, "requests": outcome.requests,
                      "tokens": outcome.tokens, "state_saved": outcome.state_saved}
            pipes.report_custom_message(report)
            if outcome.exit_code == 0:
                pipes.report_asset_materialization(metadata={
                    "records": outcome.total, "requests": outcome.requests,
                    "tokens": outcome.tokens, "schema": schema,
                    "records_per_stream": {"raw_value": outcome.records, "type": "json"},
                })
        return outcome.exit_code
    parser = argparse.ArgumentParser(prog="python -m pipedrive_accounts.sync")
    parser.add_argument("--accounts", required=True, help="the accounts file")
    parser.add_argument("account")
    args = parser.parse_args(argv)
    try:
        registry = load(args.accounts)
        outcome = sync(registry, registry.account(args.account))
    except AccountsError as exc:
        print(f"tap-pipedrive: error: {exc}", file=sys.stderr)
        return 1
    if outcome.error:
        print(outcome.error, file=sys.stderr)
    print(json.dumps({"account": args.account, "exit_code": outcome.exit_code,
                      "records": outcome.records}))
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
