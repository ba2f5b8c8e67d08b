"""R-PROD-1..10 and R-BOM-1: products and BOMs -> ProductPost / ProductGroupPost."""

from __future__ import annotations

from typing import Any

import pytest
from mapping_samples import consulting_service, freight_bom, widget_product, with_changes

from clients.models import ProductGroupPost, ProductPost, RackbeatLot, UnitOfMeasureCode
from mapping import (
    MappingWarning,
    RecordRejected,
    fingerprint_of_wire,
    map_product,
    parse_lot,
    parse_product,
    product_group_code,
    product_group_for,
    unit_code_for,
)


def _wire(raw: dict[str, Any], *, group_id: int = 42) -> dict[str, Any]:
    return map_product(parse_product(raw), group_id=group_id).body()


def test_full_product_wire_body() -> None:
    mapped = map_product(parse_product(widget_product()), group_id=42)
    assert mapped.kind == "product"
    assert mapped.key == "SKU-1001"
    assert mapped.reference == "SKU-1001"
    assert mapped.body() == {
        "Code": "SKU-1001",
        "Name": "Blå widget",
        "Description": "Widget, blå, 10 cm",
        "ProductGroupId": 42,
        "ProductType": "Product",
        "UnitOfMeasureCode": "EA",
        "UnitCost": 75.0,
        "UnitPrice": 199.0,
    }
    assert mapped.warnings == ()
    assert mapped.manual == {}
    assert mapped.fingerprint == fingerprint_of_wire(mapped.body())


@pytest.mark.parametrize(
    ("rule", "field", "raw_change", "expected"),
    [
        pytest.param("R-PROD-1", "Name", {"name": "  Rød widget "}, "Rød widget", id="R-PROD-1"),
        pytest.param("R-PROD-2", "Code", {"number": 12345}, "12345", id="R-PROD-2"),
        pytest.param(
            "R-PROD-3", "Description", {"description": "Ny tekst"}, "Ny tekst", id="R-PROD-3"
        ),
        pytest.param(
            "R-PROD-7", "UnitCost", {"recommended_cost_price": 60.25}, 60.25, id="R-PROD-7"
        ),
        pytest.param("R-PROD-8", "UnitPrice", {"sales_price": "249.90"}, 249.9, id="R-PROD-8"),
    ],
)
def test_product_field_rules(
    rule: str, field: str, raw_change: dict[str, Any], expected: object
) -> None:
    assert rule.startswith("R-PROD-")
    assert _wire(with_changes(widget_product(), **raw_change))[field] == expected


def test_R_PROD_7_uses_the_recommended_cost_price_not_the_cost_price() -> None:
    raw = with_changes(widget_product(), cost_price=999.0, recommended_cost_price=75.0)
    assert _wire(raw)["UnitCost"] == 75.0


def test_R_PROD_3_blank_description_is_left_out() -> None:
    assert "Description" not in _wire(consulting_service())


def test_R_PROD_4_product_group_id_comes_from_the_caller() -> None:
    assert _wire(widget_product(), group_id=98765)["ProductGroupId"] == 98765
    assert product_group_code(parse_product(widget_product())) == "1010"


@pytest.mark.parametrize(
    ("group", "inventory_enabled", "expected"),
    [
        pytest.param({"number": 1, "has_inventory": True}, False, "Product", id="R-PROD-5-group"),
        pytest.param({"number": 1, "has_inventory": False}, True, "Service", id="R-PROD-5-svc"),
        pytest.param({"number": 1}, False, "Service", id="R-PROD-5-item-fallback"),
        pytest.param({"number": 1}, None, "Product", id="R-PROD-5-default"),
    ],
)
def test_R_PROD_5_product_type(
    group: dict[str, Any], inventory_enabled: bool | None, expected: str
) -> None:
    raw = with_changes(widget_product(), group=group, inventory_enabled=inventory_enabled)
    assert _wire(raw)["ProductType"] == expected


def test_R_PROD_5_service_product() -> None:
    mapped = map_product(parse_product(consulting_service()), group_id=7)
    assert mapped.body()["ProductType"] == "Service"
    assert mapped.body()["UnitOfMeasureCode"] == "HUR"


