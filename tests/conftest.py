"""Every test runs against a sandbox on 127.0.0.1; none needs the internet."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tap_pipedrive_sandbox import Sandbox


@pytest.fixture(scope="session", autouse=True)
def _private_config_home(tmp_path_factory) -> Iterator[None]:
    """The default OAuth settings folder (platformdirs) is a temporary one, never the user's:
    for this process and every tap it starts."""
    old = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config-home"))
    yield
    if old is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = old


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[Sandbox]:
    """A read-only sandbox for tests that do not change data."""
    with Sandbox(records=1200, seed=7) as sb:
        yield sb


@pytest.fixture
def make_sandbox() -> Iterator:
    """A fresh sandbox per test, for tests that change data or settings."""
    started: list[Sandbox] = []

    def make(**kwargs) -> Sandbox:
        sb = Sandbox(**kwargs)
        sb.start()
        started.append(sb)
        return sb

    yield make
    for sb in started:
        sb.stop()
