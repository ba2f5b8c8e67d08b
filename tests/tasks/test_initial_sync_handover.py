"""The handover: after the initial sync, the ongoing sync updates the copies, never re-creates.

Initial sync (PowerOffice Go -> Rackbeat), then a Rackbeat user changes a copied product; a
poll + sync (Rackbeat -> PowerOffice Go, ``tasks.pipeline``) must PATCH that same PowerOffice
Go product and create nothing.
"""

from __future__ import annotations

from typing import Any

from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from tasks.initial import run_initial_sync
from wiring.runtime import Runtime


def _po_writes(poweroffice: PowerOfficeEmulatorHandle) -> dict[str, int]:
    return {
        route: n
        for route, n in poweroffice.counters()["requests"].items()
        if not route.startswith(("GET", "POST /OAuth"))
    }


def test_a_changed_copy_is_patched_to_the_same_poweroffice_product(
    runtime: Runtime,
    pipeline: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    poweroffice_emulator.reset(seed=1, scale=1)
    rackbeat_emulator.reset(empty=True)
    po = runtime.poweroffice
    products_before = list(po.iter_products())
    target = products_before[7]
    assert target.code is not None
    assert run_initial_sync(runtime, kinds=["products"]).ok
    poweroffice_emulator.reset_counters()

    rackbeat_emulator.touch("products", target.code, name="Renamed in Rackbeat", sales_price=99.5)
    [poll] = pipeline.poll("product")
    results = pipeline.drain()

    # Only the touched product changed since the initial sync stored its snapshot.
    assert (poll.seen, poll.changed, poll.enqueued) == (100, 1, 1)
    assert [(r.kind, r.key, r.outcome, r.remote_id) for r in results] == [
        ("product", target.code, "updated", str(target.id))
    ]
    assert _po_writes(poweroffice_emulator) == {"PATCH /v2/Products/{id}": 1}
    after = po.get_product(target.id)
    assert (after.name, after.unit_price) == ("Renamed in Rackbeat", 99.5)
    assert after.code == target.code
    assert len(list(po.iter_products())) == len(products_before)


def test_unchanged_copies_cost_the_ongoing_sync_no_write(
    runtime: Runtime,
    pipeline: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    poweroffice_emulator.reset(seed=1, scale=1)
    rackbeat_emulator.reset(empty=True)
    assert run_initial_sync(runtime, kinds=["products", "customers", "suppliers"]).ok
    poweroffice_emulator.reset_counters()

    polls = pipeline.poll("product", "customer", "supplier")
    results = pipeline.drain()

    assert [(p.kind, p.seen, p.changed) for p in polls] == [
        ("product", 100, 0),
        ("customer", 50, 0),
        ("supplier", 10, 0),
    ]
    assert results == []
    assert _po_writes(poweroffice_emulator) == {}


def test_a_changed_copied_customer_is_patched_to_the_same_poweroffice_customer(
    runtime: Runtime,
    pipeline: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    poweroffice_emulator.reset(seed=1, scale=1)
    rackbeat_emulator.reset(empty=True)
    po = runtime.poweroffice
    target = next(c for c in po.iter_customers() if not c.is_person)
    assert run_initial_sync(runtime, kinds=["customers"]).ok
    poweroffice_emulator.reset_counters()

    rackbeat_emulator.touch("customers", target.number, contact_email="ny@example.no")
    [poll] = pipeline.poll("customer")
    results = pipeline.drain()

    assert (poll.changed, poll.enqueued) == (1, 1)
    assert [(r.key, r.outcome, r.remote_id) for r in results] == [
        (str(target.number), "updated", str(target.id))
    ]
    assert _po_writes(poweroffice_emulator) == {"PATCH /v2/Customers/{id}": 1}
    after = po.get_customer(target.id)
    assert (after.email_address, after.name, after.number) == (
        "ny@example.no",
        target.name,
        target.number,
    )
