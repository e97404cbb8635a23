"""What the main job read and changed, per stream, and how to look at the data.

    .venv/bin/python scripts/report.py snapshot target-duckdb     # before the run
    .venv/bin/python scripts/report.py report target-duckdb LOG   # after it

`snapshot` keeps each table's primary key -> update_time (output/.warehouse-snapshot.json);
`report` compares the warehouse with it: rows new and updated per stream, beside the records
the tap read (its end-of-run summary, from the run's log LOG), so a second `make run` shows
that it was incremental and what it changed. For target-jsonl: records and lines per file.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path("output")
WAREHOUSE = OUTPUT / "warehouse.duckdb"
SNAPSHOT = OUTPUT / ".warehouse-snapshot.json"
SCHEMA = "pipedrive"
LOOK = (".venv/bin/python -c \"import duckdb; con = duckdb.connect('{path}', read_only=True); "
        "con.sql('{query}').show()\"")
ROW = re.compile(r"tap-pipedrive\s+(\w+)\s+(\d+)\s+\d+\s+\d+\s+\S+\s+\d+\s+\d+\s+\d+\s*$")


def warehouse() -> dict[str, dict[str, Any]]:
    """Per table: its row count, and primary key -> update_time where both columns exist."""
    import duckdb

    if not WAREHOUSE.exists():
        return {}
    con = duckdb.connect(str(WAREHOUSE), read_only=True)
    tables: dict[str, dict[str, Any]] = {}
    names = con.execute("select table_name from information_schema.tables where table_schema "
                        "= ? order by table_name", [SCHEMA]).fetchall()
    for (name,) in names:
        columns = {c for (c,) in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and "
            "table_name = ?", [SCHEMA, name]).fetchall()}
        table = f'{SCHEMA}."{name}"'
        entry: dict[str, Any] = {
            "rows": con.execute(f"select count(*) from {table}").fetchone()[0]}
        if {"id", "update_time"} <= columns:
            entry["keys"] = {str(i): str(t) for i, t in con.execute(
                f"select id, update_time from {table}").fetchall()}
        tables[name] = entry
    con.close()
    return tables


def records_read(log: Path | None) -> dict[str, int]:
    """RECORD messages per stream, from the tap's summary table in the run's log."""
    if log is None or not log.exists():
        return {}
    read = {}
    for line in log.read_text(errors="replace").splitlines():
        if match := ROW.search(line):
            read[match.group(1)] = int(match.group(2))
    read.pop("total", None)
    return read


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[int | None, int | None]:
    """(new, updated) rows of one table; None where the table has no id/update_time."""
    if "keys" not in after:
        if "rows" in before:
            return after["rows"] - before["rows"], None
        return after["rows"], None
    old = before.get("keys", {})
    new = sum(1 for key in after["keys"] if key not in old)
    updated = sum(1 for key, when in after["keys"].items() if key in old and old[key] != when)
    return new, updated


def report_duckdb(log: Path | None) -> None:
    before = json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {}
    after = warehouse()
    if not after:
        sys.exit(f"nothing was loaded into {WAREHOUSE.resolve()}")
    read = records_read(log)
    kind = ("incremental run (from the state of the last one)" if before
            else "first run (full sync)")
    width = max(len(name) for name in after)
    print(f"\n{kind}: loaded into {WAREHOUSE.resolve()} (schema {SCHEMA})")
    print(f"  {'stream':<{width}}  {'read':>8}  {'rows':>8}  {'new':>7}  {'updated':>7}")
    totals = [0, 0, 0, 0]
    for name, entry in after.items():
        new, updated = changes(before.get(name, {}), entry)
        got = read.get(name, 0)
        cells = [got, entry["rows"], new, updated]
        totals = [t + (c or 0) for t, c in zip(totals, cells, strict=True)]
        shown = ["-" if c is None else f"{c:,}" for c in cells]
        print(f"  {name:<{width}}  {shown[0]:>8}  {shown[1]:>8}  {shown[2]:>7}  {shown[3]:>7}")
    print(f"  {'total':<{width}}  {totals[0]:>8,}  {totals[1]:>8,}  {totals[2]:>7,}  "
          f"{totals[3]:>7,}")
    print("  (read: records the tap sent; new/updated: rows added, rows whose update_time "
          "changed; -: no id/update_time)")
    query = (f"select id, title, status, value, update_time from {SCHEMA}.deals "
             "order by update_time desc limit 5")
    print(f"\nLook at the data:\n  {LOOK.format(path=WAREHOUSE, query=query)}")


def report_jsonl() -> None:
    counts = {f.stem: sum(1 for _ in f.open()) for f in sorted(OUTPUT.glob("*.jsonl"))}
    if not counts:
        sys.exit(f"nothing was loaded into {OUTPUT.resolve()}")
    width = max(len(name) for name in counts)
    print(f"\nLoaded into {OUTPUT.resolve()}/<stream>.jsonl:")
    for name, count in counts.items():
        print(f"  {name:<{width}}  {count:>8,} lines")
    print(f"  {'total':<{width}}  {sum(counts.values()):>8,} lines")


def main(argv: list[str]) -> None:
    action, target = (argv + ["report", "target-duckdb"][len(argv):])[:2]
    log = Path(argv[2]) if len(argv) > 2 else None
    if target != "target-duckdb":
        if action == "report":
            report_jsonl()
        return
    if action == "snapshot":
        SNAPSHOT.write_text(json.dumps(warehouse()))
    else:
        report_duckdb(log)


if __name__ == "__main__":
    main(sys.argv[1:])
