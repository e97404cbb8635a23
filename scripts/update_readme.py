"""Write the settings table of `tap-pipedrive --about --format markdown` into README.md.

Usage: python scripts/update_readme.py [--check]
With --check, exit 1 (and say so) when the README's table differs from the tap's.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def settings_table() -> str:
    tap = Path(sys.executable).with_name("tap-pipedrive")
    about = subprocess.run(
        [str(tap), "--about", "--format", "markdown"], capture_output=True, text=True, check=True
    ).stdout
    rows = [line for line in about.splitlines() if line.startswith("|")]
    return "\n".join(rows)


def render(readme: str, table: str) -> str:
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    return pattern.sub(lambda _: f"{START}\n{table}\n{END}", readme)


def main() -> int:
    current = README.read_text()
    wanted = render(current, settings_table())
    if "--check" in sys.argv:
        if wanted != current:
            print("README settings table is stale: run scripts/update_readme.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
