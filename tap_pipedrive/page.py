"""One page of a Pipedrive list, read in two steps.

A worker thread fetching pages ahead (prefetch.py) only needs the envelope: whether the
answer is valid and successful, and `additional_data` (the next cursor or offset). The
records are parsed when they are emitted, in the main thread, one at a time (`parsed`). So
a page waiting in a prefetch queue holds its raw JSON (~1 MB for 500 records), not parsed
objects (~3 MB), and each record is parsed once: msgspec skims past the records while
checking them.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from typing import Any

import msgspec
import requests

# Numbers with a fraction become Decimal (exact), as the SDK's parse_response makes them.
_VALUES = msgspec.json.Decoder(float_hook=Decimal)
_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])
_MISSING = msgspec.Raw(b"")
_UTF8 = codecs.getincrementaldecoder("utf-8")


class Envelope(msgspec.Struct):
    """Pipedrive's answer envelope; `data` left as raw JSON."""

    data: msgspec.Raw = _MISSING
    success: Any = None
    error: Any = None
    additional_data: Any = None


_ENVELOPE = msgspec.json.Decoder(Envelope)


class _Listed(msgspec.Struct):
    """The envelope of a list, its records split but not parsed: one pass for both."""

    data: list[msgspec.Raw]
    success: Any = None
    error: Any = None
    additional_data: Any = None


_LISTED = msgspec.json.Decoder(_Listed)


class BadBody(ValueError):
    """A 200 whose body is not a Pipedrive answer (the reason is the message)."""


class Page:
    # A newest-first page (windows.py) hands its records oldest first: turned once parsed,
    # not rebuilt (a body written again is skimmed again: ~3 ms a page of deals).
    turned = False
    _items: list[msgspec.Raw] | None = None  # `data`'s items, when split already

    def __init__(self, content: bytes, checked: bool = False) -> None:
        """`checked`: this body was read as a page before (a prefetch worker's, back from
        its spool): not checked again, and its envelope and items are read in one pass
        (the main thread's second reading of every page was 5 % of a sync's CPU)."""
        self._content = content
        if checked:
            try:
                listed = _LISTED.decode(content)
            except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
                pass  # not a list: read as any page
            else:
                self._items = listed.data
                self.envelope = Envelope(_MISSING, listed.success, listed.error,
                                         listed.additional_data)
                return
        # Checked here (maybe in a prefetch worker, where a bad body is retried), not when
        # the records are parsed: skimming `data` does not check its strings' UTF-8.
        elif not content.isascii() and not _is_utf8(content):
            raise BadBody("with a body that is not valid UTF-8")
        try:
            self.envelope = _ENVELOPE.decode(content)
        except msgspec.ValidationError:
            raise BadBody("without its data envelope") from None
        except msgspec.DecodeError:
            raise BadBody("with a body that is not valid JSON (cut short?)") from None
        except RecursionError:  # msgspec's own depth limit, met long before the stack's end
            raise BadBody("with JSON nested too deep to read") from None
        if not len(self.envelope.data):
            raise BadBody("without its data envelope")
        if self.envelope.success is False:
            said = self.envelope.error or "no reason given"
            raise BadBody(f"with success=false: {said}")

    @property
    def additional(self) -> dict[str, Any]:
        extra = self.envelope.additional_data
        return extra if isinstance(extra, dict) else {}

    @property
    def raw(self) -> msgspec.Raw:
        """`data`, its raw JSON."""
        if self._items is not None:
            return msgspec.Raw(b"[%s]" % b",".join(bytes(item) for item in self._items))
        return self.envelope.data

    @property
    def is_empty(self) -> bool:
        """No records: data is null, [] or {} (checked without parsing it)."""
        if self._items is not None:
            return not self._items
        raw = self.envelope.data
        return len(raw) <= 8 and bytes(raw).strip() in (b"null", b"[]", b"{}")

    def data(self) -> Any:
        """The records (or whatever `data` holds), parsed now, as a sync reads them (`items`,
        `parsed`); in reverse order if `turned`."""
        items = self.items()
        return _decode(self.raw) if items is None else list(parsed(items))

    def items(self) -> list[msgspec.Raw] | None:
        """`data`'s items, each its raw JSON, not parsed (in reverse order if `turned`); None
        if `data` is not a list."""
        if self._items is not None:
            items = list(self._items)
        else:
            try:
                items = _ITEMS.decode(self.envelope.data)
            except msgspec.ValidationError:
                return None
        if self.turned:
            items.reverse()
        return items

    def document(self) -> Any:
        """The whole answer, parsed (for the few streams that read more than `data`)."""
        return _decode(self._content)


def parsed(items: list[msgspec.Raw]) -> Iterator[Any]:
    """Each item parsed when it is taken, not the page's 500 at once: a record then goes
    through its whole path (parse, custom-field columns, conformance, its RECORD line) while
    its memory is in the CPU's cache, and its memory is reused by the next. Parsed at once, a
    page of deals (~3 MB of objects) was out of the cache by the time its records were
    written: in process, over ten pages, deals 23-34 -> 17-19 us a record, persons 30-46 ->
    18-21, organizations 21-31 -> 15-19 (activities, small records, unchanged)."""
    for item in items:
        yield _decode(item)


def _is_utf8(content: bytes, piece: int = 2**16) -> bool:
    """Decoded piece by piece (~0.1 ms per MB): decoding a page whole would make a text the
    size of the page, or up to four times it, and leave the heap that much bigger."""
    decoder, view = _UTF8(), memoryview(content)
    try:
        for start in range(0, len(content), piece):
            decoder.decode(view[start:start + piece])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _decode(raw: Any) -> Any:
    """JSON already checked by the envelope's skim. msgspec refuses integers beyond 64 bits,
    which the skim lets pass: those are read by the standard library instead (exact)."""
    try:
        return _VALUES.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    try:
        return json.loads(bytes(raw), parse_float=Decimal)
    except (ValueError, RecursionError):
        raise BadBody("with a body that cannot be read as JSON") from None


def attach(response: requests.Response, content: bytes, checked: bool = False) -> Page:
    """Read a 200's envelope (BadBody if it is not one) and give the response its `page`;
    `response.json()` parses the whole document, once, for code that wants it. `checked`:
    see Page."""
    body = Page(content, checked)
    response._content = content
    response.page = body  # type: ignore[attr-defined]
    response.json = cache(lambda **_: body.document())  # type: ignore[assignment]
    return body


def without_body(response: requests.Response) -> requests.Response:
    """A copy of a response without its body, which waits on disk meanwhile (prefetch.py);
    `attach` the body again before reading it. Nor does it keep the connection's answer
    (urllib3's and http.client's objects, the headers parsed twice: half of the ~10 kB a
    waiting page held; a 1,000,000-deal backfill has a thousand pages waiting at times):
    the body has been read in full."""
    copy = requests.Response()
    copy.__dict__.update(response.__dict__)
    copy._content = None
    copy.raw = None
    for name in ("page", "json"):
        copy.__dict__.pop(name, None)
    return copy
