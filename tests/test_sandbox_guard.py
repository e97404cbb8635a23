"""The sandbox against a hostile browser page and hostile clients: admin and OAuth endpoints
refuse a foreign Host (DNS rebinding) or Origin (a page posting to 127.0.0.1); the request log
is a bounded ring; Content-Length is checked, never trusted into a hang."""

from __future__ import annotations

import socket

import pytest
import requests

from tap_pipedrive_sandbox import Sandbox
from tap_pipedrive_sandbox import server as sandbox_server


@pytest.fixture
def sb():
    with Sandbox(records=5) as sandbox:
        yield sandbox


def port(sb) -> int:
    return int(sb.url.rsplit(":", 1)[1])


@pytest.mark.parametrize("path", ["/_sandbox/requests/reset", "/oauth/token"])
@pytest.mark.parametrize("headers", [{"Host": "attacker.example"},
                                     {"Host": "attacker.example:80"},
                                     {"Origin": "http://attacker.example"},
                                     {"Origin": "null"}])
def test_foreign_host_or_origin_is_refused(sb, path, headers):
    answer = requests.post(sb.url + path, headers=headers, timeout=10)
    assert answer.status_code == 403, answer.text


def test_own_host_and_origin_are_served(sb):
    for host in (f"127.0.0.1:{port(sb)}", f"localhost:{port(sb)}"):
        answer = requests.post(f"{sb.url}/_sandbox/requests/reset", timeout=10,
                               headers={"Host": host, "Origin": f"http://{host}"})
        assert answer.status_code == 200, answer.text
    authorize = requests.get(f"{sb.url}/oauth/authorize", allow_redirects=False, timeout=10,
                             params={"client_id": sb.client_id,
                                     "redirect_uri": "http://127.0.0.1:9/cb"})
    assert authorize.status_code == 302


def test_a_refused_admin_call_changes_nothing(sb):
    before = len(sb.data.records("deals"))
    requests.post(f"{sb.url}/_sandbox/create", json={"entity": "deals", "count": 3},
                  headers={"Origin": "http://attacker.example"}, timeout=10)
    assert len(sb.data.records("deals")) == before


def test_the_request_log_is_a_bounded_ring(monkeypatch):
    monkeypatch.setattr(sandbox_server, "REQUEST_LOG_SIZE", 5)
    with Sandbox(records=5) as sb:
        for offset in range(8):
            requests.get(f"{sb.url}/api/v1/users", params={"start": offset}, timeout=10,
                         headers={"x-api-token": sb.api_token})
        logged = sb.requests
    assert len(logged) == 5
    assert [r["query"]["start"] for r in logged] == ["3", "4", "5", "6", "7"]


def raw(sb, head: str) -> bytes:
    """Send a request head (and no body) and read the answer; bounded by a socket timeout."""
    with socket.create_connection(("127.0.0.1", port(sb)), timeout=10) as conn:
        conn.sendall(head.encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(("length", "status"), [
    ("abc", 400), ("-1", 400), ("1e3", 400), ("12, 13", 400),
    (str(10 ** 12), 413), (None, 411),
])
def test_content_length_is_checked(sb, length, status):
    header = "" if length is None else f"Content-Length: {length}\r\n"
    head = (f"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1:{port(sb)}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n{header}\r\n")
    answer = raw(sb, head)  # the server answers and closes: recv() ends
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]
