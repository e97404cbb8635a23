"""The catalogue of bad inputs: each gives one clear line on stderr (`tap-pipedrive: error:
...`), a non-zero exit and no traceback. The README's Troubleshooting section lists them."""

from __future__ import annotations

import json

import pytest
from helpers import free_port, run_tap, sandbox_config
from oauth_helpers import oauth_config, start_sandbox

from tap_pipedrive.auth.token_file import TokenFile
from tap_pipedrive.auth.tokens import Tokens


def assert_error(run, *fragments: str, code: int = 1, absent: tuple[str, ...] = ()) -> str:
    assert run.returncode == code, (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    last = lines[-1]
    assert last.startswith("tap-pipedrive: error: "), run.stderr
    assert sum(1 for line in lines if line.startswith("tap-pipedrive: error:")) == 1
    for fragment in fragments:
        assert fragment in last, last
    for text in absent:
        assert text not in run.stderr + run.stdout
    return last


# --- settings ------------------------------------------------------------------------------

URL = "http://127.0.0.1:9"  # never called: these runs stop at the settings

SETTINGS = {
    "missing-domain-and-url": ({"api_token": "x"}, ["set company_domain", "or api_url"]),
    "missing-token": ({"api_url": URL}, ["api_token"]),
    "domain-given-as-url": ({"api_token": "x", "company_domain": "https://acme.pipedrive.com"},
                            ["company_domain must be the subdomain only"]),
    "api-url-without-scheme": ({"api_token": "x", "api_url": "acme.pipedrive.com"},
                               ["api_url must be an http(s) URL"]),
    "unknown-auth-method": ({"api_token": "x", "api_url": URL, "auth_method": "nope"},
                            ["auth_method must be one of", "basic", "got 'nope'"]),
    "unknown-auth-scheme": ({"APIToken": "x", "api_url": URL, "AuthScheme": "Kerberos"},
                            ["AuthScheme must be Basic or OAuth"]),
    "start-date-wrong-type": ({"api_token": "x", "api_url": URL, "start_date": 12},
                              ["start_date must be a string (date-time"]),
    "start-date-not-a-date": ({"api_token": "x", "api_url": URL, "start_date": "yesterday"},
                              ["start_date must be a date-time"]),
    "retries-wrong-type": ({"api_token": "x", "api_url": URL, "max_retries": "five"},
                           ["max_retries must be an integer"]),
    "token-cap-zero": ({"api_token": "x", "api_url": URL, "max_tokens_per_run": 0},
                       ["max_tokens_per_run must be at least 1"]),
    "initiate-oauth-unknown": ({"auth_method": "oauth-web", "api_url": URL,
                                "initiate_oauth": "SOMETIMES"},
                               ["initiate_oauth must be one of OFF, GETANDREFRESH, REFRESH"]),
    "oauth-app-missing": ({"auth_method": "oauth-web", "api_url": URL,
                           "oauth_access_token": "a"},
                          ["needs oauth_client_id and oauth_client_secret"]),
}


@pytest.mark.parametrize("case", SETTINGS)
def test_bad_setting(tmp_path, case):
    config, fragments = SETTINGS[case]
    assert_error(run_tap(tmp_path, config), *fragments)


def test_secret_of_the_wrong_type_is_not_echoed(tmp_path):
    run = run_tap(tmp_path, {"api_token": 987654321, "api_url": URL})
    assert_error(run, "api_token must be a string", absent=("987654321",))


# --- files -----------------------------------------------------------------------------------


def _file(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_config_file_not_json(tmp_path):
    path = _file(tmp_path, "c.json", '{"api_token": ')
    assert_error(run_tap(tmp_path, None, "--config", path), "is not JSON")


def test_config_file_missing(tmp_path):
    run = run_tap(tmp_path, None, "--config", str(tmp_path / "absent.json"))
    assert_error(run, "absent.json", "not found")


@pytest.mark.parametrize("text", ["[1, 2]", '"api_token"'])
def test_config_file_not_an_object(tmp_path, text):
    path = _file(tmp_path, "c.json", text)
    assert_error(run_tap(tmp_path, None, "--config", path), "must hold a JSON object")


def test_config_file_unreadable(tmp_path):
    (tmp_path / "c.json").mkdir()  # unreadable for root too, unlike chmod 000
    run = run_tap(tmp_path, None, "--config", str(tmp_path / "c.json"))
    assert_error(run, "cannot read", "c.json")


STATES = {
    "not-an-object": ([{"bookmarks": {}}], "must hold a JSON object (a Singer state), not a list"),
    "no-bookmarks": ({"value": {"deals": 1}}, "is not a Singer state: it has no 'bookmarks'"),
    "bookmarks-not-an-object": ({"bookmarks": ["deals"]}, "'bookmarks' must be an object"),
    "another-taps-streams": ({"bookmarks": {"contacts": {"since": "2024-01-01"}}},
                             "from another tap: none of its streams (contacts)"),
    "another-replication-key": (
        {"bookmarks": {"deals": {"replication_key": "modified_at",
                                 "replication_key_value": "2024-01-01T00:00:00Z"}}},
        "bookmark of 'deals' is for replication key 'modified_at'"),
    "bookmark-not-a-date": (
        {"bookmarks": {"deals": {"replication_key": "update_time",
                                 "replication_key_value": "last tuesday"}}},
        "replication_key_value that is not a date-time"),
    "bookmark-not-an-object": ({"bookmarks": {"deals": "2024-01-01"}},
                               "bookmark of 'deals' must be an object"),
}


@pytest.mark.parametrize("case", STATES)
def test_bad_state(tmp_path, case):
    state, fragment = STATES[case]
    run = run_tap(tmp_path, sandbox_config(URL), state=state)
    assert_error(run, "--state", fragment) if "state" in fragment else assert_error(run, fragment)


def test_state_file_not_json(tmp_path):
    path = _file(tmp_path, "s.json", "{bookmarks")
    run = run_tap(tmp_path, sandbox_config(URL), "--state", path)
    assert_error(run, "is not JSON")


def test_meltano_state_export_is_accepted(shared_sandbox, tmp_path):
    """`meltano state get` prints {"singer_state": ...}: read as the state inside."""
    deals = sorted(shared_sandbox.data.records("deals"), key=lambda d: d["update_time"])
    mark = deals[-3]["update_time"]
    state = {"singer_state": {"bookmarks": {"deals": {"replication_key": "update_time",
                                                      "replication_key_value": mark}}}}
    run = run_tap(tmp_path, sandbox_config(shared_sandbox.url), state=state)
    assert run.returncode == 0, run.stderr
    assert {d["update_time"] for d in run.records["deals"]} <= {d["update_time"]
                                                                for d in deals[-3:]}


def _catalog(tmp_path, doc) -> str:
    return _file(tmp_path, "catalog.json", json.dumps(doc))


def test_catalog_naming_an_unknown_stream(tmp_path):
    doc = {"streams": [{"tap_stream_id": "contacts", "stream": "contacts", "schema": {},
                        "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}]}]}
    run = run_tap(tmp_path, sandbox_config(URL), "--catalog", _catalog(tmp_path, doc))
    assert_error(run, "the catalog names stream(s) tap-pipedrive does not have: contacts",
                 "--discover")


@pytest.mark.parametrize("doc", [[], {"streams": "deals"}, {"streams": [{"schema": {}}]}])
def test_catalog_not_a_catalog(tmp_path, doc):
    run = run_tap(tmp_path, sandbox_config(URL), "--catalog", _catalog(tmp_path, doc))
    assert_error(run, "--catalog file")


def test_catalog_not_json(tmp_path):
    run = run_tap(tmp_path, sandbox_config(URL), "--catalog", _file(tmp_path, "k.json", "{"))
    assert_error(run, "is not JSON")


# --- the API says no ---------------------------------------------------------------------------


def test_401_wrong_token(shared_sandbox, tmp_path):
    run = run_tap(tmp_path, sandbox_config(shared_sandbox.url, api_token="wrong-7f3e"))
    assert_error(run, "401 Unauthorized", "unauthorized access", "check api_token",
                 absent=("wrong-7f3e",))


def test_404_wrong_api_url(shared_sandbox, tmp_path):
    run = run_tap(tmp_path, sandbox_config(shared_sandbox.url + "/nope"))
    assert_error(run, "404 Not Found", "check company_domain / api_url")


@pytest.mark.parametrize(
    ("status", "fragments"),
    [
        ("402", ["402 Payment Required", "company account is not active"]),
        ("403", ["403 Forbidden", "scopes do not allow this endpoint"]),
        ("410", ["410 Gone", "Pipedrive has removed this endpoint"]),
    ],
)
def test_client_errors_are_not_retried(make_sandbox, tmp_path, status, fragments):
    sb = make_sandbox(records=10, fault_rate=1.0, fault_kinds=[status])
    run = run_tap(tmp_path, sandbox_config(sb.url))
    assert_error(run, *fragments)
    calls = [(r["path"], json.dumps(r["query"], sort_keys=True)) for r in sb.requests]
    assert len(calls) == len(set(calls))  # none retried: retrying would not help


def test_cloudflare_block(make_sandbox, tmp_path):
    sb = make_sandbox(records=10, fault_rate=1.0, fault_kinds=["html403"])
    run = run_tap(tmp_path, sandbox_config(sb.url, max_retries=1, retry_backoff_seconds=0.01))
    assert_error(run, "Pipedrive's firewall (Cloudflare) blocked the request", "wait an hour")


def test_nothing_listening(tmp_path):
    config = sandbox_config(f"http://127.0.0.1:{free_port()}", max_retries=1,
                            retry_backoff_seconds=0.01)
    assert_error(run_tap(tmp_path, config), "could not reach Pipedrive (ConnectionError)",
                 "gave up after 1 retries")


# --- the OAuth settings file ------------------------------------------------------------------


@pytest.fixture
def headless(make_sandbox, tmp_path):
    sb = start_sandbox(make_sandbox)
    config = oauth_config(sb, tmp_path, auth_method="oauth-headless", api_url=sb.url)
    return sb, config, tmp_path / "OAuthSettings.txt"


def test_settings_file_missing(headless, tmp_path):
    sb, config, path = headless
    assert_error(run_tap(tmp_path, config), f"no OAuth tokens in {path}", "oauth_verifier",
                 absent=(sb.client_secret,))


def test_settings_file_corrupt(headless, tmp_path):
    sb, config, path = headless
    path.write_text("this is not a settings file")
    assert_error(run_tap(tmp_path, config), "is damaged or not a tap-pipedrive settings file",
                 absent=(sb.client_secret,))


def test_settings_file_unreadable(headless, tmp_path):
    sb, config, path = headless
    path.mkdir()
    assert_error(run_tap(tmp_path, config), "cannot read the OAuth settings file",
                 absent=(sb.client_secret,))


def test_settings_file_of_another_key(headless, tmp_path):
    sb, config, path = headless
    TokenFile(path, "another-client-secret").save(
        Tokens(access_token="at-OTHERKEY-1", refresh_token="rt-OTHERKEY-2"))
    run = run_tap(tmp_path, config)
    assert_error(run, "cannot decrypt the OAuth settings file",
                 "another oauth_client_secret", absent=(sb.client_secret, "rt-OTHERKEY-2"))
