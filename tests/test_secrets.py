"""No secret ever shows: the API token, access and refresh tokens, client secret and verifier
are given distinctive values, then every command, flow and error path runs at DEBUG level
(plain and structured logging, `--config FILE` and Meltano-style `--config ENV`), and
everything produced is scanned: stdout, stderr, STATE messages, the catalog, the sandbox's
request log. `auth exchange`/`auth refresh` print tokens on stdout by design (the caller asked
for them); their stderr is scanned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import TapRun, run_tap
from oauth_helpers import (
    API_TOKEN,
    CLIENT_SECRET,
    authorize_in_browser,
    browser_env,
    issued_secrets,
    oauth_config,
    start_sandbox,
)
from resume_helpers import catalog

from tap_pipedrive.auth.token_file import TokenFile
from tap_pipedrive.auth.tokens import Tokens

GIVEN_ACCESS = "at-LEAKCHECK-a1b2c3d4"  # tokens handed in through config
GIVEN_REFRESH = "rt-LEAKCHECK-e5f6a7b8"
GIVEN_VERIFIER = "code-LEAKCHECK-9d8c7b6a"

STRUCTURED = """\
version: 1
disable_existing_loggers: false
formatters:
  structured:
    (): singer_sdk.logging.StructuredFormatter
handlers:
  stderr:
    class: logging.StreamHandler
    formatter: structured
    stream: ext://sys.stderr
root:
  level: DEBUG
  handlers: [stderr]
