"""The stream catalogue, one module per resource family."""

from tap_pipedrive.streams.core import STREAMS

__all__ = ["STREAMS"]
