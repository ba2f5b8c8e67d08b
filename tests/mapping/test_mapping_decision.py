"""decide(): create, update with changed fields only, skip; fingerprints; patch operations."""

from __future__ import annotations

import json
from typing import Any

import jsonpatch
import pytest
from mapping_samples import norwegian_customer, widget_product, with_changes

from clients.models import PatchOperation, ProductPost
from mapping import (
    REASON_NO_PATCHABLE_CHANGE,
    REASON_UNCHANGED,
    Create,
    MappedRecord,
    MappingWarning,
    RecordRejected,
    Skip,
    Update,
    decide,
    fingerprint,
    held_view,
    map_customer,
    map_product,
    parse_customer,
    parse_product,
    patch_operations,
)


def _product(**changes: Any) -> MappedRecord:
    return map_product(parse_product(with_changes(widget_product(), **changes)), group_id=42)


def test_create_when_no_remote_record() -> None:
    mapped = _product()
    decision = decide(
        mapped, previous_fingerprint=None, previous_payload=None, remote_id=None, create_only=False
    )
    assert decision == Create(
        payload=mapped.payload, fingerprint=mapped.fingerprint, reference="SKU-1001"
    )
    assert isinstance(decision, Create)
    assert decision.body() == mapped.body()


def test_unchanged_fingerprint_skips() -> None:
    mapped = _product()
    decision = decide(
        mapped,
        previous_fingerprint=mapped.fingerprint,
        previous_payload=mapped.body(),
        remote_id=7,
        create_only=False,
    )
    assert decision == Skip(reason=REASON_UNCHANGED)


def test_update_sends_only_the_changed_fields_by_id() -> None:
    before = _product()
    after = _product(sales_price=249.0, name="Blå widget v2", group={"number": 1011})
    decision = decide(
        map_product(parse_product(with_changes(widget_product(), sales_price=249.0)), group_id=43),
        previous_fingerprint=before.fingerprint,
        previous_payload=before.body(),
        remote_id=123456,
        create_only=False,
    )
    assert isinstance(decision, Update)
    assert decision.remote_id == 123456
    assert decision.body() == [
        {"op": "replace", "path": "/ProductGroupId", "value": 43},
        {"op": "replace", "path": "/UnitPrice", "value": 249.0},
    ]
    assert after.fingerprint != before.fingerprint


def test_update_replaces_a_removed_field_with_null() -> None:
    before = _product()
    after = _product(description="")
    decision = decide(
        after,
        previous_fingerprint=before.fingerprint,
        previous_payload=before.body(),
        remote_id=1,
        create_only=False,
    )
    assert isinstance(decision, Update)
    assert decision.body() == [{"op": "replace", "path": "/Description", "value": None}]
    assert decision.to_json() == {
        "action": "update",
        "remote_id": 1,
        "fingerprint": after.fingerprint,
        "operations": [{"op": "replace", "path": "/Description", "value": None}],
        "warnings": [],
        "manual": {},
    }


def test_applying_the_patch_to_the_previous_body_gives_the_new_patchable_body() -> None:
    before = map_customer(parse_customer(norwegian_customer()), payment_term_id=1)
    raw = with_changes(
        norwegian_customer(),
        address_city="Bergen",
        address_zipcode="5003",
        contact_phone=None,
        invoice_email="",
    )
    after = map_customer(parse_customer(raw), payment_term_id=2)
    decision = decide(
        after,
        previous_fingerprint=before.fingerprint,
        previous_payload=before.body(),
        remote_id=99,
        create_only=False,
    )
    assert isinstance(decision, Update)
    assert [op["path"] for op in decision.body()] == [
        "/InvoiceDeliveryType",
        "/InvoiceEmailAddress",
        "/MailAddress",
        "/PaymentTermId",
        "/PhoneNumber",
    ]
    patched = jsonpatch.apply_patch(before.body(), decision.body())
    expected = {**after.body(), "InvoiceEmailAddress": None, "PhoneNumber": None}
    # PaymentTerm (days) is create-only on the wire; it is never patched
    assert {k: v for k, v in patched.items() if k != "PaymentTerm"} == {
        k: v for k, v in expected.items() if k != "PaymentTerm"
    }


