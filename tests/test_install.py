"""The install is declared and reproducible: every third-party package the code imports is a
declared dependency (not left to another package's requirements), lower bounds leave out
releases with known faults, and constraints.txt pins what `make install` installs."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions, requires, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
OWN = {"tap_pipedrive", "tap_pipedrive_auth_command", "tap_pipedrive_sandbox"}
# (distribution, package folder): the code that users install.
PACKAGES = [("tap-pipedrive", ROOT / "tap_pipedrive"),
            ("tap-pipedrive-sandbox", ROOT / "sandbox" / "tap_pipedrive_sandbox")] + [
    (path.parent.name, path) for path in ROOT.glob("plugins/*/tap_pipedrive_*") if path.is_dir()]


def imported(folder: Path) -> set[str]:
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - OWN - {"__future__"}


def declared(distribution: str) -> dict[str, Requirement]:
    found = {}
    for line in requires(distribution) or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            found[canonicalize_name(requirement.name)] = requirement
    return found


def test_every_imported_package_is_declared():
    providers = packages_distributions()
    runtime = declared("tap-pipedrive")
    for distribution, folder in PACKAGES:
        ours = declared(distribution) | runtime  # a plugin depends on the tap
        missing = {module: providers.get(module) for module in imported(folder)
                   if not {canonicalize_name(d) for d in providers.get(module, [])} & set(ours)}
        assert not missing, f"{distribution} imports undeclared packages: {missing}"


def test_lower_bounds_leave_out_known_bad_releases():
    runtime = declared("tap-pipedrive")
    # filelock before 3.20.1 (Unix) / 3.20.3 (soft locks) follows a symlink at the lock path.
    assert not runtime["filelock"].specifier.contains("3.20.2")
    assert runtime["filelock"].specifier.contains(version("filelock"))


def test_constraints_pin_what_is_installed():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line)
            assert match, f"not a pin: {line!r}"
            pins[canonicalize_name(match[1])] = match[2]
    assert "tap-pipedrive" not in pins
    # Every requirement of the tap (and of its test extra) is pinned, to what is installed.
    for line in requires("tap-pipedrive") or []:
        name = canonicalize_name(Requirement(line).name)
        assert name in pins, f"{name} is not in constraints.txt"
        assert Version(version(name)) == Version(pins[name]), f"{name}: not the pinned version"
