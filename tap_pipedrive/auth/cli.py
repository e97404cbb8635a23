"""The `auth` command group; methods add their commands through `register_auth_commands`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from tap_pipedrive.auth.plugins import plugin_manager

if TYPE_CHECKING:
    from tap_pipedrive.tap import TapPipedrive


def root_tap(ctx: click.Context) -> TapPipedrive:
    """The tap as configured on the top-level command (`tap-pipedrive --config C auth ...`).

    Without `--config`, settings come from `TAP_PIPEDRIVE_*` variables: that is how Meltano
    passes them to plugin `commands:`.
    """
    from tap_pipedrive.tap import TapPipedrive

    given = ctx.find_root().params.get("config")
    config = given.config if given is not None else {}
    parse_env = given is None or given.parse_env or not config
    # No mapper: it needs the catalog, whose custom fields need an API call, and therefore a
    # connection; `auth` commands decide themselves when to connect.
    return TapPipedrive(config=config, parse_env_config=parse_env, validate_config=False,
                        setup_mapper=False)


@click.group()
def auth() -> None:
    """Authenticate with Pipedrive: OAuth exchange steps, status and connection test."""


plugin_manager().hook.register_auth_commands(group=auth)
