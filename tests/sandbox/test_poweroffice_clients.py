"""The PowerOffice Go emulator's client companies over HTTP: one subscription key, many client
keys, each its own company; the gateway's limit shared by all; refused keys; missing modules."""

from __future__ import annotations

import time

import httpx

from sandbox.launcher import (
    SandboxOptions,
    add_connection,
    build_sandbox,
    connection_environment,
)
from sandbox.poweroffice import reference
from sandbox.server import serve_in_thread
from sandbox.testing import PowerOfficeEmulatorHandle

PRODUCT = {"Name": "Felles vare", "Code": "SAME-1", "SalesPrice": 10.0}


def test_two_clients_are_two_companies(poweroffice_emulator: PowerOfficeEmulatorHandle) -> None:
    po = poweroffice_emulator
    po.configure(rate_limit_enabled=False)
    other = po.add_client("client-key-2", client_name="Andre Klient AS")
    with po.client() as a, other.client() as b:
        # The same code in both companies: no uniqueness clash across clients.
        first = a.post("Products", json=PRODUCT)
        second = b.post("Products", json=PRODUCT)
        assert (first.status_code, second.status_code) == (200, 200)
        assert first.json()["Id"] != second.json()["Id"]
        assert b.post("Products", json=PRODUCT).status_code == 400  # within one: refused

        # Each token sees its own company only.
        assert [p["Id"] for p in a.get("Products").json()] == [first.json()["Id"]]
        assert [p["Id"] for p in b.get("Products").json()] == [second.json()["Id"]]
        assert b.get(f"Products/{first.json()['Id']}").status_code == 404
        b.patch(
            f"Products/{second.json()['Id']}",
            json=[{"op": "replace", "path": "/Name", "value": "Bare i B"}],
            headers={"Content-Type": "application/json-patch+json"},
        ).raise_for_status()
        assert a.get(f"Products/{first.json()['Id']}").json()["Name"] == "Felles vare"

        info = b.get("ClientIntegrationInformation").json()
        assert info["ClientName"] == "Andre Klient AS"
        assert info["ClientId"] != reference.CLIENT_ID
        assert a.get("ClientIntegrationInformation").json()["ClientId"] == reference.CLIENT_ID

    assert [p["Name"] for p in other.state()["resources"]["Products"]] == ["Bare i B"]
    assert [p["Name"] for p in po.state()["resources"]["Products"]] == ["Felles vare"]
    assert other.counters()["writes"]["Products"]["created"] == 1
    assert other.counters()["writes"]["Products"]["duplicates_refused"] == 1
    assert po.counters()["writes"]["Products"]["created"] == 2  # the gateway-wide totals
    assert po.for_client(po.client_key).counters()["writes"]["Products"]["created"] == 1


def test_a_client_can_be_seeded_or_empty(poweroffice_emulator: PowerOfficeEmulatorHandle) -> None:
    po = poweroffice_emulator
    seeded = po.add_client(seed=3, scale=1)
    empty = po.add_client(empty=True)
    listed = {c["client_key"]: c for c in po.clients()}
    assert list(listed) == [po.client_key, seeded.client_key, empty.client_key]
    assert listed[seeded.client_key]["records"]["Products"] == 100
    assert listed[empty.client_key]["records"]["Products"] == 0
    assert listed[po.client_key]["records"]["Products"] == 0
    assert seeded.counters()["writes"] == {}  # generated history is nobody's write
    assert seeded.reset(empty=True)["records"]["Products"] == 0
    assert seeded.reset(seed=3, scale=1)["records"]["Products"] == 100
    assert len(po.state()["resources"]["Products"]) == 0


