"""Settings shared by every auth method, guide-style aliases, and the API base URL."""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dotenv import dotenv_values
from singer_sdk import typing as th

from tap_pipedrive.errors import ConfigError
from tap_pipedrive.sdk_compat import environment_config

logger = logging.getLogger("tap-pipedrive")

DEFAULT_AUTH_METHOD = "basic"

# Property names of Pipedrive's connection guide, accepted as they are written there.
ALIASES = {
    "APIToken": "api_token",
    "CompanyDomain": "company_domain",
    "AuthScheme": "auth_scheme",
    "InitiateOAuth": "initiate_oauth",
    "OAuthClientId": "oauth_client_id",
    "OAuthClientSecret": "oauth_client_secret",
    "CallbackURL": "callback_url",
    "OAuthAccessToken": "oauth_access_token",
    "OAuthRefreshToken": "oauth_refresh_token",
    "OAuthVerifier": "oauth_verifier",
    "OAuthSettingsLocation": "oauth_settings_location",
}


def common_settings(auth_methods: list[str]) -> list[th.Property]:
    return [
        th.Property(
            "auth_method",
            th.StringType,
            default=DEFAULT_AUTH_METHOD,
            allowed_values=auth_methods,
            description="How to authenticate: " + ", ".join(auth_methods) + ".",
        ),
        th.Property(
            "company_domain",
            th.StringType,
            description="Company subdomain: 'acme' for https://acme.pipedrive.com.",
        ),
        th.Property(
            "api_url",
            th.StringType,
            description="Overrides the API base URL (the sandbox, a proxy), e.g. "
            "http://127.0.0.1:8750.",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            description="Earliest update_time to extract on a first run (RFC 3339).",
        ),
        th.Property(
            "unknown_settings",
            th.StringType,
            default="error",
            allowed_values=["error", "warn"],
            description="What a setting name the tap does not know does: error (the run "
            "does not start: a misspelt start_date would backfill from the beginning and "
            "spend the day's API budget) or warn (a warning line, and the setting is ignored).",
        ),
    ]


def normalize(config: Mapping[str, Any]) -> dict[str, Any]:
    """Rename guide-style keys to the tap's own (an explicit snake_case key wins), and turn
    AuthScheme/InitiateOAuth into `auth_method` unless that is given."""
    out = dict(config)
    for alias, key in ALIASES.items():
        if alias in out:
            value = out.pop(alias)
            out.setdefault(key, value)
    if isinstance(out.get("initiate_oauth"), str):
        out["initiate_oauth"] = out["initiate_oauth"].strip().upper()
    method = auth_method_for_scheme(out)
    out.pop("auth_scheme", None)
    if method and not out.get("auth_method"):
        out["auth_method"] = method
    return out


