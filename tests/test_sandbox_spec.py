"""Every sandbox response item matches Pipedrive's own OpenAPI spec, key for key.

The spec's item schemas are translated to strict JSON Schema: `$ref`s resolved, `allOf`
merged, `nullable: true` turned into `type: [..., "null"]`, and every listed property made
required with no others allowed, so the sandbox can neither invent nor drop a field.
The only leniency is records.NATURAL_NULLS: properties the spec types as non-nullable that a
real account leaves empty (an open deal's won_time); each one is checked to exist in the spec.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_pipedrive_sandbox import Sandbox
from tap_pipedrive_sandbox.records import NATURAL_NULLS

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")

SPEC_DIR = Path(
    os.environ.get("TAP_PIPEDRIVE_OPENAPI_DIR")
    or Path(__file__).resolve().parents[1].parent / "shared" / "pipedrive-openapi"
)
V2_ENTITIES = ["deals", "persons", "organizations", "activities", "products", "pipelines", "stages"]
V2_FIELDS = {  # endpoint -> entity whose NATURAL_NULLS apply (none for field items)
    "dealFields": None, "personFields": None, "organizationFields": None,
    "productFields": None, "activityFields": None,
}
HEADERS = {"x-api-token": "sandbox-api-token"}


@cache
def spec(version: str) -> dict[str, Any]:
    path = SPEC_DIR / f"{version}.yaml"
    if not path.exists():
        pytest.skip(f"Pipedrive OpenAPI spec not found at {path} (set TAP_PIPEDRIVE_OPENAPI_DIR)")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)


def resolve(doc: dict, node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def flatten(doc: dict, node: Any) -> dict[str, Any]:
    """Resolve refs and merge allOf parts into one schema (properties are unioned)."""
    node = resolve(doc, node)
    if "allOf" not in node:
        return node
    merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
    for part in node["allOf"]:
        for key, value in flatten(doc, part).items():
            if key == "properties":
                merged.setdefault("properties", {}).update(value)
            elif key == "required":
                merged["required"] = sorted({*merged.get("required", []), *value})
            else:
                merged.setdefault(key, value)
    return merged


def strict(doc: dict, node: Any, path: str, nulls: frozenset[str],
           optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    """OpenAPI schema -> strict JSON Schema (see module docstring)."""
    node = flatten(doc, node)
    out: dict[str, Any] = {}
    if "properties" in node:
        props = {
            name: strict(doc, sub, f"{path}.{name}" if path else name, nulls)
            for name, sub in node["properties"].items()
        }
        out.update(type="object", properties=props,
                   required=[n for n in props if n not in optional])
        extra = node.get("additionalProperties", False)
        out["additionalProperties"] = (
            strict(doc, extra, path, nulls) if isinstance(extra, dict) else extra
        )
    elif isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = strict(doc, node["additionalProperties"], path, nulls)
    if "items" in node:
        out["items"] = strict(doc, node["items"], path, nulls)
    for combinator in ("oneOf", "anyOf"):
        if combinator in node:
            out[combinator] = [strict(doc, sub, path, nulls) for sub in node[combinator]]
    for keyword in ("type", "enum", "format", "minimum", "maximum"):
        if keyword in node:
            out[keyword] = node[keyword]
    if node.get("nullable") or path in nulls:
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


def response_schema(version: str, path: str) -> dict[str, Any]:
    doc = spec(version)
    op = doc["paths"][path]["get"]
    body = op["responses"]["200"]["content"]["application/json"]["schema"]
    return flatten(doc, body)


def item_schema(version: str, path: str) -> dict[str, Any]:
    data = flatten(spec(version), response_schema(version, path)["properties"]["data"])
    return flatten(spec(version), data["items"]) if data.get("type") == "array" else data


def include_namespaces(path: str) -> set[str]:
    """The namespaces a *Fields endpoint's include_fields enum offers (spec v2)."""
    doc = spec("v2")
    for param in doc["paths"][path]["get"].get("parameters", []):
        param = resolve(doc, param)
        if param["name"] == "include_fields":
            return {part for value in param["schema"]["enum"] for part in value.split(",")}
    return set()


