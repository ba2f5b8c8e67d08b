"""R-SUP-1..11: suppliers -> SupplierPost (create only)."""

from __future__ import annotations

from typing import Any

import pytest
from mapping_samples import danish_supplier, norwegian_supplier, supplier_without_vat, with_changes

from clients.models import ContactGroupPost
from mapping import (
    REASON_CREATE_ONLY,
    MappedRecord,
    RecordRejected,
    Skip,
    contact_group_for,
    decide,
    map_supplier,
    parse_supplier,
    supplier_payment_days,
    supplier_skip,
    vat_zone_for,
)


def _mapped(raw: dict[str, Any], *, contact_group_id: int = 31) -> MappedRecord:
    result = map_supplier(parse_supplier(raw), contact_group_id=contact_group_id)
    assert isinstance(result, MappedRecord)
    return result


def test_norwegian_supplier_full_wire_body_and_manual_values() -> None:
    mapped = _mapped(norwegian_supplier())
    assert (mapped.kind, mapped.key, mapped.reference) == (
        "supplier",
        "20001",
        "rackbeat-supplier-20001",
    )
    assert mapped.body() == {
        "Name": "Nordic Parts AS",
        "Number": 20001,
        "ExternalImportReference": "rackbeat-supplier-20001",
        "MailAddress": {
            "AddressLine1": "Industriveien 2",
            "ZipCode": "7030",
            "City": "Trondheim",
            "CountryCode": "NO",
        },
        "OrganizationNumber": "974760673",
        "EmailAddress": "salg@nordicparts.no",
        "PhoneNumber": "+47 73 00 00 00",
        "CurrencyCode": "NOK",
        "ContactGroupIds": [31],
    }
    assert mapped.manual == {"payment_days": 30, "vat_zone": "Domestic"}
    assert mapped.warnings == ()


def test_supplier_abroad_full_wire_body_and_manual_values() -> None:
    mapped = _mapped(danish_supplier())
    assert mapped.body() == {
        "Name": "Parts A/S",
        "Number": 20002,
        "ExternalImportReference": "rackbeat-supplier-20002",
        "MailAddress": {
            "AddressLine1": "Industrivej 2",
            "ZipCode": "8000",
            "City": "Aarhus C",
            "CountryCode": "DK",
        },
        "OrganizationNumber": "87654321",
        "EmailAddress": "sales@parts.dk",
        "CurrencyCode": "DKK",
        "ContactGroupIds": [31],
    }
    # R-SUP-8 follows the country, not Rackbeat's own vat_zone field
    assert mapped.manual == {"payment_days": 14, "vat_zone": "Abroad"}
    assert [w.code for w in mapped.warnings] == ["invalid_org_number_checksum"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"company_name": "Firma AS", "name": "Navn"}, "Firma AS", id="R-SUP-1"),
        pytest.param({"company_name": "", "name": "Navn AS"}, "Navn AS", id="R-SUP-1-name"),
    ],
)
def test_R_SUP_1_name(change: dict[str, Any], expected: str) -> None:
    assert _mapped(with_changes(norwegian_supplier(), **change)).body()["Name"] == expected


def test_R_SUP_1_nameless_supplier_rejects() -> None:
    with pytest.raises(RecordRejected) as caught:
        _mapped(with_changes(norwegian_supplier(), company_name=None))
    assert (caught.value.key, caught.value.field) == ("20001", "company_name")


def test_R_SUP_2_number_and_reference() -> None:
    body = _mapped(with_changes(norwegian_supplier(), number="20999")).body()
    assert (body["Number"], body["ExternalImportReference"]) == (
        20999,
        "rackbeat-supplier-20999",
    )


def test_R_SUP_3_address_as_customers() -> None:
    body = _mapped(with_changes(norwegian_supplier(), address_country="Sverige")).body()
    assert body["MailAddress"]["CountryCode"] == "SE"
    with pytest.raises(RecordRejected) as caught:
        _mapped(with_changes(norwegian_supplier(), address_country="Mordor"))
    assert caught.value.field == "address_country"


@pytest.mark.parametrize(
    ("terms", "days"),
    [
        pytest.param({"maturity_days": 30}, 30, id="R-SUP-4"),
        pytest.param({"maturity_days": None}, 14, id="R-SUP-4-default-no-days"),
        pytest.param(None, 14, id="R-SUP-4-default"),
    ],
)
def test_R_SUP_4_payment_days_are_computed_for_the_operator(
    terms: dict[str, Any] | None, days: int
) -> None:
    raw = with_changes(norwegian_supplier(), payment_terms=terms)
    assert supplier_payment_days(parse_supplier(raw)) == days
    mapped = _mapped(raw)
    assert mapped.manual["payment_days"] == days
    assert "PaymentTerm" not in mapped.body()


