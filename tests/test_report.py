"""`make run`'s report: a rerun says it was incremental and what it changed per stream
(records read, rows new and updated in the warehouse), and prints a query that runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import report  # noqa: E402

LOG = """[info] tap-pipedrive Sync summary (finished):
[info] tap-pipedrive stream  records  requests  tokens  time  retries  429s  odd values
[info] tap-pipedrive deals         3         1      10  0.1s        0     0           0
[info] tap-pipedrive users         2         1      20  0.1s        0     0           0
[info] tap-pipedrive total         5         2      30  0.2s        0     0           0
"""


def load(rows: list[tuple], users: int) -> None:
    con = duckdb.connect(str(report.WAREHOUSE))
    con.execute("create schema if not exists pipedrive")
    con.execute("create or replace table pipedrive.deals (id bigint, title varchar, "
                "status varchar, value double, update_time timestamp)")
    con.executemany("insert into pipedrive.deals values (?, 'd', 'open', 1, ?)", rows)
    con.execute("create or replace table pipedrive.users (name varchar)")
    con.executemany("insert into pipedrive.users values (?)", [[f"u{i}"] for i in range(users)])
    con.close()


def lines(out: str) -> dict[str, list[str]]:
    return {cells[0]: cells[1:] for line in out.splitlines() if (cells := line.split())}


def test_rerun_reports_read_new_and_updated(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "output").mkdir()
    report.main(["snapshot", "target-duckdb"])  # no warehouse yet: a first run
    load([(1, "2026-01-01 00:00:00"), (2, "2026-01-01 00:00:00")], users=1)
    report.main(["report", "target-duckdb"])
    first = capsys.readouterr().out
    assert "first run (full sync)" in first

    report.main(["snapshot", "target-duckdb"])
    load([(1, "2026-01-01 00:00:00"), (2, "2026-02-01 00:00:00"), (3, "2026-02-01 00:00:00")],
         users=2)
    (tmp_path / "run.log").write_text(LOG)
    report.main(["report", "target-duckdb", "run.log"])
    out = capsys.readouterr().out
    assert "incremental run" in out
    table = lines(out)
    assert table["deals"] == ["3", "3", "1", "1"]  # read, rows, new, updated
    assert table["users"] == ["2", "2", "1", "-"]  # no id/update_time: rows added only
    look = out.strip().splitlines()[-1].strip()
    assert look.startswith(".venv/bin/python -c ")
    python = Path(sys.executable)
    shown = subprocess.run(look.replace(".venv/bin/python", str(python), 1), shell=True,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "update_time" in shown.stdout
