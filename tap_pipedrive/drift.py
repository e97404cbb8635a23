"""Properties the catalog does not declare: Pipedrive's answers are wider than its spec, and it
adds properties under running pipelines. Nothing it sends is lost unless the user asks.

The `undeclared_properties` setting decides, per run:

- `add_columns` (default): the property becomes a typed, nullable column of its stream. The
  stream's SCHEMA message is sent again, widened, before the first record that carries it
  (Singer allows this; loaders add the column), and stream maps and flattening see the wider
  schema. The type comes from the first value that is not null (true/false, number, text;
  objects and lists stay objects and lists); while a property has only been null, no column
  is added (nothing is lost). A later value of another kind goes to `_undeclared` (below),
  never to null: loaders refuse to change a column's type.
- `catch_all`: the stream's schema gets one object property, `_undeclared`, and every
  undeclared property of a record is kept in it under its own name.
- `drop`: undeclared properties are left out.

A new key inside an object the catalog declares (`address`, each item of `emails`) is added
to that object's schema the same way, under both keeping policies (the object's column holds
it). Properties the catalog deselects (`selected: false`) are always left out: the user asked.
Whatever the policy, the end-of-run summary lists per stream each undeclared property, what
was done with it and in how many records (`Undeclared.summary`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from singer_sdk import typing as th

logger = logging.getLogger("tap-pipedrive")

ADD_COLUMNS, CATCH_ALL, DROP = "add_columns", "catch_all", "drop"
POLICIES = (ADD_COLUMNS, CATCH_ALL, DROP)
CATCH_ALL_PROPERTY = "_undeclared"
CATCH_ALL_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"], "additionalProperties": True,
    "description": "Properties Pipedrive sent that the catalog does not declare, by name "
    "(undeclared_properties: catch_all).",
}

# What was done, as the summary says it.
ADDED = "added as a column"
KEPT = f"kept in {CATCH_ALL_PROPERTY}"
DROPPED = "dropped (undeclared_properties: drop)"
NULL_ONLY = "only null so far: no column added"
MISFIT = f"values of another type than its added column's kept in {CATCH_ALL_PROPERTY}"
NESTED = "dropped: inside a value the tap cannot widen"
NESTED_ADDED = "added to its object's schema"  # kept in that object's column from then on


def settings() -> list[th.Property]:
    return [
        th.Property(
            "undeclared_properties", th.StringType, default=ADD_COLUMNS,
            allowed_values=list(POLICIES),
            description="What to do with properties Pipedrive sends that the catalog does not "
            "declare (new in the API, custom fields missing from the field metadata): "
            "add_columns adds each as a typed nullable column (the stream's schema is sent "
            "again, wider, before the first record carrying it); catch_all keeps them in one "
            f"object column, {CATCH_ALL_PROPERTY}; drop leaves them out. The end-of-run "
            "summary lists them per stream, whatever the choice.",
        ),
    ]


def policy(config: Any) -> str:
    return str(config.get("undeclared_properties") or ADD_COLUMNS)


def declare_catch_all(catalog: dict[str, Any], config: Any) -> dict[str, Any]:
    """A discovered catalog, whose schemas declare `_undeclared` under `catch_all`: a loader
    then has the column from the first SCHEMA message on."""
    if policy(config) == CATCH_ALL:
        for entry in catalog.get("streams") or []:
            props = (entry.get("schema") or {}).setdefault("properties", {})
            props.setdefault(CATCH_ALL_PROPERTY, dict(CATCH_ALL_SCHEMA))
    return catalog


def locate(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The object schema at a conformer path (`address.`, `emails[].`, `a.b[].`), or None."""
    node: Any = schema
    for segment in path.split(".")[:-1]:
        name = segment.rstrip("[]")
        node = (node.get("properties") or {}).get(name) if isinstance(node, dict) else None
        for _ in range((len(segment) - len(name)) // 2):
            node = node.get("items") if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return None
    return node


def infer(value: Any) -> dict[str, Any] | None:
    """A nullable column type for a value; None for null (no type to go by yet)."""
    if value is None:
        return None
    if isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, (int, float, Decimal)):
        # Whole or not: a later fraction must fit, as loaders refuse to change a column's
        # type (meltanolabs-target-postgres fails; target-duckdb renames the old column).
        kind = "number"
    elif isinstance(value, dict):
        return {"type": ["object", "null"], "additionalProperties": True}
    elif isinstance(value, list):
        return {"type": ["array", "null"], "items": {}}
    else:
        kind = "string"
    return {"type": [kind, "null"]}


