"""Resuming: a run stopped by the daily budget, by the run's token cap, or killed at random
points (`kill -9` included) leaves a state from which the next run continues; together the
runs emit every record of a clean sync (records may repeat, with stable primary keys)."""

from __future__ import annotations

import random
import signal

import pytest
from helpers import TapRun, summary_table
from resume_helpers import CORE, catalog, config, ids_of, start_and_kill, sync, union

from tap_pipedrive.token_costs import cost_of

MAX_RUNS = 8  # bounded: each run must make progress


@pytest.fixture(scope="module")
def core_catalog(tmp_path_factory):
    return catalog(tmp_path_factory.mktemp("catalog"), CORE)


def truth(sb) -> dict[str, set]:
    return {s: {r["id"] for r in sb.data.records(s)} for s in CORE}


def last_line(run) -> str:
    return run.stderr.strip().splitlines()[-1]


SEQUENTIAL = {"max_parallel_requests": 1}  # the request order is the test's subject


def clean_run(sb, tmp_path, cat) -> tuple[TapRun, list[dict]]:
    """A clean sync and its request log (then cleared): the budget tests size their limits
    from it, so they do not depend on which calls the tap makes besides the pages. One page
    at a time, so that the log's order is the order of a sequential run."""
    run = sync(tmp_path, config(sb.url, **SEQUENTIAL), cat)
    assert run.returncode == 0, run.stderr
    log = sb.requests
    sb.reset_requests()
    return run, log


def tokens(log: list[dict]) -> int:
    return sum(cost_of(r["path"]) for r in log)


def second_deals_page(log: list[dict]) -> int:
    return [i for i, r in enumerate(log) if r["path"] == "/api/v2/deals"][1]


@pytest.mark.parametrize("parallel", [1, 4])
def test_daily_budget_stop_writes_state_the_next_run_resumes(make_sandbox, tmp_path,
                                                            core_catalog, parallel):
    """The budget covers every call before deals page 2 (of 3) of a sequential run, which
    gets the daily 429. The run stops with exit 75, one line, and a state whose bookmarks are
    the last records emitted; the next day's run starts there. Fetching pages in parallel,
    which page meets the 429 varies, but not the outcome."""
    sb = make_sandbox(records=1200, seed=21)
    clean, log = clean_run(sb, tmp_path, core_catalog)
    stop = second_deals_page(log)
    sb.daily.limit = tokens(log[:stop])

    first = sync(tmp_path, config(sb.url, max_parallel_requests=parallel), core_catalog)
    assert first.returncode == 75, first.stderr
    line = last_line(first)
    assert line.startswith("tap-pipedrive: error: the company's daily Pipedrive API budget is "
                           "spent (x-daily-ratelimit-token-remaining is 0); it resets at "
                           "midnight"), line
    assert "run again after the reset to resume" in line
    statuses = [r["status"] for r in sb.requests]
    assert statuses.count(429) <= parallel  # no spinning on 429s: each worker stops at one
    assert statuses.count(200) == stop
    if parallel == 1:
        assert statuses == [200] * stop + [429]
        assert len(first.records["deals"]) == 500
    bookmarks = first.state["bookmarks"]
    for stream, records in first.records.items():
        if records and bookmarks[stream].get("replication_key"):
            assert bookmarks[stream]["replication_key_value"] == \
                max(r["update_time"] for r in records)

    sb.daily.limit = 0  # a generous new day
    sb.reset_requests()
    second = sync(tmp_path, config(sb.url), core_catalog, state=first.state)
    assert second.returncode == 0, second.stderr
    deals_calls = [r for r in sb.requests if r["path"] == "/api/v2/deals"]
    if "deals" in first.records:
        assert deals_calls[0]["query"]["updated_since"] == \
            bookmarks["deals"]["replication_key_value"]
    assert union(first, second) == ids_of(clean) == truth(sb)


def test_daily_budget_without_its_header(make_sandbox, tmp_path, core_catalog):
    """Without x-daily-* headers the daily 429 is known by coming twice although the burst
    window has room: one retry, then a clean stop."""
    sb = make_sandbox(records=1200, seed=21, daily_headers=False)
    _, log = clean_run(sb, tmp_path, core_catalog)
    stop = second_deals_page(log)
    sb.daily.limit = tokens(log[:stop])
    run = sync(tmp_path, config(sb.url, **SEQUENTIAL), core_catalog)
    assert run.returncode == 75, run.stderr
    assert "429 although the burst window had room" in last_line(run)
    assert [r["status"] for r in sb.requests] == [200] * stop + [429, 429]


