"""The real loaders against the drifting sandbox (sandbox/drift.py), with the default policy
(undeclared_properties: add_columns): every property the API sent and every custom field
value lands, in a full and an incremental run, including a property that first appears in the
middle of a run."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from test_meltano import MELTANO, Project, column_types, postgres, project  # noqa: F401

from tap_pipedrive_sandbox import Sandbox
from tap_pipedrive_sandbox import drift as sandbox_drift

pytestmark = pytest.mark.skipif(not MELTANO.exists(), reason="meltano is not installed")

STREAMS = ("deals", "persons", "users", "leads")
SELECT = json.dumps([f"{s}.*" for s in STREAMS])
SEED = 11


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(records=300, seed=SEED, drift=True) as sb:
        yield sb


def served(sb: Sandbox, stream: str) -> dict:
    """Records by id as the drifting sandbox serves them (the ones a sync lists)."""
    records = [r for r in sb.data.records(stream) if stream == "deals" or not r.get("is_deleted")]
    return {r["id"]: sandbox_drift.record(SEED, stream, r) for r in records}


def undeclared(stream: str, record: dict) -> dict:
    """The properties of a served record that no spec names, and its hidden custom field."""
    out = {k: v for k, v in record.items() if k.startswith("sandbox_drift_")}
    owner = sandbox_drift.SHADOWED.get(stream)
    if owner:
        key = sandbox_drift.shadow_key(SEED, owner)
        out[key] = record.get(key, (record.get("custom_fields") or {}).get(key))
    return out


def check_rows(sb: Sandbox, stream: str, rows: dict, ids=None) -> None:
    """Each loaded row holds every undeclared value the sandbox sent (null where it sent
    null), read back through the loader's column (objects come back as JSON)."""
    truth = served(sb, stream)
    assert rows, stream
    for ident in ids or truth:
        got = rows[str(ident)]
        for name, value in undeclared(stream, truth[ident]).items():
            assert name in got or value is None, (stream, name)  # JSON lines: null, absent
            loaded = got.get(name)
            if isinstance(loaded, str) and isinstance(value, dict):
                loaded = json.loads(loaded)
            if isinstance(value, int) and loaded is not None:
                loaded = int(loaded)
            assert loaded == value, (stream, ident, name, loaded, value)


def late_ids(sb: Sandbox) -> set:
    return {i for i, r in served(sb, "deals").items() if "sandbox_drift_late" in r}


def drifting(project_: Project, **env: str) -> Project:
    return Project(project_.path, {**project_.env, "TAP_PIPEDRIVE__SELECT": SELECT, **env})


def test_jsonl_full_then_incremental(sandbox, project):  # noqa: F811
    shutil.rmtree(project.path / "output", ignore_errors=True)
    (project.path / "output").mkdir()
    loader = drifting(project)
    loader.run("--full-refresh", "tap-pipedrive", "target-jsonl")
    for stream in STREAMS:
        rows = {str(r["id"]): r for r in loader.jsonl(stream)}
        check_rows(sandbox, stream, rows)
    late = late_ids(sandbox)
    assert 0 < len(late) < len(served(sandbox, "deals"))  # it appears in the middle

    touched = [d["id"] for d in sandbox.data.touch("deals", ids=[1, 2, 3])]
    shutil.rmtree(project.path / "output")
    (project.path / "output").mkdir()
    loader.run("tap-pipedrive", "target-jsonl")
    rows = {str(r["id"]): r for r in loader.jsonl("deals")}
    check_rows(sandbox, "deals", rows, touched)
    assert all(rows[str(i)]["sandbox_drift_late"] for i in touched)  # new since the full run


def duckdb_rows(project_: Project, table: str) -> dict:
    python = project_.path / ".meltano/loaders/target-duckdb/venv/bin/python"
    query = (
        "import duckdb, json, sys; con = duckdb.connect('output/warehouse.duckdb', "
        "read_only=True); cur = con.execute(f'select * from warehouse.pipedrive.{sys.argv[1]}');"
        " names = [d[0] for d in cur.description];"
        " print(json.dumps([dict(zip(names, r)) for r in cur.fetchall()], default=str))"
    )
    out = subprocess.run([str(python), "-c", query, table], cwd=project_.path,
                         capture_output=True, text=True, check=True).stdout
    return {str(r["id"]): r for r in json.loads(out)}


def test_duckdb_full_then_incremental(sandbox, project):  # noqa: F811
    loader = drifting(project)
    (project.path / "output").mkdir(exist_ok=True)
    (project.path / "output" / "warehouse.duckdb").unlink(missing_ok=True)
    loader.run("--full-refresh", "tap-pipedrive", "target-duckdb")
    for stream in STREAMS:
        check_rows(sandbox, stream, duckdb_rows(project, stream))

    touched = [d["id"] for d in sandbox.data.touch("deals", ids=[4, 5])]
    loader.run("tap-pipedrive", "target-duckdb")
    rows = duckdb_rows(project, "deals")
    assert len(rows) == len(served(sandbox, "deals"))
    check_rows(sandbox, "deals", rows)
    assert all(rows[str(i)]["sandbox_drift_late"] for i in touched)


def postgres_rows(server, table: str, schema: str = "pipedrive") -> dict:
    rows = server.sql(f"select row_to_json(t)::text from {schema}.{table} t")
    return {str(r["id"]): r for r in (json.loads(line[0]) for line in rows)}


def test_postgres_adds_columns_in_the_same_run(sandbox, project, postgres):  # noqa: F811
    loader = drifting(project, TARGET_POSTGRES_PORT=str(postgres.port),
                      TARGET_POSTGRES_USER="postgres",
                      TARGET_POSTGRES_PASSWORD="unused-trust-auth",
                      TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA="drift")
    loader.run("--full-refresh", "tap-pipedrive", "target-postgres")
    types = column_types(postgres, "drift")
    for stream in STREAMS:
        check_rows(sandbox, stream, postgres_rows(postgres, stream, "drift"))
    deals = types["deals"]
    assert deals["sandbox_drift_rank"] in ("numeric", "double precision", "decimal")
    assert deals["sandbox_drift_flags"] in ("json", "jsonb")
    assert deals["sandbox_drift_late"] in ("text", "character varying")
    # The late property first came after hundreds of deals without it, in this very run.
    late = late_ids(sandbox)
    loaded = postgres.sql("select id from drift.deals where sandbox_drift_late is not null")
    assert {int(i) for (i,) in loaded} == late and 0 < len(late) < len(served(sandbox, "deals"))

    touched = [d["id"] for d in sandbox.data.touch("deals", ids=[6, 7])]
    loader.run("tap-pipedrive", "target-postgres")
    rows = postgres_rows(postgres, "deals", "drift")
    assert len(rows) == len(served(sandbox, "deals"))
    check_rows(sandbox, "deals", rows)
    assert all(rows[str(i)]["sandbox_drift_late"] for i in touched)
