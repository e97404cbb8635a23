"""The command line's group: the Singer options, plus the subcommands plugins add.

The SDK's `Tap.cli` is a single command; Meltano runs `tap-pipedrive --config C auth login`,
so the Singer options must parse before a subcommand. A click Group that is also the SDK's
SingerCommand keeps every Singer behaviour and adds subcommands. main.py builds it; this
module never imports the tap (the tap's class is handed in).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from typing import Any

import click
import requests
import simplejson
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.plugin_base import SingerCommand
from typing_extensions import override

from tap_pipedrive import redact
from tap_pipedrive.client import RESUME
from tap_pipedrive.errors import ConfigError, TapPipedriveError
from tap_pipedrive.interrupt import Interrupted
from tap_pipedrive.ratelimit import budget_stop

# Errors a user can act on: one line on stderr and exit 1 (75 when the run stopped at a
# budget and only needs running again later), never a traceback.
USER_ERRORS = (TapPipedriveError, FatalAPIError, RetriableAPIError, json.JSONDecodeError,
               simplejson.JSONDecodeError, FileNotFoundError, PermissionError,
               IsADirectoryError, UnicodeDecodeError, requests.RequestException)


def describe(exc: BaseException) -> str:
    if isinstance(exc, (json.JSONDecodeError, simplejson.JSONDecodeError)):
        return f"a --config/--state/--catalog file is not JSON ({exc.msg}, line {exc.lineno})"
    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename}" if exc.filename else str(exc)
    if isinstance(exc, (PermissionError, IsADirectoryError)):
        return f"cannot read {exc.filename}: {exc.strerror}"
    if isinstance(exc, UnicodeDecodeError):
        return "a --config/--state/--catalog file is not UTF-8 text"
    if isinstance(exc, RetriableAPIError):
        return f"{exc.args[0]} (gave up after retrying; {RESUME})"
    if isinstance(exc, requests.RequestException):
        request = getattr(exc, "request", None)
        where = request.url.split("?")[0] if request is not None and request.url else "the API"
        return f"could not reach {where}: {type(exc).__name__}"
    return str(exc.args[0]) if exc.args else type(exc).__name__


def _objects_only(callback: Any) -> Any:
    """The SDK merges --config files with `|=`: a file holding a list or a string fails there
    with a bare TypeError/ValueError; say which input is wrong instead."""

    def checked(*args: Any) -> Any:
        try:
            return callback(*args)
        except (json.JSONDecodeError, simplejson.JSONDecodeError):
            raise
        except (TypeError, ValueError):
            raise ConfigError("a --config file must hold a JSON object of settings") from None

    return checked


EXIT_CLOSED_OUTPUT = 1  # an error: the target stopped reading (its own log says why)


def _closed_output(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, BrokenPipeError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class SingerGroup(click.Group, SingerCommand):
    tap_class: type  # the tap whose Singer options these are (subcommands build it: auth/cli.py)
    lazy_commands: dict[str, str]

    def add_lazy_command(self, name: str, target: str) -> None:
        """A subcommand whose module ("package.module:attribute") is imported only when the
        subcommand is looked up (it runs, or --help lists it): a sync never imports it."""
        self.lazy_commands[name] = target

    @override
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    @override
    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            module, _, attribute = self.lazy_commands[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    @override
    def main(self, *args: Any, **kwargs: Any) -> Any:
        redact.install()  # before anything logs; the secrets are added once read
        try:
            return super().main(*args, **kwargs)
        except Interrupted as exc:  # SIGINT/SIGTERM: the state reached is written (tap.py)
            click.echo(f"tap-pipedrive: error: {exc.describe()}", err=True)
            sys.exit(exc.exit_code)
        except USER_ERRORS as exc:
            # A budget stop wrapped by another error (e.g. while reading field metadata) is
            # still a budget stop: its own words and exit code.
            shown = budget_stop(exc) or exc
            click.echo(f"tap-pipedrive: error: {redact.mask(describe(shown))}", err=True)
            sys.exit(getattr(shown, "exit_code", 1))

    @override
    def invoke(self, ctx: click.Context) -> Any:
        # Here, not in main(): click's main() turns a closed stdout into a silent exit 1.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # Ctrl-C before the tap set its handler (tap.py)
            raise Interrupted(signal.SIGINT) from None
        except Exception as exc:
            if not _closed_output(exc):
                raise
        # `| head`, a target that crashed: nothing more can reach stdout; point it at
        # /dev/null so that the interpreter's last flush does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        click.echo("tap-pipedrive: error: the output was closed (the target stopped reading "
                   "Singer messages: see its log); run again with the last STATE it saved to "
                   "resume", err=True)
        sys.exit(EXIT_CLOSED_OUTPUT)


def build_group(base: click.Command, tap_class: type, logger: Any) -> SingerGroup:
    """The group of `base` (the SDK's Singer command of `tap_class`), without subcommands:
    main.py has plugins add them."""

    @click.pass_context
    def run(ctx: click.Context, **params: Any) -> None:
        if ctx.invoked_subcommand is None:
            assert base.callback is not None  # the SDK's command has one
            base.callback(**params)  # the plain Singer run: sync, or --about/--discover

    for param in base.params:
        if param.name == "config" and param.callback is not None:
            param.callback = _objects_only(param.callback)
    group = SingerGroup(
        name=base.name,
        params=base.params,
        callback=run,
        invoke_without_command=True,
        help=base.help,
        context_settings=base.context_settings,
        logger=logger,
    )
    group.tap_class = tap_class
    group.lazy_commands = {}
    return group
