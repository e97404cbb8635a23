"""Generate the tap's stream schemas from Pipedrive's published OpenAPI specs.

Usage: python scripts/generate_schemas.py [SPEC_DIR]

SPEC_DIR holds Pipedrive's `v1.yaml` and `v2.yaml` (default: ../shared/pipedrive-openapi beside
the repository). The output, `tap_pipedrive/schemas/<stream>.json`, is committed so that the
installed tap never needs the spec at run time. Re-run after updating the spec and review the diff.

What the script changes on the way, and why:
- `$ref`s are resolved and `allOf` merged: the SDK and targets want plain JSON Schema.
- every property becomes nullable: Pipedrive returns null for most fields sooner or later, and a
  null in a non-nullable column fails loaders.
- v2 timestamps (RFC 3339 strings) get `format: date-time`, so targets create timestamp columns
  and the SDK can compare bookmarks; the spec itself does not mark them.
- descriptions are kept (they become column comments in some targets); examples are dropped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tap_pipedrive" / "schemas"

# stream name -> (spec file, GET path whose 200 response lists the records)
STREAMS: dict[str, tuple[str, str]] = {
    "deals": ("v2", "/deals"),
    "persons": ("v2", "/persons"),
    "organizations": ("v2", "/organizations"),
    "activities": ("v2", "/activities"),
    "products": ("v2", "/products"),
    "pipelines": ("v2", "/pipelines"),
    "stages": ("v2", "/stages"),
    "users": ("v1", "/users"),
}

KEEP = {"type", "properties", "items", "format", "description", "enum", "additionalProperties"}


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


def _is_timestamp(name: str, prop: dict, version: str) -> bool:
    if version != "v2" or prop.get("type") != "string" or prop.get("format"):
        return False
    desc = (prop.get("description") or "").lower()
    return name in {"add_time", "update_time"} or "date and time" in desc


def _to_json_schema(prop: dict, version: str, name: str = "") -> dict:
    """OpenAPI 3.0 property -> JSON Schema property (nullable, trimmed, timestamps typed)."""
    if "oneOf" in prop or "anyOf" in prop:
        # Mixed types (e.g. option ids that are int or str): accept any scalar.
        out: dict[str, Any] = {"type": ["string", "integer", "number", "boolean", "null"]}
        if prop.get("description"):
            out["description"] = prop["description"]
        return out
    out = {k: v for k, v in prop.items() if k in KEEP}
    if _is_timestamp(name, prop, version):
        out["format"] = "date-time"
    kind = out.get("type")
    if kind is None:
        kind = "object" if "properties" in out else "string"
    if kind == "object":
        props = out.get("properties")
        if props:
            out["properties"] = {k: _to_json_schema(v, version, k) for k, v in props.items()}
        else:
            # Free-form objects (custom_fields, settings): keep whatever Pipedrive sends.
            out.pop("properties", None)
            out["additionalProperties"] = True
    if kind == "array" and "items" in out:
        out["items"] = _to_json_schema(out["items"], version)
    out["type"] = [kind, "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def item_schema(spec: dict, path: str, version: str) -> dict:
    response = spec["paths"][path]["get"]["responses"]["200"]
    body = _resolve(response["content"]["application/json"]["schema"], spec)
    items = body["properties"]["data"]["items"]
    props = {k: _to_json_schema(v, version, k) for k, v in items["properties"].items()}
    return {"type": "object", "properties": props}


def main(spec_dir: Path) -> None:
    specs = {v: yaml.safe_load((spec_dir / f"{v}.yaml").read_text()) for v in ("v1", "v2")}
    OUT.mkdir(parents=True, exist_ok=True)
    for stream, (version, path) in STREAMS.items():
        schema = item_schema(specs[version], path, version)
        (OUT / f"{stream}.json").write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        stamps = [k for k, v in schema["properties"].items() if v.get("format") == "date-time"]
        print(f"{stream:15} {len(schema['properties']):3} properties; date-time: {stamps}")


if __name__ == "__main__":
    default = ROOT.parent / "shared" / "pipedrive-openapi"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
