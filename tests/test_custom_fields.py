"""Custom fields: typed columns under readable names, pins, labels, raw keys, the catalog as
the source of truth, the mapping stream, and errors that never shrink the schema."""

from __future__ import annotations

import pytest
from helpers import run_tap, sandbox_config
from stream_helpers import discover, schema_of, select, sync

from tap_pipedrive.conform import OddValues
from tap_pipedrive.custom_fields import (
    Column,
    CustomColumns,
    CustomField,
    catalog_columns,
    describe,
    plan_columns,
    slug,
)
from tap_pipedrive.errors import ConfigError
from tap_pipedrive_sandbox import fields as sandbox_fields

KEY_A, KEY_B, KEY_C = "a" * 40, "b" * 40, "c" * 40


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "column"), [
    ("Discount %", "discount_percent"), ("Weight (kg)", "weight_kg"),
    ("Größe & Farbe", "grosse_and_farbe"), ("2nd phone", "cf_2nd_phone"),
    ("  Lead   source ", "lead_source"), ("日本語", ""), ("R&D #", "r_and_d_number"),
])
def test_slug(name, column):
    assert slug(name) == column


def field(key: str, name: str, ftype: str = "varchar", **kw) -> CustomField:
    return CustomField(key, name, ftype, **kw)


def names(plan: dict[str, list[Column]]) -> dict[str, list[str]]:
    return {key: [c.name for c in cols] for key, cols in plan.items()}


def test_clashes_get_the_key_appended_whatever_the_order():
    fields = [field(KEY_A, "Partner"), field(KEY_B, "Partner"), field(KEY_C, "Title")]
    plan = names(plan_columns(fields, {"title", "id"}, {}, raw_keys=False))
    assert plan == {KEY_A: ["partner_aaaaaaaa"], KEY_B: ["partner_bbbbbbbb"],
                    KEY_C: ["title_cccccccc"]}
    assert names(plan_columns(fields[::-1], {"title", "id"}, {}, raw_keys=False)) == plan


def test_parts_clash_with_other_fields():
    fields = [field(KEY_A, "Price", "monetary", parts=("currency",)),
              field(KEY_B, "Price currency")]
    plan = names(plan_columns(fields, set(), {}, raw_keys=False))
    assert plan == {KEY_A: ["price_aaaaaaaa", "price_aaaaaaaa_currency"],
                    KEY_B: ["price_currency_bbbbbbbb"]}


def test_unreadable_names_fall_back_to_the_key():
    plan = names(plan_columns([field(KEY_A, "日本語")], set(), {}, raw_keys=False))
    assert plan == {KEY_A: ["cf_aaaaaaaa"]}


def test_pins_win_and_are_never_renamed():
    fields = [field(KEY_A, "Partner"), field(KEY_B, "Reseller")]
    plan = names(plan_columns(fields, set(), {KEY_B: "partner"}, raw_keys=False))
    assert plan == {KEY_A: ["partner_aaaaaaaa"], KEY_B: ["partner"]}
    with pytest.raises(ConfigError, match="taken"):
        plan_columns(fields, {"title"}, {KEY_A: "title"}, raw_keys=False)


def test_raw_keys():
    fields = [field(KEY_A, "Setup fee", "monetary", parts=("currency",))]
    assert names(plan_columns(fields, set(), {}, raw_keys=True)) == {
        KEY_A: [KEY_A, f"{KEY_A}_currency"]}


def test_catalog_descriptions_carry_the_key():
    f = field(KEY_A, "Setup fee", "monetary", parts=("currency",))
    schema = {"properties": {"fee": {"description": describe(Column("fee", f, None))},
                             "fee_cur": {"description": describe(Column("fee_cur", f, "currency"))},
                             "title": {"description": "The title"}}}
    assert catalog_columns(schema) == {(KEY_A, None): "fee", (KEY_A, "currency"): "fee_cur"}


# --- values ---------------------------------------------------------------------------------


def columns(fields: list[CustomField], shape: str = "v2", labels: bool = False):
    odd = OddValues()
    return CustomColumns("deals", plan_columns(fields, set(), {}, False), labels, shape, odd), odd


