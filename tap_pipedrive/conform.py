"""Make record values fit the stream's schema, so that odd values never break a sync.

Pipedrive sends values that broke other connectors: `0000-00-00` dates, "" where a number
belongs, a list where an object was expected, v1 timestamps without a zone. Each value that
does not fit its property becomes what the schema allows (null, or text where text is
allowed), the record is always kept, and the first case of each kind is logged; the tap logs
the counts at the end of the run. v1 timestamps (`2024-01-31 10:20:30`, UTC by Pipedrive's
definition) are written as RFC 3339 (`2024-01-31T10:20:30Z`), like v2's, so that every
date-time column compares and loads the same way.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tap_pipedrive import fit
from tap_pipedrive.codegen import RecordFunction, record_function

logger = logging.getLogger("tap-pipedrive")

Convert = Callable[[Any], Any]
Undeclared = Callable[[str, dict[str, Any], set[str]], None]

_RFC3339 = fit.DATE_TIME
_V1_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})$")
_DATE = fit.DATE
_ZERO_DATE = re.compile(r"^0000-00-00")
_NUMBERS = (int, float, Decimal)
_TRIAL = 100  # records before a stream whose records seldom fit stops checking them first


class OddValues:
    """Values that did not fit, counted by (stream, property, problem); one warning each."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self._dropped: set[tuple[str, str]] = set()  # (stream, properties) not in a schema
        self._lock = threading.Lock()

    def add(self, stream: str, prop: str, problem: str, value: Any) -> None:
        key = (stream, prop, problem)
        with self._lock:
            first = key not in self.counts
            self.counts[key] += 1
        if first:
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            logger.warning("%s.%s: %s (first value: %s); further cases are counted and listed "
                           "at the end of the run", stream, prop, problem, shown)

    def first_drop(self, stream: str, properties: str) -> bool:
        """True the first time these unknown properties of this stream are dropped."""
        with self._lock:
            first = (stream, properties) not in self._dropped
            self._dropped.add((stream, properties))
        return first

    def per_stream(self) -> dict[str, int]:
        """Values changed per stream: the summary table's column (progress.py)."""
        totals: Counter[str] = Counter()
        with self._lock:
            for (stream, _, _), n in self.counts.items():
                totals[stream] += n
        return dict(totals)

    def summary(self) -> list[str]:
        """Log lines for the end of the run, after the summary table (which has the counts
        per stream): which property had which problem, how many times."""
        with self._lock:
            items = sorted(self.counts.items())
        if not items:
            return []
        lines = ["Odd values, per property (each kept as null or text; no record was dropped):"]
        lines += [f"Odd values: {stream}.{prop}: {n} x {problem}"
                  for (stream, prop, problem), n in items]
        return lines


