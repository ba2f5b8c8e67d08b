"""The seeded Rackbeat data generator: deterministic, sized by scale, realistic."""

from __future__ import annotations

import pytest

from sandbox.rackbeat.data import (
    PRODUCT_GROUPS,
    SPECIAL_LOT_NUMBER,
    SPECIAL_PRODUCT_NUMBERS,
    generate,
)


def test_same_seed_gives_the_same_data() -> None:
    first = generate(seed=7, scale=200)
    second = generate(seed=7, scale=200)
    assert first.by_resource() == second.by_resource()


def test_another_seed_gives_other_data() -> None:
    first = generate(seed=7, scale=200)
    other = generate(seed=8, scale=200)
    assert [p["name"] for p in first.products] != [p["name"] for p in other.products]


@pytest.mark.parametrize("scale", [0, 1, 3, 5, 1000])
def test_scale_is_the_number_of_products(scale: int) -> None:
    data = generate(seed=1, scale=scale)
    assert len(data.products) == scale
    assert len({p["number"] for p in data.products}) == scale


def test_negative_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="scale must be >= 0, got -1"):
        generate(seed=1, scale=-1)


def test_hundred_thousand_products_are_generated() -> None:
    data = generate(seed=3, scale=100_000)
    assert len(data.products) == 100_000
    assert data.products[-1]["number"] == "109999"


def test_special_item_numbers_are_present() -> None:
    data = generate(seed=1, scale=50)
    numbers = {p["number"] for p in data.products}
    assert set(SPECIAL_PRODUCT_NUMBERS) <= numbers
    assert SPECIAL_LOT_NUMBER in {lot["number"] for lot in data.lots}


def test_groups_cover_the_three_vat_rates_and_services() -> None:
    data = generate(seed=1, scale=10)
    assert {g["vat_domestic"] for g in data.product_groups} == {25, 15, 0}
    services = [g for g in data.product_groups if not g["has_inventory"]]
    assert [g["number"] for g in services] == [2010, 2020, 2030]


def test_units_include_one_that_maps_to_nothing() -> None:
    data = generate(seed=1, scale=10)
    assert [u["name"] for u in data.units] == ["stk", "timer", "kg", "l", "m", "pk", "palle"]


def test_products_reference_existing_groups_and_units() -> None:
    data = generate(seed=2, scale=2000)
    groups = {g["number"] for g in data.product_groups}
    units = {u["number"] for u in data.units}
    assert {p["group"] for p in data.products} == groups
    used_units = {p["unit"] for p in data.products}
    assert used_units - {None} <= units
    assert 7 in used_units  # "palle"
    assert None in used_units
    services = [p for p in data.products if p["group"] >= 2000]
    assert services
    assert all(p["inventory_enabled"] is False for p in services)


def test_lots_have_component_lines_of_existing_products() -> None:
    data = generate(seed=1, scale=300)
    numbers = {p["number"] for p in data.products}
    assert len(data.lots) == 12
    for lot in data.lots:
        assert 2 <= len(lot["lines"]) <= 4
        assert {component for _, component, _ in lot["lines"]} <= numbers


def test_customers_have_codes_and_names_for_countries_and_both_invoice_mail_kinds() -> None:
    data = generate(seed=1, scale=1000)
    countries = {c["address_country"] for c in data.customers}
    assert {"NO", "Norge", "Danmark", "Sverige", "Deutschland", "no", "se"} <= countries
    assert "Atlantis" not in countries
    with_mail = [c for c in data.customers if c["invoice_email"]]
    assert 0 < len(with_mail) < len(data.customers)
    cc_only = [
        c
        for c in data.customers
        if not c["invoice_email"] and any(x["cc_invoice"] for x in c["contacts"])
    ]
    assert cc_only


def test_bad_records_only_when_asked() -> None:
    plain = generate(seed=1, scale=20)
    bad = generate(seed=1, scale=20, include_bad=True)
    assert len(bad.customers) == len(plain.customers) + 2
    assert [c["address_country"] for c in bad.customers[-2:]] == ["Atlantis", "XX"]
    assert bad.products == plain.products


def test_suppliers_with_and_without_vat_at_home_and_abroad() -> None:
    data = generate(seed=1, scale=1000)
    assert len(data.suppliers) == 20
    assert any(not s["company_vat"] for s in data.suppliers)
    assert any(s["company_vat"] for s in data.suppliers)
    zones = {s["vat_zone"] for s in data.suppliers}
    assert zones == {"domestic", "abroad"}


def test_invoices_reference_existing_customers_products_and_orders() -> None:
    data = generate(seed=4, scale=400)
    customers = {c["number"] for c in data.customers}
    products = {p["number"] for p in data.products}
    orders = {o["number"] for o in data.orders}
    invoices = data.customer_invoices
    assert len(invoices) == 50
    assert {i["customer"] for i in invoices} <= customers
    assert {line["item"] for i in invoices for line in i["lines"]} <= products
    assert {i["order"] for i in invoices} - {None} <= orders
    assert any(i["order"] is None for i in invoices)
    assert [i["is_booked"] for i in invoices].count(False) == 5
    assert any(i["note"] for i in invoices)
    assert any(i["heading"] for i in invoices)
    assert any(i["their_reference"] for i in invoices)
    assert any(line["discount_percentage"] > 0 for i in invoices for line in i["lines"])


def test_group_table_matches_the_generated_groups() -> None:
    data = generate(seed=1, scale=1)
    assert [
        (g["number"], g["name"], g["has_inventory"], g["vat_domestic"]) for g in data.product_groups
    ] == list(PRODUCT_GROUPS)


def test_every_normal_country_maps_and_only_the_bad_ones_fail() -> None:
    from mapping.country import UnknownCountryError, country_code

    data = generate(seed=5, scale=3000, include_bad=True)
    refused = []
    for record in [*data.customers, *data.suppliers]:
        try:
            country_code(record["address_country"])
        except UnknownCountryError:
            refused.append(record["address_country"])
    assert refused == ["Atlantis", "XX"]
