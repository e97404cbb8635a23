"""`tap-pipedrive sandbox`: serve the Pipedrive-compatible sandbox in the foreground."""

from __future__ import annotations

import errno
import signal
import threading
from types import FrameType

import click

from .faults import DEFAULT_KINDS, KINDS, parse_kinds
from .server import Sandbox, check_loopback
from .variants import name_custom_fields


def _loopback(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        check_loopback(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a loopback address. The sandbox has unauthenticated admin "
            "endpoints, so it only listens on 127.0.0.1, ::1 or localhost."
        ) from None
    return value


def _kinds(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return ",".join(parse_kinds(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("sandbox")
@click.option("--port", default=8750, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True, callback=_loopback,
              help="Loopback address to listen on.")
@click.option("--records", default=1000, show_default=True, type=click.IntRange(0),
              help="Number of deals; other entities scale from it.")
@click.option("--seed", default=1, show_default=True, type=int,
              help="Same records and seed give byte-identical responses.")
@click.option("--api-token", default="sandbox-api-token", show_default=True,
              help="Token to send in the x-api-token header.")
@click.option("--client-id", default="sandbox-client-id", show_default=True,
              help="OAuth client id the sandbox accepts.")
@click.option("--client-secret", default="sandbox-client-secret", show_default=True,
              help="OAuth client secret the sandbox accepts.")
@click.option("--token-ttl", default=3599, show_default=True, type=click.IntRange(1),
              help="Lifetime of issued access tokens, in seconds.")
@click.option("--burst-limit", default=400, show_default=True, type=click.IntRange(0),
              help="Requests per token per 2 s; 0 disables rate limiting.")
@click.option("--daily-limit", default=0, show_default=True, type=click.IntRange(0),
              help="Daily API token budget of the company (x-token-cost per call); 0: none. "
              "POST /_sandbox/daily-budget/reset starts a new day.")
@click.option("--daily-headers/--no-daily-headers", default=True, show_default=True,
              help="Send x-daily-ratelimit-token-limit/-remaining.")
@click.option("--ratelimit-headers/--no-ratelimit-headers", default=True, show_default=True,
              help="Send x-ratelimit-* headers at all (off: limits still apply, silently).")
@click.option("--fault-rate", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of API calls that fail (seeded).")
@click.option("--fault-kinds", default=",".join(DEFAULT_KINDS), show_default=True,
              callback=_kinds, help=f"Comma-separated faults, of: {', '.join(KINDS)}.")
@click.option("--fault-seed", default=None, type=int, help="Seed of the fault draw "
              "[default: --seed].")
@click.option("--fault-after", default=0, show_default=True, type=click.IntRange(0),
              help="So many API calls go through before faults start.")
@click.option("--fault-delay", default=5.0, show_default=True, type=click.FloatRange(0),
              help="Seconds a 'timeout' fault stalls its answer.")
@click.option("--fault-paths", default="", help="Comma-separated API paths (e.g. "
              "/api/v2/deals): only calls to them fail [default: every path].")
@click.option("--latency", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Seconds added to every API call.")
@click.option("--page-cache-mb", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Keep answered pages up to so many MB and serve them again while the data "
              "is unchanged (for benchmarks on small machines); 0: off.")
@click.option("--record-cache", default=0, show_default=True, type=click.IntRange(0),
              metavar="N", help="Keep up to N records of each entity built and serve them "
              "again, the same bytes, whatever the query (for benchmarks on small machines, "
              "where building records bounds a parallel tap); 0: off.")
@click.option("--replay", type=click.Path(exists=True, file_okay=False), default=None,
              help="Serve a capture (tap-pipedrive capture --out DIR) instead of generated "
              "data; requests not in it get 404.")
@click.option("--custom-field-suffix", default="", metavar="TEXT",
              help="Appended to every custom field's name (\"Contract number TEXT\"), so "
              "that sandboxes differ in their custom fields as Pipedrive companies do.")
@click.option("--drift", is_flag=True, default=False,
              help="Answer wider and less regular than the spec, as real accounts do: "
              "properties no spec names, custom fields missing from the field metadata, "
              "`<key>_currency` subfield codes, a property that appears in the middle of a run.")
def sandbox(
    port: int, host: str, records: int, seed: int, api_token: str, client_id: str,
    client_secret: str, token_ttl: int, burst_limit: int, daily_limit: int,
    daily_headers: bool, ratelimit_headers: bool, fault_rate: float, fault_kinds: str,
    fault_seed: int | None, fault_after: int, fault_delay: float, fault_paths: str,
    latency: float, page_cache_mb: float, record_cache: int, replay: str | None,
    custom_field_suffix: str, drift: bool,
) -> None:
    """Serve a Pipedrive-compatible API with generated data until Ctrl-C."""
    sb = Sandbox(
        records=records, seed=seed, host=host, port=port, api_token=api_token,
        client_id=client_id, client_secret=client_secret, token_ttl=token_ttl,
        burst_limit=burst_limit, daily_limit=daily_limit, daily_headers=daily_headers,
        ratelimit_headers=ratelimit_headers, fault_rate=fault_rate, fault_kinds=fault_kinds,
        fault_seed=fault_seed, fault_after=fault_after, fault_delay=fault_delay,
        fault_paths=fault_paths, latency=latency, page_cache_mb=page_cache_mb,
        record_cache=record_cache, replay=replay, drift=drift,
    )
    name_custom_fields(sb.data, custom_field_suffix)
    try:
        sb.bind()
    except OSError as exc:
        reason = "port already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}") from None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():  # signals need the main thread
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
    serves = f"replaying {replay}" if replay else f"{records} deals, seed {seed}"
    click.echo(
        f"Pipedrive sandbox on {sb.url} (api_url) | api_token: {api_token} | "
        f"oauth_client_id: {client_id} | {serves}{' | drifting' if drift else ''} | Ctrl-C to stop",
        err=True,
    )
    try:
        sb.serve_forever(stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
