"""The desktop login's listener against hostile local clients: a connection that hangs, a
callback without the login's state, escape sequences in a callback, a page that claims
success before the exchange; and `--timeout` while the BROWSER command never returns.
Each runs the installed command with a scripted browser, bounded in time."""

from __future__ import annotations

import os
import signal
import stat
import sys
import textwrap
from contextlib import suppress

import pytest
from helpers import run_tap
from oauth_helpers import issued_secrets, oauth_config, start_sandbox

PRELUDE = """#!{python}
import os, socket, subprocess, sys, time, urllib.error, urllib.request
from urllib.parse import parse_qs, urlencode, urlparse
url = sys.argv[1]
query = {{k: v[0] for k, v in parse_qs(urlparse(url).query).items()}}
callback = urlparse(query["redirect_uri"])
port = callback.port
out = {out!r}
for fd in (1, 2):  # hold none of the tap's pipes: the test waits for them to close
    os.dup2(os.open(os.devnull, os.O_RDWR), fd)

def get(address):
    try:
        with urllib.request.urlopen(address, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()

def note(name, text):
    with open(os.path.join(out, name), "w") as handle:
        handle.write(str(text))
"""


def browser(tmp_path, body: str) -> dict[str, str]:
    """BROWSER: a script that runs `body` with the authorization `url`, the callback's
    `port`, `get(url)` and `note(name, text)` (a file in tmp_path)."""
    script = tmp_path / "browser.py"
    script.write_text(PRELUDE.format(python=sys.executable, out=str(tmp_path))
                      + textwrap.dedent(body))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"BROWSER": str(script), "DISPLAY": "", "WAYLAND_DISPLAY": ""}


def kill_noted(tmp_path, name: str) -> None:
    with suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int((tmp_path / name).read_text()), signal.SIGKILL)


@pytest.fixture
def sb(make_sandbox):
    return start_sandbox(make_sandbox)


def login(sb, tmp_path, env, *args, timeout=90, **extra):
    config = oauth_config(sb, tmp_path, auth_method="oauth-desktop", **extra)
    return run_tap(tmp_path, config, "auth", "login", *args, env=env, timeout=timeout)


HANGING_CLIENT = """
holder = subprocess.Popen([sys.executable, "-c", '''
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /callback?state=x HTTP/1.1\\\\r\\\\n")  # and never the rest
print("connected", flush=True)
time.sleep(120)
''', str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True)
note("holder.pid", holder.pid)
holder.stdout.readline()  # connected: it is first in line
note("page", get(url)[1])
"""


def test_a_hanging_connection_does_not_block_the_login(sb, tmp_path):
    try:
        run = login(sb, tmp_path, browser(tmp_path, HANGING_CLIENT), "--timeout", "40",
                    timeout=80)
    finally:
        kill_noted(tmp_path, "holder.pid")
    assert run.returncode == 0, run.stderr
    assert "Authorized" in run.stdout
    assert "tap-pipedrive is authorized" in (tmp_path / "page").read_text()


def test_timeout_counts_from_the_start_not_from_the_browser_command(sb, tmp_path):
    never_returns = 'note("browser.pid", os.getpid())\ntime.sleep(120)\n'
    try:
        run = login(sb, tmp_path, browser(tmp_path, never_returns), "--timeout", "2",
                    timeout=60)
    finally:
        kill_noted(tmp_path, "browser.pid")
    assert run.returncode == 1
    assert "within 2 s" in run.stderr.strip().splitlines()[-1]


FORGED_FIRST = """
forged = {"error": "access_denied", "state": "not-the-state"}
status, _ = get(f"http://127.0.0.1:{port}{callback.path}?{urlencode(forged)}")
note("forged-status", status)
status, _ = get(f"http://127.0.0.1:{port}{callback.path}?error=access_denied")
note("stateless-status", status)
get(url)
"""


def test_a_callback_without_the_state_is_refused_and_the_login_goes_on(sb, tmp_path):
    run = login(sb, tmp_path, browser(tmp_path, FORGED_FIRST), "--timeout", "40")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "forged-status").read_text() == "400"
    assert (tmp_path / "stateless-status").read_text() == "400"


ESCAPES = """
state = query["state"]
error = "\\x1b]0;owned\\x07\\x1b[2J\\x1b[31mred\\u202e"
get(f"http://127.0.0.1:{port}{callback.path}?{urlencode({'error': error, 'state': state})}")
"""


def test_only_printable_text_from_a_callback_reaches_the_terminal(sb, tmp_path):
    run = login(sb, tmp_path, browser(tmp_path, ESCAPES), "--timeout", "40")
    last = run.stderr.strip().splitlines()[-1]
    assert run.returncode == 1 and last.startswith("tap-pipedrive: error:")
    assert "error=]0;owned" in last and "red" in last
    for char in ("\x1b", "\x07", "\u202e"):
        assert char not in run.stderr + run.stdout


def test_the_page_says_authorized_only_after_the_exchange(sb, tmp_path):
    body = 'note("page", get(url)[1])\n'
    run = login(sb, tmp_path, browser(tmp_path, body), "--timeout", "40",
                oauth_client_secret="cs-wrong-LEAKCHECK-1")  # the exchange will fail
    assert run.returncode == 1
    assert "oauth_client_secret" in run.stderr.strip().splitlines()[-1]
    page = (tmp_path / "page").read_text()
    assert "Authorization failed" in page and "authorized" not in page
    assert not [s for s in issued_secrets(sb) if s in run.stderr + run.stdout]
