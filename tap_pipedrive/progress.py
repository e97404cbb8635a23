"""Progress of a sync: pages and records per stream, counted as pages are read.

`page()` is called once per page, in the thread that emits the page's records.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass
class StreamProgress:
    pages: int = 0
    records: int = 0
    started: float = 0.0
    last: float = 0.0


class Progress:
    def __init__(self) -> None:
        self.streams: dict[str, StreamProgress] = {}
        self._lock = threading.Lock()

    def page(self, stream: str, records: int) -> None:
        now = time.monotonic()
        with self._lock:
            entry = self.streams.get(stream)
            if entry is None:
                entry = self.streams[stream] = StreamProgress(started=now)
            entry.pages += 1
            entry.records += records
            entry.last = now
