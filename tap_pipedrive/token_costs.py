"""What one API call costs in Pipedrive's daily token budget, from the spec's `x-token-cost`.

Standard library only: the sandbox charges its daily budget with the same table as the tap
counts it. The table is token_costs.json, written by scripts/extract_token_costs.py.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources

# When a path is not in the spec: the documented price of a list call in each version.
DEFAULT_COST = {"/api/v2/": 10, "/api/v1/": 20}
FALLBACK_COST = 20


@cache
def _table() -> dict[str, int]:
    text = resources.files("tap_pipedrive").joinpath("token_costs.json").read_text()
    return json.loads(text)["GET"]


@cache
def _patterns() -> list[tuple[re.Pattern[str], int]]:
    return [
        (re.compile("^" + re.escape(path).replace(r"\{\}", "[^/]+") + "$"), cost)
        for path, cost in _table().items() if "{}" in path
    ]


@cache
def cost_of(path: str) -> int:
    """Tokens a GET of `path` costs. `path` is a template (`/api/v1/deals/{id}/flow`) or a
    concrete path (`/api/v1/deals/5/flow`); a trailing slash is ignored."""
    path = "/" + path.strip("/")
    template = re.sub(r"\{[^}]*\}", "{}", path)
    table = _table()
    if template in table:
        return table[template]
    for pattern, cost in _patterns():
        if pattern.match(path):
            return cost
    return next((c for prefix, c in DEFAULT_COST.items() if path.startswith(prefix)),
                FALLBACK_COST)
