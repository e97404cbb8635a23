"""Every OAuth flow against an independent, strict authorization server (Authlib, set up as
Pipedrive documents its own, with refresh-token rotation and reuse detection switched on),
the API calls going to the sandbox, which accepts that server's access tokens. Also two runs
at once sharing a settings file, retried token calls, and what a rejected refresh token is
said to be."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from authlib_server import CLIENT_ID, CLIENT_SECRET, StrictOAuthServer
from helpers import TAP, run_tap
from oauth_helpers import authorize_in_browser, browser_env, free_port, start_sandbox, write_config
from test_oauth import make_stale

from tap_pipedrive.auth.token_file import TokenFile
from tap_pipedrive_sandbox import Sandbox


@pytest.fixture
def strict(make_sandbox) -> Iterator[tuple[Sandbox, StrictOAuthServer]]:
    sb = start_sandbox(make_sandbox)
    with StrictOAuthServer(api_domain=sb.url) as server:
        sb.oauth.bearer_check = server.check_access
        yield sb, server


def strict_config(server: StrictOAuthServer, folder, **extra) -> dict:
    callback = f"http://127.0.0.1:{free_port()}/callback"
    server.register_redirect_uri(callback)
    return {"oauth_client_id": CLIENT_ID, "oauth_client_secret": CLIENT_SECRET,
            "oauth_url": server.url, "callback_url": callback,
            "oauth_settings_location": str(folder / "OAuthSettings.txt"),
            "retry_backoff_seconds": 0.01, **extra}


def store(folder) -> TokenFile:
    return TokenFile(folder / "OAuthSettings.txt", CLIENT_SECRET)


def assert_synced(sb, run) -> None:
    assert run.returncode == 0, run.stderr
    for stream in ("deals", "persons", "users"):
        assert sorted(run.ids(stream)) == sorted(r["id"] for r in sb.data.records(stream)), stream


def assert_clean(server, *runs, stdout: bool = True) -> None:
    secrets = server.issued_secrets()
    for run in runs:
        text = run.stderr + (run.stdout if stdout else "")
        assert not [s for s in secrets if s in text], "secret in output"


def one_line_error(run) -> str:
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-pipedrive: error:"), run.stderr
    return last


def exchanged(server, folder, **extra) -> tuple[dict, dict]:
    """A config (oauth-web unless said) and the tokens `auth url` + `auth exchange` gave."""
    config = strict_config(server, folder, **{"auth_method": "oauth-web", **extra})
    url = run_tap(folder, config, "auth", "url")
    assert url.returncode == 0, url.stderr
    code = authorize_in_browser(url.stdout.strip())
    exchange = run_tap(folder, config, "auth", "exchange", "--verifier", code)
    assert exchange.returncode == 0, exchange.stderr
    return config, json.loads(exchange.stdout)


# -- every flow ---------------------------------------------------------------------------


def test_desktop_login_sync_and_rotating_refreshes(strict, tmp_path):
    sb, server = strict
    config = strict_config(server, tmp_path, auth_method="oauth-desktop")
    login = run_tap(tmp_path, config, "auth", "login", "--timeout", "60",
                    env=browser_env(tmp_path))
    assert login.returncode == 0, login.stderr
    assert "response_type=code" in login.stderr
    assert_synced(sb, run_tap(tmp_path, config))
    first = store(tmp_path).load()
    runs = []
    for _ in range(2):  # each refresh rotates; the newest refresh token is kept each time
        server.expire_access_tokens()
        runs.append(run := run_tap(tmp_path, config))
        assert_synced(sb, run)
    assert len(server.refresh_calls()) == 2 and server.reuses == 0
    assert store(tmp_path).load().refresh_token != first.refresh_token
    assert_clean(server, login, *runs)


def test_web_url_exchange_refresh_and_sync(strict, tmp_path):
    sb, server = strict
    config = strict_config(server, tmp_path, auth_method="oauth-web")
    del config["oauth_settings_location"]
    url = run_tap(tmp_path, config, "auth", "url", "--state", "app-state-1")
    assert "response_type=code" in url.stdout and "state=app-state-1" in url.stdout
    code = authorize_in_browser(url.stdout.strip())
    exchange = run_tap(tmp_path, config, "auth", "exchange", "--verifier", code)
    assert exchange.returncode == 0, exchange.stderr
    tokens = json.loads(exchange.stdout)
    assert tokens["api_domain"] == sb.url and tokens["token_type"] == "Bearer"
    refresh = run_tap(tmp_path, config, "auth", "refresh", "--refresh-token",
                      tokens["refresh_token"])
    assert refresh.returncode == 0, refresh.stderr
    new = json.loads(refresh.stdout)
    assert new["refresh_token"] != tokens["refresh_token"]  # rotated
    sync = run_tap(tmp_path, {**config, "oauth_access_token": new["access_token"],
                              "api_url": new["api_domain"]})
    assert_synced(sb, sync)
    assert_clean(server, url, sync)
    assert_clean(server, exchange, refresh, stdout=False)


def test_web_refresh_token_in_config_with_settings_file(strict, tmp_path):
    """The config keeps handing over the first refresh token; after the first rotation the
    stored, newer one must win on every later run."""
    sb, server = strict
    config, tokens = exchanged(server, tmp_path, initiate_oauth="REFRESH")
    config.update(oauth_access_token=tokens["access_token"],
                  oauth_refresh_token=tokens["refresh_token"], api_url=sb.url)
    runs = []
    for _ in range(3):
        server.expire_access_tokens()
        runs.append(run := run_tap(tmp_path, config))
        assert_synced(sb, run)
    assert len(server.refresh_calls()) == 3 and server.reuses == 0
    status = run_tap(tmp_path, config, "auth", "status")
    assert "tokens: from the settings file" in status.stdout
    assert_clean(server, *runs, status)


def test_web_without_settings_file_warns_once_about_a_rotated_token(strict, tmp_path):
    sb, server = strict
    config, tokens = exchanged(server, tmp_path, initiate_oauth="REFRESH")
    del config["oauth_settings_location"]
    config.update(oauth_refresh_token=tokens["refresh_token"], api_url=sb.url)
    run = run_tap(tmp_path, config)
    assert_synced(sb, run)
    warnings = [line for line in run.stderr.splitlines() if "new refresh token" in line]
    assert len(warnings) == 1, run.stderr
    assert "oauth_settings_location" in warnings[0] and "no longer works" in warnings[0]
    assert_clean(server, run)


def test_headless_verifier_then_refreshes(strict, tmp_path):
    sb, server = strict
    desk = tmp_path / "desk"
    desk.mkdir()
    config = strict_config(server, tmp_path, auth_method="oauth-headless")
    url = run_tap(desk, {**config, "auth_method": "oauth-web"}, "auth", "url")
    config["oauth_verifier"] = authorize_in_browser(url.stdout.strip())
    test = run_tap(tmp_path, config, "auth", "test")
    assert test.returncode == 0, test.stderr
    assert run_tap(tmp_path, config, "auth", "test").returncode == 0  # the code is not reused
    del config["oauth_verifier"]
    for _ in range(2):
        server.expire_access_tokens()
        assert_synced(sb, run_tap(tmp_path, config))
    assert server.reuses == 0
    assert_clean(server, url, test)


def test_headless_carried_over_settings_file(strict, tmp_path):
    sb, server = strict
    desk, host = tmp_path / "desk", tmp_path / "server"
    desk.mkdir()
    host.mkdir()
    desk_config = strict_config(server, desk, auth_method="oauth-desktop")
    login = run_tap(desk, desk_config, "auth", "login", env=browser_env(tmp_path))
    assert login.returncode == 0, login.stderr
    shutil.move(desk / "OAuthSettings.txt", host / "OAuthSettings.txt")  # moved, not copied
    config = {**desk_config, "auth_method": "oauth-headless",
              "oauth_settings_location": str(host / "OAuthSettings.txt")}
    for _ in range(2):
        server.expire_access_tokens()
        assert_synced(sb, run_tap(host, config))
    assert server.reuses == 0


# -- two runs at once, and copies ---------------------------------------------------------


def test_two_runs_at_once_share_a_settings_file(strict, tmp_path):
    sb, server = strict
    config, _ = exchanged(server, tmp_path, auth_method="oauth-headless")
    make_stale(store(tmp_path))
    path = write_config(tmp_path, config)
    procs = [subprocess.Popen([TAP, "--config", str(path), "auth", "test"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL) for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-500:] for _, err in outputs]
    assert len(server.refresh_calls()) == 1 and server.reuses == 0
    server.expire_access_tokens()  # and the file holds the one live refresh token
    assert_synced(sb, run_tap(tmp_path, config))
    assert server.reuses == 0


@pytest.mark.parametrize("described", [True, False])
def test_a_spent_refresh_token_is_said_to_be_spent_not_expired(strict, tmp_path, described):
    """Two copies of a settings file: one rotates the refresh token, the other presents the
    spent one. With or without a description from the server, the message says so."""
    _, server = strict
    config, _ = exchanged(server, tmp_path, auth_method="oauth-headless")
    server.expire_access_tokens()
    assert run_tap(tmp_path, config, "auth", "test").returncode == 0  # a first rotation
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(tmp_path / "OAuthSettings.txt", copy / "OAuthSettings.txt")
    server.expire_access_tokens()
    assert run_tap(tmp_path, config, "auth", "test").returncode == 0  # spends the copy's
    server.expire_access_tokens()
    server.reuse_says = None if not described else server.reuse_says
    copied = {**config, "oauth_settings_location": str(copy / "OAuthSettings.txt")}
    last = one_line_error(run := run_tap(copy, copied, "auth", "test"))
    assert "already used" in last and "oauth_settings_location" in last
    assert "60 days" not in last
    assert server.reuses == 1
    assert_clean(server, run)


# -- token calls: retries and the answer's details ----------------------------------------


@pytest.mark.parametrize("kind", ["503", "429", "reset"])
def test_token_calls_are_retried(strict, tmp_path, kind):
    _, server = strict
    config, tokens = exchanged(server, tmp_path)
    server.fail_next(2, kind)
    run = run_tap(tmp_path, config, "auth", "refresh", "--refresh-token", tokens["refresh_token"])
    assert run.returncode == 0, run.stderr
    assert [c["status"] for c in server.refresh_calls()][-1] == 200
    assert len(server.refresh_calls()) == 3
    assert run.stderr.count("OAuth token call: retry") == 2
    assert_clean(server, run, stdout=False)


def test_token_call_retries_are_bounded(strict, tmp_path):
    _, server = strict
    config, tokens = exchanged(server, tmp_path, max_retries=2)
    server.fail_next(10, "503")
    run = run_tap(tmp_path, config, "auth", "refresh", "--refresh-token", tokens["refresh_token"])
    last = one_line_error(run)
    assert "503" in last and "3 times" in last
    assert len(server.refresh_calls()) == 3


@pytest.mark.parametrize(("token_type", "ok"), [("bearer", True), ("BEARER", True),
                                                 ("mac", False), ("N_A", False)])
def test_token_type_is_checked(strict, tmp_path, token_type, ok):
    _, server = strict
    server.token_type = token_type
    config = strict_config(server, tmp_path, auth_method="oauth-web")
    code = authorize_in_browser(run_tap(tmp_path, config, "auth", "url").stdout.strip())
    run = run_tap(tmp_path, config, "auth", "exchange", "--verifier", code)
    if ok:
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["token_type"] == "Bearer"
    else:
        assert "not Bearer" in one_line_error(run)
        assert not (tmp_path / "OAuthSettings.txt").exists()
