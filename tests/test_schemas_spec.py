"""The committed stream schemas hold every property Pipedrive's spec names for the item, not
only those of the list operation's answer, and are what scripts/generate_schemas.py makes.

The spec is read here independently of the generator: each core entity's single-item GET,
add and update answers (schema and example), and its `include_fields` names."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from helpers import script_module
from test_sandbox_spec import flatten, resolve, spec

from tap_pipedrive import schemas
from tap_pipedrive.streams import STREAMS

ROOT = Path(__file__).resolve().parent.parent
CUSTOM_KEY = re.compile(r"^[0-9a-f]{40}(_[a-z_0-9]+)?$")
# stream -> (spec version, the collection's path)
CORE = {
    "deals": ("v2", "/deals"), "persons": ("v2", "/persons"),
    "organizations": ("v2", "/organizations"), "activities": ("v2", "/activities"),
    "products": ("v2", "/products"), "pipelines": ("v2", "/pipelines"),
    "stages": ("v2", "/stages"), "leads": ("v1", "/leads"), "notes": ("v1", "/notes"),
    "users": ("v1", "/users"),
}


def committed(stream: str) -> dict[str, Any]:
    return json.loads(resources.files(schemas).joinpath(f"{stream}.json").read_text())


def test_deals_carry_creator_user_id():
    """Every real deal has it; the spec names it in its deal examples only."""
    for stream in ("deals", "archived_deals"):
        prop = committed(stream)["properties"]["creator_user_id"]
        assert prop["type"] == ["integer", "null"]


def test_every_property_is_nullable_but_primary_keys():
    for stream in STREAMS:
        if not getattr(stream, "path", None):
            continue
        for name, prop in committed(stream.name)["properties"].items():
            types = [prop["type"]] if isinstance(prop["type"], str) else prop["type"]
            assert "null" in types or name in stream.primary_keys, (stream.name, name)


def _answer_names(version: str, path: str, method: str) -> set[str]:
    """Property names of an operation's 2xx answer item: its schema's and its example's."""
    doc = spec(version)
    op = doc["paths"][path][method]
    names: set[str] = set()
    for code, response in op["responses"].items():
        content = (resolve(doc, response).get("content") or {}).get("application/json")
        if not str(code).startswith("2") or not content:
            continue
        data = flatten(doc, flatten(doc, content["schema"])["properties"]["data"])
        if data.get("type") == "array":
            data = flatten(doc, data["items"])
        names |= set(data.get("properties") or {})
        sample = (content.get("example") or {}).get("data")
        if isinstance(sample, list):
            sample = sample[0] if sample else None
        if isinstance(sample, dict):
            names |= set(sample)
    return {n for n in names if not CUSTOM_KEY.match(n)}


def _include_fields(version: str, path: str) -> set[str]:
    doc = spec(version)
    names: set[str] = set()
    for param in doc["paths"].get(path, {}).get("get", {}).get("parameters", []):
        param = resolve(doc, param)
        if param["name"] == "include_fields":
            names |= {n for v in param["schema"]["enum"] for n in v.split(",")}
    return names


@pytest.mark.parametrize("stream", sorted(CORE))
def test_schema_holds_every_property_the_spec_names(stream):
    version, base = CORE[stream]
    paths = spec(version)["paths"]
    item = next(p for p in paths if re.fullmatch(re.escape(base) + r"/\{[^}/]+\}", p))
    named: dict[str, set[str]] = {}
    for path, methods in ((item, ("get", "patch", "put")), (base, ("post",))):
        for method in methods:
            if method in paths[path]:
                named[f"{method.upper()} {path}"] = _answer_names(version, path, method)
    assert f"GET {item}" in named, f"{stream}: the spec has no single-item GET"
    named["include_fields"] = _include_fields(version, base) | _include_fields(version, item)
    have = set(committed(stream)["properties"])
    missing = {where: sorted(names - have) for where, names in named.items() if names - have}
    assert not missing, f"{stream}: in the spec, not in the schema: {missing}"




def test_committed_schemas_are_what_the_generator_makes():
    """A generator change comes with its regenerated schemas (`make schemas`)."""
    generator = script_module("generate_schemas")
    specs = {"v1": spec("v1"), "v2": spec("v2")}  # skips when the spec folder is absent
    stale = []
    for stream in STREAMS:
        where = generator.endpoint(stream)
        if where is None:
            continue
        version, path = where
        made = json.loads(json.dumps(generator.stream_schema(stream, specs, version, path)))
        if made != committed(stream.name):
            stale.append(stream.name)
    assert not stale, f"stale schemas (run `make schemas`): {stale}"


# --- the union itself -------------------------------------------------------------------------


def test_union_merges_types_properties_and_formats():
    union = script_module("generate_schemas").schema_union
    a = {"type": ["integer", "null"], "description": "from the list",
         "properties": {"x": {"type": ["string", "null"], "format": "date-time"}}}
    b = {"type": ["string", "null"], "description": "elsewhere",
         "properties": {"x": {"type": ["string", "null"]}, "y": {"type": ["boolean", "null"]}}}
    merged = union.merge(a, b)
    assert merged["type"] == ["integer", "string", "null"]
    assert merged["description"] == "from the list"
    assert merged["properties"]["x"] == {"type": ["string", "null"], "format": "date-time"}
    assert merged["properties"]["y"] == {"type": ["boolean", "null"]}
    assert "enum" not in union.merge({"type": ["string"], "enum": ["a"]}, {"type": ["string"]})
    assert union.merge({"type": ["string", "null"], "format": "date"},
                       {"type": ["string", "null"], "format": "date-time"}).get("format") is None


def test_examples_add_only_unnamed_properties():
    union = script_module("generate_schemas").schema_union
    schema = {"properties": {"value": {"type": ["number", "null"]},
                             "custom_fields": {"type": ["object", "null"], "properties": {},
                                               "additionalProperties": True}}}
    key = "a" * 40
    out = union.add_example_properties(schema, {
        "value": "12", "creator_user_id": 1, "archive_time": "2021-01-01T00:00:00Z",
        "local_won_date": "2021-01-01", "origin_id": None, key: 5,
        "custom_fields": {key: 1}})["properties"]
    assert out["value"] == {"type": ["number", "null"]}  # the schema's type, not the example's
    assert out["creator_user_id"]["type"] == ["integer", "null"]
    assert out["archive_time"]["format"] == "date-time"
    assert out["local_won_date"]["format"] == "date"
    assert "null" in out["origin_id"]["type"] and len(out["origin_id"]["type"]) > 2
    assert key not in out and out["custom_fields"]["properties"] == {}