@pytest.mark.parametrize(
    ("unit", "code"),
    [
        pytest.param("stk", "EA", id="R-PROD-6-stk"),
        pytest.param("Stk.", "EA", id="R-PROD-6-stk-dot"),
        pytest.param("pcs", "EA", id="R-PROD-6-pcs"),
        pytest.param("each", "EA", id="R-PROD-6-each"),
        pytest.param("TIMER", "HUR", id="R-PROD-6-timer"),
        pytest.param("hours", "HUR", id="R-PROD-6-hours"),
        pytest.param("kg", "KGM", id="R-PROD-6-kg"),
        pytest.param("g", "GRM", id="R-PROD-6-g"),
        pytest.param("liter", "LTR", id="R-PROD-6-liter"),
        pytest.param("m", "MTR", id="R-PROD-6-m"),
        pytest.param("pakke", "XPK", id="R-PROD-6-pakke"),
        pytest.param("sett", "SET", id="R-PROD-6-sett"),
        pytest.param("par", "PR", id="R-PROD-6-par"),
        pytest.param("eske", "BX", id="R-PROD-6-eske"),
        pytest.param(" dag ", "DAY", id="R-PROD-6-dag"),
    ],
)
def test_R_PROD_6_units_that_map(unit: str, code: str) -> None:
    raw = with_changes(widget_product(), unit={"number": 1, "name": unit})
    mapped = map_product(parse_product(raw), group_id=1)
    assert mapped.body()["UnitOfMeasureCode"] == code
    assert mapped.warnings == ()


def test_R_PROD_6_unit_that_does_not_map_is_left_out_with_a_warning() -> None:
    raw = with_changes(widget_product(), unit={"number": 9, "name": "kolli"})
    mapped = map_product(parse_product(raw), group_id=1)
    assert "UnitOfMeasureCode" not in mapped.body()
    assert mapped.warnings == (
        MappingWarning(
            code="unmapped_unit",
            message="unit 'kolli' has no PowerOffice Go unit code; left out",
            field="unit.name",
        ),
    )


def test_R_PROD_6_unit_table_is_configurable() -> None:
    table = {"kolli": UnitOfMeasureCode.XPC}
    raw = with_changes(widget_product(), unit={"number": 9, "name": "Kolli"})
    mapped = map_product(parse_product(raw), group_id=1, unit_table=table)
    assert mapped.body()["UnitOfMeasureCode"] == "XPC"
    assert unit_code_for("stk", table) is None


def test_R_PROD_6_product_without_unit_has_no_unit_and_no_warning() -> None:
    mapped = map_product(parse_product(with_changes(widget_product(), unit=None)), group_id=1)
    assert "UnitOfMeasureCode" not in mapped.body()
    assert mapped.warnings == ()


@pytest.mark.parametrize(
    ("vat", "account"),
    [
        pytest.param(25, 3000, id="R-PROD-9-25"),
        pytest.param(15, 3030, id="R-PROD-9-15"),
        pytest.param(0, 3100, id="R-PROD-9-0"),
        pytest.param(None, 3000, id="R-PROD-9-missing-rate-is-25"),
    ],
)
def test_R_PROD_9_standard_sales_account_from_the_vat_rate(vat: int | None, account: int) -> None:
    group = {"number": 1010, "name": "Widgets", "has_inventory": True, "vat_domestic": vat}
    post = product_group_for(parse_product(with_changes(widget_product(), group=group)))
    assert post == ProductGroupPost(
        code="1010",
        name="Widgets",
        product_type="Product",
        standard_sales_account=account,
        optional_sales_account=3100,
    )
    assert post.to_wire() == {
        "Code": "1010",
        "Name": "Widgets",
        "ProductType": "Product",
        "StandardSalesAccount": account,
        "OptionalSalesAccount": 3100,
    }


def test_R_PROD_9_products_carry_no_sales_account() -> None:
    body = _wire(widget_product())
    assert not {k for k in body if "SalesAccount" in k}


def test_R_PROD_9_account_table_is_configurable() -> None:
    post = product_group_for(
        parse_product(widget_product()), account_table={25.0: 3001}, optional_sales_account=3101
    )
    assert (post.standard_sales_account, post.optional_sales_account) == (3001, 3101)


def test_R_PROD_9_unknown_vat_rate_rejects_naming_the_field() -> None:
    group = {"number": 1010, "name": "Transport", "vat_domestic": 12}
    with pytest.raises(RecordRejected) as caught:
        product_group_for(parse_product(with_changes(widget_product(), group=group)))
    assert str(caught.value) == (
        "product SKU-1001: field 'group.vat_domestic': no sales account configured for 12 % VAT"
        " (known: 0 %, 15 %, 25 %)"
    )


