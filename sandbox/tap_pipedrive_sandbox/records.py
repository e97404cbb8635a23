"""Build one record, exactly as the API serializes it, from (seed, entity, id) and its Meta.

Key order and key set follow the item schema of each list response in Pipedrive's spec
(v2 GET /deals, /persons, /organizations, /activities, /products, /pipelines, /stages;
v1 GET /users). Where the spec gives a non-nullable type but Pipedrive leaves the field empty
(an open deal's won_time, an activity without a deal), the value is null: see NATURAL_NULLS.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from collections.abc import Callable
from typing import Any

from . import clock, fields, vocab
from .templated import Templated
from .world import Meta, World

# Fields the spec types as non-nullable that the sandbox still sets to null where a real
# account would have nothing to show. Tests allow exactly these; paths use "." for nesting.
NATURAL_NULLS: dict[str, frozenset[str]] = {
    "deals": frozenset({"won_time", "lost_time"}),
    "persons": frozenset({"org_id", "picture_id", "notes", "birthday", "job_title"}),
    "activities": frozenset({
        "deal_id", "lead_id", "person_id", "org_id", "project_id", "due_time", "duration",
        "marked_as_done_time", "location", "conference_meeting_client",
        "conference_meeting_url", "conference_meeting_id", "public_description", "priority",
        "note", "attendees.person_id", "attendees.user_id",
    }),
}
COMPANY = {
    "company_id": 7001234, "company_name": "Sandbox Company", "company_domain": "sandbox",
    "company_country": "EE", "company_industry": "Software",
}


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = "".join(c if c.isalnum() else " " for c in ascii_text.lower()).split()
    return "-".join(words)


def _between(rng: random.Random, lo: int, hi: int) -> int:
    return lo + int((hi - lo) * rng.random())


class RecordBuilder:
    def __init__(self, world: World) -> None:
        self.world = world
        self.counts = world.counts
        self.custom = {e: fields.custom_fields(world.seed, e) for e in fields.CUSTOM_FIELD_ENTITIES}
        self._build: dict[str, Callable[[int, Meta, random.Random], dict[str, Any]]] = {
            "deals": self._deal, "persons": self._person, "organizations": self._organization,
            "activities": self._activity, "products": self._product,
            "pipelines": self._pipeline, "stages": self._stage, "users": self._user,
        }
        # The entities added later are built on spec templates (templated.py).
        self._build.update(Templated(world, self.custom, self._deal,
                                     self._custom_fields).builders())

    def build(self, entity: str, i: int, meta: Meta) -> dict[str, Any]:
        rng = random.Random(self.world.h(entity, i, 50))
        return self._build[entity](i, meta, rng)

    def _custom_fields(self, entity: str, i: int) -> dict[str, Any]:
        # A separate stream, so adding a built-in field never reshuffles custom values.
        rng = random.Random(self.world.h(entity, i, 51))
        return {cf.key: fields.custom_value(cf, rng, self.counts) for cf in self.custom[entity]}

    def _org_domain(self, org_id: int | None) -> str:
        return f"{slug(self.world.org_name(org_id))}.example" if org_id else "mail.example"

    def _pick(self, entity: str, rng: random.Random) -> int:
        return 1 + rng.randrange(max(1, self.counts[entity]))

    # --- v2 entities --------------------------------------------------------------------

    def _deal(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        w = self.world
        status = m.status or w.deal_status(i)
        org = w.deal_org(i)
        pipeline = 1 + r.randrange(self.counts["pipelines"])
        order = 5 if status == "won" else r.randint(1, 5)
        closed = _between(r, m.add, m.update) if status != "open" else None
        value = r.randrange(500, 120000, 50) if r.random() < 0.7 else round(r.uniform(50, 9e4), 2)
        mrr = round(value / 12, 2) if r.random() < 0.1 else None
        return {
            "id": i,
            "title": f"{w.org_name(org)} {r.choice(vocab.DEAL_NOUNS)}",
            "owner_id": w.owner("deals", i),
            "person_id": w.deal_person(i),
            "org_id": org,
            "pipeline_id": pipeline,
            "stage_id": (pipeline - 1) * 5 + order,
            "value": value,
            "currency": r.choice(vocab.CURRENCIES),
            "add_time": clock.v2(m.add),
            "update_time": clock.v2(m.update),
            "stage_change_time": clock.v2(_between(r, m.add, m.update)),
            "is_deleted": m.deleted,
            "is_archived": False,
            "status": status,
            "probability": r.choice((None, None, None, 10, 25, 50, 75, 90)),
            "lost_reason": r.choice(vocab.LOST_REASONS) if status == "lost" else None,
            "visible_to": r.choice((3, 3, 3, 1)),
            "close_time": clock.v2(closed) if closed else None,
            "won_time": clock.v2(closed) if closed and status == "won" else None,
            "lost_time": clock.v2(closed) if closed and status == "lost" else None,
            "expected_close_date": clock.day(min(m.add + r.randint(14, 180) * 86400, clock.END)),
            "label_ids": sorted(r.sample((1, 2, 3), r.choice((0, 0, 1, 2)))),
            "origin": r.choice(vocab.ORIGINS),
            "origin_id": None,
            "channel": r.choice((None, None, 1, 2, 3, 4)),
            "channel_id": r.choice((None, None, "Jun23 Billboards", "newsletter-2025-04")),
            "source_lead_id": str(uuid.UUID(int=r.getrandbits(128), version=4))
            if r.random() < 0.05 else None,
            "arr": round(mrr * 12, 2) if mrr else None,
            "mrr": mrr,
            "acv": round(mrr * 12, 2) if mrr else None,
            "custom_fields": self._custom_fields("deals", i),
        }

    def _person(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        w = self.world
        first, last = w.person_name(i)
        org = w.person_org(i)
        local = f"{slug(first)}.{slug(last)}".replace("-", "")
        emails = [{"value": f"{local}@{self._org_domain(org)}", "primary": True, "label": "work"}]
        if r.random() < 0.3:
            emails.append({"value": f"{local}{r.randint(1, 99)}@mail.example", "primary": False,
                           "label": "home"})
        phones = [{"value": fields.phone(r), "primary": True, "label": "work"}]
        if r.random() < 0.2:
            phones.append({"value": fields.phone(r), "primary": False, "label": "mobile"})
        im = [{"value": local, "primary": True, "label": "skype"}] if r.random() < 0.2 else []
        birthday = clock.day(r.randint(-700_000_000, 900_000_000)) if r.random() < 0.3 else None
        return {
            "id": i,
            "name": f"{first} {last}",
            "first_name": first,
            "last_name": last,
            "owner_id": w.owner("persons", i),
            "org_id": org,
            "add_time": clock.v2(m.add),
            "update_time": clock.v2(m.update),
            "emails": emails,
            "phones": phones,
            "is_deleted": m.deleted,
            "visible_to": r.choice((3, 3, 1)),
            "label_ids": sorted(r.sample((1, 2, 3), r.choice((0, 0, 1)))),
            "picture_id": None,
            "postal_address": fields.address(r),
            "notes": r.choice(vocab.LOREM) if r.random() < 0.2 else None,
            "im": im,
            "birthday": birthday,
            "job_title": r.choice(vocab.JOB_TITLES),
            "custom_fields": self._custom_fields("persons", i),
        }

    def _organization(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        w = self.world
        name = w.org_name(i)
        has_site = r.random() < 0.8
        return {
            "id": i,
            "name": name,
            "owner_id": w.owner("organizations", i),
            "add_time": clock.v2(m.add),
            "update_time": clock.v2(m.update),
            "is_deleted": m.deleted,
            "visible_to": r.choice((3, 3, 1)),
            "address": fields.address(r),
            "label_ids": sorted(r.sample((1, 2, 3), r.choice((0, 0, 1)))),
            "website": f"https://www.{self._org_domain(i)}" if has_site else None,
            "linkedin": f"https://www.linkedin.com/company/{slug(name)}" if has_site else None,
            "industry": r.choice((None, *range(1, len(fields.INDUSTRIES) + 1))),
            "annual_revenue": r.choice((None, r.randrange(100_000, 90_000_000, 1000))),
            "employee_count": r.choice((None, r.randint(2, 5000))),
            "custom_fields": self._custom_fields("organizations", i),
        }

    def _activity(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        w = self.world
        kind = r.choice(vocab.ACTIVITY_TYPES)
        deal = self._pick("deals", r) if self.counts["deals"] and r.random() < 0.8 else None
        person = w.deal_person(deal) if deal else self._pick("persons", r)
        if not self.counts["persons"] or r.random() < 0.05:
            person = None
        org = w.deal_org(deal) if deal else (w.person_org(person) if person else None)
        who = " ".join(w.person_name(person)) if person else w.org_name(org or 1)
        due_time = None
        if r.random() < 0.7:
            due_time = f"{r.randint(8, 17):02d}:{r.choice((0, 30)):02d}:00"
        done = r.random() < 0.5
        meeting = kind == "meeting"
        video = meeting and r.random() < 0.5
        code = f"{r.choice('abcdefgh')}{r.randint(100, 999)}-{r.randint(1000, 9999)}"
        attendees = []
        if meeting and person:
            first, last = w.person_name(person)
            attendees = [
                {"email": f"{slug(first)}.{slug(last)}@{self._org_domain(org)}",
                 "name": f"{first} {last}", "status": r.choice(("accepted", "tentative")),
                 "is_organizer": False, "person_id": person, "user_id": None},
            ]
        return {
            "id": i,
            "subject": vocab.ACTIVITY_SUBJECTS[kind].format(name=who),
            "type": kind,
            "owner_id": w.owner("activities", i),
            "creator_user_id": self._pick("users", r),
            "is_deleted": m.deleted,
            "add_time": clock.v2(m.add),
            "update_time": clock.v2(m.update),
            "deal_id": deal,
            "lead_id": None,
            "person_id": person,
            "org_id": org,
            "project_id": None,
            "due_date": w.activity_due(i, m.add),
            "due_time": due_time,
            "duration": r.choice(("00:30:00", "01:00:00", "00:15:00")) if due_time else None,
            "busy": meeting or kind == "lunch",
            "done": done,
            "marked_as_done_time": clock.v2(m.update) if done else None,
            "location": fields.address(r) if kind in ("meeting", "lunch") else None,
            "participants": [{"person_id": person, "primary": True}] if person else [],
            "attendees": attendees,
            "conference_meeting_client": "google_meet" if video else None,
            "conference_meeting_url": f"https://meet.google.com/{code}" if video else None,
            "conference_meeting_id": code if video else None,
            "public_description": r.choice(vocab.LOREM) if meeting else None,
            "priority": r.choice((None, 1, 2, 3)),
            "note": r.choice(vocab.LOREM) if r.random() < 0.3 else None,
        }

    def _product(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        name = self.world.product_name(i)
        frequency = "one-time" if r.random() < 0.6 else r.choice(fields.BILLING_FREQUENCIES[1:])
        cycles = None
        if frequency == "weekly" or (frequency != "one-time" and r.random() < 0.5):
            cycles = r.randint(1, 208)
        prices = []
        for currency in r.sample(vocab.CURRENCIES, r.randint(1, 2)):
            price = r.randrange(5, 5000)
            prices.append({
                "product_id": i, "price": price, "currency": currency,
                "cost": round(price * r.uniform(0.3, 0.8), 2),
                "direct_cost": r.choice((None, round(price * 0.1, 2))),
                "notes": r.choice(("", "Volume discounts on request")),
            })
        return {
            "id": i,
            "name": name,
            "code": f"{''.join(w[0] for w in name.split()[:2])}-{i:05d}",
            "unit": r.choice(vocab.PRODUCT_UNITS),
            "tax": r.choice((0, 9, 20, 22)),
            "is_deleted": m.deleted,
            "is_linkable": r.random() < 0.9,
            "visible_to": r.choice((3, 3, 1)),
            "owner_id": self.world.owner("products", i),
            "add_time": clock.v2(m.add),
            "update_time": clock.v2(m.update),
            "description": f"{name}: {r.choice(vocab.LOREM)}",
            "category": r.choice(vocab.PRODUCT_CATEGORIES),
            "custom_fields": self._custom_fields("products", i),
            "billing_frequency": frequency,
            "billing_frequency_cycles": cycles,
            "prices": prices,
        }

    def _pipeline(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        names = vocab.PIPELINES
        return {
            "id": i,
            "name": names[i - 1][0] if i <= len(names) else f"Pipeline {i}",
            "order_nr": i,
            "is_deleted": m.deleted,
            "is_deal_probability_enabled": i == 1,
            "add_time": clock.v2(m.add),
            "update_time": clock.v2(m.update),
        }

    def _stage(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        pipeline, order = self.world.stage_of(i)
        pipeline = (pipeline - 1) % self.counts["pipelines"] + 1
        rot = r.random() < 0.5
        return {
            "id": i,
            "order_nr": order,
            "name": vocab.PIPELINES[pipeline - 1][1][order - 1],
            "is_deleted": m.deleted,
            "deal_probability": order * 20,
            "pipeline_id": pipeline,
            "is_deal_rot_enabled": rot,
            "days_to_rotten": r.choice((7, 14, 30)) if rot else None,
            "add_time": clock.v2(m.add),
            "update_time": clock.v2(m.update),
        }

    # --- v1 users -----------------------------------------------------------------------

    def _user(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        first = vocab.FIRST_NAMES[(i * 7) % len(vocab.FIRST_NAMES)]
        last = vocab.LAST_NAMES[(i * 11) % len(vocab.LAST_NAMES)]
        zone, offset = r.choice(vocab.TIMEZONES)
        admin = i == 1 or r.random() < 0.2
        access = [
            {"app": "sales", "admin": admin,
             "permission_set_id": str(uuid.UUID(int=r.getrandbits(128), version=4))},
            {"app": "global", "admin": admin,
             "permission_set_id": str(uuid.UUID(int=r.getrandbits(128), version=4))},
        ]
        return {
            "id": i,
            "name": f"{first} {last}",
            "default_currency": r.choice(vocab.CURRENCIES),
            "locale": "en_US",
            "lang": 1,
            "email": f"{slug(first)}.{slug(last)}".replace("-", "") + "@sandbox-company.example",
            "phone": fields.phone(r) if r.random() < 0.6 else None,
            "activated": not m.deleted,
            "last_login": clock.v1(min(m.update + r.randint(0, 30 * 86400), clock.END)),
            "created": clock.v1(m.add),
            "modified": clock.v1(m.update),
            "has_created_company": i == 1,
            "access": access,
            "active_flag": not m.deleted,
            "timezone_name": zone,
            "timezone_offset": offset,
            "role_id": 1 if admin else 2,
            "icon_url": None,
            "is_you": i == 1,
            "is_deleted": m.deleted,
        }


def user_me(user: dict[str, Any]) -> dict[str, Any]:
    """GET /v1/users/me: the user plus company fields (spec v1)."""
    return {**user, **COMPANY, "language": {"language_code": "en", "country_code": "US"}}
