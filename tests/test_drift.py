"""Properties and custom fields the catalog does not know (drift.py): kept by default, as typed
columns or in the catch-all, dropped only when asked, and always listed in the summary; every
convention of composite custom fields gives the same columns and values."""

from __future__ import annotations

import json
import re

import pytest
from helpers import run_tap, sandbox_config
from stream_helpers import discover, select
from test_fast_path import FAST, PLAIN, messages

from tap_pipedrive.conform import OddValues
from tap_pipedrive.custom_fields import CustomColumns, CustomField, plan_columns
from tap_pipedrive.drift import infer
from tap_pipedrive_sandbox import Sandbox
from tap_pipedrive_sandbox import drift as sandbox_drift
from tap_pipedrive_sandbox import fields as sandbox_fields

KEY = "c0ffee" + "0" * 34
SEED = 13


@pytest.fixture(scope="module")
def drifting():
    with Sandbox(records=120, seed=SEED, drift=True, burst_limit=0) as sb:
        yield sb


def served(sb: Sandbox, stream: str) -> dict:
    return {r["id"]: sandbox_drift.record(SEED, stream, r) for r in sb.data.records(stream)}


def summary_lines(stderr: str) -> dict[str, str]:
    """`Undeclared: <stream>.<property>: <what was done>, N records` lines, by stream.property."""
    found = {}
    for line in stderr.splitlines():
        if match := re.search(r"Undeclared: (\S+): (.+)$", line):
            found[match[1]] = match[2]
    return found


# --- the sandbox drifts; the default sandbox does not ------------------------------------


def test_drift_is_deterministic_and_off_by_default(drifting):
    deal = drifting.data.records("deals")[0]
    assert sandbox_drift.record(SEED, "deals", deal) == sandbox_drift.record(SEED, "deals", deal)
    assert "sandbox_drift_rank" not in deal  # the ground truth itself is the spec's
    with Sandbox(records=10, seed=SEED) as plain:
        import requests
        answer = requests.get(f"{plain.url}/api/v2/deals", timeout=10,
                              headers={"x-api-token": plain.api_token}).json()
        assert not any(k.startswith("sandbox_drift") for d in answer["data"] for k in d)
        fields = requests.get(f"{plain.url}/api/v2/dealFields", timeout=10,
                              headers={"x-api-token": plain.api_token}).json()["data"]
        codes = [s["field_code"] for f in fields for s in f.get("subfields") or []]
        assert "currency" in codes


# --- the default policy: columns ----------------------------------------------------------


def test_default_adds_typed_columns_before_the_first_record_carrying_them(drifting, tmp_path):
    run = run_tap(tmp_path, sandbox_config(drifting.url, progress_interval=0))
    assert run.returncode == 0, run.stderr[-3000:]
    schemas = [json.loads(line) for line in run.stdout.splitlines()]
    # Each RECORD's properties are declared by the stream's latest SCHEMA before it.
    declared: dict[str, set] = {}
    for message in schemas:
        if message["type"] == "SCHEMA":
            declared[message["stream"]] = set(message["schema"]["properties"])
        elif message["type"] == "RECORD":
            assert set(message["record"]) <= declared[message["stream"]], message["stream"]
    props = run.schemas["deals"]["schema"]["properties"]
    assert props["sandbox_drift_rank"]["type"] == ["number", "null"]  # whole or not
    assert props["sandbox_drift_flags"]["type"] == ["object", "null"]
    assert props["sandbox_drift_late"]["type"] == ["string", "null"]
    shadow = sandbox_drift.shadow_key(SEED, "deals")
    truth = served(drifting, "deals")
    for deal in run.records["deals"]:
        sent = truth[deal["id"]]
        for name in ("sandbox_drift_rank", "sandbox_drift_flags", "sandbox_drift_note"):
            assert deal.get(name) == sent[name], name
        assert deal.get("sandbox_drift_late") == sent.get("sandbox_drift_late")
        assert deal[shadow] == sent["custom_fields"][shadow]  # no metadata: named by its key
    users = {u["id"]: u for u in run.records["users"]}
    assert all(u["sandbox_drift_badge"] for u in users.values())
    lead_key = sandbox_drift.shadow_key(SEED, "leads")
    assert all(lead[lead_key].startswith("SHD-") for lead in run.records["leads"])
    # One log line per custom field key without metadata, then the summary per stream.
    assert run.stderr.count(f"custom field key {shadow} is in the records") == 2  # +archived
    lines = summary_lines(run.stderr)
    assert lines["deals.sandbox_drift_late"].startswith("added as a column, ")
    assert lines[f"deals.{shadow}"] == f"added as a column, {len(run.records['deals'])} records"
    assert lines["users.sandbox_drift_badge"].startswith("added as a column")


