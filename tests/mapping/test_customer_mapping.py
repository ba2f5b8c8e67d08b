"""R-CUST-1..9: customers -> CustomerPost."""

from __future__ import annotations

from typing import Any

import pytest
from mapping_samples import danish_customer, norwegian_customer, swedish_customer, with_changes

from clients.models import PaymentTermPost, RackbeatCustomer, invoice_email_of
from mapping import (
    MappingWarning,
    RecordRejected,
    customer_payment_days,
    map_customer,
    parse_customer,
    payment_term_for,
    payment_term_to_resolve,
)


def _wire(raw: dict[str, Any], **options: Any) -> dict[str, Any]:
    return map_customer(parse_customer(raw), **options).body()


def test_norwegian_customer_full_wire_body() -> None:
    mapped = map_customer(parse_customer(norwegian_customer()))
    assert (mapped.kind, mapped.key, mapped.reference) == (
        "customer",
        "10001",
        "rackbeat-customer-10001",
    )
    assert mapped.body() == {
        "Name": "Fjordfisk AS",
        "PhoneNumber": "+47 22 22 22 22",
        "MailAddress": {
            "AddressLine1": "Storgata 1",
            "ZipCode": "0155",
            "City": "Oslo",
            "CountryCode": "NO",
        },
        "OrganizationNumber": "974760673",
        "EmailAddress": "post@fjordfisk.no",
        "InvoiceEmailAddress": "faktura@fjordfisk.no",
        "InvoiceDeliveryType": "PdfByEmail",
        "Allowance": 5.0,
        "PaymentTerm": 14,
        "ExternalImportReference": "rackbeat-customer-10001",
        "ExternalNumber": 10001,
    }
    assert mapped.warnings == ()


def test_danish_customer_full_wire_body() -> None:
    assert _wire(danish_customer()) == {
        "Name": "Acme ApS",
        "PhoneNumber": "+45 12345678",
        "MailAddress": {
            "AddressLine1": "Strandvejen 1",
            "ZipCode": "2100",
            "City": "København Ø",
            "CountryCode": "DK",
        },
        "OrganizationNumber": "13585628",
        "EmailAddress": "info@acme.dk",
        "InvoiceDeliveryType": "Print",
        "Allowance": 0.0,
        "PaymentTerm": 8,
        "ExternalImportReference": "rackbeat-customer-10002",
        "ExternalNumber": 10002,
    }


def test_swedish_customer_full_wire_body() -> None:
    assert _wire(swedish_customer()) == {
        "Name": "Svensk Handel AB",
        "MailAddress": {
            "AddressLine1": "Drottninggatan 5",
            "ZipCode": "111 51",
            "City": "Stockholm",
            "CountryCode": "SE",
        },
        "OrganizationNumber": "5560360793",
        "EmailAddress": "info@svenskhandel.se",
        "InvoiceEmailAddress": "ekonomi@svenskhandel.se",
        "InvoiceDeliveryType": "PdfByEmail",
        "ExternalImportReference": "rackbeat-customer-10003",
        "ExternalNumber": 10003,
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"name": "Navn AS", "company_name": "Firma AS"}, "Navn AS", id="R-CUST-1"),
        pytest.param({"name": "", "company_name": "Firma AS"}, "Firma AS", id="R-CUST-1-company"),
    ],
)
def test_R_CUST_1_name(change: dict[str, Any], expected: str) -> None:
    assert _wire(with_changes(norwegian_customer(), **change))["Name"] == expected


def test_R_CUST_1_customer_without_any_name_rejects() -> None:
    raw = with_changes(norwegian_customer(), name="", company_name=" ")
    with pytest.raises(RecordRejected) as caught:
        _wire(raw)
    assert str(caught.value) == (
        "customer 10001: field 'name': the customer has neither name nor company_name"
    )


def test_R_CUST_2_phone_number() -> None:
    assert _wire(with_changes(norwegian_customer(), contact_phone=" 90012345 "))["PhoneNumber"] == (
        "90012345"
    )
    assert "PhoneNumber" not in _wire(with_changes(norwegian_customer(), contact_phone=None))


@pytest.mark.parametrize(
    ("country", "code"),
    [
        pytest.param("Norge", "NO", id="R-CUST-3-norge"),
        pytest.param("no", "NO", id="R-CUST-3-code-lower"),
        pytest.param("Sverige", "SE", id="R-CUST-3-sverige"),
        pytest.param("Danmark", "DK", id="R-CUST-3-danmark"),
        pytest.param("Nederland", "NL", id="R-CUST-3-nederland"),
        pytest.param("Deutschland", "DE", id="R-CUST-3-deutschland"),
        pytest.param("Tyskland", "DE", id="R-CUST-3-tyskland"),
        pytest.param("Finland", "FI", id="R-CUST-3-finland"),
        pytest.param("Netherlands", "NL", id="R-CUST-3-english"),
        pytest.param("Nederländerna", "NL", id="R-CUST-3-swedish"),
        pytest.param("DNK", "DK", id="R-CUST-3-alpha3"),
    ],
)
def test_R_CUST_3_country_names_and_codes(country: str, code: str) -> None:
    raw = with_changes(norwegian_customer(), address_country=country, company_vat=None)
    assert _wire(raw)["MailAddress"]["CountryCode"] == code


