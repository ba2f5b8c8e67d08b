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

from clients.models import (
    RackbeatProductGroup,
    RackbeatProductGroupCreate,
    RackbeatSupplierGroupCreate,
    RackbeatUnit,
    RackbeatUnitCreate,
)
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
from mapping.initial import (
    REASON_ARCHIVED,
    REASON_NO_PRODUCT_GROUP,
    InitialAction,
    InitialPlan,
    fold_name,
    is_copied,
    matching_product_group,
    matching_unit,
    named,
    plan_contact,
    plan_product,
    product_group_of,
    product_number,
    product_unit_code,
    unit_codes_to_copy,
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


# --- what the initial sync does with a record (before any write) -------------------------------

CREATE = InitialPlan(InitialAction.CREATE)
LINK = InitialPlan(InitialAction.LINK)


def test_R_INIT_1_archived_records_are_not_copied_unless_chosen() -> None:
    archived = parse_poweroffice_product(with_changes(poweroffice_product(), IsArchived=True))
    assert not is_copied(archived)
    assert is_copied(archived, copy_archived=True)
    assert is_copied(parse_poweroffice_product(poweroffice_product()))


@pytest.mark.parametrize(
    ("changes", "existing", "with_group", "expected"),
    [
        pytest.param({}, set(), True, CREATE, id="R-INIT-1-create"),
        pytest.param({"Code": " PO-100 "}, {"PO-100"}, True, LINK, id="R-INIT-1-same-number-links"),
        pytest.param({}, {"PO-100"}, False, LINK, id="R-INIT-1-linked-as-it-is-without-group"),
        pytest.param(
            {},
            set(),
            False,
            InitialPlan(InitialAction.FAIL, REASON_NO_PRODUCT_GROUP),
            id="R-INIT-1-no-group-fails",
        ),
        pytest.param(
            {"IsArchived": True},
            {"PO-100"},
            True,
            InitialPlan(InitialAction.SKIP, REASON_ARCHIVED),
            id="R-INIT-1-archived-skipped-before-the-link",
        ),
    ],
)
def test_R_INIT_1_plan_product(
    changes: dict[str, Any], existing: set[str], with_group: bool, expected: InitialPlan
) -> None:
    product = parse_poweroffice_product(with_changes(poweroffice_product(), **changes))
    group = parse_poweroffice_product_group(poweroffice_product_group()) if with_group else None
    assert plan_product(product, group=group, existing=existing) == expected


def test_R_INIT_1_an_archived_product_is_planned_when_archived_ones_are_copied() -> None:
    product = parse_poweroffice_product(with_changes(poweroffice_product(), IsArchived=True))
    group = parse_poweroffice_product_group(poweroffice_product_group())
    assert plan_product(product, group=group, existing=set(), copy_archived=True) == CREATE


def test_R_INIT_1_product_number_is_the_trimmed_code() -> None:
    assert product_number(parse_poweroffice_product({"Id": 1, "Code": " A-1 "})) == "A-1"
    assert product_number(parse_poweroffice_product({"Id": 2})) == ""


@pytest.mark.parametrize(
    ("changes", "existing", "expected"),
    [
        pytest.param({}, set(), CREATE, id="create"),
        pytest.param({}, {20050}, LINK, id="same-number-links"),
        pytest.param(
            {"IsArchived": True},
            {20050},
            InitialPlan(InitialAction.SKIP, REASON_ARCHIVED),
            id="archived",
        ),
        pytest.param(
            {"Number": None},
            set(),
            InitialPlan(
                InitialAction.SKIP, "no supplier number in PowerOffice Go (the number is the link)"
            ),
            id="no-number",
        ),
        pytest.param(
            {"Number": 0},
            {0},
            InitialPlan(
                InitialAction.SKIP, "no supplier number in PowerOffice Go (the number is the link)"
            ),
            id="number-zero",
        ),
    ],
)
def test_R_INIT_3_plan_supplier(
    changes: dict[str, Any], existing: set[int], expected: InitialPlan
) -> None:
    supplier = parse_poweroffice_supplier(with_changes(poweroffice_supplier(), **changes))
    assert plan_contact(supplier, "supplier", existing=existing) == expected


def test_R_INIT_4_plan_customer() -> None:
    customer = parse_poweroffice_customer(poweroffice_customer())
    assert plan_contact(customer, "customer", existing={10050}) == LINK
    assert plan_contact(customer, "customer", existing=set()) == CREATE
    negative = parse_poweroffice_customer(with_changes(poweroffice_customer(), Number=-4))
    assert plan_contact(negative, "customer", existing=set()).reason == (
        "no customer number in PowerOffice Go (the number is the link)"
    )
    archived = parse_poweroffice_customer(with_changes(poweroffice_customer(), IsArchived=True))
    assert plan_contact(archived, "customer", existing=set(), copy_archived=True) == CREATE


def test_R_INIT_2_unit_codes_of_the_copied_products() -> None:
    products = [
        parse_poweroffice_product({"Id": 1, "UnitOfMeasureCode": "HUR"}),
        parse_poweroffice_product({"Id": 2, "UnitOfMeasureCode": "EA"}),
        parse_poweroffice_product({"Id": 3, "UnitOfMeasureCode": "ea"}),
        parse_poweroffice_product({"Id": 4}),
        parse_poweroffice_product({"Id": 5, "UnitOfMeasureCode": "KGM", "IsArchived": True}),
    ]
    assert unit_codes_to_copy(products) == ["EA", "HUR"]
    assert unit_codes_to_copy(products, copy_archived=True) == ["EA", "HUR", "KGM"]
    assert product_unit_code(products[2]) == "EA"
    assert product_unit_code(products[3]) is None


def test_R_INIT_1_group_of_a_product_by_id_then_by_code() -> None:
    by_id = parse_poweroffice_product_group({"Id": 9001, "Code": "3000", "Name": "a"})
    by_code = parse_poweroffice_product_group({"Id": 9002, "Code": "3100", "Name": "b"})
    groups = {g.id: g for g in (by_id, by_code)}

    def product(**fields: Any) -> Any:
        return parse_poweroffice_product({"Id": 1, **fields})

    assert product_group_of(product(ProductGroupId=9001), groups) is by_id
    assert product_group_of(product(ProductGroupId=1, ProductGroupCode="3100"), groups) is by_code
    assert product_group_of(product(ProductGroupCode="9999"), groups) is None
    assert product_group_of(product(), groups) is None


def test_R_INIT_2_R_INIT_3_names_match_folded() -> None:
    assert fold_name("  Each  Piece ") == "each piece"
    assert fold_name(None) == ""
    units = [RackbeatUnit(number=1, name="Hour"), RackbeatUnit(number=2, name=" EACH ")]
    assert matching_unit(unit_create_for("EA"), units) is units[1]
    assert matching_unit(unit_create_for("KGM"), units) is None
    assert named(iter(units), "hour") is units[0]


def test_R_INIT_2_the_unit_lookup_reads_no_further_than_the_match() -> None:
    read: list[int] = []

    def pages() -> Any:
        for number, name in ((1, "Each"), (2, "Hour")):
            read.append(number)
            yield RackbeatUnit(number=number, name=name)

    assert matching_unit(RackbeatUnitCreate(name="Each"), pages()) is not None
    assert read == [1]


def test_R_INIT_1_matching_product_group_by_number_else_by_name() -> None:
    groups = [
        RackbeatProductGroup(number=3000, name="Diverse"),
        RackbeatProductGroup(number=17, name="Varer"),
    ]
    numbered = RackbeatProductGroupCreate(number=17, name="Diverse")
    assert matching_product_group(numbered, groups) is groups[1]
    assert (
        matching_product_group(RackbeatProductGroupCreate(number=5, name="Varer"), groups) is None
    )
    auto = RackbeatProductGroupCreate(name=" diverse")
    assert matching_product_group(auto, groups) is groups[0]