class Undeclared:
    """Undeclared properties of the whole run: (stream, property, what was done) -> records."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()

    def note(self, stream: str, prop: str, action: str, records: int = 1) -> None:
        with self._lock:
            first = (stream, prop, action) not in self.counts
            self.counts[(stream, prop, action)] += records
        if first and action != NULL_ONLY:
            logger.info("%s: property %r is not in the catalog: %s", stream, prop, action)

    def summary(self) -> list[tuple[str, dict[str, Any]]]:
        """Lines for the end of the run, with their numbers for structured logs."""
        with self._lock:
            items = sorted(self.counts.items())
        if not items:
            return []
        added = {(stream, prop) for (stream, prop, action), _ in items if action == ADDED}
        items = [((stream, prop, action), n) for (stream, prop, action), n in items
                 if action != NULL_ONLY or (stream, prop) not in added]  # nulls before it
        lines: list[tuple[str, dict[str, Any]]] = [
            ("Properties not in the catalog, per stream (undeclared_properties):", {})]
        for (stream, prop, action), n in items:
            counted = "" if action == NESTED_ADDED else f", {n} records"  # not per record
            lines.append((f"Undeclared: {stream}.{prop}: {action}{counted}",
                          {"stream_name": stream,
                           "undeclared": {"property": prop, "action": action, "records": n}}))
        return lines


class Handler:
    """One stream's undeclared properties, as the conformer meets them in its records.

    `widen(properties, path)` adds properties to the stream's schema (at the top, or to the
    object at `path`) and sends it again (client.py);
    `declared()` is the stream's current schema, widened columns included.
    """

    def __init__(self, stream: str, policy: str, report: Undeclared,
                 widen: Callable[[dict[str, dict[str, Any]], str], None],
                 declared: Callable[[], dict[str, Any]]) -> None:
        self.stream, self.policy, self.report = stream, policy, report
        self.widen, self.declared = widen, declared
        self.added: frozenset[str] = frozenset()  # columns this run added: counted per record
        self._nested_added: set[tuple[str, str]] = set()

    def __call__(self, path: str, record: dict[str, Any], names: set[str]) -> None:
        """Handle `names`, keys of `record` (at `path`) that the schema does not declare."""
        if path:
            self._nested(path, record, names)
        elif self.policy == DROP:
            for name in names:
                del record[name]
                self.report.note(self.stream, name, DROPPED)
        elif self.policy == CATCH_ALL:
            self._catch_all(record, names)
        else:
            self._add_columns(record, names)

    def _catch_all(self, record: dict[str, Any], names: set[str], action: str = KEPT) -> None:
        if CATCH_ALL_PROPERTY not in (self.declared().get("properties") or {}):
            self.widen({CATCH_ALL_PROPERTY: dict(CATCH_ALL_SCHEMA)}, "")
        kept = record.get(CATCH_ALL_PROPERTY)
        if not isinstance(kept, dict):
            kept = record[CATCH_ALL_PROPERTY] = {}
        for name in sorted(names):
            kept[name] = record.pop(name)
            self.report.note(self.stream, name, action)

    def _add_columns(self, record: dict[str, Any], names: set[str]) -> None:
        new: dict[str, dict[str, Any]] = {}
        for name in sorted(names):
            kind = infer(record[name])
            if kind is None:
                del record[name]  # null: nothing lost; the column comes with a value
                self.report.note(self.stream, name, NULL_ONLY)
            else:
                new[name] = kind
        if new:
            self.added = self.added | new.keys()
            self.widen(new, "")

    def _nested(self, path: str, record: dict[str, Any], names: set[str]) -> None:
        """Keys inside an object the catalog declares (`address.`, `emails[].`): the object's
        schema gets them (one column still holds the object), unless the policy is drop."""
        node = locate(self.declared(), path)
        new: dict[str, dict[str, Any]] = {}
        for name in sorted(names):
            if (path, name) in self._nested_added:
                continue  # added a moment ago, while the rest of its list was under way
            if node is not None and name in (node.get("properties") or {}):
                del record[name]  # deselected in the catalog
            elif self.policy == DROP or node is None:
                del record[name]
                self.report.note(self.stream, f"{path}{name}", DROPPED if node else NESTED)
            elif (kind := infer(record[name])) is None:
                del record[name]
                self.report.note(self.stream, f"{path}{name}", NULL_ONLY)
            else:
                new[name] = kind
                self.report.note(self.stream, f"{path}{name}", NESTED_ADDED)
        if new:
            self._nested_added.update((path, name) for name in new)
            self.widen(new, path)

    def divert(self, record: dict[str, Any]) -> None:
        """Before a record is conformed: a value that does not fit the type a column this run
        added was given (from an earlier value) goes to the catch-all `_undeclared`, under the
        column's name, instead of becoming null. Changing the column's type instead would
        stop meltanolabs-target-postgres ("Altering columns is not supported")."""
        props = self.declared()["properties"]
        misfits = []
        for name in self.added:
            value = record.get(name)
            if value is not None and type(value) not in _FITS.get(
                    props[name]["type"][0], (type(value),)):
                misfits.append(name)
        if misfits:
            self._catch_all(record, set(misfits), MISFIT)

    def count_added(self, record: dict[str, Any]) -> None:
        """Records carrying a value of a column this run added (after the widening)."""
        for name in self.added:
            if record.get(name) is not None:
                self.report.note(self.stream, name, ADDED)


# The Python types each inferred column type takes (string takes anything: the conformer
# writes other values as text, nothing is lost).
_FITS: dict[str, tuple[type, ...]] = {
    "boolean": (bool,), "number": (int, float, Decimal),
    "object": (dict,), "array": (list,),
}
