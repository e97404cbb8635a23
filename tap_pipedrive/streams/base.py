"""How streams read, beyond one list endpoint: custom fields, incremental without a filter,
and parents that hand record ids to child streams.

- CustomFieldsStream: typed custom field columns (custom_fields.py) in schema and records.
- IncrementalV1Stream: v1 `updated_since` + `sort=update_time ASC` (notes, leads).
- NewestFirstStream: the server sorts by update_time but cannot filter on it: read newest
  first and stop at the bookmark (inclusive: the bookmark's own second is read again).
- BatchingParent / ChildStream: a parent collects the ids of the records it reads and hands
  them to its children 100 at a time, so a child whose endpoint takes many parents
  (`deal_ids=`) makes one call per 100 parents, and one that takes one parent per call loops.
  Incremental parents hand over only what changed since the last run. Children keep one
  bookmark-free state entry for the stream (`state_partitioning_keys = []`): never one per
  parent.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from functools import cache, cached_property
from importlib import resources
from typing import Any, ClassVar

import requests
from singer_sdk.helpers.types import Context
from singer_sdk.pagination import SinglePagePaginator
from typing_extensions import override

from tap_pipedrive import schemas
from tap_pipedrive.client import PipedriveStream, V1Stream, V2Stream
from tap_pipedrive.custom_fields import CustomColumns

PARENT_IDS = "parent_ids"  # the context key a parent hands its children


@cache
def _static_schema(name: str) -> dict[str, Any]:
    return json.loads(resources.files(schemas).joinpath(f"{name}.json").read_text())


def static_schema(name: str) -> dict[str, Any]:
    """The generated schema of a stream (schemas/<name>.json), a copy the caller may change."""
    return copy.deepcopy(_static_schema(name))


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> datetime | None:
    """A timestamp as Pipedrive writes it (v2 RFC 3339, v1 `YYYY-MM-DD HH:MM:SS` in UTC)."""
    if not isinstance(value, str) or not value[:4].isdigit() or value.startswith("0000"):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class CustomFieldsStream(PipedriveStream):
    """A stream whose records carry custom fields described by `custom_field_source`."""

    custom_field_source: ClassVar[type[PipedriveStream]]  # the *Fields stream of this entity
    custom_field_entity: ClassVar[str] = ""  # Pipedrive's entity name, for the mappings
    custom_field_shape: ClassVar[str] = "v2"  # "v1": values are top-level keys

    @cached_property
    def custom_columns(self) -> CustomColumns | None:
        reserved = set(_static_schema(self.name)["properties"]) - {"custom_fields"}
        return self.run.custom_fields.columns_for(
            self, self.custom_field_source, self.custom_field_shape, reserved)

    @cached_property
    @override
    def schema(self) -> dict[str, Any]:  # type: ignore[override]
        schema = static_schema(self.name)
        columns = self.custom_columns
        if columns is not None and not columns.passthrough:
            schema["properties"].pop("custom_fields", None)
            schema["properties"].update(columns.properties())
        return schema

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        if self.custom_columns is not None:
            row = self.custom_columns.flatten(row)
        return super().post_process(row, context)


class IncrementalV1Stream(V1Stream):
    """v1 endpoint filtered (`updated_since`, inclusive) and sorted ascending by the server."""

    replication_key = "update_time"
    is_sorted = True
    # Same-second re-reads may sort below a sub-second bookmark: that repeats, never skips.
    check_sorted = False
    paginated = True

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        params["sort"] = "update_time ASC"
        if start := self.get_starting_timestamp(context):
            params["updated_since"] = rfc3339(start)
        return params


UNSORTED_WARNING = "Stream is assumed to be unsorted"
_newest_first = threading.local()  # the newest-first stream the main thread is reading


class _NameUnsortedStream(logging.Filter):
    """The SDK warns that a stream "is assumed to be unsorted" without saying which: name
    it, and say what it means here. Only newest-first streams are unsorted (the incremental
    ones read ascending declare `is_sorted`), so the warning is true where it shows."""

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        name = getattr(_newest_first, "name", None)
        if name and isinstance(record.msg, str) and record.msg.startswith(UNSORTED_WARNING):
            record.msg = (f"{name}: {record.msg} (it is read newest first: an interrupted run "
                          "reads it again from its last bookmark, nothing is lost)")
        return True


logging.getLogger("singer_sdk").addFilter(_NameUnsortedStream())


class NewestFirstStream(PipedriveStream):
    """Sorted by update_time on the server, not filtered: newest first, stop at the bookmark.

    Unsorted for the SDK (descending), so the bookmark is the newest value seen, written at
    the end of the stream and capped at the run's start time: a record changed during the
    run is read again next time.
    """

    replication_key = "update_time"
    is_sorted = False
    newest_first_params: ClassVar[dict[str, str]]  # this endpoint's way to sort descending
    _since: datetime | None = None
    _passed_bookmark = False

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        self._since = self.get_starting_timestamp(context)
        self._passed_bookmark = False
        _newest_first.name = self.name
        try:
            yield from super().get_records(context)
        finally:
            _newest_first.name = None

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        return {**super().get_url_params(context, next_page_token), **self.newest_first_params}

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        for record in super().parse_response(response):
            when = parse_time(record.get(self.replication_key))
            if self._since is not None and when is not None and when < self._since:
                self._passed_bookmark = True  # everything after this is older still
                return
            yield record

    @override
    def keep_paging(self) -> bool:
        return not self._passed_bookmark and super().keep_paging()


class BatchingParent(PipedriveStream):
    """Hands the ids of its records to its child streams, `child_batch_size` at a time."""

    child_batch_size: ClassVar[int] = 100  # the most parents Pipedrive takes in one call
    dedupe_children: ClassVar[bool] = False  # parents that can repeat (mail threads)

    @override
    def generate_child_contexts(self, record: dict, context: Context | None) -> Iterator[dict]:
        return iter(())  # children are synced per batch, from get_records

    @override
    def children_per_record(self) -> bool:
        return False

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        if not self.has_selected_descendents:
            yield from super().get_records(context)
            return
        batch: list[Any] = []
        seen = self.__dict__.setdefault("_parents_seen", set())  # across partitions too
        for record in super().get_records(context):
            ident = record.get("id")
            counted = ident is not None and not (self.dedupe_children and ident in seen)
            if counted and not batch:  # the state before the batch's first parent
                self._state_before_batch = copy.deepcopy(self.stream_state)
            yield record  # resumes once the SDK has processed (and written) the record
            if not counted:
                continue
            if self.dedupe_children:
                seen.add(ident)
            batch.append(ident)
            if len(batch) >= self.child_batch_size:
                self.sync_children_now({PARENT_IDS: batch})
                batch = []
                self._state_before_batch = None
        if batch:
            self.sync_children_now({PARENT_IDS: batch})
        self._state_before_batch = None

    _state_before_batch: dict | None = None

    def rewind_pending_children(self) -> None:
        """A run stopped between a parent's record and its children's batch (a signal): the
        parent's bookmark goes back to before the batch, so the next run reads those parents
        and their children again instead of skipping the children."""
        if self._state_before_batch is not None:
            state = self.stream_state
            state.clear()
            state.update(self._state_before_batch)
            self._state_before_batch = None


class ChildStream(PipedriveStream):
    """Records that belong to a parent stream's records (see the module docstring)."""

    state_partitioning_keys: ClassVar[list[str]] = []  # no per-parent state
    selected_by_default = False  # one call per parent, unless `batch_param` is set
    parent_param: ClassVar[str]  # path placeholder or query parameter naming the parent
    parent_property: ClassVar[str | None] = None  # set on records that lack their parent's id
    batch_param: ClassVar[str | None] = None  # a parameter taking many parents at once

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        parents = list((context or {}).get(PARENT_IDS) or [])
        if self.batch_param:
            yield from super().get_records({PARENT_IDS: parents})
            return
        for parent in parents:
            for record in super().get_records({self.parent_param: parent}):
                if self.parent_property and record.get(self.parent_property) is None:
                    record[self.parent_property] = parent
                yield record

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        context = context or {}
        if self.batch_param:
            params[self.batch_param] = ",".join(str(i) for i in context.get(PARENT_IDS, []))
        elif "{" + self.parent_param + "}" not in (self.path or ""):
            params[self.parent_param] = context[self.parent_param]
        return params


class UnpagedV2Stream(V2Stream):
    """A v2 list that takes no paging parameters (spec): one call returns everything."""

    @override
    def get_new_paginator(self) -> SinglePagePaginator:
        return SinglePagePaginator()

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        return PipedriveStream.get_url_params(self, context, next_page_token)