def test_keys_inside_declared_objects_are_kept_too(drifting, tmp_path):
    run = run_tap(tmp_path, sandbox_config(drifting.url), "--catalog",
                  str(_catalog(tmp_path, drifting, ["persons", "organizations"])))
    assert run.returncode == 0, run.stderr[-3000:]
    emails = run.schemas["persons"]["schema"]["properties"]["emails"]["items"]["properties"]
    assert emails["sandbox_drift_verified"]["type"] == ["boolean", "null"]
    truth = served(drifting, "persons")
    for person in run.records["persons"]:
        assert person["emails"] == truth[person["id"]]["emails"]
    orgs = served(drifting, "organizations")
    for org in run.records["organizations"]:
        assert org["address"]["sandbox_drift_plus_code"] == (
            orgs[org["id"]]["address"]["sandbox_drift_plus_code"])
    lines = summary_lines(run.stderr)
    assert lines["persons.emails[].sandbox_drift_verified"].startswith("added to its object")
    dropped = run_tap(tmp_path, sandbox_config(drifting.url, undeclared_properties="drop"),
                      "--catalog", str(tmp_path / "catalog.json"))
    assert not any("sandbox_drift_verified" in e for p in dropped.records["persons"]
                   for e in p["emails"])
    assert summary_lines(dropped.stderr)["persons.emails[].sandbox_drift_verified"].startswith(
        "dropped (undeclared_properties: drop)")


def test_a_property_that_appears_mid_run_gets_its_schema_then(drifting, tmp_path):
    run = run_tap(tmp_path, sandbox_config(drifting.url), "--catalog",
                  str(_catalog(tmp_path, drifting, ["deals"])))
    assert run.returncode == 0, run.stderr[-3000:]
    kinds = [(m["type"], m.get("record", {}).get("sandbox_drift_late"), m.get("schema"))
             for m in map(json.loads, run.stdout.splitlines()) if m.get("stream") == "deals"]
    first_late = next(n for n, (t, late, _) in enumerate(kinds) if t == "RECORD" and late)
    before = [k for k in kinds[:first_late] if k[0] == "RECORD"]
    assert before and not any(late for _, late, _ in before)  # hundreds of deals without it
    kind, _, schema = kinds[first_late - 1]
    assert kind == "SCHEMA" and "sandbox_drift_late" in schema["properties"]


def _catalog(tmp_path, sb, streams):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(select(discover(tmp_path, sandbox_config(sb.url)), streams)))
    return path


# --- the other policies ---------------------------------------------------------------------


def test_catch_all_keeps_them_in_one_object(drifting, tmp_path):
    run = run_tap(tmp_path, sandbox_config(drifting.url, undeclared_properties="catch_all"),
                  "--catalog", str(_catalog(tmp_path, drifting, ["deals", "users"])))
    assert run.returncode == 0, run.stderr[-3000:]
    props = run.schemas["deals"]["schema"]["properties"]
    assert props["_undeclared"]["type"] == ["object", "null"]
    assert not [p for p in props if p.startswith("sandbox_drift")]
    shadow = sandbox_drift.shadow_key(SEED, "deals")
    truth = served(drifting, "deals")
    for deal in run.records["deals"]:
        sent, kept = truth[deal["id"]], deal["_undeclared"]
        assert kept["sandbox_drift_rank"] == sent["sandbox_drift_rank"]
        assert kept["sandbox_drift_note"] == sent["sandbox_drift_note"]  # nulls too
        assert kept.get("sandbox_drift_late") == sent.get("sandbox_drift_late")
        assert kept[shadow] == sent["custom_fields"][shadow]
    assert summary_lines(run.stderr)["deals.sandbox_drift_rank"] == (
        f"kept in _undeclared, {len(run.records['deals'])} records")


