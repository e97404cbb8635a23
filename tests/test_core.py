"""The Singer SDK's standard tap tests, against a sandbox started for this module."""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_pipedrive.tap import TapPipedrive
from tap_pipedrive_sandbox import Sandbox

# The SDK builds its parametrized tests at collection time from a config, so the sandbox
# must be listening (and its URL known) before the class is created.
_sandbox = Sandbox(records=300, seed=11)
_sandbox.start()
atexit.register(_sandbox.stop)
CONFIG = {"api_url": _sandbox.url, "api_token": "sandbox-api-token"}


def _everything_selected() -> dict:
    """The discovered catalog with every stream selected: the suite syncs every stream, and
    the SDK sizes its schema checks on the catalog's selection (some streams are off by
    default: one call per parent, or an admin's endpoint)."""
    catalog = TapPipedrive(config=CONFIG, parse_env_config=False).catalog_dict
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = True
    return catalog


TestTapPipedrive = get_tap_test_class(
    tap_class=TapPipedrive,
    config=CONFIG,
    catalog=_everything_selected(),
    parse_env_config=False,
    suite_config=SuiteConfig(max_records_limit=600),
)
