"""The recipe of docs/architecture.md, "Adding a kind", proven with a kind that exists only here.

Rackbeat product groups, synced as a kind of their own to PowerOffice Go ``ProductGroups``:
this module holds its spec and its mapping; the client model (``RackbeatProductGroup``), the
Rackbeat resource and both emulators' resources exist already. Nothing else is touched, and the
real pipeline carries it: poll -> ledger -> sync -> the PowerOffice Go emulator over HTTP.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from clients.models import RackbeatProductGroup
from clients.models.poweroffice import ProductGroupPost
from clients.rackbeat import PRODUCT_GROUPS
from kinds import registry
from kinds.spec import EnsureEntity, EntityKind
from ledger import EntityLink, counts_by_kind_and_status
from mapping import Create, MappedRecord, Skip
from mapping.fingerprint import fingerprint
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from wiring.runtime import Runtime

NAMESPACE = "test_group"


def map_group(record: RackbeatProductGroup) -> MappedRecord:
    """The kind's mapping: a Rackbeat group as a PowerOffice Go product group (code = number)."""
    payload = ProductGroupPost(
        code=str(record.number),
        name=record.name,
        standard_sales_account=3000,
        optional_sales_account=3100,
    )
    return MappedRecord(
        kind="group",
        key=str(record.number),
        reference=str(record.number),
        payload=payload,
        fingerprint=fingerprint(payload),
    )


@dataclasses.dataclass(frozen=True)
class GroupKind(EntityKind):
    """The kind's spec: only the steps that differ from the defaults."""

    def find(
        self, runtime: Runtime, link: EntityLink, reference: str, *, settle: bool = True
    ) -> str | None:
        found = runtime.poweroffice.find_product_group(reference, settle=settle)
        return str(found.id) if found is not None else None

    def prepare(
        self,
        runtime: Runtime,
        link: EntityLink,
        snapshot: Mapping[str, Any],
        remote_id: str | None,
        ensure: EnsureEntity,
        *,
        written: Mapping[str, Any] | None,
    ) -> MappedRecord | Skip:
        return map_group(RackbeatProductGroup.model_validate(snapshot))

    def create(self, runtime: Runtime, decision: Create) -> str:
        assert isinstance(decision.payload, ProductGroupPost)
        return str(runtime.poweroffice.create_product_group(decision.payload).id)


GROUP = GroupKind(
    name="group",
    order=60,
    rackbeat=PRODUCT_GROUPS,
    poweroffice_resource="ProductGroups",
    namespace=NAMESPACE,
    indexes=(NAMESPACE,),
    loaders={NAMESPACE: lambda runtime: runtime.poweroffice.product_group_ids_by_code()},
)


def _groups(poweroffice: PowerOfficeEmulatorHandle) -> dict[str, dict[str, Any]]:
    return {g["Code"]: g for g in poweroffice.state()["resources"]["ProductGroups"]}


def test_a_kind_registered_with_its_spec_flows_through_the_real_pipeline(
    pipeline: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    numbers = sorted(str(g["number"]) for g in rackbeat_emulator.state()["product_groups"])
    assert numbers, "the seeded data has product groups"
    with registry.registered(GROUP):
        assert registry.names()[-1] == "group"
        (report,) = pipeline.poll("group")
        assert (report.seen, report.changed) == (len(numbers), len(numbers))
        results = pipeline.drain()
        assert {(r.key, r.outcome, r.status) for r in results} == {
            (n, "created", "synced") for n in numbers
        }
        groups = _groups(poweroffice_emulator)
        assert sorted(groups) == numbers
        name = rackbeat_emulator.state()["product_groups"][0]["name"]
        assert groups[numbers[0]]["Name"] == name

        # Nothing changed: nothing is sent. Then a renamed group is PATCHed, nothing else.
        poweroffice_emulator.reset_counters()
        pipeline.poll("group")
        assert [r.outcome for r in pipeline.drain()] in ([], ["unchanged"] * len(numbers))
        assert poweroffice_emulator.counters()["writes"] == {}
        rackbeat_emulator.touch("product-groups", int(numbers[0]), name="Omdøpt gruppe")
        pipeline.poll("group")
        updated = [r for r in pipeline.drain() if r.outcome == "updated"]
        assert [r.key for r in updated] == [numbers[0]]
        assert _groups(poweroffice_emulator)[numbers[0]]["Name"] == "Omdøpt gruppe"
        with pipeline.runtime.sessions() as session:
            assert counts_by_kind_and_status(session) == {"group": {"synced": len(numbers)}}
    assert "group" not in registry.names()
