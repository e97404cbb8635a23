"""Leads (API v1: no v2 list exists), archived leads, lead labels and lead sources."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests
from typing_extensions import override

from tap_pipedrive.client import V1Stream
from tap_pipedrive.streams.base import CustomFieldsStream, IncrementalV1Stream, NewestFirstStream
from tap_pipedrive.streams.fields import DealFieldsStream


class LeadsStream(CustomFieldsStream, IncrementalV1Stream):
    # Leads inherit the deals' custom fields, as top-level keys in v1's value format
    # (spec: GET /v1/leads/archived description).
    name = "leads"
    path = "/api/v1/leads"
    primary_keys = ("id",)
    custom_field_source = DealFieldsStream
    custom_field_entity = "lead"
    custom_field_shape = "v1"


class ArchivedLeadsStream(CustomFieldsStream, NewestFirstStream, V1Stream):
    # /leads/archived sorts but has no updated_since: newest first, stop at the bookmark.
    name = "archived_leads"
    path = "/api/v1/leads/archived"
    primary_keys = ("id",)
    paginated = True
    newest_first_params = {"sort": "update_time DESC"}
    custom_field_source = DealFieldsStream
    custom_field_entity = "lead"
    custom_field_shape = "v1"


class LeadLabelsStream(V1Stream):
    name = "lead_labels"
    path = "/api/v1/leadLabels"
    primary_keys = ("id",)


class LeadSourcesStream(V1Stream):
    # Pipedrive's fixed list of source names: `name` is the item's only property (spec), and
    # the key. The tap adds `position` (the order Pipedrive lists them in): a table made only
    # of its key breaks upserting loaders (target-duckdb fails on an UPDATE with nothing to
    # set, and refuses tables without a key).
    name = "lead_sources"
    path = "/api/v1/leadSources"
    primary_keys = ("name",)
    extra_properties = {"position": {"type": ["integer", "null"],
                                     "description": "1 for the first source Pipedrive lists, "
                                     "2 for the next... (added by the tap)"}}

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        for position, record in enumerate(super().parse_response(response), start=1):
            yield {**record, "position": position}


STREAMS = [LeadsStream, ArchivedLeadsStream, LeadLabelsStream, LeadSourcesStream]
