"""Time windows within a stream (windows.py): records on a window's edge are read once, a
record edited during the run into a later window is not lost, and a windowed backfill killed
on the way resumes without loss."""

from __future__ import annotations

import random
import signal
import time

import pytest
from resume_helpers import catalog, config, start_and_kill, sync, union
from test_fast_path import PLAIN, messages

from tap_pipedrive import windows
from tap_pipedrive.tap import TapPipedrive

STREAMS = ("deals", "persons", "activities")
WINDOWED = {"max_parallel_requests": 4, "window_overhead_percent": 100, "progress_interval": 0}


@pytest.fixture(scope="module")
def three_streams(tmp_path_factory):
    return catalog(tmp_path_factory.mktemp("catalog"), STREAMS)


def run_in_process(url: str, cat, capsys, **settings) -> list[dict]:
    """A windowed sync in this process (so that tests can steer its windows); its messages."""
    tap = TapPipedrive(config=config(url, **{**WINDOWED, **settings}), catalog=str(cat))
    capsys.readouterr()
    tap.sync_all()
    return data(messages(capsys.readouterr().out))


def data(found: list[dict]) -> list[dict]:
    """RECORD and STATE messages (SCHEMA messages differ with and without a catalog file)."""
    return [m for m in found if m["type"] in ("RECORD", "STATE")]


def seconds(moment: str) -> int:
    return int(windows._epoch(moment))


