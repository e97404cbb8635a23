"""`oauth-desktop`: a browser on this machine. `auth login` (or a sync that finds no usable
token, with initiate_oauth=GETANDREFRESH) listens on the loopback `callback_url`, opens the
browser, exchanges the code and saves the tokens to the settings file; later runs refresh."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from typing_extensions import override

from tap_pipedrive.auth.hookspecs import hookimpl
from tap_pipedrive.auth.loopback import login
from tap_pipedrive.auth.oauth import OAuthClient
from tap_pipedrive.auth.oauth_method import GETANDREFRESH, OAuthMethod
from tap_pipedrive.auth.token_file import TokenFile
from tap_pipedrive.auth.tokens import Tokens
from tap_pipedrive.errors import AuthError


class OAuthDesktop(OAuthMethod):
    name = "oauth-desktop"
    description = "OAuth app; logs in through the browser on this machine (loopback callback)."
    default_initiate = GETANDREFRESH

    @override
    def obtainer(
        self, config: Mapping[str, Any], client: OAuthClient, mode: str, tokens: Tokens | None
    ) -> Callable[[], Tokens] | None:
        return functools.partial(login, client) if mode == GETANDREFRESH else None

    @override
    def no_tokens_error(self, store: TokenFile | None) -> Exception:
        return AuthError(f"no OAuth tokens in {store.path if store else 'the config'}; run "
                         "`tap-pipedrive auth login` (or set initiate_oauth=GETANDREFRESH)")


@hookimpl
def register_auth_methods(register) -> None:
    register(OAuthDesktop())
