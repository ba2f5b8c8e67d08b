"""Mapping throughput: how many records per second the pure mappers turn into decisions.

Run: ``.venv/bin/python bench/mapping_throughput.py [records-per-kind]``. Prints figures only;
nothing here asserts on time.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from mapping import (
    country_code,
    decide,
    map_customer,
    map_invoice,
    map_product,
    map_supplier,
    parse_customer,
    parse_invoice,
    parse_product,
    parse_supplier,
)

PRODUCT = {
    "number": "SKU-1001",
    "name": "Blå widget",
    "description": "Widget, blå, 10 cm",
    "sales_price": 199.0,
    "recommended_cost_price": 75.0,
    "group": {"number": 1010, "name": "Widgets", "has_inventory": True, "vat_domestic": 25},
    "unit": {"number": 1, "name": "stk."},
}
CUSTOMER = {
    "number": 10001,
    "name": "Fjordfisk AS",
    "company_vat": "NO 974 760 673 MVA",
    "address_street": "Storgata 1",
    "address_zipcode": "0155",
    "address_city": "Oslo",
    "address_country": "Norge",
    "contact_email": "post@fjordfisk.no",
    "invoice_email": "faktura@fjordfisk.no",
    "general_discount_percentage": 5.0,
    "payment_terms": {"maturity_days": 14},
}
SUPPLIER = {
    "number": 20002,
    "company_name": "Parts A/S",
    "company_vat": "DK13585628",
    "address_zipcode": "8000",
    "address_city": "Aarhus C",
    "address_country": "Danmark",
    "currency": "DKK",
}
INVOICE = {
    "number": 2001,
    "customer": {"number": 10001},
    "order": {"number": 1021},
    "heading": "PO-778",
    "note": "Takk!",
    "currency": "NOK",
    "is_booked": True,
    "invoice_date": "2025-07-14",
    "our_reference": {"number": 1},
    "lines": [
        {"child_id": f"SKU-{i}", "name": "Vare", "quantity": 2, "line_price": 199.0}
        for i in range(10)
    ],
}


def _measure(label: str, count: int, step: Callable[[int], object]) -> None:
    start = time.perf_counter()
    for i in range(count):
        step(i)
    elapsed = time.perf_counter() - start
    print(f"{label:<34} {count:>7} records  {count / elapsed:>10.0f} records/s")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    start = time.perf_counter()
    country_code("Norge")
    print(f"country name index, first build: {(time.perf_counter() - start) * 1000:.1f} ms")

    def product(i: int) -> object:
        mapped = map_product(parse_product({**PRODUCT, "number": f"SKU-{i}"}), group_id=42)
        return decide(
            mapped,
            previous_fingerprint=None,
            previous_payload=None,
            remote_id=None,
            create_only=False,
        )

    def customer(i: int) -> object:
        return map_customer(parse_customer({**CUSTOMER, "number": 10000 + i}))

    def supplier(i: int) -> object:
        return map_supplier(parse_supplier({**SUPPLIER, "number": 20000 + i}), contact_group_id=3)

    def invoice(i: int) -> object:
        record = parse_invoice({**INVOICE, "number": 2000 + i})
        return map_invoice(record, customer_id=5, employee_map={1: 1})

    _measure("product (parse+map+decide)", count, product)
    _measure("customer (parse+map)", count, customer)
    _measure("supplier (parse+map)", count, supplier)
    _measure("invoice, 10 lines (parse+map)", count, invoice)


if __name__ == "__main__":
    main()
