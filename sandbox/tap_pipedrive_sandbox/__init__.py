"""A Pipedrive-compatible API server with generated data, for trying the tap and for tests.

    from tap_pipedrive_sandbox import Sandbox

    with Sandbox(records=1000, seed=1) as sb:
        sb.url                       # http://127.0.0.1:<port>
        sb.data.records("deals")     # ground truth
        sb.data.touch("deals", ids=[1, 2])
        sb.requests                  # what the client sent

Standard library only. See server.py for the HTTP surface and admin endpoints.

The names below are imported on first use: the tap's plugin manager imports this package
(for plugin.py, the command hook) in every run, and a sync must not load the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import ROUTES, Route
    from .data import SandboxData
    from .server import Sandbox, serve

_HOMES = {"ROUTES": "api", "Route": "api", "SandboxData": "data", "Sandbox": "server",
          "serve": "server"}
__all__ = ["ROUTES", "Route", "Sandbox", "SandboxData", "serve"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
