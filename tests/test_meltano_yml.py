"""meltano.yml describes the extractor as the tap really is: every setting of `--about` with
label, description, kind, secrecy, choices and default; the tap's capabilities; settings groups
made of real settings; auth commands that exist; and `select:` equal to the tap's own default
selection. Fast and offline, apart from one discovery against the sandbox."""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from helpers import TAP, run_tap, sandbox_config
from ruamel.yaml import YAML

from tap_pipedrive.auth.oauth_method import OAuthMethod
from tap_pipedrive.auth.plugins import LOAD_ENV, registry
from tap_pipedrive.endpoints import ENDPOINTS
from tap_pipedrive.main import build_cli
from tap_pipedrive.tap import TapPipedrive

ROOT = Path(__file__).resolve().parent.parent
MELTANO = Path(sys.executable).with_name("meltano")

# JSON schema type of a setting -> the Meltano `kind` that edits it.
KINDS = {"string": "string", "integer": "integer", "number": "decimal", "boolean": "boolean",
         "object": "object", "array": "array"}


@cache
def about(plugins: bool) -> dict[str, Any]:
    """`tap-pipedrive --about`, with or without third-party auth plugins (entry points)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_PIPEDRIVE_")}
    if not plugins:
        env[LOAD_ENV] = "0"
    out = subprocess.run([TAP, "--about", "--format", "json"], capture_output=True, text=True,
                         check=True, env=env).stdout
    return json.loads(out)


def tap_settings() -> dict[str, dict]:
    """The settings of the tap Meltano installs: `pip_url: -e .` is the tap alone."""
    return about(plugins=False)["settings"]["properties"]


@cache
def extractor() -> dict[str, Any]:
    # YAML 1.2, as Meltano reads it (ruamel): its style writes `value: OFF`, a string there
    # and a boolean to a YAML 1.1 reader.
    project = YAML(typ="safe").load((ROOT / "meltano.yml").read_text())
    (plugin,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-pipedrive"]
    return plugin


def meltano_settings() -> dict[str, dict]:
    return {s["name"]: s for s in extractor()["settings"]}


def expected_kind(prop: dict) -> str:
    if prop.get("secret"):
        return "string"  # and `sensitive: true`: Meltano 4 rewrites `kind: password` so
    if "enum" in prop:
        return "options"
    if prop.get("format") == "date-time":
        return "date_iso8601"
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    (kind,) = [t for t in types if t != "null"]
    return KINDS[kind]


def words(text: str) -> str:
    return " ".join(text.split())


def test_every_setting_is_described():
    described = meltano_settings()
    for name, prop in tap_settings().items():
        assert name in described, f"meltano.yml lacks the setting {name}"
        setting = described[name]
        assert setting.get("label"), name
        assert words(setting.get("description") or "") == words(prop["description"]), name
        assert setting.get("kind") == expected_kind(prop), name
    assert set(described) <= set(tap_settings()), "meltano.yml names settings the tap lacks"


def test_plugin_settings_are_left_out_on_purpose():
    """The example auth plugin (plugins/tap-pipedrive-auth-command) is installed in the
    development venv, so `--about` there lists its settings and the `command` method. Meltano
    installs the extractor from `pip_url: -e .`, the tap alone: there those settings do not
    exist, and Meltano would accept a `command` auth_method the installed tap refuses. So
    meltano.yml leaves out exactly what entry-point plugins add."""
    assert extractor()["pip_url"] == "-e ."
    with_plugins = about(plugins=True)["settings"]["properties"]
    from_plugins = set(with_plugins) - set(tap_settings())
    assert not from_plugins & set(meltano_settings())
    assert set(with_plugins) >= set(tap_settings())
    builtin_methods = set(tap_settings()["auth_method"]["enum"])
    assert builtin_methods == {"basic", "oauth-desktop", "oauth-headless", "oauth-web"}


def test_secrets_are_sensitive():
    for name, prop in tap_settings().items():
        setting = meltano_settings()[name]
        secret = bool(prop.get("secret"))
        assert setting["kind"] != "password", name  # Meltano 4 writes `string` + sensitive
        assert bool(setting.get("sensitive")) == secret, name


def test_options_are_exactly_the_accepted_values():
    properties = tap_settings()
    options = {name: s for name, s in meltano_settings().items() if s["kind"] == "options"}
    assert set(options) == {name for name, p in properties.items() if "enum" in p}
    assert {"auth_method", "initiate_oauth"} <= set(options)
    for name, setting in options.items():
        values = [o["value"] for o in setting["options"]]
        assert sorted(values) == sorted(properties[name]["enum"]), name
        assert all(o.get("label") for o in setting["options"]), name
    # What the tap accepts, from its own code rather than its schema:
    assert [o["value"] for o in options["initiate_oauth"]["options"]] == [
        "OFF", "GETANDREFRESH", "REFRESH"]
    builtin = {m for m in registry().names()
               if type(registry().get(m)).__module__.startswith("tap_pipedrive.")}
    assert {o["value"] for o in options["auth_method"]["options"]} == builtin


def test_defaults_are_the_taps():
    for name, prop in tap_settings().items():
        setting = meltano_settings()[name]
        if "default" in prop:
            assert setting.get("value") == prop["default"], name
        else:  # a value here would be sent to the tap as if the user had set it
            assert "value" not in setting, name


def test_capabilities_are_the_taps():
    assert sorted(extractor()["capabilities"]) == sorted(about(plugins=False)["capabilities"])


def test_settings_groups_name_real_settings_and_suffice():
    groups = extractor()["settings_group_validation"]
    names = set(meltano_settings())
    oauth_methods = [registry().get(m) for m in tap_settings()["auth_method"]["enum"]
                     if isinstance(registry().get(m), OAuthMethod)]
    assert len(oauth_methods) == 3
    for group in groups:
        assert set(group) <= names, group
        config = {name: "http://127.0.0.1:1" if name == "api_url" else "x" for name in group}
        if "auth_method" not in group:  # basic, the default: the tap starts with these alone
            config.pop("auth_method", None)
            tap = TapPipedrive(config=config, parse_env_config=False, setup_mapper=False)
            assert tap.api_base and tap.connection.auth
        else:  # an OAuth method: the app must be there (each method asks for it first)
            for method in oauth_methods:
                assert method.app(config).client_id == "x", group
    covered = {"basic"} if any("auth_method" not in g for g in groups) else set()
    covered |= {"oauth"} if any("oauth_client_secret" in g for g in groups) else set()
    assert covered == {"basic", "oauth"}
    assert any("oauth_verifier" in g for g in groups)  # oauth-headless
    assert any("oauth_access_token" in g for g in groups)  # oauth-web


def test_commands_are_real_auth_subcommands():
    commands = extractor()["commands"]
    assert "auth-status" in commands and "login" in commands
    for name, command in commands.items():
        group, sub = command["args"].split()
        assert group == "auth" and sub in build_cli().commands["auth"].commands, name
        assert command.get("description"), name


@pytest.mark.skipif(not MELTANO.exists(), reason="meltano is not installed")
def test_meltano_reads_the_definition(tmp_path):
    """Meltano itself parses the plugin: its settings, kinds and groups (no install needed)."""
    shutil.copy(ROOT / "meltano.yml", tmp_path / "meltano.yml")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TAP_PIPEDRIVE_", "MELTANO_"))}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    listed = subprocess.run([str(MELTANO), "config", "list", "tap-pipedrive", "--all"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr[-3000:]
    for group in extractor()["settings_group_validation"]:
        assert ", ".join(sorted(group)) in listed.stdout
    for name in tap_settings():
        assert f"[env: TAP_PIPEDRIVE_{name.upper()}]" in listed.stdout, name


@pytest.mark.skipif(not MELTANO.exists(), reason="meltano is not installed")
def test_meltano_config_set_changes_only_the_value(tmp_path):
    """meltano.yml is in Meltano's own style: `meltano config set` (as the README says)
    adds the value and changes nothing else; unset gives back the file as it was."""
    original = (ROOT / "meltano.yml").read_text()
    (tmp_path / "meltano.yml").write_text(original)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TAP_PIPEDRIVE_", "MELTANO_"))}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"

    def meltano(*args: str) -> str:
        done = subprocess.run([str(MELTANO), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        return (tmp_path / "meltano.yml").read_text()

    changed = meltano("config", "set", "tap-pipedrive", "start_date", "2024-01-01")
    diff = [line for line in difflib.unified_diff(original.splitlines(), changed.splitlines(),
                                                  lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert diff == ["+    config:", "+      start_date: '2024-01-01'"], diff
    assert meltano("config", "unset", "tap-pipedrive", "start_date") == original
    assert meltano("config", "set", "tap-pipedrive", "api_token", "t0ken") == original  # .env
    assert "t0ken" in (tmp_path / ".env").read_text()


def test_select_is_the_endpoint_tables_default_selection():
    """`select:` lists, in name order, the streams of the endpoint table (endpoints.py)
    selected by default: a new stream's entry needs its line here."""
    wanted = [f"{entry.name}.*" for entry in sorted(ENDPOINTS, key=lambda e: e.name)
              if entry.selected]
    assert extractor()["select"] == wanted, "meltano.yml `select:` should be:\n" + "\n".join(
        difflib.unified_diff(extractor()["select"], wanted, "meltano.yml", "endpoints.py",
                             lineterm=""))


