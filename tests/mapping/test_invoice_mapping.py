"""R-INV-1..11: booked customer invoices -> SalesOrderCompletePost drafts."""

from __future__ import annotations

from typing import Any

import pytest
from mapping_samples import booked_invoice, plain_invoice, with_changes

from mapping import (
    REASON_INVOICE_TRANSFERRED,
    REASON_NOT_BOOKED,
    InvoiceLinks,
    MappedRecord,
    MappingWarning,
    RecordRejected,
    Skip,
    decide,
    invoice_links,
    map_invoice,
    parse_invoice,
)

EMPLOYEES = {1: 101}


def _mapped(raw: dict[str, Any], **options: Any) -> MappedRecord:
    options.setdefault("customer_id", 555)
    options.setdefault("employee_map", EMPLOYEES)
    result = map_invoice(parse_invoice(raw), **options)
    assert isinstance(result, MappedRecord)
    return result


def _lines(raw: dict[str, Any]) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = _mapped(raw).body()["SalesOrderLines"]
    return lines


def test_invoice_with_note_heading_references_and_discount_line() -> None:
    mapped = _mapped(booked_invoice())
    assert (mapped.kind, mapped.key, mapped.reference) == (
        "invoice",
        "2001",
        "rackbeat-invoice-2001",
    )
    assert mapped.body() == {
        "CustomerId": 555,
        "SalesOrderStatus": "Draft",
        "ImportedOrderNo": 2001,
        "SalesOrderDate": "2025-07-14",
        "CurrencyCode": "NOK",
        "SalesPersonEmployeeNumber": 101,
        "CustomerReference": "Ola Nordmann",
        "PurchaseOrderReference": "PO-778",
        "ContractNo": "1021",
        "ExternalImportReference": "rackbeat-invoice-2001",
        "SalesOrderLines": [
            {
                "LineType": "Text",
                "Description": "Takk for handelen!",
                "SortOrder": 0,
                "ExternalImportReference": "rackbeat-invoice-2001-line-0",
            },
            {
                "LineType": "Normal",
                "ProductCode": "SKU-1001",
                "Description": "Blå widget",
                "Quantity": 2.0,
                "Allowance": 10.0,
                "ProductUnitPrice": 199.0,
                "SortOrder": 1,
                "ExternalImportReference": "rackbeat-invoice-2001-line-1",
            },
            {
                "LineType": "Normal",
                "ProductCode": "SRV-1",
                "Description": "Montering",
                "Quantity": 1.5,
                "Allowance": 0.0,
                "ProductUnitPrice": 1250.0,
                "SortOrder": 2,
                "ExternalImportReference": "rackbeat-invoice-2001-line-2",
            },
            {
                "LineType": "Normal",
                "ProductCode": "DISCOUNT",
                "Description": "Rabatt",
                "Quantity": 1.0,
                "ProductUnitPrice": -100.0,
                "SortOrder": 3,
                "ExternalImportReference": "rackbeat-invoice-2001-line-3",
            },
        ],
    }
    assert mapped.warnings == ()


def test_plain_invoice_without_note_heading_or_references() -> None:
    mapped = _mapped(plain_invoice())
    assert mapped.body() == {
        "CustomerId": 555,
        "SalesOrderStatus": "Draft",
        "ImportedOrderNo": 2002,
        "SalesOrderDate": "2025-07-15",
        "CurrencyCode": "DKK",
        "ExternalImportReference": "rackbeat-invoice-2002",
        "SalesOrderLines": [
            {
                "LineType": "Normal",
                "ProductCode": "SKU-1001",
                "Description": "Blå widget",
                "Quantity": 3.0,
                "ProductUnitPrice": 199.0,
                "SortOrder": 0,
                "ExternalImportReference": "rackbeat-invoice-2002-line-0",
            }
        ],
    }


@pytest.mark.parametrize("is_booked", [False, None])
def test_R_INV_1_unbooked_invoice_is_skipped(is_booked: bool | None) -> None:
    raw = with_changes(booked_invoice(), is_booked=is_booked)
    assert map_invoice(parse_invoice(raw), customer_id=1) == Skip(reason=REASON_NOT_BOOKED)


def test_R_INV_1_draft_status_and_transferred_once() -> None:
    mapped = _mapped(booked_invoice())
    assert mapped.body()["SalesOrderStatus"] == "Draft"
    again = decide(
        mapped,
        previous_fingerprint="sha256:old",
        previous_payload=mapped.body(),
        remote_id="3fa85f64-5717-4562-b3fc-2c963f66afa6",
        create_only=True,
    )
    assert again == Skip(reason=REASON_INVOICE_TRANSFERRED)


def test_R_INV_2_nothing_is_set_up_for_sending() -> None:
    body = _mapped(booked_invoice()).body()
    assert not [key for key in body if "Deliver" in key or "Send" in key or "Email" in key]


def test_R_INV_3_order_number_is_the_invoice_number() -> None:
    assert _mapped(with_changes(booked_invoice(), number=4711)).body()["ImportedOrderNo"] == 4711


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"invoice_date": "2025-08-01"}, "2025-08-01", id="R-INV-4"),
        pytest.param(
            {"invoice_date": "2025-08-01T00:00:00+02:00"}, "2025-08-01", id="R-INV-4-datetime"
        ),
        pytest.param(
            {"invoice_date": None, "booked_at": "2025-08-02 23:10:00"},
            "2025-08-02",
            id="R-INV-4-booked-at",
        ),
    ],
)
def test_R_INV_4_order_date(change: dict[str, Any], expected: str) -> None:
    assert _mapped(with_changes(booked_invoice(), **change)).body()["SalesOrderDate"] == expected


