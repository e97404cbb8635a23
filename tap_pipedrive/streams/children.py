"""Child streams with behaviour of their own; the others are entries of endpoints.py, and how
a child reads its parents' records is streams/base.py (ChildStream, BatchingParent)."""

from __future__ import annotations

from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_pipedrive.client import PipedriveStream


class DealFlowStream(PipedriveStream):
    # Updates of every kind (changes, activities, notes, files...): `data` holds the item,
    # so its id (copied to `object_id`) with `object` tells two updates apart.
    endpoint = "deal_flow"
    extra_properties = {"object_id": {"type": ["integer", "string", "null"],
                                      "description": "`data.id`: the id of the updated item"}}

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        data = row.get("data")
        row["object_id"] = data.get("id") if isinstance(data, dict) else None
        return super().post_process(row, context)


BEHAVIOURS = [DealFlowStream]
