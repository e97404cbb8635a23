"""Custom fields: field metadata to typed, readable columns, and record values to those columns.

Pipedrive names custom fields by random 40-character keys and nests their values (v2:
`custom_fields: {key: value}`; v1 leads: top-level keys). Each custom field becomes top-level
column(s) of its stream, typed from its `field_type` (one entry of `FIELD_TYPES` each):

- the column is a slug of the field name (`Discount %` -> `discount_percent`); a name that
  clashes (with a built-in property or another field's column) gets the first 8 characters
  of the key appended (`partner_1a2b3c4d`), whatever the order Pipedrive lists the fields in;
- `custom_field_raw_keys` names columns by the key instead; `custom_field_names` pins a key
  to a column, so that a rename in Pipedrive never moves data to a new column;
- composite values get more columns: monetary `<col>` + `<col>_currency`, date and time
  ranges `<col>` + `<col>_until`, addresses `<col>` (the full text) + `<col>_<part>`;
- enum/set values are option ids, or their labels with `custom_field_option_labels`.

In a sync the catalog is the source of truth: each column's description carries its key, so
a column name from an earlier discovery is kept (and the difference logged). Field metadata is
read once per run, by the run's registry (services.py); failing to read it is an error.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_pipedrive.codegen import RecordFunction, record_function
from tap_pipedrive.conform import OddValues
from tap_pipedrive.errors import AuthError, ConfigError, TapPipedriveError

if TYPE_CHECKING:
    from tap_pipedrive.client import PipedriveStream as Stream
    from tap_pipedrive.run import Run

logger = logging.getLogger("tap-pipedrive")

_TEXT: dict[str, Any] = {"type": ["string", "null"]}
_INTEGER: dict[str, Any] = {"type": ["integer", "null"]}
_NUMBER: dict[str, Any] = {"type": ["number", "null"]}
_DATE: dict[str, Any] = {"type": ["string", "null"], "format": "date"}


def _list_of(item: str) -> dict[str, Any]:
    return {"type": ["array", "null"], "items": {"type": [item, "null"]}}


def _until(subfields: tuple[str, ...]) -> tuple[str, ...]:
    return ("until",)  # date and time ranges: the end, whatever the metadata lists


def _subfields(subfields: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p for p in subfields if p != "value")  # address: its parts, as listed


def _currency(subfields: tuple[str, ...]) -> tuple[str, ...]:
    return _subfields(subfields) or ("currency",)  # monetary: the currency, at least


def _v1_enum(raw: Any) -> Any:
    """v1 writes an enum's option id as text: "12"."""
    return int(raw) if isinstance(raw, str) and raw.strip().isdigit() else raw


def _v1_set(raw: Any) -> Any:
    """v1 writes a set's option ids as text: "12,13"."""
    if not isinstance(raw, str):
        return raw
    return [int(x) if x.strip().isdigit() else x.strip() for x in raw.split(",") if x.strip()]


@dataclass(frozen=True)
class FieldType:
    """What one Pipedrive `field_type` becomes: a new type is one entry of `FIELD_TYPES`."""

    schema: dict[str, Any]  # the main column's JSON schema
    # Extra columns beside the main one (`<col>_<part>`), from the metadata's subfield codes.
    parts: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None
    part_schema: dict[str, Any] = field(default_factory=lambda: _TEXT)
    # With custom_field_option_labels: the main column's schema, values become labels.
    labelled: dict[str, Any] | None = None
    as_json_text: bool = False  # structured values, kept as JSON text
    v1: Callable[[Any], Any] | None = None  # a v1 value (top-level key) to the v2 form


