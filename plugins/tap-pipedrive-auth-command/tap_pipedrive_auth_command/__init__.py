"""`command`: the token comes from an external command's standard output, the way git asks a
credential helper. Secret managers and token brokers then need no plugin of their own:

    token_command: "op read op://data/pipedrive/api-token"
    token_command: "vault kv get -field=token secret/pipedrive"
    token_command: "my-broker print-access-token --audience pipedrive"   # with kind bearer

The command runs once per run, without a shell; the first line of its output is the token.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping
from typing import Any

from singer_sdk import typing as th
from singer_sdk.authenticators import APIKeyAuthenticator, BearerTokenAuthenticator

from tap_pipedrive.auth import AuthMethod, Connection, hookimpl
from tap_pipedrive.errors import AuthError, ConfigError

KINDS = ("api_token", "bearer")


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
        return {"token_command": config.get("token_command") or "not set",
                "token_command_kind": config.get("token_command_kind") or "api_token"}


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
    argv = shlex.split(command)
    timeout = int(config.get("token_command_timeout") or 30)
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise AuthError(f"token_command: {argv[0]!r} was not found") from None
    except subprocess.TimeoutExpired:
        raise AuthError(f"token_command did not finish within {timeout} s") from None
    if done.returncode != 0:
        raise AuthError(f"token_command exited with status {done.returncode}; run it in a "
                        "terminal to see why")
    token = next(iter(done.stdout.splitlines()), "").strip()
    if not token:
        raise AuthError("token_command printed nothing; it must print the token")
    return token


@hookimpl
def register_auth_methods(register) -> None:
    register(CommandAuth())
