"""CPU, memory, requests and tokens of a full sync, against the sandbox, beside a baseline.

    .venv/bin/python benchmarks/bench_sync.py --records 10000 20000
    .venv/bin/python benchmarks/bench_sync.py --records 20000 --latency 0.2 --burst-limit 80
    .venv/bin/python benchmarks/bench_sync.py --records 50000 --streams deals --latency 0.2 \
        --burst-limit 80
    .venv/bin/python benchmarks/bench_sync.py --records 10000 100000 1000000 --streams deals \
        --latency 0
    .venv/bin/python benchmarks/bench_sync.py --records 20000 --latency 0.05 --burst-limit 80 \
        --page-cache-mb 512 --tap-config '{"max_parallel_requests": 1}'
    .venv/bin/python benchmarks/bench_sync.py --records 20000 --latency 0.2 --burst-limit 80 \
        --record-cache 100000

The second and third are the speed goals: the 8 core streams, and a one-stream backfill
(50,000 deals: one chain of cursor pages, read in time windows); the fourth, with
`--latency 0`, measures peak RSS from 10,000 to 1,000,000 deals. `--latency` is the seconds
the sandbox waits before each answer (a real 500-record page takes 0.2-0.5 s);
`--burst-limit` its requests per 2 s (80: the burst allowance of a large plan), answered 429
beyond.

For each size it starts a sandbox (`tap-pipedrive sandbox`, in a process of its own: serving
pages takes no CPU from this one, and its memory is not in the children's peak RSS), then
runs (1) `tap-pipedrive` on the chosen streams and (2) baseline_walk.py (parse each page
with orjson, write RECORD lines: the floor of the CPU goal), each as a child process whose
stdout is drained by this one, and prints wall time, CPU time (user+sys of the child), CPU
per record, records/s, peak RSS, requests and API tokens (from the spec's x-token-cost):
each the median of `--repeat` runs (3), the tap's and the baseline's in turn, and the 429s
of the run that had most; then the tap's requests beyond the walk's, by stream. Compare the
two rows of one run: the ratio is meaningful on a noisy machine (one run of each moved it
by a tenth from one minute to the next), the absolute figures less so.

`sbx cpu` is the sandbox's own CPU time during the run. Pipedrive builds pages on its own
machines; the sandbox builds them on this one, ~0.1 ms of CPU a record under one
interpreter lock: when that column nears the tap's wall time, the sandbox, not the tap or
the latency, bounds the run. `--record-cache N` has the sandbox keep N records of each
entity built (the warm-up walk builds them; the same bytes, whatever the query), which takes
most of that cost away; `--page-cache-mb` keeps whole pages, which a windowed read, its
bounds set as it goes, seldom asks for twice.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from tap_pipedrive.token_costs import cost_of

HERE = Path(__file__).resolve().parent
TAP = str(Path(sys.executable).with_name("tap-pipedrive"))
CORE = {
    "deals": "/api/v2/deals", "persons": "/api/v2/persons",
    "organizations": "/api/v2/organizations", "activities": "/api/v2/activities",
    "products": "/api/v2/products", "pipelines": "/api/v2/pipelines",
    "stages": "/api/v2/stages", "users": "/api/v1/users",
}


@dataclass
class Figures:
    name: str
    records: int
    wall: float
    cpu: float
    rss_mib: float
    requests: int
    tokens: int
    throttled: int
    calls: list[dict]
    served_cpu: float = 0.0  # the sandbox's CPU seconds while it ran

    def row(self) -> str:
        per = self.cpu / self.records * 1e6 if self.records else 0.0
        rate = self.records / self.wall if self.wall else 0.0
        return (f"{self.name:<10} {self.records:>9,} {self.wall:>8.2f} {self.cpu:>8.2f} "
                f"{per:>9.1f} {rate:>10,.0f} {self.rss_mib:>8.1f} {self.requests:>8,} "
                f"{self.tokens:>8,} {self.throttled:>5} {self.served_cpu:>8.2f}")


HEADER = (f"{'run':<10} {'records':>9} {'wall s':>8} {'cpu s':>8} {'us/rec':>9} "
          f"{'rec/s':>10} {'RSS MiB':>8} {'requests':>8} {'tokens':>8} {'429s':>5} "
          f"{'sbx cpu':>8}")


class SandboxProcess:
    """A sandbox in a child process; its request log read through its admin endpoints."""

    def __init__(self, url: str, pid: int) -> None:
        self.url = url
        self.pid = pid
        self.api_token = "sandbox-api-token"

    def cpu(self) -> float:
        """The sandbox's CPU seconds so far (user + system, from /proc; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def requests(self) -> list[dict]:
        return requests.get(f"{self.url}/_sandbox/requests", timeout=60).json()["data"]

    def reset_requests(self) -> None:
        requests.post(f"{self.url}/_sandbox/requests/reset", timeout=60).raise_for_status()


