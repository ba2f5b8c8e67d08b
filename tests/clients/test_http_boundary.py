"""Transport errors translated once, at the boundary: edges a real server cannot make on demand."""

from __future__ import annotations

import httpx
import pytest

from clients.errors import (
    AmbiguousWriteError,
    ClientError,
    NetworkError,
    PermanentError,
    RateLimitWaitError,
)
from clients.http import Scrubber, build_http_client, send
from clients.ratelimit import CATCH_UP_FRACTION, InProcessRateLimiter, SlotUnavailableError


def _raising(exc_type: type[httpx.TransportError]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom", request=request)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("exc_type", "method", "expected"),
    [
        (httpx.ConnectError, "POST", NetworkError),
        (httpx.ConnectTimeout, "POST", NetworkError),
        (httpx.PoolTimeout, "POST", NetworkError),
        (httpx.ReadTimeout, "POST", AmbiguousWriteError),
        (httpx.WriteTimeout, "POST", AmbiguousWriteError),
        (httpx.RemoteProtocolError, "POST", AmbiguousWriteError),
        (httpx.ReadError, "POST", AmbiguousWriteError),
        (httpx.ReadTimeout, "GET", NetworkError),
        (httpx.RemoteProtocolError, "GET", NetworkError),
        (httpx.ReadTimeout, "PATCH", NetworkError),
        (httpx.UnsupportedProtocol, "GET", PermanentError),
    ],
)
def test_transport_errors_by_whether_a_write_may_have_happened(
    exc_type: type[httpx.TransportError], method: str, expected: type[ClientError]
) -> None:
    with build_http_client(base_url="http://api.test/", transport=_raising(exc_type)) as client:
        request = client.build_request(method, "things")
        with pytest.raises(expected) as caught:
            send(client, request, scrub=Scrubber())
    assert type(caught.value) is expected
    assert isinstance(caught.value.__cause__, exc_type)
    assert caught.value.method == method
    assert caught.value.path == "/things"
    assert caught.value.status is None


def test_any_2xx_is_success_including_206() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(206, json={"products": []}))
    with build_http_client(base_url="http://api.test/api/", transport=transport) as client:
        response = send(client, client.build_request("GET", "products"), scrub=Scrubber())
    assert response.status_code == 206
    assert str(response.request.url) == "http://api.test/api/products"


def test_the_client_sends_a_descriptive_user_agent_and_explicit_timeouts() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    with build_http_client(
        base_url="http://api.test/",
        transport=httpx.MockTransport(handler),
        timeout_seconds=12.0,
        connect_timeout_seconds=3.0,
    ) as client:
        send(client, client.build_request("GET", "self"), scrub=Scrubber())
        assert client.timeout == httpx.Timeout(12.0, connect=3.0)
    user_agent = seen[0].headers["User-Agent"]
    assert user_agent.startswith("rbsync/")
    assert "Rackbeat-PowerOffice Go sync" in user_agent


def test_every_request_takes_a_limiter_slot() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = InProcessRateLimiter(5.0, clock=lambda: now[0], sleep=sleep)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    with build_http_client(
        base_url="http://api.test/", transport=transport, limiter=limiter
    ) as client:
        for _ in range(3):
            send(client, client.build_request("GET", "x"), scrub=Scrubber())
    # The first request goes at once; the next ones wait for their slots at 5 requests/s
    # (the first interval of a fresh stream is shortened by the catch-up).
    assert slept == [pytest.approx(0.2 * (1 - CATCH_UP_FRACTION)), pytest.approx(0.2)]


def test_a_limiter_without_a_slot_is_a_retriable_error_naming_the_request() -> None:
    class Full:
        def acquire(self) -> None:
            raise SlotUnavailableError("no slot within 60.0 s")

    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    with (
        build_http_client(
            base_url="http://api.test/", transport=transport, limiter=Full()
        ) as client,
        pytest.raises(RateLimitWaitError) as caught,
    ):
        send(client, client.build_request("GET", "Products"), scrub=Scrubber())
    assert str(caught.value) == "GET /Products: no slot within 60.0 s"