def test_v2_values_fill_their_columns():
    fields = [field(KEY_A, "Fee", "monetary", parts=("currency",)),
              field(KEY_B, "Tier", "enum", options=((7, "Gold"), (8, "Silver"))),
              field(KEY_C, "Period", "daterange", parts=("until",))]
    cols, odd = columns(fields)
    record = {"id": 1, "custom_fields": {KEY_A: {"value": 10.5, "currency": "EUR"}, KEY_B: 8,
                                         KEY_C: None}}
    assert cols.flatten(record) == {"id": 1, "fee": 10.5, "fee_currency": "EUR", "tier": 8,
                                    "period": None, "period_until": None}
    labelled, _ = columns(fields, labels=True)
    assert labelled.flatten({"custom_fields": {KEY_B: 7}})["tier"] == "Gold"
    assert labelled.flatten({"custom_fields": {KEY_B: 99}})["tier"] == "99"
    assert not odd.counts


def test_column_names_of_any_text_are_filled():
    """The v2 flatten is written out as code, one line per field: pinned column names with
    quotes, backslashes or a newline must stay names, never code."""
    fields = [field(KEY_A, "Fee", "monetary", parts=("currency",)), field(KEY_B, "Tier")]
    pins = {KEY_A: "it's \"fee\"\n", KEY_B: "a'); import os; ('"}
    cols = CustomColumns("deals", plan_columns(fields, set(), pins, False), False, "v2",
                         OddValues())
    record = {"custom_fields": {KEY_A: {"value": 1, "currency": "EUR"}, KEY_B: "x"}}
    assert cols.flatten(record) == {"it's \"fee\"\n": 1, "it's \"fee\"\n_currency": "EUR",
                                    "a'); import os; ('": "x"}


def test_v1_values_are_read_from_top_level_keys():
    fields = [field(KEY_A, "Fee", "monetary", parts=("currency",)),
              field(KEY_B, "Tags", "set", options=((1, "x"), (2, "y"))),
              field(KEY_C, "Tier", "enum", options=((7, "Gold"),))]
    cols, _ = columns(fields, shape="v1")
    record = {"id": "u", KEY_A: 5, f"{KEY_A}_currency": "USD", KEY_B: "1,2", KEY_C: "7"}
    assert cols.flatten(record) == {"id": "u", "fee": 5, "fee_currency": "USD", "tags": [1, 2],
                                    "tier": 7}


def test_unknown_types_and_odd_shapes_are_kept_as_text_and_counted():
    fields = [field(KEY_A, "Mood", "hologram"), field(KEY_B, "Fee", "monetary",
                                                      parts=("currency",))]
    cols, odd = columns(fields)
    record = cols.flatten({"custom_fields": {KEY_A: {"x": 1}, KEY_B: []}})
    assert record["mood"] == '{"x":1}'
    assert record["fee"] == []  # the conformer makes it null (its column is a number)
    assert sum(odd.counts.values()) == 1
    assert cols.properties()["mood"]["type"] == ["string", "null"]


# --- against the sandbox --------------------------------------------------------------------


def sandbox_fields_of(sb, entity: str) -> list[sandbox_fields.CustomField]:
    return list(sandbox_fields.custom_fields(sb.data.world.seed, entity))


def test_discovery_types_every_custom_field(shared_sandbox, tmp_path):
    catalog = discover(tmp_path, sandbox_config(shared_sandbox.url))
    props = schema_of(catalog, "deals")["properties"]
    assert "custom_fields" not in props
    wanted = {
        "contract_number": "string", "discount_percent": "number", "setup_fee": "number",
        "setup_fee_currency": "string", "lead_source": "integer", "competitors": "array",
        "renewal_date": "string", "contract_period_until": "string",
        "solution_engineer": "integer", "partner": "integer", "champion": "integer",
        "delivery_address": "string", "delivery_address_postal_code": "string",
        "billing_phone": "string",
    }
    for column, kind in wanted.items():
        assert props[column]["type"][0] == kind, column
    assert props["renewal_date"]["format"] == "date"
    for stream in ("persons", "organizations", "products", "projects", "archived_deals",
                   "leads", "archived_leads"):
        described = [p for p in schema_of(catalog, stream)["properties"].values()
                     if "Pipedrive key" in (p.get("description") or "")]
        assert len(described) >= 14, stream


