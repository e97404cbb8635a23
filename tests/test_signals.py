"""Exit codes a scheduler can trust, through the installed console script: SIGINT and SIGTERM
in the middle of a sync exit 130 and 143 after a final STATE from which the next run emits
the rest (nothing lost); a closed stdout is one line and exit 1."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest
from helpers import TAP
from resume_helpers import CORE, catalog, config, parse, sync, union, wait_until

STREAMS = (*CORE, "deal_products")  # a child read in batches of its parents, too


@pytest.fixture(scope="module")
def signal_catalog(tmp_path_factory):
    return catalog(tmp_path_factory.mktemp("catalog"), STREAMS)


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TAP_PIPEDRIVE_")}


def records_in(path) -> int:
    return path.read_bytes().count(b'"type":"RECORD"') if path.exists() else 0


@pytest.mark.parametrize(("sig", "code", "name"), [(signal.SIGINT, 130, "SIGINT"),
                                                   (signal.SIGTERM, 143, "SIGTERM")])
def test_signal_saves_state_and_a_resume_loses_nothing(make_sandbox, tmp_path, signal_catalog,
                                                       sig, code, name):
    sb = make_sandbox(records=1200, seed=31, latency=0.15)
    full = sync(tmp_path, config(sb.url), signal_catalog)
    assert full.returncode == 0, full.stderr[-3000:]

    (tmp_path / "config.json").write_text(json.dumps(config(sb.url)))
    out, err = tmp_path / "out.jsonl", tmp_path / "err.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([TAP, "--config", str(tmp_path / "config.json"), "--catalog",
                                 str(signal_catalog)], stdout=stdout, stderr=stderr,
                                stdin=subprocess.DEVNULL, env=env())
        try:
            wait_until(lambda: records_in(out) >= 300 or proc.poll() is not None, timeout=120)
            assert proc.poll() is None, "the sync ended before the signal"
            proc.send_signal(sig)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    stopped = parse(out.read_text(), proc.returncode, err.read_text())
    assert proc.returncode == code, stopped.stderr[-3000:]
    lines = stopped.stderr.strip().splitlines()
    assert lines[-1] == (f"tap-pipedrive: error: interrupted by {name}; state saved, run again "
                         "with the last STATE to resume"), lines[-3:]
    assert "Traceback" not in stopped.stderr
    assert f"Sync summary (interrupted by {name}, state saved" in stopped.stderr
    last = json.loads(out.read_text().splitlines()[-1])
    assert last["type"] == "STATE"  # the last line is the state to keep
    assert union(stopped) != union(full), "the signal came after the sync was done"

    resumed = sync(tmp_path, config(sb.url), signal_catalog, state=last["value"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert union(stopped, resumed) == union(full)
    assert set(union(full)) == set(STREAMS)


def test_closed_output_is_one_line_and_exit_1(shared_sandbox, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(config(shared_sandbox.url)))
    proc = subprocess.Popen([TAP, "--config", str(tmp_path / "config.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env())
    proc.stdout.readline()  # like `| head -1`: read a line, then stop reading
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("tap-pipedrive: error:")]
    assert errors == [stderr.strip().splitlines()[-1]], stderr[-3000:]
    assert "the output was closed" in errors[0]
