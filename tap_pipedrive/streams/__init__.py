"""The stream catalogue, one module per resource family (README, section Streams)."""

from __future__ import annotations

from singer_sdk import Stream

from tap_pipedrive.streams import account, children, content, core, fields, leads, projects

STREAMS: list[type[Stream]] = [
    *core.STREAMS,
    *leads.STREAMS,
    *content.STREAMS,
    *projects.STREAMS,
    *account.STREAMS,
    *fields.STREAMS,
    *children.STREAMS,
]

__all__ = ["STREAMS"]
