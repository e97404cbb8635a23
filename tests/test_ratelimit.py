"""Rate limits: pacing from the x-ratelimit-* headers, burst 429s waited out, the daily budget
told apart and stopped at, the run's token cap, the spec's token costs, the end-of-run log."""

from __future__ import annotations

import pytest
import requests
from helpers import summary_table
from resume_helpers import CORE, catalog, config, ids_of, sync

from tap_pipedrive.ratelimit import DailyBudgetSpent, RateLimited, RateLimiter, RunCapReached
from tap_pipedrive.token_costs import cost_of
from tap_pipedrive_sandbox import Sandbox


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


class Waits(Exception):
    """The limiter would sleep (a test's `sleep`): the caller decides what happens then."""


def limiter(**kwargs) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(clock=clock, sleep=clock.sleep, **kwargs), clock


def raising_limiter() -> tuple[RateLimiter, FakeClock]:
    """A limiter whose waits raise `Waits` instead of sleeping."""
    clock = FakeClock()

    def waits(seconds: float) -> None:
        raise Waits(seconds)

    return RateLimiter(clock=clock, sleep=waits), clock


def headers(remaining=None, reset=None, daily=None, retry_after=None) -> dict[str, str]:
    values = {"x-ratelimit-remaining": remaining, "x-ratelimit-reset": reset,
              "x-daily-ratelimit-token-remaining": daily, "retry-after": retry_after}
    return {k: str(v) for k, v in values.items() if v is not None}


# --- the limiter on its own -------------------------------------------------------------


def test_paces_when_the_window_is_full():
    rl, clock = limiter()
    rl.acquire("deals", 10)
    rl.observe("deals", 10, 200, headers(remaining=1, reset=2))
    rl.acquire("deals", 10)  # one slot left: no wait
    rl.observe("deals", 10, 200, headers(remaining=0, reset=2))
    rl.acquire("deals", 10)  # window full: wait for its reset
    assert clock.slept == [2.0]
    assert rl.usage["deals"].requests == 3


def test_no_headers_no_pacing():
    rl, clock = limiter()
    for _ in range(5):
        rl.acquire("deals", 10)
        rl.observe("deals", 10, 200, {})
    assert clock.slept == []
    assert rl.tokens == 50


def test_burst_429_waits_for_the_reset_and_is_not_charged():
    rl, clock = limiter()
    rl.acquire("deals", 10)
    wait = rl.observe("deals", 10, 429, headers(remaining=0, reset=2))
    assert wait == 2
    assert rl.usage["deals"].tokens == 0 and rl.usage["deals"].rate_limited == 1
    clock.sleep(wait)  # what backoff does
    rl.acquire("persons", 10)  # the window has moved on: no second wait
    assert clock.slept == [2]


def answer(status: int, **kwargs) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers(**kwargs))
    return response


def test_check_handles_every_429():
    """The limiter turns a burst 429 into RateLimited, retried after its wait (with a little
    jitter); any other answer passes, its headers observed."""
    rl, _ = limiter()
    rl.acquire("deals", 10)
    rl.check("deals", 10, answer(200, remaining=5, reset=2), lambda r: "not asked")
    rl.acquire("deals", 10)
    with pytest.raises(RateLimited, match=r"^429 to GET /deals$") as caught:
        rl.check("deals", 10, answer(429, remaining=0, reset=2),
                 lambda r: f"{r.status_code} to GET /deals")
    assert caught.value.wait == 2 and 2 <= caught.value.retry_wait() <= 2.25
    assert rl.usage["deals"].rate_limited == 1 and rl.usage["deals"].tokens == 10


def test_429_blocks_every_stream_until_the_reset():
    rl, clock = limiter()
    rl.acquire("deals", 10)
    rl.observe("deals", 10, 429, headers(remaining=0, reset=2))
    rl.acquire("persons", 10)  # another stream (or thread) waits too
    assert clock.slept == [2.0]


def test_after_a_429_the_room_counted_before_is_not_trusted():
    """Room was counted (10 left), but a 429 says the window is full (another client of the
    same token, say): after the wait one request tests the window, not ten at once."""
    rl, clock = raising_limiter()
    rl.acquire("deals", 10)
    rl.observe("deals", 10, 200, headers(remaining=11, reset=2))
    rl.release()
    rl.acquire("deals", 10)
    clock.now += rl.observe("deals", 10, 429, headers(remaining=0, reset=2))  # waited out
    rl.release()
    rl.acquire("deals", 10)  # the request that tests the new window
    with pytest.raises(Waits):
        rl.acquire("persons", 10)  # the next waits for its answer


