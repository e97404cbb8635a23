"""Generate the tap's stream schemas, and the sandbox's record templates, from Pipedrive's
published OpenAPI specs.

Usage: .venv/bin/python scripts/generate_schemas.py [SPEC_DIR]

SPEC_DIR holds Pipedrive's `v1.yaml` and `v2.yaml` (default: ../shared/pipedrive-openapi beside
the repository). The streams come from the tap itself (tap_pipedrive.streams.STREAMS): each
stream's `path` names its endpoint (`/api/v2/deals/{deal_id}/followers` is the spec's
`/deals/{id}/followers` in v2.yaml). Outputs, committed so that the installed tap never needs
the spec at run time (review the diff after updating the spec):

- `tap_pipedrive/schemas/<stream>.json`: the union of every place the spec describes the
  endpoint's item (item_descriptions): the list's answer, the same collection's other lists
  (`/archived`, `/find`), the answers of add, get-one, update, duplicate and merge, the
  properties only their examples name (typed by the example value), and what `include_fields`
  may add (typed where the spec types it elsewhere, e.g. in v1's answers for the same item).
  A property typed differently in two places gets both types;
- `sandbox/tap_pipedrive_sandbox/templates.json`: per endpoint, one spec-shaped item (every
  property of the spec, each of its type), which the sandbox fills with generated values, and
  the response's top-level keys and paging style.

The README's stream table comes from the endpoint table (scripts/update_readme.py).

What the script changes on the way, and why:
- `$ref`s are resolved and `allOf` merged: the SDK and targets want plain JSON Schema.
- every property becomes nullable: Pipedrive returns null for most fields sooner or later, and a
  null in a non-nullable column fails loaders. The exception: primary key properties that
  every description gives and none calls nullable (a record always has its key).
- timestamps get `format: date-time` (v2: named add_time/update_time or described as a "date and
  time"; v1: also those whose example looks like `2019-11-28 16:19:50`), so targets create
  timestamp columns and the SDK can compare bookmarks. The tap writes v1 times as RFC 3339.
- properties the tap adds are appended: a child's parent id when the item lacks it, and a
  stream's `extra_properties`.
- descriptions are kept (they become column comments in some targets); examples are dropped.
- custom-field keys (40 hex characters) named in a schema or example are left out: the tap
  turns them into named columns from the field metadata.
- the sandbox templates keep to the list's own answer, key for key.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import schema_union  # noqa: E402  (beside this script)

from tap_pipedrive.streams import STREAMS  # noqa: E402

OUT = ROOT / "tap_pipedrive" / "schemas"
TEMPLATES = ROOT / "sandbox" / "tap_pipedrive_sandbox" / "templates.json"
KEEP = {"type", "properties", "items", "format", "description", "enum", "additionalProperties"}
_V1_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")
_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def endpoint(stream: type) -> tuple[str, str] | None:
    """(spec version, spec path) of a stream's `path`, or None (no endpoint of its own)."""
    path = getattr(stream, "path", None)
    match = re.match(r"^/api/(v1|v2)(/.*)$", path or "")
    if not match:
        return None
    return match.group(1), _PLACEHOLDER.sub("{id}", match.group(2))


