"""The accounts file: which Pipedrive companies to sync, where their secrets are, where to.

    warehouse:                    # PostgreSQL: the loader's database and the state backend
      host: 127.0.0.1
      port: 5432
      user: loader
      database: warehouse
      password: {env: WAREHOUSE_PASSWORD}
    run_dir: /var/lib/tap-pipedrive/accounts   # one folder per account (config, catalog, OAuth)
    accounts:
      - name: north
        auth_method: basic
        company_domain: north-gmbh
        credentials:
          api_token: {env: PIPEDRIVE_NORTH_API_TOKEN}
        target_schema: pipedrive_north
      - name: south
        auth_method: oauth-headless
        company_domain: south
        credentials:
          oauth_client_id: {env: PIPEDRIVE_OAUTH_CLIENT_ID}
          oauth_client_secret: {file: /run/secrets/pipedrive-oauth-client-secret}
        target_schema: pipedrive_south
        settings: {max_tokens_per_run: 20000}

A credential is never written in the file itself: only the name of an environment variable
(`{env: NAME}`) or the path of a file (`{file: PATH}`) that holds it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")  # a partition key, a folder and a schema name
AUTH_METHODS = ("basic", "oauth-desktop", "oauth-headless", "oauth-web")
SECRETS = ("api_token", "oauth_client_id", "oauth_client_secret", "oauth_access_token",
           "oauth_refresh_token", "oauth_verifier")
# Set by the orchestration for each account, never by the accounts file.
RESERVED = ("oauth_settings_location", "auth_method", "api_url", "company_domain", *SECRETS)


class AccountsError(ValueError):
    """The accounts file is wrong; the message says where."""


@dataclass(frozen=True)
class Secret:
    """Where a credential is: an environment variable or a file (never the value)."""

    env: str | None = None
    file: str | None = None

    def read(self, environ: dict[str, str] | None = None) -> str:
        environ = os.environ if environ is None else environ
        if self.env is not None:
            value = environ.get(self.env)
            if not value:
                raise AccountsError(f"environment variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            return Path(self.file).read_text().strip()
        except OSError as exc:
            raise AccountsError(f"cannot read secret file {self.file}: {exc.strerror}") from None


@dataclass(frozen=True)
class Account:
    name: str
    auth_method: str = "basic"
    company_domain: str | None = None
    api_url: str | None = None
    credentials: dict[str, Secret] = field(default_factory=dict)
    target_schema: str = ""
    streams: tuple[str, ...] = ()  # empty: the tap's default streams
    settings: dict[str, Any] = field(default_factory=dict)

    def tap_config(self, run_dir: Path, environ: dict[str, str] | None = None) -> dict:
        """The tap's config for this account: its secrets read now, its own OAuth file."""
        config: dict[str, Any] = {**self.settings, "auth_method": self.auth_method}
        if self.company_domain:
            config["company_domain"] = self.company_domain
        if self.api_url:
            config["api_url"] = self.api_url
        for setting, secret in self.credentials.items():
            config[setting] = secret.read(environ)
        if self.auth_method != "basic":  # tokens persist in a file of this account alone
            config["oauth_settings_location"] = str(run_dir / "OAuthSettings.txt")
        return config


@dataclass(frozen=True)
class Warehouse:
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    database: str = "warehouse"
    password: Secret | None = None
    state_schema: str = "tap_pipedrive_state"

    def connection(self, environ: dict[str, str] | None = None) -> dict[str, Any]:
        """target-postgres's settings (also psycopg's keywords, but for `database`)."""
        password = self.password.read(environ) if self.password else ""
        return {"host": self.host, "port": self.port, "user": self.user,
                "password": password, "database": self.database}


@dataclass(frozen=True)
class Registry:
    accounts: tuple[Account, ...]
    warehouse: Warehouse
    run_dir: Path

    def account(self, name: str) -> Account:
        for account in self.accounts:
            if account.name == name:
                return account
        raise AccountsError(f"no account {name!r} in the accounts file")


def _secret(where: str, value: Any) -> Secret:
    if isinstance(value, dict) and len(value) == 1 and set(value) <= {"env", "file"}:
        return Secret(env=value.get("env"), file=value.get("file"))
    raise AccountsError(f"{where}: give {{env: VARIABLE}} or {{file: PATH}}, never the value")


def _account(index: int, raw: Any) -> Account:
    where = f"accounts[{index}]"
    if not isinstance(raw, dict):
        raise AccountsError(f"{where}: expected a mapping")
    unknown = set(raw) - {"name", "auth_method", "company_domain", "api_url", "credentials",
                          "target_schema", "streams", "settings"}
    if unknown:
        raise AccountsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    name = str(raw.get("name", ""))
    if not NAME.match(name):
        raise AccountsError(f"{where}: name {name!r} must match {NAME.pattern}")
    where = f"account {name}"
    method = raw.get("auth_method", "basic")
    if method not in AUTH_METHODS:
        raise AccountsError(f"{where}: auth_method must be one of {', '.join(AUTH_METHODS)}")
    if not (raw.get("company_domain") or raw.get("api_url")):
        raise AccountsError(f"{where}: set company_domain (or api_url)")
    credentials = raw.get("credentials") or {}
    unknown = set(credentials) - set(SECRETS)
    if unknown:
        raise AccountsError(f"{where}: unknown credential(s) {', '.join(sorted(unknown))}")
    settings = dict(raw.get("settings") or {})
    if reserved := set(settings) & set(RESERVED):
        raise AccountsError(f"{where}: {', '.join(sorted(reserved))} cannot be in settings")
    schema = str(raw.get("target_schema") or f"pipedrive_{name}")
    if not NAME.match(schema):
        raise AccountsError(f"{where}: target_schema {schema!r} must match {NAME.pattern}")
    return Account(
        name=name, auth_method=method, company_domain=raw.get("company_domain"),
        api_url=raw.get("api_url"),
        credentials={k: _secret(f"{where}: credentials.{k}", v) for k, v in credentials.items()},
        target_schema=schema, streams=tuple(raw.get("streams") or ()), settings=settings,
    )


def load(path: str | Path) -> Registry:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise AccountsError(f"cannot read {path}: {exc.strerror}") from None
    accounts = tuple(_account(i, a) for i, a in enumerate(raw.get("accounts") or []))
    names = [a.name for a in accounts]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise AccountsError(f"account name(s) used twice: {', '.join(dupes)}")
    schemas = [a.target_schema for a in accounts]
    if dupes := sorted({s for s in schemas if schemas.count(s) > 1}):
        raise AccountsError(f"target_schema used by two accounts: {', '.join(dupes)}")
    wh = dict(raw.get("warehouse") or {})
    if "password" in wh:
        wh["password"] = _secret("warehouse.password", wh["password"])
    warehouse = Warehouse(**wh)
    run_dir = Path(raw.get("run_dir") or path.parent / ".accounts-run").expanduser()
    return Registry(accounts, warehouse, run_dir)
