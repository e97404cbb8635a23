"""TapPipedrive: settings, the stream catalogue and the command line."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import click
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter

from tap_pipedrive import config as settings
from tap_pipedrive.auth import Connection
from tap_pipedrive.auth.plugins import registry
from tap_pipedrive.cli import build_group
from tap_pipedrive.streams import STREAMS


def _config_schema() -> dict[str, Any]:
    methods = registry()
    props = settings.common_settings(methods.names()) + methods.settings()
    return th.PropertiesList(*props).to_dict()


class TapPipedrive(Tap):
    """Singer tap for Pipedrive: deals, persons, organizations, activities and more."""

    name = "tap-pipedrive"
    package_name = "tap-pipedrive"
    config_jsonschema = _config_schema()
    message_writer_class = MsgSpecWriter  # several times faster than the default JSON writer

    def __init__(self, *, config: dict | None = None, **kwargs: Any) -> None:
        if isinstance(config, dict):
            config = settings.normalize(config)
        super().__init__(config=config, **kwargs)
        if kwargs.get("validate_config", True):
            self.api_base  # noqa: B018 - fail before the first request, with a clear message

    def discover_streams(self) -> list:
        return [stream_class(tap=self) for stream_class in STREAMS]

    @cached_property
    def connection(self) -> Connection:
        method = registry().get(self.config.get("auth_method") or settings.DEFAULT_AUTH_METHOD)
        return method.connect(self.config)

    @cached_property
    def api_base(self) -> str:
        if self.config.get("api_url"):
            return settings.api_base(self.config)
        return settings.api_base(self.config, self.connection.api_base)

    @classmethod
    def get_singer_command(cls) -> click.Command:
        return build_group(super().get_singer_command(), cls.logger)


cli = TapPipedrive.cli
