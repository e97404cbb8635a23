"""Scrubbing (scrub.py): personal data becomes placeholders of the same shape; ids, keys,
types, nulls, numbers, enum values and timestamps stay."""

from __future__ import annotations

import copy
import re

from tap_pipedrive.scrub import Scrubber, Secrets, length_class

TEXT_FIELD = "bff3698ce5b582beeb8113a70291a4250cc19ded"
ENUM_FIELD = "58241dbab132bfc6a486e6d994d830fd4b5a0eb5"
SET_FIELD = "31f49ddd9119388c96153b44fe9bf2063cf5912a"
MONEY_FIELD = "9452586ae5e42a5f7d3da2054b0cc66db52bfe4d"
ADDRESS_FIELD = "7d488226f1330ddf4ff60007e9ed0d5e20826ed7"
UNKNOWN_FIELD = "0123456789abcdef0123456789abcdef01234567"

FIELDS = {"success": True, "data": [
    {"field_code": TEXT_FIELD, "field_type": "text"},
    {"field_code": ENUM_FIELD, "field_type": "enum"},
    {"key": SET_FIELD, "field_type": "set"},
    {"field_code": MONEY_FIELD, "field_type": "monetary"},
    {"field_code": ADDRESS_FIELD, "field_type": "address"},
]}

KEPT = {
    "id": 17, "uuid_id": "a61ff3cb-2497-41d6-8802-ea177a15a0c2", "call_id": "CAffffd81a4f",
    "label_ids": ["282c031c-8efe-4899-92e4-a0e4a8c8c8b2"], "owner_id": 2, "org_id": None,
    "field_key": TEXT_FIELD, "value": 115450, "probability": 12.5, "is_deleted": False,
    "active_flag": True, "status": "open", "currency": "BRL", "origin": "API",
    "locale": "en_US", "visible_to": "3", "duration": "487", "outcome": "no_answer",
    "add_time": "2023-01-01T00:00:00Z", "update_time": "2026-06-22T07:29:56.000Z",
    "modified": "2026-04-20 04:02:43", "due_date": "2023-02-24", "due_time": "16:00:00",
    "timezone_offset": "+00:00", "lost_reason": None, "custom_fields": {
        ENUM_FIELD: 204, SET_FIELD: [205, 207], MONEY_FIELD: {"value": 1.5, "currency": "EUR"},
        "1ad23f075ded650a118c815395c2d4b5aaacb727": "2026-05-05"},
}


def scrubbed(doc: dict) -> dict:
    scrubber = Scrubber()
    scrubber.learn_fields(FIELDS)
    return scrubber.scrub_body(doc)


def test_ids_keys_types_nulls_numbers_enums_and_timestamps_are_kept():
    record = copy.deepcopy(KEPT)
    assert scrubbed({"success": True, "data": [record]}) == {"success": True, "data": [KEPT]}


def test_personal_data_gets_placeholders_of_the_same_shape():
    person = {
        "id": 1, "name": "Laura Johansson", "first_name": "Laura",
        "emails": [{"value": "laura.johansson@sterling.example", "primary": True,
                    "label": "work"}],
        "phones": [{"value": "+49 89 5550 4488", "primary": True, "label": "mobile"}],
        "postal_address": {"value": "Rua Augusta 222, 1200-844 Lisboa", "locality": "Lisboa",
                           "street_number": "222"},
        "website": "https://www.summit-design-ou.example",
        "notes": "met at the fair", "job_title": None, "channel_id": "Jun23 Billboards",
        "lost_reason": "Price too high",
    }
    out = scrubbed({"success": True, "data": [copy.deepcopy(person)]})["data"][0]
    assert out["id"] == 1 and out["job_title"] is None
    assert out["emails"][0]["primary"] is True and out["emails"][0]["label"] == "work"
    assert out["phones"][0]["label"] == "mobile"
    for key in ("name", "first_name", "notes", "website", "channel_id", "lost_reason"):
        assert isinstance(out[key], str) and out[key] != person[key], key
        assert len(out[key]) <= length_class(len(person[key])), key
    assert len(out["name"]) == length_class(len(person["name"]))
    email = out["emails"][0]["value"]
    assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", email) and email != person["emails"][0][
        "value"]
    phone = out["phones"][0]["value"]
    assert phone != "+49 89 5550 4488"
    assert re.sub(r"\d", "9", phone) == re.sub(r"\d", "9", "+49 89 5550 4488")
    assert out["website"].startswith("https://")
    assert out["postal_address"]["locality"] != "Lisboa"
    assert out["postal_address"]["street_number"].isdigit()
    assert out["postal_address"]["street_number"] != "222"