class Conformer:
    """Applies one stream's schema to its records (see the module docstring).

    This is the tap's only record pass: properties the catalog deselected are dropped,
    properties the schema does not have go to `undeclared` (drift.py; without it they are
    dropped, said once), and a value is converted only when its Python type is not already
    the one its property wants (most values pass with one type lookup).
    """

    def __init__(self, schema: dict[str, Any], stream: str, odd: OddValues,
                 known: dict[str, Any] | None = None,
                 undeclared: Undeclared | None = None) -> None:
        """`schema`: the selected properties; `known`: the whole schema, when it has more
        (properties left out of `schema` are dropped quietly: they were deselected);
        `undeclared(path, record, names)` takes the keys of `record` that `known` lacks."""
        self.stream = stream
        self.odd = odd
        self.undeclared = undeclared
        self._keep = _ObjectPlan.build(self, schema, known or schema, "")
        self._fits: fit.Check | None = fit.fits(schema, self._keep.keep_extra)
        self._checked = self._missed = 0

    def conform(self, record: dict[str, Any]) -> dict[str, Any]:
        """A record that fits (fit.py) as it is, at once; any other, value by value."""
        if self._fits is not None:
            self._checked += 1
            try:
                self._fits(record)
                return record
            except ValueError:  # msgspec.ValidationError, or a value it cannot read
                self._miss()
        return self._keep.apply(record)

    def _miss(self) -> None:
        """A stream whose records seldom fit (v1 timestamps, say: each one converted) stops
        checking them first, which would only add to each record's cost."""
        self._missed += 1
        if self._checked >= _TRIAL and self._missed * 2 > self._checked:
            self._fits = None

    def unknown(self, path: str, names: set[str]) -> None:
        """Properties the schema does not know (Pipedrive added some): dropped, said once."""
        shown = ", ".join(sorted(f"{path}{n}" for n in names))
        if self.odd.first_drop(self.stream, shown):
            logger.warning("%s: properties %s are not in the stream's schema and were dropped "
                           "(run --discover to refresh a saved catalog)", self.stream, shown)

    # --- one converter per property, built once -------------------------------------------

    def _converter(self, schema: dict[str, Any], path: str) -> Convert:
        kinds = schema.get("type")
        kinds = {kinds} if isinstance(kinds, str) else set(kinds or ())
        kinds.discard("null")
        fmt = schema.get("format")
        if len(kinds) != 1:  # none declared, or several: any scalar goes
            return self._scalar_or_text(path) if "string" in kinds else _same
        kind = kinds.pop()
        if kind == "string":
            if fmt == "date-time":
                return self._datetime_converter(path)
            if fmt == "date":
                return self._date_converter(path)
            return lambda v: self._string(v, path)
        if kind == "integer":
            return lambda v: self._integer(v, path)
        if kind == "number":
            return self._number_converter(path)
        if kind == "boolean":
            return lambda v: self._boolean(v, path)
        if kind == "object":
            return self._object(schema, path)
        if kind == "array":
            items = schema.get("items") or {}
            return self._array_converter(self._converter(items, path + "[]"), path,
                                         _fits(items))
        return _same

    # Converters of the kinds whose usual value still needs a check (not just its type): the
    # value that fits returns at once, without a further call; others go to the method that
    # converts or counts them.

    def _datetime_converter(self, path: str) -> Convert:
        rfc3339 = _RFC3339.match

        def convert(v: Any) -> Any:
            if type(v) is str and rfc3339(v):
                return v
            return self._datetime(v, path)
        convert.fits_text = rfc3339  # type: ignore[attr-defined]  # inlined by _ObjectPlan
        return convert

    def _date_converter(self, path: str) -> Convert:
        date = _DATE.match

        def convert(v: Any) -> Any:
            if type(v) is str and date(v) and not v.startswith("0000-00-00"):  # _ZERO_DATE
                return v
            return self._date(v, path)
        return convert

    def _number_converter(self, path: str) -> Convert:
        def convert(v: Any) -> Any:  # ints never get here (`_FITS`)
            if (type(v) is float or type(v) is Decimal) and math.isfinite(v):
                return v
            return self._number(v, path)
        return convert

    def _array_converter(self, item: Convert, path: str, fits: frozenset[type]) -> Convert:
        inner = getattr(item, "apply", None)  # items that are objects: their own apply

        def convert(v: Any) -> Any:
            if type(v) is not list:
                return self._array(v, item, path)
            if inner is not None:
                return [inner(x) if type(x) is dict else item(x) if x is not None else None
                        for x in v]
            return [x if x is None or type(x) in fits else item(x) for x in v]
        return convert

    def _bad(self, path: str, problem: str, value: Any, result: Any = None) -> Any:
        self.odd.add(self.stream, path, problem, value)
        return result

    def _scalar_or_text(self, path: str) -> Convert:
        def convert(v: Any) -> Any:
            if isinstance(v, (dict, list)):
                return self._bad(path, "object or list where a value belongs, kept as JSON text",
                                 v, _json(v))
            return v
        return convert

    def _datetime(self, v: Any, path: str) -> Any:
        if isinstance(v, str):
            if _RFC3339.match(v):
                return v
            if (match := _V1_TIME.match(v)) and not _ZERO_DATE.match(v):
                return f"{match.group(1)}T{match.group(2)}Z"  # v1 times are UTC
            if not v.strip():
                return self._bad(path, "empty text where a date-time belongs, set to null", v)
            if _ZERO_DATE.match(v):
                return self._bad(path, "zero date set to null", v)
            try:
                parsed = datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                return self._bad(path, "not a date-time, set to null", v)
            if parsed.tzinfo is None:
                return parsed.isoformat() + "Z"
            return parsed.isoformat().replace("+00:00", "Z")
        return self._bad(path, f"{_kind(v)} where a date-time belongs, set to null", v)

    def _date(self, v: Any, path: str) -> Any:
        if isinstance(v, str):
            if _DATE.match(v) and not _ZERO_DATE.match(v):
                return v
            if _ZERO_DATE.match(v):
                return self._bad(path, "zero date set to null", v)
            if _V1_TIME.match(v) or _RFC3339.match(v):
                return self._bad(path, "date-time where a date belongs, date kept", v, v[:10])
            return self._bad(path, "not a date, set to null", v)
        return self._bad(path, f"{_kind(v)} where a date belongs, set to null", v)

    def _string(self, v: Any, path: str) -> Any:
        if isinstance(v, str):
            return v
        if isinstance(v, bool):
            return self._bad(path, "true/false where text belongs, kept as text", v,
                             "true" if v else "false")
        if isinstance(v, _NUMBERS):
            return str(v)  # a number in a text column is harmless: no warning
        return self._bad(path, f"{_kind(v)} where text belongs, kept as JSON text", v, _json(v))

    def _integer(self, v: Any, path: str) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, (float, Decimal)) and math.isfinite(v) and v == int(v):
            return int(v)
        if isinstance(v, str):
            return self._from_text(v, path, integral=True)
        return self._bad(path, f"{_kind(v)} where an integer belongs, set to null", v)

    def _number(self, v: Any, path: str) -> Any:
        if isinstance(v, _NUMBERS) and not isinstance(v, bool):
            if isinstance(v, int) or math.isfinite(v):
                return v
            return self._bad(path, "not a finite number, set to null", v)
        if isinstance(v, str):
            return self._from_text(v, path, integral=False)
        return self._bad(path, f"{_kind(v)} where a number belongs, set to null", v)

    def _from_text(self, v: str, path: str, *, integral: bool) -> Any:
        """A number sent as text: converted when it is one (whole, for integers), else null."""
        if not v.strip():
            return self._bad(path, "empty text where a number belongs, set to null", v)
        try:
            number = Decimal(v.strip())
        except InvalidOperation:
            return self._bad(path, "text where a number belongs, set to null", v)
        if number.is_finite() and (not integral or number == number.to_integral_value()):
            return self._bad(path, "number sent as text, converted", v,
                             int(number) if integral else number)
        wanted = "an integer" if integral else "a number"
        return self._bad(path, f"{_kind(v)} where {wanted} belongs, set to null", v)

    def _boolean(self, v: Any, path: str) -> Any:
        if isinstance(v, bool):
            return v
        if v in (0, 1) and isinstance(v, int):
            return self._bad(path, "0/1 where true/false belongs, converted", v, bool(v))
        if isinstance(v, str) and v.strip().lower() in ("true", "false", "0", "1"):
            return self._bad(path, "true/false sent as text, converted", v,
                             v.strip().lower() in ("true", "1"))
        return self._bad(path, f"{_kind(v)} where true/false belongs, set to null", v)

    def _object(self, schema: dict[str, Any], path: str) -> Convert:
        apply = _ObjectPlan.build(self, schema, schema, path + ".").apply

        def convert(v: Any) -> Any:
            if type(v) is dict:  # the usual value, before the checks below
                return apply(v)
            if not isinstance(v, dict):
                if v == []:  # PHP's empty object
                    return self._bad(path, "empty list where an object belongs, set to null", v)
                return self._bad(path, f"{_kind(v)} where an object belongs, set to null", v)
            return apply(v)
        convert.apply = apply  # type: ignore[attr-defined]  # inlined by _ObjectPlan
        return convert

    def _array(self, v: Any, item: Convert, path: str) -> Any:
        if not isinstance(v, list):
            return self._bad(path, f"{_kind(v)} where a list belongs, set to null", v)
        return [item(x) if x is not None else None for x in v]