@contextlib.contextmanager
def sandbox_process(options: list[str]) -> Iterator[SandboxProcess]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([TAP, "sandbox", "--port", str(port), *options],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(f"{url}/_sandbox/faults", timeout=5)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"the sandbox did not start: {' '.join(options)}")
                time.sleep(0.2)
        yield SandboxProcess(url, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def measure(name: str, argv: list[str], sandbox: SandboxProcess, env: dict[str, str]) -> Figures:
    sandbox.reset_requests()
    served = sandbox.cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    records = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(b'{"type":"RECORD"') or line.startswith(b'{"type": "RECORD"'):
            records += 1
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{name} failed with status {status}: {' '.join(argv)}")
    calls = [r for r in sandbox.requests if r["path"].startswith("/api/")]
    return Figures(
        name, records, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
        len(calls), sum(cost_of(r["path"]) for r in calls if r["status"] != 429),
        sum(r["status"] == 429 for r in calls), calls, sandbox.cpu() - served,
    )


def median(runs: list[Figures]) -> Figures:
    """Each figure the median of the runs' (the calls: those of the median wall time's run)."""
    middle = sorted(runs, key=lambda f: f.wall)[len(runs) // 2]

    def mid(name: str) -> float:
        return statistics.median(getattr(f, name) for f in runs)

    return Figures(middle.name, middle.records, mid("wall"), mid("cpu"), mid("rss_mib"),
                   middle.requests, middle.tokens, max(f.throttled for f in runs), middle.calls,
                   mid("served_cpu"))


def catalog_for(streams: list[str], tmp: Path, env: dict[str, str]) -> Path:
    out = subprocess.run([TAP, "--config", str(tmp / "config.json"), "--discover"],
                         capture_output=True, text=True, check=True, env=env).stdout
    catalog = json.loads(out)
    for entry in catalog["streams"]:
        chosen = entry["tap_stream_id"] in streams
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = chosen
    path = tmp / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[10_000, 20_000])
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds the sandbox waits before each answer (0.2: a real page)")
    parser.add_argument("--burst-limit", type=int, default=0, help="sandbox burst limit per 2 s")
    parser.add_argument("--page-cache-mb", type=float, default=0,
                        help="sandbox page cache (its CPU, not its latency, then bounds no run)")
    parser.add_argument("--record-cache", type=int, default=0,
                        help="records of each entity the sandbox keeps built (any query hits)")
    parser.add_argument("--tap-config", default="{}", help="extra tap settings, as JSON")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each, in turn; each figure is the median of its runs")
    parser.add_argument("--streams", nargs="+", default=list(CORE), choices=list(CORE),
                        help="streams to sync (default: the 8 core streams)")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_PIPEDRIVE_")}
    print(HEADER)
    for size in args.records:
        options = ["--records", str(size), "--burst-limit", str(args.burst_limit),
                   "--latency", str(args.latency), "--page-cache-mb", str(args.page_cache_mb),
                   "--record-cache", str(args.record_cache)]
        with tempfile.TemporaryDirectory() as folder, sandbox_process(options) as sb:
            tmp = Path(folder)
            config = {"api_url": sb.url, "api_token": sb.api_token, **json.loads(args.tap_config)}
            (tmp / "config.json").write_text(json.dumps(config))
            catalog = catalog_for(args.streams, tmp, env)
            paths = [CORE[name] for name in args.streams]
            # Warm the sandbox's update_time indexes (and its caches, if asked for) so that
            # neither run pays for building them.
            measure("warm-up", [sys.executable, str(HERE / "baseline_walk.py"), sb.url,
                                sb.api_token, *paths], sb, env)
            taps, bases = [], []
            for _ in range(args.repeat):  # in turn, so that both see the machine's moods
                taps.append(measure("tap", [TAP, "--config", str(tmp / "config.json"),
                                            "--catalog", str(catalog)], sb, env))
                bases.append(measure("baseline", [sys.executable, str(HERE / "baseline_walk.py"),
                                                  sb.url, sb.api_token, *paths], sb, env))
            tap, base = median(taps), median(bases)
            print(tap.row())
            print(base.row())
            ratio = (tap.cpu / tap.records) / (base.cpu / base.records)
            print(f"{'':<10} size {size:,} deals: tap CPU/record = {ratio:.2f} x baseline, "
                  f"wall = {tap.wall / base.wall:.2f} x baseline")
            # The baseline reads each stream in full 500-record pages and nothing else; the
            # tap adds only the field metadata its custom-field columns need, once per run.
            metadata = sum(is_metadata(r) for r in tap.calls)
            more = tap.requests - base.requests - metadata
            print(f"{'':<10} tap requests = {base.requests} pages (the 500-per-page minimum) + "
                  f"{metadata} field metadata + {more} more ({more / base.requests:+.1%} pages; "
                  "time windows cost one partial page each)")
            if more:
                print(f"{'':<10} more by stream: {extra_by_stream(tap.calls, base.calls)}")


def is_metadata(call: dict) -> bool:
    """A call for field metadata (dealFields, ...), which the baseline never makes."""
    return str(call["path"]).endswith("Fields")


def extra_by_stream(tap: list[dict], base: list[dict]) -> str:
    """`deals +1 (40 pages)`, ...: the tap's list calls beyond the baseline's, per path."""
    counts: dict[str, list[int]] = {}
    for calls, side in ((tap, 0), (base, 1)):
        for call in calls:
            if not is_metadata(call):
                counts.setdefault(call["path"], [0, 0])[side] += 1
    names = {path: name for name, path in CORE.items()}
    return ", ".join(f"{names.get(path, path)} {t - b:+d} ({b} pages)"
                     for path, (t, b) in sorted(counts.items()) if t != b)


if __name__ == "__main__":
    main()