def test_catch_all_is_declared_at_discovery(drifting, tmp_path):
    config = sandbox_config(drifting.url, undeclared_properties="catch_all")
    found = run_tap(tmp_path, config, "--discover")
    assert found.returncode == 0, found.stderr[-2000:]
    streams = json.loads(found.stdout)["streams"]
    assert all("_undeclared" in s["schema"]["properties"] for s in streams)
    (tmp_path / "catalog.json").write_text(found.stdout)
    run = run_tap(tmp_path, config, "--catalog", str(tmp_path / "catalog.json"))
    assert run.returncode == 0, run.stderr[-2000:]
    first = next(json.loads(line) for line in run.stdout.splitlines()
                 if '"SCHEMA"' in line and '"deals"' in line)
    assert "_undeclared" in first["schema"]["properties"]
    schemas = [line for line in run.stdout.splitlines() if '"type":"SCHEMA","stream":"deals"'
               in line.replace(" ", "")]
    assert len(schemas) == 1  # declared up front: never sent again
    assert all(d["_undeclared"]["sandbox_drift_rank"] is not None for d in run.records["deals"])


def test_drop_only_when_asked_and_then_counted(drifting, tmp_path):
    run = run_tap(tmp_path, sandbox_config(drifting.url, undeclared_properties="drop"),
                  "--catalog", str(_catalog(tmp_path, drifting, ["deals", "users", "leads"])))
    assert run.returncode == 0, run.stderr[-3000:]
    assert not [k for d in run.records["deals"] for k in d if k.startswith("sandbox_drift")]
    lines = summary_lines(run.stderr)
    n = len(run.records["deals"])
    dropped = f"dropped (undeclared_properties: drop), {n} records"
    assert lines["deals.sandbox_drift_rank"] == dropped
    late = sum("sandbox_drift_late" in d for d in served(drifting, "deals").values())
    assert lines["deals.sandbox_drift_late"].endswith(f", {late} records")
    assert lines[f"deals.{sandbox_drift.shadow_key(SEED, 'deals')}"].startswith("dropped")
    assert lines[f"leads.{sandbox_drift.shadow_key(SEED, 'leads')}"].startswith("dropped")
    assert lines["users.sandbox_drift_badge"].startswith("dropped")


def test_bad_policy_is_one_error_line(tmp_path, drifting):
    run = run_tap(tmp_path, sandbox_config(drifting.url, undeclared_properties="keep"))
    assert run.returncode != 0
    assert "undeclared_properties" in run.stderr and "Traceback" not in run.stderr


def test_deselected_properties_are_still_left_out(drifting, tmp_path):
    path = _catalog(tmp_path, drifting, ["deals"])
    catalog = json.loads(path.read_text())
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == ["properties", "title"]:
                meta["metadata"]["selected"] = False
    path.write_text(json.dumps(catalog))
    run = run_tap(tmp_path, sandbox_config(drifting.url), "--catalog", str(path))
    assert run.returncode == 0, run.stderr[-3000:]
    assert not any("title" in d for d in run.records["deals"])
    assert all("sandbox_drift_rank" in d for d in run.records["deals"])
    assert "deals.title" not in summary_lines(run.stderr)