def test_values_land_in_their_columns(make_sandbox, tmp_path):
    sb = make_sandbox(records=40, seed=41, burst_limit=0)
    catalog = select(discover(tmp_path, sandbox_config(sb.url)),
                     ["deals", "leads", "custom_field_mappings"])
    run = sync(tmp_path, sb.url, catalog)
    by_name = {f.name: f for f in sandbox_fields_of(sb, "deals")}
    truth = {d["id"]: d["custom_fields"] for d in sb.data.records("deals")}
    for deal in run.records["deals"]:
        values = truth[deal["id"]]
        fee = values[by_name["Setup fee"].key]
        assert deal["setup_fee"] == (fee and fee["value"])
        assert deal["setup_fee_currency"] == (fee and fee["currency"])
        assert deal["competitors"] == values[by_name["Competitors"].key]
        address = values[by_name["Delivery address"].key]
        assert deal["delivery_address_locality"] == (address and address["locality"])
    # Leads: the deals' fields, from v1's top-level keys, in the same columns and types.
    lead = next(lead for lead in run.records["leads"] if lead["lead_source"] is not None)
    assert isinstance(lead["lead_source"], int)
    mappings = run.records["custom_field_mappings"]
    deal_rows = {m["key"]: m for m in mappings if m["stream"] == "deals"}
    assert deal_rows[by_name["Setup fee"].key]["columns"] == ["setup_fee", "setup_fee_currency"]
    assert deal_rows[by_name["Lead source"].key]["options"][0]["label"] == "Inbound"
    assert {m["stream"] for m in mappings} == {"deals", "archived_deals", "persons",
                                               "organizations", "products", "projects",
                                               "archived_projects", "leads", "archived_leads"}


def test_option_labels_and_raw_keys(make_sandbox, tmp_path):
    sb = make_sandbox(records=20, seed=42, burst_limit=0)
    key = next(f.key for f in sandbox_fields_of(sb, "deals") if f.name == "Competitors")
    settings = {"custom_field_option_labels": True}
    catalog = select(discover(tmp_path, sandbox_config(sb.url, **settings)), ["deals"])
    run = sync(tmp_path, sb.url, catalog, **settings)
    labels = {"Acme CRM", "Globex", "Initech", "Umbrella", "Hooli"}
    values = [v for d in run.records["deals"] for v in d["competitors"] or []]
    assert values and set(values) <= labels

    raw = discover(tmp_path, sandbox_config(sb.url, custom_field_raw_keys=True))
    props = schema_of(raw, "deals")["properties"]
    assert key in props and "competitors" not in props


def test_pinned_names_are_kept_and_logged(make_sandbox, tmp_path):
    sb = make_sandbox(records=20, seed=43, burst_limit=0)
    key = next(f.key for f in sandbox_fields_of(sb, "deals") if f.name == "Setup fee")
    pins = {"custom_field_names": {key: "onboarding_fee"}}
    catalog = select(discover(tmp_path, sandbox_config(sb.url, **pins)),
                     ["deals", "custom_field_mappings"])
    props = schema_of(catalog, "deals")["properties"]
    assert "onboarding_fee" in props and "onboarding_fee_currency" in props
    assert "setup_fee" not in props
    run = sync(tmp_path, sb.url, catalog, **pins)
    assert any(d["onboarding_fee"] is not None for d in run.records["deals"])
    assert "pinned to column 'onboarding_fee'" in run.stderr
    [row] = [m for m in run.records["custom_field_mappings"]
             if m["stream"] == "deals" and m["key"] == key]
    assert row["pinned"] is True and row["column"] == "onboarding_fee"


def test_a_renamed_field_keeps_its_catalog_column(make_sandbox, tmp_path):
    """The catalog is the source of truth in a sync: data never moves to a new column
    silently; the log says what the new name would be."""
    sb = make_sandbox(records=20, seed=44, burst_limit=0)
    key = next(f.key for f in sandbox_fields_of(sb, "deals") if f.name == "Partner")
    catalog = select(discover(tmp_path, sandbox_config(sb.url)), ["deals"])
    sb.data.rename_field("dealFields", key, "Reseller")
    run = sync(tmp_path, sb.url, catalog)
    assert "partner" in run.schemas["deals"]["schema"]["properties"]
    assert any(d["partner"] is not None for d in run.records["deals"])
    assert "reseller" not in run.records["deals"][0]
    assert "keeps the catalog's column 'partner'" in run.stderr
    assert "would give 'reseller'" in run.stderr
    # A new discovery follows Pipedrive's name.
    assert "reseller" in schema_of(discover(tmp_path, sandbox_config(sb.url)),
                                   "deals")["properties"]


def test_metadata_failure_is_an_error_not_a_smaller_schema(make_sandbox, tmp_path):
    sb = make_sandbox(records=10, seed=45, burst_limit=0, fault_rate=1.0, fault_kinds=["500"],
                      fault_paths=["/api/v2/dealFields"])
    config = sandbox_config(sb.url, max_retries=0)
    for args in (("--discover",), ()):
        run = run_tap(tmp_path, config, *args)
        assert run.returncode != 0
        assert "Traceback" not in run.stderr
        last = run.stderr.strip().splitlines()[-1]
        assert last.startswith("tap-pipedrive: error: could not read the custom field "
                               "definitions from /api/v2/dealFields"), last
        assert "500" in last
        assert not run.records and not run.stdout.strip()


