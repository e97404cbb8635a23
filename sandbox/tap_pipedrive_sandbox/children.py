"""Child records: items listed per parent (deal products, followers, changelogs, phases...).

Nothing is stored: a parent's children are rebuilt on demand from (seed, parent, position),
on the spec templates of their endpoint (templated.py), so they cost nothing until asked for
and never change unless the parent's id set does. Child ids are `parent position * 10 + n`.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import clock, vocab
from .templated import record_id, template
from .world import World

Fill = Callable[["Child", dict[str, Any]], None]


@dataclass(frozen=True)
class Child:
    """One child being built: its parent, its number under the parent, and the world."""

    world: World
    parent_entity: str
    parent_index: int
    parent_id: Any
    n: int
    added: int  # the parent's add time (epoch seconds): children come later
    rng: random.Random

    @property
    def id(self) -> int:
        return self.parent_index * 10 + self.n

    def at(self, hours: int) -> int:
        return min(self.added + hours * 3600, clock.END)

    def user(self, offset: int = 0) -> int:
        users = self.world.counts["users"]
        return 1 + (self.parent_index + offset) % users

    def pick(self, entity: str) -> int:
        return 1 + self.rng.randrange(max(1, self.world.counts[entity]))


@dataclass(frozen=True)
class Kind:
    parent: str  # the parent entity
    endpoint: str  # templates.json key of the child endpoint
    least: int  # children per parent: least..most, drawn per parent
    most: int
    fill: Fill


def _uuid(c: Child, salt: int) -> str:
    h = c.world.h(c.parent_entity, c.id, salt) << 64 | c.world.h(c.parent_entity, c.id, salt + 1)
    return str(uuid.UUID(int=h, version=4))


def _stamp(rec: dict[str, Any], key: str, epoch: int) -> None:
    rec[key] = clock.stamp(epoch, rec[key])


def _deal_product(c: Child, rec: dict[str, Any]) -> None:
    qty, price = c.rng.randint(1, 10), c.rng.randrange(10, 2000)
    product = c.pick("products")
    rec.update(id=c.id, deal_id=c.parent_id, product_id=product, name=c.world.product_name(product),
               quantity=qty, item_price=price, sum=qty * price, tax=0, discount=0,
               currency=c.rng.choice(vocab.CURRENCIES), order_nr=c.n, comments="",
               product_variation_id=None, is_enabled=True, billing_frequency="one-time",
               billing_frequency_cycles=None, billing_start_date=clock.day(c.at(24)))
    _stamp(rec, "add_time", c.at(1))
    _stamp(rec, "update_time", c.at(2))


def _installment(c: Child, rec: dict[str, Any]) -> None:
    rec.update(id=c.id, deal_id=c.parent_id, amount=c.rng.randrange(100, 5000),
               billing_date=clock.day(c.at(24 * 30 * c.n)), description=f"Installment {c.n}")


def _discount(c: Child, rec: dict[str, Any]) -> None:
    rec.update(id=_uuid(c, 80),
               deal_id=c.parent_id, type=c.rng.choice(("percentage", "amount")),
               amount=c.rng.randrange(5, 30), description="Loyalty discount",
               created_by=c.user(), updated_by=c.user())
    _stamp(rec, "created_at", c.at(3))
    _stamp(rec, "updated_at", c.at(4))


def _follower(c: Child, rec: dict[str, Any]) -> None:
    rec["user_id"] = c.user(c.n)  # distinct users under one parent
    _stamp(rec, "add_time", c.at(c.n))


def _participant(c: Child, rec: dict[str, Any]) -> None:
    person = c.pick("persons")
    name = " ".join(c.world.person_name(person))
    rec.update(id=c.id, add_time=clock.stamp(c.at(c.n), rec["add_time"]), active_flag=True,
               related_item_type="deal", related_item_id=c.parent_id)
    rec["person_id"].update(name=name, value=person)
    rec["person"].update(id=person, name=name)
    rec["related_item_data"].update(deal_id=c.parent_id)


def _flow(c: Child, rec: dict[str, Any]) -> None:
    rec["object"] = ("dealChange", "note", "activity", "file")[c.n % 4]
    rec["timestamp"] = clock.stamp(c.at(c.n), rec["timestamp"])
    rec["data"] = {**(rec.get("data") or {}), "id": c.id, "item_id": c.parent_id}


CHANGED_FIELDS = ("value", "stage_id", "owner_id", "title", "status")


def _changelog(c: Child, rec: dict[str, Any]) -> None:
    rec.update(field_key=CHANGED_FIELDS[c.n % len(CHANGED_FIELDS)], old_value=str(c.n),
               new_value=str(c.n + 1), actor_user_id=c.user(), change_source="app",
               is_bulk_update_flag=False)
    _stamp(rec, "time", c.at(c.n + 1))


def _project_changelog(c: Child, rec: dict[str, Any]) -> None:
    rec.update(actor_user_id=c.user(), change_source="app", old_values={"status": "open"},
               new_values={"status": "completed"})
    _stamp(rec, "time", c.at(c.n + 1))


def _variation(c: Child, rec: dict[str, Any]) -> None:
    rec.update(id=c.id, product_id=c.parent_id, name=f"Variant {chr(65 + c.n)}", prices=[])


def _comment(c: Child, rec: dict[str, Any]) -> None:
    rec.update(uuid=_uuid(c, 81),
               active_flag=True, content=c.rng.choice(vocab.LOREM), object_id=str(c.parent_id),
               object_type="note", user_id=c.user(), updater_id=c.user(), company_id=7001234)
    _stamp(rec, "add_time", c.at(c.n))
    _stamp(rec, "update_time", c.at(c.n))


def _mail_message(c: Child, rec: dict[str, Any]) -> None:
    rec.update(id=c.id, mail_thread_id=c.parent_id, user_id=c.user(),
               subject=f"Re: {c.rng.choice(vocab.DEAL_NOUNS)}", snippet=c.rng.choice(vocab.LOREM))
    for key in ("message_time", "add_time", "update_time"):
        _stamp(rec, key, c.at(c.n))


def _role_assignment(c: Child, rec: dict[str, Any]) -> None:
    rec.update(role_id=c.parent_id, user_id=c.user(c.n), parent_role_id=1, active_flag=True,
               type="role")


def _permission_assignment(c: Child, rec: dict[str, Any]) -> None:
    rec.update(permission_set_id=c.parent_id, user_id=c.user(c.n))


def _phase(c: Child, rec: dict[str, Any]) -> None:
    rec.update(id=c.id, board_id=c.parent_id, name=("Kick-off", "Build", "Launch", "Done")[c.n - 1],
               order_nr=c.n)
    _stamp(rec, "add_time", c.added)
    _stamp(rec, "update_time", c.added)


def _relationship(c: Child, rec: dict[str, Any]) -> None:
    other = 1 + (c.parent_index + 7) % c.world.counts["organizations"]
    rec.update(id=c.id, type="parent", active_flag="true", calculated_type="daughter",
               calculated_related_org_id=other, related_organization_name=c.world.org_name(other))
    rec["rel_owner_org_id"].update(value=c.parent_id, name=c.world.org_name(c.parent_index))
    rec["rel_linked_org_id"].update(value=other, name=c.world.org_name(other))
    _stamp(rec, "add_time", c.added)
    _stamp(rec, "update_time", c.added)


KINDS: dict[str, Kind] = {
    "deal_products": Kind("deals", "v2 /deals/products", 0, 3, _deal_product),
    "deal_installments": Kind("deals", "v2 /deals/installments", 0, 2, _installment),
    "deal_discounts": Kind("deals", "v2 /deals/{id}/discounts", 0, 1, _discount),
    "deal_followers": Kind("deals", "v2 /deals/{id}/followers", 1, 2, _follower),
    "deal_participants": Kind("deals", "v1 /deals/{id}/participants", 0, 2, _participant),
    "deal_flow": Kind("deals", "v1 /deals/{id}/flow", 1, 3, _flow),
    "deal_changelog": Kind("deals", "v1 /deals/{id}/changelog", 0, 3, _changelog),
    "person_followers": Kind("persons", "v2 /persons/{id}/followers", 1, 2, _follower),
    "person_changelog": Kind("persons", "v1 /persons/{id}/changelog", 0, 2, _changelog),
    "organization_followers": Kind("organizations", "v2 /organizations/{id}/followers", 1, 2,
                                   _follower),
    "organization_changelog": Kind("organizations", "v1 /organizations/{id}/changelog", 0, 2,
                                   _changelog),
    "organization_relationships": Kind("organizations", "v1 /organizationRelationships", 0, 1,
                                       _relationship),
    "product_followers": Kind("products", "v2 /products/{id}/followers", 1, 2, _follower),
    "product_variations": Kind("products", "v2 /products/{id}/variations", 0, 2, _variation),
    "user_followers": Kind("users", "v2 /users/{id}/followers", 0, 2, _follower),
    "note_comments": Kind("notes", "v1 /notes/{id}/comments", 0, 2, _comment),
    "mail_messages": Kind("mail_threads", "v1 /mailbox/mailThreads/{id}/mailMessages", 1, 3,
                          _mail_message),
    "role_assignments": Kind("roles", "v1 /roles/{id}/assignments", 1, 2, _role_assignment),
    "permission_set_assignments": Kind("permission_sets", "v1 /permissionSets/{id}/assignments",
                                       1, 2, _permission_assignment),
    "phases": Kind("boards", "v2 /phases", 3, 4, _phase),
    "project_changelog": Kind("projects", "v2 /projects/{id}/changelog", 0, 2,
                              _project_changelog),
}


def build(world: World, entity: str, parent_index: int, added: int) -> list[dict[str, Any]]:
    """The children of one parent (by its position 1..n), in id order."""
    kind = KINDS[entity]
    salt = 70 + list(KINDS).index(entity)
    rng = random.Random(world.h(kind.parent, parent_index, salt))
    count = kind.least + rng.randrange(kind.most - kind.least + 1)
    parent_id = record_id(world, kind.parent, parent_index)
    out = []
    for n in range(1, count + 1):
        rec = template(kind.endpoint)
        kind.fill(Child(world, kind.parent, parent_index, parent_id, n, added, rng), rec)
        out.append(rec)
    return out
