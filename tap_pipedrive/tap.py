"""TapPipedrive: settings, the stream catalogue and the run object handed to its streams
(services.py); the command line is main.py."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from functools import cached_property
from typing import Any

from singer_sdk import Stream
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
from tap_pipedrive.errors import ConfigError
from tap_pipedrive.sdk_compat import TapSeam
from tap_pipedrive.services import RunServices
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
        # Discovery runs unvalidated (Meltano may run it without credentials): the run's
        # field registry may then leave custom fields out of the catalog (services.py).
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
        return [self.new_stream(stream_class) for stream_class in STREAMS]

    @override
    def run_discovery(self) -> str:
        self.run.discovering = True  # no login, refresh or code exchange (services.py)
        return super().run_discovery()

    @property
    @override
    def catalog_dict(self) -> dict:
        """The discovered catalog; with `undeclared_properties: catch_all`, each stream's
        schema declares the catch-all column up front (drift.py)."""
        return drift.declare_catch_all(super().catalog_dict, self.config)

    # What `run` builds (capture.py's records every answer).
    run_class: Callable[..., RunServices] = RunServices

    @cached_property
    def run(self) -> RunServices:
        """The run's services (services.py), built on first use and handed to each stream."""
        return self.run_class(self.config, catalog=self.input_catalog,
                              validated=self.config_validated,
                              streams=lambda: self.streams, new_stream=self.new_stream)

    def new_stream(self, stream_class: type[Stream]) -> Stream:
        """A stream of this tap and its run (every stream of the tap is made here)."""
        return stream_class(tap=self, run=self.run)  # type: ignore[call-arg]  # ours take it

    @property
    def connection(self) -> Connection:
        return self.run.connection

    @property
    def api_base(self) -> str:
        return self.run.api_base

    @override  # type: ignore[misc]  # final in the SDK; extended, not replaced
    def sync_all(self) -> None:
        run = self.run
        if not self.config.get("batch_config"):  # the summary counts RECORD messages
            self.message_writer = run.progress.counting(self.message_writer)
        failure: BaseException | None = None
        try:
            run.prefetcher.armed = True
            performance.settle_heap()
            super().sync_all()
            # Streams a budget stop ended wrote what they had (PipedriveStream.sync): now
            # the run stops as at the first of them (exit 75).
            stops = [stop for s in self.streams.values()
                     if (stop := getattr(s, "budget_stop", None)) is not None]
            if stops:
                raise stops[0]
        except BaseException as exc:
            failure = exc
            raise
        finally:  # failed and stopped runs too: workers stopped, one table, odd values
            run.prefetcher.close()
            if isinstance(failure, interrupt.Interrupted):
                self._write_interrupted_state()
                failure.state_saved = True
            usage, notes = run.rate_limiter.summary()
            run.progress.log_summary(usage, run.odd_values.per_stream(), notes, failure)
            for line in run.odd_values.summary():
                self.logger.warning(line)
            for line, extra in run.undeclared.summary():
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

