"""The package's shape: imports go one way (no circle, no lower layer importing a higher one),
and a sync never loads the sandbox (its own distribution, sandbox/).

The import walk reads the source (ast), so it sees every import: at module level, inside
functions and under TYPE_CHECKING. `python -m pytest tests/test_structure.py` checks it.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from helpers import sandbox_config

from tap_pipedrive_sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
TAP_PACKAGE = ROOT / "tap_pipedrive"
SANDBOX_PACKAGE = ROOT / "sandbox" / "tap_pipedrive_sandbox"

# The tap's layers, lowest first: a module may import its own layer and those below it.
# The most specific name wins (`tap_pipedrive.auth` covers every module of auth/).
LAYERS: list[tuple[str, list[str]]] = [
    ("base", ["tap_pipedrive", "tap_pipedrive.errors", "tap_pipedrive.interrupt",
              "tap_pipedrive.token_costs", "tap_pipedrive.capturefile", "tap_pipedrive.schemas",
              "tap_pipedrive.scrub", "tap_pipedrive.sdk_compat", "tap_pipedrive.inflight",
              "tap_pipedrive.endpoints", "tap_pipedrive.seen",
              "tap_pipedrive.codegen"]),
    ("settings", ["tap_pipedrive.config", "tap_pipedrive.inputs", "tap_pipedrive.redact"]),
    ("transport", ["tap_pipedrive.transport", "tap_pipedrive.ratelimit", "tap_pipedrive.page",
                   "tap_pipedrive.conform", "tap_pipedrive.fit", "tap_pipedrive.drift",
                   "tap_pipedrive.performance",
                   "tap_pipedrive.progress", "tap_pipedrive.paging"]),
    ("auth", ["tap_pipedrive.auth"]),
    # A stream's requests (and the run they are paced by) never depend on its records.
    ("request", ["tap_pipedrive.request", "tap_pipedrive.run"]),
    ("client", ["tap_pipedrive.client", "tap_pipedrive.custom_fields"]),
    ("streams", ["tap_pipedrive.streams", "tap_pipedrive.prefetch", "tap_pipedrive.windows"]),
    ("run", ["tap_pipedrive.services"]),  # builds services of the layers below it
    ("tap", ["tap_pipedrive.tap"]),
    ("commands", ["tap_pipedrive.cli", "tap_pipedrive.capture", "tap_pipedrive.capture_cli"]),
    ("main", ["tap_pipedrive.main"]),
]
# The sandbox (another distribution, which depends on the tap) may use only these of the tap:
# the tap's base layer and the hook marker of its plugin module.
SANDBOX_MAY_IMPORT = {"tap_pipedrive.auth.hookspecs"}
# What a sync may load of the sandbox: the package (its names are imported on first use) and
# the command hook, which names `tap-pipedrive sandbox` without importing it.
SYNC_MAY_LOAD = {"tap_pipedrive_sandbox", "tap_pipedrive_sandbox.plugin"}


def modules(package: Path) -> dict[str, Path]:
    found = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The known modules `name` imports (a `from package import module` counts as the
    module; a name of a package's __init__ as the package)."""

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    found: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(resolve(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's own package
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                source = f"{package}.{node.module}" if node.module else package
            else:
                source = node.module or ""
            for alias in node.names:
                found.add(resolve(f"{source}.{alias.name}") if f"{source}.{alias.name}" in known
                          else resolve(source))
    return {module for module in found if module and module != name}


def import_graph() -> dict[str, set[str]]:
    known = modules(TAP_PACKAGE) | modules(SANDBOX_PACKAGE)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (length of the matched name, layer)
    for level, (_, names) in enumerate(LAYERS):
        for prefix in names:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), level)
    return None if best is None else best[1]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle():
    found = cycles(import_graph())
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_every_tap_module_has_a_layer():
    unplaced = [m for m in import_graph() if m.startswith("tap_pipedrive.") and
                layer_of(m) is None]
    assert not unplaced, f"add these modules to a layer in LAYERS: {unplaced}"


def test_no_lower_layer_imports_a_higher_one():
    upward = []
    for module, imported in import_graph().items():
        if not module.startswith("tap_pipedrive.") or layer_of(module) is None:
            continue
        for other in imported:
            if other.startswith("tap_pipedrive_sandbox"):
                upward.append(f"{module} imports the sandbox ({other})")
            elif (level := layer_of(other)) is not None and level > layer_of(module):
                upward.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports {other} "
                              f"({LAYERS[level][0]})")
    assert not upward, "\n".join(sorted(upward))


