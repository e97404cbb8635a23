"""`oauth-headless`: no browser here. Option 1: the code (`oauth_verifier`) is obtained on
another machine from `auth url`, and the first run here (`auth test`, or a sync) exchanges it
and creates the settings file. Option 2: a settings file made by `auth login` elsewhere is
copied here. Either way later runs refresh from the file (initiate_oauth=REFRESH)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from typing_extensions import override

from tap_pipedrive.auth.hookspecs import hookimpl
from tap_pipedrive.auth.oauth import OAuthClient, parse_verifier
from tap_pipedrive.auth.oauth_method import OAuthMethod
from tap_pipedrive.auth.token_file import TokenFile
from tap_pipedrive.auth.tokens import Tokens, code_digest
from tap_pipedrive.errors import AuthError


def _new_code(config: Mapping[str, Any], stored: Tokens | None) -> str | None:
    """The verifier's code unless the stored tokens were already made from it (codes work once)."""
    if not config.get("oauth_verifier"):
        return None
    code = parse_verifier(config["oauth_verifier"])
    return None if stored and stored.code_sha256 == code_digest(code) else code


class OAuthHeadless(OAuthMethod):
    name = "oauth-headless"
    description = "OAuth app on a machine without a browser: a verifier or a copied settings file."

    @override
    def starting_tokens(self, config: Mapping[str, Any], stored: Tokens | None) -> Tokens | None:
        tokens = super().starting_tokens(config, stored)
        return None if _new_code(config, tokens) else tokens  # a new code replaces old tokens

    @override
    def obtainer(
        self, config: Mapping[str, Any], client: OAuthClient, mode: str, tokens: Tokens | None
    ) -> Callable[[], Tokens] | None:
        code = _new_code(config, tokens)
        return functools.partial(client.exchange, code) if code else None

    @override
    def no_tokens_error(self, store: TokenFile | None) -> Exception:
        return AuthError(
            f"no OAuth tokens in {store.path if store else 'the settings file'}: set "
            "oauth_verifier to a code from `tap-pipedrive auth url` opened on a machine with a "
            "browser, or copy the settings file that `auth login` made there to this path")


@hookimpl
def register_auth_methods(register) -> None:
    register(OAuthHeadless())
