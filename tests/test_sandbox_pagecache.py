"""The sandbox's opt-in page cache serves the same bytes as building each page, and never a
page of data that has changed since."""

from __future__ import annotations

import requests

from tap_pipedrive_sandbox import Sandbox


def body(sb: Sandbox, path: str, **params) -> bytes:
    response = requests.get(sb.url + path, params=params, timeout=30,
                            headers={"x-api-token": sb.api_token})
    assert response.status_code == 200
    return response.content


def test_cached_pages_are_the_built_pages_until_the_data_changes():
    with Sandbox(records=300, seed=3, burst_limit=0) as plain, \
            Sandbox(records=300, seed=3, burst_limit=0, page_cache_mb=16) as cached:
        for path, params in (("/api/v2/deals", {"limit": 100}), ("/api/v1/users", {}),
                             ("/api/v2/persons", {"limit": 50, "sort_by": "update_time"})):
            first = body(cached, path, **params)
            assert body(cached, path, **params) == first == body(plain, path, **params)
        assert cached.page_cache is not None and len(cached.page_cache._bodies) == 3
        before = body(cached, "/api/v2/deals", limit=100)
        for sb in (plain, cached):
            sb.data.touch("deals", [1], "2030-01-01T00:00:00Z")
        after = body(cached, "/api/v2/deals", limit=100)
        assert after != before
        assert after == body(plain, "/api/v2/deals", limit=100)


def test_the_cache_stays_within_its_size():
    with Sandbox(records=2000, seed=3, burst_limit=0, page_cache_mb=0.5) as sb:
        for start in range(0, 2000, 500):
            body(sb, "/api/v1/notes", start=start, limit=500)
            body(sb, "/api/v2/deals", limit=500, status="open,won,lost,deleted")
        assert sb.page_cache is not None
        assert 0 < sb.page_cache._size <= sb.page_cache.limit


def test_kept_records_are_the_built_records_whatever_the_query():
    """Records kept built (record_cache) serve the same bytes as building each, through any
    query (time windows, both directions), and an edit is served at once."""
    queries = (("/api/v2/deals", {"limit": 100, "status": "open,won,lost,deleted"}),
               ("/api/v2/deals", {"limit": 100, "sort_by": "update_time",
                                  "updated_since": "2024-01-01T00:00:00Z"}),
               ("/api/v2/deals", {"limit": 100, "sort_by": "update_time",
                                  "sort_direction": "desc"}),
               ("/api/v2/persons", {"limit": 500}), ("/api/v1/users", {}))
    with Sandbox(records=300, seed=3, burst_limit=0) as plain, \
            Sandbox(records=300, seed=3, burst_limit=0, record_cache=1000) as kept:
        for _ in range(2):  # built, then kept
            for path, params in queries:
                assert body(kept, path, **params) == body(plain, path, **params)
        first = kept.data.records("deals")[0]
        first["title"] = "changed by a caller"  # a copy: what is served stays
        path, params = queries[0]
        assert body(kept, path, **params) == body(plain, path, **params)
        for sb in (plain, kept):
            sb.data.touch("deals", [1, 2], "2030-01-01T00:00:00Z")
        for path, params in queries[:3]:
            assert body(kept, path, **params) == body(plain, path, **params)
        assert b"(rev 2)" in body(kept, "/api/v2/deals", limit=100)


def test_kept_records_stay_within_their_count():
    with Sandbox(records=2000, seed=3, burst_limit=0, record_cache=300) as sb:
        body(sb, "/api/v2/deals", limit=500, status="open,won,lost,deleted")
        body(sb, "/api/v2/deals", limit=500, sort_by="update_time", sort_direction="desc")
        table = sb.data._table("deals")
        assert table.built is not None and len(table.built) == 300
