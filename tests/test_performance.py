"""What keeps a sync cheap (performance.py): RECORD lines go out in one system call per buffer,
not one per line, even when stdout is unbuffered (PYTHONUNBUFFERED=1, `python -u`); every
other message, and the exit, flush them, in order. The garbage collector leaves the run's
setup alone."""

from __future__ import annotations

import io
import json
import sys

from singer_sdk import singerlib as singer

from tap_pipedrive import performance


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
