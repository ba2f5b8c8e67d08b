"""Customers (R-CUST-1..9), keyed by ``ExternalImportReference`` rackbeat-customer-<n>."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from clients.models.poweroffice import CustomerPost
from clients.rackbeat import CUSTOMERS
from kinds.links import NS_CUSTOMER, ensure_payment_term
from kinds.spec import EnsureEntity, EntityKind, dependency, wire_of
from ledger import EntityLink
from mapping import (
    Create,
    MappedRecord,
    Skip,
    customer_reference,
    map_customer,
    parse_customer,
    payment_term_for,
    payment_term_to_resolve,
)
from wiring.runtime import Runtime

__all__ = ["KIND", "CustomerKind"]


def customer_ids_by_reference(runtime: Runtime) -> Mapping[str, int]:
    """The bulk index of every PowerOffice Go customer: ``ExternalImportReference`` -> id."""
    return runtime.poweroffice.customer_ids_by_reference()


@dataclasses.dataclass(frozen=True)
class CustomerKind(EntityKind):
    """Customers: updated with a JSON-Patch of the changed fields."""

    def reference(self, key: str) -> str:
        return customer_reference(int(key))

    def find(
        self,
        runtime: Runtime,
        link: EntityLink,  # noqa: ARG002
        reference: str,
        *,
        settle: bool = True,
    ) -> str | None:
        found = runtime.poweroffice.find_customer(reference, settle=settle)
        return str(found.id) if found is not None else None

    def find_many(
        self, runtime: Runtime, references: Sequence[str], *, since: datetime, settle: bool = True
    ) -> dict[str, str] | None:
        return self.find_by_reference_scan(runtime, references, since=since, settle=settle)

    def held(self, runtime: Runtime, ids: Mapping[str, str]) -> dict[str, Mapping[str, Any]]:
        po = runtime.poweroffice
        return {key: wire_of(po.get_customer(int(ident))) for key, ident in ids.items()}

    def prepare(
        self,
        runtime: Runtime,
        link: EntityLink,
        snapshot: Mapping[str, Any],
        remote_id: str | None,
        ensure: EnsureEntity,  # noqa: ARG002
        *,
        written: Mapping[str, Any] | None,
    ) -> MappedRecord | Skip:
        record = parse_customer(snapshot)
        number_from_rackbeat = runtime.options.customer_number_from_rackbeat
        base = map_customer(record, number_from_rackbeat=number_from_rackbeat)
        days = payment_term_to_resolve(  # R-CUST-9
            record,
            remote_id=remote_id,
            unchanged=link.fingerprint == base.fingerprint,
            written=written,
        )
        if days is None:
            return base
        term_id = dependency(
            f"payment term of {days} days",
            lambda: ensure_payment_term(runtime, days, payment_term_for(days)),
        )
        mapped = map_customer(
            record, payment_term_id=term_id, number_from_rackbeat=number_from_rackbeat
        )
        # The fingerprint stays the days-only one: an unchanged customer costs no request.
        return dataclasses.replace(mapped, fingerprint=base.fingerprint)

    def create(self, runtime: Runtime, decision: Create) -> str:
        assert isinstance(decision.payload, CustomerPost)
        return str(runtime.poweroffice.create_customer(decision.payload).id)


KIND = CustomerKind(
    name="customer",
    order=30,
    rackbeat=CUSTOMERS,
    poweroffice_resource="Customers",
    namespace=NS_CUSTOMER,
    indexes=(NS_CUSTOMER,),
    loaders={NS_CUSTOMER: customer_ids_by_reference},
)
