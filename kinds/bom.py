"""BOMs (R-BOM-1): Rackbeat lots, written as PowerOffice Go products with the same fields."""

from __future__ import annotations

from clients.rackbeat import LOTS
from kinds.links import NS_PRODUCT, NS_PRODUCT_GROUP
from kinds.product import ItemKind
from mapping import parse_lot

__all__ = ["KIND"]

KIND = ItemKind(
    name="bom",
    order=20,
    rackbeat=LOTS,
    poweroffice_resource="Products",
    namespace=NS_PRODUCT,
    numeric_key=False,
    remote_key_field="Code",
    group="item",
    indexes=(NS_PRODUCT, NS_PRODUCT_GROUP),
    parse=parse_lot,
)
