"""What the three OAuth methods share: their settings, and how config becomes a session.

`initiate_oauth` (the connection guide's InitiateOAuth) decides what the tap may do itself:
OFF uses the tokens it is given, REFRESH also refreshes them, GETANDREFRESH also obtains them
through the browser when there are none (oauth-desktop only). Tokens come from the settings
file or from the config; the newest win. The stored ones are newer when the config carries
the same refresh token (the file then holds a newer access token) or one the stored tokens
replaced (the server rotated it: the file records digests of the refresh tokens it
superseded). A refresh token the file never saw is newer: the application authorized again.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, cast

from singer_sdk import typing as th
from typing_extensions import override

from tap_pipedrive.auth.base import AuthMethod, Connection
from tap_pipedrive.auth.bearer import BearerAuth
from tap_pipedrive.auth.oauth import (
    DEFAULT_CALLBACK_URL,
    DEFAULT_OAUTH_URL,
    OAuthApp,
    OAuthClient,
)
from tap_pipedrive.auth.session import OAuthSession
from tap_pipedrive.auth.token_file import TokenFile, default_location
from tap_pipedrive.auth.tokens import Tokens
from tap_pipedrive.errors import ConfigError

OFF, GETANDREFRESH, REFRESH = "OFF", "GETANDREFRESH", "REFRESH"

OAUTH_SETTINGS = [
    th.Property(
        "initiate_oauth",
        th.StringType,
        allowed_values=[OFF, GETANDREFRESH, REFRESH],
        description="OAuth: OFF uses the tokens given; REFRESH also refreshes them when they "
        "expire; GETANDREFRESH also logs in through the browser when there is no token "
        "(oauth-desktop). Default: GETANDREFRESH for oauth-desktop, OFF for oauth-web, "
        "REFRESH for oauth-headless.",
    ),
    th.Property("oauth_client_id", th.StringType,
                description="Client ID of the custom OAuth app (Pipedrive Developer Hub)."),
    th.Property("oauth_client_secret", th.StringType, secret=True,
                description="Client secret of the custom OAuth app; also the key of the "
                "encrypted settings file."),
    th.Property("callback_url", th.StringType, default=DEFAULT_CALLBACK_URL,
                description="Redirect URI registered with the OAuth app; oauth-desktop "
                "listens on it, so it must be a loopback http URL there."),
    th.Property("oauth_access_token", th.StringType, secret=True,
                description="Access token supplied by the caller (oauth-web)."),
    th.Property("oauth_refresh_token", th.StringType, secret=True,
                description="Refresh token supplied by the caller (oauth-web)."),
    th.Property("oauth_verifier", th.StringType, secret=True,
                description="Authorization code obtained on another machine (oauth-headless); "
                "the code alone or the whole redirect URL."),
    th.Property("oauth_settings_location", th.StringType,
                description="Encrypted file where OAuth tokens persist between runs. Default "
                "for oauth-desktop and oauth-headless: OAuthSettings.txt in the user config "
                "folder (~/.config/tap-pipedrive on Linux, ~/Library/Application Support/"
                "tap-pipedrive on macOS); oauth-web persists only when it is set."),
    th.Property("oauth_url", th.StringType, default=DEFAULT_OAUTH_URL,
                description="OAuth server base URL."),
]


def _given(config: Mapping[str, Any], key: str) -> str | None:
    value = config.get(key)
    return str(value).strip() if value else None


def _number(config: Mapping[str, Any], key: str, default: float) -> Any:
    value = config.get(key)
    try:
        return default if value is None else type(default)(value)
    except (TypeError, ValueError):
        return default  # the tap's settings check reports it


class OAuthMethod(AuthMethod):
    """An OAuth method; subclasses choose defaults and how missing tokens are obtained."""

    settings = OAUTH_SETTINGS
    default_initiate: ClassVar[str] = REFRESH
    persists_by_default: ClassVar[bool] = True  # without oauth_settings_location, use the default

    # -- config to parts --------------------------------------------------------------------

    def app(self, config: Mapping[str, Any]) -> OAuthApp:
        missing = [k for k in ("oauth_client_id", "oauth_client_secret") if not _given(config, k)]
        if missing:
            raise ConfigError(f"auth_method {self.name!r} needs {' and '.join(missing)} "
                              "(the custom OAuth app's credentials from Pipedrive Developer Hub)")
        return OAuthApp(
            client_id=cast(str, _given(config, "oauth_client_id")),  # not missing
            client_secret=cast(str, _given(config, "oauth_client_secret")),
            redirect_uri=_given(config, "callback_url") or DEFAULT_CALLBACK_URL,
            oauth_url=_given(config, "oauth_url") or DEFAULT_OAUTH_URL,
            max_retries=_number(config, "max_retries", 5),
            retry_backoff_seconds=_number(config, "retry_backoff_seconds", 2),
        )

    def initiate(self, config: Mapping[str, Any]) -> str:
        mode = (_given(config, "initiate_oauth") or self.default_initiate).upper()
        if mode not in (OFF, GETANDREFRESH, REFRESH):
            raise ConfigError(f"initiate_oauth must be OFF, GETANDREFRESH or REFRESH; got {mode!r}")
        return mode

    def store(self, config: Mapping[str, Any]) -> TokenFile | None:
        location = _given(config, "oauth_settings_location")
        if not location and not self.persists_by_default:
            return None
        return TokenFile(location or default_location(), self.app(config).client_secret)

    def known_tokens(self, config: Mapping[str, Any], stored: Tokens | None) -> Tokens | None:
        access = _given(config, "oauth_access_token")
        refresh = _given(config, "oauth_refresh_token")
        if not (access or refresh):
            return stored
        if stored and refresh and (stored.refresh_token == refresh or stored.supersedes(refresh)):
            return stored
        # Age unknown: used until rejected; with only a refresh token, refreshed first.
        return Tokens(access_token=access or "", refresh_token=refresh)

    # -- the session and the connection -------------------------------------------------------

    def session(self, config: Mapping[str, Any]) -> OAuthSession:
        client, store = OAuthClient(self.app(config)), self.store(config)
        mode = self.initiate(config)
        stored = store.load() if store else None
        tokens = self.starting_tokens(config, stored)
        obtain = self.obtainer(config, client, mode, tokens)
        if tokens is None and obtain is None:
            raise self.no_tokens_error(store)
        return OAuthSession(client, tokens, store=store, may_refresh=mode != OFF, obtain=obtain,
                            stored=stored)

    def starting_tokens(self, config: Mapping[str, Any], stored: Tokens | None) -> Tokens | None:
        return self.known_tokens(config, stored)

    def obtainer(
        self, config: Mapping[str, Any], client: OAuthClient, mode: str, tokens: Tokens | None
    ) -> Callable[[], Tokens] | None:
        """How to get tokens when there are none (or the refresh token died); None: fail."""
        return None

    @abstractmethod
    def no_tokens_error(self, store: TokenFile | None) -> Exception:
        """What to do when there are no tokens and no way to obtain them."""

    @override
    def connect(self, config: Mapping[str, Any]) -> Connection:
        session = self.session(config)
        tokens = session.start()  # no I/O unless the token must be refreshed or obtained
        return Connection(BearerAuth(session), tokens.api_domain)

    @override
    def status(self, config: Mapping[str, Any]) -> dict[str, Any]:
        store = self.store(config)
        stored = store.load() if store else None
        tokens = self.known_tokens(config, stored)
        source = "settings file" if tokens is stored else "config"
        return {
            "initiate_oauth": self.initiate(config),
            "oauth_client_id": self.app(config).client_id,
            "settings_file": f"{store.path} ({'exists' if store.exists() else 'absent'})"
            if store else "none (set oauth_settings_location to persist tokens)",
            "tokens": f"from the {source}" if tokens else "none",
            **(tokens.describe() if tokens else {}),
        }
