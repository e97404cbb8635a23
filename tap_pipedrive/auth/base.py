"""What an authentication method is, as seen by the tap."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import requests
from singer_sdk import typing as th


@dataclass(frozen=True)
class Connection:
    """What a method yields: how to sign requests and, for OAuth, where the API lives."""

    auth: requests.auth.AuthBase
    api_base: str | None = None


class AuthMethod(ABC):
    """An authentication method, selected by the `auth_method` setting.

    `settings` are the properties the method adds to the tap's configuration schema; the tap
    merges them, so two methods may share a setting (for example `oauth_client_id`).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    settings: ClassVar[list[th.Property]] = []

    @abstractmethod
    def connect(self, config: Mapping[str, Any]) -> Connection:
        """Return the request signer for this config, or raise a `TapPipedriveError`."""

    def status(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """What `auth status` shows for this config: never a secret, no network call."""
        return {}
