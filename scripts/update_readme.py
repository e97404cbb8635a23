"""Write the README's generated tables: settings (`tap-pipedrive --about --format markdown`)
and streams (the endpoint table, tap_pipedrive/endpoints.py, with each call's token cost).

Usage: python scripts/update_readme.py [--check]
With --check, exit 1 (and say so) when a table of the README differs from what it should be.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tap_pipedrive.endpoints import BY_NAME, ENDPOINTS, Endpoint
from tap_pipedrive.token_costs import cost_of

README = Path(__file__).resolve().parent.parent / "README.md"
SETTINGS = "<!-- settings:start -->", "<!-- settings:end -->"
STREAMS = "<!-- streams:start -->", "<!-- streams:end -->"


def settings_table() -> str:
    tap = Path(sys.executable).with_name("tap-pipedrive")
    about = subprocess.run(
        [str(tap), "--about", "--format", "markdown"], capture_output=True, text=True, check=True
    ).stdout
    rows = [line for line in about.splitlines() if line.startswith("|")]
    return "\n".join(rows)


def replication(entry: Endpoint) -> str:
    if entry.replication == "child":
        how = f"`{entry.batch_param}=` 100 parents per call" if entry.batch_param \
            else "one call per parent"
        return f"with parent `{BY_NAME[entry.parent].name}` ({how})"
    if entry.replication == "newest_first":
        return "incremental `update_time` (newest first, stops at the bookmark)"
    if entry.replication == "incremental":
        return "incremental `update_time` (`updated_since`)"
    return "full table"


def stream_table() -> str:
    """Markdown rows: stream, endpoint, replication, primary key, tokens per call, default."""
    rows = ["| Stream | Endpoint | Replication | Primary key | Tokens per call | Default |",
            "|---|---|---|---|---|---|"]
    for entry in sorted(ENDPOINTS, key=lambda e: e.name):
        if entry.path:
            cost, endpoint = cost_of(entry.path), f"`GET {entry.path}`"
        else:
            cost, endpoint = 0, "none (the field metadata already read)"
        keys = ", ".join(f"`{k}`" for k in entry.primary_keys)
        selected = "yes" if entry.selected else "no"
        rows.append(f"| `{entry.name}` | {endpoint} | {replication(entry)} | {keys} | "
                    f"{cost} | {selected} |")
    return "\n".join(rows)


def render(readme: str, marks: tuple[str, str], table: str) -> str:
    start, end = marks
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    return pattern.sub(lambda _: f"{start}\n{table}\n{end}", readme)


def main() -> int:
    current = README.read_text()
    wanted = render(render(current, SETTINGS, settings_table()), STREAMS, stream_table())
    if "--check" in sys.argv:
        if wanted != current:
            print("README settings or stream table is stale: run scripts/update_readme.py",
                  file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
