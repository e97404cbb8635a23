"""The sandbox's data: lazily generated records, compact indexes, and mutations.

Base records (ids 1..count) are never stored: they are rebuilt on demand from
(seed, entity, id). What is stored is small: per-entity arrays of update_time and sort
orders (built on first use), and `overrides`, the current version of every record that was
touched, created or deleted since start. Queries merge the base order (skipping overridden
ids) with the sorted overrides, so a touched record simply moves to its new position.

Child records (deal products, followers, changelogs: children.py) are not tables: they are
rebuilt per parent on demand, and `child_records` lists them all with their parent's id.
Entities with text ids (leads, goals...) are mutated by position (1..n) like the others.
"""

from __future__ import annotations

import copy
import heapq
import math
import re
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from . import children, clock, fields, templated
from .records import RecordBuilder, user_me
from .world import STATUS_ENTITIES, Meta, World

# Entities with an `update_time`-style time; users are v1 and call it `modified`; some
# templated entities have none (templated.UNTIMED).
ENTITIES = (
    "deals", "persons", "organizations", "activities", "products", "pipelines", "stages", "users",
    *templated.ENDPOINTS,
)
_TIME_KEYS = {"users": ("created", "modified")}
# The visible field `touch` edits, so a sync can tell the new version from the old one.
TOUCH_FIELD = {
    "deals": "title", "persons": "job_title", "organizations": "name", "activities": "subject",
    "products": "name", "pipelines": "name", "stages": "name", "users": "name",
    **templated.TOUCH_FIELD,
}
_REVISION = re.compile(r" \(rev (\d+)\)$")
DEAL_STATUSES = ("open", "won", "lost", "deleted")

Key = tuple[Any, int]  # (sort value, id): a total order, so keyset paging never ties


class UnknownEntity(KeyError):
    pass


class _Table:
    """One entity: base records by id, overrides, and lazily built sort indexes."""

    def __init__(self, entity: str, world: World, builder: RecordBuilder) -> None:
        self.entity = entity
        self.world = world
        self.builder = builder
        self.count = world.counts[entity]
        self.next_id = self.count + 1
        self.over: dict[int, dict[str, Any]] = {}
        self.changes = 0  # records stored since the start (created, touched, deleted)
        self.over_meta: dict[int, Meta] = {}
        self._ut: array | None = None
        self._index: dict[str, array] = {}
        self._values: dict[str, Sequence[Any]] = {}
        self._over_sorted: dict[str, list[tuple[Key, int]]] = {}

    # --- per-id facts ---------------------------------------------------------------------

    def exists(self, i: int) -> bool:
        return 1 <= i < self.next_id

    def meta(self, i: int) -> Meta:
        m = self.over_meta.get(i)
        if m is not None:
            return m
        w, e = self.world, self.entity
        update = self._ut[i] if self._ut is not None else w.update_time(e, i)
        return Meta(w.add_time(e, i), update, w.base_deleted(e, i), w.status(e, i))

    # Base records kept built, the least recently used first out (SandboxData.keep_built).
    built: OrderedDict[int, dict[str, Any]] | None = None
    built_limit = 0

    def record(self, i: int) -> dict[str, Any]:
        """The record as stored or built; not to be modified (`_copy` gives one that may)."""
        if i in self.over:
            return self.over[i]
        built = self.built
        if built is None:
            return self.builder.build(self.entity, i, self.meta(i))
        rec = built.get(i)
        if rec is None:  # a base record depends on (seed, entity, id) alone: built once
            rec = built[i] = self.builder.build(self.entity, i, self.meta(i))
            if len(built) > self.built_limit:
                built.popitem(last=False)
        else:
            built.move_to_end(i)
        return rec

    def store(self, i: int, rec: dict[str, Any]) -> None:
        self.changes += 1
        self.over[i] = rec
        status = rec.get("status") if self.entity in STATUS_ENTITIES else None
        deleted = bool(rec.get("is_deleted")) or status == "deleted"
        if self.entity in templated.UNTIMED:
            now = clock.now()
            self.over_meta[i] = Meta(now, now, deleted, status)
        else:
            add_key, update_key = _TIME_KEYS.get(self.entity, ("add_time", "update_time"))
            self.over_meta[i] = Meta(clock.parse_any(rec[add_key]),
                                     clock.parse_any(rec[update_key]), deleted, status)
        self._over_sorted.clear()

    # --- sort keys ---------------------------------------------------------------------------

    def key(self, field: str, i: int) -> Any:
        if field == "id":
            return i
        if field in ("update_time", "add_time"):
            m = self.meta(i)
            return m.update if field == "update_time" else m.add
        if i in self.over:
            return self.over[i][field]
        return self._base_values(field)[i]

    def ensure_update_index(self) -> None:
        """update_time of every base id, in a compact array (about 1 s per million ids)."""
        if self._ut is None:
            self._ut = self.world.update_times(self.entity)

    def _base_values(self, field: str) -> Sequence[Any]:
        if field == "update_time":
            self.ensure_update_index()
            assert self._ut is not None
            return self._ut
        if field not in self._values:
            w, n = self.world, self.count
            make: Callable[[int], Any] = {
                "name": w.product_name,
                "due_date": lambda i: w.activity_due(i, w.add_time("activities", i)),
                "order_nr": lambda i: w.stage_of(i)[1],
            }[field]
            self._values[field] = [None, *(make(i) for i in range(1, n + 1))]
        return self._values[field]

    def _base_order(self, field: str) -> tuple[Sequence[int], Callable[[int], Any]]:
        """Base ids ordered by (key, id), and the key function."""
        ids = range(1, self.count + 1)
        if field == "id":
            return ids, lambda i: i
        if field == "add_time":  # generated add_time grows with the id
            return ids, lambda i: self.world.add_time(self.entity, i)
        values = self._base_values(field)
        if field not in self._index:
            # sorted() is stable and ids come in ascending order, so ties stay ordered by id.
            self._index[field] = array("l", sorted(ids, key=values.__getitem__))
        return self._index[field], values.__getitem__

    def _overrides_sorted(self, field: str) -> list[tuple[Key, int]]:
        if field not in self._over_sorted:
            self._over_sorted[field] = sorted(((self.key(field, i), i), i) for i in self.over)
        return self._over_sorted[field]

    def scan(self, field: str, desc: bool, after: Key | None) -> Iterator[tuple[Key, int]]:
        """Every id in (key, id) order, strictly after `after` in the scan direction."""
        order, keyf = self._base_order(field)

        def composite(i: int) -> Key:
            return (keyf(i), i)

        over = self._overrides_sorted(field)
        if desc:
            pos = len(order) if after is None else bisect_left(order, after, key=composite)
            base: Iterable[int] = (order[p] for p in range(pos - 1, -1, -1))
            cut = len(over) if after is None else bisect_left(over, (after, 0))
            over_iter = reversed(over[:cut])
        else:
            pos = 0 if after is None else bisect_right(order, after, key=composite)
            base = (order[p] for p in range(pos, len(order)))
            cut = 0 if after is None else bisect_right(over, (after, math.inf))
            over_iter = iter(over[cut:])
        base_iter = ((composite(i), i) for i in base if i not in self.over)
        return heapq.merge(base_iter, over_iter, reverse=desc)


