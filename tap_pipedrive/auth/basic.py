"""`basic`: Pipedrive's API token, sent in the `x-api-token` header (never in the URL)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import requests
from singer_sdk import typing as th
from singer_sdk.authenticators import APIKeyAuthenticator
from typing_extensions import override

from tap_pipedrive.auth.base import AuthMethod, Connection
from tap_pipedrive.auth.hookspecs import hookimpl
from tap_pipedrive.errors import ConfigError


class BasicAuth(AuthMethod):
    name = "basic"
    description = "API token of a Pipedrive user (Settings > Personal preferences > API)."
    settings = [
        th.Property(
            "api_token",
            th.StringType,
            secret=True,
            description="Pipedrive API token; sent as the x-api-token header.",
        ),
    ]

    @override
    def connect(self, config: Mapping[str, Any]) -> Connection:
        token = config.get("api_token")
        if not token:
            raise ConfigError("auth_method 'basic' needs api_token (TAP_PIPEDRIVE_API_TOKEN)")
        sign = APIKeyAuthenticator(key="x-api-token", value=token, location="header")
        # The SDK's authenticators sign a request as requests' AuthBase does (not a subclass).
        return Connection(cast("requests.auth.AuthBase", sign))

    @override
    def status(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"api_token": "set (not shown)" if config.get("api_token") else "not set",
                "company_domain": config.get("company_domain")}


@hookimpl
def register_auth_methods(register) -> None:
    register(BasicAuth())
