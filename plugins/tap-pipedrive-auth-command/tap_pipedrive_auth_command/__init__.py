"""`command`: the token comes from an external command's standard output, the way git asks a
credential helper. Secret managers and token brokers then need no plugin of their own:

    token_command: "op read op://data/pipedrive/api-token"
    token_command: "vault kv get -field=token secret/pipedrive"
    token_command: "my-broker print-access-token --audience pipedrive"   # with kind bearer

The command runs once per run, without a shell, in a process group of its own (so that a
timeout kills whatever it started, too); the first line of its output is the token. Its output
is capped at MAX_OUTPUT bytes, and `auth status` shows the program's name, never its arguments
(they may hold a secret).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from singer_sdk import typing as th
from singer_sdk.authenticators import APIKeyAuthenticator, BearerTokenAuthenticator

from tap_pipedrive.auth import AuthMethod, Connection, hookimpl
from tap_pipedrive.errors import AuthError, ConfigError

KINDS = ("api_token", "bearer")
MAX_OUTPUT = 64 * 1024  # bytes; a token is a line, a helper that prints more is broken


class CommandAuth(AuthMethod):
    name = "command"
    description = "Runs token_command (like a git credential helper) and uses its output."
    settings = [
        th.Property("token_command", th.StringType,
                    description="Command whose standard output is the token (run without a "
                    "shell; the first line counts)."),
        th.Property("token_command_kind", th.StringType, default="api_token",
                    allowed_values=list(KINDS),
                    description="api_token: a Pipedrive API token (x-api-token header); "
                    "bearer: an OAuth access token (Authorization: Bearer)."),
        th.Property("token_command_timeout", th.IntegerType, default=30,
                    description="Seconds to wait for token_command."),
    ]

    def connect(self, config: Mapping[str, Any]) -> Connection:
        token = read_token(config)
        if (config.get("token_command_kind") or "api_token") == "bearer":
            return Connection(BearerTokenAuthenticator(token=token))
        return Connection(APIKeyAuthenticator(key="x-api-token", value=token, location="header"))

    def status(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"token_command": shown(config.get("token_command")),
                "token_command_kind": config.get("token_command_kind") or "api_token"}


def shown(command: str | None) -> str:
    """The program's name, never its arguments: `op read op://...` or `--password X`."""
    if not command:
        return "not set"
    try:
        argv = shlex.split(command)
    except ValueError:
        return "set (not shown: unbalanced quotes)"
    if not argv:
        return "not set"
    rest = len(argv) - 1
    return argv[0] + (f" ({rest} argument{'s' * (rest != 1)} not shown)" if rest else "")


def read_token(config: Mapping[str, Any]) -> str:
    """Run the command and return the first line it prints. Its stderr passes through to the
    user; nothing it prints is repeated in an error message (it may be a secret)."""
    command = config.get("token_command")
    if not command:
        raise ConfigError("auth_method 'command' needs token_command, e.g. "
                          "\"op read op://vault/pipedrive/token\"")
    kind = config.get("token_command_kind") or "api_token"
    if kind not in KINDS:
        raise ConfigError(f"token_command_kind must be api_token or bearer; got {kind!r}")
    try:
        argv = shlex.split(command)
    except ValueError:
        raise ConfigError("token_command has unbalanced quotes") from None
    if not argv:
        raise ConfigError("token_command is empty")
    timeout = int(config.get("token_command_timeout") or 30)
    returncode, output = run_capped(argv, timeout)
    if returncode != 0:
        raise AuthError(f"token_command exited with status {returncode}; run it in a "
                        "terminal to see why")
    token = next(iter(output.splitlines()), "").strip()
    if not token:
        raise AuthError("token_command printed nothing; it must print the token")
    return token


def run_capped(argv: list[str], timeout: float) -> tuple[int, str]:
    """(exit status, standard output) of `argv`, run in its own process group: past `timeout`
    seconds, or past MAX_OUTPUT bytes of output, the whole group is killed."""
    if os.name == "nt":
        group: dict[str, Any] = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    elif sys.version_info >= (3, 11):
        group = {"process_group": 0}
    else:
        group = {"preexec_fn": os.setpgrp}
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                **group)
    except FileNotFoundError:
        raise AuthError(f"token_command: {argv[0]!r} was not found") from None
    except PermissionError:
        raise AuthError(f"token_command: {argv[0]!r} is not executable") from None
    output = bytearray()
    too_big = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        while chunk := proc.stdout.read1(65536):
            output.extend(chunk)
            if len(output) > MAX_OUTPUT:
                too_big.set()
                _kill_group(proc)
                return

    reader = threading.Thread(target=read, daemon=True)
    deadline = time.monotonic() + timeout
    reader.start()
    # EOF comes when every holder of the pipe has closed it: the command and its children.
    reader.join(timeout)
    try:
        if reader.is_alive():
            raise AuthError(f"token_command did not finish within {timeout:g} s")
        if too_big.is_set():
            raise AuthError(f"token_command printed more than {MAX_OUTPUT} bytes; it must "
                            "print the token only")
        try:  # it closed its output early: it has what is left of the timeout to exit
            returncode = proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise AuthError(f"token_command did not finish within {timeout:g} s") from None
    finally:
        if proc.returncode is None:
            _kill_group(proc)
            proc.wait()
        reader.join(1)
        if not reader.is_alive():  # closing under a blocked read would wait for it
            proc.stdout.close()  # type: ignore[union-attr]
    return returncode, output.decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.name == "nt":  # no process groups to signal: the command itself
            proc.kill()
        else:
            os.killpg(proc.pid, signal.SIGKILL)


@hookimpl
def register_auth_methods(register) -> None:
    register(CommandAuth())
