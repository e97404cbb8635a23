"""`tap-pipedrive capture` then `sandbox --replay`: a sync of the replay reads the records a
sync of the live sandbox reads over the captured pages, and no capture file holds a secret
or the sandbox's personal data."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import TAP, TapRun, run_tap, sandbox_config
from oauth_helpers import (
    API_TOKEN,
    CLIENT_SECRET,
    authorize_in_browser,
    issued_secrets,
    oauth_config,
    start_sandbox,
)
from stream_helpers import discover, select

from tap_pipedrive.capture import capture
from tap_pipedrive_sandbox import Sandbox

SMALL = {"records": 20, "seed": 3}  # every stream fits in its first page


def catalog(tmp_path: Path, streams: set[str] | None = None, name: str = "catalog.json") -> Path:
    """A catalog (from --discover) selecting `streams`; None: every stream."""
    path = tmp_path / name
    path.write_text(json.dumps(select(discover(tmp_path, {}), streams)))
    return path


def replay_sync(tmp_path: Path, capture_dir: Path, *args: str, **config: Any) -> TapRun:
    with Sandbox(replay=capture_dir) as rb:
        run = run_tap(tmp_path, sandbox_config(rb.url, **config), *args)
        missing = [r for r in rb.requests if r["status"] != 200]
    assert run.returncode == 0, run.stderr[-3000:]
    assert not missing, f"asked for what the capture lacks: {missing[:3]}"
    return run


def capture_cli(tmp_path: Path, config: dict, out: Path, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "capture-config.json"
    path.write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_PIPEDRIVE_")}
    return subprocess.run([TAP, "capture", "--config", str(path), "--out", str(out), *args],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                          env=env)


def files(capture_dir: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(capture_dir.iterdir())}


# --- replay gives the live records --------------------------------------------------------------


def test_replay_of_every_stream_gives_the_live_records(make_sandbox, tmp_path):
    """Unscrubbed, so the records must be equal value for value: every stream, children of
    every parent (per-parent and batched endpoints), field metadata, partitions."""
    sb = make_sandbox(**SMALL)
    everything = catalog(tmp_path)
    live = run_tap(tmp_path, sandbox_config(sb.url), "--catalog", str(everything))
    assert live.returncode == 0, live.stderr[-3000:]
    out = tmp_path / "capture"
    doc = json.loads(everything.read_text())
    capture(sandbox_config(sb.url), out, catalog=doc, parents=1000, scrub=False)

    replay = replay_sync(tmp_path, out, "--catalog", str(everything))
    assert set(replay.records) == set(live.records)
    for stream, records in live.records.items():
        assert replay.records[stream] == records, stream
    assert len(live.records) > 40 and "deal_followers" in live.records


def test_capture_cli_scrubbed_replay_keeps_all_but_personal_data(make_sandbox, tmp_path):
    """The default capture (console script, default selection): the replay emits the same
    records, in the same order, with the same keys, ids, numbers, booleans, nulls and
    timestamps; strings differ only where personal data was replaced by text."""
    sb = make_sandbox(**SMALL)
    live = run_tap(tmp_path, sandbox_config(sb.url))
    assert live.returncode == 0, live.stderr[-3000:]
    out = tmp_path / "capture"
    done = capture_cli(tmp_path, sandbox_config(sb.url), out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"into {out}" in done.stderr and done.stdout == ""

    replay = replay_sync(tmp_path, out)
    assert set(replay.records) == set(live.records)
    changed = 0
    for stream, records in live.records.items():
        assert len(replay.records[stream]) == len(records), stream
        for was, now in zip(records, replay.records[stream], strict=True):
            changed += _same_but_scrubbed(was, now, stream)
    assert changed > 100  # names, emails, phones, notes... were replaced
    # Field metadata is kept as sent: the same columns, the same custom field names.
    assert replay.records["custom_field_mappings"] == live.records["custom_field_mappings"]
    assert replay.schemas["deals"] == live.schemas["deals"]


TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}.*|\d{2}:\d{2}(:\d{2})?")


def _same_but_scrubbed(was: Any, now: Any, where: str) -> int:
    """How many strings differ; asserts that nothing else does."""
    if isinstance(was, dict):
        assert isinstance(now, dict) and list(now) == list(was), where
        return sum(_same_but_scrubbed(v, now[k], f"{where}.{k}") for k, v in was.items())
    if isinstance(was, list):
        assert isinstance(now, list) and len(now) == len(was), where
        pairs = zip(was, now, strict=True)
        return sum(_same_but_scrubbed(v, w, f"{where}[]") for v, w in pairs)
    if isinstance(was, str) and was != now:
        assert isinstance(now, str), where
        assert not TIMESTAMP.fullmatch(was), f"{where}: a timestamp changed: {was} -> {now}"
        if where.endswith((".id", "_id")):  # ids are kept; `channel_id` holds free text
            assert " " in was, f"{where}: an id changed"
        return 1
    assert now == was and type(now) is type(was), f"{where}: {was!r} -> {now!r}"
    return 0


# --- bounds: pages and parents -------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_deals(shared_sandbox, tmp_path_factory) -> TapRun:
    tmp = tmp_path_factory.mktemp("live")
    run = run_tap(tmp, sandbox_config(shared_sandbox.url), "--catalog",
                  str(catalog(tmp, {"deals", "call_logs"})))
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.records["deals"]) > 1000 and len(run.records["call_logs"]) > 100
    return run


@pytest.mark.parametrize("pages", [1, 2])
def test_the_last_captured_page_ends_each_walk(shared_sandbox, live_deals, tmp_path, pages):
    """v2 cursor (deals, 500 a page) and v1 offset (call logs, 50 a page) paging: the replay
    reads exactly the captured pages, then stops."""
    cat = catalog(tmp_path, {"deals", "call_logs"})
    out = tmp_path / "capture"
    capture(sandbox_config(shared_sandbox.url), out, catalog=json.loads(cat.read_text()),
            pages=pages, scrub=False)
    replay = replay_sync(tmp_path, out, "--catalog", str(cat))
    assert replay.records["deals"] == live_deals.records["deals"][:500 * pages]
    assert replay.records["call_logs"] == live_deals.records["call_logs"][:50 * pages]
    manifest = json.loads((out / "manifest.json").read_text())
    walks = [a for a in manifest["answers"] if a["stream"] in ("deals", "call_logs")]
    assert sorted(a["page"] for a in walks) == sorted(list(range(1, pages + 1)) * 2)
    last = json.loads((out / walks[-1]["file"]).read_text())["response"]["body"]
    extra = last["additional_data"]
    assert extra.get("next_cursor") is None
    assert not (extra.get("pagination") or {}).get("more_items_in_collection")


def test_children_are_captured_for_a_couple_of_parents(make_sandbox, tmp_path):
    """One call per parent (deal_followers): the first two parents' children are replayed,
    the other parents have none; a batched endpoint (deal_products): the first two calls."""
    sb = make_sandbox(**SMALL)
    cat = catalog(tmp_path, {"deals", "deal_followers", "deal_products"})
    live = run_tap(tmp_path, sandbox_config(sb.url), "--catalog", str(cat))
    assert live.returncode == 0, live.stderr[-3000:]
    out = tmp_path / "capture"
    done = capture_cli(tmp_path, sandbox_config(sb.url), out, "--catalog", str(cat),
                       "--parents", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    replay = replay_sync(tmp_path, out, "--catalog", str(cat))

    first_two = [d["id"] for d in live.records["deals"][:2]]
    expected = [f for f in live.records["deal_followers"] if f["deal_id"] in first_two]
    assert expected and len(expected) < len(live.records["deal_followers"])
    assert [(f["deal_id"], f["user_id"]) for f in replay.records["deal_followers"]] == \
        [(f["deal_id"], f["user_id"]) for f in expected]
    assert len(replay.records["deal_products"]) == len(live.records["deal_products"]) > 0
    manifest = json.loads((out / "manifest.json").read_text())
    followers = [a for a in manifest["answers"] if a["stream"] == "deal_followers"]
    assert len(followers) == 2


# --- nothing secret, nothing personal -----------------------------------------------------------


def _personal_data(sb: Sandbox) -> set[str]:
    """Names, emails, phones, addresses and texts of the sandbox's records, read from its
    admin API (as a user would see them in Pipedrive)."""
    def records(entity: str) -> list[dict]:
        answer = requests.get(f"{sb.url}/_sandbox/records/{entity}", timeout=30)
        answer.raise_for_status()
        return answer.json()["data"]

    found: set[str] = set()
    for person in records("persons"):
        found |= {person["name"], *(e["value"] for e in person["emails"]),
                  *(p["value"] for p in person["phones"])}
        if person.get("postal_address"):
            found.add(person["postal_address"]["value"])
    for user in records("users"):
        found |= {user["name"], user["email"], user["phone"]}
    for org in records("organizations"):
        found.add(org["name"])
        if org.get("address"):
            found.add(org["address"]["value"])
    for deal in records("deals"):
        found.add(deal["title"])
    for lead in records("leads"):
        found |= {lead["title"], lead["cc_email"]}
    for call in records("call_logs"):
        found |= {call["from_phone_number"], call["to_phone_number"]}
    return {value for value in found if isinstance(value, str) and len(value) >= 6}


def test_capture_holds_no_secret_and_no_personal_data(make_sandbox, tmp_path):
    sb = start_sandbox(make_sandbox, **SMALL)  # distinctive API token and client secret
    # With an API token (console script, every stream)...
    by_token = tmp_path / "by-token"
    config = {"api_url": sb.url, "api_token": API_TOKEN, "oauth_client_secret": CLIENT_SECRET}
    done = capture_cli(tmp_path, config, by_token, "--catalog", str(catalog(tmp_path)))
    assert done.returncode == 0, done.stderr[-3000:]
    # ...and with OAuth (a verifier, exchanged for tokens at the start).
    headless = oauth_config(sb, tmp_path, auth_method="oauth-headless", api_url=sb.url)
    url = run_tap(tmp_path, headless, "auth", "url").stdout.strip()
    code = authorize_in_browser(url)
    headless["oauth_verifier"] = code
    by_oauth = tmp_path / "by-oauth"
    done = capture_cli(tmp_path, headless, by_oauth)
    assert done.returncode == 0, done.stderr[-3000:]
    assert any(r["auth"] == "bearer" for r in sb.requests)

    secrets = issued_secrets(sb) | {code}
    personal = _personal_data(sb)
    assert len(personal) > 50
    for capture_dir in (by_token, by_oauth):
        written = files(capture_dir)
        assert len(written) > 30
        for name, text in written.items():
            leaked = [s[:6] + "..." for s in secrets if s in text]
            assert not leaked, f"{capture_dir.name}/{name} holds secrets {leaked}"
            found = [p for p in personal if p in text or json.dumps(p)[1:-1] in text]
            assert not found, f"{capture_dir.name}/{name} holds personal data {found[:5]}"
    for text in (done.stdout, done.stderr):
        assert not [s for s in secrets if s in text]


# --- the replay server -----------------------------------------------------------------------


def test_replay_asks_for_the_sandbox_credentials_and_404s_what_is_not_captured(
        make_sandbox, tmp_path):
    sb = make_sandbox(**SMALL)
    out = tmp_path / "capture"
    capture(sandbox_config(sb.url), out, catalog=json.loads(
        catalog(tmp_path, {"pipelines"}).read_text()))
    with Sandbox(replay=out, api_token=API_TOKEN) as rb:
        url = f"{rb.url}/api/v2/pipelines?limit=500&sort_by=update_time&sort_direction=desc"
        assert requests.get(url, timeout=30).status_code == 401
        wrong = requests.get(url, headers={"x-api-token": "sandbox-api-token"}, timeout=30)
        assert wrong.status_code == 401
        # The token of the run that captured never matters; credentials in a query neither.
        right = requests.get(url + "&api_token=whatever", headers={"x-api-token": API_TOKEN},
                             timeout=30)
        assert right.status_code == 200 and len(right.json()["data"]) == 3
        other = requests.get(f"{rb.url}/api/v2/pipelines?limit=100",
                             headers={"x-api-token": API_TOKEN}, timeout=30)
        assert other.status_code == 404
        assert other.json()["success"] is False and "Not in the capture" in other.json()["error"]
        # Bearer tokens from the sandbox's own OAuth server work as they do live.
        code = authorize_in_browser(
            f"{rb.url}/oauth/authorize?client_id={rb.client_id}&state=s"
            f"&redirect_uri=http://127.0.0.1:1/callback")
        tokens = requests.post(f"{rb.url}/oauth/token", auth=(rb.client_id, rb.client_secret),
                               data={"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": "http://127.0.0.1:1/callback"},
                               timeout=30).json()
        bearer = requests.get(url, headers={"Authorization": f"Bearer {tokens['access_token']}"},
                              timeout=30)
        assert bearer.status_code == 200 and bearer.json() == right.json()


def test_sandbox_replay_command(make_sandbox, tmp_path):
    sb = make_sandbox(**SMALL)
    out = tmp_path / "capture"
    config = tmp_path / "config.json"  # given before the subcommand, as Meltano does
    config.write_text(json.dumps(sandbox_config(sb.url)))
    done = subprocess.run([TAP, "--config", str(config), "capture", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    server = subprocess.Popen([TAP, "sandbox", "--replay", str(out), "--port", "0"],
                              stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        line = server.stderr.readline()
        assert f"replaying {out}" in line, line
        url = re.search(r"on (http://\S+)", line).group(1)
        run = run_tap(tmp_path, sandbox_config(url))
        assert run.returncode == 0, run.stderr[-3000:]
        assert len(run.records["deals"]) == SMALL["records"]
    finally:
        server.terminate()
        server.wait(timeout=30)


# --- exit codes ---------------------------------------------------------------------------------


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("tap-pipedrive: ")]
    assert len(lines) == 1 and lines[0].startswith("tap-pipedrive: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_capture_exit_codes(make_sandbox, tmp_path):
    sb = start_sandbox(make_sandbox, records=5)
    usage = subprocess.run([TAP, "capture", "--config", "x.json"], capture_output=True,
                           text=True, timeout=60)
    assert usage.returncode == 2 and "--out" in usage.stderr
    bad_pages = capture_cli(tmp_path, sandbox_config(sb.url), tmp_path / "a", "--pages", "0")
    assert bad_pages.returncode == 2
    # A wrong token: one line, no secret; what was captured so far is on disk.
    wrong = capture_cli(tmp_path, {"api_url": sb.url, "api_token": "wrong-token-77aa"},
                        tmp_path / "wrong")
    line = _one_error_line(wrong)
    assert "401" in line and "wrong-token-77aa" not in wrong.stderr
    manifest = json.loads((tmp_path / "wrong" / "manifest.json").read_text())
    assert manifest["complete"] is False and manifest["answers"][0]["status"] == 401
    # Settings that cannot work: nothing is left behind, the same --out works next time.
    line = _one_error_line(capture_cli(tmp_path, {"api_token": API_TOKEN}, tmp_path / "new"))
    assert "company_domain" in line and not (tmp_path / "new").exists()
    # Never into a directory that holds something.
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    line = _one_error_line(capture_cli(tmp_path, {"api_url": sb.url, "api_token": API_TOKEN},
                                       tmp_path / "full"))
    assert "not an empty directory" in line
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_sandbox_replay_exit_codes(tmp_path):
    missing = subprocess.run([TAP, "sandbox", "--replay", str(tmp_path / "nowhere")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2
    (tmp_path / "empty").mkdir()
    empty = subprocess.run([TAP, "sandbox", "--replay", str(tmp_path / "empty")],
                           capture_output=True, text=True, timeout=60)
    assert "holds no capture" in _one_error_line(empty)


def test_a_capture_through_faults_keeps_only_the_answers_the_tap_used(make_sandbox, tmp_path):
    """500s, cut bodies, `success: false`, firewall pages and resets are retried: each file
    holds the answer that was finally read, and the replay (without faults) gives the live
    records."""
    sb = make_sandbox(**SMALL)
    live = run_tap(tmp_path, sandbox_config(sb.url))
    assert live.returncode == 0, live.stderr[-3000:]
    flaky = make_sandbox(**SMALL, fault_rate=0.3, fault_seed=5)
    out = tmp_path / "capture"
    capture(sandbox_config(flaky.url, retry_backoff_seconds=0.01, max_retries=8), out,
            scrub=False)
    assert any(r.get("fault") for r in flaky.requests)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and {a["status"] for a in manifest["answers"]} == {200}
    replay = replay_sync(tmp_path, out)
    assert dict(replay.records) == dict(live.records)


def test_no_credential_of_a_request_is_written(tmp_path):
    """Whatever an auth method does (a plugin may put a token in the query), the answer's file
    holds neither its headers nor its credential parameters, and no known secret anywhere."""
    from tap_pipedrive.capture import Recorder
    from tap_pipedrive.scrub import Scrubber

    recorder = Recorder(tmp_path, pages=1, scrubber=Scrubber())
    request = requests.Request(
        "GET", "https://acme.pipedrive.com/api/v2/deals",
        params={"limit": 500, "api_token": "qs-SECRET-1234", "access_token": "qs-SECRET-5678"},
        headers={"x-api-token": "hdr-SECRET-9abc", "Authorization": "Bearer brr-SECRET-def0",
                 "Cookie": "session=ck-SECRET-1111"}).prepare()
    recorder.note_credentials(request)
    response = requests.Response()
    response.status_code, response.request, response.url = 200, request, request.url
    response.headers["Set-Cookie"] = "session=ck-SECRET-2222"
    response.headers["Content-Type"] = "application/json"
    response._content = json.dumps({"success": True, "data": [
        {"id": 1, "title": "echo hdr-SECRET-9abc"}], "additional_data": {
            "next_cursor": "brr-SECRET-def0"}}).encode()
    recorder.on_response(response)
    text = (tmp_path / "0001-other.json").read_text()
    assert "SECRET" not in text and "acme" not in text
    saved = json.loads(text)
    assert saved["request"] == {"method": "GET", "path": "/api/v2/deals",
                                "query": {"limit": "500"}}
    assert saved["response"]["headers"] == {"content-type": "application/json"}
