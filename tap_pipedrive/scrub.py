"""Personal data out of API answers, shape and type kept: what `tap-pipedrive capture` writes.

A string is replaced by a placeholder of the same shape (an email stays an email, a URL a
URL, a phone number keeps its digits' count and punctuation, other text its length class)
when it is personal or free text:

- under a key that names such data (name, email, phone, address, title, subject, content,
  note, body, description, snippet, comment, url, location, value, ...), at any depth below
  it: `emails[].value`, `postal_address.locality`, `parties.to[].linked_person_name`;
- the value of a custom field whose type is text (varchar, text, phone, address, ...) or
  whose type the field metadata does not give;
- anywhere else, unless it looks like data that is not personal: a timestamp, date or time,
  an id (`id`, `*_id` keys; UUIDs; 40-character field keys), a number, a list of ids, or an
  enum-like word (`open`, `deal`, `USD`, `en_US`).

Ids, keys, booleans, numbers, nulls, timestamps and enum-like values are kept, as are JSON
keys and types. `additional_data` paging (cursors, offsets) is kept so that a replay pages as
the API did. Placeholders are deterministic within one capture (the same name gives the same
digest everywhere, so records still match) and keyed with a random salt that is never
written, so they cannot be reversed by hashing guesses.
"""

from __future__ import annotations

import hashlib
import re
import secrets as _secrets
from collections.abc import Iterable
from typing import Any

# Key tokens (split on `_`) whose string values, and everything below them, are personal or
# free text.
PERSONAL_TOKENS = frozenset({
    "name", "names", "email", "emails", "phone", "phones", "address", "addresses", "title",
    "subject", "content", "note", "notes", "body", "description", "snippet", "comment",
    "comments", "message", "text", "html", "url", "website", "linkedin", "location",
    "street", "route", "locality", "sublocality", "postal", "im", "value", "signature",
    "domain",
})
# Under a personal key, these keep an enum-like value (`emails[].label: "work"`).
ENUM_KEYS = frozenset({"label", "currency", "type", "status", "field_type", "primary"})
# Custom field types whose values hold no free text (Pipedrive's field_type).
NON_TEXT_TYPES = frozenset({
    "double", "monetary", "date", "daterange", "time", "timerange", "set", "enum", "user",
    "org", "people", "int", "status", "stage", "visible_to", "boolean",
})
# Length classes: a placeholder is as long as the class bound of the original string (a
# varchar(255) value stays within 255).
LENGTH_CLASSES = (8, 16, 32, 64, 128, 255, 512, 1024, 4096, 16384, 65536)
# additional_data keys that drive paging, kept as the API sent them.
PAGING_KEYS = frozenset({"next_cursor", "pagination", "more_items_in_collection", "next_start",
                         "start", "limit"})
# Parts of an answer's envelope kept as sent (Pipedrive's error texts describe the request).
ENVELOPE_KEYS = frozenset({"success", "error", "errorCode", "error_info", "code"})

_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
    r"|[+-]?\d{2}:\d{2}(:\d{2})?")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}")
_FIELD_KEY = re.compile(r"[0-9a-f]{40}")
_CUSTOM_KEY = re.compile(r"([0-9a-f]{40})(_[a-z_0-9]+)?")
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_ID_LIST = re.compile(r"\d+(,\d+)+")
_ENUM = re.compile(r"[a-z][a-z0-9]*([_-][a-z0-9]+)*|[A-Z][A-Z0-9]*([_-][A-Z0-9]+)*"
                   r"|[a-z]{2}_[A-Z]{2}|[A-Z][a-z]+/[A-Za-z_]+(/[A-Za-z_]+)?")
_COLOR = re.compile(r"#[0-9a-fA-F]{3,8}")
_SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)+")  # deals_won: a code, never a person's name
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+")
_PHONE = re.compile(r"[\d\s+().\-/]*\d[\d\s+().\-/]*")


def _tokens(key: str) -> set[str]:
    return set(key.lower().split("_"))


def personal_key(key: str) -> bool:
    return bool(_tokens(key) & PERSONAL_TOKENS)


def id_key(key: str) -> bool:
    k = key.lower()
    return k in ("id", "uuid", "cid") or k.endswith(("_id", "_ids", "_uuid", "_key"))


def kept_anywhere(value: str) -> bool:
    """Never personal, whatever the key: timestamps, dates, times, UUIDs, field keys."""
    return bool(_TIMESTAMP.fullmatch(value) or _UUID.fullmatch(value)
                or _FIELD_KEY.fullmatch(value))


def not_free_text(value: str) -> bool:
    """Looks like a code, a number or an enum value rather than text someone wrote."""
    if len(value) > 40:
        return False
    return bool(_NUMBER.fullmatch(value) or _ID_LIST.fullmatch(value)
                or _ENUM.fullmatch(value) or _COLOR.fullmatch(value))


def length_class(n: int) -> int:
    for bound in LENGTH_CLASSES:
        if n <= bound:
            return bound
    return n