def test_custom_field_text_values_are_scrubbed_by_their_type():
    """Text and address fields, and fields the metadata does not name, are scrubbed; enum,
    set and monetary values (option ids, amounts, currency codes) are kept. v2 values are in
    `custom_fields`, v1 (leads) values are top-level keys, parts as `<key>_<part>`."""
    v2 = {"custom_fields": {TEXT_FIELD: "needs approval", ENUM_FIELD: 204,
                            UNKNOWN_FIELD: "12345", ADDRESS_FIELD: {"value": "Broadway 22",
                                                                    "locality": "new york"}}}
    out = scrubbed({"data": [copy.deepcopy(v2)]})["data"][0]["custom_fields"]
    assert out[ENUM_FIELD] == 204
    assert out[TEXT_FIELD] != "needs approval"
    assert out[UNKNOWN_FIELD] != "12345" and out[UNKNOWN_FIELD].isdigit()
    assert out[ADDRESS_FIELD]["value"] != "Broadway 22"
    assert out[ADDRESS_FIELD]["locality"] != "new york"
    v1 = {ENUM_FIELD: "100", SET_FIELD: "105,107,109", MONEY_FIELD: 19476.41,
          f"{MONEY_FIELD}_currency": "GBP", TEXT_FIELD: "bob", f"{ADDRESS_FIELD}_locality": "bonn"}
    out = scrubbed({"data": [copy.deepcopy(v1)]})["data"][0]
    assert {k: out[k] for k in (ENUM_FIELD, SET_FIELD, MONEY_FIELD, f"{MONEY_FIELD}_currency")} \
        == {ENUM_FIELD: "100", SET_FIELD: "105,107,109", MONEY_FIELD: 19476.41,
            f"{MONEY_FIELD}_currency": "GBP"}
    assert out[TEXT_FIELD] != "bob" and out[f"{ADDRESS_FIELD}_locality"] != "bonn"


def test_placeholders_are_consistent_within_a_capture_only():
    one, two = Scrubber(), Scrubber()
    a = one.scrub_body({"data": [{"name": "Vera Nguyen"}, {"person_name": "Vera Nguyen"}]})
    assert a["data"][0]["name"] == a["data"][1]["person_name"]
    b = two.scrub_body({"data": [{"name": "Vera Nguyen"}]})
    assert b["data"][0]["name"] != a["data"][0]["name"]


def test_paging_and_envelope_are_kept_related_objects_are_scrubbed():
    body = {"success": True, "data": [],
            "additional_data": {"next_cursor": "eyJpZCI6IDUwMH0=",
                                "pagination": {"start": 0, "limit": 500,
                                               "more_items_in_collection": True,
                                               "next_start": 500}},
            "related_objects": {"user": {"1": {"id": 1, "name": "Hanna Kask",
                                               "email": "hanna.kask@example.org"}}}}
    out = scrubbed(copy.deepcopy(body))
    assert out["additional_data"] == body["additional_data"]
    user = out["related_objects"]["user"]["1"]
    assert user["id"] == 1 and "Hanna" not in user["name"] and "hanna" not in user["email"]
    error = {"success": False, "error": "Deal not found", "errorCode": 404, "data": None}
    assert scrubbed(copy.deepcopy(error)) == error


def test_secrets_are_redacted_and_short_values_are_not_taken_for_secrets():
    secrets = Secrets(["api-LEAKCHECK-52d8aa11", "Bearer at-123456789", None, "abc"])
    text = '{"error": "token api-LEAKCHECK-52d8aa11 rejected", "abc": "Bearer at-123456789"}'
    assert secrets.redact(text) == '{"error": "token [redacted] rejected", "abc": "[redacted]"}'
