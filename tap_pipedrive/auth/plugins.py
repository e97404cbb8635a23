"""The plugin manager: built-in methods and commands by import, third-party ones (and the
sandbox distribution's command) by entry point."""

from __future__ import annotations

import functools
import importlib
import os

import pluggy

from tap_pipedrive.auth import hookspecs
from tap_pipedrive.auth.registry import AuthRegistry

ENTRY_POINT_GROUP = "tap_pipedrive.auth"

# Registered exactly like third-party plugins, by module, through the same hooks.
BUILTIN_PLUGINS = (
    "tap_pipedrive.auth.basic",
    "tap_pipedrive.auth.oauth_desktop",
    "tap_pipedrive.auth.oauth_web",
    "tap_pipedrive.auth.oauth_headless",
    "tap_pipedrive.auth.commands",
    "tap_pipedrive.auth.cli",  # the `auth` group (register_commands)
    "tap_pipedrive.capture_cli",  # the `capture` command (register_commands)
)

# Set to "0" to skip entry-point plugins (e.g. to rule one out while troubleshooting).
LOAD_ENV = "TAP_PIPEDRIVE_LOAD_PLUGINS"


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    if os.environ.get(LOAD_ENV, "1") != "0":
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()  # a misspelled hook name in any plugin fails loudly here
    return pm


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    return _new_manager()


def build_registry(pm: pluggy.PluginManager | None = None) -> AuthRegistry:
    registry = AuthRegistry()
    (pm or plugin_manager()).hook.register_auth_methods(register=registry.register)
    return registry


@functools.cache
def registry() -> AuthRegistry:
    return build_registry()
