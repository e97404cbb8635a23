"""Every stream as one row of data: its endpoint, how it pages, how it replicates, its parent.

The stream classes are built from this table (streams/factory.py), and so are the sandbox's
routes, meltano.yml's `select:` and the README's stream table (tests check them): a new list
endpoint is one entry here, its schema (scripts/generate_schemas.py) and its sandbox data.
Data only, importing nothing of the tap: the lowest layer, which the sandbox may read too.

paging:
- "cursor": `cursor`/`limit`, the next cursor in `additional_data.next_cursor` (v2, v1 changelogs)
- "offset": v1 `start`/`limit` (up to `page_size`)
- "all": no paging parameters, one call returns every item
- "none": no API call of its own
replication:
- "incremental": the server filters on `updated_since` and sorts by update time, ascending
- "newest_first": the server sorts by update time (`sort`, descending) but cannot filter on it
- "full_table": every run reads everything
- "child": per parent record (`parent`), see streams/base.py
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Paging = Literal["cursor", "offset", "all", "none"]
Replication = Literal["incremental", "newest_first", "full_table", "child"]


@dataclass(frozen=True)
class Endpoint:
    name: str  # the stream's name
    path: str  # GET path ("" when the stream makes no call)
    paging: Paging
    replication: Replication = "full_table"
    primary_keys: tuple[str, ...] = ("id",)
    selected: bool = True  # selected by default
    windowed: bool = False  # the server takes `updated_until` too: backfills in time windows
    params: dict[str, str] = field(default_factory=dict)  # sent with every call
    sort: dict[str, str] = field(default_factory=dict)  # newest first: how to sort descending
    page_size: int | None = None  # "offset": the endpoint's largest page, if below 500
    records_jsonpath: str = ""  # where not `$.data[*]`
    custom_fields: str = ""  # Pipedrive's entity whose custom fields the records carry
    custom_field_source: str = ""  # the *_fields stream describing them
    field_metadata: bool = False  # a *Fields endpoint, read once per run (custom_fields.py)
    parent: str = ""  # "child": the parent stream
    parent_param: str = ""  # the path placeholder or query parameter naming one parent
    parent_property: str = ""  # set on records that lack their parent's id
    batch_param: str = ""  # a query parameter taking up to 100 parents in one call
    entity: str = ""  # what the sandbox serves (default: the stream's name)

    def __post_init__(self) -> None:
        if not self.entity:
            object.__setattr__(self, "entity", self.name)

    @property
    def version(self) -> str:
        """"v1" or "v2" ("" without a path)."""
        return self.path.split("/")[2] if self.path else ""


def _child(name: str, parent: str, path: str, paging: Paging, keys: tuple[str, ...],
           param: str, prop: str = "", batch: str = "", selected: bool | None = None,
           ) -> Endpoint:
    """A child stream; only those taking many parents per call are selected by default (the
    others cost one call per parent)."""
    return Endpoint(name, path, paging, "child", keys, bool(batch) if selected is None
                    else selected, parent=parent, parent_param=param, parent_property=prop,
                    batch_param=batch)


def _fields(name: str, path: str, paging: Paging = "cursor", selected: bool = True,
            **params: str) -> Endpoint:
    keys = ("field_code",) if "/v2/" in path else ("key",)
    return Endpoint(name, path, paging, primary_keys=keys, selected=selected, params=params,
                    field_metadata=True, entity=path.rsplit("/", 1)[1])


# Without `status`, deleted deals are left out; with it, those deleted in the last 30 days
# (Pipedrive's retention) arrive with is_deleted true.
DEAL_STATUSES = {"status": "open,won,lost,deleted"}
# Deleted projects are left out unless asked for (spec GET /api/v2/projects `status`).
PROJECT_STATUSES = {"status": "open,completed,canceled,deleted"}
V2_NEWEST_FIRST = {"sort_by": "update_time", "sort_direction": "desc"}
V1_NEWEST_FIRST = {"sort": "update_time DESC"}
# Optional parts of a field item, asked for as the spec allows per endpoint (include_fields).
ALL_NAMESPACES = "ui_visibility,important_fields,required_fields"

ENDPOINTS: tuple[Endpoint, ...] = (
    # --- core CRM entities, all on API v2 ------------------------------------------------------
    Endpoint("deals", "/api/v2/deals", "cursor", "incremental", windowed=True,
             params=DEAL_STATUSES, custom_fields="deal", custom_field_source="deal_fields"),
    # Archived deals (since 2025-07) are left out of /deals; same filters and custom fields.
    Endpoint("archived_deals", "/api/v2/deals/archived", "cursor", "incremental", windowed=True,
             params=DEAL_STATUSES, custom_fields="deal", custom_field_source="deal_fields"),
    Endpoint("persons", "/api/v2/persons", "cursor", "incremental", windowed=True,
             custom_fields="person", custom_field_source="person_fields"),
    Endpoint("organizations", "/api/v2/organizations", "cursor", "incremental", windowed=True,
             custom_fields="organization", custom_field_source="organization_fields"),
    # v2 activity items carry no custom_fields (spec), though activityFields lists some.
    Endpoint("activities", "/api/v2/activities", "cursor", "incremental", windowed=True),
    # /products has `updated_since` and sorts by update_time, but no `updated_until`: it is
    # read in one ascending pass, never in time windows (its pages are still fetched ahead of
    # the records being emitted).
    Endpoint("products", "/api/v2/products", "cursor", "incremental",
             custom_fields="product", custom_field_source="product_fields"),
    # No updated_since, but sort_by=update_time: newest first, stop at the bookmark.
    Endpoint("pipelines", "/api/v2/pipelines", "cursor", "newest_first", sort=V2_NEWEST_FIRST),
    Endpoint("stages", "/api/v2/stages", "cursor", "newest_first", sort=V2_NEWEST_FIRST),
    # --- leads (API v1: no v2 list exists) -------------------------------------------------------
    # Leads inherit the deals' custom fields, as top-level keys in v1's value format (spec:
    # GET /v1/leads/archived description).
    Endpoint("leads", "/api/v1/leads", "offset", "incremental", custom_fields="lead",
             custom_field_source="deal_fields"),
    # /leads/archived sorts but has no updated_since: newest first, stop at the bookmark.
    Endpoint("archived_leads", "/api/v1/leads/archived", "offset", "newest_first",
             sort=V1_NEWEST_FIRST, custom_fields="lead", custom_field_source="deal_fields"),
    Endpoint("lead_labels", "/api/v1/leadLabels", "all"),
    # Pipedrive's fixed list of source names: `name` is the item's only property (spec), and
    # the key (the tap adds `position`: streams/leads.py).
    Endpoint("lead_sources", "/api/v1/leadSources", "all", primary_keys=("name",)),
    # --- what people write and attach (API v1, no v2 lists exist) --------------------------------
    Endpoint("notes", "/api/v1/notes", "offset", "incremental"),
    # `sort` supports update_time but there is no updated_since: newest first.
    Endpoint("files", "/api/v1/files", "offset", "newest_first", sort=V1_NEWEST_FIRST,
             page_size=100),
    Endpoint("call_logs", "/api/v1/callLogs", "offset", page_size=50),
    # One listing per folder (streams/content.py).
    Endpoint("mail_threads", "/api/v1/mailbox/mailThreads", "offset"),
    # --- projects (API v2). Off by default: they need Pipedrive's Projects feature, which many
    # accounts do not have, and a default run must not fail on it. -------------------------------
    # No updated_since and no sort parameter: full table.
    Endpoint("projects", "/api/v2/projects", "cursor", selected=False, params=PROJECT_STATUSES,
             custom_fields="project", custom_field_source="project_fields"),
    Endpoint("archived_projects", "/api/v2/projects/archived", "cursor", selected=False,
             params=PROJECT_STATUSES, custom_fields="project",
             custom_field_source="project_fields"),
    Endpoint("project_templates", "/api/v2/projectTemplates", "cursor", selected=False),
    Endpoint("tasks", "/api/v2/tasks", "cursor", selected=False),
    # Takes no parameters (spec): one call lists every active board.
    Endpoint("boards", "/api/v2/boards", "all", selected=False),
    # --- the company account (API v1, no v2 lists exist) -----------------------------------------
    # GET /v1/users takes no paging parameters: one call returns every user.
    Endpoint("users", "/api/v1/users", "all"),
    # Roles and permission sets need an admin user (OAuth scope `admin`).
    Endpoint("roles", "/api/v1/roles", "offset", selected=False),
    Endpoint("permission_sets", "/api/v1/permissionSets", "all", selected=False),
    Endpoint("activity_types", "/api/v1/activityTypes", "all"),
    Endpoint("currencies", "/api/v1/currencies", "all"),
    # Without `type`, every type of filter is returned.
    Endpoint("filters", "/api/v1/filters", "all"),
    # Found per goal type, not listed (streams/account.py).
    Endpoint("goals", "/api/v1/goals/find", "all", records_jsonpath="$.data.goals[*]"),
    # --- field metadata ------------------------------------------------------------------------
    _fields("deal_fields", "/api/v2/dealFields", include_fields=ALL_NAMESPACES),
    _fields("person_fields", "/api/v2/personFields", include_fields=ALL_NAMESPACES),
    _fields("organization_fields", "/api/v2/organizationFields",
            include_fields=ALL_NAMESPACES),
    _fields("product_fields", "/api/v2/productFields", include_fields="ui_visibility"),
    # Needs an admin user (OAuth scope `admin`).
    _fields("activity_fields", "/api/v2/activityFields", selected=False,
            include_fields="ui_visibility"),
    # Needs Pipedrive's Projects feature (see the projects above).
    _fields("project_fields", "/api/v2/projectFields", selected=False),
    # No v2 list yet; leads share the deals' custom fields (spec: GET /v1/leads).
    _fields("lead_fields", "/api/v1/leadFields", "offset"),
    _fields("note_fields", "/api/v1/noteFields", "all"),
    # Which column holds which custom field: built from the metadata the run read anyway.
    Endpoint("custom_field_mappings", "", "none", primary_keys=("stream", "key")),
    # --- children: records that belong to a parent's records -----------------------------------
    _child("deal_products", "deals", "/api/v2/deals/products", "cursor", ("id",),
           "deal_id", batch="deal_ids"),
    # Batched too, but off by default: only Growth plans and above have installments.
    _child("deal_installments", "deals", "/api/v2/deals/installments", "cursor", ("id",),
           "deal_id", batch="deal_ids", selected=False),
    _child("deal_discounts", "deals", "/api/v2/deals/{deal_id}/discounts", "all", ("id",),
           "deal_id", "deal_id"),
    _child("deal_followers", "deals", "/api/v2/deals/{deal_id}/followers", "cursor",
           ("deal_id", "user_id"), "deal_id", "deal_id"),
    _child("deal_participants", "deals", "/api/v1/deals/{deal_id}/participants", "offset",
           ("id",), "deal_id", "deal_id"),
    # Updates of every kind: `data.id` (copied to `object_id`, streams/children.py) with
    # `object` tells two updates apart.
    _child("deal_flow", "deals", "/api/v1/deals/{deal_id}/flow", "offset",
           ("deal_id", "object", "object_id"), "deal_id", "deal_id"),
    _child("deal_changelog", "deals", "/api/v1/deals/{deal_id}/changelog", "cursor",
           ("deal_id", "field_key", "time"), "deal_id", "deal_id"),
    _child("person_followers", "persons", "/api/v2/persons/{person_id}/followers", "cursor",
           ("person_id", "user_id"), "person_id", "person_id"),
    _child("person_changelog", "persons", "/api/v1/persons/{person_id}/changelog", "cursor",
           ("person_id", "field_key", "time"), "person_id", "person_id"),
    _child("organization_followers", "organizations", "/api/v2/organizations/{org_id}/followers",
           "cursor", ("org_id", "user_id"), "org_id", "org_id"),
    _child("organization_changelog", "organizations",
           "/api/v1/organizations/{org_id}/changelog", "cursor", ("org_id", "field_key", "time"),
           "org_id", "org_id"),
    # Listed per organization (org_id is required); a relationship comes once per side.
    _child("organization_relationships", "organizations", "/api/v1/organizationRelationships",
           "all", ("id",), "org_id"),
    _child("product_followers", "products", "/api/v2/products/{product_id}/followers",
           "cursor", ("product_id", "user_id"), "product_id", "product_id"),
    _child("product_variations", "products", "/api/v2/products/{product_id}/variations",
           "cursor", ("id",), "product_id", "product_id"),
    _child("user_followers", "users", "/api/v2/users/{followed_user_id}/followers", "cursor",
           ("followed_user_id", "user_id"), "followed_user_id", "followed_user_id"),
    _child("note_comments", "notes", "/api/v1/notes/{note_id}/comments", "offset", ("uuid",),
           "note_id", "note_id"),
    _child("mail_messages", "mail_threads",
           "/api/v1/mailbox/mailThreads/{mail_thread_id}/mailMessages", "all", ("id",),
           "mail_thread_id", "mail_thread_id"),
    _child("role_assignments", "roles", "/api/v1/roles/{role_id}/assignments", "offset",
           ("role_id", "user_id"), "role_id", "role_id"),
    _child("permission_set_assignments", "permission_sets",
           "/api/v1/permissionSets/{permission_set_id}/assignments", "offset",
           ("permission_set_id", "user_id"), "permission_set_id", "permission_set_id"),
    _child("phases", "boards", "/api/v2/phases", "all", ("id",), "board_id", "board_id"),
    _child("project_changelog", "projects", "/api/v2/projects/{project_id}/changelog", "cursor",
           ("project_id", "time"), "project_id", "project_id"),
)

BY_NAME: dict[str, Endpoint] = {entry.name: entry for entry in ENDPOINTS}
