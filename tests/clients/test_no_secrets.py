"""No credential reaches a log record or an exception text, whatever goes wrong."""

from __future__ import annotations

import base64
import logging

import pytest

from clients.errors import ClientError
from clients.http import build_http_client
from clients.models import CustomerPost, RackbeatCustomerCreate
from clients.poweroffice import PowerOfficeClient
from clients.rackbeat import CUSTOMERS, RackbeatClient
from clients.tokens import InProcessTokenCache, TokenFetcher
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle


class RecordingTokens(InProcessTokenCache):
    """Remembers every access token it handed out, so the test can look for them."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def get(self, fetch: TokenFetcher) -> str:
        token = super().get(fetch)
        self.seen.add(token)
        return token


def _texts(caplog: pytest.LogCaptureFixture, errors: list[ClientError]) -> str:
    lines = [record.getMessage() for record in caplog.records]
    lines += [repr(record.args) for record in caplog.records]
    lines += [str(error) for error in errors] + [repr(error) for error in errors]
    lines += [error.body_excerpt for error in errors]
    return "\n".join(lines)


def test_poweroffice_failures_leak_no_key_or_token(
    poweroffice_emulator: PowerOfficeEmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emulator = poweroffice_emulator
    emulator.configure(rate_limit_enabled=False, token_expires_in=60)
    tokens = RecordingTokens()
    errors: list[ClientError] = []
    http = build_http_client(base_url=emulator.base_url)
    with PowerOfficeClient(
        http,
        application_key=emulator.application_key,
        client_key=emulator.client_key,
        subscription_key=emulator.subscription_key,
        token_url=emulator.token_url,
        tokens=tokens,
    ) as po:
        po.client_integration_information()
        emulator.advance_clock(61)  # 401, refresh, replay
        po.client_integration_information()
        emulator.set_faults(
            [
                {"route": "GET /v2/VatCodes", "burst_429": 10},
                {"route": "POST /v2/Customers", "commit_then_drop_rate": 1.0, "times": 1},
            ]
        )
        for action in (
            lambda: list(po.iter_vat_codes()),
            lambda: po.create_customer(CustomerPost(name="Drop AS")),
            lambda: po.get_product(424242),
        ):
            with pytest.raises(ClientError) as caught:
                action()
            errors.append(caught.value)
    wrong_http = build_http_client(base_url=emulator.base_url)
    with (
        PowerOfficeClient(
            wrong_http,
            application_key=emulator.application_key,
            client_key="wrong-client-key-0000",
            subscription_key=emulator.subscription_key,
            token_url=emulator.token_url,
        ) as refused,
        pytest.raises(ClientError) as caught,
    ):
        refused.client_integration_information()
    errors.append(caught.value)
    assert len(tokens.seen) == 2
    secrets = {
        emulator.application_key,
        emulator.client_key,
        emulator.subscription_key,
        "wrong-client-key-0000",
        base64.b64encode(f"{emulator.application_key}:{emulator.client_key}".encode()).decode(),
        *tokens.seen,
    }
    text = _texts(caplog, errors)
    assert len(errors) == 4
    assert caplog.records, "the failures were logged"
    for secret in secrets:
        assert secret not in text


def test_rackbeat_failures_leak_no_token(
    rackbeat_emulator: RackbeatEmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[ClientError] = []
    http = build_http_client(base_url=rackbeat_emulator.base_url)
    with RackbeatClient(http, token=rackbeat_emulator.token) as rackbeat:
        rackbeat_emulator.set_faults([{"route": "GET /api/units", "error_rate": 1.0}])
        for action in (
            lambda: list(rackbeat.iter_units()),
            lambda: rackbeat.create_customer(
                RackbeatCustomerCreate(number=10001, company_name="Dup")
            ),
        ):
            with pytest.raises(ClientError) as caught:
                action()
            errors.append(caught.value)
    wrong = "not-the-token-0123456789"
    with RackbeatClient(build_http_client(base_url=rackbeat_emulator.base_url), token=wrong) as bad:
        with pytest.raises(ClientError) as caught:
            bad.get(CUSTOMERS, 10001)
        errors.append(caught.value)
    text = _texts(caplog, errors)
    assert len(errors) == 3
    assert rackbeat_emulator.token not in text
    assert wrong not in text
