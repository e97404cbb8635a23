"""Real Meltano, real loaders: JSON lines, DuckDB and PostgreSQL, loaded from the sandbox."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from postgres import Postgres, find_bin_dir

from tap_pipedrive.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
MELTANO = Path(sys.executable).with_name("meltano")

pytestmark = pytest.mark.skipif(not MELTANO.exists(), reason="meltano is not installed")


class Project:
    """A Meltano project made of the repository's meltano.yml, the tap installed from here."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path, self.env = path, env

    def meltano(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(MELTANO), *args], cwd=self.path, env=self.env,
                              capture_output=True, text=True, timeout=900)

    def run(self, *args: str) -> None:
        done = self.meltano("run", *args)
        assert done.returncode == 0, "\n".join(
            line for line in done.stderr.splitlines() if "target-" in line or "rror" in line
        )[-6000:]

    def jsonl(self, stream: str) -> list[dict]:
        lines = (self.path / "output" / f"{stream}.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(records=600, seed=5) as sb:
        yield sb


@pytest.fixture(scope="module")
def project(sandbox, tmp_path_factory) -> Project:
    path = tmp_path_factory.mktemp("meltano")
    text = (ROOT / "meltano.yml").read_text().replace("pip_url: -e .", f"pip_url: -e {ROOT}")
    (path / "meltano.yml").write_text(text)
    (path / "output").mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TAP_PIPEDRIVE_", "MELTANO_", "TARGET_"))}
    env.update(
        TAP_PIPEDRIVE_API_URL=sandbox.url,
        TAP_PIPEDRIVE_API_TOKEN="sandbox-api-token",
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    project = Project(path, env)
    install = project.meltano("install")
    assert install.returncode == 0, install.stderr[-4000:]
    return project


def test_jsonl_full_then_incremental(sandbox, project):
    project.run("tap-pipedrive", "target-jsonl")
    deals = project.jsonl("deals")
    assert sorted(d["id"] for d in deals) == sorted(d["id"] for d in sandbox.data.records("deals"))

    # Meltano keeps the state: a second run loads only what changed (plus bookmark ties).
    touched = {d["id"] for d in sandbox.data.touch("deals", ids=[1, 2, 3])}
    shutil.rmtree(project.path / "output")
    (project.path / "output").mkdir()
    project.run("tap-pipedrive", "target-jsonl")
    second = project.jsonl("deals")
    assert touched <= {d["id"] for d in second}
    assert len(second) < len(deals)


def test_duckdb_loads_every_record(sandbox, project):
    """The README's main job: every record the API lists is a row in DuckDB."""
    project.run("--full-refresh", "tap-pipedrive", "target-duckdb")
    python = project.path / ".meltano/loaders/target-duckdb/venv/bin/python"
    query = (
        "import duckdb, json; con = duckdb.connect('output/warehouse.duckdb', read_only=True); "
        "print(json.dumps({t: con.execute(f'select count(*) from warehouse.pipedrive.{t}')"
        ".fetchone()[0] for (t,) in con.execute(\"select table_name from "
        "information_schema.tables where table_schema = 'pipedrive'\").fetchall()}))"
    )
    counted = subprocess.run([str(python), "-c", query], cwd=project.path, capture_output=True,
                             text=True, check=True)
    rows = json.loads(counted.stdout)
    for stream in ("deals", "pipelines", "stages", "users", "persons"):
        listed = [r for r in sandbox.data.records(stream)
                  if stream == "deals" or not r.get("is_deleted")]
        assert rows[stream] == len(listed), stream


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    server = Postgres(bin_dir, Path("/tmp") / f"tap-pipedrive-pg-{os.getpid()}")
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


def test_postgres_types_and_upserts(sandbox, project, postgres):
    env = {**project.env, "TARGET_POSTGRES_PORT": str(postgres.port),
           "TARGET_POSTGRES_USER": "postgres",
           "TARGET_POSTGRES_PASSWORD": "unused-trust-auth"}
    loader = Project(project.path, env)
    loader.run("--full-refresh", "tap-pipedrive", "target-postgres")

    count = int(postgres.sql("select count(*) from pipedrive.deals")[0][0])
    assert count == len(sandbox.data.records("deals"))
    types = dict(postgres.sql(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'pipedrive' and table_name = 'deals'"
    ))
    assert types["update_time"].startswith("timestamp")
    assert types["add_time"].startswith("timestamp")
    assert types["id"] in ("bigint", "integer", "numeric")
    assert types["value"] in ("numeric", "double precision", "decimal")
    assert types["is_deleted"] == "boolean"

    # An incremental run updates rows in place: same count, new values.
    touched = sandbox.data.touch("deals", ids=[4, 5])
    loader.run("tap-pipedrive", "target-postgres")
    assert int(postgres.sql("select count(*) from pipedrive.deals")[0][0]) == count
    titles = dict(postgres.sql("select id, title from pipedrive.deals where id in (4, 5)"))
    assert titles == {str(d["id"]): d["title"] for d in touched}


def test_stream_maps_and_flattening(sandbox, project):
    """The SDK's stream maps and schema flattening work on this tap's streams."""
    env = {**project.env,
           "TAP_PIPEDRIVE_STREAM_MAPS": json.dumps(
               {"users": {"email": "md5(email)"}}),
           "TAP_PIPEDRIVE_FLATTENING_ENABLED": "true",
           "TAP_PIPEDRIVE_FLATTENING_MAX_DEPTH": "1"}
    shutil.rmtree(project.path / "output")
    (project.path / "output").mkdir()
    mapped = Project(project.path, env)
    mapped.run("--full-refresh", "tap-pipedrive", "target-jsonl")
    users = mapped.jsonl("users")
    by_id = {u["id"]: u for u in sandbox.data.records("users")}
    assert users and all(u["email"] != by_id[u["id"]]["email"] for u in users)
    assert all(len(u["email"]) == 32 for u in users)  # an md5 hex digest, not the address
    # Flattened: nested objects become parent__child columns.
    persons = mapped.jsonl("persons")
    assert "postal_address" not in persons[0]
    assert "postal_address__locality" in persons[0]
