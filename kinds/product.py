"""Products (R-PROD-1..10): keyed by item number = the PowerOffice Go product ``Code``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from clients.models import RackbeatLot, RackbeatProduct
from clients.models.poweroffice import ProductPost
from clients.rackbeat import PRODUCTS
from kinds.links import NS_PRODUCT, NS_PRODUCT_GROUP, ensure_product_group
from kinds.spec import EnsureEntity, EntityKind, dependency, wire_of
from ledger import EntityLink
from mapping import (
    Create,
    MappedRecord,
    Skip,
    map_product,
    parse_product,
    product_group_code,
    product_group_for,
)
from wiring.runtime import Runtime

__all__ = ["KIND", "ItemKind", "product_ids_by_code"]


def product_ids_by_code(runtime: Runtime) -> Mapping[str, int]:
    """The bulk index of every PowerOffice Go product: ``Code`` -> id."""
    return runtime.poweroffice.product_ids_by_code()


@dataclasses.dataclass(frozen=True)
class ItemKind(EntityKind):
    """An item (a product, or a BOM: the same PowerOffice Go product fields)."""

    parse: Callable[[Mapping[str, Any]], RackbeatProduct | RackbeatLot] = parse_product
    """Reads the stored snapshot back into its Rackbeat model."""

    def find(
        self,
        runtime: Runtime,
        link: EntityLink,  # noqa: ARG002
        reference: str,
        *,
        settle: bool = True,
    ) -> str | None:
        found = runtime.poweroffice.find_product(reference, settle=settle)
        return str(found.id) if found is not None else None

    def find_many(
        self,
        runtime: Runtime,
        references: Sequence[str],
        *,
        since: datetime,  # noqa: ARG002 - codes are looked up directly, whenever created
        settle: bool = True,
    ) -> dict[str, str] | None:
        found = runtime.poweroffice.find_products(references, settle=settle)
        return {code: str(product.id) for code, product in found.items()}

    def held(self, runtime: Runtime, ids: Mapping[str, str]) -> dict[str, Mapping[str, Any]]:
        # One request per many codes (the URL's length allows ~50): a first push against a
        # full PowerOffice Go reads 100,000 products in ~2,000 requests, and writes none that
        # already match.
        found = runtime.poweroffice.find_products(list(ids))
        return {code: wire_of(product) for code, product in found.items()}

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
        record = self.parse(snapshot)
        code = product_group_code(record)
        group = product_group_for(record)  # R-PROD-4, R-PROD-9, R-PROD-10
        group_id = dependency(
            f"product group {code}", lambda: ensure_product_group(runtime, code, group)
        )
        return map_product(record, group_id=group_id)

    def create(self, runtime: Runtime, decision: Create) -> str:
        assert isinstance(decision.payload, ProductPost)
        return str(runtime.poweroffice.create_product(decision.payload).id)


KIND = ItemKind(
    name="product",
    order=10,
    rackbeat=PRODUCTS,
    poweroffice_resource="Products",
    namespace=NS_PRODUCT,
    numeric_key=False,
    remote_key_field="Code",
    group="item",
    indexes=(NS_PRODUCT, NS_PRODUCT_GROUP),
    loaders={NS_PRODUCT: product_ids_by_code},
)
