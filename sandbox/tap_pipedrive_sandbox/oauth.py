"""Pipedrive's OAuth 2.0 server, in miniature (PIPEDRIVE_API.md section 2).

Authorization codes are single-use and live `code_ttl` seconds (5 minutes at Pipedrive);
refresh tokens do not rotate: a refresh returns a new access token and the same refresh token.
Error texts are Pipedrive's own.
"""

from __future__ import annotations

import base64
import binascii
import html
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

SCOPE = "base,deals:full,contacts:full,activities:full,products:full,users:read"
FORM = "application/x-www-form-urlencoded"


class OAuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"success": False, "message": self.message, "error": self.message}


@dataclass
class _Code:
    redirect_uri: str
    expires_at: float


@dataclass
class OAuthState:
    client_id: str
    client_secret: str
    token_ttl: int = 3599
    code_ttl: int = 300
    deny_consent: bool = False
    # Another authorization server's tokens: token -> None (valid) or the 401's text.
    bearer_check: Callable[[str], str | None] | None = None
    _codes: dict[str, _Code] = field(default_factory=dict)
    _access: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch)
    _refresh: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- GET /oauth/authorize --------------------------------------------------------------

    def authorize(self, query: Mapping[str, str]) -> tuple[int, str]:
        """(302, redirect location) after automatic consent, or (400, an HTML error page)."""
        if query.get("client_id") != self.client_id:
            return 400, _page("Invalid client_id: this app is not known to the sandbox.")
        redirect_uri = query.get("redirect_uri", "")
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return 400, _page("Invalid request: redirect_uri is not a valid URI")
        params: dict[str, str] = {}
        if self.deny_consent:
            params["error"] = "user_denied"
        else:
            code = secrets.token_urlsafe(24)
            with self._lock:
                self._codes[code] = _Code(redirect_uri, time.time() + self.code_ttl)
            params["code"] = code
        if "state" in query:
            params["state"] = query["state"]
        separator = "&" if parts.query else "?"
        return 302, f"{redirect_uri}{separator}{urlencode(params)}"

    # --- POST /oauth/token -----------------------------------------------------------------

    def token(self, headers: Message, body: bytes, api_domain: str) -> dict[str, Any]:
        """The token response, or raise OAuthError carrying Pipedrive's status and text."""
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != FORM:
            raise OAuthError(400, "Invalid request: content must be " + FORM)
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        client_id, client_secret = self._client(headers.get("Authorization"), form)
        if client_id != self.client_id or not secrets.compare_digest(
            client_secret.encode(), self.client_secret.encode()
        ):
            raise OAuthError(401, "Invalid client: client is invalid")
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError(400, "Missing parameter: grant_type")
        with self._lock:
            if grant == "authorization_code":
                refresh = self._redeem(form.get("code", ""), form.get("redirect_uri", ""))
            elif grant == "refresh_token":
                refresh = form.get("refresh_token", "")
                if refresh not in self._refresh:
                    raise OAuthError(400, "Invalid grant: refresh_token is invalid")
            else:
                raise OAuthError(400, "Unsupported grant type: grant_type is invalid")
            access = "v1u:" + secrets.token_urlsafe(48)
            self._access[access] = time.time() + self.token_ttl
        return {
            "access_token": access, "token_type": "Bearer", "refresh_token": refresh,
            "scope": SCOPE, "expires_in": self.token_ttl, "api_domain": api_domain,
        }

    @staticmethod
    def _client(authorization: str | None, form: Mapping[str, str]) -> tuple[str, str]:
        # HTTP Basic is what Pipedrive documents; body credentials are accepted as well.
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            if ":" in decoded:
                client_id, _, secret = decoded.partition(":")
                return client_id, secret
        if form.get("client_id") and form.get("client_secret"):
            return form["client_id"], form["client_secret"]
        raise OAuthError(401, "Invalid client: cannot retrieve client credentials")

    def _redeem(self, code: str, redirect_uri: str) -> str:
        entry = self._codes.get(code)
        if entry is None:
            raise OAuthError(400, "Invalid grant: authorization_code is invalid")
        if entry.expires_at <= time.time():
            del self._codes[code]
            raise OAuthError(400, "Invalid grant: authorization_code has expired")
        if redirect_uri != entry.redirect_uri:
            raise OAuthError(400, "Invalid request: redirect_uri is invalid")
        del self._codes[code]  # single use
        refresh = f"7001234:1:{secrets.token_hex(20)}"
        self._refresh.add(refresh)
        return refresh

    # --- bearer checks and test helpers -------------------------------------------------------

    def check_access(self, token: str) -> str | None:
        """None if the access token is valid, else the error text for the 401."""
        if self.bearer_check is not None:
            return self.bearer_check(token)
        expires_at = self._access.get(token)
        if expires_at is None:
            return "unauthorized access"
        if expires_at <= time.time():
            return "Invalid token: access token has expired"
        return None

    def expire_access_tokens(self) -> int:
        with self._lock:
            past = time.time() - 1
            for token in self._access:
                self._access[token] = past
            return len(self._access)

    def revoke_refresh_tokens(self) -> int:
        with self._lock:
            count = len(self._refresh)
            self._refresh.clear()
            return count

    def expire_codes(self) -> int:
        with self._lock:
            for entry in self._codes.values():
                entry.expires_at = 0
            return len(self._codes)


def _page(message: str) -> str:
    return (
        "<!doctype html><html><head><title>Pipedrive sandbox: authorization error</title>"
        f"</head><body><h1>Authorization error</h1><p>{html.escape(message)}</p></body></html>"
    )
