"""The stream catalogue: one class per entry of the endpoint table (endpoints.py), built by
streams/factory.py; the streams with behaviour of their own add a class (account, content,
leads, fields, children), and streams/base.py holds how streams read beyond one list."""

from __future__ import annotations

from singer_sdk import Stream

from tap_pipedrive.endpoints import ENDPOINTS
from tap_pipedrive.streams import account, children, content, fields, leads
from tap_pipedrive.streams.factory import stream_classes

STREAMS: list[type[Stream]] = stream_classes(ENDPOINTS, [
    *leads.BEHAVIOURS, *content.BEHAVIOURS, *account.BEHAVIOURS, *fields.BEHAVIOURS,
    *children.BEHAVIOURS,
])

__all__ = ["STREAMS"]