def _resolve(node: Any, spec: dict) -> Any:
    """Inline `$ref`s and merge `allOf`, recursively."""
    if isinstance(node, list):
        return [_resolve(n, spec) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return _resolve(target, spec)
    if "allOf" in node:
        rest = {k: v for k, v in node.items() if k != "allOf"}
        merged: dict[str, Any] = {}
        for part in [*_resolve(node["allOf"], spec), _resolve(rest, spec)]:
            for key, value in part.items():
                if key == "properties":
                    merged.setdefault("properties", {}).update(value)
                else:
                    merged.setdefault(key, value)
        return merged
    return {k: _resolve(v, spec) for k, v in node.items()}


def _is_timestamp(name: str, prop: dict, version: str, example: Any) -> bool:
    if prop.get("type") != "string" or prop.get("format"):
        return False
    desc = (prop.get("description") or "").lower()
    if name in {"add_time", "update_time"} or "date and time" in desc:
        return True
    return version == "v1" and isinstance(example, str) and bool(_V1_TIME.match(example))


def _to_json_schema(prop: dict, version: str, name: str = "", example: Any = None) -> dict:
    """OpenAPI 3.0 property -> JSON Schema property (nullable, trimmed, timestamps typed)."""
    if "oneOf" in prop or "anyOf" in prop:
        # Mixed types (e.g. option ids that are int or str): accept any scalar.
        out: dict[str, Any] = {"type": ["string", "integer", "number", "boolean", "null"]}
        if prop.get("description"):
            out["description"] = prop["description"]
        return out
    out = {k: v for k, v in prop.items() if k in KEEP}
    if _is_timestamp(name, prop, version, example):
        out["format"] = "date-time"
    kind = out.get("type")
    if kind is None:
        kind = "object" if "properties" in out else "string"
    if kind == "object":
        props = out.get("properties")
        if props:
            sub = example if isinstance(example, dict) else {}
            out["properties"] = {k: _to_json_schema(v, version, k, sub.get(k))
                                 for k, v in props.items()}
        else:
            # Free-form objects (custom_fields, settings): keep whatever Pipedrive sends.
            # An empty `properties` too: the SDK's record conformance needs the key.
            out["properties"] = {}
            out["additionalProperties"] = True
    if kind == "array" and "items" in out:
        first = example[0] if isinstance(example, list) and example else None
        out["items"] = _to_json_schema(out["items"], version, "", first)
    out["type"] = [kind, "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _response(spec: dict, path: str) -> tuple[dict, Any]:
    """The resolved 200 body schema of GET `path`, and the spec's example body."""
    content = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    return _resolve(content["schema"], spec), content.get("example")


def item_schema_and_example(spec: dict, path: str) -> tuple[dict, Any]:
    """The schema of one listed item, and the example's first item (data[], or the single
    list inside `data`, as in goals' `data.goals[]`)."""
    body, example = _response(spec, path)
    data = body["properties"]["data"]
    sample = (example or {}).get("data") if isinstance(example, dict) else None
    if data.get("type") != "array":
        lists = [k for k, v in data.get("properties", {}).items() if v.get("type") == "array"]
        if len(lists) != 1:
            raise ValueError(f"{path}: cannot tell which list in `data` holds the items")
        data = data["properties"][lists[0]]
        sample = sample.get(lists[0]) if isinstance(sample, dict) else None
    first = sample[0] if isinstance(sample, list) and sample else None
    return data["items"], first


def stream_schema(stream: type, specs: dict[str, dict], version: str, path: str) -> dict:
    """The union of every description of the stream's item (see item_descriptions), typed
    include_fields additions, and the properties the tap adds."""
    spec = specs[version]
    props: dict[str, Any] = {}
    for schema, example in item_descriptions(spec, path):
        sample = example if isinstance(example, dict) else {}
        for name, prop in (schema.get("properties") or {}).items():
            if schema_union.CUSTOM_KEY.match(name):
                continue
            prop = _to_json_schema(prop, version, name, sample.get(name))
            props[name] = schema_union.merge(props[name], prop) if name in props else prop
        props = schema_union.add_example_properties({"properties": props}, sample)["properties"]
    others = [s for v, s in specs.items() if v != version]
    for name in include_field_names(spec, path):
        if name not in props:
            props[name] = _included_property(name, version, spec, path, others)
    for name in _guaranteed(stream, spec, path, props):
        props[name] = {**props[name], "type": [t for t in props[name]["type"] if t != "null"]}
    parent = getattr(stream, "parent_property", None)
    if parent and parent not in props:
        props[parent] = {"type": ["integer", "null"],
                         "description": "The parent's id (added by the tap)"}
    for name, prop in (getattr(stream, "extra_properties", None) or {}).items():
        props[name] = prop
    return {"type": "object", "properties": props}


# --- every place the spec describes a stream's item -----------------------------------------

# List endpoints whose items other paths' operations describe too (a deal's products are
# listed for many deals at /deals/products, added and changed under /deals/{id}/products).
SAME_ITEMS = {
    "/deals/products": "/deals/{id}/products",
    "/deals/installments": "/deals/{id}/installments",
    "/mailbox/mailThreads/{id}/mailMessages": "/mailbox/mailMessages",
    "/goals/find": "/goals",
}
_ANY_ID = "{}"


def _norm(path: str) -> str:
    return _PLACEHOLDER.sub(_ANY_ID, path)


def _collection(path: str) -> str:
    """The path the item's own operations hang under: /deals for /deals and /deals/archived."""
    return _norm(SAME_ITEMS.get(path) or re.sub(r"/(archived|find)$", "", path))


def item_operations(spec: dict, path: str) -> list[tuple[str, str]]:
    """(method, spec path) of each operation whose answer is the stream's item, or a list of
    them, in the same spec version: the list itself first, then the collection's other lists
    (archived, find), add (POST), the single item's GET, PATCH and PUT, duplicate and merge.
    DELETE answers (an id) and search hits (another shape: `owner: {id}`, custom fields as a
    list of matched strings) do not describe the item."""
    base = _collection(path)
    wanted = [("get", _norm(path)), ("get", base), ("get", f"{base}/archived"),
              ("get", f"{base}/find"), ("post", base),
              *((m, f"{base}/{_ANY_ID}") for m in ("get", "patch", "put")),
              ("post", f"{base}/{_ANY_ID}/duplicate"), ("put", f"{base}/{_ANY_ID}/merge")]
    by_norm = {(m, _norm(p)): p for p, ops in spec["paths"].items() for m in ops}
    found = [(m, by_norm[(m, n)]) for m, n in wanted if (m, n) in by_norm]
    return list(dict.fromkeys(found))


def _answer_item(spec: dict, op: dict) -> tuple[dict, Any] | None:
    """The item an operation's 2xx JSON answer describes, and its example's (first) item."""
    for code, response in sorted((op.get("responses") or {}).items(), key=lambda kv: str(kv[0])):
        content = ((response or {}).get("content") or {}).get("application/json")
        if not str(code).startswith("2") or not content or "schema" not in content:
            continue
        body = _resolve(content["schema"], spec)
        example = content.get("example")
        props = body.get("properties") or {}
        if "data" in props:
            data = props["data"]
            sample = example.get("data") if isinstance(example, dict) else None
        elif "id" in props:  # the item itself, unwrapped (v1 GET /permissionSets/{id}),
            data = body      # though its example is wrapped
            sample = example.get("data", example) if isinstance(example, dict) else None
            sample = sample[0] if isinstance(sample, list) and sample else sample
        else:
            continue
        inner = data.get("properties") or {}
        if data.get("type") != "array" and len(inner) == 1:  # goals: data.goal, data.goals[]
            (key, data), = inner.items()
            sample = sample.get(key) if isinstance(sample, dict) else None
        if data.get("type") == "array":
            data = data.get("items") or {}
            sample = sample[0] if isinstance(sample, list) and sample else None
        if data.get("properties"):
            return data, sample
    return None


def item_descriptions(spec: dict, path: str) -> list[tuple[dict, Any]]:
    """(item schema, example item) from every operation that answers with the item."""
    out = []
    for method, op_path in item_operations(spec, path):
        found = _answer_item(spec, spec["paths"][op_path][method])
        if found:
            out.append(found)
    return out


def include_field_names(spec: dict, path: str) -> list[str]:
    """What the list's and the single item's `include_fields` parameter may add."""
    names: list[str] = []
    for method, op_path in item_operations(spec, path):
        if method != "get":
            continue
        for param in spec["paths"][op_path][method].get("parameters", []):
            param = _resolve(param, spec)
            if param.get("name") == "include_fields":
                for value in (param.get("schema") or {}).get("enum", []):
                    names += [n for n in value.split(",") if n and "." not in n]
    return list(dict.fromkeys(names))


def _described_elsewhere(name: str, specs: list[dict], path: str) -> dict | None:
    """How the same item's answers in another spec version, or its request bodies, type
    `name` (v1 deal merges list every `include_fields` count of a v2 deal, typed)."""
    for spec in specs:
        for schema, _ in item_descriptions(spec, path):
            if name in (schema.get("properties") or {}):
                return schema["properties"][name]
        for method, op_path in item_operations(spec, path):
            body = ((spec["paths"][op_path][method].get("requestBody") or {}).get("content")
                    or {}).get("application/json")
            if body and "schema" in body:
                prop = (_resolve(body["schema"], spec).get("properties") or {}).get(name)
                if prop:
                    return prop
    return None


def _included_property(name: str, version: str, spec: dict, path: str,
                       others: list[dict]) -> dict:
    """An `include_fields` name no answer describes: typed where the spec types it elsewhere,
    else by Pipedrive's naming (`*_count`, `*_id`: integer; `*_time`: a timestamp; `*_email`:
    text), else any scalar."""
    prop = _described_elsewhere(name, [spec, *others], path)
    if prop:
        prop = {k: v for k, v in prop.items() if k != "enum"}  # a request's enum, not an answer's
        out = _to_json_schema(prop, version, name)
    elif name.endswith(("_count", "_id")):
        out = {"type": ["integer", "null"]}
    elif name.endswith("_time"):
        out = {"type": ["string", "null"], "format": "date-time"}
    elif name.endswith("_email"):
        out = {"type": ["string", "null"]}
    else:
        out = {"type": list(schema_union.ANY_SCALAR)}
    description = out.get("description") or ""
    out["description"] = (description + " " if description else "") + \
        "(only when asked for with include_fields)"
    return out


def _guaranteed(stream: type, spec: dict, path: str, props: dict) -> list[str]:
    """The stream's primary key properties that every description gives and none calls
    nullable: a record always has them, so their columns need not allow null."""
    out = []
    for key in stream.primary_keys:
        seen = [s["properties"][key] for s, _ in item_descriptions(spec, path)
                if key in s.get("properties", {})]
        if key in props and seen and not any(p.get("nullable") for p in seen) \
                and set(props[key]["type"]) - {"null"}:
            out.append(key)
    return out


# --- sandbox templates: one valid item per endpoint ---------------------------------------------


def _fits(value: Any, schema: dict) -> bool:
    kind = schema.get("type")
    if value is None:
        return bool(schema.get("nullable"))
    if "enum" in schema and value not in schema["enum"]:
        return False
    checks = {
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
    }
    if kind is None:
        return not isinstance(value, (dict, list)) or "properties" in schema
    return checks.get(kind, lambda v: True)(value)


def template(schema: dict, example: Any, name: str = "", version: str = "v2") -> Any:
    """A value valid for `schema` (every property present, no other): the example's where it
    fits, null where the spec allows it and gives no example, else a plain value."""
    if example is None and schema.get("nullable"):
        return None
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            options = schema[combinator]
            fitting = [o for o in options if _fits(example, o)]
            return template(fitting[0] if fitting else options[0], example, name, version)
    kind = schema.get("type") or ("object" if "properties" in schema else None)
    if kind == "object" and "properties" in schema:
        sample = example if isinstance(example, dict) else {}
        return {k: template(v, sample.get(k), k, version)
                for k, v in schema["properties"].items()}
    if kind == "array":
        items = schema.get("items") or {}
        if isinstance(example, list):
            return [template(items, x, "", version) for x in example
                    if x is None or _fits(x, items) or "properties" in items]
        return []
    if example is not None and _fits(example, schema):
        return example
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    if kind == "object":
        return example if isinstance(example, dict) else {}
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return False
    if schema.get("format") == "date-time" or _is_timestamp(name, schema, version, None):
        return "2024-01-01T00:00:00Z" if version == "v2" else "2024-01-01 00:00:00"
    if schema.get("format") == "date":
        return "2024-01-01"
    return f"{name.replace('_', ' ')} 1" if name else "text"


def envelope(spec: dict, path: str) -> dict[str, Any]:
    """The response's top-level keys and where its paging information sits."""
    body, _ = _response(spec, path)
    props = body["properties"]
    extra = (props.get("additional_data") or {}).get("properties") or {}
    paging = ("cursor" if "next_cursor" in extra else "pagination" if "pagination" in extra
              else "flat" if "more_items_in_collection" in extra else "none")
    return {"keys": list(props), "paging": paging}


def main(spec_dir: Path) -> None:
    specs = {v: yaml.safe_load((spec_dir / f"{v}.yaml").read_text()) for v in ("v1", "v2")}
    OUT.mkdir(parents=True, exist_ok=True)
    templates: dict[str, Any] = {}
    for stream in STREAMS:
        where = endpoint(stream)
        if where is None:
            continue
        version, path = where
        schema = stream_schema(stream, specs, version, path)
        (OUT / f"{stream.name}.json").write_text(json.dumps(schema, indent=2, sort_keys=True)
                                                 + "\n")
        items, example = item_schema_and_example(specs[version], path)
        templates[f"{version} {path}"] = {"item": template(items, example, "", version),
                                          **envelope(specs[version], path)}
        stamps = [k for k, v in schema["properties"].items() if v.get("format") == "date-time"]
        print(f"{stream.name:28} {version} {path:45} {len(schema['properties']):3} properties; "
              f"date-time: {', '.join(stamps)}")
    TEMPLATES.write_text(json.dumps(dict(sorted(templates.items())), indent=1, sort_keys=False,
                                    ensure_ascii=False) + "\n")


if __name__ == "__main__":
    default = ROOT.parent / "shared" / "pipedrive-openapi"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