@pytest.mark.parametrize("variant", ["default", "maps-and-flattening"])
def test_fast_and_plain_paths_widen_alike(drifting, tmp_path, variant):
    config = sandbox_config(drifting.url)
    if variant == "maps-and-flattening":
        config.update(flattening_enabled=True, flattening_max_depth=1, stream_maps={
            "deals": {"late_upper": "str(record.get('sandbox_drift_late') or '').upper()"}})
    runs = {}
    for path, settings in (("fast", FAST), ("plain", PLAIN)):
        (tmp_path / path).mkdir()
        run = run_tap(tmp_path / path, {**config, **settings})
        assert run.returncode == 0, run.stderr[-2000:]
        runs[path] = messages(run.stdout)
    assert runs["fast"] == runs["plain"]
    deals = [m for m in runs["fast"] if m.get("stream") == "deals"]
    assert all("sandbox_drift_rank" in m["record"] for m in deals if m["type"] == "RECORD")
    if variant == "maps-and-flattening":  # the mapper and flattening saw the wider schema
        last_schema = [m for m in deals if m["type"] == "SCHEMA"][-1]["schema"]["properties"]
        assert "sandbox_drift_late" in last_schema and "late_upper" in last_schema
        assert "sandbox_drift_flags" in last_schema  # no declared subproperties: one JSON column
        late = [m["record"] for m in deals if m["type"] == "RECORD"
                and m["record"].get("sandbox_drift_late")]
        assert late and all(r["late_upper"] == r["sandbox_drift_late"].upper() for r in late)


# --- composite custom fields: every convention, the same columns and values ----------------


def _metadata(prefixed: bool) -> dict:
    def code(part: str) -> str:
        return f"{KEY}_{part}" if prefixed and part != "value" else part
    return {"field_code": KEY, "field_name": "Contract value", "field_type": "monetary",
            "subfields": [{"field_code": code("value")}, {"field_code": code("currency")}]}


def _address_metadata(prefixed: bool) -> dict:
    parts = ("value", "locality", "postal_code")
    return {"field_code": KEY, "field_name": "Site", "field_type": "address",
            "subfields": [{"field_code": f"{KEY}_{p}" if prefixed and p != "value" else p}
                          for p in parts]}


@pytest.mark.parametrize("meta", [_metadata, _address_metadata])
@pytest.mark.parametrize("prefixed", [False, True])
@pytest.mark.parametrize("record", ["v2", "v2-prefixed", "v2-beside", "v1"])
def test_every_subfield_convention_gives_the_same_columns_and_values(meta, prefixed, record):
    f = CustomField.from_item(meta(prefixed))
    monetary = f.field_type == "monetary"
    part, value = ("currency", "EUR") if monetary else ("locality", "Tartu")
    main = 1250.5 if monetary else "Rüütli 1, Tartu"
    column = "contract_value" if monetary else "site"
    raw_record = {
        "v2": {"id": 1, "custom_fields": {KEY: {"value": main, part: value}}},
        "v2-prefixed": {"id": 1, "custom_fields": {KEY: {"value": main, f"{KEY}_{part}": value}}},
        "v2-beside": {"id": 1, "custom_fields": {KEY: main, f"{KEY}_{part}": value}},
        "v1": {"id": 1, KEY: main, f"{KEY}_{part}": value},
    }[record]
    shape = "v1" if record == "v1" else "v2"
    cols = CustomColumns("s", plan_columns([f], set(), {}, False), False, shape, OddValues())
    names = set(cols.properties())
    assert f"{column}_{part}" in names and not [n for n in names if KEY in n]
    flat = cols.flatten(raw_record)
    assert flat[column] == main and flat[f"{column}_{part}"] == value
    assert not [k for k in flat if KEY in k]


def test_prefixed_metadata_against_the_sandbox(drifting, tmp_path):
    """The drifting sandbox's dealFields name parts `<key>_currency`: the columns are those of
    the plain sandbox, and no declared part column stays null."""
    run = run_tap(tmp_path, sandbox_config(drifting.url), "--catalog",
                  str(_catalog(tmp_path, drifting, ["deals", "organizations"])))
    assert run.returncode == 0, run.stderr[-3000:]
    props = run.schemas["deals"]["schema"]["properties"]
    assert "setup_fee_currency" in props and "delivery_address_locality" in props
    assert not [p for p in props if len(p) > 40 and p[:40] in _keys()]
    by_name = {f.name: f.key for f in sandbox_fields.custom_fields(SEED, "deals")}
    truth = served(drifting, "deals")
    for deal in run.records["deals"]:
        fee = truth[deal["id"]]["custom_fields"][by_name["Setup fee"]]
        assert deal["setup_fee_currency"] == (fee and fee["currency"])
    orgs = run.records["organizations"]
    assert any(o.get("billing_address_locality") for o in orgs)