_ID = FieldType(_INTEGER)  # an id of another Pipedrive item
_PLAIN_TEXT = FieldType(_TEXT)
_JSON_TEXT = FieldType(_TEXT, as_json_text=True)
# Every field_type of the spec (v2 field_type enum); others are kept as text (`UNKNOWN_TYPE`).
FIELD_TYPES: dict[str, FieldType] = {
    **dict.fromkeys(("int", "user", "org", "people", "deal", "stage", "pipeline", "product",
                     "project", "activity", "projects_board", "projects_phase", "picture"),
                    _ID),
    **dict.fromkeys(("varchar", "varchar_auto", "varchar_options", "text", "phone", "time",
                     "status", "visible_to", "billing_frequency", "lead"), _PLAIN_TEXT),
    "timerange": FieldType(_TEXT, parts=_until),
    "json": _JSON_TEXT,
    "price_list": _JSON_TEXT,
    "double": FieldType(_NUMBER),
    "monetary": FieldType(_NUMBER, parts=_currency),
    "boolean": FieldType({"type": ["boolean", "null"]}),
    "date": FieldType(_DATE),
    "daterange": FieldType(_DATE, parts=_until, part_schema=_DATE),
    "enum": FieldType(_INTEGER, labelled=_TEXT, v1=_v1_enum),
    "set": FieldType(_list_of("integer"), labelled=_list_of("string"), v1=_v1_set),
    "deals": FieldType(_list_of("integer")),
    "address": FieldType(_TEXT, parts=_subfields),
}
UNKNOWN_TYPE = _PLAIN_TEXT  # a type this tap does not know yet: text, and the log says so
KNOWN_TYPES = frozenset(FIELD_TYPES)
# Letters NFKD does not split into an ASCII letter and a mark.
_LETTERS = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe",
                          "Œ": "OE", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "þ": "th"})
_KEY_IN_DESCRIPTION = re.compile(r"Pipedrive key: ([^\s,;)]+)(?:, part: (\w+))?")
# A custom field's key (40 hex characters), alone or with a part (`<key>_currency`).
_FIELD_KEY = re.compile(r"^[0-9a-f]{40}(?:_\w+)?$")


def settings() -> list[th.Property]:
    return [
        th.Property(
            "custom_field_names",
            th.ObjectType(additional_properties=th.StringType),
            description="Pins custom fields to column names: {\"<40-character key>\": "
            "\"column\"}. A pinned column keeps its name when the field is renamed in "
            "Pipedrive. The custom_field_mappings stream lists every key and column.",
        ),
        th.Property(
            "custom_field_raw_keys", th.BooleanType, default=False,
            description="Name custom field columns by Pipedrive's 40-character key instead of "
            "a slug of the field name.",
        ),
        th.Property(
            "custom_field_option_labels", th.BooleanType, default=False,
            description="Write enum and set custom fields as their option labels instead of "
            "option ids.",
        ),
    ]


class FieldMetadataError(TapPipedriveError):
    """Custom field metadata could not be read: the schema would be incomplete."""


class FieldsUnavailable(FatalAPIError):
    """Pipedrive refuses the metadata of an optional feature (403 on projectFields: an account
    without Projects, an app without the scope). Its streams keep the untyped `custom_fields`
    object, which holds every value, and the log says so; reading the stream itself fails."""


@dataclass(frozen=True)
class CustomField:
    key: str
    name: str
    field_type: str
    options: tuple[tuple[Any, str], ...] = ()
    parts: tuple[str, ...] = ()  # extra columns beside the main one (currency, until, ...)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> CustomField:
        """A v2 *Fields item (field_code, field_name, field_type, options, subfields)."""
        ftype = str(item.get("field_type") or "")
        options = tuple((o.get("id"), str(o.get("label")))
                        for o in item.get("options") or [] if isinstance(o, Mapping))
        key = str(item["field_code"])
        # A part's code is `currency` or, in some accounts' metadata, `<key>_currency`.
        subfields = [_part_code(key, str(s["field_code"])) for s in item.get("subfields") or []
                     if isinstance(s, Mapping) and s.get("field_code")]
        kind = FIELD_TYPES.get(ftype, UNKNOWN_TYPE)
        parts = kind.parts(tuple(subfields)) if kind.parts is not None else ()
        return cls(key, str(item.get("field_name") or ""), ftype, options, parts)

    @property
    def kind(self) -> FieldType:
        return FIELD_TYPES.get(self.field_type, UNKNOWN_TYPE)


