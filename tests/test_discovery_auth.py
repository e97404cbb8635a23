"""Discovery never logs in: Meltano runs it before `meltano invoke tap-pipedrive:login`, so a
login there would ask for consent twice. Without usable credentials the catalog has the
untyped `custom_fields` object, and the log says so; nothing opens a browser, refreshes a
token or exchanges a code."""

from __future__ import annotations

import json
import stat
import sys

from helpers import run_tap
from oauth_helpers import oauth_config

from tap_pipedrive.auth.token_file import TokenFile
from tap_pipedrive.auth.tokens import Tokens

FALLBACK = "Discovery without usable credentials"


def browser(tmp_path):
    marker = tmp_path / "browser-was-opened"
    script = tmp_path / "browser"
    script.write_text(f"#!{sys.executable}\nimport pathlib\n"
                      f"pathlib.Path({str(marker)!r}).write_text('opened')\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {"BROWSER": str(script)}, marker


def untyped_deals(run) -> bool:
    (deals,) = [s for s in json.loads(run.stdout)["streams"] if s["tap_stream_id"] == "deals"]
    return "custom_fields" in deals["schema"]["properties"]


def test_desktop_discovery_without_tokens_never_logs_in(make_sandbox, tmp_path):
    sb = make_sandbox(records=20)
    env, marker = browser(tmp_path)
    config = oauth_config(sb, tmp_path, auth_method="oauth-desktop", api_url=sb.url)
    run = run_tap(tmp_path, config, "--discover", env=env, timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not marker.exists()
    assert FALLBACK in run.stderr and untyped_deals(run)
    assert not [r for r in sb.requests if r["path"].startswith("/oauth")]


def test_discovery_never_refreshes_or_exchanges(make_sandbox, tmp_path):
    """An expired stored token is not refreshed and a verifier is not exchanged."""
    sb = make_sandbox(records=20)
    config = oauth_config(sb, tmp_path, auth_method="oauth-headless", api_url=sb.url,
                          oauth_verifier="a-code-from-elsewhere")
    run = run_tap(tmp_path, config, "--discover", timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]
    assert FALLBACK in run.stderr and untyped_deals(run)
    TokenFile(config["oauth_settings_location"], sb.client_secret).save(
        Tokens(access_token="expired", refresh_token="r", expires_in=1, obtained_at=0))
    run = run_tap(tmp_path, {**config, "oauth_verifier": None}, "--discover", timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]
    assert FALLBACK in run.stderr and untyped_deals(run)
    assert not [r for r in sb.requests if r["path"].startswith("/oauth")]
