"""The tokens of one OAuth connection: which one is current, when to refresh, where to persist.

A refresh with a settings file runs under the file's lock and re-reads the file first: when
another run refreshed meanwhile, its token is adopted instead of refreshing again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tap_pipedrive.auth.oauth import OAuthClient, RefreshTokenRejected
from tap_pipedrive.auth.settings import SettingsFile
from tap_pipedrive.auth.tokens import Tokens
from tap_pipedrive.errors import AuthError

logger = logging.getLogger(__name__)


class OAuthSession:
    """Hands out a usable access token.

    may_refresh: `initiate_oauth` is REFRESH or GETANDREFRESH.
    obtain: how to get new tokens when, at the start of a run, there are none or the refresh
    token is dead (the desktop login, a headless verifier). Never used in the middle of a
    sync: a run does not open a browser halfway through.
    """

    def __init__(
        self,
        client: OAuthClient,
        tokens: Tokens | None,
        *,
        store: SettingsFile | None,
        may_refresh: bool,
        obtain: Callable[[], Tokens] | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.may_refresh = may_refresh
        self._obtain = obtain
        self._tokens = tokens
        self._lock = threading.Lock()

    def start(self) -> Tokens:
        """At connect: usable tokens, refreshed if stale, obtained anew if allowed and needed."""
        with self._lock:
            if self._tokens is None:
                self._save(self._obtained("no OAuth tokens are stored"))
            elif self._stale():
                try:
                    self._refresh_unless_done(self._tokens.access_token)
                except RefreshTokenRejected:
                    if self._obtain is None:
                        raise
                    self._save(self._obtained("the refresh token was rejected"))
            return self._tokens

    def valid_tokens(self) -> Tokens:
        """Before each request: the current tokens, refreshed when about to expire."""
        with self._lock:
            if self._stale():
                self._refresh_unless_done(self._tokens.access_token)
            return self._tokens

    def after_rejection(self, rejected_access_token: str) -> Tokens:
        """Pipedrive answered 401 to this access token: refresh (once) or say why not."""
        with self._lock:
            if not self.may_refresh:
                raise AuthError("Pipedrive rejected the OAuth access token (expired or "
                                "revoked) and initiate_oauth=OFF forbids refreshing it; set "
                                "initiate_oauth=REFRESH or pass a new oauth_access_token")
            if not (self._tokens and self._tokens.refresh_token):
                raise AuthError("Pipedrive rejected the OAuth access token (expired or "
                                "revoked) and there is no refresh token; set "
                                "oauth_refresh_token or authorize again")
            self._refresh_unless_done(rejected_access_token)
            return self._tokens

    def _stale(self) -> bool:
        tokens = self._tokens
        return bool(tokens and not tokens.is_fresh() and self.may_refresh and tokens.refresh_token)

    def _save(self, tokens: Tokens) -> None:
        self._tokens = tokens
        if self.store:
            self.store.save(tokens)

    def _refresh_unless_done(self, stale_access_token: str) -> None:
        current = self._tokens
        assert current is not None
        if current.access_token != stale_access_token and current.is_fresh():
            return  # this run (another thread) has refreshed it already
        if self.store is None:
            self._tokens = self._refreshed(current)
            return
        with self.store.locked():
            latest = self.store.load()
            if (latest and latest.refresh_token == current.refresh_token  # same authorization
                    and latest.access_token != stale_access_token and latest.is_fresh()):
                if latest.access_token != current.access_token:  # not this run's own
                    logger.info("Using the OAuth access token another run has just refreshed")
                self._tokens = latest
                return
            self._save(self._refreshed(current))

    def _refreshed(self, tokens: Tokens) -> Tokens:
        new = self.client.refresh(tokens)
        logger.info("Refreshed the OAuth access token (valid %s s)", new.expires_in)
        return new

    def _obtained(self, why: str) -> Tokens:
        if self._obtain is None:
            raise AuthError(f"{why}; authorize first (see `tap-pipedrive auth --help`)")
        logger.info("%s: obtaining new OAuth tokens", why)
        return self._obtain()