def _part_code(key: str, code: str) -> str:
    return code[len(key) + 1:] if code.startswith(f"{key}_") and len(code) > len(key) + 1 else code


@dataclass(frozen=True)
class Column:
    name: str
    field: CustomField
    part: str | None  # None: the field's main value


def slug(name: str) -> str:
    """A lower_snake_case column name for a field name ('' if nothing readable is left)."""
    text = name.replace("%", " percent ").replace("&", " and ").replace("#", " number ")
    text = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    text = text.encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")[:48].rstrip("_")
    return f"cf_{text}" if text[:1].isdigit() else text


def plan_columns(
    fields: Iterable[CustomField],
    reserved: Iterable[str],
    pins: Mapping[str, str],
    raw_keys: bool,
) -> dict[str, list[Column]]:
    """Columns of each custom field, by key (see the module docstring for the rules)."""
    fields = list(fields)
    reserved = set(reserved)
    base: dict[str, str] = {}
    for f in fields:
        if f.key in pins:
            base[f.key] = pins[f.key]
        else:
            base[f.key] = f.key if raw_keys else slug(f.name) or f"cf_{f.key[:8]}"

    def names(f: CustomField) -> list[str]:
        return [base[f.key], *(f"{base[f.key]}_{p}" for p in f.parts)]

    suffixed: set[str] = set()
    for _ in range(3):  # a suffixed name is unique, so this settles in two rounds
        owners: dict[str, list[str]] = defaultdict(list)
        for f in fields:
            for n in names(f):
                owners[n].append(f.key)
        clashes = {k for n, keys in owners.items() if len(keys) > 1 or n in reserved
                   for k in keys}
        movable = {k for k in clashes if k not in pins and k not in suffixed}
        if not clashes:
            break
        if not movable:
            stuck = sorted(n for n, keys in owners.items() if len(keys) > 1 or n in reserved)
            raise ConfigError("custom_field_names pins a column name that is taken: "
                              + ", ".join(stuck))
        for key in movable:
            base[key] = f"{base[key]}_{key[:8]}"
            suffixed.add(key)
    return {f.key: [Column(base[f.key], f, None),
                    *(Column(f"{base[f.key]}_{p}", f, p) for p in f.parts)] for f in fields}


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


def describe(column: Column) -> str:
    f = column.field
    text = f'Custom field "{f.name}" ({f.field_type}). Pipedrive key: {f.key}'
    return text + (f", part: {column.part}" if column.part else "")


def catalog_columns(schema: Mapping[str, Any] | None) -> dict[tuple[str, str | None], str]:
    """(key, part) -> column name, read from the column descriptions of a catalog schema."""
    found: dict[tuple[str, str | None], str] = {}
    for name, prop in ((schema or {}).get("properties") or {}).items():
        match = _KEY_IN_DESCRIPTION.search(str((prop or {}).get("description") or ""))
        if match:
            key, part = match.group(1), match.group(2)
            found[(key, part and _part_code(key, part))] = name  # either convention
    return found


def column_schema(column: Column, labels: bool) -> dict[str, Any]:
    kind = column.field.kind
    if column.part is not None:
        schema = kind.part_schema
    elif labels and kind.labelled is not None:
        schema = kind.labelled
    else:
        schema = kind.schema
    return {**copy.deepcopy(schema), "description": describe(column)}


# --- one stream's custom columns --------------------------------------------------------------