def validator(version: str, path: str, nulls: frozenset[str],
              optional: frozenset[str] = frozenset()) -> Any:
    schema = strict(spec(version), item_schema(version, path), "", nulls, optional)
    cls = jsonschema.Draft202012Validator
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def fetch_all(sb: Sandbox, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        resp = requests.get(f"{sb.url}/api/v2/{path}", params=query, headers=HEADERS, timeout=30)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["success"] is True
        assert set(body) == {"success", "data", "additional_data"}
        assert set(body["additional_data"]) == {"next_cursor"}
        items += body["data"]
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return items
        assert isinstance(cursor, str)


def check(items: list[dict], check_with: Any, keys: set[str]) -> None:
    assert items
    for item in items:
        errors = sorted(check_with.iter_errors(item), key=lambda e: list(e.path))
        assert not errors, f"item {item.get('id', item.get('field_code'))}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]
        )
        assert set(item) == keys, f"keys differ: {set(item) ^ keys}"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(records=300, seed=5) as sandbox:
        yield sandbox


@pytest.mark.parametrize("entity", V2_ENTITIES)
def test_v2_entity_items_match_spec(sb, entity):
    path = f"/{entity}"
    nulls = NATURAL_NULLS.get(entity, frozenset())
    keys = set(item_schema("v2", path)["properties"])
    params: dict[str, Any] = {"limit": 100}
    if entity == "deals":  # every status, deleted deals included
        params["status"] = "open,won,lost,deleted"
    items = fetch_all(sb, entity, **params)
    assert len(items) == len(sb.data.records(entity))
    check(items, validator("v2", path, nulls), keys)
    # Records touched or created at runtime keep the shape.
    changed = sb.data.touch(entity, ids=[1]) + sb.data.create(entity, count=1)
    check(changed, validator("v2", path, nulls), keys)


@pytest.mark.parametrize("endpoint", list(V2_FIELDS))
def test_v2_field_items_match_spec(sb, endpoint):
    path = f"/{endpoint}"
    keys = set(item_schema("v2", path)["properties"])
    namespaces = include_namespaces(path)
    assert namespaces and namespaces <= keys
    plain = fetch_all(sb, endpoint, limit=10)
    check(plain, validator("v2", path, frozenset(), frozenset(namespaces)), keys - namespaces)
    full = fetch_all(sb, endpoint, include_fields=",".join(sorted(namespaces)))
    check(full, validator("v2", path, frozenset()), keys)
    assert [i["field_code"] for i in plain] == [i["field_code"] for i in full]


def test_v1_users_match_spec(sb):
    resp = requests.get(f"{sb.url}/api/v1/users", headers=HEADERS, timeout=30)
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == set(response_schema("v1", "/users")["properties"])
    keys = set(item_schema("v1", "/users")["properties"])
    check(body["data"], validator("v1", "/users", frozenset()), keys)
    assert len(body["data"]) == sb.data.counts["users"]


def test_v1_users_me_matches_spec(sb):
    resp = requests.get(f"{sb.url}/api/v1/users/me", headers=HEADERS, timeout=30)
    assert resp.status_code == 200
    me = resp.json()["data"]
    keys = set(item_schema("v1", "/users/me")["properties"])
    check([me], validator("v1", "/users/me", frozenset()), keys)
    assert me["id"] == 1 and me["is_you"] is True


@pytest.mark.parametrize("entity", sorted(NATURAL_NULLS))
def test_natural_nulls_name_real_non_nullable_spec_fields(entity):
    """The leniency list must not go stale: each entry is a property the spec types as
    non-nullable (otherwise it does not belong on the list)."""
    doc = spec("v2")
    for dotted in NATURAL_NULLS[entity]:
        node: Any = item_schema("v2", f"/{entity}")
        for part in dotted.split("."):
            node = flatten(doc, node)
            if node.get("type") == "array":
                node = flatten(doc, node["items"])
            node = flatten(doc, node["properties"][part])
        assert not node.get("nullable"), f"{entity}.{dotted} is nullable in the spec already"
