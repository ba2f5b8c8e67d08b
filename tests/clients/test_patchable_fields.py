"""``PATCHABLE_FIELDS`` (what the mapping may PATCH) is the hand-kept copy of the PowerOffice Go
``…PatchDto`` field lists; the DTO tables generated from the field reference are the truth."""

from __future__ import annotations

import pytest

from clients.models import PATCHABLE_FIELDS
from sandbox.poweroffice.dtos import PATCH_FIELDS

PATCH_DTOS = {
    "Products": "ProductPatchDto",
    "ProductGroups": "ProductGroupPatchDto",
    "Customers": "CustomerPatchDto",
    "Suppliers": "SupplierPatchDto",
    "SalesOrders": "SalesOrderPatchDto",
    "SalesOrderLines": "SalesOrderLinePatchDto",
    "ContactAddresses": "ContactAddressPatchDto",
}


def test_every_resource_rbsync_patches_is_checked() -> None:
    assert set(PATCHABLE_FIELDS) == set(PATCH_DTOS)


@pytest.mark.parametrize(("resource", "dto"), sorted(PATCH_DTOS.items()))
def test_patchable_fields_are_the_patch_dtos_fields(resource: str, dto: str) -> None:
    assert PATCHABLE_FIELDS[resource] == frozenset(PATCH_FIELDS[dto])
