"""The OAuth client every OAuth method and `auth` command uses: authorization URL, code
exchange and refresh against Pipedrive's OAuth server.

Pipedrive authenticates the client with HTTP Basic (client id and secret, each
form-urlencoded first, RFC 6749 section 2.3.1) and takes a form body; codes live 5 minutes,
access tokens about an hour. Pipedrive documents that its refresh tokens do not rotate (the
same one comes back, valid for another 60 days of disuse), but its error list has a refresh
token "already exchanged", and other servers rotate: a new refresh token in an answer always
replaces the old one, and the old one is taken as spent. Token calls that fail with a 5xx, a
429 or a broken connection are retried with backoff, `max_retries` times.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlparse

import requests

from tap_pipedrive.auth.tokens import Tokens
from tap_pipedrive.errors import AuthError

DEFAULT_OAUTH_URL = "https://oauth.pipedrive.com"
DEFAULT_CALLBACK_URL = "http://127.0.0.1:8765/callback"
TIMEOUT = 30  # seconds for one call to the token endpoint
MAX_BACKOFF = 60  # seconds, the longest wait between two token calls

logger = logging.getLogger(__name__)

REAUTHORIZE = (
    "authorize again: `tap-pipedrive auth login` (desktop), or `auth url` then "
    "`auth exchange --verifier CODE` (web, headless)"
)


class RefreshTokenRejected(AuthError):
    """The refresh token is invalid or expired: only a new authorization helps."""


@dataclass(frozen=True)
class OAuthApp:
    """A custom OAuth app as registered in Pipedrive's Developer Hub."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str = DEFAULT_CALLBACK_URL
    oauth_url: str = DEFAULT_OAUTH_URL
    max_retries: int = 5  # token calls, like API calls
    retry_backoff_seconds: float = 2


def parse_verifier(value: str) -> str:
    """The code from `oauth_verifier`/`--verifier`: the bare code, or the whole redirect URL
    pasted from the browser's address bar."""
    value = value.strip()
    if "code=" not in value and "error=" not in value:
        return value
    query = parse_qs(urlparse(value).query if "://" in value else value.lstrip("?"))
    if error := query.get("error"):
        raise AuthError(consent_error(error[0]))
    if code := query.get("code"):
        return code[0]
    raise AuthError("the verifier is a URL without a `code` parameter; paste the code itself "
                    "or the whole URL the browser was sent back to")


def printable(text: str, limit: int = 100) -> str:
    """Text from a callback or a pasted URL, safe for a terminal: no escape sequences, no
    control or format characters, bounded."""
    kept = "".join(c for c in str(text) if c.isprintable())
    return kept[:limit] + ("..." if len(kept) > limit else "")


def consent_error(error: str) -> str:
    error = printable(error)
    if error == "user_denied":
        return ("access was denied on Pipedrive's consent page (error=user_denied); "
                "authorize again and choose Allow")
    return f"Pipedrive's authorization page answered error={error}; " + REAUTHORIZE


