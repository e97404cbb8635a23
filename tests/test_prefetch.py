"""Pages fetched ahead in parallel (prefetch.py): really in parallel, within the burst limit,
never stuck when the spool of fetched pages is full, and the same output as one page at a
time."""

from __future__ import annotations

import pytest
from resume_helpers import CORE, catalog, config, ids_of, sync

from tap_pipedrive import prefetch
from tap_pipedrive.tap import TapPipedrive


@pytest.fixture(scope="module")
def core_catalog(tmp_path_factory):
    return catalog(tmp_path_factory.mktemp("catalog"), CORE)


def api_calls(sb) -> list[dict]:
    return [r for r in sb.requests if r["path"].startswith("/api/")]


@pytest.mark.parametrize(("parallel", "most"), [(1, 1), (4, 4), (None, 8)])
def test_requests_in_flight_are_bounded_by_the_setting(make_sandbox, tmp_path, core_catalog,
                                                       parallel, most):
    """None: the default, 8, which reads all seven core streams at once (pipelines and
    stages: their first page), and their field metadata beside them."""
    sb = make_sandbox(records=1500, seed=41, latency=0.15, burst_limit=0)
    extra = {} if parallel is None else {"max_parallel_requests": parallel}
    run = sync(tmp_path, config(sb.url, **extra), core_catalog)
    assert run.returncode == 0, run.stderr
    seen = max(r["concurrent"] for r in api_calls(sb))
    assert seen <= most
    if parallel is None:
        assert seen >= 7
    elif parallel > 1:
        assert seen >= 2  # the streams' pages really overlapped
    assert ids_of(run) == {s: {r["id"] for r in sb.data.records(s)} for s in CORE}


def test_the_first_page_of_a_newest_first_stream_is_fetched_ahead(make_sandbox, tmp_path,
                                                                 core_catalog):
    """Pipelines and stages stop at the bookmark they read, so the main thread pages them;
    their first (here: only) page is fetched while the first stream is still being read,
    not one round trip each after everything before them was emitted."""
    sb = make_sandbox(records=1500, seed=44, latency=0.15, burst_limit=0)
    run = sync(tmp_path, config(sb.url), core_catalog)
    assert run.returncode == 0, run.stderr
    paths = [r["path"] for r in api_calls(sb)]
    last_activities = max(i for i, p in enumerate(paths) if p == "/api/v2/activities")
    assert paths.index("/api/v2/pipelines") < last_activities
    assert paths.index("/api/v2/stages") < last_activities
    assert ids_of(run) == {s: {r["id"] for r in sb.data.records(s)} for s in CORE}


def test_field_definitions_are_fetched_with_the_streams_pages(make_sandbox, tmp_path,
                                                              core_catalog):
    """Deals, organizations and persons need their custom field definitions to write their
    records: they are fetched with the streams' pages, while the first stream is still
    being read, not one round trip each when the main thread starts the stream."""
    sb = make_sandbox(records=1500, seed=45, latency=0.15, burst_limit=0)
    run = sync(tmp_path, config(sb.url), core_catalog)
    assert run.returncode == 0, run.stderr
    paths = [r["path"] for r in api_calls(sb)]
    last_activities = max(i for i, p in enumerate(paths) if p == "/api/v2/activities")
    for fields in ("dealFields", "organizationFields", "personFields"):
        assert paths.count(f"/api/v2/{fields}") == 1
        assert paths.index(f"/api/v2/{fields}") < last_activities
    assert ids_of(run) == {s: {r["id"] for r in sb.data.records(s)} for s in CORE}


def test_parallel_pages_stay_within_the_burst_limit(make_sandbox, tmp_path, core_catalog):
    """8 requests per 2 s, 4 streams at once: the limiter paces by the headers and counts the
    requests in flight, so not one call is answered 429."""
    sb = make_sandbox(records=1500, seed=42, latency=0.02, burst_limit=8)
    run = sync(tmp_path, config(sb.url, max_parallel_requests=4), core_catalog)
    assert run.returncode == 0, run.stderr
    calls = api_calls(sb)
    assert len(calls) > 16 and [r for r in calls if r["status"] == 429] == []
    assert ids_of(run) == {s: {r["id"] for r in sb.data.records(s)} for s in CORE}


def test_a_full_spool_never_blocks_the_stream_being_emitted(make_sandbox, tmp_path,
                                                            monkeypatch, capsys):
    """With room for one page in all, the workers of later streams wait, the stream being
    emitted goes on, and the run ends with every record, in order (in-process run)."""
    sb = make_sandbox(records=1500, seed=43, burst_limit=0)
    monkeypatch.setattr(prefetch, "SPOOL_LIMIT", 1)
    tap = TapPipedrive(config=config(sb.url, max_parallel_requests=4, progress_interval=0))
    for stream in tap.streams.values():
        stream.selected = stream.name in CORE
    tap.sync_all()
    out = capsys.readouterr().out
    order = [line.split('"stream":"')[1].split('"')[0] for line in out.splitlines()
             if line.startswith('{"type":"RECORD"')]
    emitted = list(dict.fromkeys(order))
    assert sorted(emitted) == sorted(CORE)
    assert len(order) == sum(len(sb.data.records(s)) for s in CORE)
    # each stream's records come in one block, in the catalogue's order
    assert emitted == [s for s in tap.streams if s in CORE]
    assert sum(1 for i in range(1, len(order)) if order[i] != order[i - 1]) == len(CORE) - 1