def test_the_sandbox_uses_only_the_tap_base_layer():
    reach = []
    for module, imported in import_graph().items():
        if module.startswith("tap_pipedrive_sandbox"):
            reach += [f"{module} imports {other}" for other in imported
                      if other.startswith("tap_pipedrive.") and layer_of(other) != 0
                      and other not in SANDBOX_MAY_IMPORT]
    assert not reach, "\n".join(sorted(reach))


def test_the_walk_sees_imports_in_functions_and_type_checking_blocks(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.high import H\n")
    (package / "high.py").write_text("def f():\n    from . import low\n")
    known = modules(package)
    graph = {name: imports_of(name, path, known) for name, path in known.items()}
    assert graph["pkg.low"] == {"pkg.high"} and graph["pkg.high"] == {"pkg.low"}
    assert cycles(graph) == [["pkg.high", "pkg.low"]]


# Run as the console script does (its entry point, below), then list the modules that were
# imported, and the source files compiled because no current bytecode was found; the first
# argument is where to write them.
PROGRAM = """
import atexit, json, sys
from importlib.machinery import SourceFileLoader
out = sys.argv.pop(1)
compiled = []
to_code = SourceFileLoader.source_to_code
def spy(self, data, path, *args, **kwargs):
    compiled.append(str(path))
    return to_code(self, data, path, *args, **kwargs)
SourceFileLoader.source_to_code = spy
def report():
    with open(out, "w") as f:
        json.dump({"modules": sorted(sys.modules), "compiled": compiled}, f)
atexit.register(report)
from tap_pipedrive.main import main
main()
"""


def test_the_console_script_is_the_command_line_entry_point():
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts["tap-pipedrive"] == "tap_pipedrive.main:main"


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> dict[str, list[str]]:
    """The modules an API-token sync of a sandbox imports, and the sources it compiles, run
    as the console script (once for the tests that look at them), where Python writes no
    bytecode (PYTHONDONTWRITEBYTECODE=1, usual in containers): so the run itself cannot
    leave bytecode for the next."""
    tmp_path = tmp_path_factory.mktemp("sync")
    with Sandbox(records=20) as sb:
        config = tmp_path / "config.json"
        config.write_text(json.dumps(sandbox_config(sb.url)))
        loaded = tmp_path / "loaded.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_PIPEDRIVE_")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        run = subprocess.run([sys.executable, "-c", PROGRAM, str(loaded), "--config",
                              str(config)], capture_output=True, text=True, timeout=300,
                             stdin=subprocess.DEVNULL, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert '"type":"RECORD"' in run.stdout.replace(" ", "")  # it did sync
    return json.loads(loaded.read_text())


@pytest.fixture(scope="module")
def synced_modules(synced) -> set[str]:
    return set(synced["modules"])


def test_a_sync_compiles_none_of_the_tap_from_source(synced):
    """Compiling the tap's modules took 0.14 s of every run's start (0.82 -> 0.68 s CPU for
    a sync of a few records, median of 7): an editable install (make install) has no
    bytecode of its own, and where Python writes none (PYTHONDONTWRITEBYTECODE) each run
    compiled again. The install compiles it (run `make install` again after editing)."""
    ours = [p for p in synced["compiled"] if f"{os.sep}tap_pipedrive{os.sep}" in p]
    assert not ours, (f"compiled from source at the start of a sync: {ours[:5]} (edited since "
                      "the install? `make install` compiles them)")


def test_a_sync_does_not_import_the_sandbox(synced_modules, tmp_path):
    sandbox = {m for m in synced_modules if m.split(".")[0] == "tap_pipedrive_sandbox"}
    assert sandbox <= SYNC_MAY_LOAD
    # ... while the same command line still offers the sandbox, and loads it to run it.
    loaded = tmp_path / "loaded.json"
    check = subprocess.run([sys.executable, "-c", PROGRAM, str(loaded), "sandbox", "--help"],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    assert "tap_pipedrive_sandbox.server" in json.loads(loaded.read_text())["modules"]


def test_an_api_token_sync_does_not_load_the_oauth_cipher(synced_modules):
    """cryptography (OpenSSL's bindings: ~9 MB of the peak RSS) only reads and writes the
    OAuth settings file; a sync with an API token never opens one."""
    loaded = synced_modules
    assert "tap_pipedrive.auth.token_file" in loaded  # the OAuth flows are registered...
    assert not {m for m in loaded if m.split(".")[0] == "cryptography"}  # ... not their cipher