def env_config(schema: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Settings from `<prefix><SETTING>` variables (`--config ENV`, Meltano's `commands:`):
    objects and lists as JSON, booleans as true/false (also 1/0, yes/no, on/off), numbers.

    The SDK finds the variables (and reads `.env`); the values are parsed here because the
    SDK leaves numbers as text (then refused: `request_timeout=0.5`), crashes on an integer
    that is not one, reads any unknown word as false, and reports bad JSON as a bad --config
    file. Text that does not parse stays text, for validation to name the setting in one
    line; an empty one leaves the setting unset. `normalize` applies as to a config file
    (e.g. initiate_oauth in any case). Wired as the tap's `env_var_config`.
    """
    properties = schema.get("properties") or {}
    typed = {name: kind for name, prop in properties.items() if (kind := _env_kind(prop))}
    as_text = {name: {"type": ["string", "null"]} if name in typed else prop
               for name, prop in properties.items()}
    load_dotenv(Path.cwd() / ".env", prefix)
    # os.devnull: the SDK would also read a .env found by walking up from its own files
    # (the virtual environment's project) and let it override exported variables.
    values = environment_config({**schema, "properties": as_text}, prefix,
                                dotenv_path=os.devnull)
    for name, kind in typed.items():
        if isinstance(values.get(name), str):
            if values[name].strip():
                values[name] = _from_text(values[name], kind)
            else:  # `TAP_PIPEDRIVE_MAX_TOKENS_PER_RUN=` leaves the setting unset
                del values[name]
    return normalize(values)


def load_dotenv(path: Path, prefix: str) -> None:
    """`<prefix>*` variables from the .env file in the current directory (a Meltano
    project's), for those not exported: an exported variable always wins, and a .env that
    says otherwise is named in a warning. No other .env is read (none found by walking up
    directories)."""
    if not path.is_file():
        return
    for name, value in dotenv_values(path).items():
        if not name.startswith(prefix) or value is None:
            continue
        if name not in os.environ:
            os.environ[name] = value
        elif os.environ[name] != value:
            logger.warning("%s is exported and also set in %s: the exported value is used",
                           name, path)


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _env_kind(prop: Mapping[str, Any]) -> str | None:
    """The one non-string JSON type of a setting, if it has exactly one."""
    types = prop.get("type")
    kinds = set(types if isinstance(types, list) else [types]) - {"null", None}
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    return kind if kind in ("integer", "number", "boolean", "object", "array") else None


def _from_text(text: str, kind: str) -> Any:
    """The value of a variable's text, or the text itself when it is not one."""
    word = text.strip()
    if kind == "boolean":
        return True if word.lower() in _TRUE else False if word.lower() in _FALSE else text
    if kind in ("integer", "number"):
        for parse in (int, float) if kind == "number" else (int,):
            try:
                number = parse(word)
            except ValueError:
                continue
            return number if math.isfinite(number) else text
        return text
    try:
        value = json.loads(word)
    except ValueError:
        return text
    return value if isinstance(value, dict if kind == "object" else list) else text


def auth_method_for_scheme(config: Mapping[str, Any]) -> str | None:
    """The connection guide's AuthScheme and InitiateOAuth as one of the built-in methods.

    Basic: basic. OAuth with GETANDREFRESH: oauth-desktop (the tap obtains the tokens in the
    browser). OAuth with OFF or no InitiateOAuth: oauth-web (the caller supplies the tokens).
    OAuth with REFRESH: oauth-web when the config carries tokens, else oauth-headless (a
    verifier, or a settings file made elsewhere).
    """
    scheme = str(config.get("auth_scheme") or "").strip().lower()
    if not scheme:
        return None
    if scheme == "basic":
        return "basic"
    if scheme != "oauth":
        raise ConfigError(f"AuthScheme must be Basic or OAuth; got {config['auth_scheme']!r}")
    mode = config.get("initiate_oauth") or "OFF"
    if mode == "GETANDREFRESH":
        return "oauth-desktop"
    has_tokens = config.get("oauth_access_token") or config.get("oauth_refresh_token")
    return "oauth-headless" if mode == "REFRESH" and not has_tokens else "oauth-web"


_SUBDOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def api_base(config: Mapping[str, Any], oauth_api_domain: str | None = None) -> str:
    """The API root: `api_url`, else OAuth's `api_domain`, else the company domain."""
    if url := config.get("api_url"):
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(
                f"api_url must be an http(s) URL such as https://acme.pipedrive.com; got {url!r}"
            )
        return url.rstrip("/")
    if oauth_api_domain:
        return oauth_api_domain.rstrip("/")
    domain = config.get("company_domain")
    if not domain:
        raise ConfigError(
            "set company_domain (e.g. 'acme' for https://acme.pipedrive.com) or api_url"
        )
    if not _SUBDOMAIN.match(domain):
        raise ConfigError(
            f"company_domain must be the subdomain only, e.g. 'acme' for "
            f"https://acme.pipedrive.com; got {domain!r}"
        )
    return f"https://{domain}.pipedrive.com"
