"""What a stream may use of the run it belongs to: the services the tap builds once per run.

Streams and the field registry are handed the tap, but see it through this Protocol, so that
they depend on the services (lower layers), never on the tap module above them. The prefetcher
and the field registry live in layers at or above the streams' own, so they are typed loosely
here rather than imported back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from singer_sdk.mapper import PluginMapper
    from singer_sdk.singerlib import Catalog

    from tap_pipedrive.auth import Connection
    from tap_pipedrive.conform import OddValues
    from tap_pipedrive.drift import Undeclared
    from tap_pipedrive.progress import Progress
    from tap_pipedrive.ratelimit import RateLimiter


class Run(Protocol):
    """The tap as its streams see it (tap.py's TapPipedrive is the one implementation)."""

    @property
    def config(self) -> Mapping[str, Any]: ...

    @property
    def api_base(self) -> str: ...

    @property
    def connection(self) -> Connection: ...

    @property
    def rate_limiter(self) -> RateLimiter: ...

    @property
    def prefetcher(self) -> Any: ...  # prefetch.Prefetcher (the streams' own layer)

    @property
    def progress(self) -> Progress: ...

    @property
    def odd_values(self) -> OddValues: ...

    @property
    def undeclared(self) -> Undeclared: ...

    @property
    def custom_fields(self) -> Any: ...  # custom_fields.CustomFieldRegistry (uses this)

    @property
    def streams(self) -> Mapping[str, Any]: ...

    @property
    def input_catalog(self) -> Catalog | None: ...

    @property
    def plugin_version(self) -> str: ...

    mapper: PluginMapper
    config_validated: bool
