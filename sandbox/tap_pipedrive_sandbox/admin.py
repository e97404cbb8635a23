"""The /_sandbox admin calls (listed in server.py's docstring), as one table."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from .api import error_envelope
from .data import SandboxData, UnknownEntity
from .faults import Faults
from .oauth import OAuthState


class Sandbox(Protocol):
    """What the admin calls act on: server.Sandbox (which imports this module, not the
    reverse)."""

    data: SandboxData
    oauth: OAuthState
    faults: Faults

    @property
    def requests(self) -> list[dict[str, Any]]: ...
    def reset_requests(self) -> None: ...
    def expire_access_tokens(self) -> int: ...
    def revoke_refresh_tokens(self) -> int: ...
    def set_deny_consent(self, deny: bool) -> bool: ...
    def reset_daily_budget(self) -> int: ...


Action = Callable[[Sandbox, dict[str, Any]], Any]

ACTIONS: dict[tuple[str, str], Action] = {
    ("POST", "touch"): lambda sb, b: sb.data.touch(b["entity"], b["ids"], b.get("update_time")),
    ("POST", "create"): lambda sb, b: sb.data.create(
        b["entity"], b.get("count", 1), b.get("update_time")
    ),
    ("POST", "delete"): lambda sb, b: sb.data.delete(b["entity"], b["ids"], b.get("update_time")),
    ("GET", "requests"): lambda sb, b: sb.requests,
    ("POST", "requests/reset"): lambda sb, b: sb.reset_requests(),
    ("POST", "oauth/expire-access-tokens"): lambda sb, b: sb.expire_access_tokens(),
    ("POST", "oauth/revoke-refresh-tokens"): lambda sb, b: sb.revoke_refresh_tokens(),
    ("POST", "oauth/expire-codes"): lambda sb, b: sb.oauth.expire_codes(),
    ("POST", "oauth/deny-consent"): lambda sb, b: sb.set_deny_consent(bool(b.get("deny", True))),
    ("GET", "faults"): lambda sb, b: sb.faults.describe(),
    ("POST", "faults"): lambda sb, b: sb.faults.configure(
        b.get("rate"), b.get("kinds"), b.get("seed"), b.get("after"), b.get("delay"),
        b.get("paths"),
    ),
    ("POST", "daily-budget/reset"): lambda sb, b: sb.reset_daily_budget(),
}


def call(sb: Sandbox, method: str, action: str, raw_body: bytes) -> tuple[int, dict[str, Any]]:
    """(status, JSON document) for one admin request."""
    try:
        body = json.loads(raw_body or b"{}")
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        handler = ACTIONS.get((method, action))
        if handler is not None:
            result = handler(sb, body)
        elif method == "GET" and action.startswith("records/"):
            result = sb.data.records(action[len("records/"):])
        else:
            return 404, error_envelope("Not found", 404)
    except UnknownEntity as exc:
        return 404, error_envelope(f"Unknown entity: {exc.args[0]}", 404)
    except (ValueError, KeyError, TypeError) as exc:  # bad JSON, missing keys, unknown ids
        return 400, error_envelope(str(exc), 400)
    return 200, {"success": True, "data": result}