def test_429_without_headers_backs_off_exponentially():
    rl, _ = limiter()
    waits = [rl.observe("deals", 10, 429, {}) for _ in range(3)]
    assert waits == [2, 4, 8]


def test_retry_after_is_honoured():
    rl, _ = limiter()
    assert rl.observe("deals", 10, 429, headers(retry_after=3)) == 3


@pytest.mark.parametrize(
    ("responses", "reason"),
    [
        ([headers(remaining=0, reset=2, daily=0)], "x-daily-ratelimit-token-remaining is 0"),
        ([headers(remaining=0, reset=3600)], "reset is 1 h 00 min away"),
        ([headers(retry_after=7200)], "reset is 2 h 00 min away"),
        ([headers(remaining=30, reset=2)] * 2, "burst window had room"),
    ],
)
def test_daily_budget_is_told_from_the_burst_limit(responses, reason):
    rl, _ = limiter(max_wait=60)
    with pytest.raises(DailyBudgetSpent, match=reason) as caught:
        for h in responses:
            rl.observe("deals", 10, 429, h)
    message = str(caught.value)
    assert "daily Pipedrive API budget is spent" in message and "resets" in message
    assert "\n" not in message
    assert caught.value.exit_code == 75


def test_after_a_daily_stop_no_other_request_goes():
    rl, _ = limiter()
    with pytest.raises(DailyBudgetSpent):
        rl.observe("deals", 10, 429, headers(daily=0))
    with pytest.raises(DailyBudgetSpent):  # e.g. another thread's stream
        rl.acquire("persons", 10)
    assert "persons" not in rl.usage


def test_limiter_is_shared_safely_by_threads():
    import threading

    rl = RateLimiter(token_cap=1000)
    errors: list[Exception] = []

    def worker() -> None:
        for _ in range(50):
            try:
                rl.acquire("deals", 10)
            except RunCapReached as exc:
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert rl.tokens == 1000 and rl.usage["deals"].requests == 100  # never past the cap
    assert len(errors) == 300


def test_an_older_request_answered_first_gives_no_room_it_used():
    """Two threads: R is numbered first, A second, but A reaches Pipedrive first (its count
    says 2 left of 3) and R's answer comes back first. A's count does not include R: only
    one request may go before the window's reset, not two."""
    from concurrent.futures import ThreadPoolExecutor

    rl, clock = limiter()
    with ThreadPoolExecutor(1) as r, ThreadPoolExecutor(1) as a:
        r.submit(rl.acquire, "deals", 10).result()
        a.submit(rl.acquire, "deals", 10).result()
        # Pipedrive counts A (2 left), then R (1 left); R's answer is read first
        r.submit(rl.observe, "deals", 10, 200, headers(remaining=1, reset=2)).result()
        r.submit(rl.release).result()
        a.submit(rl.observe, "deals", 10, 200, headers(remaining=2, reset=2)).result()
        a.submit(rl.release).result()
    rl.acquire("deals", 10)  # the one slot left
    assert clock.slept == []
    rl.acquire("deals", 10)  # the window is full: wait for its reset
    assert clock.slept == [2.0]


