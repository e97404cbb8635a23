"""The API unreachable, through the console script: the first request to give up on
connecting stops every stream (no thread goes on retrying the same outage), the run exits 1
with one line, and calls that never reached Pipedrive cost no tokens in the summary."""

from __future__ import annotations

from helpers import free_port, run_tap, summary_table
from resume_helpers import catalog

STREAMS = ("activities", "call_logs", "currencies", "users")  # read ahead, in parallel
MAX_RETRIES = 2


def test_unreachable_api_stops_every_stream_and_costs_no_tokens(tmp_path):
    cat = catalog(tmp_path, STREAMS)
    config = {"api_url": f"http://127.0.0.1:{free_port()}", "api_token": "x",
              "max_retries": MAX_RETRIES, "retry_backoff_seconds": 0.5,
              "max_parallel_requests": 4}
    run = run_tap(tmp_path, config, "--catalog", str(cat), timeout=120)
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-pipedrive: error: could not reach Pipedrive (ConnectionError)")
    assert f"gave up after {MAX_RETRIES} retries" in last
    table = summary_table(run.stderr)
    assert table["total"]["tokens"] == 0  # no call was answered
    requests = {name: table[name]["requests"] for name in STREAMS}
    assert all(n <= MAX_RETRIES + 1 for n in requests.values()), requests
    # One stream spent its retries; the others stopped at their next attempt instead of
    # spending theirs on the same outage.
    assert any(n < MAX_RETRIES + 1 for n in requests.values()), requests
