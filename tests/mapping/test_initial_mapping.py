"""R-INIT-1..4: PowerOffice Go records -> Rackbeat create bodies (the optional initial sync)."""

from __future__ import annotations

from typing import Any

import pytest
from mapping_samples import (
    poweroffice_customer,
    poweroffice_product,
    poweroffice_product_group,
    poweroffice_supplier,
    with_changes,
)

from clients.models import RackbeatSupplierGroupCreate, RackbeatUnitCreate
from mapping import (
    UNIT_ENGLISH_NAMES,
    RecordRejected,
    customer_create_for,
    parse_poweroffice_customer,
    parse_poweroffice_product,
    parse_poweroffice_product_group,
    parse_poweroffice_supplier,
    product_create_for,
    product_group_create_for,
    supplier_create_for,
    supplier_group_create,
    unit_create_for,
    unit_name_for,
)


def test_R_INIT_1_product() -> None:
    product = parse_poweroffice_product(poweroffice_product())
    body = product_create_for(product, group_number=3000, unit_number=1).to_wire()
    assert body == {
        "number": "PO-100",
        "group": 3000,
        "name": "Kabel 2 m",
        "sales_price": 49.0,
        "recommended_cost_price": 12.5,
        "description": "Skjermet kabel",
        "barcode": "7070000000001",
        "unit_id": 1,
    }


def test_R_INIT_1_product_without_price_or_name() -> None:
    raw = with_changes(poweroffice_product(), UnitPrice=None, Name=None, UnitCost=None)
    body = product_create_for(parse_poweroffice_product(raw), group_number=1).to_wire()
    assert body == {
        "number": "PO-100",
        "group": 1,
        "name": "PO-100",
        "sales_price": 0.0,
        "description": "Skjermet kabel",
        "barcode": "7070000000001",
    }


def test_R_INIT_1_product_without_code_rejects() -> None:
    raw = with_changes(poweroffice_product(), Code="  ")
    with pytest.raises(RecordRejected) as caught:
        product_create_for(parse_poweroffice_product(raw), group_number=1)
    assert str(caught.value) == (
        "poweroffice_product 501: field 'Code': the product has no code (the Rackbeat number)"
    )


def test_R_INIT_1_product_group() -> None:
    group = parse_poweroffice_product_group(poweroffice_product_group())
    assert product_group_create_for(group).to_wire() == {
        "number": 3000,
        "name": "Varer 25 %",
        "has_inventory": True,
        "is_sellable": True,
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            {"Id": 1, "Code": "12", "ProductType": "Service"},
            {"number": 12, "name": "12", "has_inventory": False, "is_sellable": True},
            id="R-INIT-1-service-group-named-by-code",
        ),
        pytest.param(
            {"Id": 2, "Name": "Diverse"},
            {"name": "Diverse", "has_inventory": True, "is_sellable": True},
            id="R-INIT-1-group-without-code",
        ),
    ],
)
def test_R_INIT_1_product_group_variants(raw: dict[str, Any], expected: dict[str, Any]) -> None:
    group = parse_poweroffice_product_group(raw)
    assert product_group_create_for(group).to_wire() == expected


@pytest.mark.parametrize("code", ["VARER25", "-3", "0", "1234567890"])
def test_R_INIT_1_group_code_that_is_no_number_rejects(code: str) -> None:
    group = parse_poweroffice_product_group({"Id": 3, "Code": code, "Name": "x"})
    with pytest.raises(RecordRejected) as caught:
        product_group_create_for(group)
    assert caught.value.field == "Code"


def test_R_INIT_1_group_with_neither_name_nor_code_rejects() -> None:
    with pytest.raises(RecordRejected) as caught:
        product_group_create_for(parse_poweroffice_product_group({"Id": 4}))
    assert caught.value.field == "Name"


@pytest.mark.parametrize(
    ("code", "name"),
    [
        pytest.param("EA", "Each", id="R-INIT-2-EA"),
        pytest.param("HUR", "Hour", id="R-INIT-2-HUR"),
        pytest.param("kgm", "Kilogram", id="R-INIT-2-lowercase"),
        pytest.param("XPK", "Package", id="R-INIT-2-XPK"),
    ],
)
def test_R_INIT_2_unit_in_english(code: str, name: str) -> None:
    assert unit_name_for(code) == name
    assert unit_create_for(code) == RackbeatUnitCreate(name=name)
    assert unit_create_for(code).to_wire() == {"name": name}


