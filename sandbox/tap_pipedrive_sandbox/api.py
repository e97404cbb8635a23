"""The /api routes as plain functions: query parameters in, response document out.

No HTTP here (server.py does transport, auth and rate limits). A stream's route follows from
its entry of the tap's endpoint table (tap_pipedrive/endpoints.py: path, version, paging,
entity, parent), plus the spec's parameters for it in SPEC; the rules for parameters live in
one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tap_pipedrive.endpoints import ENDPOINTS, Endpoint

from . import clock, drift, fields, odd
from .data import DEAL_STATUSES, SandboxData
from .paging import BadRequest, Cursor, offset_page, parse_limit
from .templated import envelope
from .world import PROJECT_STATUSES

ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
_TIME_SORTS = ("id", "update_time", "add_time")
_SINCE_UNTIL = frozenset({"updated_since", "updated_until"})
_MAX_PARENTS = 100  # deal_ids: "A maximum of 100 deal IDs can be provided" (spec v2)


@dataclass(frozen=True)
class Route:
    """One list endpoint: which data it serves and how it pages.

    paging: "cursor" (v2 keyset over an entity), "fields" (v2 cursor over field items),
    "offset" (v1 start/limit), "all" (v1, no paging parameters), "me" (GET /users/me),
    "list" (an entity or v1 field items, filtered and sorted in memory: small lists),
    "child" (the items of one parent: `{id}` in the path, or `parent_param`), "batch" (the
    items of up to 100 parents: `parent_param` is a comma-separated list).
    sort_fields and filters are the spec's own for that endpoint; other parameters are
    ignored, as unknown parameters are. For list/child/batch, `endpoint` (a templates.json key)
    gives the response's keys and paging style, `paged` whether it takes start/limit or
    cursor/limit, `max_limit` its largest page, `required` parameters it rejects a call
    without, and `nested` the key under `data` that holds the items (goals).
    """

    entity: str
    paging: str
    sort_fields: tuple[str, ...] = ("id",)
    filters: frozenset[str] = frozenset()
    statuses: tuple[str, ...] = DEAL_STATUSES
    endpoint: str = ""
    paged: bool = True
    max_limit: int = 500
    required: tuple[str, ...] = ()
    parent_param: str = ""
    nested: str = ""


# What each stream's endpoint takes beyond its entry of the tap's endpoint table: the spec's
# sort fields, filters and required parameters (others are ignored, as unknown parameters
# are), and where the sandbox serves a stream its own way (users: every user, deleted too).
SPEC: dict[str, dict[str, Any]] = {
    "deals": {"sort_fields": _TIME_SORTS, "filters": _SINCE_UNTIL | {"status"}},
    "archived_deals": {"sort_fields": _TIME_SORTS, "filters": _SINCE_UNTIL | {"status"}},
    "persons": {"sort_fields": _TIME_SORTS, "filters": _SINCE_UNTIL},
    "organizations": {"sort_fields": _TIME_SORTS, "filters": _SINCE_UNTIL},
    "activities": {"sort_fields": (*_TIME_SORTS, "due_date"), "filters": _SINCE_UNTIL},
    "products": {"sort_fields": ("id", "name", "add_time", "update_time"),
                 "filters": frozenset({"updated_since"})},
    "pipelines": {"sort_fields": _TIME_SORTS},
    "stages": {"sort_fields": (*_TIME_SORTS, "order_nr")},
    "projects": {"filters": frozenset({"status"}), "statuses": PROJECT_STATUSES},
    "archived_projects": {"filters": frozenset({"status"}), "statuses": PROJECT_STATUSES},
    "leads": {"filters": frozenset({"updated_since", "sort"})},
    "archived_leads": {"filters": frozenset({"sort"})},
    "notes": {"filters": frozenset({"updated_since", "sort"})},
    "files": {"filters": frozenset({"sort"})},
    "mail_threads": {"filters": frozenset({"folder"}), "required": ("folder",)},
    "filters": {"filters": frozenset({"type"})},
    "goals": {"filters": frozenset({"type.name", "is_active"})},
    "permission_sets": {"filters": frozenset({"app"})},
    "users": {"paging": "all"},
}


def route_path(entry: Endpoint) -> tuple[str, str]:
    """The ROUTES key of a stream's endpoint: `/api/v2/deals/{deal_id}/followers` is
    ("v2", "deals/{id}/followers")."""
    name = entry.path.split("/", 3)[3]
    if entry.parent_param:
        name = name.replace("{" + entry.parent_param + "}", "{id}")
    return entry.version, name


def route_of(entry: Endpoint) -> Route:
    """How the sandbox serves a stream, from its entry (and SPEC)."""
    version, name = route_path(entry)
    endpoint, paged = f"{version} /{name}", entry.paging in ("cursor", "offset")
    kw: dict[str, Any] = {"max_limit": entry.page_size} if entry.page_size else {}
    if entry.records_jsonpath:  # `$.data.goals[*]`: the items are under data.goals
        kw["nested"] = entry.records_jsonpath.removeprefix("$.data.").removesuffix("[*]")
    kw.update(SPEC.get(entry.name, {}))
    if entry.batch_param:
        return Route(entry.entity, "batch", endpoint=endpoint, parent_param=entry.batch_param)
    if entry.replication == "child":
        in_path = "{id}" in name
        return Route(entry.entity, "child", endpoint=endpoint, paged=paged,
                     parent_param="" if in_path else entry.parent_param, **kw)
    if entry.field_metadata and version == "v2":
        return Route(entry.entity, "fields", **kw)
    if version == "v2" and paged:
        return Route(entry.entity, "cursor", **kw)
    if "paging" in kw:
        return Route(entry.entity, **kw)
    return Route(entry.entity, "list", endpoint=endpoint, paged=paged, **kw)


def routes(entries: Iterable[Endpoint]) -> dict[tuple[str, str], Route]:
    """The routes of the streams of `entries`, and those that serve no stream."""
    return {
        **{route_path(entry): route_of(entry) for entry in entries if entry.path},
        # not a stream: who the token belongs to (the tap's connection check)
        ("v1", "users/me"): Route("users", "me"),
    }


ROUTES: dict[tuple[str, str], Route] = routes(ENDPOINTS)


def match(version: str, name: str) -> tuple[Route | None, dict[str, str]]:
    """The route for `/api/<version>/<name>`, and the path parameters it carries (`id`)."""
    route = ROUTES.get((version, name))
    if route is not None:
        return route, {}
    parts = name.split("/")
    for (v, pattern), candidate in ROUTES.items():
        if v != version or "{id}" not in pattern:
            continue
        wanted = pattern.split("/")
        if len(wanted) == len(parts) and all(w in ("{id}", p) for w, p in zip(wanted, parts,
                                                                               strict=True)):
            return candidate, {"id": parts[wanted.index("{id}")]}
    return None, {}


def error_envelope(error: str, code: int) -> dict[str, Any]:
    return {"success": False, "error": error, "errorCode": code, "error_info": ERROR_INFO,
            "data": None, "additional_data": None}


def respond(data: SandboxData, route: Route, query: Mapping[str, str],
            path: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The 200 document for a route; BadRequest for a parameter the sandbox rejects."""
    doc = _respond(data, route, query, path or {})
    if data.odd_values:  # Sandbox(odd_values=True): values that broke other connectors
        odd.apply(data, route.entity, doc)
    if data.drift:  # Sandbox(drift=True): wider and less regular than the spec
        drift.apply(data, route.entity, doc)
    return doc


