"""PowerOffice Go emulator over HTTP: token endpoint, subscription key, token expiry, 429, /Demo."""

from __future__ import annotations

import base64
import re

import httpx
import pytest

from sandbox.testing import PowerOfficeEmulatorHandle


def _token_request(
    po: PowerOfficeEmulatorHandle,
    *,
    url: str | None = None,
    auth: tuple[str, str] | None = None,
    grant_type: str = "client_credentials",
    subscription_key: str | None = None,
) -> httpx.Response:
    return httpx.post(
        url or po.token_url,
        data={"grant_type": grant_type},
        auth=auth or (po.application_key, po.client_key),
        headers={"Ocp-Apim-Subscription-Key": subscription_key or po.subscription_key},
        timeout=10,
    )


def test_token_endpoint_issues_a_bearer_token_and_counts_it(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    po = poweroffice_emulator
    response = _token_request(po)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1200
    assert po.counters()["events"]["token_requests"] == 1


def test_token_endpoint_sends_basic_credentials_exactly(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    po = poweroffice_emulator
    basic = base64.b64encode(f"{po.application_key}:{po.client_key}".encode()).decode()
    response = httpx.post(
        po.token_url,
        content=b"grant_type=client_credentials",
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Ocp-Apim-Subscription-Key": po.subscription_key,
        },
        timeout=10,
    )
    assert response.status_code == 200


def test_token_endpoint_refuses_wrong_keys_as_invalid_client(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    po = poweroffice_emulator
    response = _token_request(po, auth=(po.application_key, "not-the-client-key"))
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "Client integration not found. Please ensure the provided keys "
        "are matching the desired environment.",
    }


def test_token_endpoint_refuses_other_grant_types(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    response = _token_request(poweroffice_emulator, grant_type="password")
    assert response.status_code == 400
    assert response.json() == {"error": "unsupported_grant_type"}


def test_missing_subscription_key_is_the_gateways_401(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    po = poweroffice_emulator
    token = po.fetch_token()
    response = httpx.get(
        f"{po.base_url}/VatCodes", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "message": "Access denied due to missing subscription key. Make sure to include "
        "subscription key when making requests to an API.",
    }


def test_wrong_subscription_key_is_the_gateways_401(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    response = _token_request(poweroffice_emulator, subscription_key="wrong")
    assert response.status_code == 401
    assert response.json()["message"].startswith("Access denied due to invalid subscription key")


def test_subscription_key_as_query_parameter_is_accepted(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    po = poweroffice_emulator
    token = po.fetch_token()
    response = httpx.get(
        f"{po.base_url}/VatCodes",
        params={"subscription-key": po.subscription_key},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200


def test_missing_or_unknown_bearer_token_is_401(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    po = poweroffice_emulator
    headers = {"Ocp-Apim-Subscription-Key": po.subscription_key}
    missing = httpx.get(f"{po.base_url}/Products", headers=headers, timeout=10)
    assert missing.status_code == 401
    assert missing.content == b""
    assert missing.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    unknown = httpx.get(
        f"{po.base_url}/Products",
        headers={**headers, "Authorization": "Bearer forged"},
        timeout=10,
    )
    assert unknown.status_code == 401


def test_token_expires_after_expires_in(poweroffice_emulator: PowerOfficeEmulatorHandle) -> None:
    po = poweroffice_emulator
    with po.client() as api:
        assert api.get("VatCodes").status_code == 200
        po.advance_clock(1100)  # margin for a busy machine's real seconds
        assert api.get("VatCodes").status_code == 200
        po.advance_clock(100)
        expired = api.get("VatCodes")
    assert expired.status_code == 401
    assert 'error_description="The access token expired"' in expired.headers["www-authenticate"]


def test_token_lifetime_is_a_knob(poweroffice_emulator: PowerOfficeEmulatorHandle) -> None:
    po = poweroffice_emulator
    po.configure(token_expires_in=60)
    assert _token_request(po).json()["expires_in"] == 60
    with po.client() as api:
        po.advance_clock(61)
        assert api.get("VatCodes").status_code == 401


def test_demo_prefix_serves_the_same_api(poweroffice_emulator: PowerOfficeEmulatorHandle) -> None:
    po = poweroffice_emulator
    token = _token_request(po, url=po.demo_token_url).json()["access_token"]
    headers = {"Ocp-Apim-Subscription-Key": po.subscription_key, "Authorization": f"Bearer {token}"}
    demo = httpx.get(f"{po.demo_base_url}/VatCodes", headers=headers, timeout=10)
    plain = httpx.get(f"{po.base_url}/VatCodes", headers=headers, timeout=10)
    lower = httpx.get(f"{po.url}/demo/v2/vatcodes", headers=headers, timeout=10)
    assert demo.status_code == plain.status_code == lower.status_code == 200
    assert demo.json() == plain.json() == lower.json()
    assert po.counters()["requests"]["GET /v2/VatCodes"] == 3
    assert po.counters()["requests"]["POST /OAuth/Token"] == 1


def test_unknown_route_is_the_gateways_404(poweroffice_emulator: PowerOfficeEmulatorHandle) -> None:
    po = poweroffice_emulator
    with po.client() as api:
        response = api.post("SalesOrders", json={})
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "message": "Resource not found"}


def test_rate_limit_is_ten_per_second_per_subscription_key_with_the_gateway_body(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    po = poweroffice_emulator
    token = po.fetch_token()  # 1 of the 10 in this second
    statuses: list[int] = []
    with po.client(token) as api:
        # Keep-alive requests on loopback until the gateway refuses one (bounded).
        for _ in range(500):
            response = api.get("VatCodes")
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
    assert statuses[-1] == 429
    # A sliding window of 1 s: at least the 9 requests after the token call got through.
    assert statuses.index(429) >= 9
    assert set(statuses[:-1]) == {200}
    assert response.json() == {
        "statusCode": "429",
        "message": "Rate limit is exceeded. Try again in 1 seconds.",
    }
    assert response.headers["retry-after"] == "1"
    assert po.counters()["events"]["rate_limited"] == 1


def test_rate_limit_counts_every_call_of_the_subscription_key(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    po = poweroffice_emulator
    # A 60 s window makes the count exact on a busy machine; the limit is still 10 per window.
    po.configure(rate_limit_window_seconds=60)
    statuses = [
        # Another client key of the same subscription: refused (400) but still counted.
        _token_request(po, auth=(po.application_key, "another-client")).status_code
        for _ in range(12)
    ]
    assert statuses == [400] * 10 + [429] * 2
    limited = _token_request(po)
    assert limited.status_code == 429
    found = re.fullmatch(
        r"Rate limit is exceeded\. Try again in (\d+) seconds\.", limited.json()["message"]
    )
    assert found is not None
    # The oldest of the 10 counted calls leaves the 60 s window first.
    assert 1 <= int(found.group(1)) <= 60
    assert limited.headers["retry-after"] == found.group(1)


def test_rate_limit_can_be_switched_off_and_retry_after_dropped(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    po = poweroffice_emulator
    po.configure(rate_limit_enabled=False)
    with po.client() as api:
        assert {api.get("VatCodes").status_code for _ in range(30)} == {200}
    po.configure(
        rate_limit_enabled=True,
        rate_limit_per_second=1,
        rate_limit_window_seconds=60,
        retry_after_header=False,
    )
    with po.client() as api:  # the token request took the one slot
        limited = api.get("VatCodes")
    assert limited.status_code == 429
    assert "retry-after" not in limited.headers


def test_unknown_knob_is_refused(poweroffice_emulator: PowerOfficeEmulatorHandle) -> None:
    response = poweroffice_emulator.admin.patch("config", json={"rate_limt": 3})
    assert response.status_code == 400
    assert "rate_limt" in response.json()["error"]


@pytest.mark.parametrize("path", ["reset", "counters/reset"])
def test_admin_routes_are_not_rate_limited_or_counted(
    poweroffice_emulator: PowerOfficeEmulatorHandle, path: str
) -> None:
    po = poweroffice_emulator
    po.configure(rate_limit_per_second=1)
    for _ in range(5):
        assert po.admin.post(path, json={}).status_code == 200
    assert po.counters()["total_requests"] == 0
