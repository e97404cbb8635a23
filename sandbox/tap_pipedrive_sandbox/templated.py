"""Records of the entities added after the core eight, built on spec templates.

templates.json (written by scripts/generate_schemas.py) holds, per endpoint, one item with
every property of Pipedrive's spec, each of its type. A builder here copies it and sets what
a tap can tell apart: ids, names, references to other records, timestamps (written the way
the template writes them: v1 `2025-03-04 10:20:30`, v2 RFC 3339, or with milliseconds), so
every record keeps the spec's shape by construction.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from . import clock, fields, vocab
from .world import Meta, World

Build = Callable[[int, Meta, random.Random], dict[str, Any]]

# entity -> the endpoint whose items it is (templates.json key)
ENDPOINTS = {
    "archived_deals": "v2 /deals/archived", "leads": "v1 /leads",
    "archived_leads": "v1 /leads/archived", "lead_labels": "v1 /leadLabels",
    "lead_sources": "v1 /leadSources", "notes": "v1 /notes", "files": "v1 /files",
    "call_logs": "v1 /callLogs", "mail_threads": "v1 /mailbox/mailThreads",
    "projects": "v2 /projects", "archived_projects": "v2 /projects/archived",
    "project_templates": "v2 /projectTemplates", "tasks": "v2 /tasks", "boards": "v2 /boards",
    "activity_types": "v1 /activityTypes", "currencies": "v1 /currencies",
    "filters": "v1 /filters", "goals": "v1 /goals/find", "roles": "v1 /roles",
    "permission_sets": "v1 /permissionSets",
}
# Entities without add/update times: full-table lists that touch/create do not apply to.
UNTIMED = frozenset({"lead_sources", "call_logs", "currencies", "goals", "roles",
                     "permission_sets"})
TOUCH_FIELD = {
    "archived_deals": "title", "leads": "title", "archived_leads": "title",
    "lead_labels": "name", "notes": "content", "files": "name", "mail_threads": "subject",
    "projects": "title", "archived_projects": "title", "project_templates": "title",
    "tasks": "title", "boards": "name", "activity_types": "name", "filters": "name",
}
# Ids apart from the listed entity's own (Pipedrive ids are unique per entity type).
ID_BASE = {"archived_deals": 100_000_000, "archived_projects": 100_000_000}
TEXT_IDS = {"leads", "archived_leads", "lead_labels", "call_logs", "goals", "permission_sets"}
# As records.NATURAL_NULLS: properties the spec types as non-nullable that a real account
# leaves empty (a note on no project, a call without an activity). Tests allow exactly these.
NATURAL_NULLS: dict[str, frozenset[str]] = {
    "call_logs": frozenset({"activity_id", "lead_id", "note"}),
    "files": frozenset({"activity_id", "lead_id", "product_id", "project_id", "remote_id"}),
    "notes": frozenset({"lead_id", "project", "project_id", "task", "task_id"}),
    "project_templates": frozenset({"description"}),
}
LEAD_SOURCES = ("Manually created", "Deal", "Web forms", "Prospector", "Leadbooster", "API")
GOAL_TYPES = ("deals_won", "deals_progressed", "activities_completed", "activities_added",
              "deals_started")
MAIL_FOLDERS = ("inbox", "sent", "archive", "drafts")
CURRENCY_NAMES = {"EUR": ("Euro", "€"), "USD": ("US Dollar", "$"), "GBP": ("Pound Sterling", "£"),
                  "BRL": ("Brazilian Real", "R$")}


@cache
def _templates() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("templates.json").read_text("utf-8"))


def template(endpoint: str) -> dict[str, Any]:
    """A fresh copy of an endpoint's template item."""
    return copy.deepcopy(_templates()[endpoint]["item"])


def envelope(endpoint: str) -> dict[str, Any]:
    """The endpoint's top-level keys and paging style (from the spec)."""
    doc = _templates()[endpoint]
    return {"keys": doc["keys"], "paging": doc["paging"]}


def record_id(world: World, entity: str, i: int) -> Any:
    """The id a record shows for position i (1..n) of its entity."""
    if entity in TEXT_IDS:
        h = world.h(entity, i, 60) << 64 | world.h(entity, i, 61)
        if entity == "call_logs":
            return f"CA{h:032x}"[:31]
        if entity == "goals":
            return f"{h:032x}"
        return str(uuid.UUID(int=h, version=4))
    return ID_BASE.get(entity, 0) + i