def _respond(data: SandboxData, route: Route, query: Mapping[str, str],
             path: Mapping[str, str]) -> dict[str, Any]:
    # An empty parameter (`?updated_since=`) counts as absent.
    params = {k: v for k, v in query.items() if v}
    if route.paging == "cursor":
        return _cursor_page(data, route, params)
    if route.paging == "fields":
        return _fields_page(data, route, params)
    if route.paging == "list":
        return _list_page(data, route, params)
    if route.paging == "child":
        parent = path.get("id") or params.get(route.parent_param)
        if parent is None:
            raise BadRequest(f"Missing required parameter: {route.parent_param}")
        return _page(route, data.children_of(route.entity, _id(parent)), params)
    if route.paging == "batch":
        return _batch_page(data, route, params)
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
        if not statuses or not statuses <= set(route.statuses):
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


# --- in-memory lists: v1 lists, child lists, batches ---------------------------------------------


def _id(text: str) -> Any:
    return int(text) if text.isdigit() else text


def _list_page(data: SandboxData, route: Route, q: Mapping[str, str]) -> dict[str, Any]:
    for name in route.required:
        if name not in q:
            raise BadRequest(f"Missing required parameter: {name}")
    items = [r for r in data.records(route.entity) if not r.get("is_deleted")]
    if "updated_since" in route.filters and "updated_since" in q:
        since = _time_param("updated_since", q["updated_since"])
        items = [r for r in items if clock.parse_any(r["update_time"]) >= since]
    for name in ("folder", "type", "app", "type.name"):
        if name in route.filters and name in q:
            items = [r for r in items if _matches(r, name, q[name])]
    if "is_active" in route.filters:  # goals: true unless asked otherwise (spec default)
        active = q.get("is_active", "true").lower() == "true"
        items = [r for r in items if r.get("is_active") is active]
    if "sort" in route.filters and "sort" in q:
        items = _sorted(items, q["sort"])
    return _page(route, items, q)


