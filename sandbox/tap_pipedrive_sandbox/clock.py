"""Timestamps: the sandbox keeps epoch seconds and formats them the way each API version does.

v2 uses RFC 3339 (`2025-03-04T10:20:30Z`), v1 uses `2025-03-04 10:20:30` (UTC, no offset);
see PIPEDRIVE_API.md section 5.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

# Generated data lives between these instants, so it is always in the past.
START = 1672531200  # 2023-01-01T00:00:00Z
ADD_END = 1774915200  # 2026-03-31T00:00:00Z: last generated add_time
END = 1782863999  # 2026-06-30T23:59:59Z: last generated update_time

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)


def now() -> int:
    return int(time.time())


def v2(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def v1(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def day(epoch: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def parse_rfc3339(text: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp; ValueError for anything else.

    Strict on purpose: a tap that sends a v1-style or offset-less time to a v2 endpoint
    should find out here, not in production.
    """
    if not _RFC3339.match(text):
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    return datetime.fromisoformat(text.upper().replace("Z", "+00:00")).timestamp()


def to_epoch(value: object) -> int:
    """Accept what callers of the Python API and admin endpoints naturally pass."""
    if value is None:
        return now()
    if isinstance(value, datetime):
        if value.tzinfo is None:  # naive datetimes are taken as UTC, like Pipedrive's v1 times
            value = value.replace(tzinfo=timezone.utc)
        return int(value.timestamp())
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        return int(parse_rfc3339(value))
    raise TypeError(f"cannot read a time from {value!r}")


def stamp(epoch: int, like: object) -> str:
    """`epoch` written the way `like` (a sample value of the same field) is written: v1
    `2025-03-04 10:20:30`, v2 `2025-03-04T10:20:30Z`, or with milliseconds `...30.000Z`."""
    if isinstance(like, str) and "T" not in like:
        return v1(epoch)
    if isinstance(like, str) and "." in like:
        return v2(epoch)[:-1] + ".000Z"
    return v2(epoch)


def parse_any(text: str) -> int:
    """Epoch seconds of a time written by `stamp` (any of its three styles)."""
    if "T" not in text:
        text = text.replace(" ", "T") + "Z"
    return int(parse_rfc3339(text))
