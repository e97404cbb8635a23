"""Against an API that misbehaves on purpose (tests/hostile_server.py, on 127.0.0.1 and
127.0.0.2), through the console script: credentials never go to another host, waits and
sizes are bounded by settings, paging that loops stops, malformed bodies are retried, and
every failure ends in one line with no secret and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import TapRun, run_tap
from hostile_server import EMPTY, HostileServer, Reply, Request, activity, envelope
from resume_helpers import catalog

TOKEN = "tok-HOSTILE-0c1d2e3f4a5b"
PATH = "/api/v2/activities"
RUN_TIMEOUT = 60  # a run that used to hang (a day-long wait, a trickle) fails the test


@pytest.fixture(scope="module")
def activities(tmp_path_factory) -> Path:
    return catalog(tmp_path_factory.mktemp("catalog"), ("activities",))


def settings(url: str, **extra) -> dict:
    # These scripted servers ignore sort_direction and updated_until, so a stream read in time
    # windows (windows.py, tested against the sandbox) would see other pages: one chain here.
    return {"api_url": url, "api_token": TOKEN, "max_retries": 1,
            "retry_backoff_seconds": 0.01, "request_timeout": 1, "max_rate_limit_wait": 2,
            "window_overhead_percent": 0, **extra}


def sync(tmp_path: Path, cfg: dict, cat: Path, **kw) -> TapRun:
    return run_tap(tmp_path, cfg, "--catalog", str(cat), timeout=RUN_TIMEOUT, **kw)


def one_line(run: TapRun, *secrets: str) -> str:
    """The run failed with one error line, no traceback, no secret anywhere."""
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    for secret in (TOKEN, *secrets):
        assert secret not in run.stderr and secret not in run.stdout
    errors = [line for line in run.stderr.splitlines() if "tap-pipedrive: error:" in line]
    assert len(errors) == 1 and run.stderr.rstrip().endswith(errors[0]), run.stderr[-3000:]
    return errors[0]


def pages(*records_per_page: list[int], cursors: list[str | None] | None = None):
    """A script serving these pages of activities, in order, by cursor (c1, c2, ...)."""
    names = cursors or [f"c{i}" for i in range(1, len(records_per_page))] + [None]

    def script(request: Request) -> Reply:
        if request.path != PATH:
            return Reply(body=EMPTY)
        at = 0 if "cursor" not in request.query else names.index(request.query["cursor"]) + 1
        return Reply(body=envelope([activity(n) for n in records_per_page[at]], names[at]))

    return script


# --- credentials go to the API's host only -------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_to_another_host_sends_no_credential(tmp_path, activities, status):
    with HostileServer(pages([1, 2, 3]), host="127.0.0.2") as elsewhere, \
            HostileServer(lambda r: Reply(status, headers={"Location": elsewhere.url + r.path})
                          ) as api:
        run = sync(tmp_path, settings(api.url), activities)
    assert elsewhere.requests == []  # not even a request without the token
    assert run.returncode == 1 and not run.records["activities"]
    line = one_line(run)
    assert api.url in line and elsewhere.url in line and "redirected" in line


def test_auth_test_follows_the_same_rule(tmp_path):
    with HostileServer(host="127.0.0.2") as elsewhere, \
            HostileServer(lambda r: Reply(302, headers={"Location": elsewhere.url + r.path})
                          ) as api:
        run = run_tap(tmp_path, settings(api.url), "auth", "test", timeout=RUN_TIMEOUT)
    assert elsewhere.requests == []
    assert run.returncode == 1
    assert elsewhere.url in one_line(run)


def test_oauth_refresh_and_resend_stay_on_the_api_host(tmp_path, activities):
    """A 401 from the other host would make the tap refresh and send the new Bearer token
    there; nothing may reach it, and the token endpoint is not asked for a new token."""
    fresh = "at-NEW-HOSTILE-99aa88bb"

    def api_script(request: Request) -> Reply:
        if request.path == "/oauth/token":
            return Reply(body=json.dumps({"access_token": fresh, "refresh_token": "rt-2-xyz1",
                                          "token_type": "Bearer", "expires_in": 3600}).encode())
        return Reply(302, headers={"Location": elsewhere.url + request.path})

    with HostileServer(lambda r: Reply(401, body=b'{"success":false,"error":"no"}'),
                       host="127.0.0.2") as elsewhere, HostileServer(api_script) as api:
        cfg = {**settings(api.url), "auth_method": "oauth-web", "initiate_oauth": "REFRESH",
               "oauth_client_id": "cid-1", "oauth_client_secret": "cs-HOSTILE-77",
               "oauth_access_token": "at-OLD-HOSTILE-11", "oauth_refresh_token": "rt-1-abc9",
               "oauth_url": api.url, "oauth_settings_location": str(tmp_path / "o.txt")}
        run = sync(tmp_path, cfg, activities)
    assert elsewhere.requests == []
    assert "/oauth/token" not in api.paths()
    assert run.returncode == 1
    one_line(run, fresh, "at-OLD-HOSTILE-11", "cs-HOSTILE-77", "rt-1-abc9")


def test_same_host_redirect_is_followed(tmp_path, activities):
    def script(request: Request) -> Reply:
        if request.path == PATH:
            return Reply(302, headers={"Location": "/moved" + PATH})
        if request.path == "/moved" + PATH:
            return Reply(body=envelope([activity(1), activity(2)]))
        return Reply(body=EMPTY)

    with HostileServer(script) as api:
        run = sync(tmp_path, settings(api.url), activities)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.ids("activities") == [1, 2]
    moved = [r for r in api.requests if r.path == "/moved" + PATH]
    assert moved and moved[0].headers.get("x-api-token") == TOKEN


# --- secrets: whitespace, control characters, redaction --------------------------------------


def strict(request: Request) -> Reply:
    if request.headers.get("x-api-token") != TOKEN:
        return Reply(401, body=b'{"success":false,"error":"unauthorized access"}')
    return pages([1, 2])(request)


@pytest.mark.parametrize("given", [TOKEN + "\n", f"  {TOKEN}\r\n", f"\t{TOKEN} "])
def test_secret_with_surrounding_whitespace_is_stripped(tmp_path, activities, given):
    with HostileServer(strict) as api:
        run = sync(tmp_path, settings(api.url, api_token=given), activities)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.ids("activities") == [1, 2]


@pytest.mark.parametrize("given", [f"{TOKEN}\r\nX-Evil: 1", f"{TOKEN[:8]}\n{TOKEN[8:]}",
                                   f"{TOKEN}\x00"])
def test_secret_with_a_control_character_is_refused(tmp_path, activities, given):
    with HostileServer(strict) as api:
        run = sync(tmp_path, settings(api.url, api_token=given), activities)
    assert run.returncode == 1
    assert api.requests == []
    line = one_line(run, TOKEN[:8], TOKEN[8:])
    assert "api_token" in line and "control character" in line


def test_a_secret_echoed_by_the_api_is_masked_in_logs_and_the_error(tmp_path, activities):
    said = json.dumps({"success": False, "error": f"token {TOKEN} is not valid here"})
    with HostileServer(lambda r: Reply(500, body=said.encode())) as api:
        run = sync(tmp_path, settings(api.url), activities, env={"LOGLEVEL": "DEBUG"})
    assert run.returncode == 1
    line = one_line(run)
    assert "token [redacted] is not valid here" in line
    assert "retry 1 of 1" in run.stderr and "[redacted]" in run.stderr.split(line)[0]


# --- waits the headers ask for ---------------------------------------------------------------


def test_a_200_asking_for_a_day_long_wait_is_a_budget_stop(tmp_path, activities):
    def script(request: Request) -> Reply:
        reply = pages([1, 2], [3, 4])(request)
        reply.headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "86400"}
        return reply

    with HostileServer(script) as api:
        run = sync(tmp_path, settings(api.url), activities)
    assert run.returncode == 75
    line = one_line(run)
    assert "max_rate_limit_wait=2" in line and "run again in about 1 day" in line.replace(
        "24 h 00 min", "1 day")
    assert run.ids("activities") == [1, 2]  # the first page is kept, state saved after it
    assert run.state["bookmarks"]["activities"]["replication_key_value"] == \
        activity(2)["update_time"]
    assert api.paths().count(PATH) == 1


@pytest.mark.parametrize("headers", [
    {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1e12"},
    {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1e300"},
    {"retry-after": "1e300"},
    {"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"},
])
def test_a_429_asking_for_an_endless_wait_is_a_budget_stop(tmp_path, activities, headers):
    with HostileServer(lambda r: Reply(429, body=b'{"success":false}', headers=headers)) as api:
        run = sync(tmp_path, settings(api.url), activities)
    assert run.returncode == 75, run.stderr[-3000:]
    assert "State is saved" in one_line(run)


@pytest.mark.parametrize("value", ["-5", "abc", "inf", "nan", "1e300", "", "0x10"])
def test_any_header_value_parses(tmp_path, activities, value):
    def script(request: Request) -> Reply:
        reply = pages([1, 2])(request)
        reply.headers = {"x-ratelimit-remaining": value, "x-ratelimit-reset": value,
                         "retry-after": value, "x-daily-ratelimit-token-remaining": value}
        return reply

    with HostileServer(script) as api:
        run = sync(tmp_path, settings(api.url), activities)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.ids("activities") == [1, 2]


# --- deadlines and sizes ---------------------------------------------------------------------


def trickle(request: Request) -> Reply:
    if request.path != PATH:
        return Reply(body=EMPTY)
    body = envelope([activity(1)])
    return Reply(body=[body[i:i + 1] for i in range(len(body))], length=len(body), pause=0.3)


def trickled_head(request: Request) -> Reply:
    if request.path != PATH:
        return Reply(body=EMPTY)
    return Reply(body=envelope([activity(1)]), trickle_head=True, pause=0.3)


@pytest.mark.parametrize("script", [trickle, trickled_head])
def test_an_answer_that_trickles_is_abandoned_at_the_deadline(tmp_path, activities, script):
    with HostileServer(script) as api:
        run = sync(tmp_path, settings(api.url), activities)
    assert run.returncode == 1
    assert "no answer within request_timeout on GET /api/v2/activities" in one_line(run)
    assert api.paths().count(PATH) == 2  # retried once


def huge(size: int, announce: bool):
    def script(request: Request) -> Reply:
        if request.path != PATH:
            return Reply(body=EMPTY)
        chunk = b" " * 2**20
        return Reply(body=(chunk for _ in range(size // len(chunk))),
                     length=size if announce else None)

    return script


@pytest.mark.parametrize(("announce", "cap"), [(True, None), (False, None), (False, 2**20)])
def test_a_200_mb_answer_is_refused(tmp_path, activities, announce, cap):
    extra = {} if cap is None else {"max_response_bytes": cap}
    with HostileServer(huge(200 * 2**20, announce)) as api:
        run = sync(tmp_path, settings(api.url, request_timeout=30, **extra), activities)
    assert run.returncode == 1
    limit = cap or 64 * 2**20
    assert f"an answer larger than max_response_bytes={limit}" in one_line(run)
    assert api.paths().count(PATH) == 2


def test_a_gzip_bomb_is_refused_at_its_real_size():
    """max_response_bytes counts the body as decompressed: a 100 kB answer that inflates to
    200 MB is abandoned, not held."""
    import gzip

    from tap_pipedrive.transport import ResponseTooLarge, api_session

    bomb = gzip.compress(b" " * 200 * 2**20, 9)

    def script(request: Request) -> Reply:
        return Reply(body=bomb, headers={"Content-Encoding": "gzip"})

    with HostileServer(script) as api:
        session = api_session(api.url, 30, max_bytes=2**20)
        with pytest.raises(ResponseTooLarge, match="max_response_bytes=1048576"):
            session.get(api.url + PATH)
    assert len(bomb) < 2**20  # small on the wire: the bound is the decompressed size


@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_a_page_is_read_whole_and_in_few_reads(monkeypatch, encoding):
    """A body of a known length, sent as it is, is read in one piece (64 kB pieces cost a
    page of deals twice the CPU); a compressed one in pieces, each bounded."""
    import gzip

    from urllib3.response import HTTPResponse

    from tap_pipedrive.transport import api_session

    body = envelope([activity(n) for n in range(5000)])  # ~0.6 MB
    sent = gzip.compress(body) if encoding else body
    reads: list[int | None] = []
    real_read = HTTPResponse.read

    def read(self, amt=None, *args, **kwargs):
        reads.append(amt)
        return real_read(self, amt, *args, **kwargs)

    monkeypatch.setattr(HTTPResponse, "read", read)
    headers = {"Content-Encoding": encoding} if encoding else {}
    with HostileServer(lambda request: Reply(body=sent, headers=headers)) as api:
        got = api_session(api.url, 30).get(api.url + PATH).content
    assert got == body
    if encoding is None:
        assert reads[0] == len(body) and len(reads) <= 2  # the piece, then the end
    else:
        assert all(amt is not None and amt <= 64 * 1024 for amt in reads)


# --- paging that loops -----------------------------------------------------------------------


def test_the_same_cursor_on_every_page_stops(tmp_path, activities):
    counter = iter(range(1, 10**6))

    def script(request: Request) -> Reply:
        if request.path != PATH:
            return Reply(body=EMPTY)
        n = next(counter)
        return Reply(body=envelope([activity(n)], "again"))

    with HostileServer(script) as api:
        run = sync(tmp_path, settings(api.url), activities)
    assert run.returncode == 1
    assert "goes round in circles: page 2 points to cursor 'again', which page 2 already " \
        "used" in one_line(run)
    assert run.ids("activities") == [1, 2]
    assert run.state["bookmarks"]["activities"]["replication_key_value"] == \
        activity(2)["update_time"]


def test_a_cycle_of_cursors_stops(tmp_path, activities):
    with HostileServer(pages([1], [2], [3], cursors=["a", "b", "a"])) as api:
        run = sync(tmp_path, settings(api.url), activities)
    assert run.returncode == 1
    assert "page 3 points to cursor 'a', which page 2 already used" in one_line(run)
    assert run.ids("activities") == [1, 2, 3]
    assert len(api.paths()) == 3


@pytest.mark.parametrize("parallel", [1, 4])
def test_new_cursors_with_the_same_records_stop(tmp_path, activities, parallel):
    counter = iter(range(1, 10**6))

    def script(request: Request) -> Reply:
        if request.path != PATH:
            return Reply(body=EMPTY)
        return Reply(body=envelope([activity(1), activity(2)], f"c{next(counter)}"))

    with HostileServer(script) as api:
        run = sync(tmp_path, settings(api.url, max_parallel_requests=parallel), activities)
    assert run.returncode == 1
    assert "makes no progress: 5 pages in a row held only records already read" in \
        one_line(run)
    assert run.ids("activities") == [1, 2]
    assert run.state["bookmarks"]["activities"]["replication_key_value"] == \
        activity(2)["update_time"]
    assert api.paths().count(PATH) < 100  # a worker reads ahead a little, then stops


@pytest.mark.parametrize("parallel", [1, 4])
def test_records_repeated_across_pages_are_emitted_once(tmp_path, activities, parallel):
    with HostileServer(pages([1, 2, 3, 4, 5], [4, 5, 6, 7, 8], [8, 9, 10])) as api:
        run = sync(tmp_path, settings(api.url, max_parallel_requests=parallel), activities)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.ids("activities") == list(range(1, 11))
    assert "3 records came again on a later page of the same read" in run.stderr
    assert api.paths().count(PATH) == 3


# --- malformed bodies ------------------------------------------------------------------------

MALFORMED = {
    "deeply nested": b'{"success":true,"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "nested in a record": (b'{"success":true,"data":[{"id":1,"x":' + b"[" * 100_000
                           + b"]" * 100_000 + b"}]}"),
    "invalid UTF-8": b'{"success":true,"data":[{"id":1,"subject":"\xff\xfe"}]}',
    "not JSON": b'{"success":true,"data":[{"id":1,',
    "not an object": b'[{"id": 1}]',
    "a string": b'"data"',
    "no data": b'{"success":true,"additional_data":{}}',
    "empty": b"",
    "a huge number": b'{"success":true,"data":[{"id":1' + b"0" * 5000 + b"}]}",
}
REASONS = {"deeply nested": "nested too deep", "nested in a record": "nested too deep",
           "invalid UTF-8": "not valid UTF-8", "not JSON": "not valid JSON",
           "not an object": "without its data envelope", "a string": "without its data envelope",
           "no data": "without its data envelope", "empty": "not valid JSON",
           "a huge number": "cannot be read as JSON"}


@pytest.mark.parametrize("kind", MALFORMED)
def test_a_malformed_body_is_retried_then_one_line(tmp_path, activities, kind):
    def script(request: Request) -> Reply:
        return Reply(body=MALFORMED[kind]) if request.path == PATH else Reply(body=EMPTY)

    with HostileServer(script) as api:
        run = sync(tmp_path, settings(api.url), activities)
    assert run.returncode == 1
    assert REASONS[kind] in one_line(run)
    if kind != "a huge number":  # read as JSON only when its records are: not retried
        assert api.paths().count(PATH) == 2


def test_integers_beyond_64_bits_are_read_exactly():
    from tap_pipedrive import page

    body = page.Page(b'{"success":true,"data":[{"id":123456789012345678901234567890,"v":1.5}]}')
    assert body.data() == [{"id": 123456789012345678901234567890, "v": page.Decimal("1.5")}]
    assert list(page.parsed(body.items() or [])) == body.data()  # as a sync reads them


def test_the_adapter_itself_sends_nowhere_else():
    """The OAuth signer resends through the adapter (not the session): it refuses too."""
    import requests

    from tap_pipedrive.transport import OffHostRedirect, api_session

    with HostileServer(host="127.0.0.2") as elsewhere:
        session = api_session("http://127.0.0.1:9", 5)
        request = requests.Request("GET", elsewhere.url + PATH,
                                   headers={"Authorization": "Bearer x"}).prepare()
        with pytest.raises(OffHostRedirect, match=r"credentials go only to the API at "
                                                  r"http://127\.0\.0\.1:9"):
            session.get_adapter(request.url).send(request)
    assert elsewhere.requests == []
