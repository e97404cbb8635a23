"""Sandboxes that differ as Pipedrive companies do: each its own custom field names.

Every sandbox has the same fourteen custom fields per entity (keys differ by seed); a company
of an agency's many names them its own way. `name_custom_fields(data, "north")` renames each
one to "<name> north", as a user does in Pipedrive's settings (the key stays), so that two
sandboxes load into different custom-field columns: `contract_number_north`, ...
"""

from __future__ import annotations

from . import fields, templated
from .data import SandboxData


def name_custom_fields(data: SandboxData, suffix: str) -> int:
    """Append " <suffix>" to every custom field's name; returns how many were renamed."""
    suffix = suffix.strip()
    if not suffix:
        return 0
    renamed = 0
    for endpoint in (*fields.FIELD_ENDPOINTS, *templated.V1_FIELD_ENDPOINTS):
        for item in data.field_items(endpoint):
            custom = item.get("is_custom_field", item.get("edit_flag"))
            if custom:
                key = item.get("field_code", item.get("key"))
                name = item.get("field_name", item.get("name"))
                data.rename_field(endpoint, key, f"{name} {suffix}")
                renamed += 1
    return renamed
