"""The `auth` command group; methods add their commands through `register_auth_commands`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import click

from tap_pipedrive.auth.base import Connection
from tap_pipedrive.auth.hookspecs import hookimpl
from tap_pipedrive.auth.plugins import plugin_manager


class ConfiguredTap(Protocol):
    """What `auth` commands use of the tap (the command line hands its class over)."""

    @property
    def config(self) -> Mapping[str, Any]: ...

    @property
    def connection(self) -> Connection: ...

    @property
    def api_base(self) -> str: ...


def root_tap(ctx: click.Context) -> ConfiguredTap:
    """The tap as configured on the top-level command (`tap-pipedrive --config C auth ...`).

    Without `--config`, settings come from `TAP_PIPEDRIVE_*` variables: that is how Meltano
    passes them to plugin `commands:`. The tap's class is the root command's `tap_class`
    (cli.build_group), so that this lower layer never imports the tap.
    """
    root = ctx.find_root()
    given = root.params.get("config")
    config = given.config if given is not None else {}
    parse_env = given is None or given.parse_env or not config
    # No mapper: it needs the catalog, whose custom fields need an API call, and therefore a
    # connection; `auth` commands decide themselves when to connect.
    tap_class: Any = getattr(root.command, "tap_class")  # noqa: B009 - set by build_group
    tap: ConfiguredTap = tap_class(config=config, parse_env_config=parse_env,
                                   validate_config=False, setup_mapper=False)
    return tap


def auth_group() -> click.Group:
    @click.group()
    def auth() -> None:
        """Authenticate with Pipedrive: OAuth exchange steps, status and connection test."""

    plugin_manager().hook.register_auth_commands(group=auth)
    return auth


@hookimpl
def register_commands(group: click.Group) -> None:
    group.add_command(auth_group())
