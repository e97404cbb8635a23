"""The sandbox's OAuth server speaks Pipedrive's dialect, errors included; and its CLI."""

from __future__ import annotations

import base64
import re
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from click.testing import CliRunner

from tap_pipedrive_sandbox import Sandbox
from tap_pipedrive_sandbox.cli import sandbox as sandbox_command

REDIRECT = "http://127.0.0.1:8765/callback"
BASIC = "Basic " + base64.b64encode(b"sandbox-client-id:sandbox-client-secret").decode()


@pytest.fixture
def sb():
    with Sandbox(records=20, seed=1) as sandbox:
        yield sandbox


def authorize(sb: Sandbox, **params: str) -> requests.Response:
    query = {"client_id": "sandbox-client-id", "redirect_uri": REDIRECT, **params}
    return requests.get(f"{sb.url}/oauth/authorize", params=query, allow_redirects=False,
                        timeout=10)


def code_for(sb: Sandbox, redirect_uri: str = REDIRECT) -> str:
    location = authorize(sb, redirect_uri=redirect_uri).headers["Location"]
    return parse_qs(urlsplit(location).query)["code"][0]


def token(sb: Sandbox, form: dict | None, headers: dict | None = None,
          **kwargs) -> requests.Response:
    return requests.post(f"{sb.url}/oauth/token", data=form, timeout=10,
                         headers={"Authorization": BASIC} if headers is None else headers,
                         **kwargs)


def exchange(sb: Sandbox) -> dict:
    resp = token(sb, {"grant_type": "authorization_code", "code": code_for(sb),
                      "redirect_uri": REDIRECT})
    assert resp.status_code == 200, resp.text
    return resp.json()


def api(sb: Sandbox, access: str) -> requests.Response:
    return requests.get(f"{sb.url}/api/v2/deals", timeout=10,
                        headers={"Authorization": f"Bearer {access}"})


