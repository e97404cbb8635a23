"""The tokens of one OAuth connection: which one is current, when to refresh, where to persist.

A refresh with a settings file runs under the file's lock and re-reads the file first: when
another run wrote it since this one read it, that run's tokens are newer and are adopted,
whatever their refresh token (a server that rotates refresh tokens has spent ours): used as
they are when fresh, refreshed with their own refresh token otherwise. So two runs sharing a
file refresh once, and the loser never presents a spent refresh token.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tap_pipedrive.auth.oauth import OAuthClient, RefreshTokenRejected
from tap_pipedrive.auth.token_file import TokenFile
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
        store: TokenFile | None,
        may_refresh: bool,
        obtain: Callable[[], Tokens] | None = None,
        stored: Tokens | None = None,
        report_rotation: bool = True,
    ) -> None:
        """stored: what the settings file held when this run read it (it may differ from
        `tokens`, taken from the config). report_rotation: warn when, without a settings file,
        the server rotates the refresh token (`auth refresh` prints the new one instead)."""
        self.client = client
        self.store = store
        self.may_refresh = may_refresh
        self._obtain = obtain
        self._tokens = tokens
        self._seen = stored
        self._report_rotation = report_rotation and store is None
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
            return self._held()

    def valid_tokens(self) -> Tokens:
        """Before each request: the current tokens, refreshed when about to expire."""
        with self._lock:
            if self._stale():
                self._refresh_unless_done(self._held().access_token)
            return self._held()

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

    def refresh_now(self) -> Tokens:
        """A new access token whatever the current one's age (`auth refresh`)."""
        with self._lock:
            self._refresh_unless_done(None)
            return self._held()

    def _held(self) -> Tokens:
        """The current tokens: set by `start`, before any request."""
        assert self._tokens is not None
        return self._tokens

    def _stale(self) -> bool:
        tokens = self._tokens
        return bool(tokens and not tokens.is_fresh() and self.may_refresh and tokens.refresh_token)

    def _save(self, tokens: Tokens) -> None:
        self._tokens = tokens
        if self.store:
            self.store.save(tokens)
            self._seen = tokens

    def _refresh_unless_done(self, stale_access_token: str | None) -> None:
        """Refresh, unless another run did (then adopt its tokens). `stale_access_token`: the
        token found stale or rejected; None: refresh in any case (`auth refresh`)."""
        current = self._tokens
        assert current is not None
        if (stale_access_token is not None and current.access_token != stale_access_token
                and current.is_fresh()):
            return  # another thread of this run refreshed while this one waited for the lock
        if self.store is None:
            self._tokens = self._refreshed(current)
            return
        with self.store.locked():
            latest = self.store.load()
            if latest is not None and latest != self._seen:
                # Written by another run since this one read it: newer than ours.
                self._seen = current = latest
                if (stale_access_token is not None and latest.is_fresh()
                        and latest.access_token != stale_access_token):
                    logger.info("Using the OAuth tokens another run has just refreshed")
                    self._tokens = latest
                    return
            self._save(self._refreshed(current))

    def _refreshed(self, tokens: Tokens) -> Tokens:
        new = self.client.refresh(tokens)
        logger.info("Refreshed the OAuth access token (valid %s s)", new.expires_in)
        if self._report_rotation and new.refresh_token != tokens.refresh_token:
            self._report_rotation = False  # once per run
            logger.warning(
                "The OAuth server issued a new refresh token and spent the old one (it rotates "
                "them), but no oauth_settings_location is set: the new one lives only until "
                "this run ends, and the oauth_refresh_token in the config no longer works. "
                "Set oauth_settings_location so the tap keeps the newest tokens, then "
                "authorize again (or hand the tap the tokens your application holds).")
        return new

    def _obtained(self, why: str) -> Tokens:
        if self._obtain is None:
            raise AuthError(f"{why}; authorize first (see `tap-pipedrive auth --help`)")
        logger.info("%s: obtaining new OAuth tokens", why)
        return self._obtain()
