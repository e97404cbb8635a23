"""Leads: the streams with behaviour of their own (the others are entries of endpoints.py):
lead sources."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests
from typing_extensions import override

from tap_pipedrive.client import PipedriveStream


class LeadSourcesStream(PipedriveStream):
    # Pipedrive's fixed list of source names: `name` is the item's only property (spec), and
    # the key. The tap adds `position` (the order Pipedrive lists them in): a table made only
    # of its key breaks upserting loaders (target-duckdb fails on an UPDATE with nothing to
    # set, and refuses tables without a key).
    endpoint = "lead_sources"
    extra_properties = {"position": {"type": ["integer", "null"],
                                     "description": "1 for the first source Pipedrive lists, "
                                     "2 for the next... (added by the tap)"}}

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        for position, record in enumerate(super().parse_response(response), start=1):
            yield {**record, "position": position}


BEHAVIOURS = [LeadSourcesStream]
