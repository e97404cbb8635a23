""""Using the OAuth access token another run has just refreshed" only when another run did:
a request sent with the old token before this run refreshed it, answered 401 after, takes
this run's new token without a word (and without a second refresh)."""

from __future__ import annotations

import logging
import time

from tap_pipedrive.auth.session import OAuthSession
from tap_pipedrive.auth.token_file import TokenFile
from tap_pipedrive.auth.tokens import Tokens

ANOTHER_RUN = "another run has just refreshed"


class FakeClient:
    def __init__(self) -> None:
        self.refreshes = 0

    def refresh(self, tokens: Tokens) -> Tokens:
        self.refreshes += 1
        return Tokens(access_token=f"access-{self.refreshes + 1}",
                      refresh_token=tokens.refresh_token, expires_in=3600)


def stale() -> Tokens:
    return Tokens(access_token="access-1", refresh_token="r", expires_in=3600,
                  obtained_at=time.time() - 7200)


def test_own_refresh_is_not_another_runs(tmp_path, caplog):
    store = TokenFile(tmp_path / "OAuthSettings.txt", "secret")
    store.save(stale())
    client = FakeClient()
    session = OAuthSession(client, store.load(), store=store, may_refresh=True)
    caplog.set_level(logging.INFO)
    assert session.start().access_token == "access-2"
    # A request that went with access-1 before the refresh comes back 401:
    assert session.after_rejection("access-1").access_token == "access-2"
    assert client.refreshes == 1
    assert ANOTHER_RUN not in caplog.text


def test_another_runs_refresh_is_adopted_and_said(tmp_path, caplog):
    store = TokenFile(tmp_path / "OAuthSettings.txt", "secret")
    store.save(stale())
    client = FakeClient()
    session = OAuthSession(client, store.load(), store=store, may_refresh=True)
    store.save(Tokens(access_token="from-another-run", refresh_token="r", expires_in=3600))
    caplog.set_level(logging.INFO)
    assert session.start().access_token == "from-another-run"
    assert client.refreshes == 0
    assert ANOTHER_RUN in caplog.text
