"""Products and BOMs, Rackbeat -> PowerOffice Go (R-PROD-1..10, R-BOM-1).

``map_product`` turns a product or a BOM (``lots``) into ``ProductPost``; the product group it
belongs to is resolved by the caller (``product_group_code`` gives the code to look up, and
``product_group_for`` the ``ProductGroupPost`` to create when the lookup finds nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clients.models import (
    ProductGroupPost,
    ProductPost,
    ProductType,
    RackbeatLot,
    RackbeatProduct,
    RackbeatProductGroup,
    UnitOfMeasureCode,
)
from mapping.context import RecordContext, parse_record
from mapping.decision import MappedRecord
from mapping.fingerprint import fingerprint
from mapping.tables import (
    DEFAULT_VAT_RATE,
    MAX_DESCRIPTION_LENGTH,
    OPTIONAL_SALES_ACCOUNT,
    SALES_ACCOUNTS,
    UNIT_TABLE,
    normalise_unit_name,
)

__all__ = [
    "map_product",
    "parse_lot",
    "parse_product",
    "product_group_code",
    "product_group_for",
    "product_type_of",
    "unit_code_for",
]


def parse_product(raw: Mapping[str, Any] | RackbeatProduct) -> RackbeatProduct:
    """A Rackbeat product from the ledger's snapshot (or as is); bad data -> RecordRejected."""
    return parse_record(RackbeatProduct, raw, kind="product", key_field="number")


def parse_lot(raw: Mapping[str, Any] | RackbeatLot) -> RackbeatLot:
    """A Rackbeat BOM (lot) from the ledger's snapshot (or as is); bad data -> RecordRejected."""
    return parse_record(RackbeatLot, raw, kind="bom", key_field="number")


def _kind(record: RackbeatProduct | RackbeatLot) -> str:
    return "bom" if isinstance(record, RackbeatLot) else "product"


def product_type_of(record: RackbeatProduct | RackbeatLot) -> ProductType:
    """R-PROD-5: ``Service`` when the group has no inventory (else when the item has none)."""
    group = record.group
    if group is not None and group.has_inventory is not None:
        return ProductType.PRODUCT if group.has_inventory else ProductType.SERVICE
    if record.inventory_enabled is False:
        return ProductType.SERVICE
    return ProductType.PRODUCT


def unit_code_for(
    name: str, unit_table: Mapping[str, UnitOfMeasureCode] = UNIT_TABLE
) -> UnitOfMeasureCode | None:
    """R-PROD-6: the unit code for a Rackbeat unit name, or None when the table has none."""
    return unit_table.get(normalise_unit_name(name))


def _group(ctx: RecordContext, record: RackbeatProduct | RackbeatLot) -> RackbeatProductGroup:
    if record.group is None:
        ctx.reject("group", "the item has no product group (every Rackbeat item must have one)")
    return record.group


def product_group_code(record: RackbeatProduct | RackbeatLot) -> str:
    """R-PROD-4: the PowerOffice Go ``Code`` of the item's group (``str(group.number)``)."""
    ctx = RecordContext(_kind(record), record.number)
    return str(_group(ctx, record).number)


def product_group_for(
    record: RackbeatProduct | RackbeatLot,
    *,
    account_table: Mapping[float, int] = SALES_ACCOUNTS,
    optional_sales_account: int = OPTIONAL_SALES_ACCOUNT,
) -> ProductGroupPost:
    """R-PROD-4, R-PROD-9, R-PROD-10: the group to create when PowerOffice Go lacks it.

    ``StandardSalesAccount`` comes from the group's domestic VAT percent through
    ``account_table`` (25 -> 3000, 15 -> 3030, 0 -> 3100); a missing rate counts as
    :data:`~mapping.tables.DEFAULT_VAT_RATE`; a rate the table does not know rejects the item.
    ``OptionalSalesAccount`` is ``optional_sales_account`` (3100).
    """
    ctx = RecordContext(_kind(record), record.number)
    group = _group(ctx, record)
    rate = DEFAULT_VAT_RATE if group.vat_domestic is None else group.vat_domestic
    account = account_table.get(round(float(rate), 2))
    if account is None:
        known = ", ".join(f"{r:g} %" for r in sorted(account_table))
        ctx.reject(
            "group.vat_domestic", f"no sales account configured for {rate:g} % VAT (known: {known})"
        )
    code = str(group.number)
    name = ctx.text("group.name", group.name, max_length=400) or code
    return ctx.build(
        ProductGroupPost,
        {
            "code": code,
            "name": name,
            "product_type": product_type_of(record),
            "standard_sales_account": account,
            "optional_sales_account": optional_sales_account,
        },
    )


def map_product(
    record: RackbeatProduct | RackbeatLot,
    *,
    group_id: int,
    unit_table: Mapping[str, UnitOfMeasureCode] = UNIT_TABLE,
) -> MappedRecord:
    """R-PROD-1..8 (R-BOM-1 for a lot): a Rackbeat item as ``ProductPost``.

    ``group_id`` is the PowerOffice Go ``Id`` of the item's product group (R-PROD-4), found or
    created by the caller. Products carry no sales account: they inherit the group's
    (R-PROD-9, R-PROD-10). An unknown unit is left out with an ``unmapped_unit`` warning.
    """
    kind = _kind(record)
    ctx = RecordContext(kind, record.number)
    code = ctx.code("number", record.number, max_length=100)  # R-PROD-2
    if code is None:
        ctx.reject("number", "the item number is blank")
    name = ctx.text("name", record.name, max_length=400)  # R-PROD-1
    if name is None:
        ctx.reject("name", "the item has no name (PowerOffice Go requires one)")
    unit_code: UnitOfMeasureCode | None = None  # R-PROD-6
    if record.unit is not None and record.unit.name is not None:
        unit_code = unit_code_for(record.unit.name, unit_table)
        if unit_code is None:
            ctx.warn(
                "unmapped_unit",
                f"unit {record.unit.name!r} has no PowerOffice Go unit code; left out",
                field="unit.name",
            )
    payload = ctx.build(
        ProductPost,
        {
            "code": code,
            "name": name,
            "description": ctx.description(  # R-PROD-3
                "description", record.description, max_length=MAX_DESCRIPTION_LENGTH
            ),
            "product_group_id": group_id,  # R-PROD-4
            "product_type": product_type_of(record),  # R-PROD-5
            "unit_of_measure_code": unit_code,
            "unit_cost": ctx.amount(
                "recommended_cost_price", record.recommended_cost_price
            ),  # R-PROD-7
            "unit_price": ctx.amount("sales_price", record.sales_price),  # R-PROD-8
        },
    )
    return MappedRecord(
        kind=kind,
        key=record.number,
        reference=code,
        payload=payload,
        fingerprint=fingerprint(payload),
        warnings=tuple(ctx.warnings),
    )
