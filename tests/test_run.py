"""The run object (tap_pipedrive/services.py): the run's services built in one place, lazily,
handed to every stream the tap makes; no stream or field registry reaches into the tap."""

from __future__ import annotations

import ast

from helpers import sandbox_config
from test_structure import LAYERS, TAP_PACKAGE, layer_of, modules

from tap_pipedrive.services import RunServices
from tap_pipedrive.tap import TapPipedrive

SERVICES = {"connection", "api_base", "rate_limiter", "prefetcher", "progress", "odd_values",
            "undeclared", "custom_fields"}


def test_services_are_built_on_first_use_from_the_settings():
    run = RunServices(sandbox_config("http://127.0.0.1:9"))
    assert not SERVICES & set(vars(run))  # nothing built yet: no login, no connection
    assert run.api_base == "http://127.0.0.1:9"
    assert "connection" not in vars(run)  # api_url given: the base needs no connection
    assert run.progress is run.progress and run.rate_limiter is run.rate_limiter
    assert run.custom_fields.run is run and run.custom_fields.odd is run.odd_values


def test_every_stream_the_tap_makes_gets_its_one_run(make_sandbox):
    sb = make_sandbox(records=5)
    tap = TapPipedrive(config=sandbox_config(sb.url), setup_mapper=False)
    streams = list(tap.streams.values())
    assert streams and all(stream.run is tap.run for stream in streams)
    assert tap.connection is tap.run.connection and tap.api_base == tap.run.api_base
    assert tap.run.streams is tap.streams  # the prefetcher's order is the SDK's
    made = tap.run.new_stream(type(tap.streams["deal_fields"]))  # the registry's reader
    assert made.run is tap.run and made is not tap.streams["deal_fields"]


def _reaches_into_the_tap(tree: ast.AST) -> list[int]:
    """Lines that get a run service from a tap: `<x>.tap.<service>`, `<x>.sdk_tap.<service>`
    or `tap_of(...)`."""
    def reaches(node: ast.AST) -> bool:
        if isinstance(node, ast.Call):
            return getattr(node.func, "attr", getattr(node.func, "id", "")) == "tap_of"
        return isinstance(node, ast.Attribute) and node.attr in SERVICES \
            and isinstance(node.value, ast.Attribute) and node.value.attr in {"tap", "sdk_tap"}

    return [node.lineno for node in ast.walk(tree) if reaches(node)]


def test_no_module_below_the_run_reaches_into_the_tap_for_a_service():
    run_layer = [name for name, _ in LAYERS].index("run")
    found = []
    for name, path in modules(TAP_PACKAGE).items():
        if name == "tap_pipedrive.sdk_compat" or (layer_of(name) or 0) >= run_layer:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [f"{name}:{line}" for line in _reaches_into_the_tap(tree)]
    assert not found, "use the stream's `run` (run.py) instead: " + ", ".join(found)


def test_the_walk_finds_a_reach_into_the_tap():
    tree = ast.parse("def f(self):\n    return self.tap.rate_limiter, tap_of(self).custom_fields\n")
    assert _reaches_into_the_tap(tree) == [2, 2]