def test_a_run_with_nothing_new_costs_one_call_per_stream(make_sandbox, tmp_path, core_catalog):
    """After a full sync, a run from its state asks each stream for one page (the bookmark's
    own second), plus the field metadata its custom-field columns need: nothing more."""
    sb = make_sandbox(records=1500, seed=44, burst_limit=0)
    first = sync(tmp_path, config(sb.url), core_catalog)
    assert first.returncode == 0, first.stderr
    sb.reset_requests()
    second = sync(tmp_path, config(sb.url), core_catalog, state=first.state)
    assert second.returncode == 0, second.stderr
    paths = [r["path"] for r in api_calls(sb)]
    metadata = [p for p in paths if p.endswith("Fields")]
    assert sorted(p for p in paths if p not in metadata) == sorted(
        f"/api/{'v1' if s == 'users' else 'v2'}/{s}" for s in CORE)
    assert len(metadata) == len(set(metadata)) <= 4  # each read once per run


def test_a_worker_holds_no_page_body_while_it_fetches_the_next(make_sandbox, monkeypatch,
                                                               capsys):
    """A page's body (~1 MB of deals) waits on disk once fetched: the worker that fetched it
    (a stream's or a time window's chain) lets it go before it asks for the next page (a
    cursor's), so 8 chains hold 8 bodies at most, not 16 or more (the first page of a
    windowed stream was held to its chain's end, the newest page by the worker's arguments):
    5 MiB of the peak RSS on the 8 core streams."""
    import threading
    import weakref

    from tap_pipedrive import transport

    sb = make_sandbox(records=3000, seed=45, burst_limit=0)
    received: dict[threading.Thread, weakref.WeakSet] = {}
    held: list[int] = []
    send = transport.GuardedAdapter.send

    def tracked(self, request, **kwargs):
        mine = received.setdefault(threading.current_thread(), weakref.WeakSet())
        if "cursor=" in request.url and threading.current_thread() is not threading.main_thread():
            held.append(len(mine))  # this worker's earlier answers still alive
        response = send(self, request, **kwargs)
        if "cursor=" in request.url or "sort_direction=desc" not in request.url:
            mine.add(response)  # not a newest page: the chain it is handed to holds it
        return response

    monkeypatch.setattr(transport.GuardedAdapter, "send", tracked)
    tap = TapPipedrive(config=config(sb.url, max_parallel_requests=4, progress_interval=0,
                                     window_overhead_percent=100))
    for stream in tap.streams.values():
        stream.selected = stream.name in CORE
    tap.sync_all()
    out = capsys.readouterr().out
    assert out.count('{"type":"RECORD"') == sum(len(sb.data.records(s)) for s in CORE)
    assert len(held) > 10  # the workers fetched most pages
    assert max(held) == 0


@pytest.mark.parametrize("body", [
    b'{"success":true,"data":[{"id":1,"v":1.5,"s":"\xc3\xa9"},{"id":2}],'
    b'"additional_data":{"next_cursor":"abc"}}',
    b'{"success":true,"data":[],"additional_data":{"next_cursor":null}}',
    b'{"data":[{"id":1}],"success":true,"related_objects":{"user":{"1":{"id":1}}}}',
    b'{"success":true,"data":null}',
    b'{"success":true,"data":{"id":7}}',
])
@pytest.mark.parametrize("turned", [False, True])
def test_a_page_read_back_from_the_spool_reads_as_when_it_was_fetched(body, turned):
    """The main thread reads a spooled page in one pass, without checking it again (its
    worker did): its records, their order, paging and the whole answer are the same."""
    from tap_pipedrive import page, windows

    fetched, spooled = page.Page(body), page.Page(body, checked=True)
    fetched.turned = spooled.turned = turned
    assert spooled.items() == fetched.items()
    assert spooled.data() == fetched.data()
    assert spooled.is_empty == fetched.is_empty
    assert spooled.additional == fetched.additional
    assert spooled.document() == fetched.document()
    assert windows.keys(spooled.raw) == windows.keys(fetched.raw)


def test_a_streams_first_page_is_asked_for_while_its_field_metadata_is(make_sandbox, tmp_path):
    """The field definitions and the first page are read at the same time, not one round
    trip after the other: a backfill's windows are planned from the first page (and the
    newest), one round trip sooner."""
    sb = make_sandbox(records=1500, seed=46, latency=0.2, burst_limit=0)
    deals = catalog(tmp_path, ("deals",))
    run = sync(tmp_path, config(sb.url), deals)
    assert run.returncode == 0, run.stderr
    calls = api_calls(sb)
    fields = next(i for i, r in enumerate(calls) if r["path"] == "/api/v2/dealFields")
    first = next(i for i, r in enumerate(calls) if r["path"] == "/api/v2/deals")
    assert max(calls[fields]["concurrent"], calls[first]["concurrent"]) >= 2  # at once
