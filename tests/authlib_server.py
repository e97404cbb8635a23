"""A strict OAuth 2.0 authorization server for the tests, on Authlib (not the project's own
sandbox): set up as Pipedrive documents its server (authorize and token endpoints at
/oauth/authorize and /oauth/token, HTTP Basic client authentication only, `api_domain` in the
token answer), with refresh-token rotation and reuse detection switched on: every refresh
returns a new refresh token and spends the old one; presenting a spent one revokes the whole
grant (every access and refresh token descended from the same authorization code).

    with StrictOAuthServer(api_domain=sb.url) as oauth:
        oauth.url                    # http://127.0.0.1:<port>, the tap's oauth_url
        oauth.register_redirect_uri("http://127.0.0.1:8765/callback")
        sb.oauth.bearer_check = oauth.check_access   # the sandbox accepts its access tokens

Authlib decides everything RFC 6749 says: `response_type=code` is required, client
credentials in Basic are form-urlencoded (section 2.3.1), `redirect_uri` must match, codes
work once. Faults for retry tests: `fail_next(n, kind)` with kind 503, 429 or reset.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from flask import Flask, Response, request
from werkzeug.serving import WSGIRequestHandler, make_server

SCOPE = "base,deals:full,contacts:full,users:read"
USER = "user-1"
CLIENT_ID = "strict-client-id"
# Form-urlencoding changes it (RFC 6749 2.3.1): a client that skips it is refused.
CLIENT_SECRET = "cs-LEAKCHECK-strict%2F:7c41"
REUSED = "refresh token already exchanged; the grant is revoked"


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        return SCOPE  # like Pipedrive: the app's scopes, whatever is asked

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return SCOPE


@dataclass
class Token(TokenMixin):
    access_token: str
    refresh_token: str | None
    client_id: str
    grant_id: str
    expires_at: float
    spent: bool = False  # its refresh token was exchanged
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return SCOPE

    def get_expires_in(self) -> int:
        return int(self.expires_at - time.time())

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass  # request lines carry codes and states


class StrictOAuthServer:
    def __init__(self, api_domain: str, token_ttl: int = 3599, code_ttl: int = 300) -> None:
        self.api_domain = api_domain
        self.token_ttl = token_ttl
        self.code_ttl = code_ttl
        self.client = Client(CLIENT_ID, CLIENT_SECRET)
        self.token_type = "Bearer"  # what the token answer says (tests change it)
        self.deny = False
        self.codes: dict[str, Code] = {}
        self.tokens: list[Token] = []
        self.calls: list[dict[str, Any]] = []  # token endpoint: grant_type, status, error
        self.reuses = 0  # spent refresh tokens presented again
        self.reuse_says: str | None = REUSED  # None: a bare invalid_grant, as many servers do
        self._faults: list[str] = []
        self._lock = threading.RLock()
        self._server = make_server("127.0.0.1", 0, self._app(), threaded=True,
                                   request_handler=_Quiet)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- what tests use ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def register_redirect_uri(self, uri: str) -> None:
        self.client.redirect_uris.append(uri)

    def check_access(self, access_token: str) -> str | None:
        """The sandbox's bearer check: None when valid, else the 401's text."""
        with self._lock:
            token = next((t for t in self.tokens if t.access_token == access_token), None)
        if token is None or token.revoked:
            return "unauthorized access"
        if token.is_expired():
            return "Invalid token: access token has expired"
        return None

    def expire_access_tokens(self) -> None:
        with self._lock:
            for token in self.tokens:
                token.expires_at = time.time() - 1

    def refresh_calls(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["grant_type"] == "refresh_token"]

    def fail_next(self, count: int, kind: str = "503") -> None:
        """The next `count` token calls fail: 503, 429 (Retry-After: 0) or a reset connection."""
        self._faults.extend([kind] * count)

    def issued_secrets(self) -> set[str]:
        with self._lock:
            found = {self.client.client_secret, *self.codes}
            for token in self.tokens:
                found.update(t for t in (token.access_token, token.refresh_token) if t)
        return found

    # -- the Authlib server ---------------------------------------------------------------------

    def _app(self) -> Flask:
        app = Flask("strict-oauth")
        server = AuthorizationServer(app, query_client=self._query_client,
                                     save_token=self._save_token)
        bearer = BearerTokenGenerator(
            access_token_generator=lambda **_: "sat-" + secrets.token_urlsafe(32),
            refresh_token_generator=lambda **_: "srt-" + secrets.token_urlsafe(32),
            expires_generator=lambda client, grant_type: self.token_ttl,
        )

        def generate(grant_type, client, user=None, scope=None, expires_in=None,
                     include_refresh_token=True):
            token = bearer(grant_type, client, user, scope, expires_in, include_refresh_token)
            token["token_type"] = self.token_type
            token["api_domain"] = self.api_domain  # Pipedrive's addition
            return token

        server.register_token_generator("default", generate)
        server.register_grant(self._code_grant())
        server.register_grant(self._refresh_grant())

        @app.get("/oauth/authorize")
        def authorize() -> Response:
            try:
                grant = server.get_consent_grant(end_user=USER)
            except OAuth2Error as error:
                return server.handle_error_response(None, error)
            return server.create_authorization_response(
                grant_user=None if self.deny else USER, grant=grant)

        @app.post("/oauth/token")
        def token() -> Response:
            fault = self._faults.pop(0) if self._faults else None
            grant_type = request.form.get("grant_type")
            if fault == "reset":
                with contextlib.suppress(OSError):
                    request.environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
                self.calls.append({"grant_type": grant_type, "status": 0, "fault": fault})
                return Response("", 500)
            if fault in ("503", "429"):
                self.calls.append({"grant_type": grant_type, "status": int(fault),
                                   "fault": fault})
                return Response('{"error": "temporarily_unavailable"}', int(fault),
                                {"Retry-After": "0", "Content-Type": "application/json"})
            with self._lock:  # one token call at a time: rotation is atomic
                response = server.create_token_response()
            body = response.get_json(silent=True) or {}
            self.calls.append({"grant_type": grant_type, "status": response.status_code,
                               "error": body.get("error"),
                               "description": body.get("error_description")})
            return response

        return app

    def _query_client(self, client_id: str) -> Client | None:
        return self.client if client_id == self.client.client_id else None

    def _save_token(self, token: dict[str, Any], req: Any) -> None:
        previous = getattr(req, "refresh_token", None)  # set by the refresh grant
        grant_id = previous.grant_id if isinstance(previous, Token) else secrets.token_hex(8)
        self.tokens.append(Token(token["access_token"], token.get("refresh_token"),
                                 req.client.client_id, grant_id,
                                 time.time() + token["expires_in"]))

    def _revoke_grant(self, grant_id: str) -> None:
        for token in self.tokens:
            if token.grant_id == grant_id:
                token.revoked = True

    def _code_grant(self) -> type:
        outer = self

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

            def save_authorization_code(self, code: str, req: Any) -> None:
                outer.codes[code] = Code(code, req.client.client_id, req.payload.redirect_uri,
                                         time.time() + outer.code_ttl)

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                item = outer.codes.get(code)
                if item and item.client_id == client.client_id and time.time() < item.expires_at:
                    return item
                return None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                outer.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> str:
                return USER

        return CodeGrant

    def _refresh_grant(self) -> type:
        outer = self

        class RotatingRefreshGrant(grants.RefreshTokenGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]
            INCLUDE_NEW_REFRESH_TOKEN = True  # rotation

            def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
                token = next((t for t in outer.tokens if t.refresh_token == refresh_token), None)
                if token is None or token.revoked:
                    return None
                if token.spent:  # reuse detection (RFC 9700 4.14.2)
                    outer.reuses += 1
                    outer._revoke_grant(token.grant_id)
                    raise InvalidGrantError(outer.reuse_says)
                return token

            def authenticate_user(self, refresh_token: Token) -> str:
                return USER

            def revoke_old_credential(self, refresh_token: Token) -> None:
                refresh_token.spent = True

        return RotatingRefreshGrant

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> StrictOAuthServer:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
