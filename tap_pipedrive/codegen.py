"""Record functions written out as code for one schema and compiled once: the record path's
hottest steps (conform.py's `apply`, custom_fields.py's v2 `flatten`), where a loop over
look-up tables cost a fifth to 2.4 times more per record.

The rule that keeps it safe: names from a schema or the API (property, column and field keys)
enter the code only as `repr` literals (a str's repr is its literal), and values only through
`scope`; nothing else of the API becomes code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

RecordFunction = Callable[[dict[str, Any]], dict[str, Any]]


def record_function(name: str, lines: list[str], scope: dict[str, Any],
                    where: str) -> RecordFunction:
    """The function `name` that `lines` define, compiled with `scope` as its globals; `where`
    names it in tracebacks and profiles."""
    exec(compile("\n".join(lines), where, "exec"), scope)
    return cast(RecordFunction, scope[name])