def test_R_CUST_3_unknown_country_rejects_naming_the_value() -> None:
    raw = with_changes(norwegian_customer(), address_country="Atlantis")
    with pytest.raises(RecordRejected) as caught:
        _wire(raw)
    assert str(caught.value) == (
        "customer 10001: field 'address_country': 'Atlantis' is neither an ISO 3166-1 code "
        "nor a known country name"
    )


def test_R_CUST_3_two_letters_that_are_no_country_reject() -> None:
    with pytest.raises(RecordRejected) as caught:
        _wire(with_changes(norwegian_customer(), address_country="XX"))
    assert caught.value.field == "address_country"


def test_R_CUST_3_without_city_the_address_is_left_out_with_a_warning() -> None:
    mapped = map_customer(parse_customer(with_changes(norwegian_customer(), address_city="")))
    assert "MailAddress" not in mapped.body()
    assert mapped.warnings == (
        MappingWarning(
            code="missing_address",
            message="address_city missing: sent without MailAddress (PowerOffice Go requires both)",
            field="address_city",
        ),
    )


def test_R_CUST_3_without_zip_and_city_one_warning_names_both() -> None:
    raw = with_changes(norwegian_customer(), address_city=None, address_zipcode=None)
    (warning,) = map_customer(parse_customer(raw)).warnings
    assert warning.field == "address_zipcode"
    assert warning.message.startswith("address_zipcode and address_city missing")


def test_R_CUST_3_address_without_country_has_no_country_code() -> None:
    raw = with_changes(norwegian_customer(), address_country=None)
    assert _wire(raw)["MailAddress"] == {
        "AddressLine1": "Storgata 1",
        "ZipCode": "0155",
        "City": "Oslo",
    }


def test_R_CUST_3_over_long_city_rejects() -> None:
    with pytest.raises(RecordRejected) as caught:
        _wire(with_changes(norwegian_customer(), address_city="O" * 101))
    assert caught.value.field == "address_city"
    assert caught.value.reason == "longer than 100 characters (101)"


@pytest.mark.parametrize(
    ("vat", "country", "expected", "warned"),
    [
        pytest.param("NO 974 760 673 MVA", "Norge", "974760673", False, id="R-CUST-4-no-prefix"),
        pytest.param("974760673", "Norge", "974760673", False, id="R-CUST-4-no"),
        pytest.param("974.760.673", "NO", "974760673", False, id="R-CUST-4-dots"),
        pytest.param("974760674", "NO", "974760674", True, id="R-CUST-4-no-bad-checksum"),
        pytest.param("DK 13 58 56 28", "Danmark", "13585628", False, id="R-CUST-4-dk"),
        pytest.param("13585629", "Danmark", "13585629", True, id="R-CUST-4-dk-bad-checksum"),
        pytest.param("556036-0793", "Sverige", "5560360793", False, id="R-CUST-4-se"),
        pytest.param("SE556036079301", None, "5560360793", False, id="R-CUST-4-se-vat"),
        pytest.param("DE136695976", "Tyskland", "136695976", False, id="R-CUST-4-de"),
        pytest.param("12-3456789", "USA", "123456789", False, id="R-CUST-4-no-checker"),
    ],
)
def test_R_CUST_4_organisation_number(
    vat: str, country: str | None, expected: str, warned: bool
) -> None:
    raw = with_changes(norwegian_customer(), company_vat=vat, address_country=country)
    mapped = map_customer(parse_customer(raw))
    assert mapped.body()["OrganizationNumber"] == expected
    codes = [w.code for w in mapped.warnings]
    assert codes == (["invalid_org_number_checksum"] if warned else [])


def test_R_CUST_4_unusable_number_rejects() -> None:
    with pytest.raises(RecordRejected) as caught:
        _wire(with_changes(norwegian_customer(), company_vat="n/a"))
    assert str(caught.value) == (
        "customer 10001: field 'company_vat': 'n/a' is not a usable organisation number"
    )


def test_R_CUST_4_missing_number_is_left_out() -> None:
    assert "OrganizationNumber" not in _wire(with_changes(norwegian_customer(), company_vat=""))