def test_day_after_day_the_runs_add_up_to_a_full_sync(make_sandbox, tmp_path, core_catalog):
    """A daily budget of two thirds of a full sync: each run stops at it, the budget resets,
    the next run resumes. (A budget below what an incremental run with nothing new costs, one
    call per stream and field endpoint, could never finish.)"""
    sb = make_sandbox(records=1200, seed=22)
    clean, log = clean_run(sb, tmp_path, core_catalog)
    sb.daily.limit = tokens(log) * 2 // 3
    runs, state = [], None
    for _ in range(MAX_RUNS):
        run = sync(tmp_path, config(sb.url), core_catalog, state=state)
        runs.append(run)
        assert run.returncode in (0, 75), run.stderr
        if run.returncode == 0:
            break
        state = run.state
        sb.reset_daily_budget()
    assert runs[-1].returncode == 0 and len(runs) >= 2
    assert union(*runs) == ids_of(clean) == truth(sb)


def test_run_token_cap_stops_and_resumes(make_sandbox, tmp_path, core_catalog):
    """A cap of two thirds of a full sync, which is little more than what a run with nothing
    new costs (one call per stream and field endpoint): each run writes every page it paid
    for, so three runs or four do it (when the pages fetched ahead for later streams were
    dropped at the cap, it took five to more than eight)."""
    sb = make_sandbox(records=1200, seed=23)
    clean, log = clean_run(sb, tmp_path, core_catalog)
    cap = tokens(log) * 2 // 3
    runs, state = [], None
    for _ in range(MAX_RUNS):
        run = sync(tmp_path, config(sb.url, max_tokens_per_run=cap), core_catalog, state=state)
        runs.append(run)
        if run.returncode == 0:
            break
        assert run.returncode == 75, run.stderr
        assert f"the run reached its token cap (max_tokens_per_run={cap})" in last_line(run)
        spent = summary_table(run.stderr)["total"]["tokens"]
        assert spent <= cap and f"tokens of a {cap} cap" in run.stderr
        assert tokens(sb.requests) == spent  # the tap's count is what the server saw
        sb.reset_requests()
        state = run.state
    assert runs[-1].returncode == 0 and 2 <= len(runs) <= 4
    assert union(*runs) == ids_of(clean) == truth(sb)


def test_a_run_stopped_by_its_cap_writes_every_stream_it_fetched(make_sandbox, tmp_path,
                                                                 core_catalog):
    """Pages of later streams are fetched (and paid for) while the first is emitted: when
    the cap stops the run, each stream still writes the pages it has and stops at its first
    call not made; its bookmark is its last record written. No call is made after the
    first one refused."""
    sb = make_sandbox(records=1200, seed=25)
    _, log = clean_run(sb, tmp_path, core_catalog)
    cap = tokens(log) // 2
    run = sync(tmp_path, config(sb.url, max_tokens_per_run=cap), core_catalog)
    assert run.returncode == 75, run.stderr
    assert "the run reached its token cap" in last_line(run)
    fetched = {r["path"].rsplit("/", 1)[1] for r in sb.requests if r["status"] == 200}
    fetched &= set(CORE)
    assert len(fetched) >= 4
    for stream in fetched:
        assert run.records[stream], f"{stream}: pages fetched, nothing written"
    bookmarks = run.state["bookmarks"]
    for stream in ("activities", "deals", "organizations", "persons"):
        if run.records[stream]:
            assert bookmarks[stream]["replication_key_value"] == \
                max(r["update_time"] for r in run.records[stream])
    assert tokens(sb.requests) <= cap
    assert "An unhandled error" not in run.stderr  # a stop is no error: a warning says so


def test_killed_at_random_points_resumes_without_loss(make_sandbox, tmp_path, core_catalog):
    """A few runs killed (SIGKILL, and one SIGTERM) at seeded random moments, each resumed
    from the last STATE it got out; a last run completes. Nothing is lost."""
    sb = make_sandbox(records=1200, seed=24, latency=0.6)  # up to 8 pages fetched at once
    rnd = random.Random(5)
    runs, state, killed = [], None, 0
    for attempt in range(4):
        sig = signal.SIGTERM if attempt == 1 else signal.SIGKILL
        run, was_killed = start_and_kill(tmp_path, config(sb.url), core_catalog, state,
                                         after=rnd.uniform(0.9, 2.2), sig=sig)
        runs.append(run)
        killed += was_killed
        state = run.state or state  # killed before its first STATE: same state again
    final = sync(tmp_path, config(sb.url), core_catalog, state=state)
    assert final.returncode == 0, final.stderr
    progress = [(r.returncode, {s: len(v) for s, v in r.records.items()}) for r in runs]
    assert killed >= 3, progress  # the kills really landed mid-run
    assert sum(len(r.records.get("activities", [])) for r in runs) > 0
    got, want = union(*runs, final), truth(sb)
    missing = {s: sorted(want[s] - got.get(s, set()))[:10] for s in want
               if want[s] - got.get(s, set())}
    assert not missing, (missing, progress, [r.state for r in runs])
    assert got == want