@pytest.mark.parametrize("seed", range(40))
def test_no_order_of_sends_arrivals_and_answers_passes_the_burst_window(seed):
    """4 threads against the sandbox's rolling window (8 per 2 s), in a random order of
    sends, arrivals at the server (not the order they were sent) and answers read (not
    the order they arrived): whatever the limiter lets go is never refused with a 429,
    and it does not stall either."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    from tap_pipedrive_sandbox.ratelimit import BurstLimiter

    rng = random.Random(seed)
    rl, clock = raising_limiter()
    server = BurstLimiter(8, clock=clock)
    threads = [ThreadPoolExecutor(1) for _ in range(4)]
    sent: list[int] = []  # threads whose request is on its way
    arrived: dict[int, dict[str, str]] = {}  # threads whose answer is on its way: headers
    refused = answered = 0
    try:
        for _ in range(3000):
            worker = rng.randrange(4)
            if worker in arrived and rng.random() < 0.5:
                answer = arrived.pop(worker)
                threads[worker].submit(rl.observe, "deals", 10, 200, answer).result()
                threads[worker].submit(rl.release).result()
                answered += 1
            elif sent and rng.random() < 0.5:
                arriving = sent.pop(rng.randrange(len(sent)))
                ok, answer = server.hit("token")
                refused += not ok
                arrived[arriving] = answer
            elif worker not in sent and worker not in arrived:
                try:
                    threads[worker].submit(rl.acquire, "deals", 10).result()
                    sent.append(worker)
                except Waits as wait:
                    clock.now += wait.args[0]
            clock.now += rng.choice((0.0, 0.0, 0.001, 0.01, 0.05))
    finally:
        for thread in threads:
            thread.shutdown()
    assert refused == 0
    assert answered > 0.3 * 8 / 2 * (clock.now - 100.0)  # it kept sending: 30 % of the limit


def test_one_429_with_room_in_the_window_is_retried():
    rl, _ = limiter()
    assert rl.observe("deals", 10, 429, headers(remaining=30, reset=2)) == 2
    rl.observe("deals", 10, 200, headers(remaining=29, reset=2))  # a success clears strikes
    assert rl.observe("deals", 10, 429, headers(remaining=30, reset=2)) == 2


def test_run_cap_stops_before_the_request_that_would_pass_it():
    rl, _ = limiter(token_cap=25)
    rl.acquire("deals", 10)
    rl.acquire("deals", 10)
    with pytest.raises(RunCapReached, match=r"max_tokens_per_run=25\): 20 tokens spent"):
        rl.acquire("persons", 10)
    assert rl.tokens == 20


def test_summary_per_stream_and_total():
    rl, _ = limiter(token_cap=100)
    rl.acquire("deals", 10)
    rl.observe("deals", 10, 200, headers(daily=990))
    rl.acquire("users", 20)
    rl.retried("users")
    usage, notes = rl.summary()
    assert notes == ["30 tokens of a 100 cap", "daily budget left: 990"]
    assert list(usage) == ["deals", "users"]
    assert vars(usage["deals"]) == {"requests": 1, "tokens": 10, "retries": 0, "rate_limited": 0}
    assert vars(usage["users"]) == {"requests": 1, "tokens": 20, "retries": 1, "rate_limited": 0}
    usage["users"].tokens = 0  # a copy: the table cannot change the limiter's counts
    assert rl.tokens == 30
    assert limiter()[0].summary() == ({}, [])


def test_costs_come_from_the_spec():
    assert cost_of("/api/v2/deals") == 10
    assert cost_of("/api/v2/pipelines") == 5
    assert cost_of("/api/v1/users") == 20
    assert cost_of("/api/v1/users/me") == 2
    assert cost_of("/api/v1/deals/{id}/flow") == 40  # a stream's templated path
    assert cost_of("/api/v1/deals/17/flow") == 40  # a concrete one (the sandbox's)
    assert cost_of("/api/v2/not-in-the-spec") == 10  # the documented v2 list price
    assert cost_of("/api/v1/not-in-the-spec") == 20


# --- the sandbox's limits ---------------------------------------------------------------


def test_sandbox_daily_budget_and_headers():
    import requests

    with Sandbox(records=10, daily_limit=25) as sb:
        get = lambda: requests.get(f"{sb.url}/api/v2/deals",  # noqa: E731
                                   headers={"x-api-token": sb.api_token}, timeout=10)
        first = get()
        assert first.headers["x-daily-ratelimit-token-limit"] == "25"
        assert first.headers["x-daily-ratelimit-token-remaining"] == "15"
        assert [get().status_code for _ in range(3)] == [200, 200, 429]  # 10 + 10 + 10 >= 25
        over = get()
        assert over.json()["error"] == "Daily API token budget exceeded"
        assert over.headers["x-daily-ratelimit-token-remaining"] == "0"
        assert int(over.headers["x-ratelimit-remaining"]) > 0  # not the burst limit
        assert sb.reset_daily_budget() == 30
        assert get().status_code == 200
    with Sandbox(records=10, daily_limit=5, ratelimit_headers=False) as sb:
        response = get()
        assert not [h for h in response.headers if "ratelimit" in h.lower()]


# --- the tap against the sandbox ----------------------------------------------------------


@pytest.fixture(scope="module")
def core_catalog(tmp_path_factory):
    return catalog(tmp_path_factory.mktemp("catalog"), CORE)


def test_burst_limit_is_paced_not_hit(make_sandbox, tmp_path, core_catalog):
    """8 per 2 s: the requests in flight before the first answer (the default's 8, under
    the smallest plan's 20) fit; from then on the headers pace every thread."""
    sb = make_sandbox(records=600, seed=5, burst_limit=8)
    run = sync(tmp_path, config(sb.url), core_catalog)
    assert run.returncode == 0, run.stderr
    assert ids_of(run) == {s: {r["id"] for r in sb.data.records(s)} for s in CORE}
    statuses = [r["status"] for r in sb.requests]
    assert statuses.count(429) <= 1, statuses  # the headers keep the run under the limit
    assert "Sync summary (finished)" in run.stderr


def test_burst_limit_without_headers(make_sandbox, tmp_path, core_catalog):
    """No x-ratelimit-* header at all: 429s are waited out with exponential backoff."""
    sb = make_sandbox(records=20, seed=5, burst_limit=3, ratelimit_headers=False)
    run = sync(tmp_path, config(sb.url, max_retries=4), core_catalog)
    assert run.returncode == 0, run.stderr
    assert ids_of(run) == {s: {r["id"] for r in sb.data.records(s)} for s in CORE}
    assert 429 in [r["status"] for r in sb.requests]


def test_end_of_run_log_counts_requests_and_tokens(make_sandbox, tmp_path, core_catalog):
    sb = make_sandbox(records=600, seed=5)
    run = sync(tmp_path, config(sb.url), core_catalog)
    assert run.returncode == 0, run.stderr
    by_path: dict[str, int] = {}
    for request in sb.requests:
        by_path[request["path"]] = by_path.get(request["path"], 0) + 1
    total_tokens = sum(cost_of(path) * n for path, n in by_path.items())
    table = summary_table(run.stderr)
    assert (table["total"]["requests"], table["total"]["tokens"]) == (len(sb.requests),
                                                                      total_tokens)
    deals = by_path["/api/v2/deals"]
    assert (table["deals"]["requests"], table["deals"]["tokens"]) == (deals, 10 * deals)
    assert (table["users"]["requests"], table["users"]["tokens"]) == (1, 20)


# --- waits no header may stretch, values no header may break ------------------------------


def test_a_200_leaving_no_room_until_a_far_reset_stops_the_run():
    from tap_pipedrive.ratelimit import LongWait

    rl, clock = limiter(max_wait=60)
    rl.acquire("deals", 10)
    rl.observe("deals", 10, 200, headers(remaining=0, reset=86400))
    rl.release()
    with pytest.raises(LongWait, match="max_rate_limit_wait=60 s") as caught:
        rl.acquire("deals", 10)
    assert clock.slept == [] and caught.value.exit_code == 75
    assert rl.usage["deals"].requests == 1  # the request never sent is not counted
    with pytest.raises(LongWait):  # nor does any other stream's
        rl.acquire("persons", 10)


@pytest.mark.parametrize("value", ["1e12", "1e300", "-5", "abc", "inf", "-inf", "nan", "",
                                   "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 2024 0:0:0 -0000",
                                   "99999999999999999999999999999999999"])
def test_any_header_value_is_read_without_a_crash(value):
    from tap_pipedrive.ratelimit import BudgetStop

    for status in (200, 429):
        rl, clock = limiter(max_wait=60)
        all_headers = {"x-ratelimit-remaining": value, "x-ratelimit-reset": value,
                       "retry-after": value, "x-daily-ratelimit-token-remaining": value}
        for names in (all_headers, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": value},
                      {"retry-after": value}):
            try:
                rl.acquire("deals", 10)
                wait = rl.observe("deals", 10, status, names)
                rl.release()
                assert 0 <= wait <= 60
                rl.acquire("deals", 10)
                rl.release()
            except BudgetStop as stop:
                assert "\n" not in str(stop) and len(str(stop)) < 400
        assert all(0 <= s <= 60 for s in clock.slept)
        rl.summary()
