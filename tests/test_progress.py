"""Progress lines and the end-of-run summary table (progress.py): what they say is what the
run wrote and what the server saw, they go to stderr only, and every run ends with the table,
failed and stopped runs included."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter

import pytest
from helpers import run_tap, sandbox_config, summary_table
from resume_helpers import catalog
from singer_sdk.logging import StructuredFormatter
from singer_sdk.singerlib import RecordMessage, StateMessage

from tap_pipedrive import progress
from tap_pipedrive.progress import Progress, duration, outcome, table
from tap_pipedrive.ratelimit import DailyBudgetSpent, RunCapReached, Usage
from tap_pipedrive.streams import STREAMS
from tap_pipedrive.tap import TapPipedrive
from tap_pipedrive.token_costs import cost_of

PROGRESS_LINE = re.compile(
    r"Progress of (\w+): (\d+) records read in (\S+) \((\d+) records/s\), (\d+) pages, "
    r"(\d+) tokens$")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stream_of_path() -> list[tuple[re.Pattern, str]]:
    """Each stream's endpoint as a pattern (`{deal_id}` matches one path segment)."""
    patterns = []
    for stream in STREAMS:
        path = getattr(stream, "path", None)
        if path:
            regex = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path))
            patterns.append((re.compile(f"^{regex}$"), stream.name))
    return patterns


def server_usage(requests: list[dict]) -> dict[str, tuple[int, int]]:
    """(requests, tokens) per stream, from the sandbox's request log."""
    patterns = stream_of_path()
    usage: dict[str, tuple[int, int]] = {}
    for request in requests:
        names = [name for pattern, name in patterns if pattern.match(request["path"])]
        assert len(names) == 1, (request["path"], names)
        count, tokens = usage.get(names[0], (0, 0))
        usage[names[0]] = (count + 1, tokens + cost_of(request["path"]))
    return usage


def progress_lines(stderr: str) -> list[tuple[str, int, int, int]]:
    """(stream, records read, pages, tokens) of each progress line, in order."""
    found = []
    for line in stderr.splitlines():
        if match := PROGRESS_LINE.search(line):
            stream, records, _, _, pages, tokens = match.groups()
            found.append((stream, int(records), int(pages), int(tokens)))
    return found


def assert_stdout_is_singer_only(stdout: str) -> None:
    assert "Progress of" not in stdout and "Sync summary" not in stdout
    assert "odd values" not in stdout.lower()
    for line in stdout.splitlines():
        assert json.loads(line)["type"] in {"SCHEMA", "RECORD", "STATE", "ACTIVATE_VERSION"}


# --- against the sandbox ------------------------------------------------------------------


def test_summary_is_what_was_written_and_what_the_server_saw(make_sandbox, tmp_path):
    """Every default stream: records per row are the RECORD messages on stdout (a stream with
    no API call of its own, custom_field_mappings, included); requests and tokens are the
    sandbox's log; odd values add up to the per-property lines; the total row adds up."""
    sb = make_sandbox(records=300, seed=61, odd_values=True)
    run = run_tap(tmp_path, sandbox_config(sb.url, progress_interval=0))
    assert run.returncode == 0, run.stderr[-3000:]
    assert_stdout_is_singer_only(run.stdout)
    rows = summary_table(run.stderr)
    total = rows.pop("total")

    written = {stream: len(records) for stream, records in run.records.items()}
    assert {s: r["records"] for s, r in rows.items() if r["records"]} == written
    assert written["custom_field_mappings"] > 0 and written["deal_products"] > 0

    seen = server_usage(sb.requests)
    assert {s: (r["requests"], r["tokens"]) for s, r in rows.items() if r["requests"]} == seen
    assert (total["requests"], total["tokens"]) == (len(sb.requests),
                                                    sum(t for _, t in seen.values()))
    assert total["retries"] == total["429s"] == 0

    odd = Counter()
    for line in run.stderr.splitlines():
        if match := re.search(r"Odd values: (\w+)\.\S+: (\d+) x ", line):
            odd[match[1]] += int(match[2])
    assert odd and {s: r["odd values"] for s, r in rows.items() if r["odd values"]} == odd
    for column in ("records", "requests", "tokens", "retries", "429s", "odd values"):
        assert total[column] == sum(row[column] for row in rows.values()), column
    assert "Sync summary (finished):" in run.stderr
    assert not progress_lines(run.stderr)  # progress_interval 0: none


