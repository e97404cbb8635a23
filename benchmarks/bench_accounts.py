"""Many accounts through Dagster: 1, 2, 4 and 8 accounts at 200 ms a page, all at once.

    .venv/bin/python benchmarks/bench_accounts.py
    .venv/bin/python benchmarks/bench_accounts.py --accounts 1 2 4 8 --records 1000 --latency 0.2

For each count it starts that many sandboxes (`tap-pipedrive sandbox --latency`, each its own
seed, token and custom fields), a Dagster instance (queued run coordinator allowing every run at
once, dagster-daemon) on one throw-away PostgreSQL server, queues one run per account and waits
for all of them. It prints the wall time from queueing to the last run's end, the CPU time of
everything Dagster started (daemon, code server, run and step workers, sync.py, tap, loader:
sampled with psutil every 0.2 s, so processes shorter than that are partly missed), the
sandboxes' CPU apart (the API's side), records loaded per second in total, and the mean time
of one run.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "orchestration" / "dagster"))

from pipedrive_accounts.demo import account_names
from pipedrive_accounts.local import (
    LocalDagster,
    SandboxProcess,
    start_postgres,
    write_accounts,
)


class TreeCPU:
    """CPU seconds of a process and all its descendants, sampled in a thread."""

    def __init__(self, root_pid: int) -> None:
        self.root = psutil.Process(root_pid)
        self.seen: dict[tuple[int, float], float] = {}
        self.kind: dict[tuple[int, float], str] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                procs = []
            for proc in procs:
                try:
                    t, key = proc.cpu_times(), (proc.pid, proc.create_time())
                    self.seen[key] = t.user + t.system
                    if key not in self.kind:
                        self.kind[key] = kind_of(proc.cmdline())
                except psutil.Error:
                    pass
            self.stop.wait(0.2)

    def total(self) -> float:
        self.stop.set()
        self.thread.join()
        return sum(self.seen.values())

    def by_kind(self) -> dict[str, float]:
        kinds: dict[str, float] = {}
        for key, cpu in self.seen.items():
            kinds[self.kind.get(key, "dagster")] = kinds.get(self.kind.get(key, "dagster"), 0) + cpu
        return kinds


def kind_of(argv: list[str]) -> str:
    """tap, loader, sync (pipedrive_accounts.sync) or dagster (daemon, code server, workers)."""
    program = " ".join(Path(arg).name for arg in argv[:3])
    for needle, kind in (("tap-pipedrive", "tap"), ("target-postgres", "loader"),
                         ("pipedrive_accounts.sync", "sync")):
        if needle in program:
            return kind
    return "dagster"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_size(count: int, records: int, latency: float, root: Path, postgres) -> dict:
    names = [f"b{count}_{n}" for n in account_names(count)]
    folder = root / f"size{count}"
    folder.mkdir()
    sandboxes = [SandboxProcess(name, folder, seed=200 + i, records=records, latency=latency)
                 for i, name in enumerate(names)]
    env = write_accounts(folder / "accounts.yaml", postgres, sandboxes)
    dagster = LocalDagster(folder / "dagster", postgres, folder / "accounts.yaml", env,
                           max_runs=count)
    try:
        time.sleep(3)  # the daemon and its code server up before the clock starts
        cpu = TreeCPU(dagster.daemon.pid)
        before, sandbox_before = children_cpu(), [sb_cpu(sb) for sb in sandboxes]
        started = time.monotonic()
        dagster.backfill(names, f"bench{count}")
        results = dagster.wait(f"bench{count}", count)
        wall = time.monotonic() - started
        cli_cpu = children_cpu() - before
        tree_cpu = cpu.total()
        kinds = cpu.by_kind()
        kinds["dagster"] = kinds.get("dagster", 0) + cli_cpu
        sandbox_cpu = sum(sb_cpu(sb) - b for sb, b in zip(sandboxes, sandbox_before,
                                                          strict=True))
        failed = [r.account for r in results if r.status != "SUCCESS"]
        loaded = sum(sum(r.records.values()) for r in results)
        from dagster import RunsFilter

        label = RunsFilter(tags={"demo/round": f"bench{count}"})
        runs = dagster.instance.get_run_records(filters=label)
        spans = [r.end_time - r.start_time for r in runs if r.start_time and r.end_time]
    finally:
        dagster.stop()
        for sb in sandboxes:
            sb.stop()
    return {"accounts": count, "records": loaded, "wall": wall, "cpu": tree_cpu + cli_cpu,
            "sandbox_cpu": sandbox_cpu, "run": sum(spans) / len(spans) if spans else 0.0,
            "failed": failed, "kinds": kinds}


def split(kinds: dict[str, float]) -> str:
    return " ".join(f"{k} {kinds.get(k, 0):.1f}" for k in ("dagster", "sync", "tap", "loader"))


def sb_cpu(sb: SandboxProcess) -> float:
    t = psutil.Process(sb.process.pid).cpu_times()
    return t.user + t.system


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--records", type=int, default=1000, help="deals per account")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds added per page")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tap-pipedrive-bench-accounts-"))
    root.chmod(0o755)
    postgres = start_postgres(root / "pg")
    rows = []
    try:
        print(f"{'accounts':>8} {'records':>8} {'wall s':>7} {'CPU s':>7} {'CPU/wall':>8} "
              f"{'sandbox CPU s':>13} {'rec/s':>7} {'run s':>6}  CPU s by process", flush=True)
        for count in args.accounts:
            row = run_size(count, args.records, args.latency, root, postgres)
            rows.append(row)
            note = f"  FAILED: {', '.join(row['failed'])}" if row["failed"] else ""
            print(f"{row['accounts']:>8} {row['records']:>8,} {row['wall']:>7.1f} "
                  f"{row['cpu']:>7.1f} {row['cpu'] / row['wall']:>8.2f} "
                  f"{row['sandbox_cpu']:>13.1f} {row['records'] / row['wall']:>7,.0f} "
                  f"{row['run']:>6.1f}  {split(row['kinds'])}{note}", flush=True)
    finally:
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 1 if any(r["failed"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
