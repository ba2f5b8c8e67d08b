"""The wire models: strict, frozen outbound DTOs; tolerant inbound records."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pydantic import ValidationError

from clients.models import (
    PATCHABLE_FIELDS,
    ClientIntegrationInformation,
    ContactAddressPost,
    CustomerPost,
    InvoiceDeliveryType,
    ProblemDetails,
    Product,
    ProductPost,
    RackbeatCustomer,
    RackbeatCustomerInvoice,
    RackbeatLot,
    RackbeatProduct,
    RackbeatProductCreate,
    SalesOrder,
    SalesOrderCompletePost,
    SalesOrderLinePost,
    UnitOfMeasureCode,
    invoice_email_of,
)


def test_outbound_serialises_to_pascal_case_without_nones() -> None:
    post = CustomerPost(
        name="Eksempel AS",
        invoice_email_address_cc="a@x.no;b@x.no",
        invoice_delivery_type=InvoiceDeliveryType.PDF_BY_EMAIL,
        mail_address=ContactAddressPost(
            address_line1="Storgata 1", zip_code="0155", city="Oslo", country_code="NO"
        ),
        contact_group_ids=(3,),
    )
    assert post.to_wire() == {
        "Name": "Eksempel AS",
        "InvoiceEmailAddressCC": "a@x.no;b@x.no",
        "MailAddress": {
            "AddressLine1": "Storgata 1",
            "ZipCode": "0155",
            "City": "Oslo",
            "CountryCode": "NO",
        },
        "InvoiceDeliveryType": "PdfByEmail",
        "ContactGroupIds": [3],
    }


def test_outbound_accepts_wire_names_too() -> None:
    post = ProductPost.model_validate({"Name": "x", "UnitOfMeasureCode": "EA"})
    assert post.unit_of_measure_code is UnitOfMeasureCode.EA


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        pytest.param(ProductPost, {"Name": "x", "Colour": "red"}, "Extra inputs", id="extra"),
        pytest.param(ProductPost, {"Name": ""}, "at least 1 character", id="blank-name"),
        pytest.param(ProductPost, {"Name": "x", "UnitPrice": float("nan")}, "finite", id="nan"),
        pytest.param(
            ProductPost, {"Name": "x", "UnitOfMeasureCode": "STK"}, "Input should be", id="unit"
        ),
        pytest.param(ContactAddressPost, {"City": "Oslo"}, "Field required", id="zip-required"),
        pytest.param(
            ContactAddressPost,
            {"City": "Oslo", "ZipCode": "1", "CountryCode": "Norge"},
            "String should match pattern",
            id="country-code",
        ),
        pytest.param(
            CustomerPost, {"ExternalImportReference": "x" * 51}, "at most 50", id="ext-ref"
        ),
        pytest.param(CustomerPost, {"Allowance": 101}, "less than or equal to 100", id="pct"),
        pytest.param(CustomerPost, {"Number": 2**63}, "less than or equal to", id="int64"),
    ],
)
def test_outbound_is_strict(model: type, data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        model.model_validate(data)


def test_outbound_is_frozen_and_hashable() -> None:
    line = SalesOrderLinePost(description="x", sort_order=0)
    order = SalesOrderCompletePost(sales_order_lines=(line,), sales_order_date=date(2025, 7, 14))
    with pytest.raises(ValidationError, match="frozen"):
        order.contract_no = "1"  # type: ignore[misc]
    assert hash(order) == hash(order.model_copy())
    assert order.to_wire() == {
        "SalesOrderDate": "2025-07-14",
        "SalesOrderLines": [{"Description": "x", "SortOrder": 0}],
    }


def test_rackbeat_create_uses_rackbeat_names() -> None:
    body = RackbeatProductCreate(number="A-1", group=10, name="Widget", sales_price=9.5)
    assert body.to_wire() == {"number": "A-1", "group": 10, "name": "Widget", "sales_price": 9.5}


def test_poweroffice_inbound_ignores_unknown_keys_and_key_case() -> None:
    product = Product.model_validate(
        {"id": 1, "CODE": "A", "unitPrice": 2, "SomethingNew": True, "ProductType": "Service"}
    )
    assert (product.id, product.code, product.unit_price, product.product_type) == (
        1,
        "A",
        2.0,
        "Service",
    )
    order = SalesOrder.model_validate(
        {"Id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "SalesOrderDate": "2025-07-14T00:00:00"}
    )
    assert order.sales_order_date == date(2025, 7, 14)


def test_problem_details_with_lowercase_keys() -> None:
    problem = ProblemDetails.model_validate(
        {"title": "Customer validation error(s)", "status": 400, "errors": {"Name": ["x"]}}
    )
    assert (problem.title, problem.status, problem.errors) == (
        "Customer validation error(s)",
        400,
        {"Name": ["x"]},
    )


def test_client_integration_information() -> None:
    info = ClientIntegrationInformation.model_validate(
        {"ClientId": 123, "ClientName": "Demo AS", "ValidPrivileges": ["Customer_Full"]}
    )
    assert (info.client_id, info.client_name, info.valid_privileges) == (
        "123",
        "Demo AS",
        ["Customer_Full"],
    )
    assert info.invalid_privileges == []


def test_rackbeat_inbound_is_tolerant() -> None:
    product = RackbeatProduct.model_validate(
        {
            "number": 1001,
            "name": "",
            "sales_price": "199.5",
            "unit": {"number": 1, "name": "stk."},
            "updated_at": "2025-07-14 08:12:33",
            "new_field": {"anything": 1},
        }
    )
    assert product.number == "1001"
    assert product.name is None
    assert product.sales_price == 199.5
    assert product.updated_at == datetime(2025, 7, 14, 8, 12, 33)


def test_rackbeat_lot_lines_under_either_key() -> None:
    lot = RackbeatLot.model_validate(
        {"number": "B", "lot_lines": [{"product_id": "P"}, {"item": {"number": "Q"}}]}
    )
    assert [line.component_number for line in lot.lines] == ["P", "Q"]


def test_rackbeat_invoice_references_and_order_number() -> None:
    invoice = RackbeatCustomerInvoice.model_validate(
        {"number": 1, "customer_id": 5, "order_id": 9, "your_reference": "Kari"}
    )
    assert (invoice.customer_number, invoice.order_number, invoice.their_reference) == (
        5,
        9,
        "Kari",
    )


def test_invoice_email_is_chosen_in_one_place() -> None:
    customer = RackbeatCustomer.model_validate(
        {
            "number": 1,
            "customer_contacts": [
                {"contact_email": "x@y.no"},
                {"contact_email": "faktura@y.no", "cc_invoice": True},
            ],
        }
    )
    assert invoice_email_of(customer) == "faktura@y.no"
    explicit = customer.model_copy(update={"invoice_email": "inv@y.no"})
    assert invoice_email_of(explicit) == "inv@y.no"


def test_patchable_fields_take_ids_not_codes() -> None:
    assert "ProductGroupId" in PATCHABLE_FIELDS["Products"]
    assert "ProductGroupCode" not in PATCHABLE_FIELDS["Products"]
    assert "PaymentTermId" in PATCHABLE_FIELDS["Customers"]
    assert "PaymentTerm" not in PATCHABLE_FIELDS["Customers"]
    assert "SalesOrderLines" not in PATCHABLE_FIELDS["SalesOrders"]


def test_rackbeat_null_lists_read_as_empty() -> None:
    assert RackbeatCustomerInvoice.model_validate({"number": 1, "lines": None}).lines == []
    assert RackbeatLot.model_validate({"number": "B", "lot_lines": None}).lines == []
    assert RackbeatCustomer.model_validate({"number": 1, "contacts": None}).contacts == []
