"""Suppliers (R-SUP-1..11): create-only, in the ``PowerOffice`` contact group; those without a
VAT number are skipped (R-SUP-10)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from clients.models.poweroffice import SupplierPost
from clients.rackbeat import SUPPLIERS
from kinds.links import NS_SUPPLIER, NS_SUPPLIER_NUMBER, ensure_contact_group
from kinds.spec import EnsureEntity, EntityKind, dependency, known_by_reference
from ledger import EntityLink, remote_ids
from mapping import (
    Create,
    MappedRecord,
    Skip,
    contact_group_for,
    map_supplier,
    parse_supplier,
    supplier_reference,
    supplier_skip,
)
from wiring.runtime import Runtime

__all__ = ["KIND", "SupplierKind"]


def supplier_ids_by_reference(runtime: Runtime) -> Mapping[str, int]:
    """Every PowerOffice Go supplier: ``ExternalImportReference`` -> id."""
    return runtime.poweroffice.supplier_ids_by_reference()


def supplier_ids_by_number(runtime: Runtime) -> Mapping[str, int]:
    """Every PowerOffice Go supplier with a number: number -> id (suppliers made by hand)."""
    po = runtime.poweroffice
    return {str(s.number): s.id for s in po.iter_suppliers() if s.number is not None}


@dataclasses.dataclass(frozen=True)
class SupplierKind(EntityKind):
    """Suppliers: found by reference, else by number (a supplier entered by hand)."""

    def reference(self, key: str) -> str:
        return supplier_reference(int(key))

    def known(self, session: Session | Connection, keys: Sequence[str]) -> dict[str, str]:
        found = known_by_reference(session, NS_SUPPLIER, keys, self.reference)
        missing = [key for key in keys if key not in found]
        return found | remote_ids(session, NS_SUPPLIER_NUMBER, missing)

    def find(
        self, runtime: Runtime, link: EntityLink, reference: str, *, settle: bool = True
    ) -> str | None:
        po = runtime.poweroffice
        # Only our own create can be too new to be visible yet, and it carries our reference:
        # that lookup waits out replica lag. A supplier entered by hand under the same number
        # is old, so the number lookup need not wait (both waiting took ~4 s, past a short
        # task's soft time limit: seen in CI as a supplier that died in its lookups).
        found = po.find_supplier(reference, settle=settle) or po.find_supplier_by_number(
            int(link.key), settle=False
        )
        return str(found.id) if found is not None else None

    def prepare(
        self,
        runtime: Runtime,
        link: EntityLink,  # noqa: ARG002
        snapshot: Mapping[str, Any],
        remote_id: str | None,  # noqa: ARG002
        ensure: EnsureEntity,  # noqa: ARG002
        *,
        written: Mapping[str, Any] | None,  # noqa: ARG002
    ) -> MappedRecord | Skip:
        record = parse_supplier(snapshot)
        # R-SUP-10 first: a supplier without VAT number needs no contact group at all.
        skip = supplier_skip(record)
        if skip is not None:
            return skip
        name = runtime.options.supplier_contact_group_name
        group_id = dependency(
            f"contact group {name!r}",
            lambda: ensure_contact_group(runtime, name, contact_group_for(name)),
        )
        return map_supplier(record, contact_group_id=group_id)

    def create(self, runtime: Runtime, decision: Create) -> str:
        assert isinstance(decision.payload, SupplierPost)
        return str(runtime.poweroffice.create_supplier(decision.payload).id)


KIND = SupplierKind(
    name="supplier",
    order=50,
    rackbeat=SUPPLIERS,
    poweroffice_resource="Suppliers",
    namespace=NS_SUPPLIER,
    create_only=True,
    indexes=(NS_SUPPLIER, NS_SUPPLIER_NUMBER),
    loaders={
        NS_SUPPLIER: supplier_ids_by_reference,
        NS_SUPPLIER_NUMBER: supplier_ids_by_number,
    },
)
