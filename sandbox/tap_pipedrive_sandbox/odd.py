"""Sandbox(odd_values=True): values that broke other Pipedrive connectors, in a share of records.

Every seventh record (by id; every third user) of a few entities gets one: `0000-00-00`
dates (users' `last_login`, deals' `expected_close_date`), "" where a number belongs (deals'
`value`), a list where an object belongs (organizations' `address`, a monetary custom field),
an object where a list belongs (persons' `emails`), and a custom field of a type no tap knows
(`hologram`), which dealFields then lists. Off by default, so that every other test sees
spec-valid data.
"""

from __future__ import annotations

import copy
import hashlib
from typing import TYPE_CHECKING, Any

from . import fields

if TYPE_CHECKING:
    from .data import SandboxData

EVERY = 7
UNKNOWN_TYPE = "hologram"


def unknown_key(seed: int) -> str:
    return hashlib.sha1(f"sandbox:{seed}:odd".encode()).hexdigest()


def _monetary_key(seed: int) -> str:
    return next(cf.key for cf in fields.custom_fields(seed, "deals")
                if cf.field_type == "monetary")


def is_odd(entity: str, item: dict[str, Any]) -> bool:
    ident = item.get("id")
    every = 3 if entity == "users" else EVERY  # a small sandbox has few users
    return isinstance(ident, int) and ident % every == 0


def apply(data: SandboxData, entity: str, doc: dict[str, Any]) -> None:
    """Change the response document in place (its items are replaced by changed copies)."""
    items = doc.get("data")
    if not isinstance(items, list):
        return
    seed = data.world.seed
    if entity == "dealFields" and (doc.get("additional_data") or {}).get("next_cursor") is None:
        items.append({**copy.deepcopy(items[-1]), "field_name": "Mood ring",
                      "field_code": unknown_key(seed), "field_type": UNKNOWN_TYPE,
                      "options": None, "subfields": None, "is_custom_field": True})
        return
    for n, item in enumerate(items):
        if isinstance(item, dict) and is_odd(entity, item):
            items[n] = _odd(copy.deepcopy(item), entity, seed)


def _odd(item: dict[str, Any], entity: str, seed: int) -> dict[str, Any]:
    if entity in ("deals", "archived_deals"):
        item.update(expected_close_date="0000-00-00", value="")
        custom = item.setdefault("custom_fields", {})
        custom[_monetary_key(seed)] = []
        custom[unknown_key(seed)] = {"shimmer": 3}
    elif entity == "users":
        item["last_login"] = "0000-00-00 00:00:00"
    elif entity == "organizations":
        item["address"] = []
    elif entity == "persons":
        item["emails"] = {"value": "odd@mail.example", "primary": True}
    return item