def test_progress_lines_on_stderr(make_sandbox, tmp_path):
    """With some latency and a short interval, a long stream gets progress lines whose counts
    grow; tokens are its pages' cost; stdout carries Singer messages only. (deals comes first:
    pages fetched ahead for later streams arrive too fast for lines of their own.)"""
    sb = make_sandbox(records=2500, seed=62, latency=0.1)
    cat = catalog(tmp_path, ("deals", "users"))
    run = run_tap(tmp_path, sandbox_config(sb.url, progress_interval=0.15), "--catalog",
                  str(cat))
    assert run.returncode == 0, run.stderr[-3000:]
    assert_stdout_is_singer_only(run.stdout)
    lines = [line[1:] for line in progress_lines(run.stderr) if line[0] == "deals"]
    assert lines, run.stderr[-3000:]
    assert lines == sorted(lines) and len(set(lines)) == len(lines)  # growing, no repeats
    for records, pages, tokens in lines:
        assert records == 500 * pages  # full pages of 500
        assert 10 * pages <= tokens <= 50  # 10 a page; pages fetched ahead are spent too
    rows = summary_table(run.stderr)
    assert rows["deals"]["records"] == len(run.records["deals"]) == 2500
    assert rows["users"]["records"] == len(run.records["users"])
    assert (rows["deals"]["requests"], rows["deals"]["tokens"]) == (5, 50)


def test_summary_after_a_budget_stop(make_sandbox, tmp_path):
    """Stopped at max_tokens_per_run (exit 75): the table still comes, before the error line,
    with what the stopped run wrote and spent."""
    sb = make_sandbox(records=1200, seed=63)
    cat = catalog(tmp_path, ("deals", "persons", "organizations"))
    cap = 100  # the field metadata, then a few pages
    run = run_tap(tmp_path, sandbox_config(sb.url, max_tokens_per_run=cap, progress_interval=0),
                  "--catalog", str(cat))
    assert run.returncode == 75, run.stderr[-3000:]
    assert_stdout_is_singer_only(run.stdout)
    rows = summary_table(run.stderr)
    total = rows.pop("total")
    assert f"Sync summary (stopped at max_tokens_per_run, state saved; {total['tokens']} tokens " \
           f"of a {cap} cap):" in run.stderr
    assert total["tokens"] <= cap
    assert (total["requests"], total["tokens"]) == (
        len(sb.requests), sum(cost_of(r["path"]) for r in sb.requests))
    assert {s: r["records"] for s, r in rows.items() if r["records"]} == \
        {s: len(records) for s, records in run.records.items()}
    assert 0 < sum(len(records) for records in run.records.values()) < 1200 + 1200 + 600
    error = run.stderr.strip().splitlines()[-1]
    assert error.startswith("tap-pipedrive: error: the run reached its token cap")


def test_summary_after_a_failure(make_sandbox, tmp_path):
    sb = make_sandbox(records=600, seed=64, fault_rate=1.0, fault_kinds="404",
                      fault_paths="/api/v2/persons")
    cat = catalog(tmp_path, ("deals", "persons"))
    run = run_tap(tmp_path, sandbox_config(sb.url, progress_interval=0), "--catalog", str(cat))
    assert run.returncode == 1, run.stderr[-3000:]
    assert_stdout_is_singer_only(run.stdout)
    assert "Sync summary (failed):" in run.stderr
    rows = summary_table(run.stderr)
    assert rows["deals"]["records"] == len(run.records["deals"]) == 600
    assert (rows["persons"]["records"], rows["persons"]["requests"]) == (0, 1)
    assert run.stderr.strip().splitlines()[-1].startswith("tap-pipedrive: error: ")


def test_progress_interval_setting(tmp_path):
    schema = TapPipedrive.config_jsonschema["properties"]["progress_interval"]
    assert schema["default"] == progress.DEFAULT_INTERVAL == 10 and schema["minimum"] == 0
    assert progress.interval({}) == 10 and progress.interval({"progress_interval": 0}) == 0
    run = run_tap(tmp_path, sandbox_config("http://127.0.0.1:9", progress_interval=-1))
    assert run.returncode == 1
    assert "progress_interval must be at least 0" in run.stderr


# --- in process ---------------------------------------------------------------------------


@pytest.fixture
def lines(caplog):
    caplog.set_level(logging.INFO, logger="tap-pipedrive")

    def messages() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "tap-pipedrive"]
    return messages


