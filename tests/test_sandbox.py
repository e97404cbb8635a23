"""The sandbox behaves like Pipedrive where a tap can tell: paging, filters, auth, limits, data."""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

import pytest
import requests

from tap_pipedrive_sandbox import Sandbox
from tap_pipedrive_sandbox.paging import offset_page
from tap_pipedrive_sandbox.world import counts_for

TOKEN = {"x-api-token": "sandbox-api-token"}
UNAUTHORIZED = {
    "success": False,
    "error": "unauthorized access",
    "errorCode": 401,
    "error_info": "Please check developers.pipedrive.com for more information about Pipedrive API.",
    "data": None,
    "additional_data": None,
}
V2_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
V1_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
INCREMENTAL = ["deals", "persons", "organizations", "activities", "products"]
V2_ENTITIES = [*INCREMENTAL, "pipelines", "stages"]


@pytest.fixture(scope="module")
def sb():
    """Read-only: tests that change data or settings make their own sandbox."""
    with Sandbox(records=1200, seed=2) as sandbox:
        yield sandbox


def get(sb: Sandbox, path: str, headers: dict | None = None, **params: Any) -> requests.Response:
    return requests.get(f"{sb.url}/api/{path}", params=params,
                        headers=TOKEN if headers is None else headers, timeout=30)


def walk(sb: Sandbox, path: str, between_pages=None, **params: Any) -> list[dict]:
    """All items of a v2 list, following next_cursor; `between_pages(n)` runs after page n."""
    items: list[dict] = []
    cursor, page = None, 0
    while True:
        resp = get(sb, f"v2/{path}", **params, **({"cursor": cursor} if cursor else {}))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert len(body["data"]) <= int(params.get("limit", 100))
        items += body["data"]
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return items
        page += 1
        if between_pages:
            between_pages(page)


def ids(items: list[dict]) -> list[int]:
    return [i["id"] for i in items]


def visible(sb: Sandbox, entity: str) -> list[dict]:
    return [r for r in sb.data.records(entity) if not r["is_deleted"]]


# --- cursor paging -------------------------------------------------------------------------


@pytest.mark.parametrize("entity", V2_ENTITIES)
def test_cursor_paging_returns_every_record_once(sb, entity):
    expected = sorted(ids(visible(sb, entity)))
    got = ids(walk(sb, entity, limit=37))
    assert got == expected  # default order: id ascending


