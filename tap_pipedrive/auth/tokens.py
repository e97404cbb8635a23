"""OAuth tokens as the tap keeps them: the token response plus when it was received."""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from tap_pipedrive.errors import AuthError

LEEWAY = 120  # refresh this long before expiry, so a request never carries a dying token


@dataclass(frozen=True)
class Tokens:
    """A token response, with the time it was received so that its expiry is known.

    `expires_in` is None for a token handed over in the config (its age is unknown: it is
    used until Pipedrive rejects it). `code_sha256` names the authorization code the tokens
    came from, so a headless run can tell a new `oauth_verifier` from one already exchanged.
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_in: float | None = None
    obtained_at: float = field(default_factory=time.time)
    scope: str = ""
    api_domain: str | None = None
    token_type: str = "Bearer"
    code_sha256: str | None = None

    @classmethod
    def from_response(cls, body: dict[str, Any], previous: Tokens | None = None) -> Tokens:
        if not body.get("access_token"):
            raise AuthError("the OAuth server's answer holds no access_token")
        kept = previous or cls(access_token="")
        return cls(
            access_token=body["access_token"],
            # Pipedrive re-issues the same refresh token; keep ours if one is ever left out.
            refresh_token=body.get("refresh_token") or kept.refresh_token,
            expires_in=float(body["expires_in"]) if body.get("expires_in") else None,
            scope=body.get("scope") or kept.scope,
            api_domain=body.get("api_domain") or kept.api_domain,
            token_type=body.get("token_type") or "Bearer",
            code_sha256=kept.code_sha256,
        )

    @property
    def expires_at(self) -> float | None:
        return None if self.expires_in is None else self.obtained_at + self.expires_in

    def is_fresh(self) -> bool:
        """Usable for the next request: present, and not within the leeway of its expiry."""
        if not self.access_token:
            return False
        if self.expires_in is None:
            return True
        leeway = min(LEEWAY, self.expires_in / 4)  # short-lived tokens (tests) stay usable
        return time.time() < self.obtained_at + self.expires_in - leeway

    def to_dict(self) -> dict[str, Any]:
        """Everything, secrets included: for the encrypted file only."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokens:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def token_response(self) -> dict[str, Any]:
        """The token response as Pipedrive shapes it (what `auth exchange`/`refresh` print)."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
            "expires_in": None if self.expires_in is None else int(self.expires_in),
            "api_domain": self.api_domain,
        }

    def describe(self) -> dict[str, Any]:
        """What `auth status` may show: never a token."""
        expires_at = self.expires_at
        if expires_at is None:
            expiry = "unknown (a token given in the config is used until it is rejected)"
        else:
            left = expires_at - time.time()
            expiry = _iso(expires_at) + (f" (in {left / 60:.0f} min)" if left > 0 else " (expired)")
        return {
            "api_domain": self.api_domain,
            "scope": self.scope,
            "access_token_expires": expiry,
            "refresh_token": "present" if self.refresh_token else "none",
        }

    def with_code(self, code: str) -> Tokens:
        return replace(self, code_sha256=code_digest(code))


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
