"""The README tells the truth about settings: its table is the tap's own --about output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_settings_table_matches_about():
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts/update_readme.py"), "--check"],
        capture_output=True, text=True,
    )
    assert check.returncode == 0, check.stderr


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    about = subprocess.run(
        [str(Path(sys.executable).with_name("tap-pipedrive")), "--about", "--format", "json"],
        capture_output=True, text=True, check=True,
    ).stdout
    for name in json.loads(about)["settings"]["properties"]:
        assert f"| {name} " in readme, name


TARGET_SHIM = """#!{python}
# Stands in for target-jsonl: reads Singer messages, counts records, prints the last state
# it was sent (as Singer targets print the state they committed).
import json, sys
state, records = None, 0
for line in sys.stdin:
    message = json.loads(line)
    if message["type"] == "STATE":
        state = message["value"]
    records += message["type"] == "RECORD"
open("records.txt", "a").write(f"{{records}}\\n")
if state is not None:
    print(json.dumps(state))
"""


def recipe() -> str:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- recipe:start -->", 1)[1].split("<!-- recipe:end -->", 1)[0]
    return block.split("```sh", 1)[1].split("```", 1)[0]


def test_plain_singer_recipe_works_on_a_first_run_and_keeps_the_state(shared_sandbox,
                                                                      tmp_path):
    from helpers import sandbox_config
    from resume_helpers import catalog

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "target-jsonl"
    shim.write_text(TARGET_SHIM.format(python=sys.executable))
    shim.chmod(0o755)
    work = tmp_path / "job"
    work.mkdir()
    (work / "catalog.json").write_text(catalog(tmp_path, ("deals", "users")).read_text())
    (work / "config.json").write_text(json.dumps(sandbox_config(shared_sandbox.url)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_PIPEDRIVE_")}
    env["PATH"] = f"{bin_dir}:{Path(sys.executable).parent}:{env['PATH']}"
    for _ in range(2):
        done = subprocess.run(["bash", "-c", recipe()], cwd=work, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        state = json.loads((work / "state.json").read_text())
        assert state["bookmarks"]["deals"]["replication_key_value"]
    first, second = map(int, (work / "records.txt").read_text().split())
    assert first == len(shared_sandbox.data.records("deals")) + len(
        shared_sandbox.data.records("users"))
    assert second < first  # the second run started from the kept state


def headings(readme: str, level: str = "## ") -> list[str]:
    fence, found = False, []
    for line in readme.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and line.startswith(level):
            found.append(line[len(level):].strip())
    return found


def anchor(title: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def test_table_of_contents_lists_every_section_in_order():
    readme = (ROOT / "README.md").read_text()
    toc = readme.split("**Contents**", 1)[1].split("\n## ", 1)[0]
    links = re.findall(r"^- \[([^\]]+)\]\(#([^)]+)\)", toc, flags=re.MULTILINE)
    sections = headings(readme)
    assert [title for title, _ in links] == sections
    assert all(target == anchor(title) for title, target in links)


def test_first_hour_sections_come_before_the_reference():
    sections = headings((ROOT / "README.md").read_text())
    first = ["Quickstart: two commands", "Using it", "Configuration", "Authentication",
             "Exit codes", "Troubleshooting"]
    reference = ["Streams", "Speed and cost"]
    assert max(sections.index(s) for s in first) < min(sections.index(s) for s in reference)
