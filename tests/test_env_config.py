"""Every setting works from the environment: `tap-pipedrive --config ENV` (and the `auth`
commands Meltano's `commands:` run, which get settings only as variables) read
TAP_PIPEDRIVE_<SETTING>, with objects and lists as JSON, booleans as true/false, numbers as
text.

For each setting of `--about`: the tap parses the variable into the right value and type
(in-process), and, wherever a behaviour is cheap to see, a run configured by the environment
alone shows that the value took effect."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from helpers import TAP
from oauth_helpers import authorize_in_browser, free_port

from tap_pipedrive import config as settings
from tap_pipedrive.auth.oauth import OAuthApp, OAuthClient
from tap_pipedrive.auth.token_file import TokenFile
from tap_pipedrive.auth.tokens import Tokens
from tap_pipedrive.tap import TapPipedrive

PREFIX = "TAP_PIPEDRIVE_"
TOKEN = "sandbox-api-token"

# setting -> (the variable's text, the value the tap must read from it)
SAMPLES: dict[str, tuple[str, Any]] = {
    "auth_method": ("oauth-web", "oauth-web"),
    "company_domain": ("acme", "acme"),
    "api_url": ("http://127.0.0.1:9", "http://127.0.0.1:9"),
    "start_date": ("2024-01-31T00:00:00Z", "2024-01-31T00:00:00Z"),
    "unknown_settings": ("warn", "warn"),
    "api_token": ("env-token", "env-token"),
    "token_command": ("echo env-token", "echo env-token"),
    "token_command_kind": ("bearer", "bearer"),
    "token_command_timeout": ("7", 7),
    "initiate_oauth": ("REFRESH", "REFRESH"),
    "oauth_client_id": ("env-client", "env-client"),
    "oauth_client_secret": ("env-secret", "env-secret"),
    "callback_url": ("http://127.0.0.1:9999/cb", "http://127.0.0.1:9999/cb"),
    "oauth_access_token": ("env-access", "env-access"),
    "oauth_refresh_token": ("env-refresh", "env-refresh"),
    "oauth_verifier": ("env-code", "env-code"),
    "oauth_settings_location": ("/tmp/tap-pipedrive-env/OAuthSettings.txt",
                                "/tmp/tap-pipedrive-env/OAuthSettings.txt"),
    "oauth_url": ("https://oauth.example.test", "https://oauth.example.test"),
    "max_tokens_per_run": ("500", 500),
    "max_retries": ("0", 0),
    "retry_backoff_seconds": ("0.5", 0.5),
    "max_rate_limit_wait": ("10", 10),
    "request_timeout": ("2.5", 2.5),
    "max_response_bytes": ("2048", 2048),
    "progress_interval": ("0.5", 0.5),
    "max_parallel_requests": ("2", 2),
    "window_overhead_percent": ("5", 5),
    "custom_field_names": ('{"ab12": "pinned"}', {"ab12": "pinned"}),
    "custom_field_raw_keys": ("true", True),
    "custom_field_option_labels": ("true", True),
    "sdk_conformance": ("true", True),
    "undeclared_properties": ("catch_all", "catch_all"),
    "stream_maps": ('{"users": {"__filter__": "id == 1"}}',
                    {"users": {"__filter__": "id == 1"}}),
    "stream_map_config": ('{"keep": 2}', {"keep": 2}),
    "faker_config": ('{"seed": 3, "locale": "de_DE"}', {"seed": 3, "locale": "de_DE"}),
    "flattening_enabled": ("true", True),
    "flattening_max_depth": ("2", 2),
    "flattening_max_key_length": ("20", 20),
    "flattening_separator": (".", "."),
    "batch_config": ('{"encoding": {"format": "jsonl", "compression": "none"}}',
                     {"encoding": {"format": "jsonl", "compression": "none"}}),
}
# Settings added by the example auth plugin (plugins/tap-pipedrive-auth-command), present
# only where it is installed.
PLUGIN_SETTINGS = {"token_command", "token_command_kind", "token_command_timeout"}

# The SDK leaves numbers from the environment as text (it parses integers, booleans, objects
# and lists only), so validation refuses them; a bad integer crashes it. `config.env_config`
# parses every kind; the tap uses it once tap.py defines `env_var_config` with it.
ENV_CONFIG_WIRED = "env_var_config" in TapPipedrive.__dict__
needs_env_config = pytest.mark.xfail(
    not ENV_CONFIG_WIRED, strict=True,
    reason="needs tap.py to use config.env_config as TapPipedrive.env_var_config")


def about_settings() -> dict[str, dict]:
    schema = TapPipedrive.config_jsonschema
    TapPipedrive.append_builtin_config(schema)
    return schema["properties"]


NUMBERS = {name for name, prop in about_settings().items()
           if settings._env_kind(prop) == "number"}


def params(names) -> list:
    return [pytest.param(n, marks=needs_env_config) if n in NUMBERS else n
            for n in sorted(names)]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}


def tap(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """The tap with settings from the environment only (no config file)."""
    return subprocess.run([TAP, *args], capture_output=True, text=True, timeout=timeout,
                          env={**clean_env(), **env}, stdin=subprocess.DEVNULL)


def messages(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def records(out: str, stream: str) -> list[dict]:
    return [m["record"] for m in messages(out) if m["type"] == "RECORD" and m["stream"] == stream]


def schema_keys(out: str, stream: str) -> set[str]:
    (schema,) = [m["schema"] for m in messages(out) if m["type"] == "SCHEMA"
                 and m["stream"] == stream]
    return set(schema["properties"])


def discovered(out: str, stream: str) -> dict[str, dict]:
    (entry,) = [s for s in json.loads(out)["streams"] if s["tap_stream_id"] == stream]
    return entry["schema"]["properties"]


# -- every setting is parsed from its variable -------------------------------------------------


def test_every_setting_has_a_sample_and_a_proof():
    names = set(about_settings())
    assert names <= set(SAMPLES), f"add a sample for {sorted(names - set(SAMPLES))}"
    assert set(SAMPLES) - names <= PLUGIN_SETTINGS
    assert set(SAMPLES) == set(PROOFS) | set(PARSED_ONLY)
    assert not set(PROOFS) & set(PARSED_ONLY)


@pytest.mark.parametrize("name", params(SAMPLES))
def test_setting_is_parsed_from_env(name, monkeypatch):
    if name not in about_settings():
        pytest.skip(f"the tap has no setting {name} (a plugin not installed?)")
    text, value = SAMPLES[name]
    for key in [k for k in os.environ if k.startswith(PREFIX)]:
        monkeypatch.delenv(key)
    monkeypatch.setenv(f"{PREFIX}API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv(f"{PREFIX}API_TOKEN", "t")
    monkeypatch.setenv(PREFIX + name.upper(), text)
    tap_ = TapPipedrive(config=None, parse_env_config=True, setup_mapper=False)  # validated
    assert tap_.config[name] == value
    assert type(tap_.config[name]) is type(value)


def test_env_config_parses_every_kind(monkeypatch):
    """Numbers too (the SDK leaves them as text); text that is not a value of the setting's
    kind stays text, for validation to name; empty is unset; normalized as a config file."""
    for key in [k for k in os.environ if k.startswith(PREFIX)]:
        monkeypatch.delenv(key)
    env = {"REQUEST_TIMEOUT": "2.5", "RETRY_BACKOFF_SECONDS": "0", "MAX_RETRIES": " 3 ",
           "INITIATE_OAUTH": "refresh", "API_URL": "http://127.0.0.1:9",
           "CUSTOM_FIELD_RAW_KEYS": "False", "CUSTOM_FIELD_OPTION_LABELS": "yes",
           "FLATTENING_ENABLED": "ture", "MAX_RATE_LIMIT_WAIT": "soon",
           "CUSTOM_FIELD_NAMES": "{bad", "STREAM_MAP_CONFIG": "[1]", "MAX_TOKENS_PER_RUN": "",
           "PROGRESS_INTERVAL": "nan"}
    for key, value in env.items():
        monkeypatch.setenv(PREFIX + key, value)
    schema = TapPipedrive.config_jsonschema
    TapPipedrive.append_builtin_config(schema)
    parsed = settings.env_config(schema, PREFIX)
    assert parsed == {
        "request_timeout": 2.5, "retry_backoff_seconds": 0, "max_retries": 3,
        "initiate_oauth": "REFRESH", "api_url": "http://127.0.0.1:9",
        "custom_field_raw_keys": False, "custom_field_option_labels": True,
        "flattening_enabled": "ture", "max_rate_limit_wait": "soon",
        "custom_field_names": "{bad", "stream_map_config": "[1]",
        **({"progress_interval": "nan"} if "progress_interval" in schema["properties"] else {}),
    }


@pytest.mark.parametrize(("variable", "value", "says"), [
    # The SDK alone: a traceback; reads the word as false; blames a --config file.
    pytest.param("MAX_RETRIES", "soon", "max_retries must be an integer",
                 marks=needs_env_config),
    pytest.param("CUSTOM_FIELD_RAW_KEYS", "ture", "custom_field_raw_keys must be true or false",
                 marks=needs_env_config),
    pytest.param("CUSTOM_FIELD_NAMES", "{bad", "custom_field_names must be an object",
                 marks=needs_env_config),
    ("REQUEST_TIMEOUT", "soon", "request_timeout must be a number"),
])
def test_a_bad_value_from_env_is_named_in_one_line(variable, value, says):
    env = {f"{PREFIX}API_URL": "http://127.0.0.1:9", f"{PREFIX}API_TOKEN": "t",
           f"{PREFIX}MAX_RETRIES": "0"}  # should the value pass, fail fast: nothing listens
    done = tap("--config", "ENV", env={**env, PREFIX + variable: value})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == f"tap-pipedrive: error: invalid settings: {says}"


# -- and takes effect -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog(shared_sandbox, tmp_path_factory) -> Callable[..., str]:
    """A catalog of the shared sandbox selecting only the given streams (a file path)."""
    folder = tmp_path_factory.mktemp("catalogs")
    found = tap("--config", "ENV", "--discover", env=sandbox_env(shared_sandbox))
    assert found.returncode == 0, found.stderr[-2000:]
    full = json.loads(found.stdout)

    def select(*streams: str) -> str:
        chosen = json.loads(json.dumps(full))
        for entry in chosen["streams"]:
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = entry["tap_stream_id"] in streams
        path = folder / f"{'-'.join(streams)}.json"
        path.write_text(json.dumps(chosen))
        return str(path)

    select.full = full  # type: ignore[attr-defined]
    return select


def sandbox_env(sb, **settings_: str) -> dict[str, str]:
    env = {"API_URL": sb.url, "API_TOKEN": TOKEN, **settings_}
    return {PREFIX + key.upper(): value for key, value in env.items()}


def custom_key(catalog, stream: str, column: str) -> str:
    description = discovered(json.dumps(catalog.full), stream)[column]["description"]
    return re.search(r"Pipedrive key: (\w{40})", description).group(1)


class Proof:
    """What a proof gets: the shared sandbox, a catalog maker, a fresh sandbox maker."""

    def __init__(self, shared, catalog, make_sandbox, tmp_path: Path) -> None:
        self.sb, self.catalog, self.make_sandbox, self.tmp = shared, catalog, make_sandbox, tmp_path

    def sync(self, *streams: str, **settings_: str) -> subprocess.CompletedProcess:
        return tap("--config", "ENV", "--catalog", self.catalog(*streams),
                   env=sandbox_env(self.sb, **settings_))

    def discover(self, **settings_: str) -> subprocess.CompletedProcess:
        return tap("--config", "ENV", "--discover", env=sandbox_env(self.sb, **settings_))

    def auth(self, command: str, **settings_: str) -> subprocess.CompletedProcess:
        """`tap-pipedrive auth <command>`, no --config: how Meltano runs `commands:`."""
        env = {PREFIX + key.upper(): value for key, value in settings_.items()}
        return tap("auth", *command.split(), env=env)


OAUTH = {"auth_method": "oauth-web", "oauth_client_id": "env-client",
         "oauth_client_secret": "env-secret"}


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def prove_api_url_and_token(p: Proof) -> None:
    users = records(ok(p.sync("users")), "users")  # the sandbox answers 401 to another token
    assert sorted(u["id"] for u in users) == sorted(u["id"] for u in p.sb.data.records("users"))


def prove_company_domain(p: Proof) -> None:
    out = ok(p.auth("status", api_token="t", company_domain="acme"))
    assert "company_domain: acme" in out and "api_token: set (not shown)" in out


def prove_auth_method(p: Proof) -> None:
    assert "auth_method: oauth-web" in ok(p.auth("status", **OAUTH))


def prove_start_date(p: Proof) -> None:
    products = sorted(p.sb.data.records("products"), key=lambda r: r["update_time"])
    start = products[len(products) // 2]["update_time"]
    got = records(ok(p.sync("products", start_date=start)), "products")
    assert got and len(got) < len(products)
    assert min(r["update_time"] for r in got) >= start


def prove_initiate_oauth(p: Proof) -> None:
    assert "initiate_oauth: REFRESH" in ok(p.auth("status", **OAUTH, initiate_oauth="REFRESH"))


def prove_oauth_client_id(p: Proof) -> None:
    url = ok(p.auth("url", **OAUTH)).strip()
    assert parse_qs(urlparse(url).query)["client_id"] == ["env-client"]


def prove_oauth_client_secret(p: Proof) -> None:
    """The settings file opens only with the secret it was written with: the env's."""
    path = p.tmp / "OAuthSettings.txt"
    TokenFile(path, "env-secret").save(Tokens(access_token="a", scope="from-the-file"))
    out = ok(p.auth("status", **OAUTH, oauth_settings_location=str(path)))
    assert "scope: from-the-file" in out
    wrong = p.auth("status", **{**OAUTH, "oauth_client_secret": "other"},
                   oauth_settings_location=str(path))
    assert wrong.returncode == 1 and "another oauth_client_secret" in wrong.stderr


