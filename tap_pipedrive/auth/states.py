"""The `state` values `auth url` made, kept next to the settings file, so that `auth exchange`
can check the state of a pasted redirect URL (RFC 6749 section 10.12: a URL whose code was
made for someone else's account is refused). Digests only, mode 0600, a few at a time, each
for an hour at most, and each works once."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import tempfile
import time
from pathlib import Path

MAX_AGE = 3600  # seconds; an authorization code lives 5 minutes
KEPT = 10


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class PendingStates:
    def __init__(self, settings_path: Path) -> None:
        self.path = settings_path.with_name(settings_path.name + ".states")

    def add(self, state: str) -> None:
        entries = self._load()[-(KEPT - 1):]
        self._write([*entries, {"sha256": _digest(state), "at": time.time()}])

    def take(self, state: str) -> bool:
        """Whether `auth url` made this state here (lately); it cannot be taken twice."""
        entries = self._load()
        wanted = _digest(state)
        kept = [e for e in entries if not hmac.compare_digest(e["sha256"], wanted)]
        if len(kept) == len(entries):
            return False
        self._write(kept)
        return True

    def _load(self) -> list[dict]:
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []
        now = time.time()
        return [e for e in entries if isinstance(e, dict) and isinstance(e.get("sha256"), str)
                and isinstance(e.get("at"), (int, float)) and now - e["at"] < MAX_AGE]

    def _write(self, entries: list[dict]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(entries, handle)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
