"""The Rackbeat emulator's rate limit, counters and fault hooks, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.testing_rackbeat import RackbeatEmulatorHandle


@pytest.fixture
def api(rackbeat_emulator: RackbeatEmulatorHandle) -> Iterator[httpx.Client]:
    with rackbeat_emulator.client() as client:
        yield client


def test_rate_headers_on_every_response(api: httpx.Client) -> None:
    first = api.get("units")
    assert first.headers["X-RateLimit-Limit"] == "480"
    assert first.headers["X-RateLimit-Remaining"] == "479"
    second = api.get("units/1")
    assert second.headers["X-RateLimit-Remaining"] == "478"
    missing = api.get("units/999")
    assert missing.status_code == 404
    assert missing.headers["X-RateLimit-Remaining"] == "477"


def test_429_with_retry_after_when_the_window_is_full(
    rackbeat_emulator: RackbeatEmulatorHandle, api: httpx.Client
) -> None:
    rackbeat_emulator.configure(rate_limit_per_minute=3)
    remaining = [api.get("units").headers["X-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    refused = api.get("units")
    assert refused.status_code == 429
    assert refused.json() == {"message": "Too Many Attempts."}
    assert refused.headers["X-RateLimit-Limit"] == "3"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    counters = rackbeat_emulator.counters()
    assert counters["events"]["rate_limited"] == 1
    assert counters["statuses"]["429"] == 1
    # The admin surface is never limited.
    assert rackbeat_emulator.admin.get("counters").status_code == 200


def test_rate_limit_can_be_switched_off(
    rackbeat_emulator: RackbeatEmulatorHandle, api: httpx.Client
) -> None:
    rackbeat_emulator.configure(rate_limit_per_minute=2, rate_limit_enabled=False)
    statuses = {api.get("units").status_code for _ in range(5)}
    assert statuses == {206}
    assert api.get("units").headers["X-RateLimit-Remaining"] == "2"


def _units(handle: RackbeatEmulatorHandle, token: str) -> int:
    url = f"{handle.base_url}units"
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code


def test_the_limit_is_per_token(rackbeat_emulator: RackbeatEmulatorHandle) -> None:
    rackbeat_emulator.configure(rate_limit_per_minute=1, other_tokens=["second-token"])
    assert _units(rackbeat_emulator, rackbeat_emulator.token) == 206
    assert _units(rackbeat_emulator, rackbeat_emulator.token) == 429
    assert _units(rackbeat_emulator, "second-token") == 206
    assert _units(rackbeat_emulator, "second-token") == 429


def test_a_replaced_token_is_401(rackbeat_emulator: RackbeatEmulatorHandle) -> None:
    old = rackbeat_emulator.token
    rackbeat_emulator.configure(token="rotated-token")
    assert _units(rackbeat_emulator, old) == 401
    assert _units(rackbeat_emulator, "rotated-token") == 206


def test_requests_are_counted_per_route(
    rackbeat_emulator: RackbeatEmulatorHandle, api: httpx.Client
) -> None:
    api.get("products/10001")
    api.get("products/AB%252F100")
    api.get("products")
    api.get("customers/10001/contacts")
    requests = rackbeat_emulator.counters()["requests"]
    assert requests == {
        "GET /api/customers/{number}/contacts": 1,
        "GET /api/products": 1,
        "GET /api/products/{number}": 2,
    }


def test_injected_429_burst_looks_like_the_real_one(
    rackbeat_emulator: RackbeatEmulatorHandle, api: httpx.Client
) -> None:
    rackbeat_emulator.set_faults([{"route": "GET /api/products*", "burst_429": 2}])
    statuses = [api.get("products").status_code for _ in range(3)]
    assert statuses == [429, 429, 206]
    throttled = api.get("units")
    assert throttled.status_code == 206
    rackbeat_emulator.set_faults([{"route": "GET /api/units", "burst_429": 1}])
    burst = api.get("units")
    assert burst.headers["Retry-After"] == "1"
    assert burst.headers["X-RateLimit-Remaining"] == "0"


def test_commit_then_drop_keeps_the_write(
    rackbeat_emulator: RackbeatEmulatorHandle, api: httpx.Client
) -> None:
    rackbeat_emulator.set_faults(
        [{"route": "POST /api/units", "commit_then_drop_rate": 1.0, "times": 1}]
    )
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("units", json={"number": 50, "name": "Hour"})
    assert api.get("units/50").json()["unit"]["name"] == "Hour"
    retry = api.post("units", json={"number": 50, "name": "Hour"})
    assert retry.status_code == 422
    assert rackbeat_emulator.counters()["duplicates_refused"] == 1


def test_reset_with_seed_and_scale(rackbeat_emulator: RackbeatEmulatorHandle) -> None:
    summary = rackbeat_emulator.reset(seed=9, scale=7)
    assert summary["records"]["products"] == 7
    assert summary["records"]["customers"] == 8
    state = rackbeat_emulator.state()
    assert len(state["products"]) == 7
    assert state["products"][0]["number"] == "AB/100"