def prove_callback_url(p: Proof) -> None:
    url = ok(p.auth("url", **OAUTH, callback_url="http://127.0.0.1:9999/cb")).strip()
    assert parse_qs(urlparse(url).query)["redirect_uri"] == ["http://127.0.0.1:9999/cb"]


def prove_oauth_url(p: Proof) -> None:
    url = ok(p.auth("url", **OAUTH, oauth_url="https://oauth.example.test")).strip()
    assert url.startswith("https://oauth.example.test/oauth/authorize?")


def prove_oauth_access_token(p: Proof) -> None:
    out = ok(p.auth("status", **OAUTH, oauth_access_token="env-access"))
    assert "tokens: from the config" in out and "refresh_token: none" in out


def prove_oauth_refresh_token(p: Proof) -> None:
    out = ok(p.auth("status", **OAUTH, oauth_refresh_token="env-refresh"))
    assert "tokens: from the config" in out and "refresh_token: present" in out


def prove_oauth_verifier(p: Proof) -> None:
    """oauth-headless exchanges the code from the environment and connects."""
    sb = p.make_sandbox(records=20)
    callback = f"http://127.0.0.1:{free_port()}/callback"
    app = OAuthApp(sb.client_id, sb.client_secret, callback, sb.url)
    code = authorize_in_browser(OAuthClient(app).authorization_url("s"))
    out = ok(p.auth("test", auth_method="oauth-headless", oauth_client_id=sb.client_id,
                    oauth_client_secret=sb.client_secret, oauth_url=sb.url,
                    callback_url=callback, oauth_verifier=code,
                    oauth_settings_location=str(p.tmp / "headless.txt")))
    assert out.startswith("OK: oauth-headless is connected")


