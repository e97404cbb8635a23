"""The built-in `auth` subcommands: a thin layer over the OAuth client, the settings file and
the configured method. `exchange` and `refresh` print tokens on stdout by design (the caller
asked for them, as GetOAuthAccessToken/RefreshOAuthAccessToken return them); everything else
prints no secret."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlparse

import click
import requests

from tap_pipedrive.auth.base import AuthMethod
from tap_pipedrive.auth.cli import ConfiguredTap, root_tap
from tap_pipedrive.auth.hookspecs import hookimpl
from tap_pipedrive.auth.loopback import DEFAULT_TIMEOUT, login
from tap_pipedrive.auth.oauth import OAuthClient, parse_verifier
from tap_pipedrive.auth.oauth_method import OAuthMethod
from tap_pipedrive.auth.plugins import registry
from tap_pipedrive.auth.session import OAuthSession
from tap_pipedrive.auth.states import PendingStates
from tap_pipedrive.auth.token_file import TokenFile, default_location
from tap_pipedrive.auth.tokens import Tokens
from tap_pipedrive.config import DEFAULT_AUTH_METHOD
from tap_pipedrive.errors import AuthError, ConfigError
from tap_pipedrive.transport import api_session


def _configured(ctx: click.Context) -> tuple[ConfiguredTap, AuthMethod]:
    tap = root_tap(ctx)
    return tap, registry().get(tap.config.get("auth_method") or DEFAULT_AUTH_METHOD)


def _oauth(ctx: click.Context) -> tuple[Mapping[str, Any], OAuthMethod]:
    tap, method = _configured(ctx)
    if not isinstance(method, OAuthMethod):
        raise ConfigError(
            f"`auth {ctx.info_name}` is for OAuth, but auth_method is {method.name!r}; set "
            "auth_method to oauth-desktop, oauth-web or oauth-headless (or AuthScheme=OAuth)")
    return tap.config, method


def _print_tokens(tokens: Tokens) -> None:
    click.echo(json.dumps(tokens.token_response()))


def _states(config: Mapping[str, Any], method: OAuthMethod) -> PendingStates:
    store = method.store(config)
    return PendingStates(store.path if store else default_location())


@click.command()
@click.option("--state", help="Value Pipedrive sends back with the code (check it in your "
              "callback); random when omitted.")
@click.pass_context
def url(ctx: click.Context, state: str | None) -> None:
    """Print the authorization URL for callback_url (GetOAuthAuthorizationURL)."""
    config, method = _oauth(ctx)
    state = state or secrets.token_urlsafe(16)
    authorization_url = OAuthClient(method.app(config)).authorization_url(state)
    try:  # so that `auth exchange` can check a pasted redirect URL
        _states(config, method).add(state)
    except OSError as exc:
        raise AuthError(f"cannot keep the state next to the OAuth settings file "
                        f"({exc.strerror}); choose a writable oauth_settings_location") from None
    click.echo(authorization_url)


def _check_state(config: Mapping[str, Any], method: OAuthMethod, verifier: str) -> None:
    """A whole redirect URL must carry a state `auth url` made here; a bare code has none."""
    value = verifier.strip()
    if "code=" not in value and "error=" not in value:  # a bare code (as parse_verifier sees it)
        return
    state = parse_qs(urlparse(value).query if "://" in value else value.lstrip("?")).get("state")
    if not (state and _states(config, method).take(state[0])):
        raise AuthError("the redirect URL's state was not made by `tap-pipedrive auth url` "
                        "with this configuration in the last hour (a forged or stale URL, or "
                        "one already used); run `auth url` again, open it, and paste the URL "
                        "the browser is sent back to")


@click.command()
@click.option("--verifier", required=True, metavar="CODE",
              help="The `code` from the callback, or the whole callback URL.")
@click.pass_context
def exchange(ctx: click.Context, verifier: str) -> None:
    """Exchange the code for tokens: JSON on stdout, saved when a settings file applies
    (GetOAuthAccessToken)."""
    config, method = _oauth(ctx)
    _check_state(config, method, verifier)  # before anything else in the URL is acted on
    tokens = OAuthClient(method.app(config)).exchange(parse_verifier(verifier))
    if store := method.store(config):
        store.save(tokens)
        click.echo(f"Saved to {store.path}", err=True)
    _print_tokens(tokens)


@click.command()
@click.option("--refresh-token", metavar="T", help="Refresh this token instead of the "
              "configured or stored one.")
@click.pass_context
def refresh(ctx: click.Context, refresh_token: str | None) -> None:
    """Get a new access token: JSON on stdout, saved when a settings file applies
    (RefreshOAuthAccessToken)."""
    config, method = _oauth(ctx)
    store = method.store(config)
    stored = store.load() if store else None
    tokens: Tokens | None
    if refresh_token:  # this one, not what the file holds (unless another run writes it now)
        tokens = Tokens(access_token="", refresh_token=refresh_token)
    else:
        tokens = method.known_tokens(config, stored)
    if not (tokens and tokens.refresh_token):
        raise AuthError("no refresh token: pass --refresh-token, set oauth_refresh_token, or "
                        "authorize first (auth login, or auth url and auth exchange)")
    # Under the file's lock, adopting what another run stored meanwhile (see session.py).
    session = OAuthSession(OAuthClient(method.app(config)), tokens, store=store,
                           may_refresh=True, stored=stored, report_rotation=False)
    new = session.refresh_now()
    if store:
        click.echo(f"Saved to {store.path}", err=True)
    _print_tokens(new)


@click.command("login")
@click.option("--no-browser", is_flag=True, help="Only print the URL; open it yourself.")
@click.option("--timeout", default=DEFAULT_TIMEOUT, show_default=True, type=float,
              help="Seconds to wait for the browser.")
@click.pass_context
def login_command(ctx: click.Context, no_browser: bool, timeout: float) -> None:
    """Desktop flow: listen on callback_url, open the browser, exchange the code, save."""
    config, method = _oauth(ctx)
    app = method.app(config)
    store = method.store(config) or TokenFile(default_location(), app.client_secret)
    tokens = login(OAuthClient(app), timeout=timeout, open_browser=not no_browser)
    store.save(tokens)
    click.echo(f"Authorized. Tokens saved to {store.path}")
    _echo_fields(tokens.describe())


@click.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show the configured method and what is stored (expiry, scopes, API domain); no secret."""
    tap, method = _configured(ctx)
    _echo_fields({"auth_method": method.name, **method.status(tap.config)})


@click.command()
@click.pass_context
def test(ctx: click.Context) -> None:
    """Call GET /api/v1/users/me with the configured method (a headless run with
    oauth_verifier exchanges it and creates the settings file first)."""
    tap, method = _configured(ctx)
    auth, base = tap.connection.auth, tap.api_base
    response = api_session(base, 60).get(f"{base}/api/v1/users/me", auth=auth, timeout=60,
                                         headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise AuthError(f"connection test failed: {base} answered {response.status_code} "
                        f"{response.reason} to GET /api/v1/users/me{_said(response)}")
    me = (response.json() or {}).get("data") or {}
    click.echo(f"OK: {method.name} is connected to {base} as {me.get('name')} "
               f"<{me.get('email')}>, company {me.get('company_name')!r}")


def _said(response: requests.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return f": {error}" if isinstance(error, str) and error else ""


def _echo_fields(fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        if value is not None:
            click.echo(f"{key}: {value}")


@hookimpl
def register_auth_commands(group: click.Group) -> None:
    for command in (url, exchange, refresh, login_command, status, test):
        group.add_command(command)

