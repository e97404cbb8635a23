"""The company account (API v1, no v2 lists exist): users, roles, permission sets, activity
types, currencies, filters and goals."""

from __future__ import annotations

from typing import Any

from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_pipedrive.client import V1Stream
from tap_pipedrive.streams.base import BatchingParent

# Goals are found, not listed: a type asks for everyone's goals (spec GET /v1/goals/find),
# and is_active defaults to true, so both values are asked for.
GOAL_TYPES = ("deals_won", "deals_progressed", "activities_completed", "activities_added",
              "deals_started")


class UsersStream(BatchingParent, V1Stream):
    # GET /v1/users takes no paging parameters: one call returns every user.
    name = "users"
    path = "/api/v1/users"
    primary_keys = ("id",)


class RolesStream(BatchingParent, V1Stream):
    name = "roles"
    path = "/api/v1/roles"
    primary_keys = ("id",)
    paginated = True
    selected_by_default = False  # needs an admin user (OAuth scope `admin`)


class PermissionSetsStream(BatchingParent, V1Stream):
    name = "permission_sets"
    path = "/api/v1/permissionSets"
    primary_keys = ("id",)
    selected_by_default = False  # needs an admin user (OAuth scope `admin`)


class ActivityTypesStream(V1Stream):
    name = "activity_types"
    path = "/api/v1/activityTypes"
    primary_keys = ("id",)


class CurrenciesStream(V1Stream):
    name = "currencies"
    path = "/api/v1/currencies"
    primary_keys = ("id",)


class FiltersStream(V1Stream):
    # Without `type`, every type of filter is returned.
    name = "filters"
    path = "/api/v1/filters"
    primary_keys = ("id",)


class GoalsStream(V1Stream):
    name = "goals"
    path = "/api/v1/goals/find"
    primary_keys = ("id",)
    records_jsonpath = "$.data.goals[*]"
    state_partitioning_keys: list[str] = []  # full table: no per-query state

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        return [{"type.name": kind, "is_active": active}
                for kind in GOAL_TYPES for active in ("true", "false")]

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        return {**super().get_url_params(context, next_page_token), **(context or {})}


STREAMS = [
    UsersStream, RolesStream, PermissionSetsStream, ActivityTypesStream, CurrenciesStream,
    FiltersStream, GoalsStream,
]
