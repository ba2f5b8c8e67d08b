"""PowerOffice Go emulator over HTTP: lists, filters, paging, replica lag, seeded data, faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from sandbox.poweroffice.generator import generate
from sandbox.testing import PowerOfficeEmulatorHandle


@pytest.fixture
def api(poweroffice_emulator: PowerOfficeEmulatorHandle) -> Iterator[httpx.Client]:
    poweroffice_emulator.configure(rate_limit_enabled=False)
    with poweroffice_emulator.client() as client:
        yield client


@pytest.fixture
def seeded(poweroffice_emulator: PowerOfficeEmulatorHandle) -> PowerOfficeEmulatorHandle:
    summary = poweroffice_emulator.reset(seed=3, scale=2)
    assert summary["records"]["Products"] == 200
    return poweroffice_emulator


def test_empty_list_is_204_without_a_body(api: httpx.Client) -> None:
    response = api.get("Products")
    assert response.status_code == 204
    assert response.content == b""


def test_reference_data_is_there_from_the_start(api: httpx.Client) -> None:
    accounts = api.get("GeneralLedgerAccounts", params={"accountNos": "3000,3030,3100"}).json()
    assert [(a["AccountNo"], a["VatCode"]) for a in accounts] == [
        (3000, "3"),
        (3030, "31"),
        (3100, "5"),
    ]
    vat = {v["Code"]: v["Rate"] for v in api.get("VatCodes").json()}
    assert vat["3"] == 0.25
    assert vat["31"] == 0.15
    assert sorted(t["CreditDays"] for t in api.get("PaymentTerms").json()) == [10, 14, 30]
    info = api.get("ClientIntegrationInformation").json()
    assert "Product_Full" in info["ValidPrivileges"]
    assert info["InvalidPrivileges"] == []


def test_lists_are_plain_pascal_case_arrays_with_paging(
    seeded: PowerOfficeEmulatorHandle, api: httpx.Client
) -> None:
    first = api.get("Products", params={"PageNumber": 1, "PageSize": 150})
    second = api.get("Products", params={"PageNumber": 2, "PageSize": 150})
    third = api.get("Products", params={"PageNumber": 3, "PageSize": 150})
    assert isinstance(first.json(), list)
    assert len(first.json()) == 150
    assert len(second.json()) == 50
    assert third.status_code == 204
    codes = [p["Code"] for p in first.json() + second.json()]
    assert codes == [f"PO-{n:05d}" for n in range(1, 201)]
    assert "LastChangedDateTimeOffset" in first.json()[0]


def test_page_size_is_capped(api: httpx.Client) -> None:
    response = api.get("Products", params={"PageSize": 20001})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["PageSize"]


def test_fields_and_order_by(seeded: PowerOfficeEmulatorHandle, api: httpx.Client) -> None:
    names = {p["Code"]: p["Name"] for p in api.get("Products").json()}
    response = api.get(
        "Products", params={"Fields": "Code,name", "OrderBy": "Code desc", "PageSize": 3}
    )
    assert response.json() == [
        {"Code": code, "Name": names[code]} for code in ("PO-00200", "PO-00199", "PO-00198")
    ]
    assert api.get("Products", params={"OrderBy": "Colour"}).status_code == 400
    assert api.get("Products", params={"Fields": "Colour"}).status_code == 400


def test_codes_filter(seeded: PowerOfficeEmulatorHandle, api: httpx.Client) -> None:
    found = api.get("Products", params={"codes": "PO-00007,po-00002,NOPE"}).json()
    assert [p["Code"] for p in found] == ["PO-00002", "PO-00007"]
    groups = api.get("ProductGroups", params={"codes": "10,20"}).json()
    assert [g["Code"] for g in groups] == ["10", "20"]
    in_group = api.get("Products", params={"productGroupCodes": "10"}).json()
    assert in_group
    assert {p["ProductGroupCode"] for p in in_group} == {"10"}


def test_customer_filters(seeded: PowerOfficeEmulatorHandle, api: httpx.Client) -> None:
    ranged = api.get("Customers", params={"customerNos": "10001-10003, 10010, 10099-"}).json()
    assert [c["Number"] for c in ranged] == [10001, 10002, 10003, 10010, 10099, 10100]
    created = api.post(
        "Customers", json={"Name": "Ny Kunde AS", "ExternalImportReference": "rackbeat-customer-77"}
    ).json()
    by_ref = api.get("Customers", params={"externalImportReference": "rackbeat-customer-77"})
    assert [c["Id"] for c in by_ref.json()] == [created["Id"]]
    none = api.get("Customers", params={"externalImportReference": "rackbeat-customer-78"})
    assert none.status_code == 204


def test_supplier_filters(seeded: PowerOfficeEmulatorHandle, api: httpx.Client) -> None:
    found = api.get("Suppliers", params={"supplierNos": "20001,20003"}).json()
    assert [s["Number"] for s in found] == [20001, 20003]


def test_last_changed_filter_is_exclusive(api: httpx.Client) -> None:
    first = api.post("Products", json={"Code": "A", "Name": "A"}).json()
    second = api.post("Products", json={"Code": "B", "Name": "B"}).json()
    after_first = api.get(
        "Products",
        params={"lastChangedDateTimeOffsetGreaterThan": first["LastChangedDateTimeOffset"]},
    ).json()
    assert [p["Code"] for p in after_first] == ["B"]
    after_second = api.get(
        "Products",
        params={"lastChangedDateTimeOffsetGreaterThan": second["LastChangedDateTimeOffset"]},
    )
    assert after_second.status_code == 204


def test_unencoded_plus_in_an_offset_is_a_400(api: httpx.Client) -> None:
    # A literal '+' in a query string is a space: the client must URL-encode it.
    response = api.get("Products?lastChangedDateTimeOffsetGreaterThan=2025-01-01T00:00:00+01:00")
    assert response.status_code == 400
    encoded = quote("2025-01-01T00:00:00+01:00")
    assert api.get(f"Products?lastChangedDateTimeOffsetGreaterThan={encoded}").status_code == 204


def test_only_created_by_current_integration(
    api: httpx.Client, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    customer = api.post("Customers", json={"Name": "Kunde AS"}).json()
    # The bookkeeper's own order (not by this integration), created through the backend.
    with poweroffice_emulator.backend.lock:
        poweroffice_emulator.backend.state.create(
            "SalesOrders", {"CustomerId": customer["Id"]}, by_integration=False
        )
    mine = api.post(
        "SalesOrders/Complete",
        json={"CustomerId": customer["Id"], "ExternalImportReference": "rackbeat-invoice-5"},
    ).json()
    everything = api.get("SalesOrders").json()
    only_mine = api.get("SalesOrders", params={"onlyCreatedByCurrentIntegration": "true"}).json()
    assert len(everything) == 2
    assert [o["Id"] for o in only_mine] == [mine["Id"]]
    assert "SalesOrderLines" not in only_mine[0]


def test_ignored_filter_knob_returns_everything(
    seeded: PowerOfficeEmulatorHandle, api: httpx.Client
) -> None:
    seeded.configure(ignored_filters=["Products.codes"])
    response = api.get("Products", params={"codes": "PO-00001"})
    assert len(response.json()) == 200


def test_replica_lag_hides_writes_until_it_passes(
    api: httpx.Client, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    po = poweroffice_emulator
    po.configure(replica_lag_seconds=30.0)  # long: a busy machine never outruns it
    created = api.post("Products", json={"Code": "LAG-1", "Name": "Treg"})
    assert created.status_code == 200
    product_id = created.json()["Id"]
    assert api.get(f"Products/{product_id}").status_code == 404
    assert api.get("Products", params={"codes": "LAG-1"}).status_code == 204
    # The primary already has it: a second create is refused although reads cannot see it.
    assert api.post("Products", json={"Code": "LAG-1", "Name": "Treg"}).status_code == 400
    po.advance_clock(30.0)
    assert api.get(f"Products/{product_id}").status_code == 200
    assert [p["Id"] for p in api.get("Products", params={"codes": "LAG-1"}).json()] == [product_id]
    patched = api.patch(
        f"Products/{product_id}",
        json=[{"op": "replace", "path": "/Name", "value": "Ny"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert patched.json()["Name"] == "Ny"
    assert api.get(f"Products/{product_id}").json()["Name"] == "Treg"
    po.advance_clock(30.0)
    assert api.get(f"Products/{product_id}").json()["Name"] == "Ny"


def test_seeded_data_is_deterministic_and_nordic() -> None:
    first = generate(11, 1)
    assert first == generate(11, 1)
    assert first != generate(12, 1)
    assert len(first.products) == 100
    assert len(first.customers) == 50
    assert len(first.suppliers) == 10
    countries = {c["MailAddress"]["CountryCode"] for c in first.customers}
    assert countries <= {"NO", "SE", "DK", "FI"}
    assert "NO" in countries
    units = {p["UnitOfMeasureCode"] for p in first.products}
    assert "EA" in units
    assert len(units) >= 4
    assert generate(11, 0).products == []


def test_reset_empty_and_seeded(poweroffice_emulator: PowerOfficeEmulatorHandle) -> None:
    po = poweroffice_emulator
    seeded = po.reset(seed=5, scale=1)
    assert seeded["records"]["Customers"] == 50
    assert seeded["records"]["Suppliers"] == 10
    state = po.state()["resources"]
    assert len(state["Products"]) == 100
    assert state["SalesOrders"] == []
    empty = po.reset(empty=True)
    assert empty["records"]["Products"] == 0
    assert empty["records"]["GeneralLedgerAccounts"] >= 10
    assert po.counters()["total_requests"] == 0


def test_commit_then_drop_is_a_dropped_connection_with_the_write_kept(
    api: httpx.Client, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    po = poweroffice_emulator
    po.set_faults([{"route": "POST /v2/Products", "commit_then_drop_rate": 1.0, "times": 1}])
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("Products", json={"Code": "DROP-1", "Name": "Borte"})
    found = api.get("Products", params={"codes": "DROP-1"}).json()
    assert [p["Code"] for p in found] == ["DROP-1"]
    retry = api.post("Products", json={"Code": "DROP-1", "Name": "Borte"})
    assert retry.status_code == 400
    counters = po.counters()
    assert counters["writes"]["Products"]["created"] == 1
    assert counters["duplicates_refused"] == 1


def test_commit_then_delay_commits_at_once_and_answers_later(
    api: httpx.Client, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    po = poweroffice_emulator
    po.set_faults([{"route": "POST /v2/Products", "delay_after_commit_ms": 5000, "times": 1}])
    answers: list[int] = []

    def create() -> None:
        with po.client() as own:
            answers.append(
                own.post("Products", json={"Code": "HELD-1", "Name": "Venter"}).status_code
            )

    sender = threading.Thread(target=create)
    sender.start()
    try:
        # While the answer is held back, the record is there for everyone else.
        found: list[str] = []
        for _ in range(200):
            listed = api.get("Products", params={"codes": "HELD-1"})
            assert listed.status_code in (200, 204), listed.text  # 204: none (yet)
            found = [p["Code"] for p in listed.json()] if listed.status_code == 200 else []
            if found:
                break
            time.sleep(0.01)
        assert found == ["HELD-1"]
        assert answers == []  # the create's own answer has not come yet
    finally:
        sender.join(30)
    assert answers == [200]  # PowerOffice Go answers a create with 200
    assert po.faults()[0]["injected"] == 1
    assert po.counters()["writes"]["Products"]["created"] == 1


def test_injected_5xx_and_429_burst_use_the_gateway_shapes(
    api: httpx.Client, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    po = poweroffice_emulator
    po.set_faults(
        [
            {"route": "GET /v2/VatCodes", "burst_429": 1},
            {"route": "POST /v2/*", "error_rate": 1.0, "status": 503, "times": 1},
        ]
    )
    throttled = api.get("VatCodes")
    assert throttled.status_code == 429
    assert throttled.json()["message"] == "Rate limit is exceeded. Try again in 1 seconds."
    assert api.get("VatCodes").status_code == 200
    failed = api.post("Products", json={"Code": "F", "Name": "F"})
    assert failed.status_code == 503
    assert failed.json() == {"statusCode": 503, "message": "Service Unavailable"}
    assert api.get("Products").status_code == 204
    po.clear_faults()
    assert api.post("Products", json={"Code": "F", "Name": "F"}).status_code == 200


def test_faults_admin_refuses_bad_rules(poweroffice_emulator: PowerOfficeEmulatorHandle) -> None:
    response = poweroffice_emulator.admin.put("faults", json=[{"route": "*", "error_rate": 2}])
    assert response.status_code == 400
    assert poweroffice_emulator.admin.get("faults").json() == []


def test_counters_key_requests_by_route_template(
    api: httpx.Client, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    po = poweroffice_emulator
    po.reset_counters()
    product = api.post("Products", json={"Code": "C1", "Name": "C"}).json()
    api.get(f"Products/{product['Id']}")
    api.get("Products/12345")
    requests = po.counters()["requests"]
    assert requests == {"POST /v2/Products": 1, "GET /v2/Products/{id}": 2}
