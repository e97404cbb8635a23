"""Field metadata (the *Fields endpoints) and the custom field mapping built from it.

The tap reads each *Fields endpoint once per run (custom_fields.CustomFieldRegistry): the
schema needs it, and these streams emit the same items without a second call.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

import requests
from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_pipedrive.client import PipedriveStream, V1Stream, V2Stream
from tap_pipedrive.custom_fields import FieldsUnavailable, mapping_rows
from tap_pipedrive.streams.base import CustomFieldsStream

if TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_pipedrive.run import Run


class _Fields(PipedriveStream):
    # A feature many accounts lack (Projects): a 403 means "not for this account", and its
    # streams keep the untyped custom_fields object (custom_fields.FieldsUnavailable).
    optional_feature: ClassVar[bool] = False

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        yield from self.run.custom_fields.items(type(self))

    @override
    def validate_response(self, response: requests.Response) -> None:
        try:
            super().validate_response(response)
        except FatalAPIError as exc:
            if self.optional_feature and response.status_code == HTTPStatus.FORBIDDEN:
                raise FieldsUnavailable(*exc.args) from None
            raise


class FieldsV2(_Fields, V2Stream):
    """A v2 *Fields endpoint (endpoints.py `field_metadata`)."""


class FieldsV1(_Fields, V1Stream):
    """A v1 *Fields endpoint (endpoints.py `field_metadata`)."""


class ProjectFieldsStream(_Fields):
    endpoint = "project_fields"
    optional_feature = True  # needs Pipedrive's Projects feature (endpoints.py)


class CustomFieldMappingsStream(Stream):
    """Which column holds which custom field, per stream: to audit names and pins.

    Built from the metadata the run has read anyway: no API call of its own.
    """

    endpoint = "custom_field_mappings"
    token_cost = 0

    def __init__(self, tap: Tap, run: Run) -> None:
        self.run = run  # the run's services (run.py), handed by the tap
        super().__init__(tap)

    schema = th.PropertiesList(
        th.Property("stream", th.StringType, description="The stream holding the columns"),
        th.Property("entity", th.StringType, description="Pipedrive's entity (deal, ...)"),
        th.Property("key", th.StringType, description="Pipedrive's 40-character field key"),
        th.Property("field_name", th.StringType, description="The field's name in Pipedrive"),
        th.Property("field_type", th.StringType, description="Pipedrive's field_type"),
        th.Property("column", th.StringType, description="The column holding the value"),
        th.Property("columns", th.ArrayType(th.StringType),
                    description="Every column of the field (currency, until, address parts)"),
        th.Property("options", th.ArrayType(th.ObjectType(
            th.Property("id", th.StringType), th.Property("label", th.StringType))),
            description="Enum and set options (id and label)"),
        th.Property("pinned", th.BooleanType,
                    description="Whether custom_field_names pins the column"),
    ).to_dict()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        pins = self.run.custom_fields.pins
        for stream in self.run.streams.values():
            if not isinstance(stream, CustomFieldsStream):
                continue
            columns = stream.custom_columns
            if columns is not None and not columns.passthrough:
                yield from mapping_rows(stream.name, stream.custom_field_entity, columns, pins)


BEHAVIOURS: list[type[Stream]] = [ProjectFieldsStream, CustomFieldMappingsStream]
