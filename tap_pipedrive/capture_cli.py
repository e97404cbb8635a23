"""The `capture` command: a thin layer over capture.py (imported when the command runs, so
that a sync, which builds the same command line, does not import it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tap_pipedrive.auth.hookspecs import hookimpl
from tap_pipedrive.capturefile import DEFAULT_PAGES, DEFAULT_PARENTS
from tap_pipedrive.errors import ConfigError


def _read_settings(ctx: click.Context, files: tuple[str, ...]) -> tuple[dict[str, Any], bool]:
    """Settings from this command's --config files, else the top-level --config; ENV (or no
    file at all) adds TAP_PIPEDRIVE_* variables, as a sync does."""
    if files:
        config: dict[str, Any] = {}
        for path in files:
            if path == "ENV":
                continue
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            if not isinstance(doc, dict):
                raise ConfigError("a --config file must hold a JSON object of settings")
            config.update(doc)
        return config, "ENV" in files or not config
    given = ctx.find_root().params.get("config")
    config = dict(given.config) if given is not None else {}
    return config, given is None or given.parse_env or not config


@click.command("capture")
@click.option("--config", "configs", multiple=True, metavar="FILE",
              help="Settings file, as for a sync (or ENV); default: the top-level --config.")
@click.option("--catalog", type=click.Path(exists=True, dir_okay=False),
              help="Catalog whose selected streams are captured; default: the default "
              "selection.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="New (or empty) directory for the capture.")
@click.option("--pages", default=DEFAULT_PAGES, show_default=True, type=click.IntRange(1, 20),
              help="Pages kept of each stream (and of each parent's child list).")
@click.option("--parents", default=DEFAULT_PARENTS, show_default=True,
              type=click.IntRange(0), help="Child streams are read for this many parents "
              "(a batched child endpoint: this many calls of up to 100 parents).")
@click.pass_context
def capture_command(ctx: click.Context, configs: tuple[str, ...], catalog: str | None,
                    out: Path, pages: int, parents: int) -> None:
    """Save the API's answers to a sync (a page or two per stream), personal data and
    secrets scrubbed: to attach to a bug report, or to replay with `sandbox --replay`."""
    config, parse_env = _read_settings(ctx, configs)
    doc = None
    if catalog is not None:
        doc = json.loads(Path(catalog).read_text(encoding="utf-8"))
    elif (given := ctx.find_root().params.get("catalog")) is not None:
        doc = json.load(given)
    from tap_pipedrive.capture import capture

    outcome = capture(config, out, catalog=doc, pages=pages, parents=parents,
                      parse_env_config=parse_env)
    click.echo(f"Captured {outcome.answers} answers of {outcome.streams} streams into "
               f"{outcome.out}. Check it before sharing; replay it with: tap-pipedrive "
               f"sandbox --replay {outcome.out}", err=True)



@hookimpl
def register_commands(group: click.Group) -> None:
    group.add_command(capture_command)
