"""Custom field definitions, their values, and the items of the v2 `*Fields` endpoints.

Shapes follow spec v2 (GET /dealFields etc.): `field_code`, `field_name`, `field_type`,
`options` (enum/set only, else null), `subfields` (address/monetary only, else null),
`is_custom_field`, `is_optional_response_field`, plus `description` on deal fields only,
and the namespaces `ui_visibility` / `important_fields` / `required_fields` that the spec says
appear only when asked for with `include_fields`.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

from . import clock, vocab

# entity -> the *Fields endpoint describing it
FIELD_ENDPOINTS = {
    "dealFields": "deals",
    "personFields": "persons",
    "organizationFields": "organizations",
    "productFields": "products",
    "activityFields": "activities",
    "projectFields": "projects",
}
# Which optional namespaces each endpoint accepts in include_fields (spec v2 enums).
NAMESPACES = {
    "deals": ("ui_visibility", "important_fields", "required_fields"),
    "persons": ("ui_visibility", "important_fields", "required_fields"),
    "organizations": ("ui_visibility", "important_fields", "required_fields"),
    "products": ("ui_visibility",),
    "activities": ("ui_visibility",),
    "projects": (),  # no include_fields: projectFields items carry every namespace (spec v2)
}
_ALWAYS_NAMESPACES = ("projects",)
_WITH_DESCRIPTION = ("deals",)  # only dealFields items have `description` in spec v2
# Entities whose v2 list item has `custom_fields` in the spec (activities do not).
CUSTOM_FIELD_ENTITIES = ("deals", "persons", "organizations", "products", "projects")

_CUSTOM_TYPES = (
    "varchar", "text", "double", "monetary", "enum", "set", "date", "daterange", "time",
    "user", "org", "people", "address", "phone",
)
_CUSTOM_NAMES = {
    "deals": (
        "Contract number", "Internal notes", "Discount %", "Setup fee", "Lead source",
        "Competitors", "Renewal date", "Contract period", "Best time to call",
        "Solution engineer", "Partner", "Champion", "Delivery address", "Billing phone",
    ),
    "persons": (
        "LinkedIn handle", "Background", "NPS score", "Lifetime value", "Seniority",
        "Interests", "Customer since", "Out of office", "Preferred meeting time", "Assistant",
        "Previous employer", "Referred by", "Home office", "Private mobile",
    ),
    "organizations": (
        "VAT number", "Account plan", "Health score", "Credit limit", "Tier", "Regions",
        "Next review", "Framework agreement", "Office opens", "Key account manager",
        "Parent company", "Main contact", "Billing address", "Switchboard",
    ),
    "products": (
        "SKU", "Spec sheet", "Weight (kg)", "List price", "Lifecycle", "Channels",
        "Launch date", "Promotion", "Support cutoff", "Product manager", "Supplier",
        "Supplier contact", "Warehouse", "Support line",
    ),
    "projects": (
        "Project code", "Scope", "Completion %", "Budget", "Delivery method", "Workstreams",
        "Go-live date", "Hypercare period", "Daily standup", "Delivery lead", "Client org",
        "Client sponsor", "Site address", "Hotline",
    ),
}
_OPTION_LABELS = {
    "Lead source": ("Inbound", "Outbound", "Referral", "Event", "Partner"),
    "Competitors": ("Acme CRM", "Globex", "Initech", "Umbrella", "Hooli"),
    "Seniority": ("Junior", "Mid-level", "Senior", "Director", "C-level"),
    "Interests": ("Analytics", "Automation", "Security", "Integrations"),
    "Tier": ("Bronze", "Silver", "Gold", "Platinum"),
    "Regions": ("EMEA", "North America", "LATAM", "APAC"),
    "Lifecycle": ("Beta", "Active", "Legacy", "End of life"),
    "Channels": ("Direct", "Reseller", "Marketplace", "Online shop"),
    "Delivery method": ("Remote", "On site", "Hybrid"),
    "Workstreams": ("Data migration", "Training", "Integrations", "Reporting"),
}
_COLORS = ("green", "yellow", "red", "blue", None)
ADDRESS_PARTS = (
    ("value", "Address value"), ("street_number", "House number"),
    ("route", "Street/road name"), ("subpremise", "Apartment/suite"),
    ("locality", "District"), ("admin_area_level_1", "State/province"),
    ("admin_area_level_2", "County"), ("country", "Country"), ("postal_code", "Postal code"),
    ("formatted_address", "Formatted address"),
)

# Built-in fields: (field_code, field_name, field_type). Codes are the keys of the list item.
_BUILTIN: dict[str, tuple[tuple[str, str, str], ...]] = {
    "deals": (
        ("id", "ID", "int"), ("title", "Title", "varchar"), ("owner_id", "Owner", "user"),
        ("person_id", "Contact person", "people"), ("org_id", "Organization", "org"),
        ("pipeline_id", "Pipeline", "int"), ("stage_id", "Stage", "stage"),
        ("value", "Value", "monetary"), ("add_time", "Deal created", "date"),
        ("update_time", "Update time", "date"),
        ("stage_change_time", "Last stage change", "date"),
        ("is_deleted", "Deleted", "boolean"), ("is_archived", "Archived", "boolean"),
        ("status", "Status", "status"), ("probability", "Probability", "double"),
        ("lost_reason", "Lost reason", "varchar"), ("visible_to", "Visible to", "visible_to"),
        ("close_time", "Deal closed on", "date"), ("won_time", "Won time", "date"),
        ("lost_time", "Lost time", "date"),
        ("expected_close_date", "Expected close date", "date"),
        ("label_ids", "Label", "set"), ("origin", "Source origin", "varchar"),
        ("origin_id", "Source origin ID", "varchar"), ("channel", "Source channel", "enum"),
        ("channel_id", "Source channel ID", "varchar"),
        ("source_lead_id", "Source lead", "lead"), ("arr", "ARR", "double"),
        ("mrr", "MRR", "double"), ("acv", "ACV", "double"),
    ),
    "persons": (
        ("id", "ID", "int"), ("name", "Name", "varchar"),
        ("first_name", "First name", "varchar"), ("last_name", "Last name", "varchar"),
        ("owner_id", "Owner", "user"), ("org_id", "Organization", "org"),
        ("add_time", "Person created", "date"), ("update_time", "Update time", "date"),
        ("emails", "Email", "varchar"), ("phones", "Phone", "phone"),
        ("is_deleted", "Deleted", "boolean"), ("visible_to", "Visible to", "visible_to"),
        ("label_ids", "Labels", "set"), ("picture_id", "Profile picture", "picture"),
        ("postal_address", "Postal address", "address"), ("notes", "Notes", "text"),
        ("im", "Instant messenger", "varchar"), ("birthday", "Birthday", "date"),
        ("job_title", "Job title", "varchar"),
    ),
    "organizations": (
        ("id", "ID", "int"), ("name", "Name", "varchar"), ("owner_id", "Owner", "user"),
        ("add_time", "Organization created", "date"), ("update_time", "Update time", "date"),
        ("is_deleted", "Deleted", "boolean"), ("visible_to", "Visible to", "visible_to"),
        ("address", "Address", "address"), ("label_ids", "Labels", "set"),
        ("website", "Website", "varchar"), ("linkedin", "LinkedIn profile", "varchar"),
        ("industry", "Industry", "enum"), ("annual_revenue", "Annual revenue", "int"),
        ("employee_count", "Number of employees", "int"),
    ),
    "products": (
        ("id", "ID", "int"), ("name", "Name", "varchar"), ("code", "Product code", "varchar"),
        ("unit", "Unit", "varchar"), ("tax", "Tax", "double"),
        ("is_deleted", "Deleted", "boolean"), ("is_linkable", "Linkable", "boolean"),
        ("visible_to", "Visible to", "visible_to"), ("owner_id", "Owner", "user"),
        ("add_time", "Product created", "date"), ("update_time", "Update time", "date"),
        ("description", "Description", "text"), ("category", "Category", "enum"),
        ("billing_frequency", "Billing frequency", "billing_frequency"),
        ("billing_frequency_cycles", "Billing cycles", "int"), ("prices", "Price", "price_list"),
    ),
    "activities": (
        ("id", "ID", "int"), ("subject", "Subject", "varchar"), ("type", "Type", "varchar"),
        ("owner_id", "Assigned to user", "user"), ("creator_user_id", "Creator", "user"),
        ("is_deleted", "Deleted", "boolean"), ("add_time", "Add time", "date"),
        ("update_time", "Update time", "date"), ("deal_id", "Deal", "deal"),
        ("lead_id", "Lead", "lead"), ("person_id", "Contact person", "people"),
        ("org_id", "Organization", "org"), ("project_id", "Project", "project"),
        ("due_date", "Due date", "date"), ("due_time", "Due time", "time"),
        ("duration", "Duration", "time"), ("busy", "Free/busy", "boolean"),
        ("done", "Done", "boolean"), ("marked_as_done_time", "Marked as done time", "date"),
        ("location", "Location", "address"), ("participants", "Participants", "people"),
        ("attendees", "Attendees", "json"),
        ("conference_meeting_client", "Conference client", "varchar"),
        ("conference_meeting_url", "Conference URL", "varchar"),
        ("conference_meeting_id", "Conference ID", "varchar"),
        ("public_description", "Public description", "text"),
        ("priority", "Priority", "enum"), ("note", "Note", "text"),
    ),
    "projects": (
        ("id", "ID", "int"), ("title", "Title", "varchar"), ("description", "Description", "text"),
        ("status", "Status", "status"), ("board_id", "Board", "projects_board"),
        ("phase_id", "Phase", "projects_phase"), ("owner_id", "Owner", "user"),
        ("start_date", "Start date", "date"), ("end_date", "End date", "date"),
        ("deal_ids", "Deals", "deals"), ("person_ids", "Contact persons", "people"),
        ("org_ids", "Organizations", "org"), ("label_ids", "Labels", "set"),
        ("health_status", "Health", "enum"), ("add_time", "Add time", "date"),
        ("update_time", "Update time", "date"),
        ("status_change_time", "Status changed", "date"),
        ("archive_time", "Archived", "date"),
    ),
}
# Options of built-in enum/set/status fields. Option ids have the type the records use for the
# value (ints for label_ids, priority, industry, channel; strings for status and frequency),
# which the spec's `id: oneOf [integer, string]` allows.
LABELS = ((1, "Hot", "red"), (2, "Warm", "yellow"), (3, "Cold", "blue"))
INDUSTRIES = ((1, "Software"), (2, "Manufacturing"), (3, "Retail"), (4, "Healthcare"),
              (5, "Finance"), (6, "Education"))
CHANNELS = ((1, "Organic search"), (2, "Paid search"), (3, "Social"), (4, "Events"))
PRIORITIES = ((1, "Low"), (2, "Medium"), (3, "High"))
BILLING_FREQUENCIES = ("one-time", "annually", "semi-annually", "quarterly", "monthly", "weekly")
_BUILTIN_OPTIONS: dict[str, list[tuple[Any, str, str | None]]] = {
    "status": [("open", "Open", None), ("won", "Won", None), ("lost", "Lost", None),
               ("deleted", "Deleted", None)],
    "visible_to": [(1, "Owner & followers", None), (3, "Entire company", None)],
    "label_ids": list(LABELS),
    "industry": [(i, label, None) for i, label in INDUSTRIES],
    "channel": [(i, label, None) for i, label in CHANNELS],
    "priority": [(i, label, None) for i, label in PRIORITIES],
    "category": [(c, c, None) for c in vocab.PRODUCT_CATEGORIES if c],
    "billing_frequency": [(f, f.capitalize(), None) for f in BILLING_FREQUENCIES],
}


@dataclass(frozen=True)
class CustomField:
    key: str  # 40-char lowercase hex, stable per seed
    name: str
    field_type: str
    options: tuple[tuple[int, str, str | None], ...]  # (id, label, color) for enum/set


def custom_fields(seed: int, entity: str) -> tuple[CustomField, ...]:
    if entity not in _CUSTOM_NAMES:
        return ()
    out = []
    option_id = 100 * (CUSTOM_FIELD_ENTITIES.index(entity) + 1)
    for name, ftype in zip(_CUSTOM_NAMES[entity], _CUSTOM_TYPES, strict=True):
        key = hashlib.sha1(f"sandbox:{seed}:{entity}:{name}".encode()).hexdigest()
        options = ()
        if ftype in ("enum", "set"):
            labels = _OPTION_LABELS[name]
            options = tuple(
                (option_id + n, label, _COLORS[n % len(_COLORS)])
                for n, label in enumerate(labels)
            )
            option_id += len(labels)
        out.append(CustomField(key, name, ftype, options))
    return tuple(out)


def address(rng: random.Random) -> dict[str, str]:
    """A v2 address object (organization.address, person.postal_address, activity.location)."""
    country, adm1, adm2, city, district, streets, postcode, _, _ = rng.choice(vocab.LOCALES)
    street, number = rng.choice(streets), str(rng.randint(1, 240))
    code = "".join(str(rng.randint(0, 9)) if c == "#" else c for c in postcode)
    return {
        "value": f"{street} {number}, {code} {city}, {country}",
        "country": country, "admin_area_level_1": adm1, "admin_area_level_2": adm2,
        "locality": city, "sublocality": district, "route": street, "street_number": number,
        "subpremise": f"Suite {rng.randint(1, 30)}", "postal_code": code,
    }


def phone(rng: random.Random) -> str:
    return f"{rng.choice(vocab.LOCALES)[7]} {rng.randint(1000, 9999)}"


def custom_value(field: CustomField, rng: random.Random, counts: dict[str, int]) -> Any:
    """One custom field value in the v2 shape (PIPEDRIVE_API.md section 6); ~20% null."""
    if rng.random() < 0.2:
        return None
    ft = field.field_type
    span = clock.END - clock.START
    if ft == "varchar":
        return f"{field.name[:3].upper()}-{rng.randint(10000, 99999)}"
    if ft == "text":
        return " ".join(rng.sample(vocab.LOREM, 2))
    if ft == "double":
        return round(rng.uniform(0, 100), 2)
    if ft == "monetary":
        amount = round(rng.uniform(100, 50000), 2)
        return {"value": amount, "currency": rng.choice(vocab.CURRENCIES)}
    if ft == "enum":
        return rng.choice(field.options)[0]
    if ft == "set":
        ids = [o[0] for o in field.options]
        return sorted(rng.sample(ids, rng.randint(1, 3)))
    if ft == "date":
        return clock.day(clock.START + rng.randrange(span))
    if ft == "daterange":
        start = clock.START + rng.randrange(span)
        return {"value": clock.day(start), "until": clock.day(start + rng.randint(1, 365) * 86400)}
    if ft == "time":
        return f"{rng.randint(7, 18):02d}:{rng.choice((0, 15, 30, 45)):02d}:00"
    if ft in ("user", "org", "people"):
        entity = {"user": "users", "org": "organizations", "people": "persons"}[ft]
        return 1 + rng.randrange(max(1, counts[entity]))
    if ft == "address":
        addr = address(rng)
        addr.pop("sublocality")
        return {**addr, "formatted_address": addr["value"]}
    if ft == "phone":
        return phone(rng)
    raise ValueError(ft)


# --- *Fields endpoint items ----------------------------------------------------------------


def _subfields(field_type: str, name: str) -> list[dict[str, str]] | None:
    if field_type == "monetary":
        return [
            {"field_code": "value", "field_name": f"Amount of {name}", "field_type": "double"},
            {"field_code": "currency", "field_name": f"Currency of {name}",
             "field_type": "varchar"},
        ]
    if field_type == "address":
        return [
            {"field_code": code, "field_name": f"{label} of {name}", "field_type": "varchar"}
            for code, label in ADDRESS_PARTS
        ]
    return None


def _option(option_id: Any, label: str, color: str | None, custom: bool) -> dict[str, Any]:
    stamp = clock.v2(clock.START) if custom else None  # built-in options carry no timestamps
    return {"id": option_id, "label": label, "color": color,
            "update_time": stamp, "add_time": stamp}


def _namespaces(entity: str, code: str, index: int, stage_ids: list[int]) -> dict[str, Any]:
    visible = {"add_visible_flag": index % 4 != 3, "details_visible_flag": True}
    dialog = {"show": index < 3, "order": index + 1 if index < 3 else None}
    important = {"enabled": index % 5 == 1, "stage_ids": stage_ids if index % 5 == 1 else []}
    required = {"enabled": code in ("title", "name")}
    if entity == "deals":
        visible["projects_detail_visible_flag"] = False
        visible["show_in_pipelines"] = {"show_in_all": True, "pipeline_ids": []}
        required.update(stage_ids=[], statuses={})
    elif entity == "persons":
        visible["show_in_add_deal_dialog"] = dialog
    elif entity == "organizations":
        visible.update(
            org_detail_visible_flag=True, person_detail_visible_flag=index % 2 == 0,
            deal_detail_visible_flag=index % 3 == 0, show_in_add_deal_dialog=dialog,
            show_in_add_person_dialog={"show": False, "order": None},
        )
    out: dict[str, Any] = {"ui_visibility": visible}
    if "important_fields" in NAMESPACES[entity] or entity in _ALWAYS_NAMESPACES:
        out.update(important_fields=important, required_fields=required)
    return out


def field_items(seed: int, entity: str, stage_ids: list[int]) -> list[dict[str, Any]]:
    """Every field of an entity, built-in first, with all optional namespaces filled in
    (the server strips the ones not asked for)."""
    items = []
    entries: list[tuple[str, str, str, list[dict[str, Any]] | None, bool]] = []
    for code, name, ftype in _BUILTIN[entity]:
        opts = _BUILTIN_OPTIONS.get(code)
        options = [_option(i, label, c, False) for i, label, c in opts] if opts else None
        entries.append((code, name, ftype, options, False))
    for cf in custom_fields(seed, entity):
        options = [_option(i, label, c, True) for i, label, c in cf.options] or None
        entries.append((cf.key, cf.name, cf.field_type, options, True))
    for index, (code, name, ftype, options, custom) in enumerate(entries):
        item: dict[str, Any] = {"field_name": name, "field_code": code}
        if entity in _WITH_DESCRIPTION:
            item["description"] = f"{name} of the deal"
        item.update(
            field_type=ftype, options=options, subfields=_subfields(ftype, name),
            is_custom_field=custom, is_optional_response_field=code == "source_lead_id",
        )
        item.update(_namespaces(entity, code, index, stage_ids))
        items.append(item)
    return items


def v1_custom_value(field: CustomField, value: Any) -> dict[str, Any]:
    """A custom value (v2 shape) as v1 writes it on a record: top-level keys, composite parts
    suffixed (`<key>_currency`, `<key>_until`, `<key>_route`), option ids as text."""
    key, ftype = field.key, field.field_type
    if ftype == "monetary":
        return {key: value["value"], f"{key}_currency": value["currency"]}
    if ftype in ("daterange", "timerange"):
        return {key: value["value"], f"{key}_until": value["until"]}
    if ftype == "address":
        return {key: value["value"], **{f"{key}_{p}": v for p, v in value.items() if p != "value"}}
    if ftype == "enum":
        return {key: str(value)}
    if ftype == "set":
        return {key: ",".join(str(v) for v in value)}
    return {key: value}
