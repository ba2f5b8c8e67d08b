"""PowerOffice Go emulator over HTTP: creates, the rules it enforces, JSON-Patch, deletes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.testing import PowerOfficeEmulatorHandle

PATCH = {"Content-Type": "application/json-patch+json"}


@pytest.fixture
def api(poweroffice_emulator: PowerOfficeEmulatorHandle) -> Iterator[httpx.Client]:
    """A client on /v2 with the rate limit off (these tests are about the rules)."""
    poweroffice_emulator.configure(rate_limit_enabled=False)
    with poweroffice_emulator.client() as client:
        yield client


def _customer(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Name": "Fjord Handel AS",
        "ExternalImportReference": "rackbeat-customer-1",
        "MailAddress": {"AddressLine1": "Storgata 1", "ZipCode": "0155", "City": "Oslo"},
    }
    body.update(fields)
    return body


def _product_group(api: httpx.Client, code: str = "10") -> dict[str, Any]:
    response = api.post(
        "ProductGroups",
        json={"Code": code, "Name": "Varer 25 %", "StandardSalesAccount": 3000,
              "OptionalSalesAccount": 3100},
    )  # fmt: skip
    assert response.status_code == 201
    return dict(response.json())


def test_post_products_answers_200_and_the_others_201(api: httpx.Client) -> None:
    group = _product_group(api)
    product = api.post(
        "Products", json={"Code": "SKU-1", "Name": "Hammer", "ProductGroupId": group["Id"]}
    )
    assert product.status_code == 200
    assert product.json()["ProductGroupCode"] == "10"
    assert api.post("Customers", json=_customer()).status_code == 201
    assert api.post("Suppliers", json={"Name": "Lev AS", "Number": 7}).status_code == 201
    assert api.post("ContactGroups", json={"Name": "PowerOffice"}).status_code == 201
    assert api.post("PaymentTerms", json={"Name": "45 dager", "CreditDays": 45}).status_code == 201


def test_product_group_resolves_account_numbers_to_ids(api: httpx.Client) -> None:
    group = _product_group(api)
    accounts = api.get("GeneralLedgerAccounts", params={"accountNos": "3000,3100"}).json()
    ids = {a["AccountNo"]: a["Id"] for a in accounts}
    assert group["StandardSalesAccount"] == 3000
    assert group["StandardSalesAccountId"] == ids[3000]
    assert group["OptionalSalesAccountId"] == ids[3100]
    missing = api.post("ProductGroups", json={"Code": "20", "StandardSalesAccount": 3999})
    assert missing.status_code == 404
    assert missing.json()["detail"] == "General ledger account with number = 3999 not found."


def test_get_by_id_returns_what_was_created_and_404_otherwise(api: httpx.Client) -> None:
    created = api.post("Products", json={"Code": "SKU-2", "Name": "Sag", "UnitPrice": 99})
    got = api.get(f"Products/{created.json()['Id']}")
    assert got.status_code == 200
    assert got.json() == created.json()
    missing = api.get("Products/999999999")
    assert missing.status_code == 404
    assert missing.json()["title"] == "Not Found"
    assert missing.json()["detail"] == "Product with id = 999999999 not found."


def test_product_code_is_unique_and_the_refusal_is_counted(
    api: httpx.Client, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    first = api.post("Products", json={"Code": "SKU-3", "Name": "Lim"})
    again = api.post("Products", json={"Code": "sku-3", "Name": "Lim igjen"})
    assert again.status_code == 400
    problem = again.json()
    assert set(problem) == {"type", "title", "status", "detail", "instance"}
    assert problem["status"] == 400
    assert problem["title"] == "Product validation error(s)"
    assert (
        problem["detail"]
        == f"Code 'sku-3' is already in use on (product) Id = {first.json()['Id']}."
    )
    counters = poweroffice_emulator.counters()
    assert counters["writes"]["Products"]["created"] == 1
    assert counters["writes"]["Products"]["duplicates_refused"] == 1
    assert counters["duplicates_refused"] == 1
    assert len(api.get("Products").json()) == 1


def test_product_group_code_is_unique(api: httpx.Client) -> None:
    _product_group(api, "30")
    again = api.post("ProductGroups", json={"Code": "30", "Name": "Dublett"})
    assert again.status_code == 400
    assert "Code '30' is already in use" in again.json()["detail"]


def test_product_name_is_required(api: httpx.Client) -> None:
    response = api.post("Products", json={"Code": "SKU-4"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"$.Name": ["The Name field is required."]}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"Name": "X", "UnitOfMeasureCode": "STK"}, "$.UnitOfMeasureCode"),
        ({"Name": "X", "ProductType": "Goods"}, "$.ProductType"),
        ({"Name": "X", "UnitPrice": "ten"}, "$.UnitPrice"),
        ({"Name": "X", "Code": "C" * 101}, "$.Code"),
    ],
)
def test_product_fields_are_type_checked(
    api: httpx.Client, body: dict[str, Any], path: str
) -> None:
    response = api.post("Products", json=body)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [path]


def test_enum_values_match_case_insensitively_and_come_back_canonical(api: httpx.Client) -> None:
    response = api.post(
        "Products", json={"name": "Kabel", "unitOfMeasureCode": "mtr", "productType": "service"}
    )
    assert response.status_code == 200
    assert response.json()["UnitOfMeasureCode"] == "MTR"
    assert response.json()["ProductType"] == "Service"


def test_unknown_product_group_code_is_404(api: httpx.Client) -> None:
    response = api.post("Products", json={"Name": "X", "ProductGroupCode": "77"})
    assert response.status_code == 404
    assert response.json()["detail"] == "Product group with code = '77' not found."


def test_customer_external_import_reference_is_unique_per_class(
    api: httpx.Client, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    first = api.post("Customers", json=_customer())
    assert first.status_code == 201
    again = api.post("Customers", json=_customer(Name="Andre AS"))
    assert again.status_code == 400
    assert again.json()["title"] == "Customer validation error(s)"
    assert again.json()["detail"] == (
        "ExternalImportReference is already in use. 'rackbeat-customer-1' is used on "
        f"(contact) Id = {first.json()['Id']}."
    )
    # Another class may use the same reference.
    supplier = api.post(
        "Suppliers", json={"Name": "Lev AS", "ExternalImportReference": "rackbeat-customer-1"}
    )
    assert supplier.status_code == 201
    assert poweroffice_emulator.counters()["writes"]["Customers"]["duplicates_refused"] == 1


def test_supplier_reference_and_number_are_unique(api: httpx.Client) -> None:
    body = {"Name": "Lev AS", "Number": 5, "ExternalImportReference": "rackbeat-supplier-5"}
    assert api.post("Suppliers", json=body).status_code == 201
    dup_ref = api.post("Suppliers", json={**body, "Number": 6})
    assert dup_ref.status_code == 400
    assert dup_ref.json()["title"] == "Supplier validation error(s)"
    dup_number = api.post("Suppliers", json={**body, "ExternalImportReference": "other"})
    assert dup_number.status_code == 400
    assert dup_number.json()["detail"].startswith("Number is already in use. '5'")


def test_external_import_reference_is_at_most_50_characters(api: httpx.Client) -> None:
    response = api.post("Customers", json=_customer(ExternalImportReference="r" * 51))
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["$.ExternalImportReference"]
    assert (
        api.post("Customers", json=_customer(ExternalImportReference="r" * 50)).status_code == 201
    )


@pytest.mark.parametrize("missing", ["City", "ZipCode"])
def test_address_needs_city_and_zip_code(api: httpx.Client, missing: str) -> None:
    address = {"AddressLine1": "Storgata 1", "ZipCode": "0155", "City": "Oslo"}
    del address[missing]
    response = api.post("Customers", json=_customer(MailAddress=address))
    assert response.status_code == 400
    assert response.json()["errors"] == {
        f"$.MailAddress.{missing}": [f"The {missing} field is required."]
    }


def test_address_country_must_be_iso_alpha_2(api: httpx.Client) -> None:
    address = {"ZipCode": "0155", "City": "Oslo", "CountryCode": "Norge"}
    response = api.post("Customers", json=_customer(MailAddress=address))
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["$.MailAddress.CountryCode"]
    address["CountryCode"] = "se"
    created = api.post("Customers", json=_customer(MailAddress=address))
    assert created.json()["MailAddress"]["CountryCode"] == "SE"


def test_invoice_delivery_type_is_an_enum_with_rules(api: httpx.Client) -> None:
    unknown = api.post("Customers", json=_customer(InvoiceDeliveryType="EPOST"))
    assert unknown.status_code == 400
    assert list(unknown.json()["errors"]) == ["$.InvoiceDeliveryType"]
    no_email = api.post("Customers", json=_customer(InvoiceDeliveryType="PdfByEmail"))
    assert no_email.status_code == 400
    assert "needs EmailAddress or InvoiceEmailAddress" in no_email.json()["detail"]
    ok = api.post(
        "Customers",
        json=_customer(InvoiceDeliveryType="PdfByEmail", InvoiceEmailAddress="faktura@fjord.no"),
    )
    assert ok.status_code == 201
    assert ok.json()["InvoiceDeliveryType"] == "PdfByEmail"


def test_customer_gets_a_number_and_payment_term_by_days(api: httpx.Client) -> None:
    created = api.post("Customers", json=_customer(PaymentTerm=30)).json()
    terms = {t["CreditDays"]: t["Id"] for t in api.get("PaymentTerms").json()}
    assert created["Number"] == 10001
    assert created["PaymentTerm"] == 30
    assert created["PaymentTermId"] == terms[30]
    outside = api.post("Customers", json=_customer(ExternalImportReference="x", Number=5))
    assert outside.status_code == 400
    assert "sub-ledger number series" in outside.json()["detail"]


def test_company_customer_needs_a_name(api: httpx.Client) -> None:
    response = api.post("Customers", json=_customer(Name=None))
    assert response.status_code == 400
    assert response.json()["errors"] == {"$.Name": ["The Name field is required."]}


def test_contact_group_ids_must_exist(api: httpx.Client) -> None:
    response = api.post("Suppliers", json={"Name": "Lev AS", "ContactGroupIds": [424242]})
    assert response.status_code == 404
    assert response.json()["detail"] == "Contact group with id = 424242 not found."


def _order(customer_id: int, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "CustomerId": customer_id,
        "ExternalImportReference": "rackbeat-invoice-1",
        "ImportedOrderNo": 1,
        "SalesOrderStatus": "Draft",
        "SalesOrderLines": [
            {"LineType": "Text", "Description": "Leveres fredag", "SortOrder": 0},
            {
                "LineType": "Normal",
                "ProductCode": "SKU-9",
                "Quantity": 2,
                "ProductUnitPrice": 100.0,
                "Allowance": 10.0,
                "SortOrder": 1,
                "ExternalImportReference": "rackbeat-invoice-1-line-1",
            },
        ],
    }
    body.update(fields)
    return body


@pytest.fixture
def customer_and_product(api: httpx.Client) -> int:
    group = _product_group(api)
    assert (
        api.post(
            "Products", json={"Code": "SKU-9", "Name": "Maling", "ProductGroupId": group["Id"]}
        ).status_code
        == 200
    )
    return int(api.post("Customers", json=_customer()).json()["Id"])


def test_sales_order_complete_computes_lines_and_vat(
    api: httpx.Client, customer_and_product: int
) -> None:
    response = api.post("SalesOrders/Complete", json=_order(customer_and_product))
    assert response.status_code == 201
    order = response.json()
    assert order["CustomerNo"] == 10001
    assert order["SalesOrderNo"] == 1
    assert order["IsCreatedByCurrentIntegration"] is True
    assert order["LineCount"] == 2
    text, normal = order["SalesOrderLines"]
    assert text["LineType"] == "Text"
    assert text["ProductId"] is None
    assert normal["Description"] == "Maling"
    assert normal["VatCode"] == "3"
    assert normal["NetAmount"] == 180.0
    assert normal["TotalAmount"] == 225.0
    assert order["NetAmount"] == 180.0
    complete = api.get(f"SalesOrders/{order['Id']}/Complete").json()
    assert complete == order
    header = api.get(f"SalesOrders/{order['Id']}").json()
    assert "SalesOrderLines" not in header
    assert header["ExternalImportReference"] == "rackbeat-invoice-1"


def test_sales_order_reference_is_unique(
    api: httpx.Client, customer_and_product: int, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    assert api.post("SalesOrders/Complete", json=_order(customer_and_product)).status_code == 201
    again = api.post("SalesOrders/Complete", json=_order(customer_and_product))
    assert again.status_code == 400
    assert again.json()["title"] == "Sales order validation error(s)"
    assert poweroffice_emulator.counters()["writes"]["SalesOrders"] == {
        "created": 1, "updated": 0, "deleted": 0, "duplicates_refused": 1,
    }  # fmt: skip


def test_sales_order_line_product_must_exist_and_names_it(
    api: httpx.Client, customer_and_product: int
) -> None:
    body = _order(customer_and_product)
    body["SalesOrderLines"][1]["ProductCode"] = "NO-SUCH"
    response = api.post("SalesOrders/Complete", json=body)
    assert response.status_code == 404
    assert response.json()["detail"] == "Product with code = 'NO-SUCH' not found."


def test_sales_order_line_with_product_needs_quantity(
    api: httpx.Client, customer_and_product: int
) -> None:
    body = _order(customer_and_product)
    del body["SalesOrderLines"][1]["Quantity"]
    response = api.post("SalesOrders/Complete", json=body)
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "$.SalesOrderLines[1].Quantity": ["Quantity is required with a product."]
    }


def test_sales_order_line_type_is_an_enum(api: httpx.Client, customer_and_product: int) -> None:
    body = _order(customer_and_product)
    body["SalesOrderLines"][0]["LineType"] = "Comment"
    response = api.post("SalesOrders/Complete", json=body)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["$.SalesOrderLines[0].LineType"]


def test_sales_order_line_references_are_unique_within_the_order(
    api: httpx.Client, customer_and_product: int
) -> None:
    body = _order(customer_and_product)
    body["SalesOrderLines"][0]["ExternalImportReference"] = "rackbeat-invoice-1-line-1"
    response = api.post("SalesOrders/Complete", json=body)
    assert response.status_code == 400
    assert "already used on line 0" in response.json()["detail"]


def test_sales_order_needs_an_existing_customer(api: httpx.Client) -> None:
    assert api.post("SalesOrders/Complete", json={"SalesOrderLines": []}).status_code == 400
    missing = api.post("SalesOrders/Complete", json={"CustomerNo": 19999})
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Customer with number = 19999 not found."


def test_json_patch_updates_allowed_paths(
    api: httpx.Client, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    created = api.post("Products", json={"Code": "SKU-5", "Name": "Hammer", "UnitPrice": 99}).json()
    ops = [
        {"op": "replace", "path": "/Name", "value": "Hammer v2"},
        {"op": "replace", "path": "/unitPrice", "value": 109.0},
    ]
    response = api.patch(f"Products/{created['Id']}", json=ops, headers=PATCH)
    assert response.status_code == 200
    assert response.json()["Name"] == "Hammer v2"
    assert response.json()["UnitPrice"] == 109.0
    assert response.json()["LastChangedDateTimeOffset"] > created["LastChangedDateTimeOffset"]
    assert api.get(f"Products/{created['Id']}").json()["Name"] == "Hammer v2"
    assert poweroffice_emulator.counters()["writes"]["Products"]["updated"] == 1


def test_json_patch_nested_address_path(api: httpx.Client) -> None:
    created = api.post("Customers", json=_customer()).json()
    ops = [{"op": "replace", "path": "/MailAddress/City", "value": "Bergen"}]
    patched = api.patch(f"Customers/{created['Id']}", json=ops, headers=PATCH).json()
    assert patched["MailAddress"]["City"] == "Bergen"
    assert patched["MailAddress"]["Id"] == created["MailAddress"]["Id"]
    # An address change alone does not move the customer's LastChangedDateTimeOffset (spec).
    assert patched["LastChangedDateTimeOffset"] == created["LastChangedDateTimeOffset"]


@pytest.mark.parametrize(
    "path",
    ["/ProductGroupCode", "/StandardSalesAccount", "/Id", "/LastChangedDateTimeOffset", "/Nope"],
)
def test_json_patch_refuses_paths_outside_the_patch_dto(api: httpx.Client, path: str) -> None:
    created = api.post("Products", json={"Code": "SKU-6", "Name": "Hammer"}).json()
    ops = [{"op": "replace", "path": path, "value": 1}]
    response = api.patch(f"Products/{created['Id']}", json=ops, headers=PATCH)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "was not found" in response.json()["detail"]
    assert api.get(f"Products/{created['Id']}").json() == created


def test_json_patch_refuses_payment_term_days_on_customers(api: httpx.Client) -> None:
    created = api.post("Customers", json=_customer()).json()
    ops = [{"op": "replace", "path": "/PaymentTerm", "value": 14}]
    assert api.patch(f"Customers/{created['Id']}", json=ops, headers=PATCH).status_code == 400
    term_14 = next(t for t in api.get("PaymentTerms").json() if t["CreditDays"] == 14)
    ops = [{"op": "replace", "path": "/PaymentTermId", "value": term_14["Id"]}]
    patched = api.patch(f"Customers/{created['Id']}", json=ops, headers=PATCH)
    assert patched.status_code == 200
    assert patched.json()["PaymentTerm"] == 14


def test_json_patch_keeps_uniqueness(api: httpx.Client) -> None:
    api.post("Products", json={"Code": "A", "Name": "A"})
    b = api.post("Products", json={"Code": "B", "Name": "B"}).json()
    ops = [{"op": "replace", "path": "/Code", "value": "A"}]
    response = api.patch(f"Products/{b['Id']}", json=ops, headers=PATCH)
    assert response.status_code == 400
    assert api.get(f"Products/{b['Id']}").json()["Code"] == "B"


def test_patch_needs_the_json_patch_media_type(api: httpx.Client) -> None:
    created = api.post("Products", json={"Code": "SKU-7", "Name": "Hammer"}).json()
    response = api.patch(
        f"Products/{created['Id']}", json=[{"op": "replace", "path": "/Name", "value": "X"}]
    )
    assert response.status_code == 415


def test_malformed_json_is_a_400(api: httpx.Client) -> None:
    response = api.post(
        "Products", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "The request body is not valid JSON."


def test_delete_refuses_a_product_in_use(api: httpx.Client, customer_and_product: int) -> None:
    order = api.post("SalesOrders/Complete", json=_order(customer_and_product)).json()
    product_id = order["SalesOrderLines"][1]["ProductId"]
    assert api.delete(f"Products/{product_id}").status_code == 409
    assert api.delete(f"SalesOrders/{order['Id']}").status_code == 200
    assert api.delete(f"Products/{product_id}").status_code == 200
    assert api.get(f"Products/{product_id}").status_code == 404


def test_sales_order_patch_reaches_the_header_but_not_the_lines(
    api: httpx.Client, customer_and_product: int
) -> None:
    order = api.post("SalesOrders/Complete", json=_order(customer_and_product)).json()
    ok = api.patch(
        f"SalesOrders/{order['Id']}",
        json=[{"op": "replace", "path": "/CustomerReference", "value": "Ola Nordmann"}],
        headers=PATCH,
    )
    assert ok.status_code == 200
    assert ok.json()["CustomerReference"] == "Ola Nordmann"
    lines = api.patch(
        f"SalesOrders/{order['Id']}",
        json=[{"op": "remove", "path": "/SalesOrderLines/0"}],
        headers=PATCH,
    )
    assert lines.status_code == 400
    assert api.get(f"SalesOrders/{order['Id']}/Complete").json()["LineCount"] == 2


def test_products_follow_a_renamed_product_group(api: httpx.Client) -> None:
    group = _product_group(api, "40")
    product = api.post("Products", json={"Name": "Lim", "ProductGroupId": group["Id"]}).json()
    renamed = api.patch(
        f"ProductGroups/{group['Id']}",
        json=[{"op": "replace", "path": "/Code", "value": "41"}],
        headers=PATCH,
    )
    assert renamed.status_code == 200
    assert api.get(f"Products/{product['Id']}").json()["ProductGroupCode"] == "41"
    assert [p["Id"] for p in api.get("Products", params={"productGroupCodes": "41"}).json()] == [
        product["Id"]
    ]
