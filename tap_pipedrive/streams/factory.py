"""Stream classes from the endpoint table (endpoints.py).

An entry's paging, replication, custom fields and children choose the base classes; its data
becomes class attributes. A stream with behaviour of its own (a goal type per call, a listing
per mail folder...) names its entry in a class of the stream modules, which comes first in
the built class's bases, so its methods run before (and call) the ones chosen here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from singer_sdk import Stream

from tap_pipedrive.client import IncrementalV2Stream, V1Stream, V2Stream
from tap_pipedrive.endpoints import Endpoint
from tap_pipedrive.streams.base import (
    BatchingParent,
    ChildStream,
    CustomFieldsStream,
    IncrementalV1Stream,
    NewestFirstStream,
    UnpagedV2Stream,
)
from tap_pipedrive.streams.fields import FieldsV1, FieldsV2


def class_name(name: str) -> str:
    return "".join(part.title() for part in name.split("_")) + "Stream"


def _paging_base(entry: Endpoint) -> type[Stream]:
    if entry.field_metadata:
        return FieldsV2 if entry.version == "v2" else FieldsV1
    if entry.replication == "incremental":
        return IncrementalV2Stream if entry.paging == "cursor" else IncrementalV1Stream
    if entry.paging == "cursor":  # v2, and v1 changelogs: paged exactly like v2 lists
        return V2Stream
    return UnpagedV2Stream if entry.version == "v2" else V1Stream


def _attributes(entry: Endpoint, built: Mapping[str, type[Stream]]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"name": entry.name, "primary_keys": entry.primary_keys,
                             "selected_by_default": entry.selected}
    if entry.path:
        attrs["path"] = entry.path
    if entry.params:
        attrs["extra_params"] = dict(entry.params)
    if entry.windowed:
        attrs["windowed"] = True
    if entry.paging == "offset":
        attrs["paginated"] = True
    if entry.page_size:
        attrs["page_size"] = entry.page_size
    if entry.records_jsonpath:
        attrs["records_jsonpath"] = entry.records_jsonpath
    if entry.replication == "newest_first":
        attrs["newest_first_params"] = dict(entry.sort)
    if entry.custom_fields:
        attrs.update(custom_field_source=built[entry.custom_field_source],
                     custom_field_entity=entry.custom_fields,
                     # v1 items carry custom field values as top-level keys
                     custom_field_shape="v1" if entry.version == "v1" else "v2")
    if entry.replication == "child":
        attrs.update(parent_stream_type=built[entry.parent], parent_param=entry.parent_param,
                     parent_property=entry.parent_property or None,
                     batch_param=entry.batch_param or None)
    return attrs


def stream_class(entry: Endpoint, built: Mapping[str, type[Stream]], is_parent: bool,
                 behaviour: type[Stream] | None = None) -> type[Stream]:
    """The stream class of `entry`; `built` holds the classes of its parent and of its
    custom fields' source."""
    if entry.paging == "none":  # no endpoint: the behaviour class is the whole stream
        if behaviour is None:
            raise ValueError(f"{entry.name}: no endpoint and no class of its own")
        bases: list[type[Stream]] = [behaviour]
    else:
        bases = [behaviour] if behaviour is not None else []
        if entry.custom_fields:
            bases.append(CustomFieldsStream)
        if is_parent:
            bases.append(BatchingParent)
        if entry.replication == "newest_first":
            bases.append(NewestFirstStream)
        if entry.replication == "child":
            bases.append(ChildStream)
        bases.append(_paging_base(entry))
    return type(class_name(entry.name), tuple(bases),
                {"__module__": "tap_pipedrive.streams", **_attributes(entry, built)})


def stream_classes(entries: Iterable[Endpoint],
                   behaviours: Iterable[type[Stream]]) -> list[type[Stream]]:
    """One class per entry, in the table's order; a behaviour class names its entry in its
    `endpoint` attribute."""
    entries = list(entries)
    by_name = {entry.name: entry for entry in entries}
    own = {cls.__dict__["endpoint"]: cls for cls in behaviours}
    if unknown := set(own) - set(by_name):
        raise ValueError(f"classes for no entry of the table: {sorted(unknown)}")
    parents = {entry.parent for entry in entries if entry.parent}
    built: dict[str, type[Stream]] = {}

    def build(name: str) -> type[Stream]:
        if name not in built:
            entry = by_name[name]
            for needed in (entry.parent, entry.custom_field_source):
                if needed:
                    build(needed)
            built[name] = stream_class(entry, built, name in parents, own.get(name))
        return built[name]

    return [build(entry.name) for entry in entries]
