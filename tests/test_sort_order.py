"""Sort order is declared where the tap reads sorted pages: the SDK's "assumed to be
unsorted, progress is not resumable" warning shows for the newest-first streams only (they
are unsorted for the SDK), each time naming the stream."""

from __future__ import annotations

import re

from helpers import run_tap, sandbox_config

from tap_pipedrive.streams import STREAMS

UNSORTED = re.compile(r"\| (\w+): Stream is assumed to be unsorted")


def test_unsorted_warning_only_for_unsorted_streams(shared_sandbox, tmp_path):
    run = run_tap(tmp_path, sandbox_config(shared_sandbox.url))
    assert run.returncode == 0, run.stderr[-3000:]
    warned = [m.group(1) for m in UNSORTED.finditer(run.stderr)]
    assert run.stderr.count("Stream is assumed to be unsorted") == len(warned)  # all named
    unsorted = {cls.name for cls in STREAMS
                if isinstance(getattr(cls, "replication_key", None), str) and not cls.is_sorted}
    assert sorted(warned) == sorted(unsorted & set(run.records))
    assert set(warned) == {"archived_leads", "files", "pipelines", "stages"}
    for stream in ("deals", "persons", "activities", "notes", "leads"):  # read ascending
        assert stream in run.records and stream not in warned