def test_select_is_the_taps_default_selection(shared_sandbox, tmp_path):
    """Meltano selects every stream unless `select:` says otherwise; meltano.yml selects what
    the tap's catalog marks `selected-by-default`, no more, no less."""
    discovered = run_tap(tmp_path, sandbox_config(shared_sandbox.url), "--discover")
    assert discovered.returncode == 0, discovered.stderr[-2000:]
    defaults = set()
    for stream in json.loads(discovered.stdout)["streams"]:
        (top,) = [m["metadata"] for m in stream["metadata"] if m["breadcrumb"] == []]
        if top.get("selected-by-default"):
            defaults.add(stream["tap_stream_id"])
    patterns = extractor()["select"]
    assert all(p.endswith(".*") and p.count(".") == 1 for p in patterns), patterns
    selected = [p.removesuffix(".*") for p in patterns]
    assert len(selected) == len(set(selected))
    assert set(selected) == defaults
    assert {"deals", "persons", "custom_field_mappings"} <= defaults
    assert "deal_changelog" not in defaults and "roles" not in defaults


def test_readme_maps_meltanos_group_numbers_to_auth_methods():
    """Meltano numbers settings groups (they cannot be named): the README's table says which
    auth method each number is, with the group's settings in meltano.yml's order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("**Settings groups.**", 1)[1].split("\n- **", 1)[0]
    rows = [line.split("|")[1:4] for line in section.splitlines()
            if line.strip().startswith("|") and line.split("|")[1].strip().isdigit()]
    table = {int(n): ([s.strip() for s in settings.split(",")], method.strip())
             for n, method, settings in rows}
    groups = extractor()["settings_group_validation"]
    assert sorted(table) == list(range(1, len(groups) + 1))
    methods = set(tap_settings()["auth_method"]["enum"])
    for number, group in enumerate(groups, start=1):
        settings, method = table[number]
        assert settings == list(group), number
        assert method.split()[0] in methods, method
        assert ("auth_method" in group) == (method.split()[0] != "basic"), number
