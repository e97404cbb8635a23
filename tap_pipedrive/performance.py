"""What makes a sync cheap: the message writer, and the settings that trade safety for speed."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import sys
import threading
from datetime import datetime
from typing import Any, BinaryIO, cast

from singer_sdk import singerlib as singer
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter, serialize_jsonl
from typing_extensions import override

from tap_pipedrive import interrupt


class BufferedMsgSpecWriter(MsgSpecWriter):
    """msgspec's encoder, without a flush (a system call) after every RECORD: stdout is
    flushed with each other message, so a STATE never reaches the target before the records
    it covers, and at exit."""

    @override
    def write_message(self, message: singer.Message) -> None:
        self._write(self.format_message(message),
                    flush=not isinstance(message, singer.RecordMessage))

    def write_record(self, stream: str, record: dict[str, Any], version: int | None,
                     time_extracted: datetime) -> None:
        """A RECORD line made from its parts, without a message object (~1 us a record): the
        bytes `write_message` writes for a RecordMessage (its `to_dict`, keys in order).
        `time_extracted` is in UTC, as the message would make it."""
        line: dict[str, Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            line["version"] = version
        line["time_extracted"] = time_extracted
        self._write(serialize_jsonl(line), flush=False)

    @staticmethod
    def _write(line: bytes | bytearray, flush: bool) -> None:
        guard = interrupt.guard  # a signal meanwhile waits until the line is out
        guard.writing = True
        try:
            out = buffered_stdout()
            out.write(line)
            if flush:
                out.flush()
                sys.stdout.flush()
        finally:
            guard.writing = False
        if guard.pending is not None:
            interrupt.raise_pending()


STDOUT_BUFFER = 2**16  # bytes: a pipe's capacity on Linux (1 MiB measured no better)
_buffered: list[tuple[BinaryIO, BinaryIO]] = []  # (a stdout, its buffer)
_last: list[Any] = [None, None]  # (sys.stdout, what to write to): asked once per message


def buffered_stdout() -> BinaryIO:
    """stdout's bytes, through a buffer of STDOUT_BUFFER bytes: with PYTHONUNBUFFERED=1 or
    `python -u` (usual in containers) `sys.stdout.buffer` is the raw file, and each line
    would be a system call; and its usual 8 kB buffer makes one every two or three lines
    (records are ~3 kB). Each system call lets another thread take the interpreter, which
    the main thread then waits for: 30,000 of them were 15 % of a sync's CPU (8 core
    streams, 20,000 deals, at 0.2 s a page). The buffer is flushed by the writer and at
    exit."""
    if _last[0] is sys.stdout:
        return cast(BinaryIO, _last[1])
    out = _buffer_of(sys.stdout.buffer)
    _last[:] = [sys.stdout, out]
    return out


def _buffer_of(stdout: BinaryIO) -> BinaryIO:
    for raw, buffer in _buffered:
        if raw is stdout:
            return buffer
    try:
        fileno = stdout.fileno()
        sys.stdout.flush()  # what was written before goes first
    except (OSError, ValueError):  # no file descriptor (a stand-in stdout), or closed
        return stdout
    buffer = open(fileno, "wb", buffering=STDOUT_BUFFER, closefd=False)  # noqa: SIM115 - kept open
    _buffered.append((stdout, buffer))
    atexit.register(_flush, buffer)
    return buffer


def _flush(buffer: BinaryIO) -> None:
    with contextlib.suppress(OSError, ValueError):  # stdout closed meanwhile: nothing to do
        buffer.flush()


def settle_heap() -> None:
    """Before the records: the collector leaves alone what the run has set up (modules,
    schemas, the catalog, compiled converters: it stays to the end anyway), and runs its
    young pass after 10,000 new objects instead of 700, fewer times than a page makes
    (records hold no cycles; they are freed by their count as they are written). The
    collector took 8% of a sync's CPU (20,000 deals, 8 core streams), 2% with this."""
    gc.collect()  # first, so that no garbage of the setup is kept for good
    gc.freeze()
    gc.set_threshold(10_000, *gc.get_threshold()[1:])


def steady_malloc() -> None:
    """glibc's malloc, told two things before the page threads start (elsewhere: nothing).
    Each thread that allocates gets an arena of its own (up to 8 a CPU), which keeps what it
    has freed: with a chain per thread (windows.py) that was a third of the peak RSS. And a
    block of 256 kB or more (a page's body) is always mapped on its own, so that freeing it
    gives it back, instead of the threshold rising to the size of the blocks freed."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_ARENA_MAX, 2)
    mallopt(_M_MMAP_THRESHOLD, 256 * 1024)
    _heap.trim = getattr(libc, "malloc_trim", None)


_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # glibc's malloc.h
TRIM_EVERY = 4 * 2**20  # bytes of page bodies read


class _Heap:
    """glibc gives back the top of a heap only; what is freed below a block still in use
    stays in the process, counted in its RSS. The records of each page are such holes (a
    deal, over 512 bytes, is glibc's, not Python's): a 100,000-deal sync read one page at a
    time grew from 58 to 73 MiB, and held 16-19 MiB of freed heap with 8 requests in flight.
    So after every TRIM_EVERY bytes of bodies read, the free pages inside the heaps go back
    to the system (malloc_trim, 1-4 ms): the same sync stayed at 58-61 MiB."""

    def __init__(self) -> None:
        self.trim: Any = None  # glibc's malloc_trim, once steady_malloc found it
        self._lock = threading.Lock()
        self._read = 0

    def read(self, size: int) -> None:
        if self.trim is None:
            return
        with self._lock:
            self._read += size
            if self._read < TRIM_EVERY:
                return
            self._read = 0
        self.trim(0)


_heap = _Heap()


def body_read(size: int) -> None:
    """A page body of `size` bytes was read (any thread): every TRIM_EVERY bytes, freed heap
    memory is given back."""
    _heap.read(size)


def settings() -> list[th.Property]:
    return [
        th.Property(
            "sdk_conformance", th.BooleanType, default=False,
            description="Also run the Singer SDK's own record pruning and type conformance "
            "after the tap's, in the SDK's own record loop (slower, same output: for "
            "diagnosing). The tap always makes each value fit its schema and drops "
            "deselected properties itself.",
        ),
    ]
