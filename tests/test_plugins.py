"""The plugin architecture with throw-away plugins: registration, duplicates, misspelled hooks,
commands, and the switch that turns entry-point plugins off."""

from __future__ import annotations

import sys
import types

import click
import pluggy
import pytest
import requests

from tap_pipedrive.auth import AuthMethod, Connection, hookimpl
from tap_pipedrive.auth import plugins as plugin_module
from tap_pipedrive.auth.plugins import build_registry


class StaticToken(AuthMethod):
    name = "static"

    def connect(self, config):
        return Connection(requests.auth.HTTPBasicAuth("u", "p"), api_base="https://x.example")


class StaticPlugin:
    @hookimpl
    def register_auth_methods(self, register):
        register(StaticToken())

    @hookimpl
    def register_auth_commands(self, group):
        @group.command()
        def hello():
            click.echo("hello from a plugin")


@pytest.fixture
def pm():
    manager = plugin_module._new_manager()
    manager.register(StaticPlugin(), name="undo-static")
    return manager


def test_builtins_and_a_plugin_share_one_registry(pm):
    registry = build_registry(pm)
    names = set(registry.names())
    assert {"basic", "oauth-desktop", "oauth-headless", "oauth-web", "static"} <= names
    assert registry.get("static").connect({}).api_base == "https://x.example"


def test_plugin_adds_an_auth_subcommand(pm):
    group = click.Group("auth")
    pm.hook.register_auth_commands(group=group)
    assert {"url", "exchange", "refresh", "login", "status", "test", "hello"} <= set(group.commands)


def test_duplicate_name_is_refused(pm):
    class Again:
        @hookimpl
        def register_auth_methods(self, register):
            register(StaticToken())

    pm.register(Again(), name="undo-again")
    with pytest.raises(ValueError, match="'static' is registered twice"):
        build_registry(pm)


def test_misspelled_hook_fails_loudly(monkeypatch):
    module = types.ModuleType("typo_plugin")

    @hookimpl
    def register_auth_method(register):  # missing "s"
        pass

    module.register_auth_method = register_auth_method
    monkeypatch.setitem(sys.modules, "typo_plugin", module)
    monkeypatch.setattr(plugin_module, "BUILTIN_PLUGINS",
                        (*plugin_module.BUILTIN_PLUGINS, "typo_plugin"))
    with pytest.raises(pluggy.PluginValidationError, match="register_auth_method"):
        plugin_module._new_manager()


def test_entry_points_can_be_switched_off(monkeypatch):
    calls = []
    monkeypatch.setattr(pluggy.PluginManager, "load_setuptools_entrypoints",
                        lambda self, group: calls.append(group))
    monkeypatch.setenv(plugin_module.LOAD_ENV, "0")
    plugin_module._new_manager()
    assert calls == []
    monkeypatch.delenv(plugin_module.LOAD_ENV)
    plugin_module._new_manager()
    assert calls == ["tap_pipedrive.auth"]
