"""Print what the main job loaded: records per stream and where they are.

Run with the loader's interpreter for target-duckdb (it has the duckdb module):
    .meltano/loaders/target-duckdb/venv/bin/python scripts/report.py target-duckdb
"""

from __future__ import annotations

import sys
from pathlib import Path

OUTPUT = Path("output")


def duckdb_counts(path: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    tables = con.execute(
        "select table_name from information_schema.tables where table_schema = 'pipedrive' "
        "order by table_name"
    ).fetchall()
    return {
        name: con.execute(f'select count(*) from pipedrive."{name}"').fetchone()[0]
        for (name,) in tables
    }


def jsonl_counts(folder: Path) -> dict[str, int]:
    return {
        f.stem: sum(1 for _ in f.open())
        for f in sorted(folder.glob("*.jsonl"))
    }


def main(target: str) -> None:
    if target == "target-duckdb":
        where = OUTPUT / "warehouse.duckdb"
        counts = duckdb_counts(where)
        where_text = f"{where.resolve()} (schema pipedrive)"
    else:
        counts = jsonl_counts(OUTPUT)
        where_text = f"{OUTPUT.resolve()}/<stream>.jsonl"
    if not counts:
        sys.exit(f"nothing was loaded into {where_text}")
    width = max(len(name) for name in counts)
    print(f"\nLoaded into {where_text}:")
    for name, count in counts.items():
        print(f"  {name:<{width}}  {count:>8,} rows")
    print(f"  {'total':<{width}}  {sum(counts.values()):>8,} rows")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target-duckdb")
