"""Values that broke other connectors become null or text as the schema allows: never a crash,
never a dropped record, always counted."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tap_pipedrive.conform import Conformer, OddValues

SCHEMA = {"properties": {
    "id": {"type": ["integer", "null"]},
    "when": {"type": ["string", "null"], "format": "date-time"},
    "day": {"type": ["string", "null"], "format": "date"},
    "n": {"type": ["integer", "null"]},
    "x": {"type": ["number", "null"]},
    "flag": {"type": ["boolean", "null"]},
    "text": {"type": ["string", "null"]},
    "address": {"type": ["object", "null"], "properties": {
        "when": {"type": ["string", "null"], "format": "date-time"}}},
    "tags": {"type": ["array", "null"], "items": {"type": ["integer", "null"]}},
    "any": {"type": ["string", "integer", "number", "boolean", "null"]},
    "free": {"type": ["object", "null"], "properties": {}, "additionalProperties": True},
}}


def conform(record: dict) -> tuple[dict, OddValues]:
    odd = OddValues()
    return Conformer(SCHEMA, "s", odd).conform(record), odd


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("when", "2024-01-31T10:20:30Z", "2024-01-31T10:20:30Z"),
    ("when", "2024-01-31T10:20:30.551Z", "2024-01-31T10:20:30.551Z"),
    ("when", "2024-01-31 10:20:30", "2024-01-31T10:20:30Z"),  # v1: UTC by definition
    ("day", "2024-01-31", "2024-01-31"),
    ("n", 5, 5), ("n", Decimal("5"), 5), ("x", Decimal("1.5"), Decimal("1.5")),
    ("text", 12, "12"), ("flag", True, True), ("any", "a", "a"), ("free", {"a": [1]}, {"a": [1]}),
])
def test_values_that_fit_pass_without_a_count(field, value, expected):
    record, odd = conform({field: value})
    assert record[field] == expected
    assert not odd.counts


@pytest.mark.parametrize(("field", "value", "expected", "problem"), [
    ("when", "0000-00-00 00:00:00", None, "zero date set to null"),
    ("day", "0000-00-00", None, "zero date set to null"),
    ("when", "", None, "empty text where a date-time belongs, set to null"),
    ("when", "soon", None, "not a date-time, set to null"),
    ("day", "2024-01-31 10:00:00", "2024-01-31", "date-time where a date belongs, date kept"),
    ("n", "", None, "empty text where a number belongs, set to null"),
    ("x", "", None, "empty text where a number belongs, set to null"),
    ("n", "42", 42, "number sent as text, converted"),
    ("x", "abc", None, "text where a number belongs, set to null"),
    ("n", True, None, "true/false where an integer belongs, set to null"),
    ("flag", "true", True, "true/false sent as text, converted"),
    ("flag", 0, False, "0/1 where true/false belongs, converted"),
    ("address", [], None, "empty list where an object belongs, set to null"),
    ("address", "Main St 1", None, "text where an object belongs, set to null"),
    ("tags", {"a": 1}, None, "an object where a list belongs, set to null"),
    ("text", {"a": 1}, '{"a":1}', "an object where text belongs, kept as JSON text"),
    ("any", [1, 2], "[1,2]", "object or list where a value belongs, kept as JSON text"),
])
def test_odd_values_become_null_or_text_and_are_counted(field, value, expected, problem):
    record, odd = conform({"id": 1, field: value})
    assert record == {"id": 1, field: expected}
    assert odd.counts == {("s", field, problem): 1}


@pytest.mark.parametrize(("field", "value"), [
    ("x", float("nan")), ("x", float("inf")), ("x", Decimal("NaN")), ("n", float("inf")),
])
def test_numbers_json_cannot_carry_become_null(field, value):
    record, odd = conform({"id": 1, field: value})
    assert record == {"id": 1, field: None}
    assert sum(odd.counts.values()) == 1


def test_no_value_of_a_wrong_type_passes():
    """Every property ends up null or of its schema's type, whatever Pipedrive sends."""
    samples = [True, 0, 7, 1.5, Decimal("2.25"), "", "x", "12", [], [1], {}, {"a": 1}]
    wanted = {"id": int, "n": int, "x": (int, float, Decimal), "flag": bool, "text": str,
              "when": str, "day": str, "address": dict, "tags": list}
    for field, kind in wanted.items():
        for value in samples:
            record, _ = conform({field: value})
            out = record[field]
            assert out is None or (isinstance(out, kind) and not (
                kind is int and isinstance(out, bool))), (field, value, out)


def test_unknown_properties_are_dropped_with_one_warning(caplog):
    odd = OddValues()
    conformer = Conformer(SCHEMA, "s", odd)
    for i in range(3):
        record = conformer.conform({"id": i, "brand_new": 1, "address": {"when": None, "x": 2}})
        assert record == {"id": i, "address": {"when": None}}
    warnings = [r.getMessage() for r in caplog.records if "not in the stream's schema" in
                r.getMessage()]
    assert warnings == [
        "s: properties brand_new are not in the stream's schema and were dropped (run "
        "--discover to refresh a saved catalog)",
        "s: properties address.x are not in the stream's schema and were dropped (run "
        "--discover to refresh a saved catalog)"]


def test_deselected_properties_are_dropped_quietly(caplog):
    selected = {"properties": {k: v for k, v in SCHEMA["properties"].items() if k != "text"}}
    conformer = Conformer(selected, "s", OddValues(), known=SCHEMA)
    assert conformer.conform({"id": 1, "text": "secret"}) == {"id": 1}
    assert not caplog.records


def test_nested_values_and_list_items_are_conformed():
    record, odd = conform({"address": {"when": "0000-00-00 00:00:00"}, "tags": [1, "2", ""]})
    assert record == {"address": {"when": None}, "tags": [1, 2, None]}
    assert set(odd.counts) == {("s", "address.when", "zero date set to null"),
                               ("s", "tags[]", "number sent as text, converted"),
                               ("s", "tags[]", "empty text where a number belongs, set to null")}


def test_summary_lines_and_one_warning_per_kind(caplog):
    odd = OddValues()
    conformer = Conformer(SCHEMA, "deals", odd)
    with caplog.at_level("WARNING", logger="tap-pipedrive"):
        for _ in range(3):
            conformer.conform({"day": "0000-00-00"})
    assert len([r for r in caplog.records if "zero date" in r.getMessage()]) == 1
    assert odd.summary() == [
        "Odd values, per property (each kept as null or text; no record was dropped):",
        "Odd values: deals.day: 3 x zero date set to null",
    ]
    assert odd.per_stream() == {"deals": 3}  # the summary table's column (test_progress.py)
    assert OddValues().summary() == [] and OddValues().per_stream() == {}


def test_property_names_of_any_text_are_conformed():
    """Each object's conform is written out as code, one line per property: a name with
    quotes, backslashes, a newline or other scripts must stay a name, never code."""
    names = ["it's", 'say "hi"', "back\\slash", "new\nline", "日本語", "a'); import os; ('"]
    schema = {"type": "object", "properties": {
        **{n: {"type": ["integer", "null"]} for n in names},
        "nested": {"type": ["object", "null"], "properties": {
            n: {"type": ["string", "null"], "format": "date-time"} for n in names}}}}
    record = {**{n: "7" for n in names},
              "nested": {n: "2024-01-31 10:20:30" for n in names}}
    out = Conformer(schema, "s", OddValues()).conform(record)
    assert out == {**{n: 7 for n in names},
                   "nested": {n: "2024-01-31T10:20:30Z" for n in names}}
