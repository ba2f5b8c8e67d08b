"""The Rackbeat emulator's read contract, over real HTTP: envelopes, paging, filters, numbers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from sandbox.testing_rackbeat import RackbeatEmulatorHandle


@pytest.fixture
def api(rackbeat_emulator: RackbeatEmulatorHandle) -> Iterator[httpx.Client]:
    with rackbeat_emulator.client() as client:
        yield client


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def test_list_answers_206_with_the_plural_key_and_paging_metadata(api: httpx.Client) -> None:
    response = api.get("products")
    assert response.status_code == 206
    body = response.json()
    assert sorted(body) == ["limit", "page", "pages", "products", "total"]
    assert (body["total"], body["pages"], body["limit"], body["page"]) == (50, 3, 20, 1)
    assert len(body["products"]) == 20


@pytest.mark.parametrize(
    ("path", "key", "total"),
    [
        ("lots", "lots", 2),
        ("product-groups", "product_groups", 10),
        ("units", "units", 7),
        ("customers", "customers", 8),
        ("suppliers", "suppliers", 5),
        ("supplier-groups", "supplier_groups", 2),
        ("customer-invoices", "customer_invoices", 6),
        ("orders", "orders", 5),
        ("payment-terms", "payment_terms", 5),
        ("employees", "employees", 5),
    ],
)
def test_every_collection_has_its_plural_key(
    api: httpx.Client, path: str, key: str, total: int
) -> None:
    response = api.get(path)
    assert response.status_code == 206
    assert response.json()["total"] == total
    assert len(response.json()[key]) == min(total, 20)


def test_paging_walks_every_record_once(api: httpx.Client) -> None:
    seen: list[str] = []
    for page in range(1, 5):
        body = api.get("products", params={"page": page, "limit": 15}).json()
        assert body["pages"] == 4
        seen.extend(p["number"] for p in body["products"])
    assert len(seen) == 50
    assert len(set(seen)) == 50
    beyond = api.get("products", params={"page": 5, "limit": 15})
    assert beyond.status_code == 206
    assert beyond.json()["products"] == []


def test_limit_bounds_are_validated(api: httpx.Client) -> None:
    assert api.get("products", params={"limit": 1000}).json()["limit"] == 1000
    too_big = api.get("products", params={"limit": 1001})
    assert too_big.status_code == 422
    assert too_big.json() == {"errors": {"limit": ["The limit may not be greater than 1000."]}}
    assert api.get("products", params={"limit": 0}).status_code == 422
    assert api.get("products", params={"page": "x"}).status_code == 422


def test_empty_list_has_one_page(rackbeat_emulator: RackbeatEmulatorHandle) -> None:
    rackbeat_emulator.reset(empty=True)
    with rackbeat_emulator.client() as api:
        body = api.get("products").json()
    assert body == {"products": [], "total": 0, "pages": 1, "limit": 20, "page": 1}


def test_missing_or_wrong_token_is_401(rackbeat_emulator: RackbeatEmulatorHandle) -> None:
    bare = httpx.get(f"{rackbeat_emulator.base_url}products")
    assert bare.status_code == 401
    assert bare.json() == {"message": "Unauthenticated."}
    wrong = httpx.get(
        f"{rackbeat_emulator.base_url}products", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    basic = httpx.get(
        f"{rackbeat_emulator.base_url}products",
        headers={"Authorization": f"Basic {rackbeat_emulator.token}"},
    )
    assert basic.status_code == 401


def test_single_product_has_the_documented_shape(api: httpx.Client) -> None:
    response = api.get("products/10001")
    assert response.status_code == 200
    product = response.json()["product"]
    assert product["number"] == "10001"
    assert product["urlfriendly_number"] == "10001"
    assert product["type"] == "product"
    for key in (
        "name",
        "description",
        "sales_price",
        "recommended_cost_price",
        "inventory_enabled",
        "created_at",
        "updated_at",
        "self",
    ):
        assert key in product
    assert sorted(product["group"]) == [
        "has_inventory",
        "name",
        "number",
        "self",
        "vat_abroad",
        "vat_domestic",
        "vat_domestic_exempt",
        "vat_eu",
    ]
    assert product["group_id"] == product["group"]["number"]
    assert product["self"].endswith("/api/products/10001")
    datetime.fromisoformat(product["updated_at"])


def test_service_products_belong_to_groups_without_inventory(api: httpx.Client) -> None:
    products = api.get("products", params={"limit": 1000}).json()["products"]
    services = [p for p in products if not p["group"]["has_inventory"]]
    assert services
    assert all(p["inventory_enabled"] is False for p in services)


def test_unknown_numbers_are_404(api: httpx.Client) -> None:
    for path in ("products/NOPE", "customers/1", "lots/NOPE/lines", "customers/1/contacts"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"message": "Not found."}
    assert api.get("customers/abc").status_code == 404
    assert api.get("no-such-endpoint").status_code == 404


@pytest.mark.parametrize(
    ("number", "double_encoded"),
    [("AB/100", "AB%252F100"), ("KABEL 3M", "KABEL%25203M"), ("X+Y", "X%252BY")],
)
def test_special_numbers_work_double_encoded_and_via_urlfriendly_number(
    api: httpx.Client, number: str, double_encoded: str
) -> None:
    direct = api.get(f"products/{double_encoded}")
    assert direct.status_code == 200
    product = direct.json()["product"]
    assert product["number"] == number
    assert product["urlfriendly_number"] == double_encoded
    again = api.get(f"products/{product['urlfriendly_number']}")
    assert again.json()["product"]["number"] == number


def test_a_single_encoded_slash_is_404(api: httpx.Client) -> None:
    assert api.get("products/AB%2F100").status_code == 404


def test_special_lot_number_lines(api: httpx.Client) -> None:
    lots = api.get("lots").json()["lots"]
    special = next(lot for lot in lots if lot["number"] == "PAKKE 1/2+")
    assert special["urlfriendly_number"] == "PAKKE%25201%252F2%252B"
    lines = api.get(f"lots/{special['urlfriendly_number']}/lines")
    assert lines.status_code == 206
    body = lines.json()
    assert body["total"] == len(special["lines"])
    assert body["lines"] == special["lines"]
    first = body["lines"][0]
    assert first["product_id"] == first["child_id"] == first["item"]["number"]
    assert api.get(f"products/{first['child_id'].replace('/', '%252F')}").status_code == 200


def test_customer_contacts_and_invoice_email(api: httpx.Client) -> None:
    customers = api.get("customers").json()["customers"]
    assert any(c["invoice_email"] for c in customers)
    assert any(not c["invoice_email"] for c in customers)
    countries = {c["address_country"] for c in customers}
    assert {"NO", "Norge", "no", "se", "Sverige", "Danmark"} <= countries
    first = customers[0]
    assert first["name"] == first["company_name"]
    assert first["payment_terms"]["maturity_days"] in (0, 8, 10, 14, 30)
    contacts = api.get(f"customers/{first['number']}/contacts")
    assert contacts.status_code == 206
    body = contacts.json()
    assert body["total"] == len(body["customer_contacts"])
    for contact in body["customer_contacts"]:
        assert sorted(contact) == [
            "cc_delivery_note",
            "cc_invoice",
            "cc_offer",
            "cc_order",
            "contact_email",
            "contact_phone",
            "initials",
            "name",
            "number",
            "role",
        ]


def test_invoice_shape(api: httpx.Client) -> None:
    invoice = api.get("customer-invoices/30001").json()["customer_invoice"]
    assert invoice["number"] == 30001
    assert invoice["is_booked"] is True
    assert isinstance(invoice["customer"]["number"], int)
    assert invoice["order"] == {"number": 5001}
    assert len(invoice["invoice_date"]) == 10
    line = invoice["lines"][0]
    assert sorted(line) == [
        "child_id",
        "child_type",
        "discount_percentage",
        "id",
        "item",
        "line_price",
        "name",
        "quantity",
        "vat_percentage",
    ]
    assert invoice["our_reference"]["number"] in range(1, 6)


def test_is_booked_filter(api: httpx.Client) -> None:
    booked = api.get("customer-invoices", params={"is_booked": "true"}).json()
    drafts = api.get("customer-invoices", params={"is_booked": "false"}).json()
    assert booked["total"] == 5
    assert drafts["total"] == 1
    assert [i["is_booked"] for i in drafts["customer_invoices"]] == [False]
    assert {i["is_booked"] for i in booked["customer_invoices"]} == {True}
    assert api.get("customer-invoices", params={"is_booked": "maybe"}).status_code == 422


def test_fields_selects_attributes(api: httpx.Client) -> None:
    body = api.get("products", params={"fields": "number,updated_at", "limit": 3}).json()
    assert [sorted(p) for p in body["products"]] == [["number", "updated_at"]] * 3
    one = api.get("customers/10001", params={"fields": "number,invoice_email"}).json()
    assert sorted(one["customer"]) == ["invoice_email", "number"]


def test_ordering(api: httpx.Client) -> None:
    params = {"order_by": "updated_at", "order_direction": "ASC", "limit": 1000}
    ascending = api.get("products", params=params).json()["products"]
    stamps = [datetime.fromisoformat(p["updated_at"]) for p in ascending]
    assert stamps == sorted(stamps)
    params["order_direction"] = "DESC"
    descending = api.get("products", params=params).json()["products"]
    assert [datetime.fromisoformat(p["updated_at"]) for p in descending] == sorted(
        stamps, reverse=True
    )
    by_name = api.get("customers", params={"order_by": "company_name"}).json()["customers"]
    names = [c["company_name"] for c in by_name]
    assert names == sorted(names)
    assert api.get("products", params={"order_by": "nonsense"}).status_code == 422
    assert api.get("products", params={"order_direction": "UP"}).status_code == 422


def _updated_stamps(api: httpx.Client) -> list[datetime]:
    products = api.get("products", params={"limit": 1000, "fields": "updated_at"}).json()
    return sorted(datetime.fromisoformat(p["updated_at"]) for p in products["products"])


@pytest.mark.parametrize("style", ["space", "iso", "iso_z"])
def test_updated_at_filters_accept_both_formats(api: httpx.Client, style: str) -> None:
    stamps = _updated_stamps(api)
    pivot = stamps[30]
    text = {
        "space": pivot.strftime("%Y-%m-%d %H:%M:%S"),
        "iso": pivot.isoformat(),
        "iso_z": pivot.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }[style]
    after = api.get("products", params={"updated_at_from": text, "limit": 1000}).json()
    assert after["total"] == sum(1 for s in stamps if s >= pivot)
    assert all(datetime.fromisoformat(p["updated_at"]) >= pivot for p in after["products"])
    before = api.get("products", params={"updated_at_to": text, "limit": 1000}).json()
    assert before["total"] == sum(1 for s in stamps if s <= pivot)


def test_updated_at_window_and_bad_value(api: httpx.Client) -> None:
    stamps = _updated_stamps(api)
    low, high = stamps[10], stamps[20]
    window = api.get(
        "products",
        params={"updated_at_from": low.isoformat(), "updated_at_to": high.isoformat()},
    ).json()
    assert window["total"] == sum(1 for s in stamps if low <= s <= high)
    future = api.get("customer-invoices", params={"updated_at_from": "2099-01-01 00:00:00"})
    assert future.json()["total"] == 0
    bad = api.get("products", params={"updated_at_from": "yesterday"})
    assert bad.status_code == 422
    assert bad.json() == {
        "errors": {"updated_at_from": ["The updated_at_from is not a valid date."]}
    }


def test_updated_at_filter_can_be_ignored_per_endpoint(
    rackbeat_emulator: RackbeatEmulatorHandle, api: httpx.Client
) -> None:
    future = {"updated_at_from": "2099-01-01 00:00:00"}
    assert api.get("products", params=future).json()["total"] == 0
    knobs = rackbeat_emulator.configure(ignore_updated_at_filter=["products", "customers"])
    assert knobs["ignore_updated_at_filter"] == ["products", "customers"]
    assert api.get("products", params=future).json()["total"] == 50
    assert api.get("customers", params=future).json()["total"] == 8
    assert api.get("customer-invoices", params=future).json()["total"] == 0


def test_unknown_endpoint_in_the_ignore_switch_is_refused(
    rackbeat_emulator: RackbeatEmulatorHandle,
) -> None:
    response = rackbeat_emulator.admin.patch("config", json={"ignore_updated_at_filter": ["x"]})
    assert response.status_code == 400
    assert "unknown endpoints ['x']" in response.json()["error"]


def test_self(api: httpx.Client) -> None:
    response = api.get("self")
    assert response.status_code == 200
    assert sorted(response.json()) == ["user", "user_account"]
    assert response.json()["user_account"]["id"] == 4711


def test_supplier_shape(api: httpx.Client) -> None:
    suppliers = api.get("suppliers").json()["suppliers"]
    assert any(not s["company_vat"] for s in suppliers)
    first = suppliers[0]
    assert first["supplier_group"]["number"] == first["supplier_group_id"]
    assert first["payment_terms"]["number"] == first["payment_terms_id"]