@dataclass
class CustomColumns:
    """The custom columns of one stream and how to fill them from a record."""

    stream: str
    columns: dict[str, list[Column]]  # by key, in Pipedrive's field order
    labels: bool
    shape: str  # "v2": values under `custom_fields`; "v1": top-level keys
    odd: OddValues
    passthrough: bool = False  # the catalog predates typed columns: keep `custom_fields`
    policy: str = "add_columns"  # undeclared_properties (drift.py), for the log lines
    _labels_of: dict[str, dict[Any, str]] = field(default_factory=dict)
    _plans: list[_FieldPlan] = field(default_factory=list)
    _keys: frozenset[str] = frozenset()  # keys (and v1 part keys) the metadata describes
    _unlisted: set[str] = field(default_factory=set)  # keys without metadata, logged once
    _flatten_v2: RecordFunction = field(init=False)

    def __post_init__(self) -> None:
        for key, cols in self.columns.items():
            f = cols[0].field
            self._labels_of[key] = {str(i): label for i, label in f.options}
            if f.field_type not in KNOWN_TYPES:
                logger.warning("%s: custom field %r has the type %r, unknown to this tap; its "
                               "values are kept as text in column %r", self.stream, f.name,
                               f.field_type, cols[0].name)
            self._plans.append(self._plan(key, cols))
        self._keys = frozenset(self.columns) | {v1 for plan in self._plans
                                                for _, _, v1 in plan.parts}
        self._flatten_v2 = self._compile_v2()

    def _plan(self, key: str, cols: list[Column]) -> _FieldPlan:
        main = cols[0] if cols[0].part is None else None  # the catalog may have left it out
        split = bool(cols[0].field.parts)
        return _FieldPlan(
            key=key, split=split, main=main.name if main else None,
            convert=self._converter(main) if main else None,
            parts=tuple((c.part, c.name, f"{key}_{c.part}") for c in cols if c.part),
            field_type=cols[0].field.field_type, simple=main is not None and not split)

    def properties(self) -> dict[str, dict[str, Any]]:
        return {c.name: column_schema(c, self.labels)
                for cols in self.columns.values() for c in cols}

    def flatten(self, record: dict[str, Any]) -> dict[str, Any]:
        """Move custom field values into their columns (every column present, maybe null)."""
        if self.passthrough:
            return record
        if self.shape == "v1":
            return self._flatten_v1(record)
        return self._flatten_v2(record)

    def _compile_v2(self) -> RecordFunction:
        """`flatten` of v2 records (`custom_fields: {key: value}`), written out for this
        stream's fields and compiled once: one line per field with one column and a plain
        value (most fields), a call to its plan for the others. It runs for every record,
        and the loop over the plans it replaced cost 2.4 times as much (deals)."""
        scope: dict[str, Any] = {"values_of": self._values, "rest": self._rest,
                                 "covered": self._keys.issuperset}
        lines = ["def flatten(record):",
                 "    values = record.pop('custom_fields', None)",
                 "    if type(values) is not dict: values = values_of(values)",
                 "    get = values.get"]
        for i, plan in enumerate(self._plans):
            key = repr(plan.key)  # a literal (codegen.py)
            if plan.simple and plan.convert is None:
                lines.append(f"    record[{plan.main!r}] = get({key})")
                continue
            scope[f"c{i}"] = plan.convert

            def main(value: str, indent: str, i: int = i, plan: _FieldPlan = plan) -> list[str]:
                """The main column's line(s), from the expression `value`."""
                if plan.main is None:  # the catalog left it out
                    return []
                if plan.convert is None:
                    return [f"{indent}record[{plan.main!r}] = {value}"]
                return [f"{indent}w = {value}",
                        f"{indent}record[{plan.main!r}] = None if w is None else c{i}(w)"]
            lines.append(f"    v = get({key})")
            if not plan.parts:
                lines += main("v", "    ")
                continue
            # {value, currency or <key>_currency}; else a plain value, parts beside it as
            # `<key>_<part>`, or an odd shape. Main first, then parts: the record's key order.
            lines += ["    if isinstance(v, dict):", *main("v.get('value')", "        ")]
            lines += [f"        record[{c!r}] = v[{p!r}] if {p!r} in v else v.get({v1!r})"
                      for p, c, v1 in plan.parts]
            lines += ["    else:", *main("v", "        ")]
            lines += [f"        record[{c!r}] = get({v1!r})" for _, c, v1 in plan.parts]
        lines += ["    if not covered(values): rest(record, values)", "    return record"]
        return record_function("flatten", lines, scope, f"<flatten {self.stream}>")

    def _values(self, values: Any) -> dict[str, Any]:
        """`custom_fields` that is not a plain dict: a dict all the same, or nothing."""
        if isinstance(values, dict):
            return values
        if values is not None:
            self.odd.add(self.stream, "custom_fields", "not an object, ignored", values)
        return {}

    def _rest(self, record: dict[str, Any], values: dict[str, Any]) -> None:
        for key in values.keys() - self._keys:  # no metadata: a column named by its key
            self._without_metadata(key)
            record[key] = values[key]

    def _without_metadata(self, key: str) -> None:
        if key not in self._unlisted:
            self._unlisted.add(key)
            logger.warning("%s: custom field key %s is in the records but not in the field "
                           "metadata (no name known): kept as property %r "
                           "(undeclared_properties: %s)", self.stream, key, key, self.policy)

    def _flatten_v1(self, record: dict[str, Any]) -> dict[str, Any]:
        """v1: the value and its parts are top-level keys (`<key>`, `<key>_<part>`)."""
        for plan in self._plans:
            value = record.pop(plan.key, None) if plan.main is not None else None
            if (v1 := FIELD_TYPES.get(plan.field_type, UNKNOWN_TYPE).v1) is not None:
                value = v1(value)
            parts = [record.pop(v1_key, None) for _, _, v1_key in plan.parts]
            plan.fill(record, value, parts)
        for key in record:  # left: keys without metadata, kept as they are (module docstring)
            if len(key) >= 40 and key not in self._unlisted and _FIELD_KEY.match(key):
                self._without_metadata(key)
        return record

    def _converter(self, c: Column) -> Callable[[Any], Any] | None:
        """What a main column's value (never None) becomes; None: it is kept as it is."""
        if c.field.field_type not in FIELD_TYPES:
            return lambda value: self._unknown_type(c, value)
        kind = c.field.kind
        if kind.as_json_text:
            return lambda value: value if isinstance(value, str) else _json(value)
        if self.labels and kind.labelled is not None:
            return lambda value: self._label(c, value)
        return None

    def _unknown_type(self, c: Column, value: Any) -> str:
        self.odd.add(self.stream, c.name, f"custom field type {c.field.field_type!r} unknown "
                     "to the tap, kept as text", value)
        return value if isinstance(value, str) else _json(value)

    def _label(self, c: Column, value: Any) -> Any:
        labels = self._labels_of[c.field.key]
        if isinstance(value, list):
            return [self._label(c, v) for v in value]
        if isinstance(value, dict):  # {id, label}, as include_option_labels would send
            return value.get("label")
        label = labels.get(str(value))
        if label is None:
            self.odd.add(self.stream, c.name, "option id without a label in the field "
                         "metadata, kept as text", value)
            return str(value)
        return label