def test_a_line_per_long_stream_per_interval(lines):
    clock = FakeClock()
    usage = {"deals": Usage(requests=3, tokens=30)}
    prog = Progress(interval=10, usage=usage, clock=clock)
    for _ in range(3):  # 3 pages in 9 s: not due yet
        clock.now += 3
        prog.page("deals", 500)
    assert lines() == []
    clock.now += 3
    prog.page("deals", 500)  # 12 s in: due, and deals has run 12 s
    assert lines() == [
        "Progress of deals: 2000 records read in 12.0s (167 records/s), 4 pages, 30 tokens"]
    clock.now += 1
    prog.page("users", 10)  # a short stream, read between two reports: no line of its own
    clock.now += 10
    prog.page("persons", 500)  # due: deals ended (last line), persons runs 10 s
    assert lines()[1:] == [
        "Progress of persons: 500 records read in 10.0s (50 records/s), 1 pages, 0 tokens"]
    clock.now += 10
    prog.page("persons", 500)  # due: only persons read pages since
    assert len(lines()) == 3 and lines()[2].startswith("Progress of persons: 1000 records")


def test_a_long_stream_gets_a_last_line_when_it_ends(lines):
    clock = FakeClock()
    prog = Progress(interval=5, clock=clock)
    for _ in range(3):
        clock.now += 2
        prog.page("deals", 500)  # 6 s: one line at the third page
    clock.now += 2
    prog.page("deals", 100)  # its last page, between reports
    clock.now += 4
    prog.page("persons", 500)  # the next report gives deals its last line
    assert [m.split(":")[0] for m in lines()] == ["Progress of deals", "Progress of deals"]
    assert lines()[-1].startswith("Progress of deals: 1600 records read in 8.0s")


def test_interval_zero_is_silent(lines):
    clock = FakeClock()
    prog = Progress(interval=0, clock=clock)
    for _ in range(100):
        clock.now += 60
        prog.page("deals", 500)
    assert lines() == []
    assert prog.streams["deals"].pages == 100 and prog.streams["deals"].records == 50000


def test_records_written_from_their_parts_are_counted_and_reach_any_writer():
    """The tap writes a RECORD from its parts when its writer can (performance.py): counted
    all the same, and a writer that takes only messages (a capture's) gets the message."""
    from datetime import datetime, timezone

    sink: list = []

    class Messages:
        def write_message(self, message):
            sink.append(message)

    class Parts(Messages):
        def write_record(self, stream, record, version, time_extracted):
            sink.append((stream, record, version))

    moment = datetime(2026, 12, 2, tzinfo=timezone.utc)
    for kind in (Messages, Parts):
        prog = Progress(interval=0, clock=FakeClock())
        writer = prog.counting(kind())
        writer.write_record("deals", {"id": 1}, 7, moment)
        writer.write_record("deals", {"id": 2}, None, moment)
        assert prog.written == {"deals": 2}
    message = sink[0]
    assert isinstance(message, RecordMessage) and (message.stream, message.record,
                                                   message.version) == ("deals", {"id": 1}, 7)
    assert message.time_extracted == moment
    assert sink[2:] == [("deals", {"id": 1}, 7), ("deals", {"id": 2}, None)]


def test_rows_count_written_records_and_time_adds_up():
    clock = FakeClock()
    prog = Progress(interval=0, clock=clock)
    sink: list = []

    class Writer:
        flushed = False

        def write_message(self, message):
            sink.append(message)

    writer = prog.counting(Writer())
    assert prog.counting(writer) is writer  # wrapped once, counted once
    clock.now += 2
    prog.page("deals", 3)  # 2 s since the start
    for i in range(3):
        writer.write_message(RecordMessage(stream="deals", record={"id": i}))
    writer.write_message(StateMessage(value={}))
    clock.now += 5
    prog.page("deal_products", 2)  # 5 s: writing deals, waiting for this page
    writer.write_message(RecordMessage(stream="deal_products", record={"id": 1}))
    writer.write_message(RecordMessage(stream="custom_field_mappings", record={"k": 1}))
    clock.now += 1  # after the last page: to the stream read last
    assert len(sink) == 6 and writer.flushed is False  # passed on; attributes of the writer

    usage = {"deals": Usage(requests=2, tokens=20, retries=1), "persons": Usage(1, 10, 0, 1)}
    rows = prog.rows(usage, {"deals": 4})
    assert [r["stream"] for r in rows] == [
        "custom_field_mappings", "deal_products", "deals", "persons", "total"]
    by = {r["stream"]: r for r in rows}
    assert by["deals"] == {"stream": "deals", "records": 3, "requests": 2, "tokens": 20,
                           "seconds": 2.0, "retries": 1, "rate_limited": 0, "odd_values": 4}
    assert by["deal_products"]["records"] == 1  # written, not the 2 read
    assert by["deal_products"]["seconds"] == 6.0 and by["custom_field_mappings"]["records"] == 1
    assert by["persons"]["rate_limited"] == 1 and by["persons"]["records"] == 0
    assert by["total"] == {"stream": "total", "records": 5, "requests": 3, "tokens": 30,
                           "seconds": 8.0, "retries": 1, "rate_limited": 1, "odd_values": 4}


