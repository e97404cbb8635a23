"""The `tap-pipedrive` command: the entry point, which imports the tap (never the reverse).

The command line is built here, when it runs: the SDK's Singer command of the tap, as a
group (cli.py), to which every plugin adds its commands through the `register_commands` hook
(built in: `auth`, `capture`; the sandbox distribution: `sandbox`).
"""

from __future__ import annotations

from tap_pipedrive.auth.plugins import plugin_manager
from tap_pipedrive.cli import SingerGroup, build_group
from tap_pipedrive.performance import steady_malloc
from tap_pipedrive.tap import TapPipedrive


def build_cli() -> SingerGroup:
    base = TapPipedrive.cli  # the SDK's command (it also sets up console logging)
    group = build_group(base, TapPipedrive, TapPipedrive.logger)
    plugin_manager().hook.register_commands(group=group)
    return group


def main() -> None:
    steady_malloc()  # before any thread
    build_cli().main()
