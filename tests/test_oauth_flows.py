"""Each OAuth flow end to end, as the README tells a user to run it: the installed command,
the sandbox's OAuth server, a scripted browser. Every output is scanned for secrets."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time

from helpers import run_tap
from oauth_helpers import (
    authorize_in_browser,
    browser_env,
    file_mode,
    issued_secrets,
    oauth_config,
    start_sandbox,
)

from tap_pipedrive.auth.token_file import TokenFile


def assert_synced(sb, run) -> None:
    assert run.returncode == 0, run.stderr
    for stream in ("deals", "persons", "users"):
        assert sorted(run.ids(stream)) == sorted(r["id"] for r in sb.data.records(stream)), stream


def assert_clean(sb, *runs) -> None:
    """No secret in any output (stdout of `auth exchange`/`auth refresh` is the one exception,
    checked by the callers: those commands exist to hand tokens over)."""
    secrets = issued_secrets(sb)
    for run in runs:
        for text in (run.stdout, run.stderr):
            assert not [s for s in secrets if s in text], "secret in output"
    assert not [s for s in secrets if s in json.dumps(sb.requests)], "secret in sandbox log"


def token_calls(sb) -> list[dict]:
    return [r for r in sb.requests if r["path"] == "/oauth/token"]


# -- oauth-desktop ------------------------------------------------------------------------


def test_desktop_login_sync_and_refresh(make_sandbox, tmp_path):
    sb = start_sandbox(make_sandbox)
    # The connection guide's own names choose the method: OAuth + GETANDREFRESH = desktop.
    config = oauth_config(sb, tmp_path, AuthScheme="OAuth", InitiateOAuth="GETANDREFRESH")
    login = run_tap(tmp_path, config, "auth", "login", env=browser_env(tmp_path))
    assert login.returncode == 0, login.stderr
    assert "Authorized" in login.stdout
    assert "/oauth/authorize?" in login.stderr  # the URL is printed in case no browser opens
    settings = tmp_path / "OAuthSettings.txt"
    assert file_mode(settings) == 0o600

    status = run_tap(tmp_path, config, "auth", "status")
    assert status.returncode == 0, status.stderr
    assert "auth_method: oauth-desktop" in status.stdout
    assert f"api_domain: {sb.url}" in status.stdout

    sync = run_tap(tmp_path, config)  # no BROWSER: the stored token is used
    assert_synced(sb, sync)

    # The access token expires between runs: the next run refreshes it and persists it.
    before = TokenFile(settings, sb.client_secret).load()
    sb.expire_access_tokens()
    sb.reset_requests()
    again = run_tap(tmp_path, config)
    assert_synced(sb, again)
    assert len(token_calls(sb)) == 1
    after = TokenFile(settings, sb.client_secret).load()
    assert after.access_token != before.access_token
    assert after.refresh_token == before.refresh_token  # Pipedrive's do not rotate
    assert_clean(sb, login, status, sync, again)


def test_desktop_sync_without_token_logs_in(make_sandbox, tmp_path):
    sb = start_sandbox(make_sandbox)
    config = oauth_config(sb, tmp_path, auth_method="oauth-desktop")
    sync = run_tap(tmp_path, config, env=browser_env(tmp_path))
    assert_synced(sb, sync)
    assert "/oauth/authorize?" in sync.stderr
    assert (tmp_path / "OAuthSettings.txt").exists()
    assert_clean(sb, sync)


def test_desktop_sync_with_dead_refresh_token_logs_in_again(make_sandbox, tmp_path):
    sb = start_sandbox(make_sandbox)
    config = oauth_config(sb, tmp_path, auth_method="oauth-desktop")
    assert run_tap(tmp_path, config, "auth", "login", env=browser_env(tmp_path)).returncode == 0
    store = TokenFile(tmp_path / "OAuthSettings.txt", sb.client_secret)
    store.save(dataclasses.replace(store.load(), obtained_at=time.time() - 7200))  # expired
    sb.revoke_refresh_tokens()  # and its refresh token is dead (60 days unused)
    sync = run_tap(tmp_path, config, env=browser_env(tmp_path))
    assert_synced(sb, sync)
    assert "refresh token was rejected: obtaining new OAuth tokens" in sync.stderr
    assert_clean(sb, sync)


def test_desktop_login_at_debug_level_leaks_nothing(make_sandbox, tmp_path):
    sb = start_sandbox(make_sandbox)
    config = oauth_config(sb, tmp_path, auth_method="oauth-desktop")
    env = {**browser_env(tmp_path), "LOGLEVEL": "DEBUG"}
    sync = run_tap(tmp_path, config, env=env)
    sb.expire_access_tokens()
    refreshed = run_tap(tmp_path, config, env=env)
    assert_synced(sb, refreshed)
    assert "DEBUG" in refreshed.stderr
    assert_clean(sb, sync, refreshed)


# -- oauth-web ----------------------------------------------------------------------------


def test_web_url_exchange_refresh_and_sync(make_sandbox, tmp_path):
    sb = start_sandbox(make_sandbox)
    config = oauth_config(sb, tmp_path, AuthScheme="OAuth", InitiateOAuth="OFF")
    del config["oauth_settings_location"]  # the application keeps the tokens itself

    url = run_tap(tmp_path, config, "auth", "url", "--state", "app-state-1")
    assert url.returncode == 0, url.stderr
    authorization_url = url.stdout.strip()
    assert authorization_url.startswith(f"{sb.url}/oauth/authorize?")
    assert "state=app-state-1" in authorization_url
    code = authorize_in_browser(authorization_url)

    exchange = run_tap(tmp_path, config, "auth", "exchange", "--verifier", code)
    assert exchange.returncode == 0, exchange.stderr
    tokens = json.loads(exchange.stdout)
    assert tokens["expires_in"] == 3599
    assert tokens["api_domain"] == sb.url
    assert not list(tmp_path.glob("OAuthSettings*"))  # no location set: nothing persisted

    refresh = run_tap(tmp_path, config, "auth", "refresh",
                      "--refresh-token", tokens["refresh_token"])
    assert refresh.returncode == 0, refresh.stderr
    refreshed = json.loads(refresh.stdout)
    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["refresh_token"] == tokens["refresh_token"]

    # The application passes the access token and the API domain it was given.
    sync = run_tap(tmp_path, {**config, "oauth_access_token": refreshed["access_token"],
                              "api_url": refreshed["api_domain"]})
    assert_synced(sb, sync)
    assert all(r["auth"] == "bearer" for r in sb.requests if r["path"].startswith("/api/"))
    assert_clean(sb, url, sync)
    for run in (exchange, refresh):  # tokens on stdout by design, never on stderr
        assert not [s for s in issued_secrets(sb) if s in run.stderr]


def test_web_with_refresh_and_settings_location(make_sandbox, tmp_path):
    sb = start_sandbox(make_sandbox)
    config = oauth_config(sb, tmp_path, auth_method="oauth-web", initiate_oauth="REFRESH")
    code = authorize_in_browser(run_tap(tmp_path, config, "auth", "url").stdout.strip())
    exchange = run_tap(tmp_path, config, "auth", "exchange", "--verifier", code)
    assert exchange.returncode == 0, exchange.stderr
    assert "Saved to" in exchange.stderr
    tokens = json.loads(exchange.stdout)

    # The app hands over the tokens; they expire; the tap refreshes and persists.
    config.update(oauth_access_token=tokens["access_token"],
                  oauth_refresh_token=tokens["refresh_token"])
    sb.expire_access_tokens()
    sync = run_tap(tmp_path, config)
    assert_synced(sb, sync)
    stored = TokenFile(tmp_path / "OAuthSettings.txt", sb.client_secret).load()
    assert stored.access_token != tokens["access_token"]

    # The next run gets the same (now stale) access token from the app: the file's newer
    # one, of the same authorization, is used without another refresh.
    sb.reset_requests()
    second = run_tap(tmp_path, config)
    assert_synced(sb, second)
    assert token_calls(sb) == []
    assert_clean(sb, sync, second)


# -- oauth-headless -----------------------------------------------------------------------


def test_headless_option_1_verifier_from_another_machine(make_sandbox, tmp_path):
    sb = start_sandbox(make_sandbox)
    desk, server = tmp_path / "desk", tmp_path / "server"
    desk.mkdir()
    server.mkdir()
    callback = oauth_config(sb, tmp_path)["callback_url"]  # the same registered redirect URI

    # On a machine with a browser: InitiateOAuth=OFF and `auth url`.
    desk_config = oauth_config(sb, desk, AuthScheme="OAuth", InitiateOAuth="OFF",
                               callback_url=callback)
    url = run_tap(desk, desk_config, "auth", "url")
    assert url.returncode == 0, url.stderr
    code = authorize_in_browser(url.stdout.strip())

    # On the headless machine: REFRESH + verifier + location; `auth test` exchanges it.
    server_config = {
        "AuthScheme": "OAuth", "InitiateOAuth": "REFRESH", "CallbackURL": callback,
        "OAuthClientId": sb.client_id, "OAuthClientSecret": sb.client_secret,
        "OAuthVerifier": code, "OAuthSettingsLocation": str(server / "OAuthSettings.txt"),
        "oauth_url": sb.url,
    }
    test = run_tap(server, server_config, "auth", "test")
    assert test.returncode == 0, test.stderr
    assert test.stdout.startswith("OK: oauth-headless")
    assert file_mode(server / "OAuthSettings.txt") == 0o600

    # The verifier left in the config is not exchanged twice (codes work once).
    again = run_tap(server, server_config, "auth", "test")
    assert again.returncode == 0, again.stderr

    # Later runs need only REFRESH, the location and the client credentials.
    del server_config["OAuthVerifier"]
    sb.expire_access_tokens()
    sync = run_tap(server, server_config)
    assert_synced(sb, sync)
    assert_clean(sb, url, test, again, sync)


def test_headless_option_2_copied_settings_file(make_sandbox, tmp_path):
    sb = start_sandbox(make_sandbox)
    desk, server = tmp_path / "desk", tmp_path / "server"
    desk.mkdir()
    server.mkdir()
    login = run_tap(desk, oauth_config(sb, desk, auth_method="oauth-desktop"),
                    "auth", "login", env=browser_env(tmp_path))
    assert login.returncode == 0, login.stderr
    shutil.copy(desk / "OAuthSettings.txt", server / "OAuthSettings.txt")

    server_config = oauth_config(sb, server, AuthScheme="OAuth", InitiateOAuth="REFRESH")
    sync = run_tap(server, server_config)
    assert_synced(sb, sync)
    sb.expire_access_tokens()
    refreshed = run_tap(server, server_config)
    assert_synced(sb, refreshed)
    assert_clean(sb, login, sync, refreshed)
