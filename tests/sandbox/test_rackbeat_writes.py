"""The Rackbeat emulator's writes over HTTP: POST 201, PUT 200, 422, touch and the clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from sandbox.testing_rackbeat import RackbeatEmulatorHandle


@pytest.fixture
def api(rackbeat_emulator: RackbeatEmulatorHandle) -> Iterator[httpx.Client]:
    with rackbeat_emulator.client() as client:
        yield client


def test_initial_sync_chain_unit_group_product(
    rackbeat_emulator: RackbeatEmulatorHandle, api: httpx.Client
) -> None:
    unit = api.post("units", json={"name": "Each"})
    assert unit.status_code == 201
    assert unit.json()["unit"]["number"] == 8
    assert unit.json()["unit"]["name"] == "Each"
    group = api.post(
        "product-groups",
        json={
            "number": 3000,
            "name": "Fra PowerOffice",
            "has_inventory": False,
            "vat_domestic": 15,
        },
    )
    assert group.status_code == 201
    assert group.json()["product_group"]["number"] == 3000
    product = api.post(
        "products",
        json={
            "number": "PO/1 +A",
            "name": "Importert vare",
            "description": "fra PowerOffice Go",
            "group": 3000,
            "unit_id": 8,
            "sales_price": 100.5,
            "recommended_cost_price": 40,
        },
    )
    assert product.status_code == 201
    created = product.json()["product"]
    assert created["group"]["vat_domestic"] == 15
    assert created["group"]["has_inventory"] is False
    assert created["inventory_enabled"] is False
    assert created["unit"] == {"number": 8, "name": "Each"}
    assert created["created_at"] == created["updated_at"]
    fetched = api.get(f"products/{created['urlfriendly_number']}")
    assert fetched.json()["product"] == created
    assert api.get("products").json()["total"] == 51
    writes = rackbeat_emulator.counters()["writes"]
    assert writes["products"]["created"] == 1
    assert writes["units"]["created"] == 1
    assert writes["product-groups"]["created"] == 1


def test_duplicate_number_is_422_and_counted(
    rackbeat_emulator: RackbeatEmulatorHandle, api: httpx.Client
) -> None:
    body = {"number": "AB/100", "name": "Igjen", "group": 1010, "sales_price": 1}
    response = api.post("products", json=body)
    assert response.status_code == 422
    assert response.json() == {"errors": {"number": ["The number has already been taken."]}}
    counters = rackbeat_emulator.counters()
    assert counters["duplicates_refused"] == 1
    assert counters["writes"]["products"]["created"] == 0
    assert api.get("products").json()["total"] == 50


def test_missing_and_invalid_fields_are_422(api: httpx.Client) -> None:
    missing = api.post("product-groups", json={"number": 4000})
    assert missing.status_code == 422
    assert missing.json() == {"errors": {"name": ["The name field is required."]}}
    blank = api.post("customers", json={"company_name": "  "})
    assert blank.json() == {"errors": {"company_name": ["The company_name field is required."]}}
    bad = api.post(
        "products",
        json={"number": "N1", "name": "x", "group": 999, "sales_price": "ten", "unit_id": 99},
    )
    assert bad.status_code == 422
    assert bad.json() == {
        "errors": {
            "group": ["The selected group is invalid."],
            "sales_price": ["The sales_price must be a number."],
            "unit_id": ["The selected unit_id is invalid."],
        }
    }
    not_json = api.post("units", content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422
    assert not_json.json() == {"errors": {"body": ["The body must be valid JSON."]}}


def test_supplier_group_and_suppliers(api: httpx.Client) -> None:
    group = api.post("supplier-groups", json={"name": "Poweroffice"})
    assert group.status_code == 201
    number = group.json()["supplier_group"]["number"]
    assert number == 3
    supplier = api.post(
        "suppliers",
        json={
            "number": 29999,
            "company_name": "Import AS",
            "company_vat": "NO 923456783 MVA",
            "address_country": "NO",
            "supplier_group_id": number,
            "payment_terms_id": 3,
        },
    )
    assert supplier.status_code == 201
    created = supplier.json()["supplier"]
    assert created["supplier_group"]["name"] == "Poweroffice"
    assert created["payment_terms"]["maturity_days"] == 14
    bad = api.post("suppliers", json={"company_name": "X", "supplier_group_id": 77})
    assert bad.json() == {
        "errors": {"supplier_group_id": ["The selected supplier_group_id is invalid."]}
    }


def test_customer_create_numbers_itself_and_update_changes_fields(
    rackbeat_emulator: RackbeatEmulatorHandle, api: httpx.Client
) -> None:
    rackbeat_emulator.configure(frozen_time="2030-01-01 12:00:00")
    created = api.post("customers", json={"name": "Ny Kunde AS", "invoice_email": "faktura@ny.no"})
    assert created.status_code == 201
    customer = created.json()["customer"]
    assert customer["number"] == 10009
    assert customer["company_name"] == "Ny Kunde AS"
    assert customer["created_at"] == "2030-01-01T12:00:00+00:00"
    rackbeat_emulator.configure(frozen_time="2030-01-01 12:00:05")
    updated = api.put("customers/10009", json={"contact_phone": "+47 22 22 22 22"})
    assert updated.status_code == 200
    after = updated.json()["customer"]
    assert after["contact_phone"] == "+47 22 22 22 22"
    assert after["invoice_email"] == "faktura@ny.no"
    assert after["updated_at"] == "2030-01-01T12:00:05+00:00"
    assert after["created_at"] == "2030-01-01T12:00:00+00:00"
    assert rackbeat_emulator.counters()["writes"]["customers"] == {
        "created": 1,
        "updated": 1,
        "deleted": 0,
        "duplicates_refused": 0,
    }


def test_put_validates_and_404s(api: httpx.Client) -> None:
    assert api.put("customers/1", json={"company_name": "x"}).status_code == 404
    assert api.put("products/NOPE", json={"name": "x"}).status_code == 404
    renumber = api.put("customers/10001", json={"number": 1})
    assert renumber.json() == {"errors": {"number": ["The number cannot be changed."]}}
    wrong = api.put("products/10001", json={"is_barred": "yes"})
    assert wrong.json() == {"errors": {"is_barred": ["The is_barred field must be true or false."]}}


def test_put_on_a_special_number(api: httpx.Client) -> None:
    response = api.put("products/X%252BY", json={"sales_price": 12.5})
    assert response.status_code == 200
    assert response.json()["product"]["sales_price"] == 12.5
    assert api.get("products/X%252BY").json()["product"]["sales_price"] == 12.5


def test_read_only_endpoints_refuse_writes(api: httpx.Client) -> None:
    assert api.post("customer-invoices", json={}).status_code == 405
    assert api.put("orders/5001", json={}).status_code == 405


def test_touch_bumps_updated_at_and_is_seen_by_the_filter(
    rackbeat_emulator: RackbeatEmulatorHandle, api: httpx.Client
) -> None:
    before = api.get("products/KABEL%25203M").json()["product"]
    rackbeat_emulator.configure(frozen_time="2031-05-05T10:00:00Z")
    touched = rackbeat_emulator.touch("products", "KABEL 3M", name="Kabel 3 meter")
    assert touched["product"]["name"] == "Kabel 3 meter"
    assert touched["product"]["updated_at"] == "2031-05-05T10:00:00+00:00"
    assert datetime.fromisoformat(before["updated_at"]) < datetime.fromisoformat(
        touched["product"]["updated_at"]
    )
    changed = api.get("products", params={"updated_at_from": "2031-05-05 10:00:00"}).json()
    assert [p["number"] for p in changed["products"]] == ["KABEL 3M"]


def test_touch_without_body_only_bumps(rackbeat_emulator: RackbeatEmulatorHandle) -> None:
    rackbeat_emulator.configure(frozen_time="2031-01-01 00:00:00")
    touched = rackbeat_emulator.touch("customers", 10002)["customer"]
    assert touched["updated_at"] == "2031-01-01T00:00:00+00:00"
    assert touched["number"] == 10002


def test_touch_books_an_invoice(
    rackbeat_emulator: RackbeatEmulatorHandle, api: httpx.Client
) -> None:
    draft = api.get("customer-invoices", params={"is_booked": "false"}).json()
    number = draft["customer_invoices"][0]["number"]
    rackbeat_emulator.configure(frozen_time="2032-02-02 02:02:02")
    booked = rackbeat_emulator.touch("customer-invoices", number, is_booked=True)
    invoice = booked["customer_invoice"]
    assert invoice["is_booked"] is True
    assert invoice["booked_at"] == "2032-02-02T02:02:02+00:00"
    assert api.get("customer-invoices", params={"is_booked": "false"}).json()["total"] == 0


def test_touch_refuses_unknown_fields_and_records(
    rackbeat_emulator: RackbeatEmulatorHandle,
) -> None:
    admin = rackbeat_emulator.admin
    assert admin.post("touch/products/NOPE", json={}).status_code == 404
    assert admin.post("touch/widgets/1", json={}).status_code == 404
    bad = admin.post("touch/orders/5001", json={"no_such_field": 1, "is_booked": "yes"})
    assert bad.status_code == 422
    assert bad.json() == {
        "errors": {
            "no_such_field": ["The no_such_field cannot be touched."],
            "is_booked": ["The is_booked must be a bool."],
        }
    }


def test_same_second_changes_share_a_timestamp(
    rackbeat_emulator: RackbeatEmulatorHandle, api: httpx.Client
) -> None:
    rackbeat_emulator.configure(frozen_time="2033-03-03 03:03:03")
    first = rackbeat_emulator.touch("customers", 10001)["customer"]["updated_at"]
    second = rackbeat_emulator.touch("customers", 10002)["customer"]["updated_at"]
    assert first == second == "2033-03-03T03:03:03+00:00"
    boundary = api.get("customers", params={"updated_at_from": "2033-03-03 03:03:03"}).json()
    assert [c["number"] for c in boundary["customers"]] == [10001, 10002]


def test_clock_never_goes_backwards(rackbeat_emulator: RackbeatEmulatorHandle) -> None:
    rackbeat_emulator.configure(frozen_time="2034-01-01 00:00:10")
    later = rackbeat_emulator.touch("units", 1)["unit"]["updated_at"]
    rackbeat_emulator.configure(frozen_time="2034-01-01 00:00:00")
    earlier_request = rackbeat_emulator.touch("units", 2)["unit"]["updated_at"]
    assert later == earlier_request == "2034-01-01T00:00:10+00:00"