def test_records_on_window_edges_are_read_once(make_sandbox, tmp_path, three_streams, capsys,
                                                monkeypatch):
    """Edges put on seconds that several records share (the first one's, the last one's and
    one in the middle of such a group): the windows emit what one chain does."""
    sb = make_sandbox(records=1500, seed=51, burst_limit=0)
    plain = sync(tmp_path, config(sb.url, **PLAIN), three_streams)
    assert plain.returncode == 0, plain.stderr
    expected = data(messages(plain.stdout))
    order = [r["update_time"] for r in plain.records["deals"]]
    shared = [t for i, t in enumerate(order[1:-1], 1) if order[i - 1] == t == order[i + 1]]
    assert len(shared) > 20  # the sandbox's bulk edits: many records per second
    cuts = sorted({seconds(shared[len(shared) // 3]), seconds(shared[2 * len(shared) // 3])})

    def chosen(first, last, now, records, overhead=windows.OVERHEAD, newest=None):
        return [c for c in cuts if c > last]  # after the first page, as edges() says

    monkeypatch.setattr(windows, "edges", chosen)
    assert len(order) > 1000 and seconds(order[499]) < cuts[0]  # both edges after page 1
    fast = run_in_process(sb.url, three_streams, capsys)
    assert fast == expected


def test_a_record_edited_into_a_later_window_is_not_lost(make_sandbox, tmp_path, three_streams,
                                                         capsys, monkeypatch):
    """The worst case: the last (open-ended) window has been read, then records of the
    second window, not read yet, are edited (now their update_time is the run's). They are
    in no window of this run, so every bookmark it writes must be older than the edit: the
    next run reads them."""
    sb = make_sandbox(records=1500, seed=52, burst_limit=0)
    plain = sync(tmp_path, config(sb.url, **PLAIN), three_streams)
    order = plain.records["deals"]
    cuts = [seconds(order[n]["update_time"]) for n in (700, 950, 1200)]
    monkeypatch.setattr(windows, "edges", lambda *_, **__: cuts)
    edited: list[int] = []
    fetch = windows.WindowedWalk._fetch

    def fetch_after_an_edit(self, index, walk, window):
        if self.stream.name == "deals" and index == 1:
            last = self.windows[-1][0]
            deadline = time.monotonic() + 60
            while last.outcome is None:  # the last window is read to its end first
                assert time.monotonic() < deadline
                time.sleep(0.01)
            lo, hi = (seconds(window[k]) for k in ("updated_since", "updated_until"))
            moving = [r["id"] for r in order if lo <= seconds(r["update_time"]) < hi][:30]
            assert moving
            sb.data.touch("deals", moving)
            edited.extend(moving)
        fetch(self, index, walk, window)

    monkeypatch.setattr(windows.WindowedWalk, "_fetch", fetch_after_an_edit)
    # A thread for every window, so that the last one is read while the second one waits.
    first = run_in_process(sb.url, three_streams, capsys, max_parallel_requests=16)
    monkeypatch.undo()
    got = [m["record"] for m in first if m["type"] == "RECORD" and m["stream"] == "deals"]
    assert edited and not {r["id"] for r in got} & set(edited)  # the worst case happened
    state = [m["value"] for m in first if m["type"] == "STATE"][-1]
    edit_time = max(r["update_time"] for r in sb.data.records("deals") if r["id"] in edited)
    assert state["bookmarks"]["deals"]["replication_key_value"] < edit_time

    second = sync(tmp_path, config(sb.url), three_streams, state=state)
    assert second.returncode == 0, second.stderr
    again = {r["id"]: r for r in second.records["deals"]}
    assert set(edited) <= set(again)
    assert all(again[i]["title"].endswith("(rev 2)") for i in edited)
    assert {r["id"] for r in got} | set(again) == {r["id"] for r in order}


def test_a_windowed_backfill_killed_on_the_way_resumes_without_loss(make_sandbox, tmp_path,
                                                                    three_streams):
    """SIGTERM (and kill -9) through the console script at seeded moments of a windowed
    backfill, each run resumed from the last STATE it wrote: nothing is lost."""
    sb = make_sandbox(records=6000, seed=53, latency=0.4, burst_limit=0)
    cfg = config(sb.url, **WINDOWED)
    rnd = random.Random(7)
    runs, state, killed = [], None, 0
    for attempt in range(4):
        sig = signal.SIGKILL if attempt == 2 else signal.SIGTERM
        run, was_killed = start_and_kill(tmp_path, cfg, three_streams, state,
                                         after=rnd.uniform(1.2, 2.6), sig=sig)
        runs.append(run)
        killed += was_killed
        state = run.state or state
    final = sync(tmp_path, cfg, three_streams, state=state)
    assert final.returncode == 0, final.stderr
    assert killed >= 3, [(r.returncode, {s: len(v) for s, v in r.records.items()}) for r in runs]
    # at least one kill in the middle of the first stream's windows (activities, 12 pages)
    assert any(0 < len(r.records.get("activities", [])) < 6000 for r in runs)
    want = {s: {r["id"] for r in sb.data.records(s)} for s in STREAMS}
    assert union(*runs, final) == want



def test_the_newest_page_becomes_the_last_window_oldest_first():
    """Sorted newest first, cut at an edge, reversed: each record's bytes as they came."""
    import requests

    from tap_pipedrive import page

    body = (b'{"success":true,"data":[{"id":3,"update_time":"2026-01-01T00:00:09Z","v":1.10},'
            b'{"id":2,"update_time":"2026-01-01T00:00:05Z"},'
            b'{"id":1,"update_time":"2026-01-01T00:00:04Z"}],'
            b'"additional_data":{"next_cursor":"abc"}}')
    response = requests.Response()
    response.status_code = 200
    page.attach(response, body)
    last = windows.newest_window(response, seconds("2026-01-01T00:00:05Z"))
    assert last.page.data() == [{"id": 2, "update_time": "2026-01-01T00:00:05Z"},
                                {"id": 3, "update_time": "2026-01-01T00:00:09Z",
                                 "v": last.page.data()[1]["v"]}]
    assert b'"v":1.10}' in last.content  # not re-encoded
    assert last.page.additional == {"next_cursor": None}


def test_at_most_the_slots_are_in_flight_and_the_emitted_stream_goes_first():
    import threading

    from tap_pipedrive import inflight

    gate = inflight.Gate(1)
    order: list[str] = []
    holding = threading.Event()
    release = threading.Event()

    def hold():
        with gate.slot():
            holding.set()
            release.wait(5)

    def ask(name, place):
        inflight.set_priority(*place)
        with gate.slot():
            order.append(name)

    first = threading.Thread(target=hold)
    first.start()
    holding.wait(5)
    later = [threading.Thread(target=ask, args=(n, p))
             for n, p in (("stream 2", (2, 0)), ("stream 1 window 3", (1, 3)),
                          ("stream 1 window 1", (1, 1)))]
    for thread in later:
        thread.start()
    time.sleep(0.3)  # all three wait for the one slot
    assert order == []
    release.set()
    for thread in [first, *later]:
        thread.join(5)
    assert order == ["stream 1 window 1", "stream 1 window 3", "stream 2"]


def test_two_percent_of_a_hundred_pages_buys_three_chains():
    """Each chain ends in a partial page (one extra request); the newest page is read as a
    single chain would read it. So 2 % of ~100 pages is two extra chains, at even counts."""
    # 500 records per 1,000 s everywhere: ~100 pages from the first page to the newest one
    cuts = windows.edges(0, 999, 100_499, 500, 2.0, newest=(99_500, 100_499))
    assert len(cuts) == 2
    middle = 99_500 - 999
    assert abs(cuts[0] - (999 + middle / 3)) <= 2 and abs(cuts[1] - (999 + 2 * middle / 3)) <= 2
