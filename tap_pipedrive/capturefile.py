"""The layout of a capture directory, shared by `tap-pipedrive capture` (which writes one) and
`tap-pipedrive sandbox --replay` (which serves one). Standard library only.

    DIR/manifest.json       what was captured, and how (FORMAT, answers, child routes)
    DIR/0001-deals.json     one answer: {"stream", "request": {method, path, query},
                            "response": {status, headers, body}, ...}

A request is found again by its method, path and query, leaving out credentials (never
written) and parameters that change from run to run without changing what is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping

FORMAT = "tap-pipedrive-capture/1"
DEFAULT_PAGES = 1  # pages kept of each walk (a stream, a partition, a parent's children)
DEFAULT_PARENTS = 2  # parents whose children are read (or batches, for batched endpoints)
MANIFEST = "manifest.json"

# Query parameters that carry a credential: never written, ignored when matching.
CREDENTIAL_PARAMS = frozenset({
    "api_token", "access_token", "refresh_token", "token", "oauth_token", "client_secret",
    "client_id", "code", "password",
})
# Depend on the state or start_date of the run, not on what is read: a replay serves the
# captured answer whatever bookmark the replaying run starts from.
VOLATILE_PARAMS = frozenset({"updated_since", "updated_until"})
# Which page of a walk (v2 cursor, v1 offset).
PAGING_PARAMS = frozenset({"cursor", "start"})


def match_query(query: Mapping[str, str], *leave_out: str) -> tuple[tuple[str, str], ...]:
    """The query as compared between a capture and a replaying request."""
    ignored = CREDENTIAL_PARAMS | VOLATILE_PARAMS | set(leave_out)
    return tuple(sorted((k, v) for k, v in query.items() if k.lower() not in ignored))


def api_path(path: str) -> str:
    """The path from `/api/` on: an `api_url` with a path prefix (a proxy) replays too."""
    at = path.find("/api/")
    return path[at:] if at >= 0 else path
