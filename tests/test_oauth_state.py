"""`auth url` keeps the state it made next to the settings file; `auth exchange` given a whole
redirect URL checks that state before anything else in the URL (RFC 6749 10.12)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from helpers import run_tap
from oauth_helpers import file_mode, issued_secrets, oauth_config, start_sandbox


@pytest.fixture
def sb(make_sandbox):
    return start_sandbox(make_sandbox)


def redirect_url(authorization_url: str) -> str:
    """Where the browser is sent back to: the URL a user copies from the address bar."""
    answer = requests.get(authorization_url, allow_redirects=False, timeout=30)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def with_query(url: str, **changes: str) -> str:
    parts = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return parts._replace(query=urlencode({**query, **changes})).geturl()


def token_calls(sb) -> int:
    return sum(1 for r in sb.requests if r["path"] == "/oauth/token")


def setup(sb, tmp_path):
    config = oauth_config(sb, tmp_path, auth_method="oauth-web")
    url = run_tap(tmp_path, config, "auth", "url")
    assert url.returncode == 0, url.stderr
    return config, url.stdout.strip()


def test_a_pasted_redirect_url_with_the_state_made_here_is_exchanged(sb, tmp_path):
    config, url = setup(sb, tmp_path)
    states = tmp_path / "OAuthSettings.txt.states"
    assert file_mode(states) == 0o600
    state = parse_qs(urlparse(url).query)["state"][0]
    assert state not in states.read_text()  # a digest only
    pasted = redirect_url(url)
    run = run_tap(tmp_path, config, "auth", "exchange", "--verifier", pasted)
    assert run.returncode == 0, run.stderr
    again = run_tap(tmp_path, config, "auth", "exchange", "--verifier", pasted)
    assert "state" in again.stderr.strip().splitlines()[-1]  # a state works once


def test_a_redirect_url_with_another_state_is_refused_before_the_exchange(sb, tmp_path):
    config, url = setup(sb, tmp_path)
    forged = with_query(redirect_url(url), state="made-elsewhere")
    sb.reset_requests()
    run = run_tap(tmp_path, config, "auth", "exchange", "--verifier", forged)
    last = run.stderr.strip().splitlines()[-1]
    assert run.returncode == 1 and last.startswith("tap-pipedrive: error:")
    assert "state" in last and "auth url" in last
    query_only = run_tap(tmp_path, config, "auth", "exchange", "--verifier",
                         forged.split("?", 1)[1])  # the query pasted without the URL
    assert "state" in query_only.stderr.strip().splitlines()[-1]
    assert token_calls(sb) == 0  # the forged code was never sent
    assert not [s for s in issued_secrets(sb) if s in run.stderr + run.stdout]


def test_a_redirect_url_without_state_is_refused(sb, tmp_path):
    config, url = setup(sb, tmp_path)
    code = parse_qs(urlparse(redirect_url(url)).query)["code"][0]
    run = run_tap(tmp_path, config, "auth", "exchange", "--verifier",
                  f"{config['callback_url']}?code={code}")
    assert run.returncode == 1 and "state" in run.stderr.strip().splitlines()[-1]
    bare = run_tap(tmp_path, config, "auth", "exchange", "--verifier", code)  # a code alone
    assert bare.returncode == 0, bare.stderr


def test_an_error_url_is_judged_by_its_state_first(sb, tmp_path):
    config, url = setup(sb, tmp_path)
    state = parse_qs(urlparse(url).query)["state"][0]
    forged = f"{config['callback_url']}?error=user_denied&state=other"
    assert "state" in run_tap(tmp_path, config, "auth", "exchange", "--verifier",
                              forged).stderr.strip().splitlines()[-1]
    denied = f"{config['callback_url']}?error=user_denied&state={state}"
    last = run_tap(tmp_path, config, "auth", "exchange", "--verifier",
                   denied).stderr.strip().splitlines()[-1]
    assert "denied" in last
