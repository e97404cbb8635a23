"""The request signer for OAuth: `Authorization: Bearer`, refreshed before it expires, and one
refresh-and-resend when Pipedrive answers 401 anyway (as `requests.auth.HTTPDigestAuth`
re-sends after its challenge)."""

from __future__ import annotations

from typing import Any

import requests
from typing_extensions import override

from tap_pipedrive.auth.oauth import REAUTHORIZE
from tap_pipedrive.auth.session import OAuthSession
from tap_pipedrive.errors import AuthError


def _bearer(access_token: str) -> str:
    return f"Bearer {access_token}"


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, session: OAuthSession) -> None:
        self.session = session

    @override
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = _bearer(self.session.valid_tokens().access_token)
        # The SDK signs each request twice (session.auth and authenticator); hook it once.
        if self._on_response not in request.hooks["response"]:
            request.register_hook("response", self._on_response)
        return request

    def _on_response(self, response: requests.Response, **send_kwargs: Any) -> requests.Response:
        if response.status_code != 401:
            return response
        request = response.request
        rejected = request.headers.get("Authorization", "").removeprefix("Bearer ")
        tokens = self.session.after_rejection(rejected)
        response.content  # noqa: B018 - read the body so the connection can be reused
        response.close()
        resend = request.copy()
        resend.headers["Authorization"] = _bearer(tokens.access_token)
        # The adapter sends without hooks, so this is the only retry.
        again = response.connection.send(resend, **send_kwargs)
        again.history.append(response)
        again.request = resend
        if again.status_code == 401:
            raise AuthError("Pipedrive rejected the OAuth access token again right after it "
                            "was refreshed (app uninstalled or access revoked?); " + REAUTHORIZE)
        return again
