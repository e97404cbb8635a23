"""The installed tap discovers `command` through its entry point and syncs the sandbox with a
token that an external command prints."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import requests

from tap_pipedrive_sandbox import Sandbox

TAP = str(Path(sys.executable).with_name("tap-pipedrive"))
SECRET = "api-LEAKCHECK-plugin-5e1f"


def tap(tmp_path, config, *args, env=None):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_PIPEDRIVE_")}
    return subprocess.run([TAP, "--config", str(path), *args], capture_output=True, text=True,
                          env={**run_env, **(env or {})}, timeout=120, stdin=subprocess.DEVNULL)


def printing(text: str, exit_code: int = 0) -> str:
    """A token_command that prints `text` and exits with `exit_code`."""
    code = f"print({text!r}); raise SystemExit({exit_code})"
    return shlex.join([sys.executable, "-c", code])


def record_ids(stdout: str, stream: str) -> list[int]:
    messages = (json.loads(line) for line in stdout.splitlines() if line.startswith("{"))
    return [m["record"]["id"] for m in messages
            if m["type"] == "RECORD" and m["stream"] == stream]


@pytest.fixture
def sb():
    with Sandbox(records=50, api_token=SECRET) as sandbox:
        yield sandbox


def test_entry_point_is_declared():
    found = {ep.name: ep.value for ep in entry_points(group="tap_pipedrive.auth")}
    assert found.get("command") == "tap_pipedrive_auth_command"


def test_tap_discovers_the_method_through_the_entry_point(tmp_path):
    about = json.loads(tap(tmp_path, {}, "--about", "--format", "json").stdout)
    assert "command" in about["settings"]["properties"]["auth_method"]["enum"]
    assert "token_command" in about["settings"]["properties"]
    # With entry points switched off, the method is gone: it came from the entry point.
    off = tap(tmp_path, {}, "--about", "--format", "json",
              env={"TAP_PIPEDRIVE_LOAD_PLUGINS": "0"})
    assert "command" not in json.loads(off.stdout)["settings"]["properties"]["auth_method"]["enum"]


def test_sync_with_an_api_token_from_a_command(sb, tmp_path):
    run = tap(tmp_path, {"auth_method": "command", "token_command": printing(sb.api_token),
                         "api_url": sb.url})
    assert run.returncode == 0, run.stderr
    assert sorted(record_ids(run.stdout, "deals")) == sorted(
        r["id"] for r in sb.data.records("deals"))
    assert {r["auth"] for r in sb.requests} == {"token"}
    assert SECRET not in run.stderr


def test_sync_with_a_bearer_token_from_a_command(sb, tmp_path):
    location = requests.get(f"{sb.url}/oauth/authorize", allow_redirects=False, timeout=10,
                            params={"client_id": sb.client_id,
                                    "redirect_uri": "http://127.0.0.1:9/cb"}).headers["Location"]
    code = location.split("code=")[1].split("&")[0]
    access = requests.post(f"{sb.url}/oauth/token", auth=(sb.client_id, sb.client_secret),
                           timeout=10, data={"grant_type": "authorization_code", "code": code,
                                             "redirect_uri": "http://127.0.0.1:9/cb"}
                           ).json()["access_token"]
    run = tap(tmp_path, {"auth_method": "command", "token_command": printing(access),
                         "token_command_kind": "bearer", "api_url": sb.url})
    assert run.returncode == 0, run.stderr
    assert record_ids(run.stdout, "users")
    assert {r["auth"] for r in sb.requests if r["path"].startswith("/api/")} == {"bearer"}


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (printing(SECRET, exit_code=3), "exited with status 3"),
        (printing(""), "printed nothing"),
        ("/nonexistent/helper --get", "was not found"),
    ],
)
def test_failing_command_is_one_line_error(sb, tmp_path, command, says):
    run = tap(tmp_path, {"auth_method": "command", "token_command": command, "api_url": sb.url})
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-pipedrive: error:"), run.stderr
    assert "token_command" in last and says in last
    assert SECRET not in run.stderr + run.stdout


def test_status_never_shows_the_command_line_arguments(tmp_path):
    command = f"my-helper --password {SECRET} --token={SECRET}"
    run = tap(tmp_path, {"auth_method": "command", "token_command": command}, "auth", "status")
    assert run.returncode == 0, run.stderr
    assert "token_command: my-helper" in run.stdout
    assert SECRET not in run.stdout + run.stderr


GRANDCHILD = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(300)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by init) counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[-1][0] != "Z"


def test_timed_out_command_is_killed_with_its_children(sb, tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    command = shlex.join([sys.executable, "-c", GRANDCHILD, str(pid_file)])
    run = tap(tmp_path, {"auth_method": "command", "token_command": command,
                         "token_command_timeout": 2, "api_url": sb.url})
    pid = int(pid_file.read_text())
    try:
        assert run.returncode == 1
        assert "did not finish within 2 s" in run.stderr.strip().splitlines()[-1]
        import time
        for _ in range(50):  # the kill is sent before the tap exits; reaping may lag
            if not alive(pid):
                break
            time.sleep(0.1)
        assert not alive(pid), "the command's child outlived the timeout"
    finally:
        if alive(pid):
            os.kill(pid, 9)


def test_output_over_the_cap_is_refused(sb, tmp_path):
    code = "import sys; sys.stdout.write('x' * 50_000_000)"
    command = shlex.join([sys.executable, "-c", code])
    run = tap(tmp_path, {"auth_method": "command", "token_command": command,
                         "api_url": sb.url})
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-pipedrive: error:") and "more than" in last, run.stderr
