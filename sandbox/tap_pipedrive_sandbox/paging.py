"""The two pagination styles of Pipedrive's API (PIPEDRIVE_API.md section 4).

- v2 cursor: `cursor` + `limit` (default 100, max 500); `additional_data.next_cursor`, null at
  the end. The cursor is a keyset position: base64url JSON of the last item's sort value and
  id, shaped like Pipedrive's own (`{"field":"id","fieldValue":7,"sortDirection":"asc","id":7}`).
- v1 offset: `start` + `limit`; `additional_data.pagination` = {start, limit,
  more_items_in_collection, next_start (only while more items remain)}.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import clock

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
TIME_FIELDS = ("update_time", "add_time")


class BadRequest(ValueError):
    """A parameter the sandbox cannot accept; the server answers 400 with its message."""


def parse_limit(query: Mapping[str, str], max_limit: int = MAX_LIMIT) -> int:
    raw = query.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest(f"Invalid limit: {raw!r}") from None
    if limit < 1:
        raise BadRequest("limit must be a positive integer")
    return min(limit, max_limit)  # Pipedrive clamps rather than rejecting


@dataclass(frozen=True)
class Cursor:
    field: str
    direction: str
    key: Any  # the internal sort key (epoch seconds for time fields)
    id: int

    def encode(self) -> str:
        value = clock.v2(self.key) if self.field in TIME_FIELDS else self.key
        doc = {"field": self.field, "fieldValue": value, "sortDirection": self.direction,
               "id": self.id}
        raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            doc = json.loads(raw)
            field, direction, value, last_id = (
                doc["field"], doc["sortDirection"], doc["fieldValue"], doc["id"],
            )
            if field in TIME_FIELDS:
                value = int(clock.parse_rfc3339(value))
            if not isinstance(last_id, int) or direction not in ("asc", "desc"):
                raise ValueError(text)
        except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise BadRequest("Invalid cursor") from None
        return cls(field, direction, value, last_id)


def offset_page(items: Sequence[Any], query: Mapping[str, str]) -> tuple[list[Any], dict]:
    """One v1 offset page of `items` and its `additional_data`."""
    raw_start = query.get("start") or "0"
    try:
        start = int(raw_start)
    except ValueError:
        raise BadRequest(f"Invalid start: {raw_start!r}") from None
    if start < 0:
        raise BadRequest("start must not be negative")
    limit = parse_limit(query)
    page = list(items[start : start + limit])
    more = start + limit < len(items)
    pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    return page, {"pagination": pagination}
