"""Faults: a sync through 5xx, dropped connections, cut bodies, `success: false`, Cloudflare
pages and a burst limit yields exactly the records of a clean sync; when a page fails on
every retry the run fails with one line and a state that resumes at that page."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import requests
from resume_helpers import CORE, catalog, config, ids_of, sync, union, wait_until

from tap_pipedrive_sandbox import Sandbox
from tap_pipedrive_sandbox.faults import CLIENT_ERRORS, DEFAULT_KINDS, KINDS, Faults


@pytest.fixture(scope="module")
def core_catalog(tmp_path_factory):
    return catalog(tmp_path_factory.mktemp("catalog"), CORE)


@pytest.fixture(scope="module")
def deals_catalog(tmp_path_factory):
    return catalog(tmp_path_factory.mktemp("catalog"), ("deals",))


def truth(sb: Sandbox, streams=CORE) -> dict[str, set]:
    return {s: {r["id"] for r in sb.data.records(s)} for s in streams}


def last_line(run) -> str:
    return run.stderr.strip().splitlines()[-1]


# --- the sandbox's fault mode -------------------------------------------------------------


def test_fault_draws_are_seeded_and_bounded():
    draws = lambda faults: [faults.draw() for _ in range(200)]  # noqa: E731
    assert draws(Faults(0.3, seed=4)) == draws(Faults(0.3, seed=4))
    sample = draws(Faults(0.3, seed=4))
    assert 30 < sum(1 for d in sample if d) < 90
    assert set(filter(None, sample)) <= set(DEFAULT_KINDS)  # no timeout unless asked
    assert draws(Faults(1.0, kinds="reset", after=3))[:4] == [None, None, None, "reset"]
    only = Faults(1.0, kinds="500", after=1, paths="/api/v2/deals")
    assert [only.draw(p) for p in ("/api/v2/deals", "/api/v2/dealFields", "/api/v2/deals/")] \
        == [None, None, "500"]
    with pytest.raises(ValueError, match="unknown fault kind"):
        Faults(0.1, kinds="500,teapot")


@pytest.mark.parametrize("kind", KINDS)
def test_each_fault_as_a_client_sees_it(kind):
    with Sandbox(records=5, fault_rate=1.0, fault_kinds=[kind], fault_delay=0.3) as sb:
        url, auth = f"{sb.url}/api/v2/deals", {"x-api-token": sb.api_token}
        try:
            response = requests.get(url, headers=auth, timeout=5)
        except requests.RequestException as exc:
            assert kind in ("reset", "truncated"), exc
            wait_until(lambda: sb.requests)
            assert sb.requests[-1]["fault"] == kind
            return
        body = response.content
        if kind in ("500", "503"):
            assert response.status_code == int(kind) and response.json()["success"] is False
        elif kind in ("502", "html403"):
            assert response.status_code == int(kind.strip("html"))
            assert body.startswith(b"<") and b"cloudflare" in body.lower()
        elif kind == "badjson":
            assert response.status_code == 200
            with pytest.raises(ValueError):
                json.loads(body)
        elif kind == "unsuccessful":
            assert response.status_code == 200 and response.json()["success"] is False
        elif kind in CLIENT_ERRORS:
            assert response.status_code == int(kind) and response.json()["success"] is False
        elif kind == "timeout":  # late, then served
            assert response.status_code == 200 and response.elapsed.total_seconds() >= 0.3
        wait_until(lambda: sb.requests)  # logged once the answer is out
        assert sb.requests[-1]["fault"] == kind


def test_fault_settings_via_admin_endpoint():
    with Sandbox(records=5) as sb:
        posted = requests.post(f"{sb.url}/_sandbox/faults", timeout=5,
                               json={"rate": 1.0, "kinds": ["503"]}).json()["data"]
        assert posted["rate"] == 1.0 and posted["kinds"] == ["503"]
        got = requests.get(f"{sb.url}/api/v2/deals", headers={"x-api-token": sb.api_token},
                           timeout=5)
        assert got.status_code == 503
        described = requests.get(f"{sb.url}/_sandbox/faults", timeout=5).json()["data"]
        assert described["injected"] == {"503": 1}
        bad = requests.post(f"{sb.url}/_sandbox/faults", json={"kinds": ["teapot"]}, timeout=5)
        assert bad.status_code == 400


def test_sandbox_cli_takes_fault_and_limit_options():
    from click.testing import CliRunner

    from tap_pipedrive_sandbox.cli import sandbox

    result = CliRunner().invoke(sandbox, ["--fault-kinds", "500,teapot"])
    assert result.exit_code == 2 and "unknown fault kind(s) teapot" in result.output
    help_text = CliRunner().invoke(sandbox, ["--help"]).output
    for option in ("--daily-limit", "--no-daily-headers", "--no-ratelimit-headers",
                   "--fault-rate", "--fault-kinds", "--fault-seed", "--fault-after",
                   "--fault-delay", "--fault-paths", "--latency"):
        assert option in help_text


# --- the tap through faults ---------------------------------------------------------------


def test_sync_under_faults_and_burst_limit_equals_clean_sync(make_sandbox, tmp_path,
                                                             core_catalog):
    clean_sb = make_sandbox(records=1200, seed=11)
    clean = sync(tmp_path, config(clean_sb.url), core_catalog)
    assert clean.returncode == 0, clean.stderr

    sb = make_sandbox(records=1200, seed=11, burst_limit=8, fault_rate=0.25, fault_seed=3)
    run = sync(tmp_path, config(sb.url, max_retries=5), core_catalog)
    assert run.returncode == 0, run.stderr
    injected = sb.faults.describe()["injected"]
    assert sum(injected.values()) >= 3, injected  # the run really went through faults
    assert ids_of(run) == ids_of(clean) == truth(sb)
    for stream in CORE:  # exactly the records: no duplicates, same content
        assert not [k for k, n in Counter(r["id"] for r in run.records[stream]).items() if n > 1]
        assert sorted(run.records[stream], key=lambda r: r["id"]) == \
            sorted(clean.records[stream], key=lambda r: r["id"]), stream
    assert "retry 1 of 5" in run.stderr


FAILURES = {
    "500": "Pipedrive answered 500 Internal Server Error to GET /api/v2/deals",
    "502": "Pipedrive answered 502 Bad Gateway to GET /api/v2/deals",
    "503": "Pipedrive answered 503 Service Unavailable to GET /api/v2/deals",
    "reset": "could not reach Pipedrive (ConnectionError) on GET /api/v2/deals",
    "truncated": "the connection broke in the middle of an answer on GET /api/v2/deals",
    "badjson": "with a body that is not valid JSON",
    "unsuccessful": "with success=false: Internal server error",
    "html403": "Pipedrive's firewall (Cloudflare) blocked the request",
    "timeout": "no answer within request_timeout on GET /api/v2/deals",
}


@pytest.mark.parametrize("kind", (*DEFAULT_KINDS, "timeout"))
def test_page_failing_every_retry_fails_the_run_resumably(make_sandbox, tmp_path,
                                                          deals_catalog, kind):
    """Page 2 of 3 fails on every try: one line, exit 1, and a state whose bookmark is the
    last record emitted, so the next run starts at page 2's first record."""
    sb = make_sandbox(records=1200, seed=12, fault_rate=1.0, fault_kinds=[kind],
                      fault_after=1, fault_delay=1.0, fault_paths=["/api/v2/deals"])
    deals_calls = lambda: [r for r in sb.requests if r["path"] == "/api/v2/deals"]  # noqa: E731
    cfg = config(sb.url, max_retries=1, request_timeout=0.5)
    first = sync(tmp_path, cfg, deals_catalog)
    assert first.returncode == 1, first.stderr
    assert "Traceback" not in first.stderr
    line = last_line(first)
    assert line.startswith("tap-pipedrive: error: ") and FAILURES[kind] in line, line
    assert "resume" in line
    wait_until(lambda: len(deals_calls()) >= 3)  # a timed-out call is logged when it ends
    assert [r.get("fault") for r in deals_calls()] == [None, kind, kind]  # retried once

    emitted = first.records["deals"]
    assert len(emitted) == 500  # page 1 only
    bookmark = first.state["bookmarks"]["deals"]["replication_key_value"]
    assert bookmark == max(r["update_time"] for r in emitted)

    sb.faults.configure(rate=0)
    sb.reset_requests()
    second = sync(tmp_path, cfg, deals_catalog, state=first.state)
    assert second.returncode == 0, second.stderr
    assert deals_calls()[0]["query"]["updated_since"] == bookmark  # from the failed page on
    assert len(second.records["deals"]) < 1200  # not from the start
    assert union(first, second)["deals"] == truth(sb, ("deals",))["deals"]
