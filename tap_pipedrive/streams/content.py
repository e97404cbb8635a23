"""What people write and attach (API v1, no v2 lists exist): notes, files, call logs and
mail threads."""

from __future__ import annotations

from typing import Any

from tap_pipedrive.client import V1Stream
from tap_pipedrive.streams.base import BatchingParent, IncrementalV1Stream, NewestFirstStream

MAIL_FOLDERS = ("inbox", "drafts", "sent", "archive")  # spec: `folder` is required


class NotesStream(BatchingParent, IncrementalV1Stream):
    name = "notes"
    path = "/api/v1/notes"
    primary_keys = ("id",)


class FilesStream(NewestFirstStream, V1Stream):
    # `sort` supports update_time but there is no updated_since: newest first.
    name = "files"
    path = "/api/v1/files"
    primary_keys = ("id",)
    paginated = True
    page_size = 100  # the endpoint's maximum (spec)
    newest_first_params = {"sort": "update_time DESC"}


class CallLogsStream(V1Stream):
    name = "call_logs"
    path = "/api/v1/callLogs"
    primary_keys = ("id",)
    paginated = True
    page_size = 50  # the endpoint's maximum (spec)


class MailThreadsStream(BatchingParent, V1Stream):
    # One listing per folder; a thread in two folders comes twice (same id).
    name = "mail_threads"
    path = "/api/v1/mailbox/mailThreads"
    primary_keys = ("id",)
    paginated = True
    state_partitioning_keys: list[str] = []  # full table: no per-folder state
    dedupe_children = True

    @property
    def partitions(self) -> list[dict[str, Any]]:
        return [{"folder": folder} for folder in MAIL_FOLDERS]

    def get_url_params(self, context: dict | None, next_page_token: Any) -> dict[str, Any]:
        return {**super().get_url_params(context, next_page_token), **(context or {})}


STREAMS = [NotesStream, FilesStream, CallLogsStream, MailThreadsStream]
