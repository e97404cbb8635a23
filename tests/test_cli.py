"""The command line as users meet it: discovery, --about, and clear one-line errors."""

from __future__ import annotations

import json

from helpers import run_tap, sandbox_config

from tap_pipedrive.endpoints import ENDPOINTS

STREAMS = {entry.name for entry in ENDPOINTS}


def assert_one_line_error(run, *fragments: str) -> None:
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-pipedrive: error:"), run.stderr
    for fragment in fragments:
        assert fragment in last, last


def test_discover_works_without_credentials(tmp_path):
    run = run_tap(tmp_path, {}, "--discover")
    assert run.returncode == 0, run.stderr
    catalog = json.loads(run.stdout)
    assert {s["tap_stream_id"] for s in catalog["streams"]} == STREAMS
    deals = next(s for s in catalog["streams"] if s["tap_stream_id"] == "deals")
    assert deals["replication_key"] == "update_time"
    assert deals["schema"]["properties"]["update_time"]["format"] == "date-time"


def test_about_markdown_lists_settings(tmp_path):
    run = run_tap(tmp_path, None, "--about", "--format", "markdown")
    assert run.returncode == 0, run.stderr
    for setting in ("api_token", "company_domain", "api_url", "start_date", "auth_method"):
        assert f"| {setting} " in run.stdout


def test_invalid_token_is_one_line_error(shared_sandbox, tmp_path):
    config = sandbox_config(shared_sandbox.url, api_token="wrong-token-4f9a")
    run = run_tap(tmp_path, config)
    assert_one_line_error(run, "401")
    assert "wrong-token-4f9a" not in run.stderr + run.stdout


def test_missing_domain_and_url(tmp_path):
    run = run_tap(tmp_path, {"api_token": "x"})
    assert_one_line_error(run, "company_domain", "api_url")


def test_company_domain_given_as_url(tmp_path):
    run = run_tap(tmp_path, {"api_token": "x", "company_domain": "https://acme.pipedrive.com"})
    assert_one_line_error(run, "subdomain only")


def test_api_url_without_scheme(tmp_path):
    run = run_tap(tmp_path, {"api_token": "x", "api_url": "acme.pipedrive.com"})
    assert_one_line_error(run, "api_url")


def test_missing_token(shared_sandbox, tmp_path):
    run = run_tap(tmp_path, {"api_url": shared_sandbox.url})
    assert_one_line_error(run, "api_token")


def test_unknown_auth_method(tmp_path):
    run = run_tap(tmp_path, {"api_token": "x", "company_domain": "acme", "auth_method": "nope"})
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert "nope" in run.stderr


def test_malformed_config_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"api_token": ')
    run = run_tap(tmp_path, None, "--config", str(path))
    assert_one_line_error(run, "is not JSON")


def test_missing_config_file(tmp_path):
    run = run_tap(tmp_path, None, "--config", str(tmp_path / "absent.json"))
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert "absent.json" in run.stderr


def test_wrongly_typed_setting(tmp_path):
    run = run_tap(tmp_path, {"api_token": "x", "company_domain": "acme", "start_date": 12})
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert "start_date" in run.stderr


def test_impossible_start_date_is_refused_before_any_output(tmp_path):
    run = run_tap(tmp_path, {"api_token": "x", "api_url": "http://127.0.0.1:9",
                             "start_date": "2025-13-01T00:00:00Z"})
    assert_one_line_error(run, "start_date is not a real date-time")
    assert run.stdout == ""  # no SCHEMA, nothing


def test_misspelt_setting_is_named_with_the_closest_one(tmp_path):
    run = run_tap(tmp_path, {"api_token": "x", "api_url": "http://127.0.0.1:9",
                             "start_dat": "2025-01-01T00:00:00Z"})
    assert_one_line_error(run, "unknown setting start_dat; did you mean start_date?",
                          "unknown_settings=warn")
    assert run.stdout == ""
    found = run_tap(tmp_path, {"start_dat": "2025-01-01"}, "--discover")
    assert_one_line_error(found, "unknown setting start_dat; did you mean start_date?")


def test_unknown_settings_warn_runs_with_a_warning(shared_sandbox, tmp_path):
    config = sandbox_config(shared_sandbox.url, unknown_settings="warn", colour="blue")
    run = run_tap(tmp_path, config, "--discover")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "unknown setting colour (ignored: unknown_settings=warn)" in run.stderr


def test_sdk_and_plugin_settings_are_known(shared_sandbox, tmp_path):
    """The SDK's built-in settings and those an installed auth plugin adds are not unknown."""
    config = sandbox_config(
        shared_sandbox.url, stream_maps={}, stream_map_config={}, faker_config={},
        flattening_enabled=False, flattening_max_depth=1, flattening_separator="__",
        flattening_max_key_length=60, batch_config=None, progress_interval=10,
        unknown_settings="error", start_date="2024-02-29")
    run = run_tap(tmp_path, config, "--discover")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "unknown setting" not in run.stderr
    about = json.loads(run_tap(tmp_path, None, "--about", "--format", "json").stdout)
    if "token_command" in about["settings"]["properties"]:  # the example plugin, installed
        plugin = {"auth_method": "command", "token_command": "true", "api_url": "http://x"}
        found = run_tap(tmp_path, plugin, "--discover")
        assert found.returncode == 0 and "unknown setting" not in found.stderr, found.stderr