@dataclass(frozen=True)
class _FieldPlan:
    """One custom field's columns, worked out once so that `flatten` only moves values."""

    key: str
    split: bool  # the field has parts: a v2 value may be {value, <part>: ...}
    main: str | None  # the main column (None: the catalog left it out)
    convert: Callable[[Any], Any] | None  # for a main value that is not None
    parts: tuple[tuple[str, str, str], ...]  # (part, column, v1 key) of each part column
    field_type: str
    simple: bool  # one column and a plain value: most fields, done inline by `flatten`

    def fill(self, record: dict[str, Any], value: Any, parts: list[Any]) -> None:
        """The columns in their order: main first, then parts (the record's key order)."""
        if self.main is not None:
            convert = self.convert
            record[self.main] = value if value is None or convert is None else convert(value)
        for (_, column, _), part in zip(self.parts, parts, strict=True):
            record[column] = part


# --- the registry: metadata read once per run -------------------------------------------------


class CustomFieldRegistry:
    """Field metadata for the whole run, shared by streams; one of the run's services."""

    def __init__(self, run: Run, odd: OddValues) -> None:
        self.run = run
        self.odd = odd
        self._items: dict[type, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._fetching: dict[type, threading.RLock] = {}  # one per endpoint: fetched at once
        self._available: bool | None = None
        self._logged: set[tuple[str, ...]] = set()

    @property
    def pins(self) -> dict[str, str]:
        pins = self.run.config.get("custom_field_names") or {}
        bad = [k for k, v in pins.items() if not isinstance(v, str) or not v.strip()]
        if bad:
            raise ConfigError("custom_field_names maps each key to a column name; empty or "
                              f"not text for: {', '.join(sorted(bad))}")
        return {k: v.strip() for k, v in pins.items()}

    def available(self) -> bool:
        """Whether metadata can be read. Only discovery may go on without it (it is run with
        no credentials to list streams); then the catalog has no custom columns, and says so."""
        if self._available is None:
            self._available = True
            if not self.run.config_validated:
                try:
                    self.run.api_base  # noqa: B018 - raises without usable settings
                    self.run.connection  # noqa: B018
                except TapPipedriveError as exc:
                    self._unusable(exc)
        return self._available

    def _unusable(self, exc: Exception) -> None:
        logger.warning(
            "Discovery without usable credentials (%s): the catalog lists custom "
            "fields as the untyped `custom_fields` object. Discover with "
            "credentials to get one typed column per custom field.", exc)
        self._available = False

    def items(self, source: type[Stream]) -> list[dict[str, Any]]:
        """Every item of a *Fields endpoint (fetched on first use, then cached); copies."""
        with self._lock:
            fetching = self._fetching.setdefault(source, threading.RLock())
        with fetching:  # streams' workers read different endpoints in parallel (prefetch.py)
            if source not in self._items:
                self._items[source] = self._fetch(source)
            items = self._items[source]
            if isinstance(items, FieldsUnavailable):
                raise items
            return copy.deepcopy(items)

    def _fetch(self, source: type[Stream]) -> Any:
        stream = self.run.new_stream(source)  # its own paging, outside the sync
        try:
            return list(stream.request_records(None))
        except FieldsUnavailable as exc:
            return exc  # remembered: asked once per run
        except (AuthError, ConfigError):
            raise  # already says what to do
        except TapPipedriveError as exc:
            if hasattr(exc, "exit_code"):  # a budget stop: exit 75 and "resets at ..."
                raise
            raise self._metadata_error(stream, exc) from None
        except (FatalAPIError, RetriableAPIError, requests.RequestException) as exc:
            raise self._metadata_error(stream, exc) from None

    @staticmethod
    def _metadata_error(stream: Stream, exc: Exception) -> FieldMetadataError:
        reason = str(exc.args[0]) if exc.args else type(exc).__name__
        return FieldMetadataError(
            f"could not read the custom field definitions from {stream.path}, which the "
            f"schema needs (no data was written with a smaller schema): {reason}")

    def columns_for(self, stream: Stream, source: type[Stream], shape: str,
                    reserved: Iterable[str]) -> CustomColumns | None:
        """The stream's custom columns; None when metadata is unavailable (discovery only)."""
        if not self.available():
            return None
        try:
            items = self.items(source)
        except AuthError as exc:  # e.g. an expired OAuth token discovery may not refresh
            if self.run.config_validated:
                raise
            self._unusable(exc)
            return None
        except FieldsUnavailable as exc:
            self._log_once(("unavailable", stream.name), logging.WARNING,
                           "%s: no custom field columns: %s. The stream keeps the untyped "
                           "`custom_fields` object; reading it fails the same way unless "
                           "the token gets access.", stream.name, exc.args[0])
            return None
        fields = [CustomField.from_item(i) for i in items
                  if i.get("is_custom_field") and i.get("field_code")]
        config = self.run.config
        planned = plan_columns(fields, reserved, self.pins,
                               bool(config.get("custom_field_raw_keys")))
        labels = bool(config.get("custom_field_option_labels"))
        columns, passthrough = self._apply_catalog(stream.name, planned)
        return CustomColumns(stream.name, columns, labels, shape, self.odd, passthrough,
                             str(config.get("undeclared_properties") or "add_columns"))

    def _apply_catalog(
        self, stream: str, planned: dict[str, list[Column]]
    ) -> tuple[dict[str, list[Column]], bool]:
        """Names from the input catalog win over names from the metadata (module docstring)."""
        for key, cols in planned.items():
            f, pin = cols[0].field, self.pins.get(key)
            if pin and pin != slug(f.name):
                self._log_once(("pin", stream, key), logging.INFO,
                               "%s: custom field %r (key %s) is pinned to column %r; its "
                               "current name would give %r", stream, f.name, key, pin,
                               slug(f.name))
        catalog = self.run.input_catalog
        entry = catalog.get_stream(stream) if catalog is not None else None
        if entry is None:
            return planned, False
        schema = entry.schema.to_dict()
        known = catalog_columns(schema)
        if not known:
            if "custom_fields" in (schema.get("properties") or {}):
                self._log_once(("passthrough", stream), logging.WARNING,
                               "%s: the catalog has the untyped `custom_fields` object (it was "
                               "discovered without credentials); custom fields are written "
                               "there as Pipedrive sends them. Re-run discovery for typed "
                               "columns.", stream)
                return planned, True
            return {}, False
        columns: dict[str, list[Column]] = {}
        taken = set(schema.get("properties") or {})
        for key, cols in planned.items():
            in_catalog = any((key, c.part) in known for c in cols)
            # In the catalog's columns; a part it lacks is undeclared, under its planned name.
            kept = [Column(known[(key, c.part)], c.field, c.part) if (key, c.part) in known
                    else c for c in cols
                    if (key, c.part) in known or (in_catalog and c.name not in taken)]
            if not kept:
                # Created since discovery: its columns are undeclared (drift.py), under the
                # planned names unless the catalog uses them, else under the key.
                if taken & {c.name for c in cols}:
                    cols = [Column(key if c.part is None else f"{key}_{c.part}", c.field, c.part)
                            for c in cols]
                self._log_once(("new", stream, key), logging.INFO,
                               "%s: custom field %r (key %s) is not in the catalog; its "
                               "values go to %s as undeclared properties (re-run discovery "
                               "for typed columns)", stream, cols[0].field.name, key,
                               ", ".join(c.name for c in cols))
                columns[key] = cols
                continue
            if kept[0].name != cols[0].name:
                self._log_once(("renamed", stream, key), logging.WARNING,
                               "%s: custom field %r (key %s) keeps the catalog's column %r; "
                               "Pipedrive's current name would give %r. Pin the column with "
                               "custom_field_names to keep it after the next discovery.",
                               stream, cols[0].field.name, key, kept[0].name, cols[0].name)
            columns[key] = kept
        return columns, False

    def _log_once(self, what: tuple[str, ...], level: int, msg: str, *args: Any) -> None:
        if what not in self._logged:
            self._logged.add(what)
            logger.log(level, msg, *args)


def mapping_rows(stream: str, entity: str, columns: CustomColumns,
                 pins: Mapping[str, str]) -> Iterable[dict[str, Any]]:
    """Rows of the custom_field_mappings stream for one stream's columns."""
    for key, cols in columns.columns.items():
        f = cols[0].field
        yield {
            "stream": stream, "entity": entity, "key": key, "field_name": f.name,
            "field_type": f.field_type, "column": cols[0].name,
            "columns": [c.name for c in cols],
            "options": [{"id": str(i), "label": label} for i, label in f.options] or None,
            "pinned": key in pins,
        }