def test_the_subscription_limit_is_shared_by_every_client(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    po = poweroffice_emulator
    other = po.add_client("client-key-2")
    tokens = {"a": po.fetch_token(), "b": other.fetch_token()}
    # A wide window makes the count exact on a busy machine; the windows start afresh.
    po.configure(rate_limit_per_second=10, rate_limit_window_seconds=60)
    po.reset_counters()  # every client's too
    since = time.time()
    with po.client(tokens["a"]) as a, other.client(tokens["b"]) as b:
        first = [a.get("VatCodes").status_code for _ in range(6)]
        second = [b.get("VatCodes").status_code for _ in range(6)]
    # Each alone is under the budget; together they are two over it.
    assert first == [200] * 6
    assert second == [200] * 4 + [429] * 2
    assert other.counters()["events"]["rate_limited"] == 2
    assert po.for_client(po.client_key).counters()["events"].get("rate_limited", 0) == 0
    assert po.counters()["events"]["rate_limited"] == 2
    shares = po.requests_by_client(since)
    assert shares[po.client_key]["statuses"] == {"200": 6}
    assert shares["client-key-2"]["statuses"] == {"200": 4, "429": 2}
    assert po.window(since)["requests"] == 12
    summary = other.summary()
    assert (summary["requests"], summary["rate_limited"]) == (6, 2)


def test_a_refused_client_key_gets_no_token(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    po = poweroffice_emulator
    refused = po.add_client("revoked-key", refused=True)
    answer = refused.token_response()
    assert answer.status_code == 400
    unknown = httpx.post(
        po.token_url,
        data={"grant_type": "client_credentials"},
        auth=(po.application_key, "no-such-client-key"),
        headers={"Ocp-Apim-Subscription-Key": po.subscription_key},
        timeout=10,
    )
    assert answer.json() == unknown.json()
    assert answer.json()["error"] == "invalid_client"
    assert po.fetch_token()  # the other clients are not affected
    assert refused.update(refused=False)["refused"] is False
    assert refused.token_response().status_code == 200
    po.for_client(po.client_key).update(refused=True)
    assert po.token_response().status_code == 400


def test_a_client_without_the_module_gets_403(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    po = poweroffice_emulator
    po.configure(rate_limit_enabled=False)
    lacking = po.add_client("no-module", module_missing=True)
    with lacking.client() as api:
        refused = api.get("Products")
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert (problem["status"], problem["title"]) == (403, "Forbidden")
        assert "Product_Full" in problem["detail"]
        assert api.post("Customers", json={"Name": "X"}).status_code == 403
        info = api.get("ClientIntegrationInformation")
        assert info.status_code == 200
        assert info.json()["ValidPrivileges"] == []
        assert info.json()["InvalidPrivileges"] == list(reference.PRIVILEGES)
    with po.client() as api:
        assert api.get("Products").status_code == 204  # the default client has every module

    partial = po.add_client("no-customers", missing_privileges=["Customer_Full"])
    with partial.client() as api:
        assert api.get("Customers").status_code == 403
        assert api.get("Products").status_code == 204
    lacking.update(module_missing=False)
    with lacking.client() as api:
        assert api.get("Products").status_code == 204
    bad = po.admin.post("clients", json={"missing_privileges": ["Nonsense"]})
    assert bad.status_code == 400


def test_admin_routes_are_scoped_to_a_client(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    po = poweroffice_emulator
    po.configure(rate_limit_enabled=False)
    other = po.add_client("client-key-2")
    token = other.fetch_token()
    with other.client(token) as b:
        created = b.post("Products", json=PRODUCT).json()
    copy = other.duplicate("Products", created["Id"])
    assert copy["Code"] == "SAME-1"
    assert len(other.state()["resources"]["Products"]) == 2
    assert po.state()["resources"]["Products"] == []

    # A fault for one client leaves the others alone.
    other.set_faults([{"route": "GET /v2/*", "error_rate": 1.0, "status": 503}])
    with other.client(token) as b, po.client() as a:
        assert b.get("Products").status_code == 503
        assert a.get("Products").status_code == 204
    assert [r["tenant"] for r in po.faults()] == ["client-key-2"]
    other.clear_faults()
    assert po.faults() == []

    # Unknown clients and clashing keys are refused; the default client cannot go.
    assert po.admin.get("counters", params={"client": "nobody"}).status_code == 404
    assert po.admin.post("clients", json={"client_key": po.client_key}).status_code == 400
    assert po.admin.delete(f"clients/{po.client_key}").status_code == 400
    assert po.admin.patch("config", json={"client_key": "client-key-2"}).status_code == 400

    # Removed, its tokens open nothing; a whole reset leaves the default client alone.
    po.remove_client("client-key-2")
    with httpx.Client(
        base_url=po.base_url + "/",
        headers={
            "Ocp-Apim-Subscription-Key": po.subscription_key,
            "Authorization": f"Bearer {token}",
        },
    ) as b:
        assert b.get("Products").status_code == 401
    po.add_client("client-key-3")
    po.reset()
    assert [c["client_key"] for c in po.clients()] == [po.client_key]


def test_the_launcher_adds_a_connection_to_both_emulators() -> None:
    sandbox = build_sandbox(SandboxOptions(rackbeat_scale=10, rate_limits=False))
    connection = add_connection(sandbox, rackbeat_token="conn-2", client_key="conn-2-client")
    with (
        serve_in_thread(sandbox.rackbeat_app) as rb,
        serve_in_thread(sandbox.poweroffice_app) as po,
    ):
        env = connection_environment(sandbox, connection, rb.url, po.url)
        assert env["RACKBEAT_API_TOKEN"] == "conn-2"
        assert env["POWEROFFICE_CLIENT_KEY"] == "conn-2-client"
        me = httpx.get(
            f"{env['RACKBEAT_BASE_URL']}self",
            headers={"Authorization": f"Bearer {env['RACKBEAT_API_TOKEN']}"},
            timeout=10,
        )
        assert me.json()["user_account"]["id"] == connection.rackbeat_account_id != 4711
        token = httpx.post(
            env["POWEROFFICE_TOKEN_URL"],
            data={"grant_type": "client_credentials"},
            auth=(env["POWEROFFICE_APPLICATION_KEY"], env["POWEROFFICE_CLIENT_KEY"]),
            headers={"Ocp-Apim-Subscription-Key": env["POWEROFFICE_SUBSCRIPTION_KEY"]},
            timeout=10,
        )
        assert token.status_code == 200
    assert sandbox.poweroffice.client("conn-2-client").counters.event("token_requests") == 1


def test_an_empty_client_stays_empty_on_its_reset(
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    po = poweroffice_emulator
    po.configure(scale=1)  # what a reset without arguments loads
    idle = po.add_client(empty=True)
    seeded = po.add_client()
    assert idle.reset()["records"]["Products"] == 0
    assert seeded.reset()["records"]["Products"] == 100