def prove_oauth_settings_location(p: Proof) -> None:
    path = p.tmp / "elsewhere.txt"
    out = ok(p.auth("status", **OAUTH, oauth_settings_location=str(path)))
    assert f"settings_file: {path} (absent)" in out


def prove_max_tokens_per_run(p: Proof) -> None:
    done = p.sync("users", max_tokens_per_run="5")
    assert done.returncode == 75, done.stderr[-2000:]
    assert "max_tokens_per_run=5" in done.stderr


def failing_users(p: Proof):
    return p.make_sandbox(records=20, fault_rate=1.0, fault_kinds=["500"],
                          fault_paths=["/api/v1/users"])


def prove_max_retries(p: Proof) -> None:
    sb = failing_users(p)
    done = tap("--config", "ENV", "--catalog", p.catalog("users"),
               env=sandbox_env(sb, max_retries="0"))
    assert done.returncode == 1
    assert len([r for r in sb.requests if r["path"] == "/api/v1/users"]) == 1  # default: 6


def prove_retry_backoff_seconds(p: Proof) -> None:
    sb = failing_users(p)
    done = tap("--config", "ENV", "--catalog", p.catalog("users"),
               env=sandbox_env(sb, max_retries="1", retry_backoff_seconds="0.05"))
    assert done.returncode == 1, done.stderr[-2000:]
    (wait,) = re.findall(r"retry 1 of 1 in ([\d.]+) s", done.stderr)
    assert float(wait) < 0.5  # the default (2) waits 1 to 2 s


