"""Core CRM entities, all on API v2: deals (and archived deals), persons, organizations,
activities, products, pipelines and stages."""

from __future__ import annotations

from tap_pipedrive.client import IncrementalV2Stream, V2Stream
from tap_pipedrive.streams.base import BatchingParent, CustomFieldsStream, NewestFirstStream
from tap_pipedrive.streams.fields import (
    DealFieldsStream,
    OrganizationFieldsStream,
    PersonFieldsStream,
    ProductFieldsStream,
)

# Without `status`, deleted deals are left out; with it, those deleted in the last 30 days
# (Pipedrive's retention) arrive with is_deleted true.
DEAL_STATUSES = {"status": "open,won,lost,deleted"}


class DealsStream(CustomFieldsStream, BatchingParent, IncrementalV2Stream):
    name = "deals"
    windowed = True  # updated_until too: a backfill is read in time windows
    path = "/api/v2/deals"
    primary_keys = ("id",)
    extra_params = DEAL_STATUSES
    custom_field_source = DealFieldsStream
    custom_field_entity = "deal"


class ArchivedDealsStream(CustomFieldsStream, IncrementalV2Stream):
    # Archived deals (since 2025-07) are left out of /deals; same filters and custom fields.
    name = "archived_deals"
    windowed = True  # updated_until too: a backfill is read in time windows
    path = "/api/v2/deals/archived"
    primary_keys = ("id",)
    extra_params = DEAL_STATUSES
    custom_field_source = DealFieldsStream
    custom_field_entity = "deal"


class PersonsStream(CustomFieldsStream, BatchingParent, IncrementalV2Stream):
    name = "persons"
    windowed = True  # updated_until too: a backfill is read in time windows
    path = "/api/v2/persons"
    primary_keys = ("id",)
    custom_field_source = PersonFieldsStream
    custom_field_entity = "person"


class OrganizationsStream(CustomFieldsStream, BatchingParent, IncrementalV2Stream):
    name = "organizations"
    windowed = True  # updated_until too: a backfill is read in time windows
    path = "/api/v2/organizations"
    primary_keys = ("id",)
    custom_field_source = OrganizationFieldsStream
    custom_field_entity = "organization"


class ActivitiesStream(IncrementalV2Stream):
    # v2 activity items carry no custom_fields (spec), though activityFields lists some.
    name = "activities"
    windowed = True  # updated_until too: a backfill is read in time windows
    path = "/api/v2/activities"
    primary_keys = ("id",)


class ProductsStream(CustomFieldsStream, BatchingParent, IncrementalV2Stream):
    # /products has `updated_since` and sorts by update_time, but no `updated_until`:
    # it is read in one ascending pass, never in time windows (its pages are still
    # fetched ahead of the records being emitted).
    name = "products"
    path = "/api/v2/products"
    primary_keys = ("id",)
    custom_field_source = ProductFieldsStream
    custom_field_entity = "product"


class PipelinesStream(NewestFirstStream, V2Stream):
    # No updated_since, but sort_by=update_time: newest first, stop at the bookmark.
    name = "pipelines"
    path = "/api/v2/pipelines"
    primary_keys = ("id",)
    newest_first_params = {"sort_by": "update_time", "sort_direction": "desc"}


class StagesStream(NewestFirstStream, V2Stream):
    name = "stages"
    path = "/api/v2/stages"
    primary_keys = ("id",)
    newest_first_params = {"sort_by": "update_time", "sort_direction": "desc"}


STREAMS = [
    DealsStream, ArchivedDealsStream, PersonsStream, OrganizationsStream, ActivitiesStream,
    ProductsStream, PipelinesStream, StagesStream,
]
