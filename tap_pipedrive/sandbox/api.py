"""The /api routes as plain functions: query parameters in, response document out.

No HTTP here (server.py does transport, auth and rate limits), so adding an endpoint is one
line in ROUTES, and the rules for parameters live in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import clock, fields
from .data import DEAL_STATUSES, SandboxData
from .paging import BadRequest, Cursor, offset_page, parse_limit

ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
_TIME_SORTS = ("id", "update_time", "add_time")
_SINCE_UNTIL = frozenset({"updated_since", "updated_until"})


@dataclass(frozen=True)
class Route:
    """One list endpoint: which data it serves and how it pages.

    paging: "cursor" (v2 keyset over an entity), "fields" (v2 cursor over field items),
    "offset" (v1 start/limit), "all" (v1, no paging parameters), "me" (GET /users/me).
    sort_fields and filters are the spec's own for that endpoint; other parameters are
    ignored, as unknown parameters are.
    """

    entity: str
    paging: str
    sort_fields: tuple[str, ...] = ("id",)
    filters: frozenset[str] = frozenset()


ROUTES: dict[tuple[str, str], Route] = {
    ("v2", "deals"): Route("deals", "cursor", _TIME_SORTS, _SINCE_UNTIL | {"status"}),
    ("v2", "persons"): Route("persons", "cursor", _TIME_SORTS, _SINCE_UNTIL),
    ("v2", "organizations"): Route("organizations", "cursor", _TIME_SORTS, _SINCE_UNTIL),
    ("v2", "activities"): Route("activities", "cursor", (*_TIME_SORTS, "due_date"), _SINCE_UNTIL),
    ("v2", "products"): Route(
        "products", "cursor", ("id", "name", "add_time", "update_time"),
        frozenset({"updated_since"}),
    ),
    ("v2", "pipelines"): Route("pipelines", "cursor", _TIME_SORTS),
    ("v2", "stages"): Route("stages", "cursor", (*_TIME_SORTS, "order_nr")),
    **{("v2", name): Route(name, "fields") for name in fields.FIELD_ENDPOINTS},
    ("v1", "users"): Route("users", "all"),
    ("v1", "users/me"): Route("users", "me"),
}


def error_envelope(error: str, code: int) -> dict[str, Any]:
    return {"success": False, "error": error, "errorCode": code, "error_info": ERROR_INFO,
            "data": None, "additional_data": None}


def respond(data: SandboxData, route: Route, query: Mapping[str, str]) -> dict[str, Any]:
    """The 200 document for a route; BadRequest for a parameter the sandbox rejects."""
    # An empty parameter (`?updated_since=`) counts as absent.
    params = {k: v for k, v in query.items() if v}
    if route.paging == "cursor":
        return _cursor_page(data, route, params)
    if route.paging == "fields":
        return _fields_page(data, route, params)
    if route.paging == "me":
        return {"success": True, "data": data.me()}
    items = data.records(route.entity)
    if route.paging == "offset":
        visible = [r for r in items if not r.get("is_deleted")]
        page, additional = offset_page(visible, params)
        return {"success": True, "data": page, "additional_data": additional}
    return {"success": True, "data": items}


def _cursor_page(data: SandboxData, route: Route, q: Mapping[str, str]) -> dict[str, Any]:
    limit = parse_limit(q)
    cursor = Cursor.decode(q["cursor"]) if "cursor" in q else None
    # Without explicit sort parameters, the cursor's own order continues.
    sort_by = q.get("sort_by") or (cursor.field if cursor else "id")
    direction = (q.get("sort_direction") or (cursor.direction if cursor else "asc")).lower()
    if sort_by not in route.sort_fields:
        raise BadRequest(f"Invalid sort_by: {sort_by!r} (one of {', '.join(route.sort_fields)})")
    if direction not in ("asc", "desc"):
        raise BadRequest(f"Invalid sort_direction: {direction!r} (asc or desc)")
    if cursor and (cursor.field, cursor.direction) != (sort_by, direction):
        raise BadRequest("Invalid cursor: it belongs to a different sort order")
    since = until = statuses = None
    if "updated_since" in route.filters and "updated_since" in q:
        since = _time_param("updated_since", q["updated_since"])
    if "updated_until" in route.filters and "updated_until" in q:
        until = _time_param("updated_until", q["updated_until"])
    if "status" in route.filters and "status" in q:
        statuses = frozenset(s.strip() for s in q["status"].split(",") if s.strip())
        if not statuses or not statuses <= set(DEAL_STATUSES):
            raise BadRequest(f"Invalid status: {q['status']!r}")
    records, next_key = data.query(
        route.entity, sort_by=sort_by, desc=direction == "desc", limit=limit,
        after=(cursor.key, cursor.id) if cursor else None,
        since=since, until=until, statuses=statuses,
    )
    if "custom_fields" in q:  # spec: restrict custom fields to these keys
        keys = {k.strip() for k in q["custom_fields"].split(",")}
        records = [
            {**r, "custom_fields": {k: v for k, v in r["custom_fields"].items() if k in keys}}
            if "custom_fields" in r else r
            for r in records
        ]
    next_cursor = None
    if next_key is not None:
        next_cursor = Cursor(sort_by, direction, next_key[0], next_key[1]).encode()
    return {"success": True, "data": records, "additional_data": {"next_cursor": next_cursor}}


def _fields_page(data: SandboxData, route: Route, q: Mapping[str, str]) -> dict[str, Any]:
    allowed = fields.NAMESPACES[fields.FIELD_ENDPOINTS[route.entity]]
    wanted = {s.strip() for s in q.get("include_fields", "").split(",") if s.strip()}
    if not wanted <= set(allowed):
        raise BadRequest(f"Invalid include_fields: {q['include_fields']!r}")
    limit = parse_limit(q)
    cursor = Cursor.decode(q["cursor"]) if "cursor" in q else None
    if cursor and cursor.field != "position":
        raise BadRequest("Invalid cursor: it belongs to a different endpoint")
    start = cursor.id if cursor else 0
    items = data.field_items(route.entity)
    drop = set(allowed) - wanted  # namespaces appear only when asked for (spec v2)
    page = [{k: v for k, v in item.items() if k not in drop}
            for item in items[start : start + limit]]
    end = start + len(page)
    next_cursor = Cursor("position", "asc", end, end).encode() if end < len(items) else None
    return {"success": True, "data": page, "additional_data": {"next_cursor": next_cursor}}


def _time_param(name: str, value: str) -> float:
    try:
        return clock.parse_rfc3339(value)
    except ValueError:
        raise BadRequest(f"Invalid {name}: expected RFC 3339, e.g. 2025-01-01T10:20:00Z") from None
