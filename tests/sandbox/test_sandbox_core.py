"""The shared sandbox core: fault rules, counters, rate limiter, clock, loopback server."""

from __future__ import annotations

import threading

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from sandbox.clock import SandboxClock
from sandbox.counters import Counters, RequestCounterMiddleware
from sandbox.faults import FaultInjector, FaultMiddleware, FaultRule, merge_patch
from sandbox.ratelimit import RateLimiter
from sandbox.server import serve_in_thread


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_fault_rule_glob_matches_method_and_path() -> None:
    rule = FaultRule(route="POST /v2/Products*")
    assert rule.matches("POST", "/v2/Products")
    assert rule.matches("POST", "/v2/Products/7")
    assert not rule.matches("GET", "/v2/Products")
    assert FaultRule().matches("DELETE", "/anything")


def test_fault_rule_refuses_unknown_fields_and_bad_rates() -> None:
    with pytest.raises(ValidationError):
        FaultRule.model_validate({"route": "*", "eror_rate": 1})
    with pytest.raises(ValidationError):
        FaultRule(error_rate=1.5)


def test_burst_429_hits_exactly_the_next_n_matching_requests() -> None:
    injector = FaultInjector([FaultRule(route="GET /x", burst_429=2)])
    decisions = [injector.decide("GET", "/x").too_many_requests for _ in range(4)]
    assert decisions == [True, True, False, False]
    assert injector.decide("GET", "/y").is_clean


def test_times_caps_the_faults_a_rule_injects() -> None:
    injector = FaultInjector([FaultRule(error_rate=1.0, status=502, times=2)])
    statuses = [injector.decide("GET", "/x").error_status for _ in range(4)]
    assert statuses == [502, 502, None, None]
    assert injector.snapshot()[0]["injected"] == 2


def test_commit_then_drop_only_applies_to_writes() -> None:
    injector = FaultInjector([FaultRule(commit_then_drop_rate=1.0)])
    assert not injector.decide("GET", "/x").drop_after_commit
    assert injector.decide("POST", "/x").drop_after_commit
    assert injector.decide("PATCH", "/x").drop_after_commit


def test_same_seed_gives_the_same_fault_sequence() -> None:
    rules = [FaultRule(error_rate=0.5)]
    first = FaultInjector(rules, seed=7)
    second = FaultInjector(rules, seed=7)
    a = [first.decide("GET", "/x").error_status for _ in range(40)]
    b = [second.decide("GET", "/x").error_status for _ in range(40)]
    assert a == b
    assert 503 in a
    assert None in a


def test_set_rules_add_rule_and_clear() -> None:
    injector = FaultInjector()
    injector.add_rule(FaultRule(route="GET *", error_rate=1.0))
    assert injector.decide("GET", "/x").error_status == 503
    injector.set_rules([FaultRule(route="POST *", error_rate=1.0, status=500)])
    assert injector.decide("GET", "/x").is_clean
    assert injector.decide("POST", "/x").error_status == 500
    injector.clear()
    assert injector.rules == []


def test_counters_snapshot_counts_requests_writes_and_events() -> None:
    counters = Counters()
    counters.count_request("GET /v2/Products", 200)
    counters.count_request("GET /v2/Products", 204)
    counters.count_write("Products", "created")
    counters.count_write("Products", "duplicates_refused")
    counters.count_write("Customers", "duplicates_refused", 2)
    counters.count_event("token_requests")
    snap = counters.snapshot()
    assert snap["requests"] == {"GET /v2/Products": 2}
    assert snap["statuses"] == {"200": 1, "204": 1}
    assert snap["writes"]["Products"] == {
        "created": 1,
        "updated": 0,
        "deleted": 0,
        "duplicates_refused": 1,
    }
    assert snap["duplicates_refused"] == 3
    assert snap["events"] == {"token_requests": 1}
    counters.reset()
    assert counters.snapshot()["total_requests"] == 0


def test_counters_refuse_an_unknown_write_kind() -> None:
    with pytest.raises(ValueError, match="unknown write kind"):
        Counters().count_write("Products", "exploded")  # type: ignore[arg-type]


def test_counters_are_thread_safe() -> None:
    counters = Counters()

    def work() -> None:
        for _ in range(2000):
            counters.count_request("GET /x", 200)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert counters.requests("GET /x") == 8000


def test_rate_limiter_allows_limit_per_window_and_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, 1.0, clock=clock)
    assert [limiter.hit("k") for _ in range(3)] == [None, None, None]
    assert limiter.hit("k") == pytest.approx(1.0)
    assert limiter.hit("other") is None
    clock.now += 0.4
    assert limiter.hit("k") == pytest.approx(0.6)
    clock.now += 0.6
    assert limiter.hit("k") is None


def test_rate_limiter_switches_off_and_reconfigures() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, 60.0, clock=clock)
    assert limiter.hit("k") is None
    assert limiter.hit("k") is not None
    limiter.configure(enabled=False)
    assert all(limiter.hit("k") is None for _ in range(100))
    limiter.configure(enabled=True, limit=2)
    assert limiter.hit("k") is None
    assert limiter.hit("k") is None
    assert limiter.hit("k") == pytest.approx(60.0)
    assert RateLimiter.whole_seconds(0.2) == 1
    assert RateLimiter.whole_seconds(1.2) == 2