def prove_request_timeout(p: Proof) -> None:
    sb = p.make_sandbox(records=20, latency=1.5)
    done = tap("--config", "ENV", "--catalog", p.catalog("users"),
               env=sandbox_env(sb, request_timeout="0.2", max_retries="0"))
    assert done.returncode == 1
    assert "no answer within request_timeout" in done.stderr


def prove_max_response_bytes(p: Proof) -> None:
    sb = p.make_sandbox(records=20)
    done = tap("--config", "ENV", "--catalog", p.catalog("users"),
               env=sandbox_env(sb, max_response_bytes="1024", max_retries="0"))
    assert done.returncode == 1
    assert "an answer larger than max_response_bytes=1024" in done.stderr


def prove_custom_field_names(p: Proof) -> None:
    key = custom_key(p.catalog, "deals", "discount_percent")
    deals = discovered(ok(p.discover(custom_field_names=json.dumps({key: "pinned_discount"}))),
                       "deals")
    assert "pinned_discount" in deals and "discount_percent" not in deals


def prove_custom_field_raw_keys(p: Proof) -> None:
    key = custom_key(p.catalog, "deals", "discount_percent")
    deals = discovered(ok(p.discover(custom_field_raw_keys="true")), "deals")
    assert key in deals and "discount_percent" not in deals