class Templated:
    """Builders of the templated entities; the core RecordBuilder (records.py) delegates to
    them, and hands over what they reuse of its own: its deal builder and custom values."""

    def __init__(self, world: World, custom: dict[str, tuple[fields.CustomField, ...]],
                 deal: Build, custom_values: Callable[[str, int], dict[str, Any]]) -> None:
        self.world = world
        self.counts = world.counts
        self.custom = custom
        self.deal = deal
        self.custom_values = custom_values

    def builders(self) -> dict[str, Build]:
        return {entity: getattr(self, f"_{entity}") for entity in ENDPOINTS}

    # --- helpers ---------------------------------------------------------------------------

    def _base(self, entity: str, i: int, m: Meta) -> dict[str, Any]:
        rec = template(ENDPOINTS[entity])
        if "id" in rec:
            rec["id"] = record_id(self.world, entity, i)
        for key, epoch in (("add_time", m.add), ("update_time", m.update)):
            if key in rec:
                rec[key] = clock.stamp(epoch, rec[key])
        return rec

    def _pick(self, entity: str, r: random.Random) -> int:
        return 1 + r.randrange(max(1, self.counts[entity]))

    def _person_name(self, person: int) -> str:
        return " ".join(self.world.person_name(person))

    def _deal_title(self, deal: int) -> str:
        return f"{self.world.org_name(self.world.deal_org(deal))} deal"

    # --- deals and leads ---------------------------------------------------------------------

    def _archived_deals(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        rec = self.deal(i, m, r)  # a deal like any other, with its own id
        rec.update(id=record_id(self.world, "archived_deals", i), is_archived=True)
        return rec

    def _leads(self, i: int, m: Meta, r: random.Random, archived: bool = False) -> dict[str, Any]:
        entity = "archived_leads" if archived else "leads"
        rec = self._base(entity, i, m)
        w = self.world
        person = self._pick("persons", r)
        org = w.person_org(person)
        labels = [record_id(w, "lead_labels", n + 1) for n in range(3) if r.random() < 0.3]
        amount = r.randrange(500, 50000, 100) if r.random() < 0.6 else None
        rec.update(
            title=f"{w.org_name(org or 1)} lead", owner_id=w.owner(entity, i),
            creator_id=w.owner(entity, i), label_ids=labels, person_id=person,
            organization_id=org, source_name=r.choice(LEAD_SOURCES), origin="API",
            origin_id=None, channel=r.choice((None, 1, 2, 3)), channel_id=None,
            source_deal_id=None, is_archived=archived, was_seen=r.random() < 0.7,
            value={"amount": amount, "currency": r.choice(vocab.CURRENCIES)} if amount else None,
            expected_close_date=clock.day(min(m.add + r.randint(7, 90) * 86400, clock.END)),
            next_activity_id=None, visible_to=r.choice(("3", "3", "1")),
            cc_email=f"sandbox+{i}+lead@sandbox-company.example",
        )
        rec.update(self._lead_custom_fields(entity, i))
        return rec

    def _archived_leads(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        return self._leads(i, m, r, archived=True)

    def _lead_custom_fields(self, entity: str, i: int) -> dict[str, Any]:
        """Leads carry the deals' custom fields as top-level keys, in v1's format (spec:
        GET /v1/leads/archived); an unset field is absent."""
        rng = random.Random(self.world.h(entity, i, 51))
        out: dict[str, Any] = {}
        for cf in self.custom["deals"]:
            value = fields.custom_value(cf, rng, self.counts)
            if value is not None:
                out.update(fields.v1_custom_value(cf, value))
        return out

    def _lead_labels(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        rec = self._base("lead_labels", i, m)
        _, name, color = fields.LABELS[(i - 1) % len(fields.LABELS)]
        rec.update(name=name if i <= len(fields.LABELS) else f"{name} {i}", color=color)
        return rec

    def _lead_sources(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        return {"name": LEAD_SOURCES[(i - 1) % len(LEAD_SOURCES)]
                + ("" if i <= len(LEAD_SOURCES) else f" {i}")}

    # --- content -----------------------------------------------------------------------------

    def _notes(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        rec = self._base("notes", i, m)
        deal = self._pick("deals", r)
        person, org, user = self.world.deal_person(deal), self.world.deal_org(deal), \
            self.world.owner("notes", i)
        rec.update(
            content=r.choice(vocab.LOREM), deal_id=deal, person_id=person, org_id=org,
            lead_id=None, project_id=None, task_id=None, user_id=user,
            last_update_user_id=user, active_flag=True,
            deal={"title": self._deal_title(deal)},
            person={"name": self._person_name(person)},
            organization={"name": self.world.org_name(org)},
            project=None, task=None, pinned_to_deal_flag=r.random() < 0.1,
            pinned_to_organization_flag=False, pinned_to_person_flag=False,
            pinned_to_project_flag=False, pinned_to_task_flag=False,
        )
        return rec

    def _files(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        rec = self._base("files", i, m)
        deal = self._pick("deals", r)
        name = f"{r.choice(('proposal', 'contract', 'invoice', 'notes'))}-{i}.pdf"
        rec.update(
            user_id=self.world.owner("files", i), deal_id=deal,
            person_id=self.world.deal_person(deal), org_id=self.world.deal_org(deal),
            product_id=None, activity_id=None, lead_id=None, project_id=None, file_name=name,
            file_size=r.randint(10_000, 5_000_000), active_flag=True, inline_flag=False,
            remote_location="s3", remote_id=None, name=name, description=r.choice(vocab.LOREM),
            url=f"https://sandbox.pipedrive.example/v1/files/{i}/download",
            deal_name=self._deal_title(deal), person_name="", org_name="",
            product_name="", lead_name="", project_name="",
        )
        return rec

    def _call_logs(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        rec = self._base("call_logs", i, m)
        deal = self._pick("deals", r)
        seconds = r.randint(0, 1800)
        rec.update(
            user_id=self.world.owner("call_logs", i), activity_id=None, deal_id=deal,
            person_id=self.world.deal_person(deal), org_id=self.world.deal_org(deal),
            lead_id=None, subject=f"Call about {self._deal_title(deal)}",
            duration=str(seconds), outcome=r.choice(("connected", "no_answer", "busy")),
            from_phone_number=fields.phone(r), to_phone_number=fields.phone(r),
            has_recording=r.random() < 0.2, company_id=7001234, note=None,
            start_time=clock.stamp(m.add, rec["start_time"]),
            end_time=clock.stamp(m.add + seconds, rec["end_time"]),
        )
        return rec

    def _mail_threads(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        rec = self._base("mail_threads", i, m)
        folder = MAIL_FOLDERS[i % len(MAIL_FOLDERS)]
        # Every fifth inbox thread is also archived: it is listed in two folders.
        folders = [folder, "archive"] if folder == "inbox" and i % 5 == 0 else [folder]
        for key in ("last_message_timestamp", "first_message_timestamp",
                    "last_message_received_timestamp"):
            rec[key] = clock.stamp(m.update if key.startswith("last") else m.add, rec[key])
        rec.update(subject=f"Re: {r.choice(vocab.DEAL_NOUNS)}", folders=folders,
                   user_id=self.world.owner("mail_threads", i), deal_id=None, lead_id=None,
                   last_message_sent_timestamp=None, message_count=r.randint(1, 3))
        return rec

    # --- projects ----------------------------------------------------------------------------

    def _projects(self, i: int, m: Meta, r: random.Random, archived: bool = False
                  ) -> dict[str, Any]:
        entity = "archived_projects" if archived else "projects"
        rec = self._base(entity, i, m)
        board = 1 + i % self.counts["boards"]
        start = clock.day(m.add)
        rec.update(
            title=f"Onboarding {self.world.org_name(1 + i % self.counts['organizations'])}",
            description=r.choice(vocab.LOREM), status=m.status or "open", board_id=board,
            phase_id=board * 10 + 1, owner_id=self.world.owner(entity, i), start_date=start,
            end_date=clock.day(min(m.add + 60 * 86400, clock.END)),
            deal_ids=[self._pick("deals", r)], person_ids=[], org_ids=[], label_ids=[],
            health_status=r.choice((None, 1, 2, 3)),
            status_change_time=clock.stamp(m.update, rec["status_change_time"]),
            archive_time=clock.stamp(m.update, rec["update_time"]) if archived else None,
            custom_fields=self.custom_values("projects", i),
        )
        return rec

    def _archived_projects(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        return self._projects(i, m, r, archived=True)

    def _project_templates(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        rec = self._base("project_templates", i, m)
        rec.update(title=f"Template {i}: {r.choice(vocab.DEAL_NOUNS)}", description=None,
                   projects_board_id=1 + i % self.counts["boards"],
                   owner_id=self.world.owner("project_templates", i))
        return rec

    def _tasks(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        rec = self._base("tasks", i, m)
        done = r.random() < 0.4
        rec.update(
            title=f"Task {i}", creator_id=self.world.owner("tasks", i),
            description=r.choice(vocab.LOREM), project_id=1 + i % self.counts["projects"],
            is_done=done, is_milestone=r.random() < 0.1,
            due_date=clock.day(min(m.add + 14 * 86400, clock.END)), start_date=clock.day(m.add),
            parent_task_id=None, assignee_ids=[self.world.owner("tasks", i)],
            priority=r.choice((None, 1, 2)),
            marked_as_done_time=clock.stamp(m.update, rec["update_time"]) if done else None,
        )
        return rec

    def _boards(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        rec = self._base("boards", i, m)
        rec.update(name=("Delivery", "Onboarding", "Internal")[(i - 1) % 3], order_nr=i)
        return rec

    # --- account -----------------------------------------------------------------------------

    def _activity_types(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        rec = self._base("activity_types", i, m)
        key = vocab.ACTIVITY_TYPES[(i - 1) % len(vocab.ACTIVITY_TYPES)]
        rec.update(name=key.capitalize(), key_string=key, icon_key=key, order_nr=i,
                   active_flag=True, is_custom_flag=False)
        return rec

    def _currencies(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        rec = self._base("currencies", i, m)
        code = vocab.CURRENCIES[(i - 1) % len(vocab.CURRENCIES)]
        name, symbol = CURRENCY_NAMES.get(code, (code, code))
        rec.update(code=code, name=name, symbol=symbol, decimal_points=2, active_flag=True,
                   is_custom_flag=False)
        return rec

    def _filters(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        rec = self._base("filters", i, m)
        kinds = ("deals", "leads", "org", "people", "products", "activity", "projects")
        kind = kinds[(i - 1) % len(kinds)]
        rec.update(name=f"My {kind} {i}", type=kind, user_id=self.world.owner("filters", i),
                   filter_code=None, temporary_flag=None, last_used_time=None,
                   custom_view_id=None, visible_to="1")
        return rec

    def _goals(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        rec = self._base("goals", i, m)
        kind = GOAL_TYPES[(i - 1) // 2 % len(GOAL_TYPES)]
        rec.update(owner_id=self.world.owner("goals", i), title=f"{kind.replace('_', ' ')} goal",
                   is_active=i % 2 == 1, interval=r.choice(("weekly", "monthly", "quarterly")))
        rec["type"]["name"] = kind
        rec["assignee"] = {"id": self.world.owner("goals", i), "type": "person"}
        return rec

    def _roles(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        rec = self._base("roles", i, m)
        rec.update(name=("Admins", "Sales", "Support")[(i - 1) % 3], level=1 if i == 1 else 2,
                   parent_role_id=1, active_flag=True,
                   assignment_count="1", sub_role_count="0")
        return rec

    def _permission_sets(self, i: int, m: Meta, r: random.Random) -> dict[str, Any]:
        rec = self._base("permission_sets", i, m)
        app = ("sales", "projects", "global", "account_settings")[(i - 1) % 4]
        rec.update(name=f"{app.replace('_', ' ').capitalize()} regular", app=app,
                   type="regular", assignment_count=1)
        return rec


# --- v1 field metadata: leadFields (leads share the deals' custom fields) and noteFields -----

LEAD_FIELDS = (
    ("title", "Title", "varchar"), ("owner_id", "Owner", "user"),
    ("person_id", "Person", "people"), ("organization_id", "Organization", "org"),
    ("value", "Value", "monetary"), ("expected_close_date", "Expected close date", "date"),
    ("label_ids", "Labels", "set"), ("source_name", "Source", "varchar"),
    ("add_time", "Lead created", "date"), ("update_time", "Update time", "date"),
)
NOTE_FIELDS = (
    ("content", "Content", "text"), ("deal_id", "Deal", "deal"), ("person_id", "Person", "people"),
    ("org_id", "Organization", "org"), ("lead_id", "Lead", "lead"), ("user_id", "User", "user"),
    ("add_time", "Add time", "date"), ("update_time", "Update time", "date"),
)
V1_FIELD_ENDPOINTS = {"leadFields": "v1 /leadFields", "noteFields": "v1 /noteFields"}


def v1_field_items(seed: int, endpoint: str) -> list[dict[str, Any]]:
    """Items of GET /v1/leadFields or /v1/noteFields, built-in fields first."""
    entries: list[tuple[str, str, str, tuple, bool]] = [
        (code, name, ftype, (), False)
        for code, name, ftype in (LEAD_FIELDS if endpoint == "leadFields" else NOTE_FIELDS)
    ]
    if endpoint == "leadFields":
        entries += [(cf.key, cf.name, cf.field_type, cf.options, True)
                    for cf in fields.custom_fields(seed, "deals")]
    items = []
    for n, (key, name, ftype, options, custom) in enumerate(entries, start=1):
        item = template(V1_FIELD_ENDPOINTS[endpoint])
        item.update(id=n, key=key, name=name, field_type=ftype, active_flag=True,
                    edit_flag=custom, mandatory_flag=key in ("title", "content"))
        if "order_nr" in item:
            item["order_nr"] = n
        for stamp_key in ("add_time", "update_time"):
            if stamp_key in item:
                item[stamp_key] = clock.stamp(clock.START, item[stamp_key])
        if "last_updated_by_user_id" in item:
            item.update(last_updated_by_user_id=1, created_by_user_id=1)
        labels = [{"id": i, "label": label} for i, label, _ in options]
        item["options"] = labels or (None if endpoint == "leadFields" else [])
        items.append(item)
    return items
