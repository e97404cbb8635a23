"""OAuth tokens as the tap keeps them: the token response plus when it was received."""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from tap_pipedrive.errors import AuthError

LEEWAY = 120  # refresh this long before expiry, so a request never carries a dying token
KEPT_DIGESTS = 20  # spent refresh tokens remembered (as digests) by a settings file


@dataclass(frozen=True)
class Tokens:
    """A token response, with the time it was received so that its expiry is known.

    `expires_in` is None for a token handed over in the config (its age is unknown: it is
    used until Pipedrive rejects it). `code_sha256` names the authorization code the tokens
    came from, so a headless run can tell a new `oauth_verifier` from one already exchanged.
    `rotated_from` holds digests of the refresh tokens these replaced, newest first: a config
    that still carries one of them is older than these tokens. Non-empty: the server rotates.
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_in: float | None = None
    obtained_at: float = field(default_factory=time.time)
    scope: str = ""
    api_domain: str | None = None
    token_type: str = "Bearer"
    code_sha256: str | None = None
    rotated_from: tuple[str, ...] = ()

    @classmethod
    def from_response(cls, body: dict[str, Any], previous: Tokens | None = None) -> Tokens:
        if not isinstance(body, dict) or not body.get("access_token"):
            raise AuthError("the OAuth server's answer holds no access_token")
        token_type = body.get("token_type")
        # RFC 6749 5.1: case-insensitive. Only Bearer can be used (RFC 6750); a missing type
        # is taken as Bearer, the only kind Pipedrive hands out.
        if token_type is not None and str(token_type).lower() != "bearer":
            shown = "".join(c for c in str(token_type)[:40] if c.isprintable())
            raise AuthError(f"the OAuth server issued a token of type {shown!r}, not Bearer, "
                            "which tap-pipedrive cannot use; check oauth_url")
        kept = previous or cls(access_token="")
        refresh = body.get("refresh_token") or kept.refresh_token  # kept if left out
        rotated = kept.rotated_from
        if kept.refresh_token and refresh != kept.refresh_token:  # rotated: the old one is spent
            rotated = (code_digest(kept.refresh_token), *rotated)[:KEPT_DIGESTS]
        try:
            expires_in = float(body["expires_in"]) if body.get("expires_in") else None
        except (TypeError, ValueError):
            expires_in = None  # used until rejected, like a token of unknown age
        return cls(
            access_token=str(body["access_token"]),
            refresh_token=refresh,
            expires_in=expires_in,
            scope=body.get("scope") or kept.scope,
            api_domain=body.get("api_domain") or kept.api_domain,
            token_type="Bearer",
            code_sha256=kept.code_sha256,
            rotated_from=rotated,
        )

    @property
    def rotates(self) -> bool:
        """The server has replaced a refresh token of this authorization at least once."""
        return bool(self.rotated_from)

    def supersedes(self, refresh_token: str | None) -> bool:
        """`refresh_token` is one these tokens replaced (so it is spent)."""
        return bool(refresh_token and code_digest(refresh_token) in self.rotated_from)

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
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        fields["rotated_from"] = tuple(fields.get("rotated_from") or ())
        return cls(**fields)

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
