"""Whether a whole record already fits its schema, checked in one call to msgspec's C code.

The conformer (conform.py) checks a record value by value, in compiled Python: a fifth of
a sync's CPU, though almost every record it sees already fits and comes out unchanged. A
msgspec type made from the same schema checks the same rules in C (`msgspec.convert`,
strict): a record that passes is one the conformer would leave as it is, so it is kept as
it is; one that does not (an odd value, a deselected or undeclared property) goes to the
conformer, which converts, counts and reports as before. (The date and date-time patterns
are Python's re, called from C: most of what the check still costs. msgspec's own datetime
type is faster but takes forms the conformer rewrites, such as `2024-01-31 10:20:30Z`.)

What fits, as conform.py's converters have it (null always does): text for a string; text
matching RFC3339 (DATE_TIME) for a date-time, DATE and not 0000-00-00 for a date; an int
(not a bool) for an integer; a finite int, float or Decimal for a number (msgspec takes all
three for a float; the bounds refuse NaN and infinity); a bool for a boolean; a list of what
its items fit for an array; for an object, its properties' fits, and no other key unless
the schema allows more (additionalProperties); any scalar where several types are declared
and text is one; anything where no type is declared.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Annotated, Any

import msgspec

DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NOT_ZERO_DATE = "^(?!0000-00-00)"  # the conformer's zero date, refused before DATE

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
        kind = _object(schema, extra)
    except ValueError:  # a name msgspec does not take ('"', '\\', control characters)
        return None  # the conformer alone checks these records
    return lambda record: msgspec.convert(record, kind)


def _object(schema: dict[str, Any], extra: bool) -> Any:
    props = schema.get("properties") or {}
    names = {f"f{i}": name for i, name in enumerate(props)}  # fields f0, f1...: any key
    fields = [(field, _type(props[name]) | None, None) for field, name in names.items()]
    return msgspec.defstruct("Fits", fields, rename=names, forbid_unknown_fields=not extra)


def _type(schema: dict[str, Any]) -> Any:
    kinds = schema.get("type")
    kinds = {kinds} if isinstance(kinds, str) else set(kinds or ())
    kinds.discard("null")
    if len(kinds) != 1:  # none declared, or several: any scalar where text is one
        return _SCALAR if "string" in kinds else Any
    kind = kinds.pop()
    fmt = schema.get("format")
    if kind == "string" and fmt == "date-time":
        return Annotated[str, msgspec.Meta(pattern=DATE_TIME.pattern)]
    if kind == "string" and fmt == "date":
        return Annotated[str, msgspec.Meta(pattern=_NOT_ZERO_DATE + DATE.pattern[1:])]
    if kind == "object":
        return _object(schema, bool(schema.get("additionalProperties")))
    if kind == "array":
        return list[_type(schema.get("items") or {}) | None]  # type: ignore[misc]
    return _TYPES.get(kind, Any)
