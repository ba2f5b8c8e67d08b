"""Text fields on the way to PowerOffice Go: control characters, invisible names, over-long text
and e-mail addresses, per field (R-PROD-1..4, R-CUST-1..7, R-SUP-1/6, R-INV-7/8/10/11).

The decisions (docs/mapping.md, "Text fields"): control characters are removed, line breaks
become spaces in one-line fields and stay in descriptions and the note; a value that is blank to
the eye (whitespace, zero-width and other format characters) is absent; over-long free text is
cut with a ``truncated_text`` warning, any other over-long text rejects the record naming the
field; a code (item number) with a control character inside rejects (cleaning it would make a
different code); an e-mail address that is not one is left out with an ``invalid_email``
warning, so an invalid invoice e-mail means ``Print`` (R-CUST-7).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mapping_samples import (
    booked_invoice,
    norwegian_customer,
    norwegian_supplier,
    poweroffice_product,
    swedish_customer,
    widget_product,
    with_changes,
)

from mapping import (
    MappedRecord,
    MappingWarning,
    RecordRejected,
    map_customer,
    map_invoice,
    map_product,
    map_supplier,
    parse_customer,
    parse_invoice,
    parse_poweroffice_product,
    parse_product,
    parse_supplier,
    product_create_for,
    product_group_for,
)
from mapping.tables import MAX_DESCRIPTION_LENGTH, MAX_TEXT_LENGTH
from mapping.text import clean_line, clean_text, is_email_address

HUGE = "x" * 100_000
ZWSP = "\u200b"

SAMPLES: dict[str, Callable[[], dict[str, Any]]] = {
    "product": widget_product,
    "customer": norwegian_customer,
    "supplier": norwegian_supplier,
    "invoice": booked_invoice,
}

Change = dict[str, Any] | Callable[[dict[str, Any]], None]


def _mapped(kind: str, change: Change) -> MappedRecord:
    raw = SAMPLES[kind]()
    if callable(change):
        change(raw)
    else:
        raw.update(change)
    if kind == "product":
        return map_product(parse_product(raw), group_id=42)
    if kind == "customer":
        return map_customer(parse_customer(raw))
    if kind == "supplier":
        result = map_supplier(parse_supplier(raw), contact_group_id=7)
    else:
        result = map_invoice(parse_invoice(raw), customer_id=555, employee_map={1: 101})
    assert isinstance(result, MappedRecord)
    return result


def _line(index: int, **fields: Any) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        raw["lines"][index].update(fields)

    return change


def _wire_value(body: dict[str, Any], path: str) -> Any:
    value: Any = body
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value.get(part)
        if value is None:
            return None
    return value


CUT = "x" * (MAX_DESCRIPTION_LENGTH - 1) + "…"


def _cut_warning(field: str) -> MappingWarning:
    return MappingWarning(
        "truncated_text",
        f"100000 characters, cut to {MAX_DESCRIPTION_LENGTH}: PowerOffice Go gets the start",
        field=field,
    )


@pytest.mark.parametrize(
    ("kind", "change", "path", "expected", "warnings"),
    [
        # R-PROD-1: the product name, one line.
        pytest.param(
            "product", {"name": "Widget\x1b[1m"}, "Name", "Widget[1m", [], id="R-PROD-1-escape"
        ),
        pytest.param(
            "product", {"name": "Wid\x00get\x7f"}, "Name", "Widget", [], id="R-PROD-1-nul-del"
        ),
        pytest.param(
            "product",
            {"name": "Blue\r\nwidget\t2"},
            "Name",
            "Blue widget 2",
            [],
            id="R-PROD-1-newline-tab",
        ),
        pytest.param(
            "product",
            {"name": f"{ZWSP}\ufeffWidget{ZWSP} "},
            "Name",
            "Widget",
            [],
            id="R-PROD-1-invisible-ends",
        ),
        pytest.param(
            "product",
            {"name": "Kaffe\u00adkopp"},
            "Name",
            "Kaffe\u00adkopp",
            [],
            id="R-PROD-1-soft-hyphen-inside-kept",
        ),
        # R-PROD-2: a code is sent exactly as it is (trimmed), whatever else it holds.
        pytest.param(
            "product",
            {"number": f" SKU{ZWSP}1001\n"},
            "Code",
            f"SKU{ZWSP}1001",
            [],
            id="R-PROD-2-only-trimmed",
        ),
        # R-PROD-3: the description keeps its lines; over-long is cut with a warning.
        pytest.param(
            "product",
            {"description": "Line 1\r\nLine 2\x1b\x00\n\tend"},
            "Description",
            "Line 1\nLine 2\n end",
            [],
            id="R-PROD-3-lines-kept-controls-out",
        ),
        pytest.param(
            "product",
            {"description": f"\n{ZWSP}\n"},
            "Description",
            None,
            [],
            id="R-PROD-3-invisible-is-absent",
        ),
        pytest.param(
            "product",
            {"description": HUGE},
            "Description",
            CUT,
            [_cut_warning("description")],
            id="R-PROD-3-huge-is-cut",
        ),
        # R-CUST-1: name, else company_name; blank to the eye counts as absent.
        pytest.param(
            "customer",
            {"name": ZWSP, "company_name": "Fjordfisk Holding AS"},
            "Name",
            "Fjordfisk Holding AS",
            [],
            id="R-CUST-1-invisible-name-falls-back",
        ),
        pytest.param(
            "customer",
            {"name": "Fjordfisk\nAS\x1b"},
            "Name",
            "Fjordfisk AS",
            [],
            id="R-CUST-1-controls",
        ),
        # R-CUST-2: the phone number.
        pytest.param(
            "customer",
            {"contact_phone": "+47 22 22\x1b 22 22\n"},
            "PhoneNumber",
            "+47 22 22 22 22",
            [],
            id="R-CUST-2-controls",
        ),
        # R-CUST-3: address lines are one line each.
        pytest.param(
            "customer",
            {"address_street": "Storgata 1\nPostboks 3"},
            "MailAddress.AddressLine1",
            "Storgata 1 Postboks 3",
            [],
            id="R-CUST-3-newline",
        ),
        # R-SUP-1: company_name, else name.
        pytest.param(
            "supplier",
            {"company_name": f" {ZWSP} ", "name": "Nordic Parts"},
            "Name",
            "Nordic Parts",
            [],
            id="R-SUP-1-invisible-name-falls-back",
        ),
        # R-INV-7, R-INV-8: references, one line.
        pytest.param(
            "invoice",
            {"their_reference": "Ola\x1b Nordmann"},
            "CustomerReference",
            "Ola Nordmann",
            [],
            id="R-INV-7-controls",
        ),
        pytest.param(
            "invoice",
            {"heading": "PO\n778"},
            "PurchaseOrderReference",
            "PO 778",
            [],
            id="R-INV-8-newline",
        ),
        # R-INV-11: the note is a text line, multi-line; R-INV-10: so are line descriptions.
        pytest.param(
            "invoice",
            {"note": "Hei!\r\nTakk\x1b"},
            "SalesOrderLines.0.Description",
            "Hei!\nTakk",
            [],
            id="R-INV-11-lines-kept",
        ),
        pytest.param(
            "invoice",
            {"note": HUGE},
            "SalesOrderLines.0.Description",
            CUT,
            [_cut_warning("note")],
            id="R-INV-11-huge-is-cut",
        ),
        pytest.param(
            "invoice",
            _line(0, name="Blå\nwidget\x00"),
            "SalesOrderLines.1.Description",
            "Blå\nwidget",
            [],
            id="R-INV-10-description-lines-kept",
        ),
        pytest.param(
            "invoice",
            _line(1, name=HUGE),
            "SalesOrderLines.2.Description",
            CUT,
            [_cut_warning("lines[1].name")],
            id="R-INV-10-huge-description-is-cut",
        ),
    ],
)
def test_text_fields_are_cleaned_per_field(
    kind: str, change: Change, path: str, expected: Any, warnings: list[MappingWarning]
) -> None:
    mapped = _mapped(kind, change)
    assert _wire_value(mapped.body(), path) == expected
    assert list(mapped.warnings) == warnings


@pytest.mark.parametrize(
    ("kind", "change", "field", "reason"),
    [
        # Names: blank to the eye is a missing name (the rules' rejection); too long rejects,
        # because a cut name names something else.
        pytest.param(
            "product",
            {"name": ZWSP},
            "name",
            "the item has no name (PowerOffice Go requires one)",
            id="R-PROD-1-zero-width-only",
        ),
        pytest.param(
            "product",
            {"name": f" {ZWSP}\u2060\ufeff\u3164 "},
            "name",
            "the item has no name (PowerOffice Go requires one)",
            id="R-PROD-1-invisible-only",
        ),
        pytest.param(
            "product",
            {"name": "x" * 401},
            "name",
            "longer than 400 characters (401)",
            id="R-PROD-1-too-long",
        ),
        pytest.param(
            "customer",
            {"name": ZWSP, "company_name": None},
            "name",
            "the customer has neither name nor company_name",
            id="R-CUST-1-zero-width-only",
        ),
        pytest.param(
            "customer",
            {"name": HUGE},
            "name",
            f"longer than {MAX_TEXT_LENGTH} characters (100000)",
            id="R-CUST-1-huge",
        ),
        pytest.param(
            "supplier",
            {"company_name": ZWSP, "name": "\u200d"},
            "company_name",
            "the supplier has neither company_name nor name",
            id="R-SUP-1-zero-width-only",
        ),
        pytest.param(
            "supplier",
            {"company_name": HUGE},
            "company_name",
            f"longer than {MAX_TEXT_LENGTH} characters (100000)",
            id="R-SUP-1-huge",
        ),
        # Codes: a control character inside would make another code when removed.
        pytest.param(
            "product",
            {"number": "SKU\x1b-1001"},
            "number",
            "contains the control character U+001B",
            id="R-PROD-2-escape",
        ),
        pytest.param(
            "product",
            {"number": "SKU-\n1001"},
            "number",
            "contains the control character U+000A",
            id="R-PROD-2-newline",
        ),
        pytest.param(
            "invoice",
            _line(0, item={"number": "SKU-1001\x00X"}),
            "lines[0].item.number",
            "contains the control character U+0000",
            id="R-INV-10-item-number-nul",
        ),
        # Other one-line text: a phone number or a reference cut short is a wrong one.
        pytest.param(
            "customer",
            {"contact_phone": HUGE},
            "contact_phone",
            f"longer than {MAX_TEXT_LENGTH} characters (100000)",
            id="R-CUST-2-huge",
        ),
        pytest.param(
            "supplier",
            {"contact_phone": HUGE},
            "contact_phone",
            f"longer than {MAX_TEXT_LENGTH} characters (100000)",
            id="supplier-phone-huge",
        ),
        pytest.param(
            "invoice",
            {"their_reference": HUGE},
            "their_reference",
            f"longer than {MAX_TEXT_LENGTH} characters (100000)",
            id="R-INV-7-huge",
        ),
        pytest.param(
            "invoice",
            {"heading": HUGE},
            "heading",
            f"longer than {MAX_TEXT_LENGTH} characters (100000)",
            id="R-INV-8-huge",
        ),
        pytest.param(
            "customer",
            {"address_city": HUGE},
            "address_city",
            "longer than 100 characters (100000)",
            id="R-CUST-3-huge-city",
        ),
    ],
)
def test_text_that_cannot_be_sent_rejects_naming_the_field(
    kind: str, change: Change, field: str, reason: str
) -> None:
    with pytest.raises(RecordRejected) as caught:
        _mapped(kind, change)
    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_R_PROD_4_a_group_name_blank_to_the_eye_is_named_by_its_code() -> None:
    raw = widget_product()
    raw["group"]["name"] = f"{ZWSP}\n"
    assert product_group_for(parse_product(raw)).name == "1010"


def _invalid(field: str, value: str) -> MappingWarning:
    return MappingWarning(
        "invalid_email",
        f"{value!r} is not an e-mail address; invoices go by print (R-CUST-7)",
        field=field,
    )


@pytest.mark.parametrize(
    ("invoice_email", "delivery", "address", "warnings"),
    [
        pytest.param(
            "faktura@fjordfisk.no", "PdfByEmail", "faktura@fjordfisk.no", [], id="R-CUST-7-valid"
        ),
        pytest.param(
            f"{ZWSP}faktura@fjordfisk.no\n",
            "PdfByEmail",
            "faktura@fjordfisk.no",
            [],
            id="R-CUST-7-invisible-ends-trimmed",
        ),
        pytest.param(
            "ola@blåbær.no", "PdfByEmail", "ola@blåbær.no", [], id="R-CUST-7-international-domain"
        ),
        pytest.param(
            "ola.n+faktura@mail.fjordfisk.no",
            "PdfByEmail",
            "ola.n+faktura@mail.fjordfisk.no",
            [],
            id="R-CUST-7-subaddress",
        ),
        pytest.param(ZWSP, "Print", None, [], id="R-CUST-7-invisible-is-absent"),
        pytest.param(
            "not-an-email",
            "Print",
            None,
            [_invalid("invoice_email", "not-an-email")],
            id="R-CUST-7-not-an-email",
        ),
        pytest.param(
            "faktura@fjordfisk",
            "Print",
            None,
            [_invalid("invoice_email", "faktura@fjordfisk")],
            id="R-CUST-7-no-dot-in-domain",
        ),
        pytest.param(
            "faktura@.no",
            "Print",
            None,
            [_invalid("invoice_email", "faktura@.no")],
            id="R-CUST-7-empty-label",
        ),
        pytest.param(
            "@fjordfisk.no",
            "Print",
            None,
            [_invalid("invoice_email", "@fjordfisk.no")],
            id="R-CUST-7-no-local-part",
        ),
        pytest.param(
            "faktura@@fjordfisk.no",
            "Print",
            None,
            [_invalid("invoice_email", "faktura@@fjordfisk.no")],
            id="R-CUST-7-two-ats",
        ),
        pytest.param(
            "ola nordmann@fjordfisk.no",
            "Print",
            None,
            [_invalid("invoice_email", "ola nordmann@fjordfisk.no")],
            id="R-CUST-7-space",
        ),
        pytest.param(
            "a@x.no; b@x.no",
            "Print",
            None,
            [_invalid("invoice_email", "a@x.no; b@x.no")],
            id="R-CUST-7-two-addresses",
        ),
        pytest.param(
            "fak\x1btura@fjordfisk.no",
            "Print",
            None,
            [_invalid("invoice_email", "fak\x1btura@fjordfisk.no")],
            id="R-CUST-7-control-character",
        ),
        pytest.param(
            "fak\u200btura@fjordfisk.no",
            "Print",
            None,
            [_invalid("invoice_email", "fak\u200btura@fjordfisk.no")],
            id="R-CUST-7-zero-width-inside",
        ),
    ],
)
def test_R_CUST_6_7_only_a_valid_invoice_email_selects_pdf_by_email(
    invoice_email: str, delivery: str, address: str | None, warnings: list[MappingWarning]
) -> None:
    mapped = _mapped("customer", {"invoice_email": invoice_email})
    body = mapped.body()
    assert body["InvoiceDeliveryType"] == delivery
    assert body.get("InvoiceEmailAddress") == address
    assert list(mapped.warnings) == warnings


def test_R_CUST_6_7_an_invalid_cc_invoice_contact_address_is_named_as_such() -> None:
    raw = swedish_customer()
    raw["contacts"][1]["contact_email"] = "ekonomi(at)svenskhandel.se"
    mapped = map_customer(parse_customer(raw))
    assert mapped.body()["InvoiceDeliveryType"] == "Print"
    assert "InvoiceEmailAddress" not in mapped.body()
    assert list(mapped.warnings) == [
        _invalid("contacts[cc_invoice].contact_email", "ekonomi(at)svenskhandel.se")
    ]


def test_R_CUST_7_a_huge_invoice_email_is_shown_shortened_in_the_warning() -> None:
    mapped = _mapped("customer", {"invoice_email": "a" * 300 + "@fjordfisk.no"})
    (warning,) = mapped.warnings
    assert mapped.body()["InvoiceDeliveryType"] == "Print"
    assert (warning.code, warning.field) == ("invalid_email", "invoice_email")
    assert warning.message.startswith("'aaaa")
    assert "…' (313 characters) is not an e-mail address" in warning.message
    assert len(warning.message) < 200


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        pytest.param("customer", "contact_email", id="R-CUST-5"),
        pytest.param("supplier", "contact_email", id="R-SUP-6"),
    ],
)
def test_an_invalid_contact_email_is_left_out_with_a_warning(kind: str, field: str) -> None:
    mapped = _mapped(kind, {field: "post(at)example.no"})
    assert "EmailAddress" not in mapped.body()
    assert list(mapped.warnings) == [
        MappingWarning(
            "invalid_email", "'post(at)example.no' is not an e-mail address; left out", field=field
        )
    ]


@pytest.mark.parametrize(
    ("value", "line", "text"),
    [
        ("plain", "plain", "plain"),
        ("  a\x1bb\x00c\x7f\x85d  ", "abc d", "abc\nd"),
        (
            "a\r\nb\rc\nd\u2028e\u2029f\x0bg\x0ch\x1ci",
            "a b c d e f g h i",
            "a\nb\nc\nd\ne\nf\ng\nh\ni",
        ),
        ("a\tb", "a b", "a b"),
        (f"{ZWSP}\ufeff\u2060 a{ZWSP}b \u3164\u2800", f"a{ZWSP}b", f"a{ZWSP}b"),
        ("\n\n a \n\n", "a", "a"),
        (f"{ZWSP} \u115f", "", ""),
        ("\ud800x", "x", "x"),
        ("🧑\u200d🍳", "🧑\u200d🍳", "🧑\u200d🍳"),
    ],
)
def test_clean_line_and_clean_text(value: str, line: str, text: str) -> None:
    assert clean_line(value) == line
    assert clean_text(value) == text


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("a@b.no", True),
        ("ola.nordmann+x@sub.example.co.uk", True),
        ("ola@blåbær.no", True),
        ("a@b", False),
        ("a@b.", False),
        ("a@.b", False),
        ("a@b..no", False),
        ("@b.no", False),
        ("a@", False),
        ("a@@b.no", False),
        ("a b@c.no", False),
        ("a@c.no,b@c.no", False),
        ("<a@c.no>", False),
        ("a\x1b@c.no", False),
        (f"a{ZWSP}@c.no", False),
        ("a" * 250 + "@c.no", False),
        ("", False),
    ],
)
def test_is_email_address(value: str, valid: bool) -> None:
    assert is_email_address(value) is valid


def test_R_INIT_1_the_other_way_descriptions_keep_their_lines_and_codes_are_not_altered() -> None:
    raw = with_changes(
        poweroffice_product(), Description="Skjermet\r\nkabel\x1b", Name="Kabel\n2 m"
    )
    created = product_create_for(parse_poweroffice_product(raw), group_number=9)
    assert (created.description, created.name) == ("Skjermet\nkabel", "Kabel 2 m")
    with pytest.raises(RecordRejected) as caught:
        product_create_for(
            parse_poweroffice_product(with_changes(raw, Code="PO\x00100")), group_number=9
        )
    assert (caught.value.field, caught.value.reason) == (
        "Code",
        "contains the control character U+0000",
    )