def prove_undeclared_properties(p: Proof) -> None:
    assert "_undeclared" not in discovered(json.dumps(p.catalog.full), "deals")
    assert "_undeclared" in discovered(ok(p.discover(undeclared_properties="catch_all")), "deals")


def prove_custom_field_option_labels(p: Proof) -> None:
    by_default = discovered(json.dumps(p.catalog.full), "deals")["lead_source"]
    labels = discovered(ok(p.discover(custom_field_option_labels="true")), "deals")
    assert "integer" in by_default["type"]  # an option id
    assert "string" in labels["lead_source"]["type"]  # its label


def prove_stream_maps(p: Proof) -> None:
    out = ok(p.sync("users", stream_maps=json.dumps({"users": {"__filter__": "id == 1"}})))
    assert [u["id"] for u in records(out, "users")] == [1]


def prove_stream_map_config(p: Proof) -> None:
    maps = {"users": {"__filter__": "id == config['keep']"}}
    out = ok(p.sync("users", stream_maps=json.dumps(maps), stream_map_config='{"keep": 2}'))
    assert [u["id"] for u in records(out, "users")] == [2]


def prove_flattening_enabled(p: Proof) -> None:
    keys = schema_keys(ok(p.sync("goals", flattening_enabled="true",
                                 flattening_max_depth="1")), "goals")
    assert {"duration__start", "type__params"} <= keys and "duration" not in keys