class Secrets:
    """Credentials known to the run (settings, request headers): never written."""

    def __init__(self, values: Iterable[Any] = ()) -> None:
        self.values: set[str] = set()
        for value in values:
            self.add(value)

    def add(self, value: Any) -> None:
        if isinstance(value, str) and len(value.strip()) >= 6:  # shorter: not a credential
            self.values.add(value.strip())

    def __contains__(self, value: object) -> bool:
        return value in self.values

    def redact(self, text: str) -> str:
        """Every known secret out of a text about to be written (the last line of defence)."""
        for secret in sorted(self.values, key=len, reverse=True):
            text = text.replace(secret, "[redacted]")
        return text


class Scrubber:
    """Scrubs answers; learns custom field types from field metadata first (learn_fields)."""

    def __init__(self, salt: bytes | None = None) -> None:
        self._salt = salt if salt is not None else _secrets.token_bytes(32)
        self.field_types: dict[str, str] = {}

    # --- field metadata ----------------------------------------------------------------------

    def learn_fields(self, body: Any) -> None:
        """Custom field types from a *Fields answer (v2 `field_code`, v1 `key`)."""
        items = body.get("data") if isinstance(body, dict) else None
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, dict):
                continue
            code = item.get("field_code") or item.get("key")
            kind = item.get("field_type")
            if isinstance(code, str) and isinstance(kind, str):
                self.field_types[code] = kind

    # --- answers -----------------------------------------------------------------------------

    def scrub_body(self, body: Any) -> Any:
        """A whole answer: the envelope and paging kept, everything else scrubbed."""
        if not isinstance(body, dict):
            return self.scrub(body)
        out: dict[str, Any] = {}
        for key, value in body.items():
            if key in ENVELOPE_KEYS:
                out[key] = value
            elif key == "additional_data" and isinstance(value, dict):
                out[key] = {k: v if k in PAGING_KEYS else self._value(v, k, personal_key(k))
                            for k, v in value.items()}
            else:
                out[key] = self._value(value, key, personal_key(key))
        return out

    def scrub(self, value: Any, key: str = "") -> Any:
        """Any JSON value, as if found under `key`."""
        return self._value(value, key, personal_key(key))

    def _value(self, value: Any, key: str, forced: bool) -> Any:
        if isinstance(value, dict):
            return {k: self._value(v, k, self._forces(k, forced)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(v, key, forced) for v in value]
        if isinstance(value, str):
            return self._string(value, key, forced)
        return value  # numbers, booleans, null

    def _forces(self, key: str, forced: bool) -> bool:
        """Whether values under `key` are scrubbed as personal, given the parent's answer."""
        custom = _CUSTOM_KEY.fullmatch(key)
        if custom:
            kind = self.field_types.get(custom.group(1))
            # Unknown fields are taken for text: the safe side.
            return forced or kind is None or kind not in NON_TEXT_TYPES
        return forced or personal_key(key)

    def _string(self, value: str, key: str, forced: bool) -> str:
        if not value or kept_anywhere(value):
            return value
        if id_key(key) and _ID.fullmatch(value):
            return value
        if (key.lower() in ENUM_KEYS and not_free_text(value)) or _SNAKE.fullmatch(value):
            return value
        if not forced and not_free_text(value):
            return value
        return self.placeholder(value, key)

    # --- placeholders ------------------------------------------------------------------------

    def _digest(self, value: str, size: int) -> str:
        """At least `size` hex characters, determined by the value and this capture's salt."""
        out, n = "", 0
        while len(out) < size:
            h = hashlib.blake2b(value.encode(), key=self._salt, digest_size=32,
                                person=n.to_bytes(4, "big"))
            out += h.hexdigest()
            n += 1
        return out[:size]

    def placeholder(self, value: str, key: str = "") -> str:
        if _EMAIL.fullmatch(value):
            return f"user-{self._digest(value, 10)}@example.com"
        if _URL.fullmatch(value):
            return f"https://example.com/{self._digest(value, 12)}"
        if _PHONE.fullmatch(value):
            digits = iter(str(int(c, 16) % 10) for c in self._digest(value, len(value)))
            return "".join(next(digits) if c.isdigit() else c for c in value)
        size = length_class(len(value))
        word = _label(key)
        # Short: more of the digest, so that distinct values stay distinct (a key like
        # lead_sources.name must not merge two records).
        text = f"{word[0]}{self._digest(value, 7)}" if size <= 8 else \
            f"{word} {self._digest(value, 10)}"
        while len(text) < size:
            text += " " + self._digest(text, 8)
        return text[:size - 1] + "x" if text[size - 1] == " " else text[:size]


def _label(key: str) -> str:
    tokens = _tokens(key)
    for word, names in (("Name", {"name", "names"}), ("Title", {"title", "subject"}),
                        ("Place", {"address", "street", "route", "locality", "sublocality",
                                   "postal", "location", "country"})):
        if tokens & names:
            return word
    return "Text"
