"""Full and incremental syncs against the sandbox: every record, exactly once per change."""

from __future__ import annotations

from collections import Counter

from helpers import run_tap, sandbox_config

INCREMENTAL = ["deals", "persons", "organizations", "activities", "products", "pipelines",
               "stages"]  # pipelines, stages: newest first, stopping at the bookmark
FULL_TABLE = ["users"]
# Endpoints whose largest page is under 500 (spec): the tap asks for that maximum.
SMALL_PAGES = {"/api/v1/files": "100", "/api/v1/callLogs": "50"}


def test_full_sync_emits_every_record_once(shared_sandbox, tmp_path):
    run = run_tap(tmp_path, sandbox_config(shared_sandbox.url))
    assert run.returncode == 0, run.stderr
    for stream in INCREMENTAL + FULL_TABLE:
        expected = sorted(r["id"] for r in shared_sandbox.data.records(stream))
        got = run.ids(stream)
        assert sorted(got) == expected, stream
        assert not [k for k, n in Counter(got).items() if n > 1], f"duplicate ids in {stream}"
    # 1,200 deals at 500 a page: the walk crossed page boundaries.
    assert len(run.ids("deals")) > 1000


def test_deleted_deals_are_included(shared_sandbox, tmp_path):
    run = run_tap(tmp_path, sandbox_config(shared_sandbox.url))
    deleted = [d["id"] for d in run.records["deals"] if d["is_deleted"]]
    assert deleted
    assert sorted(deleted) == sorted(
        d["id"] for d in shared_sandbox.data.records("deals") if d["is_deleted"]
    )


def test_token_only_in_header(shared_sandbox, tmp_path):
    shared_sandbox.reset_requests()
    run = run_tap(tmp_path, sandbox_config(shared_sandbox.url))
    assert run.returncode == 0, run.stderr
    assert shared_sandbox.requests
    for request in shared_sandbox.requests:
        assert request["auth"] == "token"
        assert "sandbox-api-token" not in str(request["query"])
    # Full pages: every list call asks for the most the endpoint serves.
    for r in shared_sandbox.requests:
        assert r["query"].get("limit") in (SMALL_PAGES.get(r["path"], "500"), None), r


def test_incremental_run_emits_only_changes(make_sandbox, tmp_path):
    sb = make_sandbox(records=1200, seed=3)
    first = run_tap(tmp_path, sandbox_config(sb.url))
    assert first.returncode == 0, first.stderr
    bookmarks = first.state["bookmarks"]

    # Changes between runs: touched records (now), new ones, and one updated in the very
    # second of the deals bookmark (a same-second update must not be lost).
    changed: dict[str, set] = {s: set() for s in INCREMENTAL}
    for stream in INCREMENTAL:
        ids = [r["id"] for r in sb.data.records(stream)][:5]
        changed[stream] |= {r["id"] for r in sb.data.touch(stream, ids=ids)}
        changed[stream] |= {r["id"] for r in sb.data.create(stream, count=2)}
    deal_bookmark = bookmarks["deals"]["replication_key_value"]
    untouched = next(d["id"] for d in sb.data.records("deals") if d["id"] not in changed["deals"])
    sb.data.touch("deals", ids=[untouched], update_time=deal_bookmark)
    changed["deals"].add(untouched)

    second = run_tap(tmp_path, sandbox_config(sb.url), state=first.state)
    assert second.returncode == 0, second.stderr
    for stream in INCREMENTAL:
        got = set(second.ids(stream))
        assert changed[stream] <= got, stream
        # Anything else is a record from the bookmark's own second (inclusive bookmark).
        mark = bookmarks[stream]["replication_key_value"]
        extra = {r["update_time"] for r in second.records[stream] if r["id"] not in changed[stream]}
        assert extra <= {_same_second(mark)}, stream
    # Full-table streams are read again in full.
    for stream in FULL_TABLE:
        assert sorted(second.ids(stream)) == sorted(r["id"] for r in sb.data.records(stream))

    # A third run with nothing changed emits only the bookmark-second records.
    third = run_tap(tmp_path, sandbox_config(sb.url), state=second.state)
    for stream in INCREMENTAL:
        mark = second.state["bookmarks"][stream]["replication_key_value"]
        assert {r["update_time"] for r in third.records[stream]} <= {_same_second(mark)}


def _same_second(timestamp: str) -> str:
    """Bookmarks are written as the record's own update_time string."""
    return timestamp


def test_start_date_limits_first_run(shared_sandbox, tmp_path):
    deals = sorted(shared_sandbox.data.records("deals"), key=lambda d: d["update_time"])
    start = deals[len(deals) // 2]["update_time"]
    run = run_tap(tmp_path, sandbox_config(shared_sandbox.url, start_date=start))
    assert run.returncode == 0, run.stderr
    assert sorted(run.ids("deals")) == sorted(d["id"] for d in deals if d["update_time"] >= start)
