"""The stream catalogue: one class per entry of the endpoint table (endpoints.py), built by
streams/factory.py; the streams with behaviour of their own add a class (account, content,
leads, fields, children), and streams/base.py holds how streams read beyond one list."""

from __future__ import annotations

from singer_sdk import Stream

from tap_pipedrive.endpoints import ENDPOINTS
from tap_pipedrive.streams import account, children, content, fields, leads
from tap_pipedrive.streams.factory import stream_classes

# The classes of the streams with behaviour of their own, each naming its entry.
BEHAVIOURS: list[type[Stream]] = [
    *leads.BEHAVIOURS, *content.BEHAVIOURS, *account.BEHAVIOURS, *fields.BEHAVIOURS,
    *children.BEHAVIOURS,
]
STREAMS: list[type[Stream]] = stream_classes(ENDPOINTS, BEHAVIOURS)

__all__ = ["BEHAVIOURS", "STREAMS"]