def test_fields_refused_to_the_token_keep_the_untyped_object(make_sandbox, tmp_path):
    """An account without the Projects feature (or an app without its scope): the projects
    streams keep `custom_fields` (every value, untyped), the rest is typed, the log says why."""
    sb = make_sandbox(records=20, seed=48, burst_limit=0, fault_rate=1.0, fault_kinds=["403"],
                      fault_paths=["/api/v2/projectFields"])
    run = run_tap(tmp_path, sandbox_config(sb.url), "--discover")
    assert run.returncode == 0, run.stderr
    catalog = __import__("json").loads(run.stdout)
    assert "custom_fields" in schema_of(catalog, "projects")["properties"]
    assert "setup_fee" in schema_of(catalog, "deals")["properties"]
    assert "projects: no custom field columns" in run.stderr and "403" in run.stderr
    assert len([r for r in sb.requests if r["path"] == "/api/v2/projectFields"]) == 1


def test_discovery_without_credentials_says_so(tmp_path, shared_sandbox):
    run = run_tap(tmp_path, {}, "--discover")
    assert run.returncode == 0, run.stderr
    assert "Discovery without usable credentials" in run.stderr
    catalog = __import__("json").loads(run.stdout)
    assert "custom_fields" in schema_of(catalog, "deals")["properties"]
    # A sync with that catalog writes custom fields as Pipedrive sends them, and says why.
    synced = sync(tmp_path, shared_sandbox.url, select(catalog, ["deals"]))
    assert all(isinstance(d["custom_fields"], dict) for d in synced.records["deals"])
    assert "untyped `custom_fields` object" in synced.stderr


def test_metadata_is_read_once_per_run(make_sandbox, tmp_path):
    sb = make_sandbox(records=20, seed=46, burst_limit=0)
    catalog = select(discover(tmp_path, sandbox_config(sb.url)),
                     ["deals", "archived_deals", "leads", "deal_fields",
                      "custom_field_mappings"])
    sb.reset_requests()
    sync(tmp_path, sb.url, catalog)
    assert len([r for r in sb.requests if r["path"] == "/api/v2/dealFields"]) == 1


# --- odd values -----------------------------------------------------------------------------


def test_odd_values_never_crash_or_drop_a_record(make_sandbox, tmp_path):
    sb = make_sandbox(records=60, seed=47, burst_limit=0, odd_values=True)
    streams = ["deals", "users", "organizations", "persons"]
    catalog = select(discover(tmp_path, sandbox_config(sb.url)), streams)
    props = schema_of(catalog, "deals")["properties"]
    assert props["mood_ring"]["type"] == ["string", "null"]  # a field type no tap knows
    run = sync(tmp_path, sb.url, catalog)
    for stream in streams:
        expected = [r["id"] for r in sb.data.records(stream) if not r.get("is_deleted")
                    or stream == "deals"]
        assert sorted(run.ids(stream)) == sorted(expected), stream
    odd_deals = [d for d in run.records["deals"] if d["id"] % 7 == 0]
    assert odd_deals
    for deal in odd_deals:
        assert deal["expected_close_date"] is None and deal["value"] is None
        assert deal["setup_fee"] is None and deal["mood_ring"] == '{"shimmer":3}'
    odd_orgs = [o for o in run.records["organizations"] if o["id"] % 7 == 0]
    assert odd_orgs and all(o["address"] is None for o in odd_orgs)
    summary = [line for line in run.stderr.splitlines() if "Odd values:" in line]
    assert summary, run.stderr[-2000:]
    text = "\n".join(summary)
    assert f"deals.expected_close_date: {len(odd_deals)} x zero date set to null" in text
    assert "users.last_login" in text and "organizations.address" in text
    assert "persons.emails" in text and "deals.mood_ring" in text


def test_every_field_type_of_the_spec_is_mapped():
    from test_sandbox_spec import item_schema

    from tap_pipedrive.custom_fields import KNOWN_TYPES

    types = set()
    for version, path in (("v2", "/dealFields"), ("v2", "/projectFields"), ("v1", "/leadFields")):
        types |= set(item_schema(version, path)["properties"]["field_type"]["enum"])
    assert types == KNOWN_TYPES
