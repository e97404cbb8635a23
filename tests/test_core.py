"""The Singer SDK's standard tap tests, against a sandbox started for this module."""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_pipedrive.sandbox import Sandbox
from tap_pipedrive.tap import TapPipedrive

# The SDK builds its parametrized tests at collection time from a config, so the sandbox
# must be listening (and its URL known) before the class is created.
_sandbox = Sandbox(records=300, seed=11)
_sandbox.start()
atexit.register(_sandbox.stop)

TestTapPipedrive = get_tap_test_class(
    tap_class=TapPipedrive,
    config={"api_url": _sandbox.url, "api_token": "sandbox-api-token"},
    parse_env_config=False,
    suite_config=SuiteConfig(max_records_limit=600),
)
