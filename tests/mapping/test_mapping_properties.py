"""Property tests: hostile inbound records either map to a valid payload or are rejected.

Missing fields, wrong types, huge strings, unicode, NaN / negative / huge numbers: whatever
arrives, a mapper returns a payload that passes its own outbound model's validation (and
serialises to JSON with a matching fingerprint), a Skip, or raises RecordRejected. Nothing
else escapes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mapping_samples import (
    booked_invoice,
    danish_supplier,
    freight_bom,
    norwegian_customer,
    norwegian_supplier,
    poweroffice_customer,
    poweroffice_product,
    poweroffice_product_group,
    poweroffice_supplier,
    swedish_customer,
    widget_product,
)

from clients.models import OutboundModel
from mapping import (
    MappedRecord,
    RecordRejected,
    Skip,
    customer_create_for,
    decide,
    fingerprint,
    map_customer,
    map_invoice,
    map_product,
    map_supplier,
    parse_customer,
    parse_invoice,
    parse_lot,
    parse_poweroffice_customer,
    parse_poweroffice_product,
    parse_poweroffice_product_group,
    parse_poweroffice_supplier,
    parse_product,
    parse_supplier,
    product_create_for,
    product_group_create_for,
    product_group_for,
    supplier_create_for,
    unit_create_for,
)

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

huge_text = st.builds(lambda ch, n: ch * n, st.characters(), st.integers(300, 3000))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    huge_text,
    st.sampled_from(["", " ", "NO", "Norge", "Danmark", "XX", "25", "-1", "1e400", "NaN", "stk"]),
)
hostile = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=6,
)


def _mutate(base: dict[str, Any], keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """``base`` with some of ``keys`` replaced by hostile values or removed."""
    deleted = object()

    def apply(changes: dict[str, Any]) -> dict[str, Any]:
        result = dict(base)
        for key, value in changes.items():
            if value is deleted:
                result.pop(key, None)
            else:
                result[key] = value
        return result

    change = st.one_of(hostile, st.just(deleted))
    return st.dictionaries(st.sampled_from(keys), change, max_size=len(keys)).map(apply)


def _records(*samples: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    keys = sorted({key for sample in samples for key in sample})
    mutated = st.one_of(*(_mutate(sample, keys) for sample in samples))
    arbitrary = st.dictionaries(st.sampled_from(keys), hostile, max_size=len(keys))
    return st.one_of(mutated, arbitrary)


def _nested(sample: dict[str, Any], key: str) -> st.SearchStrategy[dict[str, Any]]:
    """Mutate inside a nested object (``group``, ``unit``, ``payment_terms``) or line list."""
    inner = sample[key]
    if isinstance(inner, list):
        line_keys = sorted({k for line in inner for k in line})
        lines = st.lists(_mutate(inner[0], line_keys), min_size=0, max_size=4)
        return lines.map(lambda ls: {**sample, key: ls})
    return _mutate(inner, sorted(inner)).map(lambda obj: {**sample, key: obj})


def _assert_valid(payload: OutboundModel) -> None:
    wire = payload.to_wire()
    json.dumps(wire, allow_nan=False)
    assert type(payload).model_validate(wire) == payload


def _outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except RecordRejected as exc:
        return exc


def _check_mapped(result: object) -> None:
    event(f"outcome: {type(result).__name__}")
    if isinstance(result, RecordRejected):
        assert str(result).startswith(f"{result.kind} {result.key}: field {result.field!r}: ")
        assert result.reason
        return
    if isinstance(result, Skip):
        json.dumps(result.to_json(), allow_nan=False)
        return
    assert isinstance(result, MappedRecord)
    _assert_valid(result.payload)
    assert result.fingerprint == fingerprint(result.payload)
    json.dumps([w.to_json() for w in result.warnings], allow_nan=False)
    json.dumps(dict(result.manual), allow_nan=False)
    decision = decide(
        result, previous_fingerprint=None, previous_payload={}, remote_id=1, create_only=False
    )
    json.dumps(decision.to_json(), allow_nan=False)


products = st.one_of(
    _records(widget_product()),
    _nested(widget_product(), "group"),
    _nested(widget_product(), "unit"),
)


@PROPERTY_SETTINGS
@given(raw=products)
def test_hostile_products_map_or_reject(raw: dict[str, Any]) -> None:
    def run() -> object:
        record = parse_product(raw)
        group = _outcome(lambda: product_group_for(record))
        if not isinstance(group, RecordRejected):
            assert isinstance(group, OutboundModel)
            _assert_valid(group)
        return map_product(record, group_id=1)

    _check_mapped(_outcome(run))


@PROPERTY_SETTINGS
@given(raw=st.one_of(_records(freight_bom()), _nested(freight_bom(), "lines")))
def test_hostile_boms_map_or_reject(raw: dict[str, Any]) -> None:
    _check_mapped(_outcome(lambda: map_product(parse_lot(raw), group_id=1)))


customers = st.one_of(
    _records(norwegian_customer(), swedish_customer()),
    _nested(swedish_customer(), "contacts"),
    _nested(norwegian_customer(), "payment_terms"),
)


@PROPERTY_SETTINGS
@given(raw=customers)
def test_hostile_customers_map_or_reject(raw: dict[str, Any]) -> None:
    _check_mapped(_outcome(lambda: map_customer(parse_customer(raw), payment_term_id=3)))


@PROPERTY_SETTINGS
@given(
    raw=st.one_of(
        _records(danish_supplier(), norwegian_supplier()),
        _nested(norwegian_supplier(), "payment_terms"),
    )
)
def test_hostile_suppliers_map_or_reject(raw: dict[str, Any]) -> None:
    _check_mapped(_outcome(lambda: map_supplier(parse_supplier(raw), contact_group_id=9)))


invoices = st.one_of(
    _records(booked_invoice()),
    _nested(booked_invoice(), "lines"),
    _nested(booked_invoice(), "our_reference"),
    _nested(booked_invoice(), "customer"),
)


@PROPERTY_SETTINGS
@given(raw=invoices)
def test_hostile_invoices_map_or_reject(raw: dict[str, Any]) -> None:
    _check_mapped(
        _outcome(lambda: map_invoice(parse_invoice(raw), customer_id=1, employee_map={1: 2}))
    )


def _check_create(call: Callable[[], OutboundModel]) -> None:
    result = _outcome(call)
    if not isinstance(result, RecordRejected):
        assert isinstance(result, OutboundModel)
        _assert_valid(result)


@PROPERTY_SETTINGS
@given(
    product=_records(poweroffice_product()),
    group=_records(poweroffice_product_group()),
    customer=_records(poweroffice_customer()),
    supplier=_records(poweroffice_supplier()),
    unit=st.one_of(st.text(max_size=5), st.sampled_from(["EA", "hur", "XX"])),
)
def test_hostile_poweroffice_records_for_the_initial_sync(
    product: dict[str, Any],
    group: dict[str, Any],
    customer: dict[str, Any],
    supplier: dict[str, Any],
    unit: str,
) -> None:
    _check_create(lambda: product_create_for(parse_poweroffice_product(product), group_number=1))
    _check_create(lambda: product_group_create_for(parse_poweroffice_product_group(group)))
    _check_create(lambda: customer_create_for(parse_poweroffice_customer(customer)))
    _check_create(
        lambda: supplier_create_for(parse_poweroffice_supplier(supplier), supplier_group_id=1)
    )
    _check_create(lambda: unit_create_for(unit))
