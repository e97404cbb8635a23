"""TapPipedrive: settings and the stream catalogue (the command line is main.py)."""

from __future__ import annotations

import copy
import os
from functools import cached_property
from typing import Any

from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.singerlib import StateMessage
from typing_extensions import override

from tap_pipedrive import config as settings
from tap_pipedrive import (
    custom_fields,
    drift,
    inputs,
    interrupt,
    performance,
    prefetch,
    progress,
    ratelimit,
    redact,
    transport,
)
from tap_pipedrive.auth import Connection
from tap_pipedrive.auth.plugins import registry
from tap_pipedrive.conform import OddValues
from tap_pipedrive.errors import ConfigError
from tap_pipedrive.sdk_compat import TapSeam
from tap_pipedrive.streams import STREAMS


def _config_schema() -> dict[str, Any]:
    methods = registry()
    props = settings.common_settings(methods.names()) + methods.settings() + ratelimit.settings()
    props += transport.settings()
    props += custom_fields.settings() + performance.settings() + prefetch.settings()
    props += progress.settings() + drift.settings()
    return inputs.tighten(th.PropertiesList(*props).to_dict())


class TapPipedrive(TapSeam):
    """Singer tap for Pipedrive: deals, persons, organizations, activities and more."""

    name = "tap-pipedrive"
    package_name = "tap-pipedrive"
    config_jsonschema = _config_schema()
    # msgspec: several times faster than JSON
    message_writer_class: type[MsgSpecWriter] = performance.BufferedMsgSpecWriter

    def __init__(self, *, config: dict | None = None, **kwargs: Any) -> None:
        if isinstance(config, dict):
            config = settings.normalize(config)
        if not isinstance(kwargs.get("state"), (str, os.PathLike, type(None))):
            kwargs["state"] = inputs.check_state(kwargs["state"], _replication_keys())
        if not isinstance(kwargs.get("catalog"), (str, os.PathLike, type(None))):
            inputs.check_catalog(kwargs["catalog"], _replication_keys())
        # Discovery runs unvalidated (Meltano may run it without credentials): then custom
        # fields may be left out of the catalog, and the log says so (custom_fields.py).
        self.config_validated = kwargs.get("validate_config", True)
        # The mapper needs the catalog, whose schemas need custom field metadata (an API
        # call): set it up only once the settings are known to be usable.
        setup_mapper = kwargs.pop("setup_mapper", True)
        try:
            super().__init__(config=config, setup_mapper=False, **kwargs)
        except ConfigValidationError:  # the SDK's lines would echo values, secrets included
            raise ConfigError(inputs.config_errors(self.raw_config,
                                                  self.config_jsonschema)) from None
        redact.install()
        redact.clean(self.raw_config, redact.secret_names(self.config_jsonschema))
        self._check_settings(validated=kwargs.get("validate_config", True))
        if kwargs.get("validate_config", True):
            self.api_base  # noqa: B018 - fail before the first request, with a clear message
        if setup_mapper:
            self.setup_mapper()

    def _check_settings(self, validated: bool) -> None:
        """What the schema cannot say, before any output: real dates, and no setting name
        the tap does not know (with the closest known name)."""
        problems = inputs.config_errors(self.raw_config, self.config_jsonschema) \
            if validated else None
        if problems:
            raise ConfigError(problems)
        schema = copy.deepcopy(self.config_jsonschema)
        self.append_builtin_config(schema)  # stream maps, flattening: the SDK's own settings
        unknown = inputs.unknown_settings(self.raw_config, schema["properties"])
        if not unknown:
            return
        if self.raw_config.get("unknown_settings") == "warn":
            for line in unknown:
                self.logger.warning("%s (ignored: unknown_settings=warn)", line)
            return
        raise ConfigError("; ".join(unknown) + " (set unknown_settings=warn to run anyway)")

    @classmethod
    @override
    def env_var_config(cls) -> dict[str, Any]:
        """TAP_PIPEDRIVE_* variables, every kind parsed (config.env_config)."""
        schema = cls.config_jsonschema
        cls.append_builtin_config(schema)
        return settings.env_config(schema, cls.env_var_prefix())

    @override
    def discover_streams(self) -> list:
        return [stream_class(tap=self) for stream_class in STREAMS]

    discovering = False  # set by run_discovery

    @override
    def run_discovery(self) -> str:
        self.discovering = True
        return super().run_discovery()

    @property
    @override
    def catalog_dict(self) -> dict:
        """The discovered catalog; with `undeclared_properties: catch_all`, each stream's
        schema declares the catch-all column up front (drift.py)."""
        return drift.declare_catch_all(super().catalog_dict, self.config)

    @cached_property
    def connection(self) -> Connection:
        method = registry().get(self.config.get("auth_method") or settings.DEFAULT_AUTH_METHOD)
        config: Any = self.config
        if self.discovering:
            # Discovery (also Meltano's, before `invoke tap-pipedrive:login`) never logs in,
            # refreshes or exchanges a code: it uses credentials usable as they are, or the
            # catalog goes without typed custom fields (custom_fields.py says so).
            config = {**config, "initiate_oauth": "OFF", "oauth_verifier": None}
        return method.connect(config)

    @cached_property
    def api_base(self) -> str:
        if self.config.get("api_url"):
            return settings.api_base(self.config)
        return settings.api_base(self.config, self.connection.api_base)

    @cached_property
    def rate_limiter(self) -> ratelimit.RateLimiter:
        """One for the whole run: streams (and threads) share the burst window and budget."""
        return ratelimit.from_config(self.config)

    @cached_property
    def prefetcher(self) -> prefetch.Prefetcher:
        """Fetches the pages of later streams while earlier ones are emitted (prefetch.py)."""
        return prefetch.Prefetcher(int(self.config.get("max_parallel_requests") or 1))

    @cached_property
    def odd_values(self) -> OddValues:
        """Values that did not fit the schema, counted for the whole run (conform.py)."""
        return OddValues()

    @cached_property
    def undeclared(self) -> drift.Undeclared:
        """Properties the catalog does not declare, and what was done with them (drift.py)."""
        return drift.Undeclared()

    @cached_property
    def progress(self) -> progress.Progress:
        """Pages and records per stream, for progress lines and the end-of-run summary."""
        return progress.Progress(progress.interval(self.config), self.rate_limiter.usage)

    @cached_property
    def custom_fields(self) -> custom_fields.CustomFieldRegistry:
        """Field metadata, read once per run and shared by every stream."""
        return custom_fields.CustomFieldRegistry(self, self.odd_values)

    @override  # type: ignore[misc]  # final in the SDK; extended, not replaced
    def sync_all(self) -> None:
        if not self.config.get("batch_config"):  # the summary counts RECORD messages
            self.message_writer = self.progress.counting(self.message_writer)
        failure: BaseException | None = None
        try:
            self.prefetcher.armed = True
            performance.settle_heap()
            super().sync_all()
        except BaseException as exc:
            failure = exc
            raise
        finally:  # failed and stopped runs too: workers stopped, one table, odd values
            self.prefetcher.close()
            if isinstance(failure, interrupt.Interrupted):
                self._write_interrupted_state()
                failure.state_saved = True
            usage, notes = self.rate_limiter.summary()
            self.progress.log_summary(usage, self.odd_values.per_stream(), notes, failure)
            for line in self.odd_values.summary():
                self.logger.warning(line)
            for line, extra in self.undeclared.summary():
                self.logger.info("%s", line, extra=extra)

    @override
    def on_termination(self, signum: int, frame: Any) -> None:
        """SIGINT/SIGTERM (the SDK's handler exits 0): stop the sync with `Interrupted`;
        sync_all writes the state reached and the command line exits 130/143."""
        interrupt.handle(signum)

    def _write_interrupted_state(self) -> None:
        """The state of what was emitted, from which a run resumes with nothing lost."""
        for stream in self.streams.values():
            rewind = getattr(stream, "rewind_pending_children", None)
            if rewind is not None:
                rewind()
        # Always the last message, even when equal to an earlier STATE (the SDK's state writer
        # skips repeats): whoever keeps the last STATE line keeps this one.
        self.write_message(StateMessage(value=copy.deepcopy(self.state)))


def _replication_keys() -> dict[str, str | None]:
    keys = {}
    for stream_class in STREAMS:
        key = getattr(stream_class, "replication_key", None)
        # The SDK types `name` per instance; every stream class sets it.
        keys[stream_class.name] = key if isinstance(key, str) else None  # type: ignore[misc]
    return keys

