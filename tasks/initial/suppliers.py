"""The ``suppliers`` step (R-INIT-3): each supplier, in the supplier group ``Poweroffice``.

A supplier Rackbeat has (same number) is linked as it is, not moved into the group. Suppliers
are create-only in the ongoing sync (R-SUP-11): the link carries the PowerOffice Go id (and the
``supplier_number`` remote link) but no payload.
"""

from __future__ import annotations

import functools

from clients.models import RackbeatSupplier, Supplier
from clients.rackbeat import SUPPLIERS
from kinds.links import NS_SUPPLIER_NUMBER
from ledger import InitialSyncItem
from mapping import supplier_create_for
from mapping.initial import InitialAction, plan_contact
from mapping.tables import INITIAL_SUPPLIER_GROUP_NAME
from tasks.initial.create import create_record
from tasks.initial.dependencies import Dependencies
from tasks.initial.engine import Engine, ItemOutcome, adopted
from tasks.initial.handover import link_record
from tasks.initial.report import CREATED, FAILED, LINKED, SKIPPED, label
from tasks.snapshot import snapshot_of

__all__ = ["SuppliersStep"]


class SuppliersStep:
    """R-INIT-3: every PowerOffice Go supplier."""

    kind = "suppliers"

    def run(self, engine: Engine) -> None:
        suppliers = engine.guard(lambda: list(engine.runtime.poweroffice.iter_suppliers()))
        rackbeat = engine.runtime.rackbeat
        existing = engine.guard(
            lambda: {s.number for s in rackbeat.iter_suppliers(fields="number")}
        )
        engine.records(
            "suppliers",
            "supplier",
            suppliers,
            label=lambda supplier: label(supplier.number, supplier.name),
            copy=functools.partial(_copy_supplier, engine, existing),
        )


def _copy_supplier(  # noqa: PLR0911 - one return per way a supplier can end
    engine: Engine, existing: set[int], supplier: Supplier, row: InitialSyncItem | None
) -> ItemOutcome:
    """R-INIT-3: one supplier, in the supplier group ``Poweroffice``."""
    number = supplier.number
    plan = plan_contact(supplier, "supplier", existing=existing)
    if plan.action is InitialAction.SKIP or number is None:
        return ItemOutcome(SKIPPED, reason=plan.reason)
    rackbeat = engine.runtime.rackbeat
    if plan.action is InitialAction.LINK:
        if engine.dry_run:
            return ItemOutcome(LINKED, number=str(number))
        return _link_supplier(engine, supplier, rackbeat.get(SUPPLIERS, number), adopted(row))
    group = engine.shared(Dependencies).supplier_group()
    if group.missing:
        return ItemOutcome(
            FAILED, reason=f"supplier group {INITIAL_SUPPLIER_GROUP_NAME}: {group.reason}"
        )
    # Dry run: a group still to be created has no number yet; the body is only checked.
    payload = supplier_create_for(supplier, supplier_group_id=group.number or 0)
    if engine.dry_run:
        return ItemOutcome(CREATED, number=str(number))
    created = create_record(
        engine,
        "supplier",
        str(supplier.id),
        str(number),
        create=lambda: rackbeat.create_supplier(payload),
        lookup=lambda: rackbeat.find(SUPPLIERS, number),
    )
    if isinstance(created, ItemOutcome):
        return created
    existing.add(number)
    return _link_supplier(engine, supplier, created[0], created[1])


def _link_supplier(
    engine: Engine, supplier: Supplier, record: RackbeatSupplier, outcome: str
) -> ItemOutcome:
    snapshot = snapshot_of(record)
    return link_record(
        engine,
        "supplier",
        str(supplier.id),
        snapshot,
        mapped=None,
        outcome=outcome,
        remote_links=[(NS_SUPPLIER_NUMBER, snapshot.key, str(supplier.id))],
    )
