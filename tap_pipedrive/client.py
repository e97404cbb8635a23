"""PipedriveStream: base URL, authentication, paging (v2 cursor, v1 offset) and errors."""

from __future__ import annotations

from datetime import timezone
from http import HTTPStatus
from typing import Any
from urllib.parse import urlparse

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.pagination import BaseAPIPaginator, JSONPathPaginator, SinglePagePaginator
from singer_sdk.schema.source import SchemaDirectory, StreamSchema
from singer_sdk.streams import RESTStream

from tap_pipedrive import schemas

PAGE_SIZE = 500  # the largest page Pipedrive serves; fewer calls, fewer tokens

# What a user can do about a client error, by status.
HINTS = {
    401: "check api_token, or re-authorize the OAuth app (tap-pipedrive auth status)",
    402: "the Pipedrive company account is not active (trial ended or payment due)",
    403: "the token's user or OAuth scopes do not allow this endpoint",
    404: "check company_domain / api_url",
    410: "Pipedrive has removed this endpoint",
}


class PipedriveStream(RESTStream[Any]):
    """A Pipedrive list endpoint. Streams never know which auth method signs requests."""

    records_jsonpath = "$.data[*]"
    schema = StreamSchema(SchemaDirectory(schemas))
    extra_params: dict[str, Any] = {}

    @property
    def url_base(self) -> str:
        return self._tap.api_base

    @property
    def authenticator(self) -> requests.auth.AuthBase:
        return self._tap.connection.auth

    @property
    def http_headers(self) -> dict[str, str]:
        return {"User-Agent": f"tap-pipedrive/{self._tap.plugin_version}"}

    def get_url_params(self, context: dict | None, next_page_token: Any) -> dict[str, Any]:
        return dict(self.extra_params)

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(self.response_error_message(response), response)
        if status >= HTTPStatus.BAD_REQUEST:
            raise FatalAPIError(self.response_error_message(response))

    def response_error_message(self, response: requests.Response) -> str:
        """One line: status, method and path (no query: never a secret), Pipedrive's words."""
        path = urlparse(response.url).path
        try:
            said = response.json().get("error") or ""
        except ValueError:
            said = ""
        msg = f"Pipedrive answered {response.status_code} {response.reason} to GET {path}"
        if said:
            msg += f": {said}"
        if hint := HINTS.get(response.status_code):
            msg += f" ({hint})"
        return msg


class V2Stream(PipedriveStream):
    """API v2 list endpoint with cursor paging (`additional_data.next_cursor`)."""

    def get_new_paginator(self) -> JSONPathPaginator:
        return JSONPathPaginator("$.additional_data.next_cursor")

    def get_url_params(self, context: dict | None, next_page_token: Any) -> dict[str, Any]:
        params = {**super().get_url_params(context, next_page_token), "limit": PAGE_SIZE}
        if next_page_token:
            params["cursor"] = next_page_token
        return params


class IncrementalV2Stream(V2Stream):
    """v2 endpoint filtered and sorted on update_time by the server.

    `updated_since` is inclusive, so records updated in the bookmark's own second are read
    again (a duplicate, never a loss). Sorted ascending, the bookmark advances with each record
    and an interrupted run resumes where it stopped.
    """

    replication_key = "update_time"
    is_sorted = True

    def get_url_params(self, context: dict | None, next_page_token: Any) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        params.update(sort_by="update_time", sort_direction="asc")
        if start := self.get_starting_timestamp(context):
            params["updated_since"] = start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return params


class V1OffsetPaginator(BaseAPIPaginator[int]):
    """v1 offset paging: `start`, and `additional_data.pagination` says whether more exist."""

    def __init__(self) -> None:
        super().__init__(0)

    def get_next(self, response: requests.Response) -> int | None:
        pagination = (response.json().get("additional_data") or {}).get("pagination") or {}
        if not pagination.get("more_items_in_collection"):
            return None
        return pagination.get("next_start")


class V1Stream(PipedriveStream):
    """API v1 list endpoint; `paginated` endpoints take `start`/`limit`."""

    paginated = False

    def get_new_paginator(self) -> BaseAPIPaginator:
        return V1OffsetPaginator() if self.paginated else SinglePagePaginator()

    def get_url_params(self, context: dict | None, next_page_token: Any) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        if self.paginated:
            params.update(start=next_page_token or 0, limit=PAGE_SIZE)
        return params
