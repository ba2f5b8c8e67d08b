"""Booked customer invoices (R-INV-1..11) -> sales-order drafts, create-only; each depends on
its customer and the items on its lines."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from clients.models.poweroffice import SalesOrderCompletePost
from clients.rackbeat import BOOKED_INVOICES
from kinds.links import NS_CUSTOMER, NS_INVOICE, NS_PRODUCT, NS_PRODUCT_GROUP
from kinds.spec import CREATE_LOOKBACK, EnsureEntity, EntityKind
from ledger import EntityLink
from mapping import (
    Create,
    MappedRecord,
    Skip,
    invoice_links,
    invoice_reference,
    map_invoice,
    parse_invoice,
)
from wiring.runtime import Runtime

__all__ = ["KIND", "SALES_ORDER_LOOKBACK", "InvoiceKind"]

SALES_ORDER_LOOKBACK = CREATE_LOOKBACK
"""A lookup for an invoice draft scans the drafts changed since its row was created, less this."""


def sales_order_ids_by_reference(runtime: Runtime) -> Mapping[str, int | str]:
    """The drafts this integration created: ``ExternalImportReference`` -> id (only ours carry
    our references; no lookup per invoice)."""
    return {
        o.external_import_reference: o.id
        for o in runtime.poweroffice.iter_sales_orders(onlyCreatedByCurrentIntegration="true")
        if o.external_import_reference
    }


@dataclasses.dataclass(frozen=True)
class InvoiceKind(EntityKind):
    """Invoices: their customer and items are synced first (``depends_on``)."""

    def reference(self, key: str) -> str:
        return invoice_reference(int(key))

    def find(
        self, runtime: Runtime, link: EntityLink, reference: str, *, settle: bool = True
    ) -> str | None:
        found = runtime.poweroffice.find_sales_order(
            reference, changed_after=link.created_at - SALES_ORDER_LOOKBACK, settle=settle
        )
        return str(found.id) if found is not None else None

    def find_many(
        self, runtime: Runtime, references: Sequence[str], *, since: datetime, settle: bool = True
    ) -> dict[str, str] | None:
        # One scan of this integration's drafts changed since then, for a whole batch: 50
        # invoices in doubt looked up one by one waited out replica lag 50 times (~2 s each).
        return self.find_by_reference_scan(runtime, references, since=since, settle=settle)

    def dependencies(self, snapshot: Mapping[str, Any]) -> list[tuple[str, str]]:
        links = invoice_links(parse_invoice(snapshot))
        return [("customer", str(links.customer_number))] + [
            ("item", code) for code in links.product_codes
        ]

    def prepare(
        self,
        runtime: Runtime,
        link: EntityLink,  # noqa: ARG002
        snapshot: Mapping[str, Any],
        remote_id: str | None,
        ensure: EnsureEntity,
        *,
        written: Mapping[str, Any] | None,  # noqa: ARG002
    ) -> MappedRecord | Skip:
        record = parse_invoice(snapshot)
        if remote_id is not None:
            # Transferred already: map only to record the change; no dependency is touched.
            return map_invoice(record, customer_id=0)
        links = invoice_links(record)
        customer_id = int(ensure("customer", str(links.customer_number)))
        for code in links.product_codes:
            ensure("item", code)
        return map_invoice(
            record, customer_id=customer_id, employee_map=runtime.options.employee_map
        )

    def create(self, runtime: Runtime, decision: Create) -> str:
        assert isinstance(decision.payload, SalesOrderCompletePost)
        return str(runtime.poweroffice.create_sales_order(decision.payload).id)


KIND = InvoiceKind(
    name="invoice",
    order=40,
    rackbeat=BOOKED_INVOICES,
    poweroffice_resource="SalesOrders",
    namespace=NS_INVOICE,
    create_only=True,
    remote_filters=(("onlyCreatedByCurrentIntegration", "true"),),
    # A draft gone from PowerOffice Go may have been deleted, or invoiced, on purpose: making
    # it again could bill the customer twice. Reconciliation reports it; a person decides.
    recreate_when_lost=False,
    depends_on=("customer", "item"),
    indexes=(NS_INVOICE, NS_CUSTOMER, NS_PRODUCT, NS_PRODUCT_GROUP),
    loaders={NS_INVOICE: sales_order_ids_by_reference},
)