"""


class Scan:
    """Everything produced, by label; `secrets` grow as the sandbox issues tokens."""

    def __init__(self, tmp_path: Path) -> None:
        self.texts: list[tuple[str, str]] = []
        (tmp_path / "logging.yml").write_text(STRUCTURED)
        self.envs = {
            "debug": {"LOGLEVEL": "DEBUG"},
            "structured": {"LOGLEVEL": "DEBUG",
                           "SINGER_SDK_LOG_CONFIG": str(tmp_path / "logging.yml")},
        }

    def add(self, label: str, run: TapRun, stdout: bool = True) -> TapRun:
        self.texts.append((f"{label} stderr", run.stderr))
        if stdout:
            self.texts.append((f"{label} stdout", run.stdout))
        self.texts.append((f"{label} state", json.dumps(run.states)))
        return run

    def assert_clean(self, secrets: set[str]) -> None:
        secrets = {s for s in secrets if s}
        leaks = [(label, s[:8] + "...") for label, text in self.texts for s in secrets
                 if s in text]
        assert not leaks, f"secrets found: {leaks}"
        assert any("DEBUG" in text or '"levelname"' in text or '"level"' in text
                   for _, text in self.texts), "nothing ran at DEBUG level"


@pytest.fixture
def scan(tmp_path) -> Scan:
    return Scan(tmp_path)


def test_api_token_paths(make_sandbox, tmp_path, scan):
    """Every command with an API token, alternately at plain DEBUG and structured logging."""
    modes = iter([scan.envs["debug"], scan.envs["structured"]] * 20)
    sb = start_sandbox(make_sandbox, records=60)
    base = {"api_url": sb.url, "api_token": API_TOKEN, "retry_backoff_seconds": 0.01,
            "max_retries": 2}

    def run(label: str, config: dict | None, *args: str, env: dict | None = None, **kw):
        return scan.add(label, run_tap(tmp_path, config, *args, env={**next(modes), **(env or {})},
                                       **kw))

    # Sync, discovery, about, and a Meltano-style run whose settings arrive as variables.
    sync = run("sync", base)
    assert sync.returncode == 0, sync.stderr
    run("discover", base, "--discover")
    run("about", base, "--about", "--format", "json")
    via_env = run("config ENV", None, "--config", "ENV",
                  env={"TAP_PIPEDRIVE_API_TOKEN": API_TOKEN, "TAP_PIPEDRIVE_API_URL": sb.url})
    assert via_env.returncode == 0, via_env.stderr
    assert run("resume", base, state=sync.state).returncode == 0
    # Error paths: retries through faults, a budget stop, a wrong token, bad settings.
    sb.faults.configure(rate=0.5, kinds=["500", "reset", "badjson", "html403"], seed=2)
    run("faults", base)
    sb.faults.configure(rate=0)
    run("run cap", {**base, "max_tokens_per_run": 15})
    run("401", {**base, "api_token": API_TOKEN[::-1]})
    run("bad type", {**base, "start_date": 5})
    run("bad method", {**base, "auth_method": "nope"})
    run("bad state", base, state={"x": 1})
    run("auth status", base, "auth", "status")
    run("auth test", base, "auth", "test")
    run("auth test 401", {**base, "api_token": "x" + API_TOKEN}, "auth", "test")
    scan.texts.append(("request log", json.dumps(sb.requests)))
    scan.assert_clean({API_TOKEN, API_TOKEN[::-1], "x" + API_TOKEN})
    assert any("DEBUG" in text for _, text in scan.texts)  # plain format
    assert any('"levelname"' in text or '"level"' in text for _, text in scan.texts)


def test_oauth_paths(make_sandbox, tmp_path, scan):
    env = scan.envs["structured"]
    sb = start_sandbox(make_sandbox)
    config = oauth_config(sb, tmp_path, auth_method="oauth-web", initiate_oauth="REFRESH",
                          api_url=sb.url)
    codes = set()

    url = scan.add("auth url", run_tap(tmp_path, config, "auth", "url", env=env))
    codes.add(code := authorize_in_browser(url.stdout.strip()))
    exchange = scan.add("auth exchange", run_tap(tmp_path, config, "auth", "exchange",
                                                 "--verifier", code, env=env), stdout=False)
    assert exchange.returncode == 0, exchange.stderr
    scan.add("auth status", run_tap(tmp_path, config, "auth", "status", env=env))
    scan.add("auth test", run_tap(tmp_path, config, "auth", "test", env=env))
    scan.add("sync", run_tap(tmp_path, config, env=env))
    sb.expire_access_tokens()
    scan.add("sync + refresh", run_tap(tmp_path, config, env=env))
    refresh = scan.add("auth refresh", run_tap(tmp_path, config, "auth", "refresh", env=env),
                       stdout=False)
    assert refresh.returncode == 0, refresh.stderr
    scan.add("exchange used code", run_tap(tmp_path, config, "auth", "exchange", "--verifier",
                                           code, env=env), stdout=False)
    # Tokens handed in through config, accepted or rejected.
    given = {**config, "oauth_access_token": GIVEN_ACCESS, "oauth_refresh_token": GIVEN_REFRESH,
             "oauth_settings_location": str(tmp_path / "other.txt")}
    scan.add("given tokens", run_tap(tmp_path, given, env=env))
    scan.add("given tokens status", run_tap(tmp_path, given, "auth", "status", env=env))
    # Headless: a verifier in config, exchanged by `auth test`, then a wrong one.
    codes.add(code2 := authorize_in_browser(url.stdout.strip()))
    headless = oauth_config(sb, tmp_path, auth_method="oauth-headless", api_url=sb.url,
                            oauth_verifier=code2,
                            oauth_settings_location=str(tmp_path / "headless.txt"))
    scan.add("headless test", run_tap(tmp_path, headless, "auth", "test", env=env))
    scan.add("headless sync", run_tap(tmp_path, headless, env=env))
    bad = {**headless, "oauth_verifier": GIVEN_VERIFIER,
           "oauth_settings_location": str(tmp_path / "h2.txt")}
    scan.add("bad verifier", run_tap(tmp_path, bad, env=env))
    # Desktop login with a scripted browser.
    desktop = oauth_config(sb, tmp_path, auth_method="oauth-desktop",
                           oauth_settings_location=str(tmp_path / "desk.txt"))
    scan.add("login", run_tap(tmp_path, desktop, "auth", "login",
                              env={**env, **browser_env(tmp_path)}))
    # Settings-file errors and dead tokens.
    TokenFile(tmp_path / "foreign.txt", "another-secret").save(
        Tokens(access_token=GIVEN_ACCESS, refresh_token=GIVEN_REFRESH))
    foreign = {**headless, "oauth_verifier": None,
               "oauth_settings_location": str(tmp_path / "foreign.txt")}
    scan.add("foreign file", run_tap(tmp_path, foreign, env=env))
    sb.revoke_refresh_tokens()
    sb.expire_access_tokens()
    scan.add("revoked", run_tap(tmp_path, config, env=env))
    scan.add("wrong secret", run_tap(tmp_path, {**config, "oauth_client_secret":
                                                CLIENT_SECRET + "-x"}, "auth", "refresh",
                                     env=env))
    scan.texts.append(("request log", json.dumps(sb.requests)))
    for path in tmp_path.glob("*.txt"):  # the settings files are encrypted at rest
        scan.texts.append((path.name, path.read_text()))
    scan.assert_clean(issued_secrets(sb) | codes | {GIVEN_ACCESS, GIVEN_REFRESH,
                                                    GIVEN_VERIFIER, CLIENT_SECRET + "-x"})


def test_catalog_and_state_files_hold_no_secret(make_sandbox, tmp_path):
    sb = start_sandbox(make_sandbox)
    cat = catalog(tmp_path)
    run = run_tap(tmp_path, {"api_url": sb.url, "api_token": API_TOKEN}, "--catalog", str(cat))
    assert run.returncode == 0, run.stderr
    for text in (cat.read_text(), json.dumps(run.state), run.stdout):
        assert API_TOKEN not in text and CLIENT_SECRET not in text
