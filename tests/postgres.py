"""The throw-away PostgreSQL server of the loader tests (shared with `make accounts-demo`)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "orchestration" / "dagster"))

from pipedrive_accounts.localpg import Postgres, find_bin_dir

__all__ = ["Postgres", "find_bin_dir"]