@pytest.mark.parametrize("sort_by", ["id", "update_time", "add_time"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_sort_orders_break_ties_by_id(sb, sort_by, direction):
    deals = visible(sb, "deals")
    expected = sorted(deals, key=lambda d: (d[sort_by], d["id"]), reverse=direction == "desc")
    got = walk(sb, "deals", limit=61, sort_by=sort_by, sort_direction=direction)
    assert ids(got) == ids(expected)


def test_entity_specific_sort_fields(sb):
    products = visible(sb, "products")
    got = walk(sb, "products", limit=7, sort_by="name")
    assert ids(got) == ids(sorted(products, key=lambda p: (p["name"], p["id"])))
    activities = visible(sb, "activities")
    got = walk(sb, "activities", limit=200, sort_by="due_date", sort_direction="desc")
    expected = sorted(activities, key=lambda a: (a["due_date"], a["id"]), reverse=True)
    assert ids(got) == ids(expected)
    got = walk(sb, "stages", limit=4, sort_by="order_nr")
    assert ids(got) == ids(sorted(visible(sb, "stages"), key=lambda s: (s["order_nr"], s["id"])))


def test_update_times_tie_and_are_not_monotonic_in_id(sb):
    deals = sb.data.records("deals")
    per_second = Counter(d["update_time"] for d in deals)
    assert max(per_second.values()) >= 24  # dozens of records share a second
    assert sum(n for n in per_second.values() if n > 1) > len(deals) / 2
    times = [d["update_time"] for d in deals]
    assert times != sorted(times)


def test_limit_default_and_clamp(sb):
    assert len(get(sb, "v2/deals").json()["data"]) == 100
    assert len(get(sb, "v2/persons", limit=1000).json()["data"]) == 500
    for bad in ("0", "-5", "many"):
        resp = get(sb, "v2/deals", limit=bad)
        assert resp.status_code == 400
        assert resp.json()["success"] is False and resp.json()["errorCode"] == 400


def test_last_page_has_null_next_cursor_and_cursor_is_opaque_base64(sb):
    body = get(sb, "v2/pipelines").json()
    assert len(body["data"]) == 3 and body["additional_data"]["next_cursor"] is None
    cursor = get(sb, "v2/deals", limit=2).json()["additional_data"]["next_cursor"]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)


# --- filters --------------------------------------------------------------------------------


def busiest_second(sb: Sandbox, entity: str) -> str:
    return Counter(r["update_time"] for r in visible(sb, entity)).most_common(1)[0][0]


@pytest.mark.parametrize("entity", ["deals", "persons", "organizations", "activities"])
def test_updated_since_inclusive_until_exclusive(sb, entity):
    records = visible(sb, entity)
    mark = busiest_second(sb, entity)
    since = walk(sb, entity, limit=100, updated_since=mark, sort_by="update_time")
    assert ids(since) == ids(sorted((r for r in records if r["update_time"] >= mark),
                                    key=lambda r: (r["update_time"], r["id"])))
    until = walk(sb, entity, limit=100, updated_until=mark)
    assert ids(until) == sorted(r["id"] for r in records if r["update_time"] < mark)
    both = walk(sb, entity, limit=100, updated_since=mark, updated_until="2026-07-01T00:00:00Z",
                sort_direction="desc", sort_by="update_time")
    assert set(ids(both)) == {r["id"] for r in records if r["update_time"] >= mark}


def test_products_filter_updated_since_only(sb):
    products = visible(sb, "products")
    mark = busiest_second(sb, "products")
    got = walk(sb, "products", updated_since=mark)
    assert ids(got) == sorted(p["id"] for p in products if p["update_time"] >= mark)
    # updated_until is not a products parameter in the spec: ignored, like unknown parameters.
    assert len(walk(sb, "products", updated_until="2023-01-02T00:00:00Z")) == len(products)


def test_time_filters_accept_offsets_and_fractions(sb):
    mark = busiest_second(sb, "deals")
    expected = ids(walk(sb, "deals", updated_since=mark))
    shifted = mark.replace("Z", ".000+00:00")
    assert ids(walk(sb, "deals", updated_since=shifted)) == expected


@pytest.mark.parametrize(
    "params",
    [
        {"updated_since": "yesterday"},
        {"updated_since": "2025-01-01 10:00:00"},  # v1 format is not RFC 3339
        {"updated_until": "2025-13-01T00:00:00Z"},
        {"sort_by": "title"},
        {"sort_direction": "sideways"},
        {"status": "open,archived"},
        {"cursor": "not-a-cursor!"},
    ],
)
def test_bad_parameters_are_400(sb, params):
    resp = get(sb, "v2/deals", **params)
    assert resp.status_code == 400, params
    body = resp.json()
    assert body["success"] is False and body["errorCode"] == 400 and body["data"] is None
    assert body["error_info"] == UNAUTHORIZED["error_info"]


def test_cursor_of_another_sort_order_is_rejected(sb):
    cursor = get(sb, "v2/deals", limit=5, sort_by="update_time").json()["additional_data"]
    resp = get(sb, "v2/deals", cursor=cursor["next_cursor"], sort_by="add_time")
    assert resp.status_code == 400


def test_deal_status_filter(sb):
    deals = sb.data.records("deals")
    deleted = sorted(d["id"] for d in deals if d["is_deleted"])
    assert 0.01 * len(deals) < len(deleted) < 0.06 * len(deals)  # about 3%
    assert ids(walk(sb, "deals", limit=500)) == sorted(ids(visible(sb, "deals")))
    assert ids(walk(sb, "deals", status="deleted")) == deleted
    won_lost = ids(walk(sb, "deals", status="won,lost"))
    assert won_lost == sorted(d["id"] for d in deals
                              if not d["is_deleted"] and d["status"] in ("won", "lost"))
    everything = ids(walk(sb, "deals", limit=500, status="open,won,lost,deleted"))
    assert everything == ids(deals)
    assert {d["status"] for d in deals} == {"open", "won", "lost"}


# --- changes between pages ------------------------------------------------------------------


@pytest.mark.parametrize("sort_by", ["update_time", "id"])
def test_touching_between_pages_loses_and_duplicates_nothing(sort_by):
    with Sandbox(records=400, seed=9) as sb:
        before = {d["id"]: d for d in visible(sb, "deals")}
        order = ids(sorted(before.values(), key=lambda d: (d[sort_by], d["id"])))
        # After page 2: touch records already read, records not yet read, and the record
        # the cursor points at; create and delete some too.
        touched = {order[5], order[99], order[100], order[250], order[-1]}
        removed = {order[300]}
        created: list[int] = []

        def change(page: int) -> None:
            if page == 2:
                sb.data.touch("deals", ids=sorted(touched))
                sb.data.delete("deals", ids=sorted(removed))
                created.extend(ids(sb.data.create("deals", count=2)))

        got = walk(sb, "deals", between_pages=change, limit=50, sort_by=sort_by)
        counts = Counter(ids(got))
        untouched = set(before) - touched - removed
        assert all(counts[i] == 1 for i in untouched), "an untouched record was lost or repeated"
        assert set(counts) <= set(before) | set(created)
        assert set(created) <= set(counts)  # created at "now": after the cursor in both orders
        latest = {d["id"]: d for d in got}
        unread = set(order[100:])  # two pages of 50 were read before the change
        # Sorted by update_time, every touched record moves behind the cursor and is read
        # again in its new version; sorted by id, those not yet read arrive in the new version.
        moved = touched if sort_by == "update_time" else touched & unread
        assert moved and all(latest[i]["title"].endswith("(rev 2)") for i in moved)


# --- auth ----------------------------------------------------------------------------------


def test_missing_wrong_or_query_token_is_401(sb):
    for headers, params in [
        ({}, {}),
        ({"x-api-token": "wrong"}, {}),
        ({}, {"api_token": "sandbox-api-token"}),  # tokens in URLs are not accepted
        ({"Authorization": "Bearer made-up"}, {}),
        ({"Authorization": "Basic c2FuZGJveDpzYW5kYm94"}, {}),
    ]:
        for path in ("v2/deals", "v1/users", "v1/users/me", "v2/dealFields"):
            resp = get(sb, path, headers=headers, **params)
            assert resp.status_code == 401, (path, headers, params)
            assert resp.json() == UNAUTHORIZED


def test_unknown_route_is_404_envelope(sb):
    for path in ("v2/nothing", "v1/deals", "v3/deals"):
        resp = get(sb, path)
        assert resp.status_code == 404
        body = resp.json()
        assert body["success"] is False and body["errorCode"] == 404
    assert requests.get(f"{sb.url}/elsewhere", timeout=10).status_code == 404


def test_request_log():
    with Sandbox(records=20) as sb:
        get(sb, "v2/deals", limit=3, sort_by="id")
        get(sb, "v2/deals", headers={})
        get(sb, "v2/deals", headers={}, api_token="sandbox-api-token")
        requests.get(f"{sb.url}/_sandbox/records/deals", timeout=10)  # admin: not logged
        log = sb.requests
        assert log == [
            {"method": "GET", "path": "/api/v2/deals", "query": {"limit": "3", "sort_by": "id"},
             "status": 200, "auth": "token", "concurrent": 1},
            {"method": "GET", "path": "/api/v2/deals", "query": {}, "status": 401, "auth": None,
             "concurrent": 1},
            {"method": "GET", "path": "/api/v2/deals", "query": {"api_token": "sandbox-api-token"},
             "status": 401, "auth": None, "concurrent": 1},
        ]
        sb.reset_requests()
        assert sb.requests == []


# --- rate limiting ---------------------------------------------------------------------------


def test_burst_limit_429_with_headers():
    with Sandbox(records=10, burst_limit=3) as sb:
        remaining = []
        for _ in range(3):
            resp = get(sb, "v2/pipelines")
            assert resp.status_code == 200
            assert resp.headers["x-ratelimit-limit"] == "3"
            assert resp.headers["x-ratelimit-reset"] in ("1", "2")
            remaining.append(resp.headers["x-ratelimit-remaining"])
        assert remaining == ["2", "1", "0"]
        over = get(sb, "v2/pipelines")
        assert over.status_code == 429
        assert over.json() == {**UNAUTHORIZED, "error": "Request over limit", "errorCode": 429}
        assert over.headers["x-ratelimit-limit"] == "3"
        assert over.headers["x-ratelimit-remaining"] == "0"
        assert 1 <= int(over.headers["x-ratelimit-reset"]) <= 2
        # Counted per token: another token has its own window.
        assert get(sb, "v2/pipelines", headers={"x-api-token": "other"}).status_code == 401
        time.sleep(2.05)  # the rolling window frees up
        assert get(sb, "v2/pipelines").status_code == 200


def test_burst_limit_zero_disables_limiting():
    with Sandbox(records=10, burst_limit=0) as sb:
        for _ in range(30):
            resp = get(sb, "v2/stages")
            assert resp.status_code == 200
            assert "x-ratelimit-limit" not in resp.headers


# --- data --------------------------------------------------------------------------------------


def test_counts_scale_with_records():
    assert counts_for(1000) == {"deals": 1000, "persons": 1000, "organizations": 500,
                                "activities": 1000, "products": 50, "users": 5,
                                "pipelines": 3, "stages": 15}
    assert counts_for(1)["organizations"] == 1 and counts_for(1)["products"] == 10
    assert counts_for(10**6)["users"] == 50 and counts_for(10)["users"] == 3


def test_references_point_at_existing_records(sb):
    users = set(ids(sb.data.records("users")))
    persons = set(ids(sb.data.records("persons")))
    orgs = set(ids(sb.data.records("organizations")))
    stages = {s["id"]: s for s in sb.data.records("stages")}
    pipelines = set(ids(sb.data.records("pipelines")))
    assert len(pipelines) == 3 and len(stages) == 15
    for deal in sb.data.records("deals"):
        assert deal["owner_id"] in users and deal["person_id"] in persons
        assert deal["org_id"] in orgs
        assert stages[deal["stage_id"]]["pipeline_id"] == deal["pipeline_id"] in pipelines
        assert (deal["won_time"] is not None) == (deal["status"] == "won")
        assert (deal["lost_time"] is not None) == (deal["status"] == "lost")
    for person in sb.data.records("persons"):
        assert person["org_id"] is None or person["org_id"] in orgs
    for activity in sb.data.records("activities"):
        assert activity["person_id"] is None or activity["person_id"] in persons
        assert activity["owner_id"] in users


def test_timestamps_formats_and_order(sb):
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for entity in V2_ENTITIES:
        for r in sb.data.records(entity):
            assert V2_TIME.match(r["add_time"]) and V2_TIME.match(r["update_time"])
            assert "2023-01-01T00:00:00Z" <= r["add_time"] <= r["update_time"] <= now
    for user in sb.data.records("users"):
        assert V1_TIME.match(user["created"]) and V1_TIME.match(user["modified"])
        assert user["created"] <= user["modified"]


def test_custom_fields_cover_every_type_and_match_field_metadata(sb):
    wanted = {"varchar", "text", "double", "monetary", "enum", "set", "date", "daterange",
              "time", "user", "org", "people", "address", "phone"}
    pairs = [("deals", "dealFields"), ("persons", "personFields"),
             ("organizations", "organizationFields"), ("products", "productFields")]
    for entity, endpoint in pairs:
        meta = {f["field_code"]: f for f in walk(sb, endpoint, limit=500) if f["is_custom_field"]}
        assert {f["field_type"] for f in meta.values()} >= wanted
        assert all(re.fullmatch(r"[0-9a-f]{40}", key) for key in meta)
        values: dict[str, list] = {key: [] for key in meta}
        for record in sb.data.records(entity)[:300]:
            assert set(record["custom_fields"]) == set(meta)
            for key, value in record["custom_fields"].items():
                values[key].append(value)
        for key, seen in values.items():
            field = meta[key]
            present = [v for v in seen if v is not None]
            assert present and len(present) < len(seen), f"{field['field_name']}: some null"
            options = {o["id"] for o in field["options"] or []}
            for value in present:
                check_custom_value(field["field_type"], value, options, field)
    activity_keys = {f["field_code"] for f in walk(sb, "activityFields")}
    assert "custom_fields" not in sb.data.records("activities")[0]  # not in the spec
    assert "subject" in activity_keys


def check_custom_value(field_type: str, value: Any, options: set, field: dict) -> None:
    date = re.compile(r"^\d{4}-\d{2}-\d{2}$")
    if field_type in ("varchar", "text", "phone"):
        assert isinstance(value, str)
    elif field_type == "double":
        assert isinstance(value, (int, float))
    elif field_type == "monetary":
        assert set(value) == {"value", "currency"} and isinstance(value["value"], (int, float))
        assert [s["field_code"] for s in field["subfields"]] == ["value", "currency"]
    elif field_type == "enum":
        assert value in options
    elif field_type == "set":
        assert isinstance(value, list) and value and set(value) <= options
    elif field_type == "date":
        assert date.match(value)
    elif field_type == "daterange":
        assert set(value) == {"value", "until"} and value["value"] <= value["until"]
    elif field_type == "time":
        assert re.fullmatch(r"\d{2}:\d{2}:\d{2}", value)
    elif field_type in ("user", "org", "people"):
        assert isinstance(value, int) and value >= 1
    elif field_type == "address":
        assert set(value) == {s["field_code"] for s in field["subfields"]}


def test_custom_fields_parameter_restricts_keys(sb):
    key = next(f["field_code"] for f in walk(sb, "dealFields") if f["is_custom_field"])
    deal = get(sb, "v2/deals", limit=1, custom_fields=key).json()["data"][0]
    assert list(deal["custom_fields"]) == [key]


def test_determinism_same_seed_same_bytes():
    paths = ["v2/deals?limit=500&sort_by=update_time", "v2/persons?limit=50",
             "v2/dealFields", "v2/products?sort_by=name", "v1/users", "v1/users/me"]
    bodies = []
    for seed in (4, 4, 5):
        with Sandbox(records=600, seed=seed) as sb:
            bodies.append([requests.get(f"{sb.url}/api/{p}", headers=TOKEN, timeout=30).content
                           for p in paths])
    assert bodies[0] == bodies[1]
    assert all(a != b for a, b in zip(bodies[0], bodies[2], strict=True))


def test_offset_pagination_helper():
    items = list(range(7))
    page, extra = offset_page(items, {"start": "0", "limit": "3"})
    assert page == [0, 1, 2]
    assert extra == {"pagination": {"start": 0, "limit": 3, "more_items_in_collection": True,
                                    "next_start": 3}}
    page, extra = offset_page(items, {"start": "6", "limit": "3"})
    assert page == [6]
    assert extra == {"pagination": {"start": 6, "limit": 3, "more_items_in_collection": False}}
    assert offset_page(items, {})[1]["pagination"]["limit"] == 100
    assert offset_page(list(range(900)), {"limit": "800"})[1]["pagination"]["limit"] == 500


# --- Python and admin mutations ------------------------------------------------------------------


def test_python_mutations():
    with Sandbox(records=30, seed=3) as sb:
        [touched] = sb.data.touch("deals", ids=[2], update_time="2026-07-01T00:00:00Z")
        assert touched["update_time"] == "2026-07-01T00:00:00Z"
        assert touched["title"].endswith("(rev 2)")
        again = sb.data.touch("deals", ids=[2])[0]
        assert again["title"].endswith("(rev 3)") and again["update_time"] > "2026-07-01"
        assert sb.data.records("deals")[1] == again
        created = sb.data.create("persons", count=3)
        assert ids(created) == [31, 32, 33]
        assert created[0]["add_time"] == created[0]["update_time"]
        [gone] = sb.data.delete("persons", ids=[31])
        assert gone["is_deleted"] is True
        assert 31 not in ids(walk(sb, "persons"))  # deleted persons leave the list
        assert 31 in ids(sb.data.records("persons"))  # ground truth keeps them
        with pytest.raises(KeyError):
            sb.data.touch("deals", ids=[999])


def test_admin_endpoints():
    with Sandbox(records=40, seed=3) as sb:
        admin = f"{sb.url}/_sandbox"
        resp = requests.post(f"{admin}/create", json={"entity": "deals", "count": 2}, timeout=10)
        assert resp.status_code == 200
        new = ids(resp.json()["data"])
        assert new == [41, 42]
        assert set(new) <= set(ids(walk(sb, "deals")))
        resp = requests.post(f"{admin}/delete", json={"entity": "deals", "ids": [41]}, timeout=10)
        assert resp.json()["data"][0]["is_deleted"] is True
        assert 41 in ids(walk(sb, "deals", status="deleted"))
        assert 41 not in ids(walk(sb, "deals"))
        resp = requests.post(f"{admin}/touch", timeout=10, json={
            "entity": "organizations", "ids": [1], "update_time": "2026-08-01T10:00:00Z"})
        assert resp.json()["data"][0]["update_time"] == "2026-08-01T10:00:00Z"
        records = requests.get(f"{admin}/records/deals", timeout=10).json()["data"]
        assert records == sb.data.records("deals") and len(records) == 42
        get(sb, "v2/deals")
        log = requests.get(f"{admin}/requests", timeout=10).json()["data"]
        assert log[-1]["path"] == "/api/v2/deals"
        requests.post(f"{admin}/requests/reset", timeout=10)
        assert sb.requests == []
        # Mistakes are explicit.
        assert requests.get(f"{admin}/records/nothing", timeout=10).status_code == 404
        bad = requests.post(f"{admin}/touch", json={"entity": "deals", "ids": [999]}, timeout=10)
        assert bad.status_code == 400
        assert requests.post(f"{admin}/touch", data=b"[", timeout=10).status_code == 400
        assert requests.post(f"{admin}/nothing", json={}, timeout=10).status_code == 404


def test_only_loopback_hosts():
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(host="0.0.0.0")
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(host="192.168.1.10")
    with Sandbox(records=5, host="localhost") as sb:
        assert get(sb, "v2/pipelines").status_code == 200


def test_million_records_start_fast():
    started = time.perf_counter()
    with Sandbox(records=1_000_000) as sb:
        startup = time.perf_counter() - started
        page = time.perf_counter()
        body = get(sb, "v2/deals", limit=500).json()
        elapsed = time.perf_counter() - page
        assert len(body["data"]) == 500
        last = get(sb, "v2/deals", limit=500, cursor=body["additional_data"]["next_cursor"])
        assert last.json()["data"][0]["id"] > body["data"][-1]["id"]
    assert startup < 5 and elapsed < 5, (startup, elapsed)
