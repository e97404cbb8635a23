"""`oauth-web`: the application drives the exchange (`auth url`, `auth exchange`,
`auth refresh`) and hands the tokens to the tap; with initiate_oauth=REFRESH the tap refreshes
them itself, and persists them when oauth_settings_location is set."""

from __future__ import annotations

from typing_extensions import override

from tap_pipedrive.auth.hookspecs import hookimpl
from tap_pipedrive.auth.oauth_method import OFF, OAuthMethod
from tap_pipedrive.auth.token_file import TokenFile
from tap_pipedrive.errors import ConfigError


class OAuthWeb(OAuthMethod):
    name = "oauth-web"
    description = "OAuth app; your application obtains the tokens and passes them in the config."
    default_initiate = OFF
    persists_by_default = False

    @override
    def no_tokens_error(self, store: TokenFile | None) -> Exception:
        return ConfigError(
            "auth_method 'oauth-web' needs oauth_access_token (from `tap-pipedrive auth "
            "exchange --verifier CODE`), or oauth_refresh_token with initiate_oauth=REFRESH")


@hookimpl
def register_auth_methods(register) -> None:
    register(OAuthWeb())
