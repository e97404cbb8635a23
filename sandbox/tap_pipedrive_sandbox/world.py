"""The skeleton of the generated company: counts and cheap per-id facts.

Everything here is a pure function of (seed, entity, id) that costs about a microsecond, so the
sandbox can sort and filter a million records by update_time without building a million dicts.
The record builder (records.py) calls the same functions, so a record always agrees with the
indexes built from them.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import dataclass

from . import clock, vocab

_MASK = (1 << 64) - 1
ENTITIES = (
    "deals", "persons", "organizations", "activities", "products", "users", "pipelines", "stages",
    # Added later, at the end, so that the salts (and data) of the ones above never change.
    "archived_deals", "leads", "archived_leads", "lead_labels", "lead_sources", "notes", "files",
    "call_logs", "mail_threads", "projects", "archived_projects", "project_templates", "tasks",
    "boards", "activity_types", "currencies", "filters", "goals", "roles", "permission_sets",
)
_SALT = {name: n + 1 for n, name in enumerate(ENTITIES)}
PROJECT_STATUSES = ("open", "completed", "canceled", "deleted")
STATUS_ENTITIES = {"deals": "deal", "archived_deals": "deal", "projects": "project",
                   "archived_projects": "project"}
_GOLDEN = 0x9E3779B97F4A7C15
_PRIME = 0xD1B54A32D192ED03
STAGES_PER_PIPELINE = 5
TIES_PER_SECOND = 25  # average records sharing one update_time second
UNTOUCHED_PERCENT = 15  # records never edited after creation: update_time == add_time


def mix(*parts: int) -> int:
    """splitmix64 over the parts: a fast, well-spread 64-bit hash."""
    x = 0x9E3779B97F4A7C15
    for part in parts:
        x = _finish(x ^ (part & _MASK))
    return x


def _finish(x: int) -> int:
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK
    return x ^ (x >> 31)


def counts_for(records: int) -> dict[str, int]:
    n = max(0, int(records))
    return {
        "deals": n,
        "persons": n,
        "organizations": max(1, n // 2),
        "activities": n,
        "products": max(10, n // 20),
        "users": max(3, min(50, n // 200)),
        "pipelines": len(vocab.PIPELINES),
        "stages": len(vocab.PIPELINES) * STAGES_PER_PIPELINE,
    }


def more_counts(records: int) -> dict[str, int]:
    """Counts of the entities added after the first eight (kept apart from counts_for)."""
    n = max(0, int(records))
    return {
        "archived_deals": max(2, n // 20), "leads": max(3, n // 4),
        "archived_leads": max(2, n // 40), "lead_labels": 3, "lead_sources": 6,
        "notes": max(3, n // 2), "files": max(3, n // 5), "call_logs": max(3, n // 5),
        "mail_threads": max(4, n // 10), "projects": max(3, n // 50),
        "archived_projects": max(1, n // 200), "project_templates": 3,
        "tasks": max(4, n // 10), "boards": 2, "activity_types": 6, "currencies": 4,
        "filters": 6, "goals": 10, "roles": 3, "permission_sets": 4,
    }


@dataclass(frozen=True)
class Meta:
    """What filtering and sorting need to know about one record."""

    add: int
    update: int
    deleted: bool
    status: str | None  # deals only


class World:
    def __init__(self, records: int, seed: int) -> None:
        self.seed = int(seed)
        self.counts = {**counts_for(records), **more_counts(records)}
        self._base = {e: mix(self.seed, _SALT[e]) for e in ENTITIES}
        # Bulk edits (imports, automations) touch many records in the same second: each entity
        # gets a sorted list of "batch" instants that most update_times are drawn from.
        self._batches = {e: self._batch_times(e) for e in ENTITIES}

    def h(self, entity: str, i: int, salt: int = 0) -> int:
        # One finalizer round per call: this runs a million times when an index is built.
        return _finish((self._base[entity] + salt * _GOLDEN + i * _PRIME) & _MASK)

    def _batch_times(self, entity: str) -> list[int]:
        n = max(1, self.counts[entity] // TIES_PER_SECOND)
        step = (clock.END - clock.START) // n
        return [
            clock.START + (b + 1) * step - self.h(entity, b, 99) % max(1, step // 2)
            for b in range(n)
        ]

    # --- time facts (base records only; created records carry their own) -----------------

    def add_time(self, entity: str, i: int) -> int:
        # Ids are handed out at creation, so add_time grows with the id, as in Pipedrive.
        n = max(1, self.counts[entity])
        return clock.START + (i - 1) * (clock.ADD_END - clock.START) // n

    def update_time(self, entity: str, i: int) -> int:
        add = self.add_time(entity, i)
        h = self.h(entity, i, 1)
        batches = self._batches[entity]
        lo = bisect_left(batches, add)
        if lo >= len(batches) or h % 100 < UNTOUCHED_PERCENT:
            return add
        return batches[lo + (h >> 8) % (len(batches) - lo)]

    def update_times(self, entity: str) -> array:
        """update_time of ids 0..count (0 unused) in one pass: the same values as
        update_time(), computed without a bisect per id because add_time grows with the id."""
        n = self.counts[entity]
        span, batches = clock.ADD_END - clock.START, self._batches[entity]
        size, lo, base = len(batches), 0, self._base[entity] + _GOLDEN
        out = array("q", bytes(8 * (n + 1)))
        for i in range(1, n + 1):
            add = clock.START + (i - 1) * span // n
            while lo < size and batches[lo] < add:
                lo += 1
            h = _finish((base + i * _PRIME) & _MASK)
            out[i] = add if lo >= size or h % 100 < UNTOUCHED_PERCENT else batches[
                lo + (h >> 8) % (size - lo)
            ]
        return out

    def base_deleted(self, entity: str, i: int) -> bool:
        # About 3% of deals and projects start soft-deleted; other entities only through
        # Sandbox.data.delete.
        if entity in ("projects", "archived_projects"):
            return self.status(entity, i) == "deleted"
        return entity in ("deals", "archived_deals") and self.h(entity, i, 2) % 1000 < 30

    def status(self, entity: str, i: int) -> str | None:
        """The status filters select on (deals and projects; None for other entities)."""
        kind = STATUS_ENTITIES.get(entity)
        if kind is None:
            return None
        roll = self.h(entity, i, 3) % 100
        if kind == "deal":
            return "open" if roll < 55 else "won" if roll < 80 else "lost"
        return "open" if roll < 50 else "completed" if roll < 80 else "canceled" if roll < 97 \
            else "deleted"

    def base_meta(self, entity: str, i: int) -> Meta:
        status = self.status(entity, i)
        return Meta(
            self.add_time(entity, i), self.update_time(entity, i),
            self.base_deleted(entity, i), status,
        )

    # --- relationships and sort keys ------------------------------------------------------

    def deal_status(self, i: int) -> str:
        roll = self.h("deals", i, 3) % 100
        return "open" if roll < 55 else "won" if roll < 80 else "lost"

    def owner(self, entity: str, i: int) -> int:
        return 1 + self.h(entity, i, 4) % self.counts["users"]

    def person_org(self, person_id: int) -> int | None:
        h = self.h("persons", person_id, 5)
        return None if h % 10 == 0 else 1 + (h >> 8) % self.counts["organizations"]

    def deal_person(self, deal_id: int) -> int:
        return 1 + self.h("deals", deal_id, 5) % max(1, self.counts["persons"])

    def deal_org(self, deal_id: int) -> int:
        org = self.person_org(self.deal_person(deal_id))
        return org or 1 + self.h("deals", deal_id, 6) % self.counts["organizations"]

    def person_name(self, person_id: int) -> tuple[str, str]:
        h = self.h("persons", person_id, 7)
        first = vocab.FIRST_NAMES[h % len(vocab.FIRST_NAMES)]
        return first, vocab.LAST_NAMES[(h >> 16) % len(vocab.LAST_NAMES)]

    def org_name(self, org_id: int) -> str:
        h = self.h("organizations", org_id, 7)
        return " ".join((
            vocab.ORG_FIRST[h % len(vocab.ORG_FIRST)],
            vocab.ORG_SECOND[(h >> 8) % len(vocab.ORG_SECOND)],
            vocab.ORG_SUFFIX[(h >> 16) % len(vocab.ORG_SUFFIX)],
        ))

    def product_name(self, product_id: int) -> str:
        # Deliberately collision-prone so that sort_by=name exercises ties broken by id.
        h = self.h("products", product_id, 7)
        adj = vocab.PRODUCT_ADJ[h % len(vocab.PRODUCT_ADJ)]
        noun = vocab.PRODUCT_NOUNS[(h >> 8) % len(vocab.PRODUCT_NOUNS)]
        return f"{adj} {noun} {chr(65 + (h >> 16) % 6)}{(h >> 24) % 9 + 1}"

    def activity_due(self, activity_id: int, add: int) -> str:
        offset = self.h("activities", activity_id, 8) % (60 * 86400)
        return clock.day(min(add + offset, clock.END))

    def stage_of(self, stage_id: int) -> tuple[int, int]:
        """(pipeline_id, order_nr) of a stage."""
        return (stage_id - 1) // STAGES_PER_PIPELINE + 1, (stage_id - 1) % STAGES_PER_PIPELINE + 1
