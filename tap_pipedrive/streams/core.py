"""Core CRM entities (v2) and account users (v1)."""

from __future__ import annotations

from tap_pipedrive.client import IncrementalV2Stream, PipedriveStream, V1Stream, V2Stream


class DealsStream(IncrementalV2Stream):
    name = "deals"
    path = "/api/v2/deals"
    primary_keys = ("id",)
    # Without `status`, deleted deals are left out; Pipedrive keeps them 30 days.
    extra_params = {"status": "open,won,lost,deleted"}


class PersonsStream(IncrementalV2Stream):
    name = "persons"
    path = "/api/v2/persons"
    primary_keys = ("id",)


class OrganizationsStream(IncrementalV2Stream):
    name = "organizations"
    path = "/api/v2/organizations"
    primary_keys = ("id",)


class ActivitiesStream(IncrementalV2Stream):
    name = "activities"
    path = "/api/v2/activities"
    primary_keys = ("id",)


class ProductsStream(IncrementalV2Stream):
    # /products has `updated_since` and sorts by update_time, but no `updated_until`:
    # it is read in one ascending pass, never in time windows.
    name = "products"
    path = "/api/v2/products"
    primary_keys = ("id",)


class PipelinesStream(V2Stream):
    name = "pipelines"
    path = "/api/v2/pipelines"
    primary_keys = ("id",)


class StagesStream(V2Stream):
    name = "stages"
    path = "/api/v2/stages"
    primary_keys = ("id",)


class UsersStream(V1Stream):
    # GET /v1/users takes no paging parameters: one call returns every user.
    name = "users"
    path = "/api/v1/users"
    primary_keys = ("id",)


STREAMS: list[type[PipedriveStream]] = [
    DealsStream,
    PersonsStream,
    OrganizationsStream,
    ActivitiesStream,
    ProductsStream,
    PipelinesStream,
    StagesStream,
    UsersStream,
]