def _same(v: Any) -> Any:
    return v


# Python types that need no conversion, by JSON Schema type (bool is not an int here: the
# check is on the exact type). Floats and Decimals go through `_number` (NaN and infinity).
_FITS: dict[str, frozenset[type]] = {
    "string": frozenset({str}), "integer": frozenset({int}), "number": frozenset({int}),
    "boolean": frozenset({bool}),
}


class _ObjectPlan:
    """How to conform one object: its properties' converters and the types they accept."""

    def __init__(self, conformer: Conformer, names: frozenset[str], known: frozenset[str],
                 steps: list[tuple[str, frozenset[type], Convert]], keep_extra: bool,
                 path: str) -> None:
        self.conformer, self.names, self.known = conformer, names, known
        self.steps, self.keep_extra, self.path = steps, keep_extra, path
        self.apply: RecordFunction = self._compile()

    @classmethod
    def build(cls, conformer: Conformer, schema: dict[str, Any], known: dict[str, Any],
              path: str) -> _ObjectPlan:
        props = schema.get("properties") or {}
        steps = []
        for name, sub in props.items():
            convert = conformer._converter(sub, path + name)
            if convert is not _same:
                steps.append((name, _fits(sub), convert))
        return cls(conformer, frozenset(props), frozenset(known.get("properties") or {}),
                   steps, bool(known.get("additionalProperties")), path)

    def _compile(self) -> RecordFunction:
        """`apply(record)`, written out for this object's properties and compiled once: one
        line per property that may need a conversion, its type check inlined, with no loop,
        look-up table or call for a value that fits. This is the tap's hottest code (every
        value of every record); the loop over the record's keys it replaced cost a fifth more.

        Values are converted in place (a record keeps its key order), property by property;
        properties the record lacks or holds null are left alone. Extras go first, as
        `_drop_extra` says: the usual record has none (`issuperset` checks without building
        a set)."""
        scope: dict[str, Any] = {"drop_extra": self._drop_extra,
                                 "covered": self.names.issuperset}
        lines = ["def apply(record):"]
        if not self.keep_extra:
            lines.append("    if not covered(record): drop_extra(record)")
        lines.append("    get = record.get")
        for i, (name, fits, convert) in enumerate(self.steps):
            key = repr(name)  # a literal (codegen.py)
            scope[f"c{i}"] = convert
            lines.append(f"    v = get({key})")
            if (inner := getattr(convert, "apply", None)) is not None:  # an object
                scope[f"a{i}"] = inner
                lines += [f"    if type(v) is dict: a{i}(v)",
                          f"    elif v is not None: record[{key}] = c{i}(v)"]
                continue
            if (text := getattr(convert, "fits_text", None)) is not None:  # a date-time
                scope[f"m{i}"] = text
                fit = f"type(v) is str and m{i}(v)"
            elif len(fits) == 1:
                scope[f"t{i}"] = next(iter(fits))
                fit = f"type(v) is t{i}"
            elif fits:
                scope[f"f{i}"] = fits
                fit = f"type(v) in f{i}"
            else:
                fit = "False"
            lines.append(f"    if v is not None and not ({fit}): record[{key}] = c{i}(v)")
        lines.append("    return record")
        return record_function("apply", lines, scope,
                               f"<conform {self.conformer.stream}:{self.path}>")

    def _drop_extra(self, record: dict[str, Any]) -> None:
        extra = record.keys() - self.names
        unknown = extra - self.known
        for name in extra - unknown:  # deselected
            del record[name]
        if not unknown:
            return
        if (handle := self.conformer.undeclared) is not None:
            handle(self.path, record, unknown)
            return
        for name in unknown:
            del record[name]
        self.conformer.unknown(self.path, unknown)


def _fits(schema: dict[str, Any]) -> frozenset[type]:
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else [k for k in kinds or () if k != "null"]
    if len(kinds) != 1 or schema.get("format") in ("date", "date-time"):  # checked by value
        return frozenset()
    return _FITS.get(kinds[0], frozenset())


def _json(v: Any) -> str:
    return json.dumps(v, default=str, ensure_ascii=False, separators=(",", ":"))


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, str):
        return "text"
    if isinstance(v, _NUMBERS):
        return "a number"
    return type(v).__name__