def prove_flattening_max_depth(p: Proof) -> None:
    keys = schema_keys(ok(p.sync("goals", flattening_enabled="true",
                                 flattening_max_depth="2")), "goals")
    assert "type__params__pipeline_id" in keys and "type__params" not in keys


def prove_flattening_separator(p: Proof) -> None:
    keys = schema_keys(ok(p.sync("goals", flattening_enabled="true", flattening_max_depth="1",
                                 flattening_separator=".")), "goals")
    assert "duration.start" in keys and "duration__start" not in keys


def prove_flattening_max_key_length(p: Proof) -> None:
    keys = schema_keys(ok(p.sync("goals", flattening_enabled="true", flattening_max_depth="1",
                                 flattening_max_key_length="12")), "goals")
    assert "expected_outcome__tracking_metric" not in keys
    assert all(len(k) <= 12 for k in keys if "__" in k)


def prove_batch_config(p: Proof) -> None:
    root = p.tmp / "batches"
    root.mkdir()
    config = {"encoding": {"format": "jsonl", "compression": "gzip"},
              "storage": {"root": root.as_uri(), "prefix": "pd-"}}
    out = ok(p.sync("users", batch_config=json.dumps(config)))
    batches = [m for m in messages(out) if m["type"] == "BATCH"]
    assert batches and not records(out, "users")  # the records are in the files instead
    files = [urlparse(url).path for m in batches for url in m["manifest"]]
    assert files and all(Path(f).parent == root and Path(f).name.startswith("pd-") for f in files)
    written = [json.loads(line) for f in files
               for line in gzip.decompress(Path(f).read_bytes()).splitlines()]
    assert sorted(u["id"] for u in written) == sorted(u["id"] for u in p.sb.data.records("users"))


def prove_token_command(p: Proof) -> None:
    out = ok(p.auth("test", auth_method="command", token_command=f"echo {TOKEN}",
                    api_url=p.sb.url))
    assert out.startswith("OK: command is connected")


def prove_token_command_kind(p: Proof) -> None:
    out = ok(p.auth("status", auth_method="command", token_command="true",
                    token_command_kind="bearer"))
    assert "token_command_kind: bearer" in out


def prove_token_command_timeout(p: Proof) -> None:
    done = p.auth("test", auth_method="command", token_command="sleep 5",
                  token_command_timeout="1", api_url=p.sb.url)
    assert done.returncode == 1 and "did not finish within 1 s" in done.stderr


