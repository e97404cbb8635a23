"""Every message of a full sync follows the Singer spec."""

from __future__ import annotations

import json
from datetime import datetime

from helpers import run_tap, sandbox_config
from jsonschema import Draft7Validator, FormatChecker


def test_singer_messages_conform(shared_sandbox, tmp_path):
    run = run_tap(tmp_path, sandbox_config(shared_sandbox.url))
    assert run.returncode == 0, run.stderr
    messages = [json.loads(line) for line in run.stdout.splitlines()]
    assert messages, "no output"
    validators: dict[str, Draft7Validator] = {}
    keys: dict[str, list[str]] = {}
    timestamps: dict[str, list[str]] = {}
    for message in messages:
        kind = message["type"]
        assert kind in {"SCHEMA", "RECORD", "STATE", "ACTIVATE_VERSION"}, kind
        if kind == "SCHEMA":
            Draft7Validator.check_schema(message["schema"])
            validators[message["stream"]] = Draft7Validator(
                message["schema"], format_checker=FormatChecker()
            )
            keys[message["stream"]] = message["key_properties"]
            # jsonschema checks `date-time` only with an optional package: check it here.
            timestamps[message["stream"]] = [
                name for name, prop in message["schema"]["properties"].items()
                if prop.get("format") == "date-time"
            ]
            for prop in message["key_properties"] + message.get("bookmark_properties", []):
                assert prop in message["schema"]["properties"], (message["stream"], prop)
        elif kind == "RECORD":
            stream = message["stream"]
            assert stream in validators, f"RECORD of {stream} before its SCHEMA"
            errors = list(validators[stream].iter_errors(message["record"]))
            assert not errors, (stream, message["record"].get("id"), errors[0].message)
            assert all(message["record"].get(k) is not None for k in keys[stream])
            for name in timestamps[stream]:
                if (value := message["record"].get(name)) is not None:
                    datetime.fromisoformat(value.replace("Z", "+00:00"))  # raises if not one
        elif kind == "STATE":
            assert isinstance(message["value"], dict)
    # Incremental streams declare their bookmark; the final state names it.
    incremental = [m for m in messages if m["type"] == "SCHEMA" and m.get("bookmark_properties")]
    assert incremental
    final = run.state["bookmarks"]
    for schema in incremental:
        assert final[schema["stream"]]["replication_key"] == schema["bookmark_properties"][0]

    # The tap accepts its own final state back.
    again = run_tap(tmp_path, sandbox_config(shared_sandbox.url), state=run.state)
    assert again.returncode == 0, again.stderr
