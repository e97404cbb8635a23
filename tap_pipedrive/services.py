"""RunServices: the services of one run, built in one place from the settings (and catalog).

The tap owns one and hands it to every stream it makes (`stream_class(tap=..., run=...)`);
streams and the field registry use it through run.Run, never through the tap. Each service is
built on first use, as the tap's were: discovery (which may run without credentials) never
logs in or connects unless it needs custom field metadata, and then without logging in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from tap_pipedrive import config as settings
from tap_pipedrive import custom_fields, drift, prefetch, progress, ratelimit
from tap_pipedrive.auth import Connection
from tap_pipedrive.auth.plugins import registry
from tap_pipedrive.conform import OddValues

if TYPE_CHECKING:
    from singer_sdk import Stream
    from singer_sdk.singerlib import Catalog


class RunServices:
    """Connection, API base, rate limiter, prefetcher, progress, odd values, undeclared
    properties and the custom field registry of one run (tap.py builds one per tap).

    `streams` gives the run's streams (the tap's, in the SDK's order) and `new_stream` makes
    one more of this run (the field registry reads a *Fields endpoint with its own)."""

    def __init__(self, config: Mapping[str, Any], *, catalog: Catalog | None = None,
                 validated: bool = True,
                 streams: Callable[[], Mapping[str, Stream]] = dict,
                 new_stream: Callable[[type[Any]], Any] | None = None) -> None:
        self.config = config
        self.input_catalog = catalog
        # Discovery runs unvalidated (Meltano may run it without credentials): then custom
        # fields may be left out of the catalog, and the log says so (custom_fields.py).
        self.config_validated = validated
        self._listed = streams
        self._maker = new_stream
        self.discovering = False  # set by the tap's run_discovery, before the first call

    @property
    def streams(self) -> Mapping[str, Stream]:
        return self._listed()

    def new_stream(self, stream_class: type[Any]) -> Any:
        if self._maker is None:
            raise TypeError("this run makes no streams (RunServices(new_stream=...))")
        return self._maker(stream_class)

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
