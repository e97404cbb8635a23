"""Values that broke other connectors become null or text as the schema allows: never a crash,
never a dropped record, always counted."""

from __future__ import annotations

import copy
import random
from decimal import Decimal

import pytest

from tap_pipedrive import fit
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


# --- the whole-record check (fit.py): what it lets through, the conformer leaves alone ------

KINDS = {
    "text": {"type": ["string", "null"]},
    "email": {"type": "string", "format": "email"},
    "when": {"type": ["string", "null"], "format": "date-time"},
    "day": {"type": ["string", "null"], "format": "date"},
    "n": {"type": ["integer", "null"]},
    "x": {"type": ["number", "null"]},
    "flag": {"type": ["boolean", "null"]},
    "address": {"type": ["object", "null"], "properties": {"n": {"type": "integer"}}},
    "free": {"type": "object", "properties": {"n": {"type": "integer"}},
             "additionalProperties": True},
    "bare": {"type": "object"},
    "ints": {"type": ["array", "null"], "items": {"type": ["integer", "null"]}},
    "objects": {"type": "array", "items": {"type": "object", "properties": {
        "when": {"type": "string", "format": "date-time"}}}},
    "list": {"type": "array"},
    "scalar": {"type": ["string", "integer", "null"]},
    "numeric": {"type": ["integer", "number"]},
    "untyped": {},
}
VALUES = [
    None, "", " ", "x", "12", "true", "2024-01-31T10:20:30Z", "2024-01-31T10:20:30.5+02:00",
    "2024-01-31T10:20:30Z\n", "2024-01-31 10:20:30", "2024-01-31", "0000-00-00",
    "2024-01-31t10:20:30z", "2024-01-31 10:20:30Z", "2024-01-31T10:20:30+0100",  # msgspec's
    "2024-02-30T10:20:30Z", "2024-01-31T24:00:00Z", "2024-02-30", "0000-01-01",  # forms
    "0000-00-00T00:00:00Z", "\u0662\u0660\u0662\u0664-\u0660\u0661-\u0663\u0661",  # other digits
    0, 1, -7, 2**70, True, False, 1.5, Decimal("1.5"),
    Decimal("-0"), Decimal("1E+400"), Decimal("NaN"), Decimal("sNaN"), float("nan"),
    float("inf"), [], [1], [None], ["a"], [True], [{"when": "2024-01-31T10:20:30Z"}],
    [{"when": "2024-01-31 10:20:30"}], [{"other": 1}], {}, {"n": 1}, {"n": "1"}, {"m": 1},
]


def _plain(schema: dict) -> tuple[Conformer, OddValues]:
    """A conformer that checks value by value only (no whole-record check)."""
    odd = OddValues()
    conformer = Conformer(schema, "s", odd)
    conformer._fits = None
    return conformer, odd


@pytest.mark.parametrize("name", list(KINDS))
def test_what_the_whole_record_check_passes_the_conformer_leaves_unchanged(name):
    """Every value of `VALUES` in every kind of property: a record the check passes is one
    that value-by-value conformance would leave exactly as it is, with nothing counted."""
    schema = {"properties": {"id": {"type": "integer"}, name: KINDS[name]}}
    check = fit.fits(schema, extra=False)
    passed = 0
    for value in VALUES:
        record = {"id": 1, name: value}
        try:
            check(record)
        except ValueError:
            continue
        passed += 1
        conformer, odd = _plain(schema)
        out = conformer.conform(copy.deepcopy(record))
        assert repr(out) == repr(record) and not odd.counts, (name, value)
    assert passed >= 2  # null and at least one usual value pass


def test_no_date_or_date_time_the_check_passes_is_one_the_conformer_would_change():
    """Dates and date-times are read by msgspec's own types (faster than the patterns), which
    take forms the conformer rewrites: 50,000 strings made by changing, adding and removing
    characters of usual ones, top level and within an object; whichever the check passes,
    the conformer leaves as it is."""
    rng = random.Random(15)
    schema = {"properties": {"when": KINDS["when"], "day": KINDS["day"],
                             "objects": KINDS["objects"]}}
    check = fit.fits(schema, extra=False)
    conformer, odd = _plain(schema)
    alphabet = "0123456789-:T tZz+.,_\u2212\uff34\uff10\n"
    usual = ["2024-01-31T10:20:30Z", "2024-01-31T10:20:30.123456Z", "1999-12-31T23:59:59-05:30",
             "2024-01-31T10:20:30.5+01:00", "2024-01-31"]
    passed = 0
    for _ in range(50_000):
        chars = list(rng.choice(usual))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(chars) + 1)
            if rng.random() < 0.5 and at < len(chars):
                chars[at] = rng.choice(alphabet)
            elif rng.random() < 0.6:
                chars.insert(at, rng.choice(alphabet))
            elif at < len(chars):
                del chars[at]
        value = "".join(chars)
        for record in ({"when": value}, {"day": value}, {"objects": [{"when": value}]}):
            try:
                check(record)
            except ValueError:
                continue
            passed += 1
            assert conformer.conform(copy.deepcopy(record)) == record, value
    assert passed > 1000 and not odd.counts


def test_a_record_that_fits_is_kept_without_checking_each_value(monkeypatch):
    """The usual record (every value already of its property's type) is checked in one call
    to msgspec's C code, not value by value in Python: the conformer's per-value code was a
    fifth of a sync's CPU."""
    conformer = Conformer(SCHEMA, "s", OddValues())
    monkeypatch.setattr(conformer._keep, "apply", lambda record: pytest.fail("walked"))
    record = {"id": 1, "when": "2024-01-31T10:20:30Z", "day": "2024-01-31", "n": 2**70,
              "x": Decimal("1.5"), "flag": False, "text": "t", "address": {"when": None},
              "tags": [1, None], "any": 3, "free": {"a": [1]}}
    assert conformer.conform(record) is record
    assert record["x"] == Decimal("1.5") and record["n"] == 2**70


def test_records_that_seldom_fit_stop_being_checked_first():
    """v1 timestamps (each converted) never pass the check: after a hundred records the
    conformer stops making it, and goes on converting and counting as before."""
    odd = OddValues()
    conformer = Conformer(SCHEMA, "s", odd)
    for i in range(150):
        assert conformer.conform({"id": i, "when": "2024-01-31 10:20:30"}) == {
            "id": i, "when": "2024-01-31T10:20:30Z"}
    assert conformer._fits is None
    assert sum(odd.counts.values()) == 0  # a v1 time is converted, not an odd value


def test_an_odd_value_after_many_fitting_records_is_still_converted_and_counted():
    odd = OddValues()
    conformer = Conformer(SCHEMA, "s", odd)
    for i in range(500):
        conformer.conform({"id": i, "n": i})
    assert conformer.conform({"id": 1, "n": "42"}) == {"id": 1, "n": 42}
    assert odd.counts == {("s", "n", "number sent as text, converted"): 1}
