"""The one place the tap touches the Singer SDK's private names (singer-sdk 0.54).

The SDK's public API does not cover everything the tap does: emit records without the SDK's
second conformance pass, write state when a page fails, sync a batch of children, send a
SCHEMA again when a column is added, exit non-zero on a signal, parse every kind of
environment variable. Each such use is here, as a thin documented function or hook, and
tests/test_sdk_compat.py checks each against the installed SDK (the name exists, with the
signature this module calls, and does what the tap relies on), so an SDK release that
changes one fails the tests, naming it, instead of breaking a user's run. The rest of the
package calls only public names (tests/test_sdk_compat.py walks it to make sure).

When the SDK changes, this module (and its test) is what to update.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Generator, Mapping
from types import FrameType
from typing import Any

import requests
from singer_sdk import Stream, Tap
from singer_sdk import singerlib as singer
from singer_sdk.configuration._dict_config import parse_environment_config
from singer_sdk.helpers._catalog import get_selected_schema
from singer_sdk.helpers._classproperty import classproperty
from singer_sdk.helpers.types import Context
from singer_sdk.pagination import BaseAPIPaginator
from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL
from singer_sdk.streams import RESTStream
from typing_extensions import override

RecordMessages = Generator[singer.RecordMessage, None, None]

__all__ = ["RESTStreamSeam", "TapSeam", "environment_config", "selected_schema",
           "state_manager_copy", "tap_of"]


def selected_schema(stream_name: str, schema: dict[str, Any], mask: Any) -> dict[str, Any]:
    """The part of `schema` the catalog selects (the SDK's own function, used for SCHEMA
    messages): the tap's conformer keeps exactly what the SDK would emit."""
    return get_selected_schema(stream_name, schema, mask)


def environment_config(schema: Mapping[str, Any], prefix: str,
                       dotenv_path: str | None = None) -> dict[str, Any]:
    """`<prefix><SETTING>` variables of `schema`'s properties, as the SDK reads them for
    `--config ENV` (and from the `.env` at `dotenv_path`, or one the SDK finds)."""
    return parse_environment_config(dict(schema), prefix, dotenv_path=dotenv_path)


def tap_of(stream: Stream) -> Tap:
    """The tap a stream belongs to (the SDK keeps it private)."""
    return stream._tap


def state_manager_copy(stream: Any) -> Any:
    """A copy of the stream's state manager over a copy of the tap's state, that logs
    nothing: the prefetcher works out a stream's starting bookmark ahead of the SDK, which
    logs it (once) when the stream starts."""
    manager = copy.copy(stream.state_manager)
    manager.tap_state = copy.deepcopy(stream.state_manager.tap_state)
    manager._logger = logging.getLogger("tap-pipedrive.prefetch")
    manager._logger.disabled = True
    return manager


