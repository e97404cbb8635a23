"""What each step of the tap's record path costs, beside the floor's parse-and-write.

    .venv/bin/python benchmarks/bench_record_path.py
    .venv/bin/python benchmarks/bench_record_path.py --records 20000 --repeat 15

In one process, on one full page (500 records) of each of the 8 core streams from a sandbox,
it times the floor of bench_sync.py's CPU goal (orjson parses the page and writes a RECORD
line per record) and, added one after the other, the steps every record of the tap takes:
the envelope check (valid UTF-8, the answer's envelope skimmed), the exact parse (msgspec,
numbers with a fraction as Decimal), readable custom-field columns, conformance to the
schema (conform.py), and the RECORD line (the stream's maps, the writer's encoding, as a
sync writes it). It prints microseconds per record (the best of `--repeat` rounds, the
steps of a round timed back to back) and each as a ratio to the floor; the last row weighs
the streams by their records in a sync of `--records` deals. No HTTP, no threads, no SDK
bookkeeping, no start-up: what is left of the tap's CPU beyond this row is those.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stderr
from pathlib import Path

import baseline_walk
import orjson
import requests
from bench_sync import CORE, catalog_for, sandbox_process

from tap_pipedrive import page
from tap_pipedrive.performance import BufferedMsgSpecWriter
from tap_pipedrive.tap import TapPipedrive

STEPS = ["floor", "envelope", "exact parse", "custom fields", "conform", "RECORD line"]


class _Lines(BufferedMsgSpecWriter):
    """The tap's writer, its lines made and not kept, as the floor's are."""

    @staticmethod
    def _write(line: bytes | bytearray, flush: bool) -> None:
        pass


def first_page(url: str, token: str, path: str) -> tuple[bytes, int]:
    """The stream's first page (as baseline_walk.py reads it) and the stream's records."""
    session = requests.Session()
    session.headers["x-api-token"] = token
    first, total = b"", 0
    for content, body in baseline_walk.pages(session, url, path):
        first = first or content
        total += len(body.get("data") or [])
    return first, total


def steps(stream: object, raw: bytes) -> list[Callable[[], object]]:
    """The floor, then the tap's path cut after each of its steps."""
    name = stream.name  # type: ignore[attr-defined]
    columns = getattr(stream, "custom_columns", None)
    conform = stream.conformer.conform  # type: ignore[attr-defined]
    write = stream.write_record  # type: ignore[attr-defined]  # through _Lines, below

    def floor() -> None:
        baseline_walk.write_records(orjson.loads(raw), name, len)  # lines made, not kept

    def upto(last: int) -> Callable[[], object]:
        def run() -> None:
            body = page.Page(raw)
            if last < 2:
                return
            for record in page.parsed(body.items() or []):
                if last >= 3 and columns is not None:
                    record = columns.flatten(record)
                if last >= 4:
                    record = conform(record)
                if last >= 5:
                    write(record)
        return run

    return [floor, *(upto(i) for i in range(1, len(STEPS)))]


def best(runs: list[Callable[[], object]], repeat: int) -> list[float]:
    """Seconds of each, the least of `repeat` rounds (each round runs all, in turn)."""
    times = [float("inf")] * len(runs)
    for _ in range(repeat):
        for i, run in enumerate(runs):
            start = time.process_time()
            run()
            times[i] = min(times[i], time.process_time() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000,
                        help="deals in the sandbox (the other streams scale from it)")
    parser.add_argument("--repeat", type=int, default=9, help="rounds (the best is kept)")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_PIPEDRIVE_")}
    options = ["--records", str(args.records), "--burst-limit", "0"]
    with tempfile.TemporaryDirectory() as folder, sandbox_process(options) as sb:
        tmp = Path(folder)
        config = {"api_url": sb.url, "api_token": sb.api_token}
        (tmp / "config.json").write_text(json.dumps(config))
        catalog = json.loads(catalog_for(list(CORE), tmp, env).read_text())
        with redirect_stderr(io.StringIO()):  # the SDK's start-up lines
            tap = TapPipedrive(config=config, catalog=catalog)
            tap.setup_mapper()
            tap.message_writer = _Lines()
            pages = {name: first_page(sb.url, sb.api_token, path) for name, path in CORE.items()}
            rows = {}
            for name, (raw, total) in pages.items():
                count = len(orjson.loads(raw)["data"] or [])
                seconds = best(steps(tap.streams[name], raw), args.repeat)
                rows[name] = ([s / count * 1e6 for s in seconds], total)
    print(f"{'stream':<14} {'records':>8} " + " ".join(f"{s:>13}" for s in STEPS))
    for name, (micros, total) in rows.items():
        print(f"{name:<14} {total:>8,} " + " ".join(_cell(m, micros[0]) for m in micros))
    records = sum(total for _, total in rows.values())
    weighed = [sum(m[i] * total for m, total in rows.values()) / records
               for i in range(len(STEPS))]
    print(f"{'all':<14} {records:>8,} " + " ".join(_cell(m, weighed[0]) for m in weighed))
    print("us per record (x the floor); each column adds its step to the one before")


def _cell(micros: float, floor: float) -> str:
    return f"{micros:>5.1f} ({micros / floor:>4.2f}x)"


if __name__ == "__main__":
    sys.exit(main())
