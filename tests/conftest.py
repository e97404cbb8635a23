"""Every test runs against a sandbox on 127.0.0.1; none needs the internet."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tap_pipedrive.sandbox import Sandbox


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