def _matches(item: dict[str, Any], name: str, wanted: str) -> bool:
    if name == "folder":
        return wanted in (item.get("folders") or [])
    if name == "type.name":
        return (item.get("type") or {}).get("name") == wanted
    return item.get(name) == wanted


def _sorted(items: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    """v1 `sort`: `field ASC|DESC` (the first field only, which is what taps send)."""
    field, _, direction = sort.split(",")[0].strip().partition(" ")
    if not items or field not in items[0]:
        raise BadRequest(f"Invalid sort: {sort!r}")
    desc = direction.strip().upper() == "DESC"
    if field in ("update_time", "add_time"):
        def key(r: dict[str, Any]) -> Any:
            return clock.parse_any(r[field])
    else:
        def key(r: dict[str, Any]) -> Any:
            return r[field]
    # Stable: ties keep the list's own order, in both directions.
    order = sorted(range(len(items)), key=lambda n: (key(items[n]), -n if desc else n),
                   reverse=desc)
    return [items[n] for n in order]


def _batch_page(data: SandboxData, route: Route, q: Mapping[str, str]) -> dict[str, Any]:
    raw = q.get(route.parent_param)
    if not raw:
        raise BadRequest(f"Missing required parameter: {route.parent_param}")
    try:
        parents = list(dict.fromkeys(int(x) for x in raw.split(",") if x.strip()))
    except ValueError:
        raise BadRequest(f"Invalid {route.parent_param}: {raw!r}") from None
    if len(parents) > _MAX_PARENTS:
        raise BadRequest(f"{route.parent_param}: at most {_MAX_PARENTS} ids")
    items = sorted((i for p in parents for i in data.children_of(route.entity, p)),
                   key=lambda item: item["id"])
    return _page(route, items, q)


def _page(route: Route, items: list[dict[str, Any]], q: Mapping[str, str]) -> dict[str, Any]:
    """One page of an in-memory list, in the endpoint's own envelope (templates.json)."""
    shape = envelope(route.endpoint)
    style, keys = shape["paging"], shape["keys"]
    additional: Any = None
    if style == "cursor":
        limit = parse_limit(q, route.max_limit)
        cursor = Cursor.decode(q["cursor"]) if "cursor" in q else None
        if cursor and cursor.field != "position":
            raise BadRequest("Invalid cursor: it belongs to a different endpoint")
        start = cursor.id if cursor else 0
        page = items[start : start + limit]
        end = start + len(page)
        more = end < len(items)
        additional = {"next_cursor": Cursor("position", "asc", end, end).encode() if more
                      else None}
    elif route.paged:  # v1 start/limit, whatever the envelope says about it
        page, extra = offset_page(items, {**q, "limit": str(min(parse_limit(q),
                                                                route.max_limit))})
        pagination = extra["pagination"]
        if style == "pagination":
            additional = extra
        elif style == "flat":
            additional = {k: pagination[k] for k in ("start", "limit",
                                                     "more_items_in_collection")}
    else:
        page = items
        if style == "flat":
            additional = {"start": 0, "limit": len(items), "more_items_in_collection": False}
    doc: dict[str, Any] = {"success": True,
                           "data": {route.nested: page} if route.nested else page}
    if "additional_data" in keys:
        doc["additional_data"] = additional
    if "related_objects" in keys:
        doc["related_objects"] = {}
    return doc
