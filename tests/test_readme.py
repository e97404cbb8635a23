"""The README tells the truth about settings: its table is the tap's own --about output."""

from __future__ import annotations

import json
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