def assert_error(resp: requests.Response, status: int, text: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json() == {"success": False, "message": text, "error": text}


def test_authorize_redirects_with_code_and_state(sb):
    resp = authorize(sb, state="xyz 1/2")
    assert resp.status_code == 302
    url = urlsplit(resp.headers["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == REDIRECT
    query = parse_qs(url.query)
    assert query["state"] == ["xyz 1/2"] and query["code"][0]
    no_state = parse_qs(urlsplit(authorize(sb).headers["Location"]).query)
    assert set(no_state) == {"code"}
    # A redirect URI with its own query keeps it.
    kept = authorize(sb, redirect_uri="http://localhost:9/cb?app=1").headers["Location"]
    assert kept.startswith("http://localhost:9/cb?app=1&code=")


def test_authorize_rejects_unknown_client_and_bad_redirect(sb):
    resp = authorize(sb, client_id="someone-else")
    assert resp.status_code == 400 and "text/html" in resp.headers["Content-Type"]
    assert authorize(sb, redirect_uri="not a uri").status_code == 400


def test_denied_consent(sb):
    sb.deny_consent = True
    query = parse_qs(urlsplit(authorize(sb, state="s1").headers["Location"]).query)
    assert query == {"error": ["user_denied"], "state": ["s1"]}
    resp = requests.post(f"{sb.url}/_sandbox/oauth/deny-consent", json={"deny": False},
                         timeout=10)
    assert resp.json()["data"] is False
    assert "code" in parse_qs(urlsplit(authorize(sb).headers["Location"]).query)
    with Sandbox(records=5, deny_consent=True) as denied:
        location = authorize(denied).headers["Location"]
        assert parse_qs(urlsplit(location).query) == {"error": ["user_denied"]}


def test_code_exchange_refresh_and_bearer_use(sb):
    tokens = exchange(sb)
    assert set(tokens) == {"access_token", "token_type", "refresh_token", "scope",
                           "expires_in", "api_domain"}
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3599
    assert tokens["api_domain"] == sb.url
    assert tokens["scope"] == "base,deals:full,contacts:full,activities:full,products:full," \
                              "users:read"
    assert api(sb, tokens["access_token"]).status_code == 200
    assert sb.requests[-1]["auth"] == "bearer"

    refreshed = token(sb, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert new["refresh_token"] == tokens["refresh_token"]  # Pipedrive's do not rotate
    assert new["access_token"] != tokens["access_token"]
    assert api(sb, new["access_token"]).status_code == 200
    # The refresh token keeps working.
    again = token(sb, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert again.status_code == 200


def test_client_credentials_in_body_are_accepted(sb):
    form = {"grant_type": "authorization_code", "code": code_for(sb), "redirect_uri": REDIRECT,
            "client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"}
    assert token(sb, form, headers={}).status_code == 200


def test_code_is_single_use_and_expires(sb):
    code = code_for(sb)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    assert token(sb, form).status_code == 200
    assert_error(token(sb, form), 400, "Invalid grant: authorization_code is invalid")
    assert_error(token(sb, {**form, "code": "made-up"}), 400,
                 "Invalid grant: authorization_code is invalid")
    form["code"] = code_for(sb)
    requests.post(f"{sb.url}/_sandbox/oauth/expire-codes", timeout=10)
    assert_error(token(sb, form), 400, "Invalid grant: authorization_code has expired")
    with Sandbox(records=5, code_ttl=0) as quick:
        late = {"grant_type": "authorization_code", "code": code_for(quick),
                "redirect_uri": REDIRECT}
        assert_error(token(quick, late), 400, "Invalid grant: authorization_code has expired")


def test_token_endpoint_errors(sb):
    good = {"grant_type": "authorization_code", "code": code_for(sb), "redirect_uri": REDIRECT}
    assert_error(token(sb, {**good, "redirect_uri": "http://127.0.0.1:1/other"}), 400,
                 "Invalid request: redirect_uri is invalid")
    assert_error(token(sb, good, headers={}), 401,
                 "Invalid client: cannot retrieve client credentials")
    wrong = "Basic " + base64.b64encode(b"sandbox-client-id:nope").decode()
    assert_error(token(sb, good, headers={"Authorization": wrong}), 401,
                 "Invalid client: client is invalid")
    other = "Basic " + base64.b64encode(b"other-app:sandbox-client-secret").decode()
    assert_error(token(sb, good, headers={"Authorization": other}), 401,
                 "Invalid client: client is invalid")
    assert_error(token(sb, {"code": good["code"]}), 400, "Missing parameter: grant_type")
    assert_error(token(sb, {"grant_type": "password"}), 400,
                 "Unsupported grant type: grant_type is invalid")
    assert_error(token(sb, {"grant_type": "refresh_token", "refresh_token": "nope"}), 400,
                 "Invalid grant: refresh_token is invalid")
    as_json = requests.post(f"{sb.url}/oauth/token", json=good, timeout=10,
                            headers={"Authorization": BASIC})
    assert_error(as_json, 400, "Invalid request: content must be application/x-www-form-urlencoded")
    # The code survived every failed attempt above and still works once.
    assert token(sb, good).status_code == 200


def test_expired_access_token_is_401_and_refresh_recovers(sb):
    tokens = exchange(sb)
    assert api(sb, tokens["access_token"]).status_code == 200
    assert requests.post(f"{sb.url}/_sandbox/oauth/expire-access-tokens", timeout=10).ok
    resp = api(sb, tokens["access_token"])
    assert resp.status_code == 401
    assert resp.json()["error"] == "Invalid token: access token has expired"
    assert resp.json()["errorCode"] == 401 and resp.json()["data"] is None
    refreshed = token(sb, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert api(sb, refreshed.json()["access_token"]).status_code == 200


def test_access_token_ttl():
    with Sandbox(records=5, token_ttl=1) as sb:
        tokens = exchange(sb)
        assert tokens["expires_in"] == 1
        assert api(sb, tokens["access_token"]).status_code == 200
        time.sleep(1.1)
        assert api(sb, tokens["access_token"]).json()["error"] == (
            "Invalid token: access token has expired"
        )


def test_revoked_refresh_token(sb):
    tokens = exchange(sb)
    assert requests.post(f"{sb.url}/_sandbox/oauth/revoke-refresh-tokens", timeout=10).ok
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert_error(token(sb, form), 400, "Invalid grant: refresh_token is invalid")
    sb.revoke_refresh_tokens()  # the Python helpers do the same
    assert sb.expire_access_tokens() >= 1


def test_oauth_requests_are_logged_without_secrets_in_queries(sb):
    exchange(sb)
    paths = [r["path"] for r in sb.requests]
    assert paths == ["/oauth/authorize", "/oauth/token"]
    assert sb.requests[1]["query"] == {}  # the form body is not logged


# --- CLI --------------------------------------------------------------------------------------


def test_cli_busy_port_is_a_one_line_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(sandbox_command, ["--port", str(port), "--records", "5"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"127.0.0.1:{port}" in result.output and "already in use" in result.output


def test_cli_refuses_non_loopback_host():
    result = CliRunner().invoke(sandbox_command, ["--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "not a loopback address" in result.output


def test_cli_serves_and_stops_cleanly_on_sigterm():
    code = "from tap_pipedrive_sandbox.cli import sandbox; sandbox()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--records", "50"],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert match, line
        assert "sandbox-api-token" in line and "sandbox-client-id" in line
        resp = requests.get(f"{match.group(1)}/api/v2/deals", timeout=10,
                            headers={"x-api-token": "sandbox-api-token"})
        assert resp.status_code == 200 and len(resp.json()["data"]) == 50
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
