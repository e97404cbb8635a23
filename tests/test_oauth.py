"""The OAuth machinery in process: the settings file at rest, refresh before expiry and on a
401 in the middle of a sync, and concurrent refreshes (threads and processes)."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import threading
import time
from contextlib import redirect_stdout
from urllib.parse import urlparse

import pytest
import requests
from helpers import TAP
from oauth_helpers import (
    authorize_in_browser,
    file_mode,
    oauth_config,
    start_sandbox,
    write_config,
)

import tap_pipedrive.client
from tap_pipedrive.auth.oauth import OAuthApp, OAuthClient
from tap_pipedrive.auth.plugins import registry
from tap_pipedrive.auth.token_file import TokenFile
from tap_pipedrive.auth.tokens import Tokens
from tap_pipedrive.errors import TapPipedriveError
from tap_pipedrive.tap import TapPipedrive

CHECKED = ("deals", "persons", "organizations", "activities", "products", "users")


def authorized(sb, tmp_path):
    """A headless config whose settings file holds freshly exchanged tokens."""
    config = oauth_config(sb, tmp_path, auth_method="oauth-headless")
    client = OAuthClient(OAuthApp(sb.client_id, sb.client_secret, config["callback_url"], sb.url))
    tokens = client.exchange(authorize_in_browser(client.authorization_url("s")))
    store = TokenFile(config["oauth_settings_location"], sb.client_secret)
    store.save(tokens)
    return config, store, tokens


def make_stale(store: TokenFile) -> Tokens:
    """The stored access token looks about to expire (the server still accepts it)."""
    stale = dataclasses.replace(store.load(), obtained_at=time.time() - 3590)
    store.save(stale)
    return stale


def refresh_calls(sb) -> int:
    return sum(1 for r in sb.requests if r["path"] == "/oauth/token")


def sync(config) -> dict[str, list[int]]:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")  # the msgspec writer needs .buffer
    with redirect_stdout(out):
        TapPipedrive(config=config, parse_env_config=False).sync_all()
    out.flush()
    ids: dict[str, list[int]] = {}
    for line in raw.getvalue().decode().splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD" and message["stream"] in CHECKED:
            ids.setdefault(message["stream"], []).append(message["record"]["id"])
    return ids


@pytest.fixture
def sb(make_sandbox):
    return start_sandbox(make_sandbox)


# -- the settings file --------------------------------------------------------------------


def test_settings_file_is_private_encrypted_and_written_atomically(sb, tmp_path):
    _, store, tokens = authorized(sb, tmp_path / "nested")
    raw = store.path.read_text()
    assert file_mode(store.path) == 0o600
    assert file_mode(store.path.parent) == 0o700
    for secret in (tokens.access_token, tokens.refresh_token, sb.client_secret):
        assert secret not in raw
    assert json.loads(raw)["format"] == "tap-pipedrive-oauth-settings"
    assert store.load() == tokens
    assert sorted(p.name for p in store.path.parent.iterdir()) == [
        "OAuthSettings.txt", "OAuthSettings.txt.lock"]  # no temporary file left behind
    assert file_mode(store.path.parent / "OAuthSettings.txt.lock") == 0o600


def test_no_secret_in_reprs(sb, tmp_path):
    _, store, tokens = authorized(sb, tmp_path)
    app = OAuthApp(sb.client_id, sb.client_secret)
    text = repr(tokens) + repr(store) + repr(app) + str(tokens.describe())
    for secret in (tokens.access_token, tokens.refresh_token, sb.client_secret):
        assert secret not in text


# -- refresh: before expiry, on a 401 mid-sync, and when it cannot help ----------------------


def test_token_expiring_mid_sync_is_refreshed_and_no_record_is_lost(sb, tmp_path, monkeypatch):
    config, store, tokens = authorized(sb, tmp_path)
    monkeypatch.setattr(tap_pipedrive.client, "PAGE_SIZE", 20)  # several pages per stream
    real_send = requests.Session.send
    pages = []

    def send(session, request, **kwargs):
        response = real_send(session, request, **kwargs)
        if urlparse(request.url).path == "/api/v2/deals":
            pages.append(response.status_code)
            if len(pages) == 1:
                sb.expire_access_tokens()  # between the first and second page of deals
        return response

    monkeypatch.setattr(requests.Session, "send", send)
    sb.reset_requests()
    ids = sync(config)

    for stream in CHECKED:
        assert len(ids[stream]) == len(set(ids[stream])), f"duplicates in {stream}"
        assert sorted(ids[stream]) == sorted(r["id"] for r in sb.data.records(stream)), stream
    log = [(r["path"], r["status"]) for r in sb.requests]
    # Pages are fetched in parallel: the first call after the expiry may be any stream's.
    assert [status for _, status in log].count(401) >= 1
    assert refresh_calls(sb) == 1  # however many threads met the 401 at once
    assert len(pages) >= 3
    assert store.load().access_token != tokens.access_token  # persisted


def test_stale_token_is_refreshed_before_the_request(sb, tmp_path):
    config, store, _ = authorized(sb, tmp_path)
    make_stale(store)
    sb.reset_requests()
    sync(config)
    assert refresh_calls(sb) == 1
    assert not [r for r in sb.requests if r["status"] == 401]


def test_rejected_again_after_refresh_fails_clearly(sb, tmp_path, monkeypatch):
    config, _, _ = authorized(sb, tmp_path)
    monkeypatch.setattr(sb.oauth, "check_access", lambda token: "Invalid token: revoked")
    with pytest.raises(TapPipedriveError, match="again right after it was refreshed"):
        sync(config)
    assert refresh_calls(sb) == 2  # the exchange, then one refresh: no loop


# -- two runs refresh at once -------------------------------------------------------------


def test_concurrent_refresh_in_threads_refreshes_once(sb, tmp_path):
    config, store, _ = authorized(sb, tmp_path)
    make_stale(store)
    sb.reset_requests()
    method = registry().get("oauth-headless")
    sessions = [method.session(config) for _ in range(4)]  # each with its own file handle
    barrier = threading.Barrier(len(sessions))
    results: list[str] = []

    def run(session):
        barrier.wait()
        results.append(session.start().access_token)

    threads = [threading.Thread(target=run, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert refresh_calls(sb) == 1
    assert len(set(results)) == 1
    assert store.load().access_token == results[0]


def test_concurrent_refresh_in_processes_refreshes_once(sb, tmp_path):
    config, store, _ = authorized(sb, tmp_path)
    make_stale(store)
    path = write_config(tmp_path, config)
    sb.reset_requests()
    procs = [
        subprocess.Popen([TAP, "--config", str(path), "auth", "test"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    assert refresh_calls(sb) == 1
    assert store.load().is_fresh()  # the file is intact and holds the new token
