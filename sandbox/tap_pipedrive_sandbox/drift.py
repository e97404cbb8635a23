"""Sandbox(drift=True), `tap-pipedrive sandbox --drift`: answers wider and less regular than the
spec, as real accounts' are. Deterministic: the same seed gives the same answers.

- Properties no spec names, on v2 (deals, archived deals, persons, organizations, activities)
  and v1 records (users, leads): `sandbox_drift_rank` (an integer), `sandbox_drift_flags` (an
  object), `sandbox_drift_note` (text, null on even ids) and `sandbox_drift_badge` (users);
  and inside objects the spec describes: persons' `emails[].sandbox_drift_verified`,
  organizations' `address.sandbox_drift_plus_code`.
- Custom fields missing from the field metadata: a key in deals' and persons' `custom_fields`
  (v2) and a top-level key on leads (v1) that no *Fields endpoint lists (`shadow_key`).
- The other subfield convention: dealFields and organizationFields name the parts of monetary
  and address fields `<key>_currency`, `<key>_locality`..., not `currency`, `locality`.
- A property that starts to appear in the middle of a run: `sandbox_drift_late`, on deals whose
  update_time is at or after LATE (the last ones a sync sorted by update_time reads; every
  record touched since).

Records are changed as they are served (`apply`); `record(...)` gives a record as served, for
tests. The default sandbox is unchanged.
"""

from __future__ import annotations

import copy
import hashlib
from typing import TYPE_CHECKING, Any

from . import clock

if TYPE_CHECKING:
    from .data import SandboxData

LATE = 1767225600  # 2026-01-01T00:00:00Z
WIDER = {"deals", "archived_deals", "persons", "organizations", "activities", "users", "leads"}
SHADOWED = {"deals": "deals", "archived_deals": "deals", "persons": "persons",
            "leads": "leads"}  # entity -> the entity its hidden custom field belongs to
PREFIXED = {"dealFields", "organizationFields"}  # metadata with `<key>_<part>` subfield codes


def shadow_key(seed: int, entity: str) -> str:
    """The key of a custom field that the records carry and the metadata does not list."""
    return hashlib.sha1(f"sandbox:{seed}:{entity}:shadow".encode()).hexdigest()


def record(seed: int, entity: str, item: dict[str, Any]) -> dict[str, Any]:
    """`item` as the drifting sandbox serves it (a changed copy; the item itself unchanged)."""
    item = copy.deepcopy(item)
    ident = item.get("id")
    n = ident if isinstance(ident, int) else int(hashlib.sha1(str(ident).encode()).hexdigest()[:6],
                                                  16)
    if entity == "users":
        item["sandbox_drift_badge"] = f"badge-{n % 5}"
    elif entity in WIDER:
        item["sandbox_drift_rank"] = n % 97
        item["sandbox_drift_flags"] = {"starred": n % 3 == 0, "source": "api"}
        item["sandbox_drift_note"] = None if n % 2 == 0 else f"note {n}"
    if entity == "persons":  # inside objects the spec describes
        for email in item.get("emails") or []:
            email["sandbox_drift_verified"] = n % 4 != 0
    if entity == "organizations" and isinstance(item.get("address"), dict):
        item["address"]["sandbox_drift_plus_code"] = f"9G{n:04d}+XX"
    if entity in ("deals", "archived_deals") and _updated(item) >= LATE:
        item["sandbox_drift_late"] = f"late-{n}"
    if (owner := SHADOWED.get(entity)) is not None:
        value = f"SHD-{n:05d}"
        if entity == "leads":
            item[shadow_key(seed, owner)] = value
        elif isinstance(item.get("custom_fields"), dict):
            item["custom_fields"][shadow_key(seed, owner)] = value
    return item


def _updated(item: dict[str, Any]) -> float:
    try:
        return clock.parse_any(item.get("update_time") or "")
    except (TypeError, ValueError):
        return 0


def apply(data: SandboxData, entity: str, doc: dict[str, Any]) -> None:
    """Change a response document in place (its items are replaced by changed copies)."""
    items = doc.get("data")
    if not isinstance(items, list):
        return
    seed = data.world.seed
    if entity in PREFIXED:
        for n, item in enumerate(items):
            if isinstance(item, dict) and item.get("subfields"):
                items[n] = _prefixed(item)
        return
    if entity in WIDER:
        for n, item in enumerate(items):
            if isinstance(item, dict):
                items[n] = record(seed, entity, item)


def _prefixed(item: dict[str, Any]) -> dict[str, Any]:
    """Subfield codes as `<key>_<part>` (the main value keeps `value`)."""
    item = copy.deepcopy(item)
    key = item.get("field_code")
    for sub in item["subfields"]:
        if isinstance(sub, dict) and sub.get("field_code") not in (None, "value"):
            sub["field_code"] = f"{key}_{sub['field_code']}"
    return item
