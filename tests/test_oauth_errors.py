"""Every OAuth failure the issue lists ends in one line that says what to do, a non-zero exit,
and no secret. Browser-dependent cases run the installed command (BROWSER is read once per
process); the others run the click command in process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from helpers import run_tap
from oauth_helpers import (
    authorize_in_browser,
    browser_env,
    free_port,
    issued_secrets,
    no_browser_env,
    oauth_config,
    start_sandbox,
    write_config,
)

from tap_pipedrive.auth.oauth import OAuthApp, OAuthClient
from tap_pipedrive.main import build_cli


def invoke(tmp_path, config, *args):
    """`tap-pipedrive --config C ARGS` in process."""
    config_file = str(write_config(tmp_path, config))
    result = CliRunner().invoke(build_cli(), ["--config", config_file, *args])
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(sb, code, stdout, stderr, *fragments) -> None:
    assert code != 0
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("tap-pipedrive: error:"), stderr
    for fragment in fragments:
        assert fragment in last, last
    assert not [s for s in issued_secrets(sb) if s in stdout + stderr], "secret in output"


@pytest.fixture
def sb(make_sandbox):
    return start_sandbox(make_sandbox)


def code_for(sb, config) -> str:
    app = OAuthApp(sb.client_id, sb.client_secret, config["callback_url"], sb.url)
    return authorize_in_browser(OAuthClient(app).authorization_url("s"))


# -- the authorization code ---------------------------------------------------------------


def test_expired_code(sb, tmp_path):
    config = oauth_config(sb, tmp_path, auth_method="oauth-web")
    code = code_for(sb, config)
    requests.post(f"{sb.url}/_sandbox/oauth/expire-codes", timeout=10)
    result = invoke(tmp_path, config, "auth", "exchange", "--verifier", code)
    assert_one_line_error(sb, *result, "expired", "5 minutes", "auth url")


def test_reused_code(sb, tmp_path):
    config = oauth_config(sb, tmp_path, auth_method="oauth-web")
    code = code_for(sb, config)
    first = invoke(tmp_path, config, "auth", "exchange", "--verifier", code)
    assert first[0] == 0, first[2]
    result = invoke(tmp_path, config, "auth", "exchange", "--verifier", code)
    assert_one_line_error(sb, *result, "already used")


def test_wrong_client_secret(sb, tmp_path):
    config = oauth_config(sb, tmp_path, auth_method="oauth-web")
    code = code_for(sb, config)
    config["oauth_client_secret"] = "cs-wrong-LEAKCHECK-99"
    code_, out, err = invoke(tmp_path, config, "auth", "exchange", "--verifier", code)
    assert_one_line_error(sb, code_, out, err, "oauth_client_id and oauth_client_secret")
    assert "cs-wrong-LEAKCHECK-99" not in out + err


def test_callback_url_not_registered(sb, tmp_path):
    config = oauth_config(sb, tmp_path, auth_method="oauth-web")
    code = code_for(sb, config)
    config["callback_url"] = "http://127.0.0.1:1/other"
    result = invoke(tmp_path, config, "auth", "exchange", "--verifier", code)
    assert_one_line_error(sb, *result, "callback_url")


def test_denied_consent_pasted_as_verifier(sb, tmp_path):
    config = oauth_config(sb, tmp_path, auth_method="oauth-web")
    url = invoke(tmp_path, config, "auth", "url", "--state", "s")  # the state must be ours
    assert url[0] == 0, url[2]
    denied = f"{config['callback_url']}?error=user_denied&state=s"
    result = invoke(tmp_path, config, "auth", "exchange", "--verifier", denied)
    assert_one_line_error(sb, *result, "denied")


# -- refresh ------------------------------------------------------------------------------


def test_refresh_token_expired_or_revoked(sb, tmp_path):
    config = oauth_config(sb, tmp_path, auth_method="oauth-web")
    exchanged = invoke(tmp_path, config, "auth", "exchange", "--verifier", code_for(sb, config))
    refresh_token = json.loads(exchanged[1])["refresh_token"]
    sb.revoke_refresh_tokens()
    result = invoke(tmp_path, config, "auth", "refresh", "--refresh-token", refresh_token)
    assert_one_line_error(sb, *result, "60 days", "authorize again")


def test_refresh_without_any_refresh_token(sb, tmp_path):
    config = oauth_config(sb, tmp_path, auth_method="oauth-web")
    result = invoke(tmp_path, config, "auth", "refresh")
    assert_one_line_error(sb, *result, "--refresh-token")


def test_dead_refresh_token_in_a_sync(sb, tmp_path):
    config = oauth_config(sb, tmp_path, auth_method="oauth-headless")
    config["oauth_verifier"] = code_for(sb, config)
    assert invoke(tmp_path, config, "auth", "test")[0] == 0
    sb.expire_access_tokens()
    sb.revoke_refresh_tokens()
    run = run_tap(tmp_path, config)
    assert_one_line_error(sb, run.returncode, run.stdout, run.stderr, "authorize again")


def test_expired_token_with_initiate_off(sb, tmp_path):
    config = oauth_config(sb, tmp_path, auth_method="oauth-web")
    tokens = json.loads(invoke(tmp_path, config, "auth", "exchange", "--verifier",
                               code_for(sb, config))[1])
    sb.expire_access_tokens()
    config = {**config, "oauth_access_token": tokens["access_token"], "api_url": sb.url,
              "oauth_refresh_token": tokens["refresh_token"], "initiate_oauth": "OFF"}
    del config["oauth_settings_location"]
    run = run_tap(tmp_path, config)
    assert_one_line_error(sb, run.returncode, run.stdout, run.stderr, "initiate_oauth=REFRESH")


# -- the desktop login --------------------------------------------------------------------


def login(sb, tmp_path, env, *args, **extra):
    config = oauth_config(sb, tmp_path, auth_method="oauth-desktop", **extra)
    run = run_tap(tmp_path, config, "auth", "login", *args, env=env)
    return run.returncode, run.stdout, run.stderr


def test_denied_consent_in_browser(sb, tmp_path):
    sb.deny_consent = True
    result = login(sb, tmp_path, browser_env(tmp_path))
    assert_one_line_error(sb, *result, "denied", "Allow")


def test_no_browser(sb, tmp_path):
    result = login(sb, tmp_path, no_browser_env())
    assert_one_line_error(sb, *result, "no web browser", "--no-browser")


def test_browser_never_calls_back(sb, tmp_path):
    result = login(sb, tmp_path, browser_env(tmp_path, "ignore"), "--timeout", "1")
    assert_one_line_error(sb, *result, "within 1 s")


def test_forged_state(sb, tmp_path):
    # Refused with a 400 (test_login_listener.py); the login goes on waiting, then times out.
    result = login(sb, tmp_path, browser_env(tmp_path, "forge-state"), "--timeout", "3")
    assert_one_line_error(sb, *result, "within 3 s")


def test_port_in_use(sb, tmp_path):
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        result = login(sb, tmp_path, browser_env(tmp_path),
                       callback_url=f"http://127.0.0.1:{port}/callback")
    assert_one_line_error(sb, *result, f"127.0.0.1:{port}", "in use")


def test_callback_url_not_loopback(sb, tmp_path):
    result = invoke(tmp_path, oauth_config(sb, tmp_path, auth_method="oauth-desktop",
                                           callback_url="https://app.example.com/cb"),
                    "auth", "login")
    assert_one_line_error(sb, *result, "loopback")


def test_oauth_server_unreachable(sb, tmp_path):
    config = oauth_config(sb, tmp_path, auth_method="oauth-web",
                          oauth_url=f"http://127.0.0.1:{free_port()}")
    result = invoke(tmp_path, config, "auth", "exchange", "--verifier", "abc")
    assert_one_line_error(sb, *result, "could not reach the OAuth server")


# -- configuration and the settings file --------------------------------------------------


def test_oauth_command_with_basic_method(sb, tmp_path):
    result = invoke(tmp_path, {"api_token": "x"}, "auth", "url")
    assert_one_line_error(sb, *result, "auth_method is 'basic'")


def test_missing_client_credentials(sb, tmp_path):
    result = invoke(tmp_path, {"auth_method": "oauth-web"}, "auth", "url")
    assert_one_line_error(sb, *result, "oauth_client_id and oauth_client_secret")


def test_headless_without_settings_file_or_verifier(sb, tmp_path):
    result = invoke(tmp_path, oauth_config(sb, tmp_path, auth_method="oauth-headless"),
                    "auth", "test")
    assert_one_line_error(sb, *result, "OAuthSettings.txt", "oauth_verifier", "copy")


def test_web_without_tokens(sb, tmp_path):
    result = invoke(tmp_path, oauth_config(sb, tmp_path, auth_method="oauth-web"), "auth", "test")
    assert_one_line_error(sb, *result, "oauth_access_token")


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("corrupt", "damaged"),
        ("wrong-key", "another oauth_client_secret"),
        ("directory", "cannot read"),
    ],
)
def test_unusable_settings_file(sb, tmp_path, damage, says):
    config = oauth_config(sb, tmp_path, auth_method="oauth-headless")
    config["oauth_verifier"] = code_for(sb, config)
    assert invoke(tmp_path, config, "auth", "test")[0] == 0
    settings = tmp_path / "OAuthSettings.txt"
    del config["oauth_verifier"]
    if damage == "corrupt":
        settings.write_text(settings.read_text()[:40])
    elif damage == "wrong-key":
        config["oauth_client_secret"] = "cs-other-LEAKCHECK-1"
    else:
        settings.unlink()
        settings.mkdir()
    result = invoke(tmp_path, config, "auth", "test")
    assert_one_line_error(sb, *result, str(settings), says)


# Run as the console script does, on a machine slow enough that the listener's page for a
# refusal is still being written when the login fails (first argument: seconds of delay).
SLOW_PAGE_PROGRAM = """
import sys, time
from tap_pipedrive.auth import loopback
delay = float(sys.argv.pop(1))
page = loopback._Handler._page
def slow_page(self, *args):
    time.sleep(delay)
    page(self, *args)
loopback._Handler._page = slow_page
from tap_pipedrive.main import main
main()
"""


def test_a_refusal_reaches_the_browser_before_the_login_exits(sb, tmp_path):
    """The browser tab says access was not granted, even when the page goes out after the
    terminal's error (a loaded machine): the login waits for it before it exits, as it
    did already for the authorized and failed pages. It dropped the connection instead."""
    sb.deny_consent = True
    browser = browser_env(tmp_path, "record")
    shown = Path(browser["BROWSER"] + ".shown")
    config = write_config(tmp_path, oauth_config(sb, tmp_path, auth_method="oauth-desktop"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_PIPEDRIVE_")}
    env.update(browser)
    run = subprocess.run([sys.executable, "-c", SLOW_PAGE_PROGRAM, "1", "--config",
                          str(config), "auth", "login"], capture_output=True, text=True,
                         timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert run.returncode != 0 and "denied" in run.stderr.strip().splitlines()[-1]
    for _ in range(100):  # the browser runs in the background: give it its moment
        if shown.exists():
            break
        time.sleep(0.1)
    assert "Access was not granted" in shown.read_text()
