"""What makes a sync cheap: the message writer, and the settings that trade safety for speed."""

from __future__ import annotations

import sys

from singer_sdk import singerlib as singer
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from typing_extensions import override

from tap_pipedrive import interrupt


class BufferedMsgSpecWriter(MsgSpecWriter):
    """msgspec's encoder, without a flush (a system call) after every RECORD: stdout is
    flushed with each other message, so a STATE never reaches the target before the records
    it covers, and at exit."""

    @override
    def write_message(self, message: singer.Message) -> None:
        guard = interrupt.guard  # a signal meanwhile waits until the line is out
        guard.writing = True
        try:
            sys.stdout.buffer.write(self.format_message(message))
            if not isinstance(message, singer.RecordMessage):
                sys.stdout.flush()
        finally:
            guard.writing = False
        if guard.pending is not None:
            interrupt.raise_pending()


def settings() -> list[th.Property]:
    return [
        th.Property(
            "sdk_conformance", th.BooleanType, default=False,
            description="Also run the Singer SDK's own record pruning and type conformance "
            "after the tap's (slower, same output: for diagnosing). The tap always makes "
            "each value fit its schema and drops deselected properties itself.",
        ),
    ]
