"""The hooks a plugin implements to add an authentication method or commands.

A third-party distribution declares an entry point in the group `tap_pipedrive.auth`
pointing at a module (or object) with functions decorated by `hookimpl`:

    from tap_pipedrive.auth import AuthMethod, Connection, hookimpl

    @hookimpl
    def register_auth_methods(register):
        register(MyMethod())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from tap_pipedrive.auth.base import AuthMethod

PROJECT = "tap_pipedrive"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_auth_methods(register: Callable[[AuthMethod], None]) -> None:
    """Call `register(method)` once for each authentication method the plugin provides."""


@hookspec
def register_auth_commands(group: click.Group) -> None:
    """Add click commands to the `tap-pipedrive auth` group."""


@hookspec
def register_commands(group: click.Group) -> None:
    """Add click commands to `tap-pipedrive` itself; called when the command line is built
    (tap_pipedrive/main.py), never at import. `group.add_lazy_command(name, "module:attr")`
    names a command whose module is imported only when that command runs."""
