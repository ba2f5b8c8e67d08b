"""Realistic Rackbeat and PowerOffice Go records for the mapping tests (raw wire dicts)."""

from __future__ import annotations

import copy
from typing import Any


def widget_product() -> dict[str, Any]:
    """A stocked Norwegian product, 25 % VAT group, unit "stk."."""
    return {
        "number": "SKU-1001",
        "urlfriendly_number": "SKU-1001",
        "type": "product",
        "name": "Blå widget",
        "description": "Widget, blå, 10 cm",
        "sales_price": 199.0,
        "cost_price": 80.5,
        "recommended_cost_price": 75.0,
        "inventory_enabled": True,
        "group_id": 1010,
        "group": {
            "number": 1010,
            "name": "Widgets",
            "has_inventory": True,
            "vat_domestic": 25,
            "vat_eu": 0,
            "vat_abroad": 0,
        },
        "unit_id": 1,
        "unit": {"number": 1, "name": "stk."},
        "created_at": "2024-05-01T10:00:00+02:00",
        "updated_at": "2025-07-14 08:12:33",
    }


def consulting_service() -> dict[str, Any]:
    """A service: its group has no inventory; unit "timer"; food-rate group missing VAT."""
    return {
        "number": "SRV-1",
        "name": "Konsulenttime",
        "description": "",
        "sales_price": 1250,
        "recommended_cost_price": 0,
        "inventory_enabled": True,
        "group": {"number": 2000, "name": "Tjenester", "has_inventory": False, "vat_domestic": 0},
        "unit": {"number": 4, "name": "Timer"},
    }


def freight_bom() -> dict[str, Any]:
    """A BOM (lot) with two component lines; unit "kolli" has no mapping."""
    return {
        "number": "BOM-7",
        "type": "lot",
        "name": "Startpakke",
        "description": "Widget + kabel",
        "sales_price": 349.5,
        "recommended_cost_price": 120.25,
        "group": {"number": 1015, "name": "Pakker", "has_inventory": True, "vat_domestic": 15},
        "unit": {"number": 9, "name": "kolli"},
        "lines": [
            {"id": 11, "product_id": "SKU-1001", "name": "Blå widget", "quantity": 2},
            {"id": 12, "child_id": "CAB-2", "child_type": "product", "quantity": 1},
        ],
    }


def norwegian_customer() -> dict[str, Any]:
    """A Norwegian customer with an invoice e-mail and 14 days' terms."""
    return {
        "number": 10001,
        "name": "Fjordfisk AS",
        "company_vat": "NO 974 760 673 MVA",
        "address_street": "Storgata 1",
        "address_street2": "",
        "address_zipcode": "0155",
        "address_city": "Oslo",
        "address_country": "Norge",
        "contact_email": "post@fjordfisk.no",
        "contact_phone": "+47 22 22 22 22",
        "invoice_email": "faktura@fjordfisk.no",
        "currency": "NOK",
        "general_discount_percentage": 5.0,
        "payment_terms": {"number": 3, "name": "Netto 14", "maturity_days": 14},
        "updated_at": "2025-07-14T08:12:33+02:00",
    }


def danish_customer() -> dict[str, Any]:
    """A Danish customer (``company_name`` only), no invoice e-mail, CVR with DK prefix."""
    return {
        "number": 10002,
        "company_name": "Acme ApS",
        "company_vat": "DK13585628",
        "address_street": "Strandvejen 1",
        "address_zipcode": "2100",
        "address_city": "København Ø",
        "address_country": "Danmark",
        "contact_email": "info@acme.dk",
        "contact_phone": "+45 12345678",
        "general_discount_percentage": 0,
        "payment_terms": {"number": 1, "name": "Netto 8 dage", "maturity_days": 8},
    }


def swedish_customer() -> dict[str, Any]:
    """A Swedish customer whose invoice e-mail comes from a ``cc_invoice`` contact."""
    return {
        "number": 10003,
        "name": "Svensk Handel AB",
        "company_vat": "SE556036079301",
        "address_street": "Drottninggatan 5",
        "address_zipcode": "111 51",
        "address_city": "Stockholm",
        "address_country": "SE",
        "contact_email": "info@svenskhandel.se",
        "contacts": [
            {"number": 1, "name": "Anna", "contact_email": "anna@svenskhandel.se"},
            {
                "number": 2,
                "name": "Ekonomi",
                "contact_email": "ekonomi@svenskhandel.se",
                "cc_invoice": True,
            },
        ],
    }


def norwegian_supplier() -> dict[str, Any]:
    """A Norwegian supplier with payment terms."""
    return {
        "number": 20001,
        "company_name": "Nordic Parts AS",
        "company_vat": "974760673",
        "address_street": "Industriveien 2",
        "address_zipcode": "7030",
        "address_city": "Trondheim",
        "address_country": "NO",
        "contact_email": "salg@nordicparts.no",
        "contact_phone": "+47 73 00 00 00",
        "currency": "nok",
        "payment_terms": {"number": 2, "name": "30 dager", "maturity_days": 30},
    }


