"""`meltano run tap-pipedrive target-jsonl` against the sandbox, as the README promises."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MELTANO = Path(sys.executable).with_name("meltano")

pytestmark = pytest.mark.skipif(not MELTANO.exists(), reason="meltano is not installed")


def meltano(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(MELTANO), *args], cwd=project, env=env, capture_output=True, text=True, timeout=900
    )


def test_meltano_run_to_jsonl_then_incremental(make_sandbox, tmp_path):
    sb = make_sandbox(records=600, seed=5)
    project = tmp_path / "project"
    project.mkdir()
    # The repository's own meltano.yml, with the tap installed from this checkout.
    text = (ROOT / "meltano.yml").read_text().replace("pip_url: -e .", f"pip_url: -e {ROOT}")
    (project / "meltano.yml").write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_PIPEDRIVE_", "MELTANO_"))}
    env.update(
        TAP_PIPEDRIVE_API_URL=sb.url,
        TAP_PIPEDRIVE_API_TOKEN="sandbox-api-token",
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    install = meltano(project, "install", env=env)
    assert install.returncode == 0, install.stderr[-3000:]

    run = meltano(project, "run", "tap-pipedrive", "target-jsonl", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    out = project / "output"
    deals = [json.loads(line) for line in (out / "deals.jsonl").read_text().splitlines()]
    assert sorted(d["id"] for d in deals) == sorted(d["id"] for d in sb.data.records("deals"))

    # Meltano keeps the state: a second run loads only what changed (plus bookmark ties).
    touched = {d["id"] for d in sb.data.touch("deals", ids=[1, 2, 3])}
    shutil.rmtree(out)
    again = meltano(project, "run", "tap-pipedrive", "target-jsonl", env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    second = [json.loads(line) for line in (out / "deals.jsonl").read_text().splitlines()]
    assert touched <= {d["id"] for d in second}
    assert len(second) < len(deals)

    # The README's main job loads into DuckDB: every record the tap emitted is a row there.
    full = meltano(project, "run", "tap-pipedrive", "target-duckdb", env=env)
    assert full.returncode == 0, full.stderr[-3000:]
    python = project / ".meltano/loaders/target-duckdb/venv/bin/python"
    query = (
        "import duckdb, json; con = duckdb.connect('output/warehouse.duckdb', read_only=True); "
        "print(json.dumps({t: con.execute(f'select count(*) from warehouse.pipedrive.{t}')"
        ".fetchone()[0] for (t,) in con.execute(\"select table_name from "
        "information_schema.tables where table_schema = 'pipedrive'\").fetchall()}))"
    )
    counted = subprocess.run(
        [str(python), "-c", query], cwd=project, capture_output=True, text=True, check=True
    )
    rows = json.loads(counted.stdout)
    assert rows["deals"] == len(sb.data.records("deals"))
    assert rows["pipelines"] == len(sb.data.records("pipelines"))
    assert rows["users"] == len(sb.data.records("users"))