def test_R_INIT_2_every_unit_code_has_an_english_name() -> None:
    from clients.models import UnitOfMeasureCode

    assert set(UNIT_ENGLISH_NAMES) == set(UnitOfMeasureCode)


@pytest.mark.parametrize("code", ["EA", "HUR", "KGM", "XPK", "XRO", "MTK", "XOF"])
def test_R_INIT_2_R_PROD_6_copied_unit_maps_back_to_its_own_code(code: str) -> None:
    # A unit the initial sync created in Rackbeat (English name) keeps its code on the way back.
    from clients.models import UnitOfMeasureCode
    from mapping.tables import UNIT_TABLE, normalise_unit_name

    assert UNIT_TABLE[normalise_unit_name(unit_name_for(code))] is UnitOfMeasureCode(code)


def test_R_PROD_6_mapping_md_names_win_over_english_names() -> None:
    from clients.models import UnitOfMeasureCode
    from mapping import UNIT_TABLE

    assert UNIT_TABLE["stk"] is UnitOfMeasureCode.EA
    assert UNIT_TABLE["pack"] is UnitOfMeasureCode.XPK


def test_R_INIT_2_unknown_unit_code_rejects() -> None:
    with pytest.raises(RecordRejected) as caught:
        unit_name_for("STK")
    assert str(caught.value) == (
        "unit STK: field 'UnitOfMeasureCode': 'STK' is not a PowerOffice Go unit code"
    )
    with pytest.raises(RecordRejected) as caught:
        unit_name_for("EA", names={})
    assert caught.value.reason == "no English name configured for EA"


def test_R_INIT_3_supplier_group_and_person_supplier() -> None:
    assert supplier_group_create() == RackbeatSupplierGroupCreate(name="Poweroffice")
    supplier = parse_poweroffice_supplier(poweroffice_supplier())
    assert supplier_create_for(supplier, supplier_group_id=8).to_wire() == {
        "number": 20050,
        "company_name": "Kari Nordmann",
        "company_vat": "5560000000",
        "address_street": "Gatan 1",
        "address_zipcode": "11122",
        "address_city": "Stockholm",
        "contact_email": "kari@example.se",
        "currency": "SEK",
        "supplier_group_id": 8,
    }


def test_R_INIT_3_supplier_without_any_name_rejects() -> None:
    raw = with_changes(poweroffice_supplier(), FirstName=" ", LastName=None)
    with pytest.raises(RecordRejected) as caught:
        supplier_create_for(parse_poweroffice_supplier(raw), supplier_group_id=8)
    assert (caught.value.kind, caught.value.key, caught.value.field) == (
        "poweroffice_supplier",
        "7002",
        "Name",
    )


def test_R_INIT_4_customer() -> None:
    customer = parse_poweroffice_customer(poweroffice_customer())
    assert customer_create_for(customer).to_wire() == {
        "number": 10050,
        "company_name": "Eksempel AS",
        "company_vat": "999999999",
        "address_street": "Storgata 1",
        "address_zipcode": "0155",
        "address_city": "Oslo",
        "address_country": "NO",
        "contact_email": "post@eksempel.no",
        "contact_phone": "+4722222222",
        "currency": "NOK",
        "general_discount_percentage": 5.0,
        "invoice_email": "faktura@eksempel.no",
    }


def test_R_INIT_4_customer_without_address_number_or_currency() -> None:
    raw = with_changes(poweroffice_customer(), MailAddress=None, Number=None, CurrencyCode="kroner")
    body = customer_create_for(parse_poweroffice_customer(raw)).to_wire()
    assert body == {
        "company_name": "Eksempel AS",
        "company_vat": "999999999",
        "contact_email": "post@eksempel.no",
        "contact_phone": "+4722222222",
        "general_discount_percentage": 5.0,
        "invoice_email": "faktura@eksempel.no",
    }


def test_R_INIT_4_parse_rejects_a_record_without_id() -> None:
    with pytest.raises(RecordRejected) as caught:
        parse_poweroffice_customer({"Name": "x"})
    assert (caught.value.kind, caught.value.key, caught.value.field) == (
        "poweroffice_customer",
        "?",
        "Id",
    )


def test_R_INIT_4_poweroffice_keys_are_case_insensitive() -> None:
    customer = parse_poweroffice_customer({"id": 5, "name": "Små Bokstaver AS"})
    assert customer_create_for(customer).to_wire() == {"company_name": "Små Bokstaver AS"}
