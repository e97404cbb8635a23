"""What keeps a sync cheap (performance.py): RECORD lines go out in one system call per buffer,
not one per line, even when stdout is unbuffered (PYTHONUNBUFFERED=1, `python -u`); every
other message, and the exit, flush them, in order. The garbage collector leaves the run's
setup alone."""

from __future__ import annotations

import io
import json
import sys
from decimal import Decimal
from typing import Any

from singer_sdk import singerlib as singer

from tap_pipedrive import performance


def _session(sandbox):
    from tap_pipedrive.transport import api_session

    session = api_session(sandbox.url, 30)
    session.headers["x-api-token"] = sandbox.api_token
    return session


class _CountingFile(io.FileIO):
    writes = 0

    def write(self, data):  # type: ignore[override]
        type(self).writes += 1
        return super().write(data)


def test_records_are_buffered_when_stdout_is_unbuffered(tmp_path, monkeypatch):
    raw = _CountingFile(tmp_path / "out", "wb")
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, write_through=True))
    writer = performance.BufferedMsgSpecWriter()
    for i in range(50):
        writer.write_message(singer.RecordMessage(stream="deals", record={"id": i}))
    assert (tmp_path / "out").read_bytes() == b""  # still in the buffer: no write per line
    writer.write_message(singer.StateMessage(value={"bookmarks": {}}))
    lines = [json.loads(x) for x in (tmp_path / "out").read_text().splitlines()]
    assert [m.get("record", {}).get("id") for m in lines] == [*range(50), None]
    assert lines[-1]["type"] == "STATE"
    assert _CountingFile.writes == 0  # the writer's own buffer wrote to the same file
    raw.close()


def test_the_setup_is_left_out_of_the_collectors_passes():
    import gc

    threshold = gc.get_threshold()
    try:
        performance.settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == 10_000 and gc.get_threshold()[1:] == threshold[1:]
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_malloc_is_told_to_keep_few_arenas_and_give_back_page_bodies(monkeypatch):
    """glibc's mallopt gets both settings (a chain per thread kept a third of the peak RSS
    in freed arenas); where there is no such call, nothing happens."""
    import ctypes

    calls: list[tuple[int, int]] = []

    class Libc:
        def mallopt(self, option: int, value: int) -> int:
            calls.append((option, value))
            return 1

    monkeypatch.setattr(ctypes, "CDLL", lambda name: Libc())
    performance.steady_malloc()
    assert calls == [(-8, 2), (-3, 256 * 1024)]  # M_ARENA_MAX, M_MMAP_THRESHOLD

    def no_libc(name):
        raise OSError("no C library")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    performance.steady_malloc()  # no error
    monkeypatch.setattr(ctypes, "CDLL", lambda name: object())  # a libc without mallopt
    performance.steady_malloc()


def test_freed_heap_memory_is_given_back_as_pages_are_read(monkeypatch, shared_sandbox):
    """The records of each page leave holes in glibc's heap that it keeps (RSS grew with
    every page read, 58 to 73 MiB over 100,000 deals): once steady_malloc has found
    malloc_trim, reading TRIM_EVERY bytes of page bodies calls it once."""
    import ctypes

    trims: list[int] = []

    class Libc:
        def mallopt(self, option: int, value: int) -> int:
            return 1

        def malloc_trim(self, pad: int) -> int:
            trims.append(pad)
            return 1

    monkeypatch.setattr(ctypes, "CDLL", lambda name: Libc())
    monkeypatch.setattr(performance, "_heap", performance._Heap())
    performance.steady_malloc()
    session = _session(shared_sandbox)
    read = 0
    while read < 2 * performance.TRIM_EVERY:  # the same page again and again
        response = session.get(f"{shared_sandbox.url}/api/v2/deals", params={"limit": 500})
        assert response.status_code == 200
        read += len(response.content)
    assert trims == [0, 0]


def test_a_page_waiting_on_disk_keeps_neither_its_body_nor_the_connections_answer(
        shared_sandbox):
    """A backfill of a million deals has about a thousand pages waiting at times; each kept
    ~10 kB besides its body (urllib3's and http.client's answer objects, half of it). The
    copy that waits holds what the records are read with, and reads as the original."""
    from tap_pipedrive import page

    response = _session(shared_sandbox).get(f"{shared_sandbox.url}/api/v2/deals",
                                            params={"limit": 500})
    page.attach(response, response.content)
    waiting = page.without_body(response)
    assert waiting.raw is None and waiting._content is None
    assert waiting.status_code == 200 and waiting.url == response.url
    page.attach(waiting, response.content)
    assert waiting.page.data() == response.page.data()
    assert waiting.json() == response.json()
    waiting.close()  # nothing left to release: no error