def test_only_non_patchable_fields_changed_skips() -> None:
    before = map_customer(parse_customer(norwegian_customer()))
    raw = norwegian_customer()
    raw["payment_terms"] = {"maturity_days": 30}
    after = map_customer(parse_customer(raw))
    decision = decide(
        after,
        previous_fingerprint=before.fingerprint,
        previous_payload=before.body(),
        remote_id=5,
        create_only=False,
    )
    assert decision == Skip(reason=REASON_NO_PATCHABLE_CHANGE)


def test_update_without_previous_payload_sends_every_patchable_field() -> None:
    mapped = _product()
    decision = decide(
        mapped, previous_fingerprint=None, previous_payload=None, remote_id=3, create_only=False
    )
    assert isinstance(decision, Update)
    assert [op.path for op in decision.operations] == [
        "/Code",
        "/Description",
        "/Name",
        "/ProductGroupId",
        "/ProductType",
        "/UnitCost",
        "/UnitOfMeasureCode",
        "/UnitPrice",
    ]


def test_skip_from_the_mapping_passes_through_decide() -> None:
    skip = Skip(reason="no VAT number")
    assert (
        decide(skip, previous_fingerprint="x", previous_payload={}, remote_id=1, create_only=True)
        is skip
    )


def test_warnings_and_manual_travel_with_the_decision_as_json() -> None:
    mapped = _product(unit={"name": "kolli"})
    decision = decide(
        mapped, previous_fingerprint=None, previous_payload=None, remote_id=None, create_only=False
    )
    assert isinstance(decision, Create)
    as_json = decision.to_json()
    assert as_json["warnings"] == [
        {
            "code": "unmapped_unit",
            "message": "unit 'kolli' has no PowerOffice Go unit code; left out",
            "field": "unit.name",
        }
    ]
    assert json.loads(json.dumps(as_json)) == as_json
    assert decision.warnings == (
        MappingWarning(
            "unmapped_unit", "unit 'kolli' has no PowerOffice Go unit code; left out", "unit.name"
        ),
    )


def test_fingerprint_is_stable_and_content_based() -> None:
    a = ProductPost(name="x", code="A", unit_price=1.0)
    b = ProductPost.model_validate({"UnitPrice": 1.0, "Code": "A", "Name": "x"})
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a).startswith("sha256:")
    assert len(fingerprint(a)) == len("sha256:") + 64
    assert fingerprint(a) != fingerprint(ProductPost(name="x", code="A", unit_price=1.5))
    assert _product().fingerprint == _product().fingerprint


def test_patch_operations_ignore_fields_the_patch_dto_lacks() -> None:
    ops = patch_operations(
        "Customers", {"PaymentTerm": 14, "Name": "a"}, {"PaymentTerm": 30, "Name": "b"}
    )
    assert ops == (PatchOperation(op="replace", path="/Name", value="b"),)


def test_patch_operation_wire_forms() -> None:
    assert PatchOperation(op="remove", path="/Name").to_wire() == {"op": "remove", "path": "/Name"}
    with pytest.raises(ValueError, match="String should match pattern"):
        PatchOperation(op="replace", path="Name", value=1)


def test_record_rejected_pickles_with_its_fields() -> None:
    import pickle

    exc = RecordRejected("customer", "1", "name", "blank")
    clone = pickle.loads(pickle.dumps(exc))
    assert (clone.kind, clone.key, clone.field, clone.reason) == ("customer", "1", "name", "blank")
    assert str(clone) == "customer 1: field 'name': blank"


def test_held_view_takes_the_shape_of_what_rbsync_writes() -> None:
    body = {"Name": "Pære", "UnitPrice": 10.0, "MailAddress": {"City": "Oslo", "ZipCode": "0150"}}
    held = {
        "Id": 7,
        "Name": "Pære",
        "UnitPrice": 12.5,
        "MailAddress": {"City": "Oslo", "ZipCode": "0150", "Id": 99},
        "Gtin": "123",
    }
    assert held_view(body, held) == {
        "Name": "Pære",
        "UnitPrice": 12.5,
        "MailAddress": {"City": "Oslo", "ZipCode": "0150"},
    }
    assert held_view(body, {}) == {"Name": None, "UnitPrice": None, "MailAddress": None}
    # Adopting compares with it: only the field that differs is patched.
    assert [op.path for op in patch_operations("Products", held_view(body, held), body)] == [
        "/UnitPrice"
    ]
