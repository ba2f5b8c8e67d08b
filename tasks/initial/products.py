"""The ``products`` step (R-INIT-1): each product, in its product group, with its unit.

A product Rackbeat has (same number = ``Code``) is linked as it is. Otherwise its group is
resolved first (a product whose group cannot be copied fails with the group's reason) and its
unit (a unit that cannot be copied only costs the product its unit: a warning), then it is
created. Its ``product`` remote link and entity link are the ongoing sync's handover.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from clients.models import Product, ProductGroup, RackbeatProduct
from clients.rackbeat import PRODUCTS
from kinds.links import NS_PRODUCT
from ledger import InitialSyncItem
from mapping import map_product, parse_product, product_create_for
from mapping.initial import (
    InitialAction,
    plan_product,
    product_group_of,
    product_number,
    product_unit_code,
)
from tasks.initial.create import create_record
from tasks.initial.dependencies import Dependencies
from tasks.initial.engine import Engine, ItemOutcome, adopted
from tasks.initial.handover import link_record, mapped_or_reason
from tasks.initial.report import CREATED, FAILED, LINKED, SKIPPED, label
from tasks.snapshot import snapshot_of

__all__ = ["DRY_RUN_GROUP_NUMBER", "PowerOfficeProducts", "ProductsStep"]

DRY_RUN_GROUP_NUMBER = 1
"""Dry run only: the group number a product body is checked with when its group would be
created without a number of its own (nothing is sent, so any valid number does)."""


class PowerOfficeProducts:
    """PowerOffice Go's products and product groups, each list read once per run (the
    ``units`` step needs the products too: ``engine.shared(PowerOfficeProducts)``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._products: list[Product] | None = None
        self._groups: dict[int, ProductGroup] | None = None

    def products(self) -> list[Product]:
        if self._products is None:
            self._products = list(self._engine.runtime.poweroffice.iter_products())
        return self._products

    def groups(self) -> Mapping[int, ProductGroup]:
        if self._groups is None:
            groups = self._engine.runtime.poweroffice.iter_product_groups()
            self._groups = {g.id: g for g in groups}
        return self._groups


class ProductsStep:
    """R-INIT-1: every PowerOffice Go product."""

    kind = "products"

    def run(self, engine: Engine) -> None:
        poweroffice = engine.shared(PowerOfficeProducts)
        products = engine.guard(poweroffice.products)
        groups = engine.guard(poweroffice.groups)
        rackbeat = engine.runtime.rackbeat
        existing = engine.guard(lambda: {p.number for p in rackbeat.iter_products(fields="number")})
        engine.records(
            "products",
            "product",
            products,
            label=lambda product: label(product.code, product.name),
            copy=functools.partial(_copy_product, engine, groups, existing),
        )


def _copy_product(  # noqa: PLR0911 - one return per way a product can end
    engine: Engine,
    groups: Mapping[int, ProductGroup],
    existing: set[str],
    product: Product,
    row: InitialSyncItem | None,
) -> ItemOutcome:
    """R-INIT-1: one product, in its group, with its unit, prices and description."""
    group = product_group_of(product, groups)
    plan = plan_product(product, group=group, existing=existing)
    rackbeat = engine.runtime.rackbeat
    if plan.action is InitialAction.SKIP:
        return ItemOutcome(SKIPPED, reason=plan.reason)
    if plan.action is InitialAction.LINK:
        code = product_number(product)
        if engine.dry_run:
            return ItemOutcome(LINKED, number=code)
        record = rackbeat.get(PRODUCTS, code)
        return _link_product(engine, product, group, record, outcome=adopted(row), warning=None)
    if plan.action is InitialAction.FAIL or group is None:
        return ItemOutcome(FAILED, reason=plan.reason)
    dependencies = engine.shared(Dependencies)
    resolved = dependencies.product_group(group)
    if resolved.missing:
        return ItemOutcome(
            FAILED, reason=f"product group {group.code or group.id}: {resolved.reason}"
        )
    warning = None
    unit_number = None
    unit = product_unit_code(product)
    if unit is not None:
        unit_dep = dependencies.unit(unit)
        unit_number = unit_dep.number
        if unit_dep.missing:
            warning = f"copied without a unit: unit {unit}: {unit_dep.reason}"
    payload = product_create_for(
        product,
        group_number=resolved.number or DRY_RUN_GROUP_NUMBER,
        unit_number=unit_number,
    )
    number = payload.number
    if engine.dry_run:
        return ItemOutcome(CREATED, number=number, reason=warning)
    created = create_record(
        engine,
        "product",
        str(product.id),
        number,
        create=lambda: rackbeat.create_product(payload),
        lookup=lambda: rackbeat.find(PRODUCTS, number),
    )
    if isinstance(created, ItemOutcome):
        return created
    existing.add(number)
    return _link_product(engine, product, group, created[0], outcome=created[1], warning=warning)


def _link_product(
    engine: Engine,
    product: Product,
    group: ProductGroup | None,
    record: RackbeatProduct,
    *,
    outcome: str,
    warning: str | None,
) -> ItemOutcome:
    snapshot = snapshot_of(record)
    mapped = (
        mapped_or_reason(lambda: map_product(parse_product(snapshot.snapshot), group_id=group.id))
        if group is not None
        else None
    )
    # The group's own link (str(group.number) -> its PowerOffice Go id) was written when
    # the group was copied (``Dependencies.product_group``).
    links = [(NS_PRODUCT, record.number, str(product.id))]
    return link_record(
        engine,
        "product",
        str(product.id),
        snapshot,
        mapped=mapped,
        outcome=outcome,
        warning=warning,
        remote_links=links,
    )
