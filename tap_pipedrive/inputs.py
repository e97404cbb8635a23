"""Check what a user hands the tap (settings, --state, --catalog) before anything runs, and
say in one line what is wrong. Messages never carry a setting's value unless it is a choice
(like auth_method), so that a secret typed in the wrong place is not echoed."""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import jsonschema

from tap_pipedrive.errors import ConfigError

logger = logging.getLogger("tap-pipedrive")

_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number",
               "boolean": "true or false", "object": "an object", "array": "a list"}


class InputError(ConfigError):
    """A --state or --catalog file that this tap cannot use."""


def config_errors(config: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    """The settings' schema violations as one line, values left out: types, choices,
    minimums, and date-times that are real dates (the SDK checks no format)."""
    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = {_describe(error, schema) for error in validator.iter_errors(dict(config))}
    for name, prop in (schema.get("properties") or {}).items():
        value = config.get(name)
        if prop.get("format") == "date-time" and isinstance(value, str) and value.strip() \
                and re.match(DATE_TIME, value) and not _is_datetime(value):
            problems.add(f"{name} is not a real date-time (e.g. 2024-01-31T00:00:00Z)")
    return "invalid settings: " + "; ".join(sorted(problems)) if problems else ""


UNKNOWN_SETTINGS = ("error", "warn")


def unknown_settings(config: Mapping[str, Any], known: Iterable[str]) -> list[str]:
    """A line per setting name the tap does not have, naming the closest one it has: a
    misspelt start_date would otherwise backfill from the beginning, unnoticed."""
    known = set(known)
    lines = []
    for name in sorted(set(config) - known, key=str):
        close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
        lines.append(f"unknown setting {str(name)[:80]}"
                     + (f"; did you mean {close[0]}?" if close else ""))
    return lines


# Date-times as RFC 3339 (a date alone is accepted too): the SDK does not check formats.
DATE_TIME = r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?)?$"


def tighten(schema: dict[str, Any]) -> dict[str, Any]:
    """What the settings' types cannot say, as JSON schema the SDK checks before anything
    runs: a pattern for date-times (numbers carry their minimum: th.IntegerType(minimum=))."""
    for prop in (schema.get("properties") or {}).values():
        if prop.get("format") == "date-time":
            prop.setdefault("pattern", DATE_TIME)
    return schema


def _describe(error: jsonschema.ValidationError, schema: Mapping[str, Any]) -> str:
    name = ".".join(str(p) for p in error.absolute_path) or "settings"
    prop = (schema.get("properties") or {}).get(str(error.absolute_path[0])) \
        if error.absolute_path else None
    if error.validator == "type":
        wanted = [t for t in _as_list(error.validator_value) if t != "null"]
        kinds = " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
        fmt = (prop or {}).get("format")
        return f"{name} must be {kinds}" + (f" ({fmt}, e.g. 2024-01-31T00:00:00Z)"
                                            if fmt == "date-time" else "")
    if error.validator == "enum":
        shown = "" if (prop or {}).get("secret") else f"; got {error.instance!r}"
        choices = ", ".join(str(v) for v in error.validator_value if v is not None)
        return f"{name} must be one of {choices}{shown}"
    if error.validator == "required":
        return f"{error.message.split(' ')[0].strip(chr(39))} is required"
    if error.validator == "pattern" and (prop or {}).get("format") == "date-time":
        return f"{name} must be a date-time, e.g. 2024-01-31T00:00:00Z"
    if error.validator == "minimum":
        return f"{name} must be at least {error.validator_value}"
    return f"{name} is not valid ({error.validator})"


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def check_state(state: Any, replication_keys: Mapping[str, str | None]) -> dict | None:
    """The --state value, checked: a Singer state of this tap's streams (`replication_keys`:
    stream name to its replication key). A Meltano export (`{"singer_state": ...}`) is
    unwrapped. InputError names what is wrong."""
    if state is None:
        return None
    if not isinstance(state, dict):
        raise InputError(f"the --state file must hold a JSON object (a Singer state), "
                         f"not {_kind(state)}")
    if set(state) == {"singer_state"} and isinstance(state["singer_state"], dict):
        state = state["singer_state"]  # `meltano state get` prints it this way
    if not state:
        return state
    if "bookmarks" not in state:
        raise InputError("the --state file is not a Singer state: it has no 'bookmarks' "
                         f"(its keys: {', '.join(sorted(map(str, state)))[:200]})")
    bookmarks = state["bookmarks"]
    if not isinstance(bookmarks, dict):
        raise InputError(f"the --state file's 'bookmarks' must be an object, not "
                         f"{_kind(bookmarks)}")
    unknown = [name for name in bookmarks if name not in replication_keys]
    if bookmarks and len(unknown) == len(bookmarks):
        raise InputError(
            "the --state file is from another tap: none of its streams "
            f"({', '.join(sorted(unknown))[:200]}) is a tap-pipedrive stream")
    if unknown:
        logger.warning("Ignoring state of unknown stream(s): %s", ", ".join(sorted(unknown)))
    for name, bookmark in bookmarks.items():
        if name in replication_keys:
            _check_bookmark(name, bookmark, replication_keys[name])
    return state


def _check_bookmark(stream: str, bookmark: Any, key: str | None) -> None:
    if not isinstance(bookmark, dict):
        raise InputError(f"the --state bookmark of '{stream}' must be an object, not "
                         f"{_kind(bookmark)}")
    for entry in [bookmark, *(bookmark.get("partitions") or [])]:
        if not isinstance(entry, dict):
            raise InputError(f"the --state bookmark of '{stream}' has a partition that is not "
                             "an object")
        if key is None or "replication_key_value" not in entry:
            continue
        if entry.get("replication_key", key) != key:
            raise InputError(
                f"the --state bookmark of '{stream}' is for replication key "
                f"{entry.get('replication_key')!r}, but tap-pipedrive uses {key!r}: the state "
                "comes from another tap; remove that bookmark to read the stream from the start")
        if not _is_datetime(entry["replication_key_value"]):
            raise InputError(
                f"the --state bookmark of '{stream}' holds a replication_key_value that is not "
                "a date-time (e.g. 2024-01-31T10:20:30Z)")


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return True


def check_catalog(catalog: Any, stream_names: Iterable[str]) -> None:
    """The --catalog value must be a Singer catalog naming only this tap's streams."""
    if catalog is None:
        return
    if not isinstance(catalog, dict) or not isinstance(catalog.get("streams"), list):
        raise InputError("the --catalog file must be a Singer catalog: a JSON object with a "
                         "'streams' list (tap-pipedrive --discover writes one)")
    known = set(stream_names)
    named = []
    for entry in catalog["streams"]:
        if not isinstance(entry, dict) or not (entry.get("tap_stream_id") or entry.get("stream")):
            raise InputError("the --catalog file has a stream entry without tap_stream_id")
        named.append(str(entry.get("tap_stream_id") or entry.get("stream")))
    if unknown := sorted(set(named) - known):
        raise InputError(
            f"the catalog names stream(s) tap-pipedrive does not have: {', '.join(unknown)} "
            f"(it has: {', '.join(sorted(known))}); run --discover again for a fresh catalog "
            "(with Meltano: meltano run --refresh-catalog)")


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "true/false", type(None): "null"}.get(type(value), type(value).__name__)