def test_R_INV_4_no_date_at_all_is_a_warning() -> None:
    mapped = _mapped(with_changes(booked_invoice(), invoice_date=None, booked_at=None))
    assert "SalesOrderDate" not in mapped.body()
    assert mapped.warnings == (
        MappingWarning(
            code="missing_date",
            message="neither invoice_date nor booked_at: PowerOffice Go uses the send date",
            field="invoice_date",
        ),
    )


def test_R_INV_5_currency() -> None:
    assert _mapped(with_changes(booked_invoice(), currency="sek")).body()["CurrencyCode"] == "SEK"
    with pytest.raises(RecordRejected) as caught:
        _mapped(with_changes(booked_invoice(), currency="kroner"))
    assert (caught.value.kind, caught.value.key, caught.value.field) == (
        "invoice",
        "2001",
        "currency",
    )


def test_R_INV_6_unmapped_employee_is_left_out_with_a_warning() -> None:
    mapped = _mapped(booked_invoice(), employee_map={})
    assert "SalesPersonEmployeeNumber" not in mapped.body()
    assert [(w.code, w.field) for w in mapped.warnings] == [
        ("unmapped_employee", "our_reference.number")
    ]
    no_map = map_invoice(parse_invoice(booked_invoice()), customer_id=1)
    assert isinstance(no_map, MappedRecord)
    assert [w.code for w in no_map.warnings] == ["unmapped_employee"]


def test_R_INV_6_mapped_employee() -> None:
    mapped = _mapped(booked_invoice(), employee_map={1: 7})
    assert mapped.body()["SalesPersonEmployeeNumber"] == 7


@pytest.mark.parametrize(
    "key", ["their_reference", "other_reference", "your_reference"], ids=lambda k: f"R-INV-7-{k}"
)
def test_R_INV_7_their_reference(key: str) -> None:
    raw = with_changes(booked_invoice(), their_reference=None)
    raw[key] = "Kari"
    assert _mapped(raw).body()["CustomerReference"] == "Kari"


def test_R_INV_8_heading_is_the_purchase_order_reference() -> None:
    raw = with_changes(booked_invoice(), heading="Bestilling 55")
    assert _mapped(raw).body()["PurchaseOrderReference"] == "Bestilling 55"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"order": {"number": 77}}, "77", id="R-INV-9"),
        pytest.param({"order": None, "order_id": 78}, "78", id="R-INV-9-order-id"),
    ],
)
def test_R_INV_9_contract_number_is_the_order_number(change: dict[str, Any], expected: str) -> None:
    assert _mapped(with_changes(booked_invoice(), **change)).body()["ContractNo"] == expected


def test_R_INV_10_lines_product_number_from_item_then_child_id() -> None:
    codes = [line.get("ProductCode") for line in _lines(booked_invoice())]
    assert codes == [None, "SKU-1001", "SRV-1", "DISCOUNT"]


def test_R_INV_10_line_without_product_number_rejects() -> None:
    raw = with_changes(booked_invoice(), lines=[{"name": "fri tekst", "quantity": 1}])
    with pytest.raises(RecordRejected) as caught:
        _mapped(raw)
    assert str(caught.value) == (
        "invoice 2001: field 'lines[0].item.number': the line names no product number"
    )


def test_R_INV_10_line_without_quantity_rejects() -> None:
    raw = with_changes(booked_invoice(), lines=[{"child_id": "A", "line_price": 1}])
    with pytest.raises(RecordRejected) as caught:
        _mapped(raw)
    assert caught.value.field == "lines[0].quantity"


def test_R_INV_10_credit_line_keeps_negative_quantity() -> None:
    raw = with_changes(booked_invoice(), note=None, lines=[{"child_id": "A", "quantity": -2}])
    assert _lines(raw)[0]["Quantity"] == -2.0


def test_R_INV_10_discount_over_100_percent_rejects() -> None:
    raw = with_changes(
        booked_invoice(), lines=[{"child_id": "A", "quantity": 1, "discount_percentage": 101}]
    )
    with pytest.raises(RecordRejected) as caught:
        _mapped(raw)
    assert caught.value.field == "lines[0].discount_percentage"


@pytest.mark.parametrize(
    ("note", "first"),
    [
        pytest.param("Levert på døra", "Text", id="R-INV-11"),
        pytest.param("   ", "Normal", id="R-INV-11-blank-note"),
    ],
)
def test_R_INV_11_note_is_the_first_line(note: str, first: str) -> None:
    lines = _lines(with_changes(booked_invoice(), note=note))
    assert lines[0]["LineType"] == first
    assert lines[0]["SortOrder"] == 0
    assert [line["SortOrder"] for line in lines] == list(range(len(lines)))


def test_invoice_links_name_customer_and_distinct_products() -> None:
    raw = booked_invoice()
    raw["lines"].append({"child_id": "SKU-1001", "quantity": 1})
    assert invoice_links(parse_invoice(raw)) == InvoiceLinks(
        customer_number=10001, product_codes=("SKU-1001", "SRV-1", "DISCOUNT")
    )
    assert invoice_links(parse_invoice(plain_invoice())).customer_number == 10002


def test_invoice_links_without_customer_rejects() -> None:
    with pytest.raises(RecordRejected) as caught:
        invoice_links(parse_invoice(with_changes(booked_invoice(), customer=None)))
    assert caught.value.field == "customer.number"


def test_over_long_external_reference_rejects_through_the_outbound_model() -> None:
    raw = with_changes(booked_invoice(), number=10**40)
    with pytest.raises(RecordRejected) as caught:
        _mapped(raw)
    assert caught.value.kind == "invoice"
