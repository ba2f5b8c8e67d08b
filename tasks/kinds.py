"""Per-kind steps of a sync: how to key, look up, map (dependencies first), create, update.

The business rules stay in ``mapping/``; a handler only wires a kind's mapping functions to
the right client calls and ledger namespaces. ``tasks.pipeline`` runs the same sequence for
every kind: load, ensure dependencies, map, decide, write, record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from clients import PermanentError
from clients.models.poweroffice import (
    CustomerPost,
    ProductPost,
    SalesOrderCompletePost,
    SupplierPost,
)
from kinds.errors import DependencyFailedError
from kinds.links import (
    NS_CUSTOMER,
    NS_INVOICE,
    NS_PRODUCT,
    NS_SUPPLIER,
    NS_SUPPLIER_NUMBER,
    ensure_contact_group,
    ensure_payment_term,
    ensure_product_group,
)
from ledger import EntityLink, remote_ids
from mapping import (
    Create,
    MappedRecord,
    Skip,
    Update,
    contact_group_for,
    customer_payment_days,
    customer_reference,
    invoice_links,
    invoice_reference,
    map_customer,
    map_invoice,
    map_product,
    map_supplier,
    parse_customer,
    parse_invoice,
    parse_lot,
    parse_product,
    parse_supplier,
    payment_term_for,
    product_group_code,
    product_group_for,
    supplier_reference,
)
from mapping.decision import KIND_RESOURCES
from wiring.runtime import Runtime

__all__ = ["HANDLERS", "EnsureEntity", "KindHandler"]

SALES_ORDER_LOOKBACK = timedelta(days=1)
"""A lookup for an invoice draft scans the drafts changed since its row was created, less this."""

EnsureEntity = Callable[[str, str], str]
"""``ensure(kind, key) -> PowerOffice Go id``: syncs a dependency first when it has no link."""


class KindHandler(Protocol):
    """The kind-specific steps the pipeline calls."""

    @property
    def kind(self) -> str:
        """The entity kind."""
        ...

    @property
    def namespace(self) -> str:
        """The ``remote_links`` namespace of this kind's PowerOffice Go ids."""
        ...

    @property
    def create_only(self) -> bool:
        """Whether records of this kind are never updated."""
        ...

    def reference(self, key: str) -> str:
        """The code / ExternalImportReference a create of ``key`` carries."""
        ...

    def known(self, session: Session | Connection, keys: Sequence[str]) -> dict[str, str]:
        """Key -> PowerOffice Go id, of the ``keys`` the ledger's bulk indexes hold an id for."""
        ...

    def find(self, runtime: Runtime, link: EntityLink, reference: str) -> str | None:
        """Look the record up in PowerOffice Go (waiting out replica lag)."""
        ...

    def dependencies(self, snapshot: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The ``(kind, key)`` records that must exist before this one is created (``item``:
        a product or BOM code); shared ones (groups, terms) are not listed. May raise
        ``RecordRejected``."""
        ...

    def prepare(
        self,
        runtime: Runtime,
        link: EntityLink,
        snapshot: Mapping[str, Any],
        remote_id: str | None,
        ensure: EnsureEntity,
    ) -> MappedRecord | Skip:
        """Ensure the dependencies and map the snapshot (may raise ``RecordRejected``)."""
        ...

    def create(self, runtime: Runtime, decision: Create) -> str:
        """POST the record; its new id."""
        ...

    def update(self, runtime: Runtime, remote_id: str, decision: Update) -> None:
        """PATCH the changed fields."""
        ...


def _known_by_reference(
    session: Session | Connection,
    namespace: str,
    keys: Sequence[str],
    reference: Callable[[str], str],
) -> dict[str, str]:
    by_reference = {reference(key): key for key in keys}
    found = remote_ids(session, namespace, by_reference)
    return {by_reference[ref]: remote for ref, remote in found.items()}


def _dependency(what: str, call: Callable[[], int]) -> int:
    try:
        return call()
    except PermanentError as exc:
        raise DependencyFailedError(f"{what} could not be created: {exc}") from exc


def _patch(runtime: Runtime, kind: str, remote_id: str, decision: Update) -> None:
    ident: int | str = int(remote_id) if remote_id.isdigit() else remote_id
    runtime.poweroffice.patch(KIND_RESOURCES[kind], ident, decision.operations)


@dataclasses.dataclass(frozen=True)
class ItemHandler:
    """Products (R-PROD-1..10) and BOMs (R-BOM-1): keyed by item number = product ``Code``."""

    kind: str
    namespace: str = NS_PRODUCT
    create_only: bool = False

    def reference(self, key: str) -> str:
        return key

    def known(self, session: Session | Connection, keys: Sequence[str]) -> dict[str, str]:
        return _known_by_reference(session, NS_PRODUCT, keys, self.reference)

    def find(self, runtime: Runtime, link: EntityLink, reference: str) -> str | None:  # noqa: ARG002
        found = runtime.poweroffice.find_product(reference)
        return str(found.id) if found is not None else None

    def dependencies(self, snapshot: Mapping[str, Any]) -> list[tuple[str, str]]:  # noqa: ARG002
        return []

    def prepare(
        self,
        runtime: Runtime,
        link: EntityLink,  # noqa: ARG002
        snapshot: Mapping[str, Any],
        remote_id: str | None,  # noqa: ARG002
        ensure: EnsureEntity,  # noqa: ARG002
    ) -> MappedRecord | Skip:
        record = parse_lot(snapshot) if self.kind == "bom" else parse_product(snapshot)
        code = product_group_code(record)
        group = product_group_for(record)  # R-PROD-4, R-PROD-9, R-PROD-10
        group_id = _dependency(
            f"product group {code}", lambda: ensure_product_group(runtime, code, group)
        )
        return map_product(record, group_id=group_id)

    def create(self, runtime: Runtime, decision: Create) -> str:
        assert isinstance(decision.payload, ProductPost)
        return str(runtime.poweroffice.create_product(decision.payload).id)

    def update(self, runtime: Runtime, remote_id: str, decision: Update) -> None:
        _patch(runtime, self.kind, remote_id, decision)


@dataclasses.dataclass(frozen=True)
class CustomerHandler:
    """Customers (R-CUST-1..9), keyed by ``ExternalImportReference`` rackbeat-customer-<n>."""

    kind: str = "customer"
    namespace: str = NS_CUSTOMER
    create_only: bool = False

    def reference(self, key: str) -> str:
        return customer_reference(int(key))

    def known(self, session: Session | Connection, keys: Sequence[str]) -> dict[str, str]:
        return _known_by_reference(session, NS_CUSTOMER, keys, self.reference)

    def find(self, runtime: Runtime, link: EntityLink, reference: str) -> str | None:  # noqa: ARG002
        found = runtime.poweroffice.find_customer(reference)
        return str(found.id) if found is not None else None

    def dependencies(self, snapshot: Mapping[str, Any]) -> list[tuple[str, str]]:  # noqa: ARG002
        return []

    def prepare(
        self,
        runtime: Runtime,
        link: EntityLink,
        snapshot: Mapping[str, Any],
        remote_id: str | None,
        ensure: EnsureEntity,  # noqa: ARG002
    ) -> MappedRecord | Skip:
        record = parse_customer(snapshot)
        number_from_rackbeat = runtime.settings.customer_number_from_rackbeat
        base = map_customer(record, number_from_rackbeat=number_from_rackbeat)
        if remote_id is None or link.fingerprint == base.fingerprint:
            return base
        # R-CUST-9 on update: PATCH takes PaymentTermId, not days. Only when the days changed
        # is the term resolved (and created when missing); the fingerprint stays the days-only
        # one, so an unchanged customer still costs no request at all.
        days = customer_payment_days(record)
        written_days = (link.written or {}).get("PaymentTerm")
        if days is None or days == written_days:
            return base
        term_id = _dependency(
            f"payment term of {days} days",
            lambda: ensure_payment_term(runtime, days, payment_term_for(days)),
        )
        mapped = map_customer(
            record, payment_term_id=term_id, number_from_rackbeat=number_from_rackbeat
        )
        return dataclasses.replace(mapped, fingerprint=base.fingerprint)

    def create(self, runtime: Runtime, decision: Create) -> str:
        assert isinstance(decision.payload, CustomerPost)
        return str(runtime.poweroffice.create_customer(decision.payload).id)

    def update(self, runtime: Runtime, remote_id: str, decision: Update) -> None:
        _patch(runtime, self.kind, remote_id, decision)


@dataclasses.dataclass(frozen=True)
class SupplierHandler:
    """Suppliers (R-SUP-1..11): create-only, in the ``PowerOffice`` contact group."""

    kind: str = "supplier"
    namespace: str = NS_SUPPLIER
    create_only: bool = True

    def reference(self, key: str) -> str:
        return supplier_reference(int(key))

    def known(self, session: Session | Connection, keys: Sequence[str]) -> dict[str, str]:
        found = _known_by_reference(session, NS_SUPPLIER, keys, self.reference)
        missing = [key for key in keys if key not in found]
        return found | remote_ids(session, NS_SUPPLIER_NUMBER, missing)

    def find(self, runtime: Runtime, link: EntityLink, reference: str) -> str | None:
        po = runtime.poweroffice
        found = po.find_supplier(reference) or po.find_supplier_by_number(int(link.key))
        return str(found.id) if found is not None else None

    def dependencies(self, snapshot: Mapping[str, Any]) -> list[tuple[str, str]]:  # noqa: ARG002
        return []

    def prepare(
        self,
        runtime: Runtime,
        link: EntityLink,  # noqa: ARG002
        snapshot: Mapping[str, Any],
        remote_id: str | None,  # noqa: ARG002
        ensure: EnsureEntity,  # noqa: ARG002
    ) -> MappedRecord | Skip:
        record = parse_supplier(snapshot)
        # R-SUP-10 first: a supplier without VAT number needs no contact group at all.
        probe = map_supplier(record, contact_group_id=0)
        if isinstance(probe, Skip):
            return probe
        name = runtime.settings.supplier_contact_group_name
        group_id = _dependency(
            f"contact group {name!r}",
            lambda: ensure_contact_group(runtime, name, contact_group_for(name)),
        )
        return map_supplier(record, contact_group_id=group_id)

    def create(self, runtime: Runtime, decision: Create) -> str:
        assert isinstance(decision.payload, SupplierPost)
        return str(runtime.poweroffice.create_supplier(decision.payload).id)

    def update(self, runtime: Runtime, remote_id: str, decision: Update) -> None:  # noqa: ARG002
        raise AssertionError(f"suppliers are create-only (R-SUP-11); no update of {remote_id}")


@dataclasses.dataclass(frozen=True)
class InvoiceHandler:
    """Booked customer invoices (R-INV-1..11) -> sales-order drafts, create-only."""

    kind: str = "invoice"
    namespace: str = NS_INVOICE
    create_only: bool = True

    def reference(self, key: str) -> str:
        return invoice_reference(int(key))

    def known(self, session: Session | Connection, keys: Sequence[str]) -> dict[str, str]:
        return _known_by_reference(session, NS_INVOICE, keys, self.reference)

    def find(self, runtime: Runtime, link: EntityLink, reference: str) -> str | None:
        found = runtime.poweroffice.find_sales_order(
            reference, changed_after=link.created_at - SALES_ORDER_LOOKBACK
        )
        return str(found.id) if found is not None else None

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
            record, customer_id=customer_id, employee_map=runtime.settings.employee_map
        )

    def create(self, runtime: Runtime, decision: Create) -> str:
        assert isinstance(decision.payload, SalesOrderCompletePost)
        return str(runtime.poweroffice.create_sales_order(decision.payload).id)

    def update(self, runtime: Runtime, remote_id: str, decision: Update) -> None:  # noqa: ARG002
        raise AssertionError(f"invoices are create-only (R-INV); no update of {remote_id}")


HANDLERS: Mapping[str, KindHandler] = {
    "product": ItemHandler("product"),
    "bom": ItemHandler("bom"),
    "customer": CustomerHandler(),
    "supplier": SupplierHandler(),
    "invoice": InvoiceHandler(),
}