def _copy(t: _Table, i: int) -> dict[str, Any]:
    """A record callers may modify freely: stored and kept versions are copied, base ones
    are new."""
    return copy.deepcopy(t.record(i)) if i in t.over or t.built is not None else t.record(i)


class SandboxData:
    """Ground truth and mutations. All methods are thread-safe (one lock, short critical
    sections: the HTTP server calls `query` from many threads)."""

    def __init__(self, records: int = 1000, seed: int = 1) -> None:
        self.world = World(records, seed)
        self.builder = RecordBuilder(self.world)
        self.counts = dict(self.world.counts)
        self._tables = {e: _Table(e, self.world, self.builder) for e in ENTITIES}
        self._fields: dict[str, list[dict[str, Any]]] = {}
        self._ids: dict[str, dict[Any, int]] = {}
        self._relationships: tuple[int, dict[Any, list[dict[str, Any]]]] | None = None
        self.odd_values = False  # Sandbox(odd_values=True): odd.py changes what is served
        self.drift = False  # Sandbox(drift=True): drift.py widens what is served
        self.lock = threading.RLock()

    def keep_built(self, records: int) -> None:
        """Keep up to `records` base records of each entity built, and serve them again
        (the same bytes): building one takes ~0.1 ms under one interpreter lock, so on a
        small machine the sandbox's CPU, not its latency, bounds what a tap fetching in
        parallel gets, whatever the query (unlike the page cache, pagecache.py, which a
        windowed read, its bounds set as it goes, seldom hits). Edits are stored apart,
        as ever (touch, create, delete)."""
        with self.lock:
            for t in self._tables.values():
                t.built = OrderedDict() if records > 0 else None
                t.built_limit = records

    @property
    def version(self) -> tuple[int, bool, bool]:
        """Changes whenever what the API serves may change (pagecache.py)."""
        return sum(t.changes for t in self._tables.values()), self.odd_values, self.drift

    def _table(self, entity: str) -> _Table:
        try:
            return self._tables[entity]
        except KeyError:
            raise UnknownEntity(entity) from None

    # --- reads --------------------------------------------------------------------------

    def records(self, entity: str) -> list[dict[str, Any]]:
        """Every current record of an entity, deleted ones included, ordered by id (or every
        field item, for dealFields, personFields, ...)."""
        if entity in fields.FIELD_ENDPOINTS or entity in templated.V1_FIELD_ENDPOINTS:
            return self.field_items(entity)
        if entity in children.KINDS:
            return [item for _, item in self.child_records(entity)]
        with self.lock:
            t = self._table(entity)
            return [_copy(t, i) for i in range(1, t.next_id)]

    def record(self, entity: str, record_id: int) -> dict[str, Any]:
        with self.lock:
            t = self._table(entity)
            if not t.exists(record_id):
                raise KeyError(f"{entity} {record_id} does not exist")
            return _copy(t, record_id)

    def me(self) -> dict[str, Any]:
        return user_me(self.record("users", 1))

    def field_items(self, endpoint: str) -> list[dict[str, Any]]:
        if endpoint not in self._fields:
            if endpoint in templated.V1_FIELD_ENDPOINTS:
                items = templated.v1_field_items(self.world.seed, endpoint)
            else:
                items = fields.field_items(self.world.seed, fields.FIELD_ENDPOINTS[endpoint],
                                           [1, 2])
            self._fields[endpoint] = items
        return self._fields[endpoint]

    def rename_field(self, endpoint: str, key: str, name: str) -> dict[str, Any]:
        """Rename a field, as a user does in Pipedrive's settings (its key stays)."""
        with self.lock:
            for item in self.field_items(endpoint):
                if item.get("field_code", item.get("key")) == key:
                    item["field_name" if "field_name" in item else "name"] = name
                    return copy.deepcopy(item)
        raise KeyError(f"{endpoint} has no field {key}")

    # --- children (children.py) -------------------------------------------------------------

    def index_of(self, entity: str, record_id: Any) -> int | None:
        """The position (1..n) of the record with this id, or None."""
        with self.lock:
            t = self._table(entity)
            if entity not in templated.TEXT_IDS:
                try:
                    i = int(record_id) - templated.ID_BASE.get(entity, 0)
                except (TypeError, ValueError):
                    return None
                return i if t.exists(i) else None
            ids = self._ids.get(entity)
            if ids is None or len(ids) != t.next_id - 1:
                ids = {templated.record_id(self.world, entity, i): i for i in range(1, t.next_id)}
                self._ids[entity] = ids
            return ids.get(str(record_id))

    def children_of(self, entity: str, parent_id: Any) -> list[dict[str, Any]]:
        """What the child endpoint lists for one parent (by the parent's id)."""
        kind = children.KINDS[entity]
        if entity == "organization_relationships":  # listed on both organizations' side
            return [copy.deepcopy(r) for r in self._relationships_by_org().get(parent_id, [])]
        i = self.index_of(kind.parent, parent_id)
        if i is None:
            return []
        return children.build(self.world, entity, i, self._table(kind.parent).meta(i).add)

    def child_records(self, entity: str) -> list[tuple[Any, dict[str, Any]]]:
        """Every child of every parent, as (parent id, item); each item once."""
        kind = children.KINDS[entity]
        with self.lock:
            parents = self._table(kind.parent).next_id
        out = []
        for i in range(1, parents):
            parent_id = templated.record_id(self.world, kind.parent, i)
            added = self._table(kind.parent).meta(i).add
            out += [(parent_id, item) for item in children.build(self.world, entity, i, added)]
        return out

    def _relationships_by_org(self) -> dict[Any, list[dict[str, Any]]]:
        count = self._table("organizations").next_id
        if self._relationships is None or self._relationships[0] != count:
            by_org: dict[Any, list[dict[str, Any]]] = {}
            for _, rel in self.child_records("organization_relationships"):
                for side in ("rel_owner_org_id", "rel_linked_org_id"):
                    by_org.setdefault(rel[side]["value"], []).append(rel)
            self._relationships = (count, by_org)
        return self._relationships[1]

    def query(
        self,
        entity: str,
        *,
        sort_by: str = "id",
        desc: bool = False,
        after: Key | None = None,
        limit: int = 100,
        since: float | None = None,
        until: float | None = None,
        statuses: frozenset[str] | None = None,
    ) -> tuple[list[dict[str, Any]], Key | None]:
        """One page: up to `limit` matching records after `after`, and the key to continue
        from (None on the last page).

        Deleted records are left out unless `statuses` (deals only) contains "deleted";
        `since` is inclusive and `until` exclusive, on update_time (epoch seconds).
        """
        with self.lock:
            t = self._table(entity)
            if since is not None or until is not None:
                t.ensure_update_index()  # scanning by id with a time filter needs it
            lo = None if since is None else math.ceil(since)
            hi = None if until is None else math.ceil(until)
            start = after
            # Sorted by update_time, seek straight to the time window: (t, 0) sorts before
            # every real (t, id), so "after (lo, 0)" means ">= lo" and "before (hi, 0)" "< hi".
            if sort_by == "update_time" and not desc and lo is not None:
                start = max(start, (lo, 0)) if start is not None else (lo, 0)
            if sort_by == "update_time" and desc and hi is not None:
                start = min(start, (hi, 0)) if start is not None else (hi, 0)
            out: list[tuple[Key, dict[str, Any]]] = []
            for key, i in t.scan(sort_by, desc, start):
                if sort_by == "update_time" and (
                    (not desc and hi is not None and key[0] >= hi)
                    or (desc and lo is not None and key[0] < lo)
                ):
                    break
                if not self._matches(t.meta(i), statuses, lo, hi):
                    continue
                if len(out) == limit:
                    return [rec for _, rec in out], out[-1][0]
                out.append((key, t.record(i)))
            return [rec for _, rec in out], None

    @staticmethod
    def _matches(m: Meta, statuses: frozenset[str] | None, lo: int | None, hi: int | None) -> bool:
        if statuses is None:
            if m.deleted:
                return False
        elif m.deleted:
            if "deleted" not in statuses:
                return False
        elif m.status not in statuses:
            return False
        return (lo is None or m.update >= lo) and (hi is None or m.update < hi)

    # --- mutations ----------------------------------------------------------------------

    def touch(
        self, entity: str, ids: Iterable[int], update_time: Any = None
    ) -> list[dict[str, Any]]:
        """Edit a visible field of each record and set its update time (default: now)."""
        when = clock.to_epoch(update_time)
        field = TOUCH_FIELD[entity]
        with self.lock:
            t = self._table(entity)
            out = []
            for i in self._existing(t, ids):
                rec = dict(t.record(i))
                old = rec.get(field) or ""
                match = _REVISION.search(old)
                revision = int(match.group(1)) + 1 if match else 2
                base = (old[: match.start()] if match else old) or "Edited"
                rec[field] = f"{base} (rev {revision})"
                out.append(self._restamp(t, i, rec, when))
            return out

    def create(self, entity: str, count: int = 1, update_time: Any = None) -> list[dict[str, Any]]:
        """Add new records (next ids), created and last updated at `update_time` (default now)."""
        when = clock.to_epoch(update_time)
        with self.lock:
            t = self._table(entity)
            out = []
            for _ in range(int(count)):
                i = t.next_id
                t.next_id += 1
                status = self.world.status(entity, i)
                if status == "deleted":
                    status = "open"  # created records start alive
                rec = self.builder.build(entity, i, Meta(when, when, False, status))
                t.store(i, rec)
                out.append(rec)
            return out

    def delete(
        self, entity: str, ids: Iterable[int], update_time: Any = None
    ) -> list[dict[str, Any]]:
        """Soft delete: is_deleted true and update time now, as Pipedrive does."""
        when = clock.to_epoch(update_time)
        with self.lock:
            t = self._table(entity)
            out = []
            for i in self._existing(t, ids):
                rec = dict(t.record(i), is_deleted=True)
                if entity == "users":
                    rec.update(active_flag=False, activated=False)
                out.append(self._restamp(t, i, rec, when))
            return out

    @staticmethod
    def _existing(t: _Table, ids: Iterable[int]) -> list[int]:
        ids = [int(i) for i in ids]
        missing = [i for i in ids if not t.exists(i)]
        if missing:
            raise KeyError(f"{t.entity} {missing} do not exist")
        return ids

    @staticmethod
    def _restamp(t: _Table, i: int, rec: dict[str, Any], when: int) -> dict[str, Any]:
        update_key = _TIME_KEYS.get(t.entity, ("add_time", "update_time"))[1]
        if t.entity in templated.UNTIMED:
            raise KeyError(f"{t.entity} have no update time to change")
        # add_time <= update_time must hold even if a caller backdates an update; the new
        # time is written the way the record writes it (v1, v2, with milliseconds).
        old_add = t.meta(i).add
        rec[update_key] = clock.stamp(max(when, old_add), rec[update_key])
        t.store(i, rec)
        return rec
