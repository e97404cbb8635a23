"""The sandbox's command hook: `tap-pipedrive sandbox`, imported only when it runs."""

from __future__ import annotations

from typing import Any

from tap_pipedrive.auth.hookspecs import hookimpl


@hookimpl
def register_commands(group: Any) -> None:
    group.add_lazy_command("sandbox", "tap_pipedrive_sandbox.cli:sandbox")