def _keys() -> set[str]:
    entities = ("deals", "organizations")
    return {f.key for e in entities for f in sandbox_fields.custom_fields(SEED, e)}


def test_infer():
    assert infer(None) is None
    assert infer(True) == {"type": ["boolean", "null"]}
    assert infer(3) == infer(2.5) == {"type": ["number", "null"]}
    assert infer("x") == {"type": ["string", "null"]}
    assert infer({"a": 1})["type"] == ["object", "null"]
    assert infer([1])["type"] == ["array", "null"]


def test_a_later_value_of_another_kind_goes_to_the_catch_all_never_to_null():
    from tap_pipedrive.conform import Conformer
    from tap_pipedrive.drift import Handler, Undeclared

    schema = {"properties": {"id": {"type": ["integer", "null"]}}}
    report, sent = Undeclared(), []

    def widen(props, path):
        schema["properties"].update(props)
        sent.append(set(props))
        state["conformer"] = Conformer(schema, "s", OddValues(), undeclared=handler)

    handler = Handler("s", "add_columns", report, widen, lambda: schema)
    state = {"conformer": Conformer(schema, "s", OddValues(), undeclared=handler)}
    out = []
    for record in ({"id": 1, "code": 7}, {"id": 2, "code": 7.5}, {"id": 3, "code": "C-3"},
                   {"id": 4, "code": {"a": 1}}):
        handler.divert(record)
        out.append(state["conformer"].conform(record))
        handler.count_added(out[-1])
    assert sent == [{"code"}, {"_undeclared"}]
    assert [r.get("code") for r in out] == [7, 7.5, None, None]
    assert [r.get("_undeclared") for r in out] == [None, None, {"code": "C-3"},
                                                   {"code": {"a": 1}}]
    assert report.counts[("s", "code", "added as a column")] == 2


@pytest.mark.parametrize("missing", [("setup_fee", "setup_fee_currency"),
                                     ("setup_fee_currency",)])
def test_a_field_created_since_discovery_keeps_its_readable_name(drifting, tmp_path, missing):
    """A catalog from before the field (or one of its parts) existed: its values are
    undeclared properties under the column names the metadata gives (never lost, never under
    the 40-character key)."""
    path = _catalog(tmp_path, drifting, ["deals"])
    catalog = json.loads(path.read_text())
    deals = next(e for e in catalog["streams"] if e["tap_stream_id"] == "deals")
    for name in missing:
        del deals["schema"]["properties"][name]
    deals["metadata"] = [m for m in deals["metadata"]
                         if m["breadcrumb"] not in [["properties", n] for n in missing]]
    path.write_text(json.dumps(catalog))
    run = run_tap(tmp_path, sandbox_config(drifting.url), "--catalog", str(path))
    assert run.returncode == 0, run.stderr[-3000:]
    key = next(f.key for f in sandbox_fields.custom_fields(SEED, "deals") if f.name == "Setup fee")
    truth = served(drifting, "deals")
    for deal in run.records["deals"]:
        fee = truth[deal["id"]]["custom_fields"][key]
        assert deal.get("setup_fee") == (fee and fee["value"])
        assert deal.get("setup_fee_currency") == (fee and fee["currency"])
    assert "setup_fee_currency" in run.schemas["deals"]["schema"]["properties"]
    if len(missing) == 2:
        assert "is not in the catalog; its values go to setup_fee, setup_fee_currency" in (
            run.stderr)


def test_a_catalog_part_named_by_the_other_convention_is_found():
    from tap_pipedrive.custom_fields import catalog_columns
    schema = {"properties": {"fee_cur": {"description": f"Pipedrive key: {KEY}, part: "
                                                        f"{KEY}_currency"}}}
    assert catalog_columns(schema) == {(KEY, "currency"): "fee_cur"}


def test_summary_lines_carry_their_numbers_for_structured_logs():
    from tap_pipedrive.drift import ADDED, Undeclared
    report = Undeclared()
    report.note("deals", "x", ADDED, 3)
    title, row = report.summary()
    assert title[1] == {}
    assert row == ("Undeclared: deals.x: added as a column, 3 records",
                   {"stream_name": "deals",
                    "undeclared": {"property": "x", "action": ADDED, "records": 3}})