def test_a_page_lets_go_of_each_record_as_it_is_handed_on(shared_sandbox):
    """Each record is freed once written, while its memory is still in the CPU's cache, and
    the next reuses that memory; a page's list held all 500 to its end (in process: a page
    of deals 30.5 -> 26.3 us a record, persons 38.7 -> 30.7). Same records, same order."""
    from tap_pipedrive import page
    from tap_pipedrive.tap import TapPipedrive

    tap = TapPipedrive(config={"api_url": shared_sandbox.url,
                               "api_token": shared_sandbox.api_token})
    response = _session(shared_sandbox).get(f"{shared_sandbox.url}/api/v2/deals",
                                            params={"limit": 500})
    page.attach(response, response.content)
    records = tap.streams["deals"].parse_response(response)
    first = next(iter(records))
    assert sys.getrefcount(first) == 2  # this name, and getrefcount's own argument
    rest = list(records)
    assert [first, *rest] == response.json()["data"]
    assert len(rest) == 499


# --- RECORD lines without message objects --------------------------------------------------

RECORDS = [
    {"id": 1},
    {"id": 2, "value": Decimal("1234.50"), "ratio": 0.5, "big": 2**70, "none": None},
    {"id": 3, "title": "Ünïcödé \u2028 \"quoted\" \\ \n\t", "tags": [1, "a", None, True]},
    {"id": 4, "address": {"street": "x", "when": "2024-01-31T10:20:30Z"}, "empty": {}},
]


def test_a_record_line_is_the_line_of_its_message(tmp_path, monkeypatch):
    """The writer's RECORD line made from the record's parts is, byte for byte, the one it
    writes for the SDK's RecordMessage of the same record (and time, in UTC, as the message
    would make it)."""
    from datetime import datetime, timezone

    out = tmp_path / "out"
    with open(out, "wb") as raw:
        monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, write_through=True))
        writer = performance.BufferedMsgSpecWriter()
        expected = b""
        for version in (None, 1733150000000):
            for micros in (0, 123456):
                moment = datetime(2026, 12, 2, 15, 4, 5, micros, tzinfo=timezone.utc)
                for record in RECORDS:
                    message = singer.RecordMessage(stream="deals", record=record,
                                                   version=version, time_extracted=moment)
                    expected += bytes(writer.format_message(message))
                    writer.write_record("deals", record, version, moment)
        writer.write_message(singer.StateMessage(value={}))  # flushed
    lines = out.read_bytes().splitlines(keepends=True)
    assert b"".join(lines[:-1]) == expected and len(lines) == 17


def test_a_sync_writes_its_records_without_making_message_objects(make_sandbox, monkeypatch,
                                                                   capsys):
    """A RECORD message object (its checks, its dict, the writer's layers) cost ~1 us a
    record, a tenth of what writing the line costs: a sync makes none (in-process run)."""
    from tap_pipedrive.tap import TapPipedrive

    sb = make_sandbox(records=600, seed=46, burst_limit=0)
    tap = TapPipedrive(config={"api_url": sb.url, "api_token": sb.api_token,
                               "progress_interval": 0})
    for stream in tap.streams.values():
        stream.selected = stream.name in ("deals", "users")

    def refused(self: Any) -> None:
        raise AssertionError("a RecordMessage was made")

    monkeypatch.setattr(singer.RecordMessage, "__post_init__", refused)
    tap.sync_all()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    records = [m for m in lines if m["type"] == "RECORD"]
    assert {m["stream"] for m in records} == {"deals", "users"}
    assert sorted(m["record"]["id"] for m in records if m["stream"] == "deals") == sorted(
        r["id"] for r in sb.data.records("deals"))
    assert all("time_extracted" in m for m in records) and lines[-1]["type"] == "STATE"


def _write_calls() -> int:
    with open("/proc/self/io") as io_counts:
        return next(int(line.split()[1]) for line in io_counts if line.startswith("syscw"))


def test_record_lines_leave_in_few_system_calls_when_stdout_is_buffered(tmp_path, monkeypatch):
    """stdout's usual 8 kB buffer wrote every two or three lines of ~3 kB records: 30,000
    system calls in a sync of the 8 core streams, each letting a page thread take the
    interpreter from the main thread (15 % of the sync's CPU). 300 such lines (~1 MB) now
    leave in pieces of 64 kB."""
    import os

    import pytest

    if not os.path.exists("/proc/self/io"):
        pytest.skip("counts a process's system calls through Linux's /proc")
    path = tmp_path / "out"
    with open(path, "wb") as raw:  # an ordinary stdout: buffered, 8 kB
        monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw))
        writer = performance.BufferedMsgSpecWriter()
        record = {"id": 0, "title": "x" * 3000}
        before = _write_calls()
        for i in range(300):
            writer.write_message(singer.RecordMessage(stream="deals", record={**record, "id": i}))
        writer.write_message(singer.StateMessage(value={"bookmarks": {}}))
        calls = _write_calls() - before
        lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [m.get("record", {}).get("id") for m in lines] == [*range(300), None]
    assert calls < 40, f"{calls} system calls to write 300 lines of 3 kB"
