"""The sandbox's endpoints added for the full stream catalogue answer as Pipedrive's spec says:
each item matches the spec's item schema key for key (strict: every property present, no
other), and each response has the spec's top-level keys.

The one leniency: leads carry the deals' custom fields as top-level 40-character keys (with
`_currency`, `_until`, address-part suffixes), which the spec describes in words only
(GET /v1/leads/archived) and so cannot list.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from test_sandbox_spec import flatten, resolve, spec, strict

from tap_pipedrive_sandbox import Sandbox
from tap_pipedrive_sandbox.api import ROUTES
from tap_pipedrive_sandbox.children import KINDS
from tap_pipedrive_sandbox.records import NATURAL_NULLS as CORE_NULLS
from tap_pipedrive_sandbox.templated import NATURAL_NULLS as TEMPLATED_NULLS

jsonschema = pytest.importorskip("jsonschema")

HEADERS = {"x-api-token": "sandbox-api-token"}
CORE = {"deals", "persons", "organizations", "activities", "products", "pipelines", "stages",
        "dealFields", "personFields", "organizationFields", "productFields", "activityFields",
        "users", "users/me"}
NEW = sorted((v, name) for (v, name) in ROUTES if name not in CORE)
LEAD_CUSTOM_KEYS = {"^[0-9a-f]{40}(_[a-z_0-9]+)?$": {}}
NATURAL_NULLS = {**CORE_NULLS, **TEMPLATED_NULLS}


@pytest.fixture(scope="module")
def sb():
    with Sandbox(records=120, seed=5, burst_limit=0) as sandbox:
        yield sandbox


def item_schema(version: str, path: str) -> dict[str, Any]:
    doc = spec(version)
    op = doc["paths"][path]["get"]
    body = flatten(doc, op["responses"]["200"]["content"]["application/json"]["schema"])
    data = flatten(doc, body["properties"]["data"])
    if data.get("type") != "array":  # goals: data.goals[]
        data = flatten(doc, next(v for v in data["properties"].values()
                                 if resolve(doc, v).get("type") == "array"))
    return flatten(doc, data["items"])


def body_keys(version: str, path: str) -> set[str]:
    doc = spec(version)
    op = doc["paths"][path]["get"]
    return set(flatten(doc, op["responses"]["200"]["content"]["application/json"]["schema"])
               ["properties"])


def calls(sb: Sandbox, version: str, name: str) -> list[tuple[str, dict[str, str]]]:
    """The calls that list every item of a route (children: of every parent)."""
    route = ROUTES[(version, name)]
    if route.paging == "batch":
        deals = [str(d["id"]) for d in sb.data.records("deals")]
        return [(name, {route.parent_param: ",".join(deals[i:i + 100])})
                for i in range(0, len(deals), 100)]
    if route.paging == "child":
        parent = KINDS[route.entity].parent
        ids = [str(r["id"]) for r in sb.data.records(parent)]
        if "{id}" in name:
            return [(name.replace("{id}", i), {}) for i in ids]
        return [(name, {route.parent_param: i}) for i in ids]
    if route.required:  # mail threads: one folder at a time
        return [(name, {"folder": f}) for f in ("inbox", "drafts", "sent", "archive")]
    if name == "goals/find":
        return [(name, {"type.name": t, "is_active": a})
                for t in ("deals_won", "deals_progressed", "activities_completed",
                          "activities_added", "deals_started") for a in ("true", "false")]
    if name in ("projects", "projects/archived"):
        return [(name, {"status": "open,completed,canceled,deleted"})]
    if name == "deals/archived":
        return [(name, {"status": "open,won,lost,deleted"})]
    return [(name, {})]


def fetch(sb: Sandbox, version: str, path: str, params: dict[str, str],
          keys: set[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    while True:
        resp = requests.get(f"{sb.url}/api/{version}/{path}", params={**params, **extra},
                            headers=HEADERS, timeout=30)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert set(body) == keys, f"{path}: top-level keys {set(body) ^ keys}"
        data = body["data"]
        items += data["goals"] if isinstance(data, dict) else data
        additional = body.get("additional_data") or {}
        paging = additional.get("pagination") or additional
        if additional.get("next_cursor"):
            extra = {"cursor": additional["next_cursor"]}
        elif paging.get("more_items_in_collection"):
            extra = {"start": str(paging.get("next_start") or paging["start"] + paging["limit"])}
        else:
            return items


@pytest.mark.parametrize(("version", "name"), NEW, ids=[f"{v}/{n}" for v, n in NEW])
def test_new_endpoint_items_match_spec(sb, version, name):
    path = "/" + name
    entity = ROUTES[(version, name)].entity
    nulls = NATURAL_NULLS.get("deals" if entity == "archived_deals" else entity, frozenset())
    schema = strict(spec(version), item_schema(version, path), "", nulls)
    if name in ("leads", "leads/archived"):
        schema["additionalProperties"] = False
        schema["patternProperties"] = LEAD_CUSTOM_KEYS
    check = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    keys = body_keys(version, path)
    items = [item for call, params in calls(sb, version, name)
             for item in fetch(sb, version, call, params, keys)]
    assert items, f"{name}: the sandbox serves nothing"
    for item in items:
        errors = sorted(check.iter_errors(item), key=lambda e: list(e.path))
        assert not errors, f"{name}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])


def test_every_stream_endpoint_is_served():
    """Each stream of the tap has a sandbox route (so each can be tested offline)."""
    from tap_pipedrive.streams import STREAMS
    from tap_pipedrive_sandbox.api import match

    for stream in STREAMS:
        path = getattr(stream, "path", None)
        if not path:
            continue
        version, _, name = path[len("/api/"):].partition("/")
        concrete = name.replace("{", "").replace("}", "")  # {deal_id} -> deal_id: any segment
        route, _ = match(version, "/".join("1" if "_id" in p or p == "id" else p
                                           for p in concrete.split("/")))
        assert route is not None, f"{stream.name}: no sandbox route for {path}"


@pytest.mark.parametrize("entity", sorted(TEMPLATED_NULLS))
def test_natural_nulls_name_non_nullable_spec_fields(entity):
    """The leniency list must not go stale: each entry is a property the spec types as
    non-nullable (otherwise it does not belong on the list)."""
    from tap_pipedrive_sandbox.templated import ENDPOINTS

    version, path = ENDPOINTS[entity].split(" ")
    props = item_schema(version, path)["properties"]
    for name in TEMPLATED_NULLS[entity]:
        assert not flatten(spec(version), props[name]).get("nullable"), f"{entity}.{name}"
