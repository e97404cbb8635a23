"""A Pipedrive-compatible API server with generated data, for trying the tap and for tests.

    from tap_pipedrive.sandbox import Sandbox

    with Sandbox(records=1000, seed=1) as sb:
        sb.url                       # http://127.0.0.1:<port>
        sb.data.records("deals")     # ground truth
        sb.data.touch("deals", ids=[1, 2])
        sb.requests                  # what the client sent

Standard library only. See server.py for the HTTP surface and admin endpoints.
"""

from __future__ import annotations

from .api import ROUTES, Route
from .data import SandboxData
from .server import Sandbox, serve

__all__ = ["ROUTES", "Route", "Sandbox", "SandboxData", "serve"]
