"""Field diff -> JSON-Patch: only what changed, only patchable paths, ids not codes."""

from __future__ import annotations

import pytest

from clients.models import ContactAddressPost, CustomerPost, Product, ProductPost
from clients.patch import UnpatchableFieldError, diff_operations


def _current_product() -> Product:
    return Product.model_validate(
        {
            "Id": 501,
            "Code": "AB/100",
            "Name": "Widget",
            "Description": "Blue",
            "ProductGroupId": 7,
            "ProductGroupCode": "1010",
            "ProductType": "Product",
            "UnitOfMeasureCode": "EA",
            "UnitCost": 75,
            "UnitPrice": 199.0,
            "LastChangedDateTimeOffset": "2025-07-14T08:12:33+02:00",
        }
    )


def test_unchanged_record_gives_no_operations() -> None:
    desired = ProductPost(
        code="AB/100",
        name="Widget",
        description="Blue",
        product_group_id=7,
        product_type="Product",
        unit_of_measure_code="EA",
        unit_cost=75.0,
        unit_price=199,
    )
    assert diff_operations("Products", _current_product(), desired) == []


def test_only_changed_fields_become_replace_operations() -> None:
    desired = ProductPost(
        code="AB/100", name="Widget v2", product_group_id=9, unit_price=209.5, unit_cost=75
    )
    operations = diff_operations("Products", _current_product(), desired)
    assert [op.to_wire() for op in operations] == [
        {"op": "replace", "path": "/Name", "value": "Widget v2"},
        {"op": "replace", "path": "/ProductGroupId", "value": 9},
        {"op": "replace", "path": "/UnitPrice", "value": 209.5},
    ]


def test_a_changed_code_reference_is_refused_patch_takes_ids() -> None:
    desired = ProductPost(code="AB/100", name="Widget", product_group_code="2020")
    with pytest.raises(UnpatchableFieldError, match=r"Products\.ProductGroupCode changed"):
        diff_operations("Products", _current_product(), desired)


def test_an_unchanged_code_field_is_ignored() -> None:
    desired = ProductPost(code="AB/100", name="Widget", product_group_code="1010")
    assert diff_operations("Products", _current_product(), desired) == []


def test_nested_address_is_compared_on_sent_keys_and_replaced_whole() -> None:
    current = {
        "Id": 12,
        "Name": "Acme AS",
        "MailAddress": {
            "Id": 99,
            "AddressLine1": "Strandvejen 1",
            "ZipCode": "0150",
            "City": "Oslo",
            "CountryCode": "NO",
        },
    }
    same = CustomerPost(
        name="Acme AS",
        mail_address=ContactAddressPost(
            address_line1="Strandvejen 1", zip_code="0150", city="Oslo", country_code="NO"
        ),
    )
    assert diff_operations("Customers", current, same) == []
    moved = CustomerPost(
        name="Acme AS",
        mail_address=ContactAddressPost(
            address_line1="Strandvejen 1", zip_code="5003", city="Bergen", country_code="NO"
        ),
    )
    assert [op.to_wire() for op in diff_operations("Customers", current, moved)] == [
        {
            "op": "replace",
            "path": "/MailAddress",
            "value": {
                "AddressLine1": "Strandvejen 1",
                "ZipCode": "5003",
                "City": "Bergen",
                "CountryCode": "NO",
            },
        }
    ]


def test_key_case_of_the_current_record_does_not_matter() -> None:
    assert diff_operations("Customers", {"name": "Acme AS"}, {"Name": "Acme AS"}) == []


def test_booleans_are_not_numbers() -> None:
    operations = diff_operations("Customers", {"IsVatFree": 1}, {"IsVatFree": True})
    assert [op.to_wire() for op in operations] == [
        {"op": "replace", "path": "/IsVatFree", "value": True}
    ]


def test_a_field_missing_remotely_is_set() -> None:
    operations = diff_operations("Customers", {"Id": 3}, {"EmailAddress": "a@b.no"})
    assert [op.to_wire() for op in operations] == [
        {"op": "replace", "path": "/EmailAddress", "value": "a@b.no"}
    ]


def test_unknown_resource_is_refused() -> None:
    with pytest.raises(UnpatchableFieldError, match="Widgets has no PATCH fields"):
        diff_operations("Widgets", {}, {"Name": "x"})