class OAuthClient:
    """Pipedrive's OAuth endpoints for one app. Raises `AuthError` with a readable message."""

    def __init__(self, app: OAuthApp) -> None:
        self.app = app
        self.base = app.oauth_url.rstrip("/")

    def authorization_url(self, state: str) -> str:
        # No `scope`: Pipedrive takes the scopes from the app's settings in Developer Hub.
        query = {"response_type": "code", "client_id": self.app.client_id,
                 "redirect_uri": self.app.redirect_uri, "state": state}
        return f"{self.base}/oauth/authorize?{urlencode(query)}"

    def exchange(self, code: str) -> Tokens:
        """GetOAuthAccessToken: the authorization code (the verifier) for tokens."""
        body = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.app.redirect_uri}
        return Tokens.from_response(self._token(body, secrets=(code,))).with_code(code)

    def refresh(self, tokens: Tokens) -> Tokens:
        """RefreshOAuthAccessToken: a new access token; the rest carries over."""
        if not tokens.refresh_token:
            raise AuthError("no OAuth refresh token to refresh with; " + REAUTHORIZE)
        body = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
        answer = self._token(body, secrets=(tokens.refresh_token,), rotates=tokens.rotates)
        return Tokens.from_response(answer, tokens)

    def _token(self, form: dict[str, str], secrets: tuple[str, ...],
               rotates: bool = False) -> dict[str, Any]:
        url = f"{self.base}/oauth/token"
        response = self._post(url, form)
        if response.status_code != 200:
            said = redact(_said(response), self.app.client_secret, *secrets)
            raise token_error(form["grant_type"], response.status_code, said, rotates)
        try:
            return response.json()
        except ValueError:
            raise AuthError(f"the OAuth server {url} answered 200 without JSON") from None


    def _post(self, url: str, form: dict[str, str]) -> requests.Response:
        """One token call, retried on a 5xx, a 429 or a broken connection (bounded)."""
        # RFC 6749 2.3.1: form-urlencode each credential before Basic; a no-op for
        # Pipedrive's alphanumeric ones, required by servers that decode them.
        auth = (quote(self.app.client_id, safe=""), quote(self.app.client_secret, safe=""))
        retries = max(0, int(self.app.max_retries))
        response: requests.Response | None = None
        for attempt in range(retries + 1):
            try:
                answer = requests.post(url, data=form, auth=auth, timeout=TIMEOUT,
                                       headers={"Accept": "application/json"})
            except requests.RequestException as exc:
                response, failure = None, type(exc).__name__
            else:
                response = answer
                if answer.status_code < 500 and answer.status_code != 429:
                    return answer
                failure = f"{answer.status_code} {answer.reason}".strip()
            if attempt == retries:
                break
            wait = self._wait(attempt, response)
            logger.warning("OAuth token call: retry %d of %d in %.1f s after %s from %s",
                           attempt + 1, retries, wait, failure, url)
            time.sleep(wait)
        if response is None:
            raise AuthError(f"could not reach the OAuth server {url}: {failure}"
                            + (f" ({retries} retries)" if retries else ""))
        raise AuthError(f"the OAuth server {url} answered {failure}"
                        + (f" {retries + 1} times" if retries else "") + "; try again later")

    def _wait(self, attempt: int, response: requests.Response | None) -> float:
        retry_after = response.headers.get("Retry-After", "") if response is not None else ""
        if retry_after.strip().isdigit():
            return min(float(retry_after), MAX_BACKOFF)
        base = float(self.app.retry_backoff_seconds)
        return min(base * 2 ** attempt, MAX_BACKOFF) * random.uniform(0.5, 1.0)


ROTATED = ("already exchanged", "already used", "reuse", "rotated")


def token_error(grant: str, status: int, said: str, rotates: bool = False) -> AuthError:
    """Pipedrive's token-endpoint errors, said in terms of what to do next."""
    text = said.lower()
    if "has expired" in text and "code" in text:
        return AuthError("the authorization code has expired (codes are valid for 5 minutes); "
                         + REAUTHORIZE)
    if "redirect_uri" in text:
        return AuthError("callback_url is not the redirect URI registered for the OAuth app "
                         "in Pipedrive's Developer Hub; set it to exactly that value")
    if "authorization_code" in text or (grant == "authorization_code" and "grant" in text):
        return AuthError("the authorization code was rejected: it is wrong or was already "
                         "used (each code works once); " + REAUTHORIZE)
    if "refresh" in text or (grant == "refresh_token" and "grant" in text):
        reason = f" ({said})" if said else ""
        if rotates or any(word in text for word in ROTATED):
            return RefreshTokenRejected(
                f"the OAuth refresh token was rejected as already used{reason}: the server "
                "rotates refresh tokens and each works once, so another run or another copy "
                "of the tokens spent it (a server with reuse detection then revokes the whole "
                "authorization); let every run share one oauth_settings_location, and "
                + REAUTHORIZE)
        return RefreshTokenRejected(
            f"the OAuth refresh token was rejected{reason}: it expired (Pipedrive's expire "
            "after 60 days without use), the app was uninstalled, or it was already exchanged "
            "elsewhere; " + REAUTHORIZE)
    if "client" in text:
        return AuthError("Pipedrive rejected the OAuth client credentials: check "
                         "oauth_client_id and oauth_client_secret")
    return AuthError(f"the OAuth server refused the {grant} request ({status}): "
                     f"{said or 'no reason given'}")


def _said(response: requests.Response) -> str:
    """Pipedrive's words, whether RFC 6749 style (error, error_description) or its own."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if not isinstance(body, dict):
        return ""
    parts = [body.get(k) for k in ("error", "error_description", "message")]
    return ": ".join(dict.fromkeys(p for p in parts if isinstance(p, str) and p))


def redact(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
