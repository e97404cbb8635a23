"""Child streams: records that belong to a parent's records, as one declarative table.

Each row: stream name, parent stream, endpoint, paging, primary key, and how the parent is
named (`param`: the path placeholder or query parameter; `prop`: the record property set to
the parent id when Pipedrive's item lacks it). `batch` names a parameter that takes up to 100
parents in one call; only those streams are selected by default, the others cost one call per
parent (streams/base.py).
"""

from __future__ import annotations

from typing import Any

from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_pipedrive.client import PipedriveStream, V1Stream, V2Stream
from tap_pipedrive.streams.account import PermissionSetsStream, RolesStream, UsersStream
from tap_pipedrive.streams.base import ChildStream, UnpagedV2Stream
from tap_pipedrive.streams.content import MailThreadsStream, NotesStream
from tap_pipedrive.streams.core import (
    DealsStream,
    OrganizationsStream,
    PersonsStream,
    ProductsStream,
)
from tap_pipedrive.streams.projects import BoardsStream, ProjectsStream


class _V1Paged(V1Stream):
    paginated = True


class _V1CursorPaged(V2Stream):
    """v1 endpoints paged by cursor (changelogs), exactly like v2 lists."""


def child(
    name: str,
    parent: type[PipedriveStream],
    path: str,
    base: type[PipedriveStream],
    keys: tuple[str, ...],
    param: str,
    prop: str | None = None,
    batch: str | None = None,
    **attrs: Any,
) -> type[ChildStream]:
    class_name = "".join(part.title() for part in name.split("_")) + "Stream"
    body = {
        "__module__": __name__, "name": name, "path": path, "primary_keys": keys,
        "parent_stream_type": parent, "parent_param": param, "parent_property": prop,
        "batch_param": batch, "selected_by_default": batch is not None, **attrs,
    }
    return type(class_name, (ChildStream, base), body)


class DealFlowStream(ChildStream, _V1Paged):
    # Updates of every kind (changes, activities, notes, files...): `data` holds the item,
    # so its id (copied to `object_id`) with `object` tells two updates apart.
    name = "deal_flow"
    path = "/api/v1/deals/{deal_id}/flow"
    primary_keys = ("deal_id", "object", "object_id")
    parent_stream_type = DealsStream
    parent_param = parent_property = "deal_id"
    extra_properties = {"object_id": {"type": ["integer", "string", "null"],
                                      "description": "`data.id`: the id of the updated item"}}

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        data = row.get("data")
        row["object_id"] = data.get("id") if isinstance(data, dict) else None
        return super().post_process(row, context)


DEAL: dict[str, Any] = {"parent": DealsStream, "param": "deal_id", "prop": "deal_id"}
PERSON: dict[str, Any] = {"parent": PersonsStream, "param": "person_id", "prop": "person_id"}
ORG: dict[str, Any] = {"parent": OrganizationsStream, "param": "org_id", "prop": "org_id"}
PRODUCT: dict[str, Any] = {"parent": ProductsStream, "param": "product_id", "prop": "product_id"}

STREAMS: list[type[PipedriveStream]] = [
    child("deal_products", DealsStream, "/api/v2/deals/products", V2Stream, ("id",),
          param="deal_id", batch="deal_ids"),
    # Batched too, but off by default: only Growth plans and above have installments.
    child("deal_installments", DealsStream, "/api/v2/deals/installments", V2Stream, ("id",),
          param="deal_id", batch="deal_ids", selected_by_default=False),
    child("deal_discounts", path="/api/v2/deals/{deal_id}/discounts", base=UnpagedV2Stream,
          keys=("id",), **DEAL),
    child("deal_followers", path="/api/v2/deals/{deal_id}/followers", base=V2Stream,
          keys=("deal_id", "user_id"), **DEAL),
    child("deal_participants", path="/api/v1/deals/{deal_id}/participants", base=_V1Paged,
          keys=("id",), **DEAL),
    DealFlowStream,
    child("deal_changelog", path="/api/v1/deals/{deal_id}/changelog", base=_V1CursorPaged,
          keys=("deal_id", "field_key", "time"), **DEAL),
    child("person_followers", path="/api/v2/persons/{person_id}/followers", base=V2Stream,
          keys=("person_id", "user_id"), **PERSON),
    child("person_changelog", path="/api/v1/persons/{person_id}/changelog",
          base=_V1CursorPaged, keys=("person_id", "field_key", "time"), **PERSON),
    child("organization_followers", path="/api/v2/organizations/{org_id}/followers",
          base=V2Stream, keys=("org_id", "user_id"), **ORG),
    child("organization_changelog", path="/api/v1/organizations/{org_id}/changelog",
          base=_V1CursorPaged, keys=("org_id", "field_key", "time"), **ORG),
    # Listed per organization (org_id is required); a relationship comes once per side.
    child("organization_relationships", OrganizationsStream, "/api/v1/organizationRelationships",
          V1Stream, ("id",), param="org_id"),
    child("product_followers", path="/api/v2/products/{product_id}/followers", base=V2Stream,
          keys=("product_id", "user_id"), **PRODUCT),
    child("product_variations", path="/api/v2/products/{product_id}/variations", base=V2Stream,
          keys=("id",), **PRODUCT),
    child("user_followers", UsersStream, "/api/v2/users/{followed_user_id}/followers", V2Stream,
          ("followed_user_id", "user_id"), param="followed_user_id", prop="followed_user_id"),
    child("note_comments", NotesStream, "/api/v1/notes/{note_id}/comments", _V1Paged,
          ("uuid",), param="note_id", prop="note_id"),
    child("mail_messages", MailThreadsStream,
          "/api/v1/mailbox/mailThreads/{mail_thread_id}/mailMessages", V1Stream, ("id",),
          param="mail_thread_id", prop="mail_thread_id"),
    child("role_assignments", RolesStream, "/api/v1/roles/{role_id}/assignments", _V1Paged,
          ("role_id", "user_id"), param="role_id", prop="role_id"),
    child("permission_set_assignments", PermissionSetsStream,
          "/api/v1/permissionSets/{permission_set_id}/assignments", _V1Paged,
          ("permission_set_id", "user_id"), param="permission_set_id", prop="permission_set_id"),
    child("phases", BoardsStream, "/api/v2/phases", UnpagedV2Stream, ("id",), param="board_id",
          prop="board_id"),
    child("project_changelog", ProjectsStream, "/api/v2/projects/{project_id}/changelog",
          V2Stream, ("project_id", "time"), param="project_id", prop="project_id"),
]