def test_R_CUST_5_email() -> None:
    raw = with_changes(norwegian_customer(), contact_email="ny@fjordfisk.no")
    assert _wire(raw)["EmailAddress"] == "ny@fjordfisk.no"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({}, "faktura@fjordfisk.no", id="R-CUST-6-field"),
        pytest.param(
            {
                "invoice_email": None,
                "contacts": [
                    {"contact_email": "a@x.no", "cc_invoice": False},
                    {"contact_email": "", "cc_invoice": True},
                    {"contact_email": " b@x.no ", "cc_invoice": True},
                    {"contact_email": "c@x.no", "cc_invoice": True},
                ],
            },
            "b@x.no",
            id="R-CUST-6-first-cc-invoice-contact",
        ),
        pytest.param(
            {"invoice_email": None, "contacts": [{"contact_email": "a@x.no"}]},
            None,
            id="R-CUST-6-none",
        ),
    ],
)
def test_R_CUST_6_invoice_email(change: dict[str, Any], expected: str | None) -> None:
    raw = norwegian_customer()
    raw.update(change)
    record = RackbeatCustomer.model_validate(raw)
    assert invoice_email_of(record) == expected
    assert map_customer(record).body().get("InvoiceEmailAddress") == expected


@pytest.mark.parametrize(
    ("invoice_email", "expected"),
    [
        pytest.param("faktura@fjordfisk.no", "PdfByEmail", id="R-CUST-7-EPOST"),
        pytest.param("", "Print", id="R-CUST-7-UTSKRIFT"),
    ],
)
def test_R_CUST_7_invoice_delivery_type(invoice_email: str, expected: str) -> None:
    raw = with_changes(norwegian_customer(), invoice_email=invoice_email)
    assert _wire(raw)["InvoiceDeliveryType"] == expected


@pytest.mark.parametrize(
    ("discount", "expected"),
    [
        pytest.param(12.5, 12.5, id="R-CUST-8"),
        pytest.param(-10, -10.0, id="R-CUST-8-surcharge"),
    ],
)
def test_R_CUST_8_discount(discount: float, expected: float) -> None:
    raw = with_changes(norwegian_customer(), general_discount_percentage=discount)
    assert _wire(raw)["Allowance"] == expected


def test_R_CUST_8_discount_over_100_percent_rejects() -> None:
    with pytest.raises(RecordRejected) as caught:
        _wire(with_changes(norwegian_customer(), general_discount_percentage=150))
    assert str(caught.value) == (
        "customer 10001: field 'general_discount_percentage': 150.0 is outside -1000..100 %"
    )


def test_R_CUST_9_payment_terms_create_and_update() -> None:
    record = parse_customer(norwegian_customer())
    assert customer_payment_days(record) == 14
    assert payment_term_for(14) == PaymentTermPost(name="14 dager", credit_days=14)
    assert payment_term_for(14).to_wire() == {"Name": "14 dager", "CreditDays": 14}
    body = map_customer(record, payment_term_id=555).body()
    assert (body["PaymentTerm"], body["PaymentTermId"]) == (14, 555)


def test_R_CUST_9_without_terms() -> None:
    record = parse_customer(with_changes(norwegian_customer(), payment_terms=None))
    assert customer_payment_days(record) is None
    assert "PaymentTerm" not in map_customer(record).body()


def test_customer_number_only_when_the_setting_is_on() -> None:
    assert "Number" not in _wire(norwegian_customer())
    assert _wire(norwegian_customer(), number_from_rackbeat=True)["Number"] == 10001


def test_parse_customer_rejects_a_wrong_type_naming_the_field() -> None:
    with pytest.raises(RecordRejected) as caught:
        parse_customer(with_changes(norwegian_customer(), general_discount_percentage=[1]))
    assert (caught.value.key, caught.value.field) == ("10001", "general_discount_percentage")


def test_parse_customer_rejects_a_nested_field_with_its_path() -> None:
    raw = with_changes(norwegian_customer(), contacts=[{"cc_invoice": "maybe"}])
    with pytest.raises(RecordRejected) as caught:
        parse_customer(raw)
    assert caught.value.field == "contacts[0].cc_invoice"


def test_parse_customer_not_a_mapping() -> None:
    with pytest.raises(RecordRejected) as caught:
        parse_customer(["not", "a", "record"])  # type: ignore[arg-type]
    assert (caught.value.key, caught.value.field) == ("?", "(record)")


@pytest.mark.parametrize(
    ("remote_id", "unchanged", "written", "days", "expected"),
    [
        (None, False, None, 30, None),  # a create carries the days themselves
        ("7", True, {"PaymentTerm": 14}, 30, None),  # unchanged: no request at all
        ("7", False, {"PaymentTerm": 30}, 30, None),  # other fields changed, not the days
        ("7", False, {"PaymentTerm": 14}, 30, 30),  # the days changed: resolve the term
        ("7", False, None, 30, 30),  # nothing written yet (adopted): resolve it
        ("7", False, {"PaymentTerm": 14}, None, None),  # no days in Rackbeat: none needed
    ],
)
def test_R_CUST_9_which_payment_term_an_update_must_resolve(
    remote_id: str | None,
    unchanged: bool,
    written: dict[str, Any] | None,
    days: int | None,
    expected: int | None,
) -> None:
    terms = None if days is None else {"number": 1, "name": f"{days} dager", "maturity_days": days}
    record = parse_customer(with_changes(norwegian_customer(), payment_terms=terms))
    assert (
        payment_term_to_resolve(record, remote_id=remote_id, unchanged=unchanged, written=written)
        == expected
    )
