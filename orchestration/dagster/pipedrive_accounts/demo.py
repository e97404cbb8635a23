"""`make accounts-demo ACCOUNTS=4`: N sandboxes, one PostgreSQL, Dagster, two rounds.

Round 1 loads every account in full, through the run queue and the multiprocess executor;
then every account's rows per stream are compared with its sandbox's records, and its schema
is checked for custom-field columns of the other accounts. A few records change in each
sandbox, and round 2 shows that each account reads only what changed (its own state).
Exit 0 only when every account is exact in both rounds.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .local import STREAMS, LocalDagster, RunResult, SandboxProcess, start_postgres, write_accounts
from .localpg import Postgres

NAMES = ("north", "south", "east", "west", "alpha", "bravo", "charlie", "delta", "echo",
         "foxtrot", "golf", "hotel", "india", "juliett", "kilo", "lima")


def account_names(count: int) -> list[str]:
    return [NAMES[i] if i < len(NAMES) else f"account{i + 1}" for i in range(count)]


def table_rows(postgres: Postgres, schema: str) -> dict[str, int]:
    tables = [t for (t,) in postgres.sql(
        f"select table_name from information_schema.tables where table_schema = '{schema}'")]
    return {t: int(postgres.sql(f'select count(*) from "{schema}"."{t}"')[0][0])
            for t in tables}


def foreign_columns(postgres: Postgres, schema: str, others: list[str]) -> list[str]:
    """Columns named for another account's custom fields (`..._<other name>`)."""
    columns = [c for (c,) in postgres.sql(
        "select column_name from information_schema.columns "
        f"where table_schema = '{schema}'")]
    return sorted({c for c in columns for o in others if c.endswith(f"_{o}") or f"_{o}_" in c})


def check(postgres: Postgres, sandbox: SandboxProcess, result: RunResult,
          names: list[str]) -> tuple[bool, str]:
    schema = f"pipedrive_{sandbox.name}"
    if result.status != "SUCCESS":
        return False, f"account {sandbox.name}: run {result.status}: {result.error}"
    rows = table_rows(postgres, schema)
    differs = []
    for stream in STREAMS:
        want, got = sandbox.expected_rows(stream), rows.get(stream, 0)
        if want != got:
            differs.append(f"{stream} {got} of {want}")
    foreign = foreign_columns(postgres, schema, [n for n in names if n != sandbox.name])
    if foreign:
        differs.append(f"columns of other accounts: {', '.join(foreign[:5])}")
    total = sum(rows.get(s, 0) for s in STREAMS)
    verdict = "exact" if not differs else "differs: " + "; ".join(differs)
    return not differs, f"account {sandbox.name}: {total} rows in schema {schema}, {verdict}"


def read_line(result: RunResult) -> str:
    records = result.records
    read = ", ".join(f"{stream} {n}" for stream, n in sorted(records.items())) or "nothing"
    return f"account {result.account}: read {sum(records.values())} records ({read})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipedrive_accounts.demo")
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--records", type=int, default=600, help="deals of the first account")
    parser.add_argument("--max-runs", type=int, default=4, help="runs at once on this machine")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    names = account_names(args.accounts)
    root = Path(tempfile.mkdtemp(prefix="tap-pipedrive-accounts-"))
    root.chmod(0o755)  # under root, PostgreSQL runs as the postgres user and needs to enter
    started = time.monotonic()
    sandboxes: list[SandboxProcess] = []
    postgres = dagster = None
    ok = True
    try:
        postgres = start_postgres(root / "pg")
        for i, name in enumerate(names):
            sandboxes.append(SandboxProcess(name, root, seed=101 + i,
                                            records=args.records + 150 * i))
        accounts_file = root / "accounts.yaml"
        env = write_accounts(accounts_file, postgres, sandboxes)
        dagster = LocalDagster(root / "dagster", postgres, accounts_file, env, args.max_runs)
        print(f"{len(names)} sandboxes, PostgreSQL on port {postgres.port}, Dagster home "
              f"{dagster.home}; round 1: every account in full", flush=True)
        dagster.backfill(names, "1")
        results = {r.account: r for r in dagster.wait("1", len(names))}
        for sb in sandboxes:
            good, line = check(postgres, sb, results[sb.name], names)
            ok &= good
            print(line, flush=True)

        for i, sb in enumerate(sandboxes):  # each account changes a different few records
            sb.touch("deals", list(range(1, 3 + i)))
            sb.touch("persons", [1 + i])
        print("round 2: a few records changed in each sandbox", flush=True)
        dagster.backfill(names, "2")
        results = {r.account: r for r in dagster.wait("2", len(names))}
        for sb in sandboxes:
            result = results[sb.name]
            good, line = check(postgres, sb, result, names)
            incremental = 0 < result.records.get("deals", 0) < sb.records
            ok &= good and incremental
            print(read_line(result) + ("" if incremental else ", NOT incremental"))
            print(line, flush=True)
    finally:
        if dagster is not None:
            dagster.stop()
        for sb in sandboxes:
            sb.stop()
        if postgres is not None:
            postgres.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"{'all accounts exact' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