def test_rate_limiter_refuses_a_nonsense_limit() -> None:
    with pytest.raises(ValueError, match="rate limit"):
        RateLimiter(0, 1.0)


def test_sandbox_clock_only_moves_forward() -> None:
    clock = SandboxClock()
    before = clock.monotonic()
    assert clock.advance(1200) == 1200
    assert clock.monotonic() >= before + 1200
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    clock.reset()
    assert clock.offset == 0


def test_server_refuses_non_loopback_addresses() -> None:
    app = Starlette()
    with pytest.raises(ValueError, match="loopback"):
        serve_in_thread(app, host="0.0.0.0")


def _tiny_app(state: list[object]) -> tuple[ASGIApp, FaultInjector, Counters]:
    async def write(request: Request) -> Response:
        state.append(await request.json())
        return JSONResponse({"stored": len(state)}, status_code=201)

    async def read(request: Request) -> Response:
        return JSONResponse({"n": len(state), "id": request.path_params["n"]})

    routes = [
        Route("/items", write, methods=["POST"]),
        Route("/items/{n}", read, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    injector = FaultInjector()
    counters = Counters()
    faulted = FaultMiddleware(
        app, injector, too_many_requests=lambda: JSONResponse({"slow": 1}, status_code=429)
    )
    counted = RequestCounterMiddleware(faulted, counters, routes)
    return counted, injector, counters


def test_commit_then_drop_closes_the_connection_after_the_write() -> None:
    state: list[object] = []
    app, injector, counters = _tiny_app(state)
    injector.set_rules([FaultRule(route="POST /items", commit_then_drop_rate=1.0, times=1)])
    with serve_in_thread(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/items", json={"a": 1})
        assert state == [{"a": 1}]
        response = client.post("/items", json={"a": 2})
        assert response.status_code == 201
        assert state == [{"a": 1}, {"a": 2}]
    assert counters.requests("POST /items") == 2
    assert counters.snapshot()["statuses"] == {"201": 1}


def test_body_patch_changes_the_answer_of_a_write_that_happened() -> None:
    state: list[object] = []
    app, injector, counters = _tiny_app(state)
    patch = {"stored": "one", "extra": {"x": 1}}
    injector.set_rules([FaultRule(route="POST /items", body_patch=patch, times=1)])
    with serve_in_thread(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        malformed = client.post("/items", json={"a": 1})
        assert malformed.status_code == 201
        assert malformed.json() == {"stored": "one", "extra": {"x": 1}}
        assert state == [{"a": 1}]  # the write happened
        assert client.post("/items", json={"a": 2}).json() == {"stored": 2}
        assert client.get("/items/1").json() == {"n": 2, "id": "1"}  # other routes untouched
    assert [rule["injected"] for rule in injector.snapshot()] == [1]
    assert counters.snapshot()["statuses"] == {"201": 2, "200": 1}


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "n": [1]}
    patch = {"a": "z", "c": {"f": None, "h": 1}, "n": 7, "new": {"k": None}}
    assert merge_patch(target, patch) == {"a": "z", "c": {"d": "e", "h": 1}, "n": 7, "new": {}}
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}, "n": [1]}
    assert merge_patch({"a": 1}, [1, 2]) == [1, 2]


def test_injected_error_and_429_do_not_run_the_handler() -> None:
    state: list[object] = []
    app, injector, counters = _tiny_app(state)
    injector.set_rules(
        [
            FaultRule(route="POST /items", error_rate=1.0, status=502, times=1),
            FaultRule(route="GET /items/*", burst_429=1),
        ]
    )
    with serve_in_thread(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        failed = client.post("/items", json={"a": 1})
        assert failed.status_code == 502
        assert failed.json() == {"message": "Injected fault: HTTP 502"}
        assert state == []
        assert client.get("/items/3").status_code == 429
        assert client.get("/items/3").json() == {"n": 0, "id": "3"}
    assert counters.requests("GET /items/{n}") == 2


def test_timeout_fault_makes_a_client_time_out() -> None:
    app, injector, _ = _tiny_app([])
    injector.set_rules([FaultRule(route="GET *", timeout_rate=1.0, hang_seconds=2.0, times=1)])
    with serve_in_thread(app) as server, httpx.Client(base_url=server.url) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/items/1", timeout=0.2)
        assert client.get("/items/1", timeout=10).status_code == 200


def test_server_url_port_and_stop() -> None:
    app, _, _ = _tiny_app([])
    server = serve_in_thread(app)
    try:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{server.url}/items/1", timeout=10).status_code == 200
    finally:
        server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/items/1", timeout=2)


def test_latency_rule_adds_its_delay_and_counts_each_hit() -> None:
    injector = FaultInjector(
        [FaultRule(route="GET *", latency_ms=250), FaultRule(route="GET /x", latency_ms=50)]
    )
    decision = injector.decide("GET", "/x")
    assert decision.latency_s == pytest.approx(0.3)
    assert not decision.too_many_requests
    assert decision.error_status is None
    assert [rule["injected"] for rule in injector.snapshot()] == [1, 1]
