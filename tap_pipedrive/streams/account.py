"""The company account's streams with behaviour of their own (the others are entries of
endpoints.py): goals."""

from __future__ import annotations

from typing import Any

from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_pipedrive.client import PipedriveStream

# Goals are found, not listed: a type asks for everyone's goals (spec GET /v1/goals/find),
# and is_active defaults to true, so both values are asked for.
GOAL_TYPES = ("deals_won", "deals_progressed", "activities_completed", "activities_added",
              "deals_started")


class GoalsStream(PipedriveStream):
    endpoint = "goals"
    state_partitioning_keys: list[str] = []  # full table: no per-query state

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        return [{"type.name": kind, "is_active": active}
                for kind in GOAL_TYPES for active in ("true", "false")]

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        return {**super().get_url_params(context, next_page_token), **(context or {})}


BEHAVIOURS = [GoalsStream]
