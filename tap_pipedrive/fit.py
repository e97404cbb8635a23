"""Whether a whole record already fits its schema, checked in one call to msgspec's C code.

The conformer (conform.py) checks a record value by value, in compiled Python: a fifth of
a sync's CPU, though almost every record it sees already fits and comes out unchanged. A
msgspec type made from the same schema checks the same rules in C (`msgspec.convert`,
strict): a record that passes is one the conformer would leave as it is, so it is kept as
it is; one that does not (an odd value, a deselected or undeclared property) goes to the
conformer, which converts, counts and reports as before.

Dates and date-times are msgspec's own types, read in C: Python's re, called from C for
each value, was 60 % of the check (a deal: 8.0 -> 2.9 us). msgspec's date-time takes three
forms the pattern refuses, which the conformer rewrites (`t` or a space for `T`, `z`, an
offset without its colon); a top-level date-time is therefore also looked at in Python, two
characters of it (`_as_written`). One within an object or a list keeps the pattern. The
types are stricter than the patterns otherwise (no 30 February, no hour 24, no year 0): such
a value goes to the conformer, which keeps it as the pattern did.

What fits, as conform.py's converters have it (null always does): text for a string; text
matching RFC3339 (DATE_TIME) for a date-time, DATE and not 0000-00-00 for a date; an int
(not a bool) for an integer; a finite int, float or Decimal for a number (msgspec takes all
three for a float; the bounds refuse NaN and infinity); a bool for a boolean; a list of what
its items fit for an array; for an object, its properties' fits, and no other key unless
the schema allows more (additionalProperties); any scalar where several types are declared
and text is one; anything where no type is declared.
"""

from __future__ import annotations

import datetime
import re
import sys
from collections.abc import Callable
from typing import Annotated, Any

import msgspec

DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Every scalar JSON value, Decimal included (msgspec takes a Decimal for a float).
_SCALAR = str | int | float | bool
_FINITE = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": _FINITE, "boolean": bool}


Check = Callable[[dict[str, Any]], object]


def fits(schema: dict[str, Any], extra: bool) -> Check | None:
    """The check of an object schema's records: called with a record, it raises ValueError
    (msgspec.ValidationError, mostly) unless the record fits. `extra`: keys the schema does
    not name may be there (and are not checked). None: this schema cannot be checked so."""
    try:
        kind = _object(schema, extra, top=True)
    except ValueError:  # a name msgspec does not take ('"', '\\', control characters)
        return None  # the conformer alone checks these records
    props = schema.get("properties") or {}
    times = [name for name, prop in props.items() if _is_date_time(prop)]
    if not times:
        return lambda record: msgspec.convert(record, kind)

    def check(record: dict[str, Any]) -> None:
        msgspec.convert(record, kind)
        _as_written(record, times)
    return check


def _as_written(record: dict[str, Any], names: list[str]) -> None:
    """Each of these date-times (msgspec read them) as the pattern has it: `T` between the
    date and the time, and `Z` or an offset with its colon at the end."""
    for name in names:
        v = record.get(name)
        if v is not None and (v[10] != "T" or (v[-1] != "Z" and v[-3] != ":")):
            raise ValueError(f"{name}: a date-time the conformer writes otherwise")


def _object(schema: dict[str, Any], extra: bool, top: bool = False) -> Any:
    props = schema.get("properties") or {}
    names = {f"f{i}": name for i, name in enumerate(props)}  # fields f0, f1...: any key
    fields = [(field, _type(props[name], top) | None, None) for field, name in names.items()]
    return msgspec.defstruct("Fits", fields, rename=names, forbid_unknown_fields=not extra)


def _kinds(schema: dict[str, Any]) -> set[str]:
    """The types a property declares, null aside."""
    kinds = schema.get("type")
    kinds = {kinds} if isinstance(kinds, str) else set(kinds or ())
    kinds.discard("null")
    return kinds


def _is_date_time(schema: dict[str, Any]) -> bool:
    return _kinds(schema) == {"string"} and schema.get("format") == "date-time"


def _type(schema: dict[str, Any], top: bool = False) -> Any:
    """`top`: a property of the record itself (its date-times are also `_as_written`)."""
    kinds = _kinds(schema)
    if len(kinds) != 1:  # none declared, or several: any scalar where text is one
        return _SCALAR if "string" in kinds else Any
    kind = kinds.pop()
    if _is_date_time(schema):
        return _AWARE if top else Annotated[str, msgspec.Meta(pattern=DATE_TIME.pattern)]
    if kind == "string" and schema.get("format") == "date":
        return datetime.date  # no 0000-00-00 either (no year 0)
    if kind == "object":
        return _object(schema, bool(schema.get("additionalProperties")))
    if kind == "array":
        return list[_type(schema.get("items") or {}) | None]  # type: ignore[misc]
    return _TYPES.get(kind, Any)


_AWARE = Annotated[datetime.datetime, msgspec.Meta(tz=True)]  # with its zone, as RFC 3339
