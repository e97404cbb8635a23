"""`basic`: Pipedrive's API token, sent in the `x-api-token` header (never in the URL)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from singer_sdk import typing as th
from singer_sdk.authenticators import APIKeyAuthenticator

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

    def connect(self, config: Mapping[str, Any]) -> Connection:
        token = config.get("api_token")
        if not token:
            raise ConfigError("auth_method 'basic' needs api_token (TAP_PIPEDRIVE_API_TOKEN)")
        return Connection(APIKeyAuthenticator(key="x-api-token", value=token, location="header"))

    def status(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"api_token": "set (not shown)" if config.get("api_token") else "not set",
                "company_domain": config.get("company_domain")}


@hookimpl
def register_auth_methods(register) -> None:
    register(BasicAuth())