PROOFS: dict[str, Callable[[Proof], None]] = {
    "api_url": prove_api_url_and_token,
    "api_token": prove_api_url_and_token,
    "company_domain": prove_company_domain,
    "auth_method": prove_auth_method,
    "start_date": prove_start_date,
    "initiate_oauth": prove_initiate_oauth,
    "oauth_client_id": prove_oauth_client_id,
    "oauth_client_secret": prove_oauth_client_secret,
    "callback_url": prove_callback_url,
    "oauth_url": prove_oauth_url,
    "oauth_access_token": prove_oauth_access_token,
    "oauth_refresh_token": prove_oauth_refresh_token,
    "oauth_verifier": prove_oauth_verifier,
    "oauth_settings_location": prove_oauth_settings_location,
    "max_tokens_per_run": prove_max_tokens_per_run,
    "max_retries": prove_max_retries,
    "retry_backoff_seconds": prove_retry_backoff_seconds,
    "request_timeout": prove_request_timeout,
    "max_response_bytes": prove_max_response_bytes,
    "custom_field_names": prove_custom_field_names,
    "custom_field_raw_keys": prove_custom_field_raw_keys,
    "custom_field_option_labels": prove_custom_field_option_labels,
    "undeclared_properties": prove_undeclared_properties,
    "stream_maps": prove_stream_maps,
    "stream_map_config": prove_stream_map_config,
    "flattening_enabled": prove_flattening_enabled,
    "flattening_max_depth": prove_flattening_max_depth,
    "flattening_separator": prove_flattening_separator,
    "flattening_max_key_length": prove_flattening_max_key_length,
    "batch_config": prove_batch_config,
    "token_command": prove_token_command,
    "token_command_kind": prove_token_command_kind,
    "token_command_timeout": prove_token_command_timeout,
}
# No behaviour cheap enough to observe: test_setting_is_parsed_from_env is the proof.
PARSED_ONLY = {
    # A 429's wait is at most the 2 s burst window, which is also this setting's minimum
    # (tests/test_ratelimit.py covers the behaviour).
    "max_rate_limit_wait": "needs a 429 asking for a longer wait than the sandbox's window",
    "faker_config": "only used by map expressions with faker installed, which it is not",
    "sdk_conformance": "by design the output is the same with and without it",
    "progress_interval": "progress lines depend on timing; tests/test_progress.py covers them",
    "max_parallel_requests": "by design records, order and state are the same whatever it is",
    "unknown_settings": "no unknown name can come from the environment: only known ones are read",
    "window_overhead_percent": "the same: tests/test_windows.py and test_fast_path.py set it",
}


@pytest.mark.parametrize("name", params(PROOFS))
def test_setting_from_env_takes_effect(name, shared_sandbox, catalog, make_sandbox, tmp_path):
    if name not in about_settings():
        pytest.skip(f"the tap has no setting {name} (a plugin not installed?)")
    PROOFS[name](Proof(shared_sandbox, catalog, make_sandbox, tmp_path))


# -- .env: the current directory's only, and never over an exported variable ----------------

ROOT = Path(__file__).resolve().parent.parent


def tap_in(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([TAP, *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**clean_env(), **env}, stdin=subprocess.DEVNULL)


@pytest.fixture
def dotenv_above_the_venv():
    """A .env beside the virtual environment, as `meltano config set` writes one in the
    project: python-dotenv's find_dotenv, walking up from the SDK's files, finds it."""
    path = ROOT / ".env"
    if path.exists():
        pytest.skip(f"{path} exists; this test would overwrite it")
    path.write_text(f"{PREFIX}API_TOKEN={TOKEN}\n")
    try:
        yield path
    finally:
        path.unlink()


def test_a_dotenv_found_by_walking_up_is_not_read(shared_sandbox, catalog, tmp_path,
                                                  dotenv_above_the_venv):
    wrong = {PREFIX + "API_URL": shared_sandbox.url, PREFIX + "API_TOKEN": "wrong-exported",
             PREFIX + "MAX_RETRIES": "0"}
    done = tap_in(tmp_path, "--config", "ENV", "--catalog", catalog("users"), env=wrong)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "401" in done.stderr.strip().splitlines()[-1]


def test_the_current_directorys_dotenv_never_overrides_an_exported_variable(
        shared_sandbox, catalog, tmp_path):
    (tmp_path / ".env").write_text(f"{PREFIX}API_TOKEN=from-the-dotenv\n"
                                   f"{PREFIX}API_URL={shared_sandbox.url}\n")
    exported = {PREFIX + "API_TOKEN": TOKEN}
    done = tap_in(tmp_path, "--config", "ENV", "--catalog", catalog("users"), env=exported)
    assert done.returncode == 0, done.stderr[-2000:]  # API_URL from .env, the token exported
    assert records(done.stdout, "users")
    assert (f"{PREFIX}API_TOKEN is exported and also set in {tmp_path / '.env'}: the "
            "exported value is used") in done.stderr
