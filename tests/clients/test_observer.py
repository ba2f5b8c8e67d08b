"""What the clients tell their observer (``clients.observer``), against the PowerOffice Go
emulator over HTTP: every request's wait and answer, 429s, token requests and their failures."""

from __future__ import annotations

import httpx
import pytest

from clients.errors import AmbiguousWriteError, NetworkError
from clients.http import build_http_client
from clients.poweroffice import PowerOfficeClient
from clients.ratelimit import InProcessRateLimiter
from clients.retry import RetryPolicy
from sandbox.testing import PowerOfficeEmulatorHandle


class Recorder:
    def __init__(self) -> None:
        self.waits: list[float] = []
        self.answers: list[tuple[str, int | None]] = []
        self.tokens: list[bool] = []

    def waited(self, seconds: float) -> None:
        self.waits.append(seconds)

    def answered(self, method: str, status: int | None) -> None:
        self.answers.append((method, status))

    def token_fetched(self, ok: bool) -> None:
        self.tokens.append(ok)


def _client(emulator: PowerOfficeEmulatorHandle, observer: Recorder) -> PowerOfficeClient:
    http = build_http_client(
        base_url=emulator.base_url, limiter=InProcessRateLimiter(1000.0), observer=observer
    )
    return PowerOfficeClient(
        http,
        application_key=emulator.application_key,
        client_key=emulator.client_key,
        subscription_key=emulator.subscription_key,
        token_url=emulator.token_url,
        observer=observer,
    )


@pytest.fixture
def emulator(poweroffice_emulator: PowerOfficeEmulatorHandle) -> PowerOfficeEmulatorHandle:
    poweroffice_emulator.configure(rate_limit_enabled=False)
    return poweroffice_emulator


def test_every_request_on_the_wire_reports_its_wait_and_status(
    emulator: PowerOfficeEmulatorHandle,
) -> None:
    observer = Recorder()
    emulator.set_faults([{"route": "GET /v2/VatCodes", "burst_429": 1}])
    with _client(emulator, observer) as po:
        assert len(list(po.iter_vat_codes())) == 10
    # The token request, the 429, and the retried page (10 codes fit one page).
    assert observer.answers == [("POST", 200), ("GET", 429), ("GET", 200)]
    assert len(observer.waits) == 3
    assert all(0.0 <= wait < 1.0 for wait in observer.waits)
    assert observer.tokens == [True]


def test_a_failing_token_endpoint_is_reported_per_request(
    emulator: PowerOfficeEmulatorHandle,
) -> None:
    observer = Recorder()
    emulator.set_faults([{"route": "POST /OAuth/Token", "error_rate": 1.0, "status": 503}])
    with _client(emulator, observer) as po:
        for _ in range(2):
            # A POST that got a 5xx may have been applied: not retried in the client.
            with pytest.raises(AmbiguousWriteError):
                po.authenticate()
    assert observer.tokens == [False, False]
    assert observer.answers == [("POST", 503), ("POST", 503)]


def test_no_answer_is_reported_as_none() -> None:
    observer = Recorder()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    http = build_http_client(
        base_url="http://api.invalid/v2", transport=httpx.MockTransport(refuse), observer=observer
    )
    po = PowerOfficeClient(
        http,
        application_key="application-key",
        client_key="client-key-0001",
        subscription_key="subscription-key",
        token_url="http://api.invalid/OAuth/Token",
        retry=RetryPolicy(attempts=1),
        observer=observer,
    )
    with po, pytest.raises(NetworkError):
        po.authenticate()
    assert observer.answers == [("POST", None)]
    assert observer.waits == []  # no limiter: nothing to wait for
    assert observer.tokens == [False]
