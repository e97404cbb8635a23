"""Child streams cost the fewest calls the API allows: 100 parents per call where the endpoint
takes many, only parents changed since the last run, nothing per parent unless selected, and
no per-parent state."""

from __future__ import annotations

import json
import math

from stream_helpers import discover, select, sync


def calls(sb, path: str) -> list[dict]:
    return [r for r in sb.requests if r["path"] == path]


def per_parent_calls(sb, prefix: str, suffix: str) -> list[dict]:
    return [r for r in sb.requests if r["path"].startswith(prefix) and r["path"].endswith(suffix)]


def test_batched_children_take_100_parents_per_call(make_sandbox, tmp_path):
    sb = make_sandbox(records=250, seed=31, burst_limit=0)
    catalog = select(discover(tmp_path, {"api_url": sb.url, "api_token": sb.api_token}),
                     ["deals", "deal_products", "deal_installments"])
    sb.reset_requests()
    run = sync(tmp_path, sb.url, catalog)
    deal_ids = [d["id"] for d in run.records["deals"]]
    assert len(deal_ids) == 250
    for path in ("/api/v2/deals/products", "/api/v2/deals/installments"):
        made = calls(sb, path)
        assert len(made) == math.ceil(250 / 100), path  # one page per batch here
        batches = [r["query"]["deal_ids"].split(",") for r in made]
        assert all(len(b) <= 100 for b in batches)
        assert sorted(int(i) for b in batches for i in b) == sorted(deal_ids)
    expected = sb.data.records("deal_products")
    assert sorted(p["id"] for p in run.records["deal_products"]) == sorted(
        p["id"] for p in expected)


def test_per_parent_children_make_one_call_per_parent(make_sandbox, tmp_path):
    sb = make_sandbox(records=40, seed=32, burst_limit=0)
    catalog = select(discover(tmp_path, {"api_url": sb.url, "api_token": sb.api_token}),
                     ["deals", "deal_followers", "deal_flow", "products", "product_variations"])
    sb.reset_requests()
    run = sync(tmp_path, sb.url, catalog)
    deals, products = len(run.records["deals"]), len(run.records["products"])
    assert len(per_parent_calls(sb, "/api/v2/deals/", "/followers")) == deals
    assert len(per_parent_calls(sb, "/api/v1/deals/", "/flow")) == deals
    assert len(per_parent_calls(sb, "/api/v2/products/", "/variations")) == products
    assert all(f["deal_id"] for f in run.records["deal_followers"])


def test_incremental_parents_hand_over_only_what_changed(make_sandbox, tmp_path):
    sb = make_sandbox(records=150, seed=33, burst_limit=0)
    catalog = select(discover(tmp_path, {"api_url": sb.url, "api_token": sb.api_token}),
                     ["deals", "deal_products", "deal_followers"])
    first = sync(tmp_path, sb.url, catalog)
    changed = {d["id"] for d in sb.data.touch("deals", ids=[3, 30, 90])}
    sb.reset_requests()
    second = sync(tmp_path, sb.url, catalog, state=first.state)
    read = {d["id"] for d in second.records["deals"]}
    assert changed <= read
    [products_call] = calls(sb, "/api/v2/deals/products")
    assert {int(i) for i in products_call["query"]["deal_ids"].split(",")} == read
    assert len(per_parent_calls(sb, "/api/v2/deals/", "/followers")) == len(read)
    assert {p["deal_id"] for p in second.records["deal_products"]} <= read


def test_state_has_no_per_parent_entries(make_sandbox, tmp_path):
    sb = make_sandbox(records=120, seed=34, burst_limit=0)
    catalog = select(discover(tmp_path, {"api_url": sb.url, "api_token": sb.api_token}), None)
    run = sync(tmp_path, sb.url, catalog)
    bookmarks = run.state["bookmarks"]
    for name, bookmark in bookmarks.items():
        assert "partitions" not in bookmark, name
    assert len(json.dumps(run.state)) < 5000  # a few hundred bytes per stream at most


def test_off_by_default_children_cost_nothing(make_sandbox, tmp_path):
    sb = make_sandbox(records=40, seed=35, burst_limit=0)
    sb.reset_requests()
    sync(tmp_path, sb.url)  # no catalog: the default selection
    per_parent = [r["path"] for r in sb.requests if r["path"].count("/") > 4
                  or r["path"] in ("/api/v1/organizationRelationships", "/api/v2/phases")]
    assert per_parent == []
    assert len(calls(sb, "/api/v2/deals/products")) == 1  # batched: on by default


def test_child_selected_without_its_parent(make_sandbox, tmp_path):
    """The parent is read (not emitted) to find the children."""
    sb = make_sandbox(records=30, seed=36, burst_limit=0)
    catalog = select(discover(tmp_path, {"api_url": sb.url, "api_token": sb.api_token}),
                     ["deal_products"])
    run = sync(tmp_path, sb.url, catalog)
    assert "deals" not in run.records
    assert len(run.records["deal_products"]) == len(sb.data.records("deal_products"))


def test_a_thread_in_two_folders_is_one_record_listing_both(make_sandbox, tmp_path):
    """A full-table stream emits a primary key once per run: mail threads are listed per
    folder, and one in two folders is one record whose `folders` names both."""
    sb = make_sandbox(records=1000, seed=37, burst_limit=0)
    truth = {t["id"]: t["folders"] for t in sb.data.records("mail_threads")}
    assert len(truth) == 100 and any(len(f) == 2 for f in truth.values())
    catalog = select(discover(tmp_path, {"api_url": sb.url, "api_token": sb.api_token}),
                     ["mail_threads"])
    run = sync(tmp_path, sb.url, catalog)
    threads = run.records["mail_threads"]
    assert len(threads) == 100
    assert {t["id"]: sorted(t["folders"]) for t in threads} == {
        i: sorted(f) for i, f in truth.items()}


def test_a_parent_listed_twice_is_asked_about_once(make_sandbox, tmp_path):
    sb = make_sandbox(records=200, seed=37, burst_limit=0)  # 20 threads, some in two folders
    catalog = select(discover(tmp_path, {"api_url": sb.url, "api_token": sb.api_token}),
                     ["mail_threads", "mail_messages"])
    sb.reset_requests()
    run = sync(tmp_path, sb.url, catalog)
    threads = [t["id"] for t in run.records["mail_threads"]]
    listed = [r for r in sb.requests if r["path"] == "/api/v1/mailbox/mailThreads"]
    assert len({r["query"]["folder"] for r in listed}) == 4
    assert len(threads) == len(set(threads))  # emitted once, though listed in two folders
    asked = [r["path"] for r in sb.requests if r["path"].endswith("/mailMessages")]
    assert sorted(asked) == sorted(
        f"/api/v1/mailbox/mailThreads/{t}/mailMessages" for t in set(threads))