def test_R_SUP_5_vat_number_normalised() -> None:
    raw = with_changes(norwegian_supplier(), company_vat="NO974760673MVA")
    assert _mapped(raw).body()["OrganizationNumber"] == "974760673"


def test_R_SUP_6_email() -> None:
    raw = with_changes(norwegian_supplier(), contact_email="ordre@nordicparts.no")
    assert _mapped(raw).body()["EmailAddress"] == "ordre@nordicparts.no"


@pytest.mark.parametrize(
    ("currency", "expected"),
    [
        pytest.param("sek", "SEK", id="R-SUP-7"),
        pytest.param(None, None, id="R-SUP-7-none"),
    ],
)
def test_R_SUP_7_currency(currency: str | None, expected: str | None) -> None:
    raw = with_changes(norwegian_supplier(), currency=currency)
    assert _mapped(raw).body().get("CurrencyCode") == expected


@pytest.mark.parametrize("currency", ["KRONER", "XYZ", "kr"])
def test_R_SUP_7_unknown_currency_rejects(currency: str) -> None:
    with pytest.raises(RecordRejected) as caught:
        _mapped(with_changes(norwegian_supplier(), currency=currency))
    assert str(caught.value) == (
        f"supplier 20001: field 'currency': {currency!r} is not an ISO 4217 currency code"
    )


@pytest.mark.parametrize(
    ("country", "zone"),
    [
        pytest.param("NO", "Domestic", id="R-SUP-8-NO"),
        pytest.param("SE", "Abroad", id="R-SUP-8-SE"),
        pytest.param(None, "Domestic", id="R-SUP-8-no-country"),
    ],
)
def test_R_SUP_8_vat_zone(country: str | None, zone: str) -> None:
    assert vat_zone_for(country) == zone


def test_R_SUP_8_vat_zone_of_a_supplier_without_address_country() -> None:
    raw = with_changes(norwegian_supplier(), address_country=None)
    assert _mapped(raw).manual["vat_zone"] == "Domestic"


def test_R_SUP_9_contact_group() -> None:
    assert _mapped(norwegian_supplier(), contact_group_id=77).body()["ContactGroupIds"] == [77]
    assert contact_group_for() == ContactGroupPost(name="PowerOffice")
    assert contact_group_for("Leverandører").to_wire() == {"Name": "Leverandører"}


@pytest.mark.parametrize("vat", ["", "   ", None])
def test_R_SUP_10_supplier_without_vat_number_is_skipped(vat: str | None) -> None:
    raw = with_changes(supplier_without_vat(), company_vat=vat)
    result = map_supplier(parse_supplier(raw), contact_group_id=31)
    assert result == Skip(reason="no VAT number")
    assert supplier_skip(parse_supplier(raw)) == result  # decided before any contact group
    assert supplier_skip(parse_supplier(norwegian_supplier())) is None
    assert result.to_json() == {
        "action": "skip",
        "reason": "no VAT number",
        "warnings": [],
        "manual": {},
    }


def test_R_SUP_10_unusable_vat_number_rejects() -> None:
    with pytest.raises(RecordRejected) as caught:
        _mapped(with_changes(norwegian_supplier(), company_vat="ukjent"))
    assert caught.value.field == "company_vat"


def test_R_SUP_11_existing_supplier_is_never_updated() -> None:
    mapped = _mapped(norwegian_supplier())
    decision = decide(
        mapped,
        previous_fingerprint=None,
        previous_payload=None,
        remote_id=9001,
        create_only=True,
    )
    assert decision == Skip(reason=REASON_CREATE_ONLY, manual=mapped.manual)
    assert decision.reason == "exists; create-only"


def test_R_SUP_11_new_supplier_is_created() -> None:
    mapped = _mapped(norwegian_supplier())
    decision = decide(
        mapped, previous_fingerprint=None, previous_payload=None, remote_id=None, create_only=True
    )
    assert decision.to_json() == {
        "action": "create",
        "reference": "rackbeat-supplier-20001",
        "fingerprint": mapped.fingerprint,
        "payload": mapped.body(),
        "warnings": [],
        "manual": {"payment_days": 30, "vat_zone": "Domestic"},
    }
