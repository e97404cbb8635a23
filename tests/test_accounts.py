"""Many accounts with Dagster (orchestration/dagster): isolated, failing alone, incremental.

One Dagster instance (queued run coordinator, dagster-daemon, PostgreSQL storage) loads four
accounts at once, each from a sandbox of its own that accepts only that account's token and
names its custom fields its own way: two good ones, one whose token is wrong (401) and one
whose run cap stops it (exit 75).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "orchestration" / "dagster"))

pytest.importorskip("dagster", reason="Dagster is not installed: run `make install`")

from pipedrive_accounts import accounts as accounts_file  # noqa: E402
from pipedrive_accounts.demo import foreign_columns, table_rows  # noqa: E402
from pipedrive_accounts.local import (  # noqa: E402
    STREAMS,
    LocalDagster,
    SandboxProcess,
    start_postgres,
    write_accounts,
)
from pipedrive_accounts.localpg import find_bin_dir  # noqa: E402

pytestmark = pytest.mark.skipif(find_bin_dir() is None,
                                reason="no PostgreSQL server binaries (initdb, pg_ctl)")
GOOD = ("north", "south")


class World:
    def __init__(self, root: Path) -> None:
        root.chmod(0o755)  # under root, PostgreSQL runs as the postgres user
        self.root = root
        self.postgres = start_postgres(root / "pg")
        self.sandboxes = {}
        for seed, name in enumerate(("north", "south", "revoked", "capped"), start=11):
            self.sandboxes[name] = SandboxProcess(name, root, seed=seed, records=120 + 40 * seed)
        self.accounts = root / "accounts.yaml"
        env = write_accounts(self.accounts, self.postgres, list(self.sandboxes.values()))
        env["PIPEDRIVE_TOKEN_REVOKED"] = "a-token-pipedrive-no-longer-accepts"
        doc = accounts_file.yaml.safe_load(self.accounts.read_text())
        doc["accounts"][3]["settings"]["max_tokens_per_run"] = 60
        self.accounts.write_text(accounts_file.yaml.safe_dump(doc))
        self.registry = accounts_file.load(self.accounts)
        self.dagster = LocalDagster(root / "dagster", self.postgres, self.accounts, env,
                                    max_runs=4)

    def state(self, name: str) -> dict | None:
        rows = self.postgres.sql("select state from tap_pipedrive_state.singer_state "
                                 f"where account = '{name}'")
        return json.loads(rows[0][0]) if rows else None

    def stop(self) -> None:
        self.dagster.stop()
        for sb in self.sandboxes.values():
            sb.stop()
        self.postgres.stop()


@pytest.fixture(scope="module")
def world():
    root = Path(tempfile.mkdtemp(prefix="tap-pipedrive-accounts-test-"))  # not under 0700 dirs
    made = World(root)
    try:
        yield made
    finally:
        made.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def first(world):
    """Round 1: the four accounts queued at once."""
    world.dagster.backfill(list(world.sandboxes), "1")
    return {r.account: r for r in world.dagster.wait("1", 4)}


def test_accounts_never_mix_catalogs_states_or_tokens(world, first):
    for name in GOOD:
        assert first[name].status == "SUCCESS", first[name].error
        sb, schema = world.sandboxes[name], f"pipedrive_{name}"
        rows = table_rows(world.postgres, schema)
        for stream in STREAMS:
            assert rows[stream] == sb.expected_rows(stream), (name, stream)
        # Its own custom fields, and no other account's.
        columns = {c for (c,) in world.postgres.sql(
            "select column_name from information_schema.columns "
            f"where table_schema = '{schema}' and table_name = 'deals'")}
        assert f"contract_number_{name}" in columns and "contract_number" not in columns
        assert foreign_columns(world.postgres, schema, [n for n in world.sandboxes
                                                        if n != name]) == []
        # Its own catalog, in its own folder; no secret left on disk after the run.
        folder = world.registry.run_dir / name
        catalog = (folder / "catalog.json").read_text()
        assert f"contract_number_{name}" in catalog
        assert not [n for n in world.sandboxes if n != name and f"_number_{n}" in catalog]
        assert not (folder / "tap-config.json").exists()
        assert not (folder / "target-config.json").exists()
        # Each sandbox accepts only its own token: not one request was refused.
        log = requests.get(f"{sb.url}/_sandbox/requests", timeout=30).json()["data"]
        assert log and {entry["status"] for entry in log} <= {200}
        # One state per account, bookmarks of its own records.
        state = world.state(name)
        assert state and "deals" in state["bookmarks"]
    assert world.state("north") != world.state("south")


def test_a_401_fails_only_its_partition(world, first):
    revoked = first["revoked"]
    assert revoked.status == "FAILURE"
    assert "account revoked failed" in revoked.error and "401" in revoked.error
    assert "a-token-pipedrive-no-longer-accepts" not in revoked.error
    assert world.state("revoked") is None
    assert all(first[name].status == "SUCCESS" for name in GOOD)


def test_a_spent_budget_stops_only_its_partition_with_state_saved(world, first):
    capped = first["capped"]
    assert capped.status == "FAILURE"
    assert "exit 75, state saved" in capped.error
    assert world.state("capped")  # the next run resumes from it


def test_second_run_is_incremental_per_account(world, first):
    world.sandboxes["north"].touch("deals", [1, 2, 3])
    world.sandboxes["south"].touch("persons", [4])
    world.dagster.backfill(list(GOOD), "2")
    second = {r.account: r for r in world.dagster.wait("2", 2)}
    for name in GOOD:
        assert second[name].status == "SUCCESS", second[name].error
        full, again = first[name].records, second[name].records
        assert sum(again.values()) < sum(full.values())
        assert again.get("deals", 0) < full["deals"]
        sb = world.sandboxes[name]
        rows = table_rows(world.postgres, f"pipedrive_{name}")
        assert all(rows[s] == sb.expected_rows(s) for s in STREAMS), name
    assert second["north"].records.get("deals", 0) >= 3
    assert second["south"].records.get("persons", 0) >= 1
    touched = world.postgres.sql("select count(*) from pipedrive_north.deals "
                                 "where id in (1, 2, 3)")
    assert touched == [["3"]]


def test_one_run_per_account_even_without_the_queue(world, first):
    """The state backend's lock holds when two runs of one account are started anyway."""
    from pipedrive_accounts.state import StateStore

    holder = StateStore(world.registry.warehouse, "north")
    holder.lock()  # as a run of north on another machine would
    try:
        world.dagster.backfill(["north"], "3")
        third = world.dagster.wait("3", 1)[0]
    finally:
        holder.close()
    assert third.status == "FAILURE"
    assert "another run of account north is running" in third.error


def test_accounts_file_never_holds_a_secret(tmp_path):
    path = tmp_path / "accounts.yaml"
    path.write_text("accounts:\n- name: north\n  company_domain: north\n"
                    "  credentials: {api_token: the-token-itself}\n")
    with pytest.raises(accounts_file.AccountsError, match="never the value"):
        accounts_file.load(path)
    path.write_text("accounts:\n- name: north\n  auth_method: oauth-headless\n"
                    "  company_domain: north\n  credentials:\n"
                    "    oauth_client_id: {env: APP_ID}\n"
                    "    oauth_client_secret: {file: " + str(tmp_path / "secret") + "}\n")
    (tmp_path / "secret").write_text("s3cret\n")
    registry = accounts_file.load(path)
    config = registry.account("north").tap_config(tmp_path / "north", {"APP_ID": "app"})
    assert config["oauth_client_id"] == "app" and config["oauth_client_secret"] == "s3cret"
    assert config["oauth_settings_location"] == str(tmp_path / "north" / "OAuthSettings.txt")
