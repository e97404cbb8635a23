"""Union of JSON Schema properties, and properties inferred from example values.

Used by generate_schemas.py, which reads each stream's item from every place Pipedrive's spec
describes it. Schemas here are already plain JSON Schema (types as lists with "null").
"""

from __future__ import annotations

import re
from typing import Any

ANY_SCALAR = ["string", "integer", "number", "boolean", "null"]
# A custom field's key (with a composite part's suffix in v1): custom-field handling owns it.
CUSTOM_KEY = re.compile(r"^[0-9a-f]{40}(_[a-z_0-9]+)?$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EXAMPLE_ONLY = "(named only in the spec's examples)"


def _types(schema: dict) -> list[str]:
    kind = schema.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def merge(a: dict, b: dict) -> dict:
    """One property described in two places: the union of both.

    Types are unioned ("null" kept last); object properties merged recursively, an object is
    open (additionalProperties) if either place says so; array items merged; an enum only if
    both places give one (else any value of the type); a format kept unless the two disagree.
    The first place's description wins (the list response's, when it has one), unless it
    only says that an example named the property.
    """
    out = dict(a)
    types = [t for t in _types(a) + _types(b) if t != "null"]
    nullable = "null" in _types(a) or "null" in _types(b)
    out["type"] = list(dict.fromkeys(types)) + (["null"] if nullable else [])
    if "properties" in a or "properties" in b:
        props = dict(a.get("properties") or {})
        for name, prop in (b.get("properties") or {}).items():
            props[name] = merge(props[name], prop) if name in props else prop
        out["properties"] = props
    if a.get("additionalProperties") or b.get("additionalProperties"):
        out["additionalProperties"] = True
    if "items" in a and "items" in b:
        out["items"] = merge(a["items"], b["items"])
    elif "items" in b:
        out["items"] = b["items"]
    if "enum" in a and "enum" in b:
        out["enum"] = list(dict.fromkeys([*a["enum"], *b["enum"]]))
    else:
        out.pop("enum", None)
    formats = {s["format"] for s in (a, b) if s.get("format")}
    out.pop("format", None)
    if len(formats) == 1:
        out["format"] = formats.pop()
    if out.get("description") in (None, "", EXAMPLE_ONLY) and b.get("description"):
        out["description"] = b["description"]
    return out


def from_example(value: Any) -> dict:
    """A nullable property typed by one example value (null: any scalar)."""
    if value is None:
        return {"type": list(ANY_SCALAR)}
    if isinstance(value, bool):
        return {"type": ["boolean", "null"]}
    if isinstance(value, int):
        return {"type": ["integer", "null"]}
    if isinstance(value, float):
        return {"type": ["number", "null"]}
    if isinstance(value, str):
        if _TIME.match(value):
            return {"type": ["string", "null"], "format": "date-time"}
        if _DATE.match(value):
            return {"type": ["string", "null"], "format": "date"}
        return {"type": ["string", "null"]}
    if isinstance(value, list):
        out: dict[str, Any] = {"type": ["array", "null"]}
        if value:
            out["items"] = from_example(value[0])
        return out
    if isinstance(value, dict):
        if not value:
            return {"type": ["object", "null"], "properties": {}, "additionalProperties": True}
        return {"type": ["object", "null"],
                "properties": {k: from_example(v) for k, v in value.items()
                               if not CUSTOM_KEY.match(k)}}
    return {"type": list(ANY_SCALAR)}


def add_example_properties(schema: dict, example: Any) -> dict:
    """`schema` with the properties an example shows and no schema names, typed by their
    value, at any depth. Properties the schema names keep their schema's type (examples are
    loose: a stray string in one must not turn a number column into text); free-form objects
    stay free-form, and custom-field keys are left to custom-field handling."""
    if isinstance(example, list) and example and "items" in schema:
        return {**schema, "items": add_example_properties(schema["items"], example[0])}
    props = schema.get("properties")
    if not isinstance(example, dict) or not props:
        return schema
    out = dict(props)
    for name, value in example.items():
        if name in out:
            out[name] = add_example_properties(out[name], value)
        elif not CUSTOM_KEY.match(name):
            out[name] = {**from_example(value), "description": EXAMPLE_ONLY}
    return {**schema, "properties": out}
