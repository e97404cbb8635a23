"""Shared by the OAuth tests: sandbox settings with distinctive secrets, a scripted browser,
a code obtained the way a browser would, and a scan for secrets in whatever was printed."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests
from helpers import free_port

from tap_pipedrive_sandbox import Sandbox

# Distinctive, so that a leak is found by a plain substring search.
CLIENT_SECRET = "cs-LEAKCHECK-7c41e09b"
API_TOKEN = "api-LEAKCHECK-52d8aa11"


def start_sandbox(make_sandbox, **options: Any) -> Sandbox:
    options = {"records": 60, "client_secret": CLIENT_SECRET, "api_token": API_TOKEN, **options}
    return make_sandbox(**options)


def oauth_config(sb: Sandbox, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """An OAuth app on the sandbox; a free loopback port for each test's callback."""
    return {
        "oauth_client_id": sb.client_id,
        "oauth_client_secret": sb.client_secret,
        "oauth_url": sb.url,
        "callback_url": f"http://127.0.0.1:{free_port()}/callback",
        "oauth_settings_location": str(tmp_path / "OAuthSettings.txt"),
        **extra,
    }


BROWSER_SCRIPT = """#!{python}
# A stand-in for the system browser: open the page and follow redirects, like a user who
# clicks Allow. MODE=ignore never calls back; MODE=forge-state alters the state;
# MODE=record keeps the page it was shown (or how that failed) in <this script>.shown.
import sys, urllib.error, urllib.request
from urllib.parse import urlencode, urlparse, parse_qs, urlunparse
url = sys.argv[1]
mode = {mode!r}
if mode == "ignore":
    sys.exit(0)
if mode == "record":
    try:
        shown = urllib.request.urlopen(url, timeout=30).read().decode()
    except Exception as exc:
        shown = f"failed: {{exc!r}}"
    open(__file__ + ".shown", "w").write(shown)
    sys.exit(0)
if mode == "forge-state":
    parts = urlparse(url)
    query = {{k: v[0] for k, v in parse_qs(parts.query).items()}}
    query["state"] = "forged"
    url = urlunparse(parts._replace(query=urlencode(query)))
try:
    urllib.request.urlopen(url, timeout=30).read()
except urllib.error.HTTPError:  # a page refused (a forged state): what a browser shows
    pass
"""


def browser_env(tmp_path: Path, mode: str = "follow") -> dict[str, str]:
    """BROWSER for the tap's `webbrowser`: an executable script (BROWSER takes no arguments)."""
    script = tmp_path / f"browser-{mode}.py"
    script.write_text(BROWSER_SCRIPT.format(python=sys.executable, mode=mode))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"BROWSER": str(script), "DISPLAY": "", "WAYLAND_DISPLAY": ""}


def no_browser_env() -> dict[str, str]:
    return {"BROWSER": "false", "DISPLAY": "", "WAYLAND_DISPLAY": ""}


def authorize_in_browser(authorization_url: str) -> str:
    """What a user does on a machine with a browser: open the URL, allow, copy the code."""
    response = requests.get(authorization_url, allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text
    query = parse_qs(urlparse(response.headers["Location"]).query)
    return query["code"][0]


def write_config(tmp_path: Path, config: dict[str, Any], name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


def issued_secrets(sb: Sandbox) -> set[str]:
    """Every secret the sandbox knows of: client secret, API token, every token it issued."""
    oauth = sb.oauth
    with oauth._lock:  # test-only peek at the sandbox's token tables
        tokens = set(oauth._access) | set(oauth._refresh) | set(oauth._codes)
    return {sb.client_secret, sb.api_token, *tokens}


def assert_no_secret(text: str, secrets: set[str]) -> None:
    leaked = [s[:6] + "..." for s in secrets if s and s in text]
    assert not leaked, f"secret(s) {leaked} found in output"


def file_mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)
