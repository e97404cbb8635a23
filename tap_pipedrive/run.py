"""What a stream may use of the run it belongs to: the services built once per run.

The tap hands every stream it makes one run object (services.RunServices) as `run=`; streams
and the field registry see it through this Protocol, so that they depend on the services
(lower layers), never on the modules above them that build them. The prefetcher and the
field registry live in layers at or above the streams' own, so they are typed loosely here
rather than imported back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from singer_sdk import Stream
    from singer_sdk.singerlib import Catalog

    from tap_pipedrive.auth import Connection
    from tap_pipedrive.conform import OddValues
    from tap_pipedrive.drift import Undeclared
    from tap_pipedrive.progress import Progress
    from tap_pipedrive.ratelimit import RateLimiter


class Run(Protocol):
    """The run as its streams see it (services.RunServices is the one implementation)."""

    config: Mapping[str, Any]
    input_catalog: Catalog | None
    config_validated: bool  # False: discovery, which may go on without credentials

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
    def streams(self) -> Mapping[str, Stream]:
        """The run's streams, in the order the SDK syncs them."""
        ...

    def new_stream(self, stream_class: type[Any]) -> Any:
        """A new stream of `stream_class` on this run (as the tap makes them)."""
        ...