def test_without_counting_records_are_those_read():
    prog = Progress(interval=0, clock=FakeClock())
    prog.page("deals", 7)
    assert prog.rows({}, {})[0]["records"] == 7


def test_summary_table_format(lines):
    prog = Progress(interval=0, clock=FakeClock())
    prog.page("deals", 1200)
    prog.log_summary({"deals": Usage(3, 30, 0, 0)}, {}, ["30 tokens of a 100 cap"])
    assert lines() == [
        "Sync summary (finished; 30 tokens of a 100 cap):",
        "stream  records  requests  tokens  time  retries  429s  odd values",
        "deals      1200         3      30  0.0s        0     0           0",
        "total      1200         3      30  0.0s        0     0           0",
    ]
    Progress(interval=0).log_summary({}, {})  # nothing read, written or asked: no table
    assert len(lines()) == 4


def test_table_alignment_and_durations():
    rows = [{"stream": "organization_fields", "records": 5, "requests": 1, "tokens": 10,
             "seconds": 3725.0, "retries": 0, "rate_limited": 0, "odd_values": 12345}]
    header, row = table(rows)
    assert len(header) == len(row)
    assert row.startswith("organization_fields  ") and row.endswith("  12345")
    assert header.endswith("odd values") and "1h02m" in row
    assert [duration(s) for s in (0, 0.04, 12.34, 59.96, 65, 3599.6, 7384)] == [
        "0.0s", "0.0s", "12.3s", "1m00s", "1m05s", "1h00m", "2h03m"]


def test_outcomes():
    assert outcome(None) == "finished"
    assert outcome(RunCapReached("x")).startswith("stopped at max_tokens_per_run")
    assert outcome(DailyBudgetSpent("x")).startswith("stopped: the daily API budget")
    assert outcome(KeyboardInterrupt()) == "interrupted"
    assert outcome(ValueError()) == "failed"


def test_lines_carry_their_numbers_for_structured_logs(caplog):
    caplog.set_level(logging.INFO, logger="tap-pipedrive")
    clock = FakeClock()
    prog = Progress(interval=1, usage={"deals": Usage(2, 20)}, clock=clock)
    clock.now += 2
    prog.page("deals", 500)
    prog.log_summary({"deals": Usage(2, 20)}, {})
    events = [json.loads(StructuredFormatter().format(r)) for r in caplog.records]
    line = events[0]
    assert line["stream_name"] == "deals" and line["level"] == "info"
    assert line["extra"]["progress"] == {"records": 500, "seconds": 2.0,
                                         "records_per_second": 250.0, "pages": 1, "tokens": 20}
    rows = [e for e in events if "summary" in e["extra"]]
    assert [(e["stream_name"], e["extra"]["summary"]["records"]) for e in rows] == [
        ("deals", 500), (None, 500)]


def test_nothing_on_stdout(capsys):
    clock = FakeClock()
    prog = Progress(interval=1, clock=clock)
    tap_logger = logging.getLogger("tap-pipedrive")
    tap_logger.addHandler(handler := logging.StreamHandler())
    level, tap_logger.level = tap_logger.level, logging.INFO  # as a run sets it
    try:
        for _ in range(5):
            clock.now += 1
            prog.page("deals", 500)
        prog.log_summary({}, {"deals": 1})
    finally:
        tap_logger.removeHandler(handler)
        tap_logger.setLevel(level)
    out, err = capsys.readouterr()
    assert out == "" and "Progress of deals" in err and "Sync summary" in err