def test_R_PROD_10_optional_sales_account_and_service_group() -> None:
    post = product_group_for(parse_product(consulting_service()))
    assert post.to_wire() == {
        "Code": "2000",
        "Name": "Tjenester",
        "ProductType": "Service",
        "StandardSalesAccount": 3100,
        "OptionalSalesAccount": 3100,
    }


def test_R_PROD_4_group_without_name_is_named_by_its_code() -> None:
    raw = with_changes(widget_product(), group={"number": 77, "vat_domestic": 25})
    assert product_group_for(parse_product(raw)).name == "77"


def test_R_PROD_4_item_without_group_rejects() -> None:
    record = parse_product(with_changes(widget_product(), group=None))
    with pytest.raises(RecordRejected) as caught:
        product_group_code(record)
    assert (caught.value.kind, caught.value.key, caught.value.field) == (
        "product",
        "SKU-1001",
        "group",
    )
    with pytest.raises(RecordRejected):
        product_group_for(record)


def test_R_BOM_1_bom_maps_exactly_like_a_product() -> None:
    lot = parse_lot(freight_bom())
    assert isinstance(lot, RackbeatLot)
    assert [line.component_number for line in lot.lines] == ["SKU-1001", "CAB-2"]
    mapped = map_product(lot, group_id=5)
    assert mapped.kind == "bom"
    assert mapped.body() == {
        "Code": "BOM-7",
        "Name": "Startpakke",
        "Description": "Widget + kabel",
        "ProductGroupId": 5,
        "ProductType": "Product",
        "UnitCost": 120.25,
        "UnitPrice": 349.5,
    }
    assert [w.code for w in mapped.warnings] == ["unmapped_unit"]
    assert product_group_for(lot).standard_sales_account == 3030


def test_R_BOM_1_component_number_from_item() -> None:
    lot = parse_lot(
        with_changes(
            freight_bom(), lines=None, lot_lines=[{"item": {"number": "X-1"}, "child_id": "Y"}]
        )
    )
    assert [line.component_number for line in lot.lines] == ["X-1"]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        pytest.param({"name": "  "}, "name", "the item has no name", id="R-PROD-1-blank"),
        pytest.param({"name": "x" * 401}, "name", "longer than 400", id="R-PROD-1-long"),
        pytest.param({"number": " "}, "number", "the item number is blank", id="R-PROD-2-blank"),
        pytest.param({"number": "N" * 101}, "number", "longer than 100", id="R-PROD-2-long"),
        pytest.param({"sales_price": -1}, "sales_price", "-1.0 is negative", id="R-PROD-8-neg"),
        pytest.param(
            {"sales_price": 1e13}, "sales_price", "not a usable amount", id="R-PROD-8-huge"
        ),
        pytest.param(
            {"recommended_cost_price": -0.5},
            "recommended_cost_price",
            "-0.5 is negative",
            id="R-PROD-7-neg",
        ),
    ],
)
def test_product_rejections_name_the_record_and_field(
    change: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(RecordRejected) as caught:
        _wire(with_changes(widget_product(), **change))
    assert caught.value.kind == "product"
    assert caught.value.field == field
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param({"name": "x"}, "number", id="missing-number"),
        pytest.param({"number": "A", "sales_price": float("nan")}, "sales_price", id="nan"),
        pytest.param({"number": "A", "sales_price": "abc"}, "sales_price", id="text-price"),
        pytest.param({"number": "A", "group": {"name": "no number"}}, "group.number", id="group"),
    ],
)
def test_parse_product_rejects_naming_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(RecordRejected) as caught:
        parse_product(raw)
    assert caught.value.field == field
    assert caught.value.kind == "product"


def test_parse_product_passes_a_model_through() -> None:
    record = parse_product(widget_product())
    assert parse_product(record) is record


def test_product_post_is_strict_and_frozen() -> None:
    payload = map_product(parse_product(widget_product()), group_id=1).payload
    assert isinstance(payload, ProductPost)
    with pytest.raises(ValueError, match="frozen"):
        payload.name = "other"  # type: ignore[misc]
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        ProductPost.model_validate({"Name": "x", "Bogus": 1})