class RESTStreamSeam(RESTStream[Any]):
    """The base of the tap's streams: SDK-private hooks and calls, under public names."""

    @override
    def _generate_record_messages(self, record: dict) -> RecordMessages:
        return self.record_messages(record)

    @override
    def _write_record_message(self, record: dict) -> None:
        self.write_record(record)
        self.state_manager.is_flushed = False  # as the SDK's own does: a STATE is due

    @override
    def _sync_records(self, context: Context | None = None, *,
                      write_messages: bool = True) -> Generator[dict, None, None]:
        # Not a generator itself: one layer of `yield from` per record fewer (~2 % of a run).
        if write_messages and context is None and self.lean_sync():
            return self._lean_sync_records()
        return super()._sync_records(context, write_messages=write_messages)

    def lean_sync(self) -> bool:
        """Whether a sync of the whole stream may take the lean record loop (override it)."""
        return False

    def _lean_sync_records(self) -> Generator[dict, None, None]:
        """The SDK's record loop (`Stream._sync_records`, singer-sdk 0.54) for the one case
        the tap's large streams are in: no partitions, no children synced per record, no
        record limit, selected, messages written. The same calls in the same order, but what
        the SDK works out again for every record (the replication method, the state
        partition, child contexts, the limit check) is worked out once: ~5 % of the run's CPU.
        Anything else goes the SDK's own way."""
        incremental = self.replication_method == REPLICATION_INCREMENTAL
        key = self.replication_key if incremental else None  # the bookmark's, if any
        if (self.partitions is not None or not self.selected or (incremental and not key)
                or self.ABORT_AT_RECORD_COUNT is not None or self.children_per_record()):
            yield from super()._sync_records(None)  # (no key: the SDK's own error)
            return
        counter, timer = self.get_record_counter(), self.get_sync_timer()
        manager = self.state_manager
        every, written = self.STATE_MSG_FREQUENCY, 0
        with counter, timer:
            counter.with_context({})
            timer.with_context({})
            self._write_starting_replication_value(None)
            for raw in self.get_records(None):
                record = self.post_process(raw, None)
                if record is None:
                    continue
                self._write_record_message(record)
                if key and record:
                    manager.increment_state(record, context=None, replication_key=key)
                written += 1
                if written % every == 0:
                    self._write_state_message()
                counter.increment()
                yield record
            self._finalize_state(self.get_context_state(None))
        self._finalize_state(self.stream_state)
        self._write_state_message()

    def children_per_record(self) -> bool:
        """Whether the SDK's loop would sync child streams for each record."""
        return bool(self.child_streams)

    def write_record(self, record: dict) -> None:
        """Write a processed record's RECORD messages (the SDK's way; override it)."""
        for message in self._generate_record_messages(record):
            self._tap.write_message(message)

    def record_messages(self, record: dict) -> RecordMessages:
        """The RECORD messages of a processed record (the SDK's hook; override it)."""
        return self.sdk_record_messages(record)

    def sdk_record_messages(self, record: dict) -> RecordMessages:
        """The SDK's own RECORD messages: prune deselected properties, conform types, map."""
        yield from super()._generate_record_messages(record)

    @property
    def sdk_tap(self) -> Tap:
        """The tap this stream belongs to (the SDK keeps it private)."""
        return tap_of(self)

    @property
    def stream_version(self) -> int | None:
        """The version RECORD messages carry (set with ACTIVATE_VERSION), or None."""
        return self._stream_version

    def send(self, prepared: requests.PreparedRequest,
             context: Context | None) -> requests.Response:
        """One attempt of a request: sign, send, log its duration, `validate_response`."""
        return self._request(prepared, context)

    def prepare_page_request(self, context: Context | None,
                             paginator: BaseAPIPaginator) -> requests.PreparedRequest:
        """The request for the paginator's current page, as the SDK's page loop builds it."""
        return self._prepare_request(context=context, page=paginator)

    def write_state_now(self) -> None:
        """A STATE message with the stream's state, unless the last one written holds it
        (the SDK writes one at its own points; the tap also does before raising an error)."""
        self._write_state_message()

    def sync_children_now(self, child_context: Context | None) -> None:
        """Sync the child streams for `child_context` now (the SDK does it per record)."""
        self._sync_children(child_context)

    def resend_schema(self) -> None:
        """Send the stream's SCHEMA message again, after its schema changed: the stream maps
        are read again from the tap's mapper first (which holds the new schema)."""
        self._stream_maps = None
        self._write_schema_message()


class TapSeam(Tap):
    """The base of the tap: SDK-private hooks and state, under public names."""

    @property
    def raw_config(self) -> dict[str, Any]:
        """The settings themselves (`config` is a read-only view): for redacting in place,
        and for reporting invalid settings before the SDK's own lines would."""
        return self._config

    @classmethod
    def env_var_prefix(cls) -> str:
        """`TAP_PIPEDRIVE_`: the prefix of the variables `--config ENV` reads."""
        return str(cls._env_var_prefix)

    @classproperty
    @override
    def _env_var_config(cls) -> dict[str, Any]:
        return cls.env_var_config()

    @classmethod
    def env_var_config(cls) -> dict[str, Any]:
        """Settings from environment variables (`--config ENV`); override to parse them."""
        schema = cls.config_jsonschema  # as the SDK does: with its built-in settings added
        cls.append_builtin_config(schema)
        return environment_config(schema, cls.env_var_prefix())

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        self.on_termination(signum, frame)

    def on_termination(self, signum: int, frame: FrameType | None) -> None:
        """SIGINT or SIGTERM during a sync (the SDK's handler: write state, exit 0)."""
        super()._handle_termination(signum, frame)
