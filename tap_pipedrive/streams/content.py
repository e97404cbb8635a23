"""What people write and attach: the streams with behaviour of their own (the others are
entries of endpoints.py): mail threads."""

from __future__ import annotations

from typing import Any

from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_pipedrive.client import PipedriveStream

MAIL_FOLDERS = ("inbox", "drafts", "sent", "archive")  # spec: `folder` is required


class MailThreadsStream(PipedriveStream):
    # One listing per folder; a thread in two folders is listed twice (same id), and
    # emitted once: its `folders` lists every folder it is in (post_process).
    endpoint = "mail_threads"
    state_partitioning_keys: list[str] = []  # full table: no per-folder state
    dedupe_children = True

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        return [{"folder": folder} for folder in MAIL_FOLDERS]

    @override
    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        return {**super().get_url_params(context, next_page_token), **(context or {})}

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        """One record per thread and run: a repeat from a later folder's listing is dropped
        (a full-table stream must not emit a primary key twice); the folder it was listed in
        is in `folders` (Pipedrive's list of the thread's folders, completed if need be)."""
        emitted = self.__dict__.setdefault("_emitted", set())
        ident = row.get("id")
        if ident is not None:
            if ident in emitted:
                return None
            emitted.add(ident)
        folder = (context or {}).get("folder")
        folders = row.get("folders")
        if folder and isinstance(folders, list) and folder not in folders:
            row["folders"] = [*folders, folder]
        elif folder and folders is None:
            row["folders"] = [folder]
        return super().post_process(row, context)


BEHAVIOURS = [MailThreadsStream]