def danish_supplier() -> dict[str, Any]:
    """A supplier abroad (Denmark), no payment terms: the default 14 days apply."""
    return {
        "number": 20002,
        "company_name": "Parts A/S",
        "company_vat": "DK87654321",
        "address_street": "Industrivej 2",
        "address_zipcode": "8000",
        "address_city": "Aarhus C",
        "address_country": "Danmark",
        "contact_email": "sales@parts.dk",
        "currency": "DKK",
        "vat_zone": "domestic",
    }


def supplier_without_vat() -> dict[str, Any]:
    """A supplier without a VAT number (R-SUP-10)."""
    return {
        "number": 20003,
        "company_name": "Privat Leverandør",
        "company_vat": "",
        "address_city": "Bergen",
        "address_zipcode": "5003",
        "address_country": "Norge",
    }


def booked_invoice() -> dict[str, Any]:
    """A booked invoice with a note, a heading, references and a discount line."""
    return {
        "number": 2001,
        "customer": {"number": 10001, "company_name": "Fjordfisk AS"},
        "order": {"number": 1021},
        "heading": "PO-778",
        "note": "Takk for handelen!",
        "currency": "NOK",
        "currency_rate": 100,
        "is_booked": True,
        "booked_at": "2025-07-14T09:00:00+02:00",
        "invoice_date": "2025-07-14",
        "due_date": "2025-07-28",
        "our_reference": {"number": 1, "name": "Jane Doe"},
        "their_reference": "Ola Nordmann",
        "lines": [
            {
                "id": 77,
                "child_type": "product",
                "child_id": "SKU-1001",
                "item": {"number": "SKU-1001"},
                "name": "Blå widget",
                "quantity": 2,
                "line_price": 199.0,
                "discount_percentage": 10,
            },
            {
                "id": 78,
                "child_id": "SRV-1",
                "name": "Montering",
                "quantity": 1.5,
                "line_price": 1250.0,
                "discount_percentage": 0,
            },
            {
                "id": 79,
                "item": {"number": "DISCOUNT"},
                "name": "Rabatt",
                "quantity": 1,
                "line_price": -100.0,
            },
        ],
    }


def plain_invoice() -> dict[str, Any]:
    """A booked invoice without note, heading, references or order; only booked_at."""
    return {
        "number": 2002,
        "customer_id": 10002,
        "currency": "DKK",
        "is_booked": True,
        "booked_at": "2025-07-15 11:30:00",
        "lines": [{"child_id": "SKU-1001", "name": "Blå widget", "quantity": 3, "line_price": 199}],
    }


def poweroffice_product() -> dict[str, Any]:
    """A PowerOffice Go ``ProductDto``."""
    return {
        "Id": 501,
        "Code": "PO-100",
        "Name": "Kabel 2 m",
        "Description": "Skjermet kabel",
        "ProductGroupId": 9001,
        "ProductType": "Product",
        "UnitOfMeasureCode": "EA",
        "UnitCost": 12.5,
        "UnitPrice": 49.0,
        "Gtin": "7070000000001",
    }


def poweroffice_product_group() -> dict[str, Any]:
    """A PowerOffice Go ``ProductGroupDto`` with a numeric code."""
    return {"Id": 9001, "Code": "3000", "Name": "Varer 25 %", "ProductType": "Product"}


def poweroffice_customer() -> dict[str, Any]:
    """A PowerOffice Go ``CustomerDto``."""
    return {
        "Id": 7001,
        "Number": 10050,
        "Name": "Eksempel AS",
        "OrganizationNumber": "999999999",
        "EmailAddress": "post@eksempel.no",
        "InvoiceEmailAddress": "faktura@eksempel.no",
        "PhoneNumber": "+4722222222",
        "MailAddress": {
            "Id": 1,
            "AddressLine1": "Storgata 1",
            "ZipCode": "0155",
            "City": "Oslo",
            "CountryCode": "NO",
        },
        "Allowance": 5.0,
        "CurrencyCode": "NOK",
    }


def poweroffice_supplier() -> dict[str, Any]:
    """A PowerOffice Go ``SupplierDto`` that is a person (no company name)."""
    return {
        "Id": 7002,
        "Number": 20050,
        "IsPerson": True,
        "FirstName": "Kari",
        "LastName": "Nordmann",
        "OrganizationNumber": "5560000000",
        "EmailAddress": "kari@example.se",
        "CurrencyCode": "SEK",
        "MailAddress": {"AddressLine1": "Gatan 1", "ZipCode": "11122", "City": "Stockholm"},
    }


def with_changes(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of ``record`` with top-level keys replaced (``None`` deletes the key)."""
    result = copy.deepcopy(record)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result
