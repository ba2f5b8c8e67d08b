"""The pipeline's functions in this process against both emulators over HTTP.

The poll and ``sync_entity`` run here (no broker), so these tests can look inside the ledger
and count every request the emulators saw. The Celery side (real worker process, Redis,
PostgreSQL) is in ``tests/e2e``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa
from conftest import BOTH_LEDGERS

from ledger import (
    Attempt,
    EntityLink,
    Status,
    counts_by_kind_and_status,
    ensure_link,
    get_link,
)
from sandbox.testing import SEEDED_SYNC, PowerOfficeEmulatorHandle, RackbeatEmulatorHandle

pytestmark = BOTH_LEDGERS

SEEDED_WRITES = {
    "Products": (52, 0, 0),
    "ProductGroups": (9, 0, 0),
    "Customers": (8, 0, 0),
    "SalesOrders": (5, 0, 0),
    "Suppliers": (4, 0, 0),
    "ContactGroups": (1, 0, 0),
}
"""(created, updated, refused as duplicates) per PowerOffice Go collection after the seeded
dataset's full push."""


def po_requests(po: PowerOfficeEmulatorHandle) -> dict[str, int]:
    return {k: v for k, v in po.counters()["requests"].items() if "/OAuth/" not in k}


def writes(po: PowerOfficeEmulatorHandle) -> dict[str, dict[str, int]]:
    return po.counters()["writes"]


def ledger_counts(pipeline: Any) -> dict[str, dict[str, int]]:
    with pipeline.runtime.sessions() as s:
        return counts_by_kind_and_status(s)


def test_seeded_dataset_syncs_by_the_rules(
    pipeline: Any, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    pipeline.run()
    assert ledger_counts(pipeline) == SEEDED_SYNC
    w = writes(poweroffice_emulator)
    assert {
        k: (v["created"], v["updated"], v["duplicates_refused"]) for k, v in w.items()
    } == SEEDED_WRITES
    state = poweroffice_emulator.state()["resources"]
    groups = {g["Id"]: g for g in state["ProductGroups"]}
    # R-PROD-4/9/10: every product is in a group created with the accounts of its VAT rate.
    assert all(p["ProductGroupId"] in groups for p in state["Products"])
    assert {g["StandardSalesAccount"] for g in groups.values()} <= {3000, 3030, 3100}
    assert all(g["OptionalSalesAccount"] == 3100 for g in groups.values())
    # R-PROD-2: one product per Rackbeat number, no duplicates.
    codes = [p["Code"] for p in state["Products"]]
    assert len(codes) == len(set(codes)) == 52
    assert {"AB/100", "KABEL 3M", "X+Y"} <= set(codes)
    # R-CUST link: every customer carries its reference; country codes are ISO alpha-2.
    assert sorted(c["ExternalImportReference"] for c in state["Customers"]) == [
        f"rackbeat-customer-{n}" for n in range(10001, 10009)
    ]
    # R-INV-1/2: drafts only, each linked to a synced customer.
    customer_ids = {c["Id"] for c in state["Customers"]}
    assert all(o["SalesOrderStatus"] == "Draft" for o in state["SalesOrders"])
    assert all(o["CustomerId"] in customer_ids for o in state["SalesOrders"])
    # R-SUP-9/10: suppliers in the PowerOffice contact group; the one without VAT skipped.
    (group,) = state["ContactGroups"]
    assert group["Name"] == "PowerOffice"
    assert all(s["ContactGroupIds"] == [group["Id"]] for s in state["Suppliers"])
    with pipeline.runtime.sessions() as s:
        skipped = get_link(s, "supplier", "20002")
        assert skipped is not None
        assert (skipped.status, skipped.last_error) == ("skipped", "no VAT number")


def test_unchanged_catalogue_costs_no_poweroffice_request(
    pipeline: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    pipeline.run()
    poweroffice_emulator.reset_counters()
    rackbeat_emulator.reset_counters()
    reports = pipeline.poll()
    assert pipeline.drain() == []
    assert [(r.kind, r.changed, r.enqueued) for r in reports] == [
        ("product", 0, 0),
        ("bom", 0, 0),
        ("customer", 0, 0),
        ("invoice", 0, 0),
        ("supplier", 0, 0),
    ]
    assert po_requests(poweroffice_emulator) == {}
    # One list request per kind. The overlap re-reads the newest records at the cursor, but
    # the ledger holds those versions: they are not completed again (no contacts request).
    assert rackbeat_emulator.counters()["requests"] == {
        "GET /api/products": 1,
        "GET /api/lots": 1,
        "GET /api/customers": 1,
        "GET /api/customer-invoices": 1,
        "GET /api/suppliers": 1,
    }


def test_changed_field_is_patched_alone(
    pipeline: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    pipeline.run()
    state = poweroffice_emulator.state()["resources"]
    product = next(p for p in state["Products"] if p["Code"] == "10002")
    # Someone edits another field by hand in PowerOffice Go: a full PUT-like write would
    # overwrite it, a JSON-Patch of only the changed field leaves it alone.
    with poweroffice_emulator.client() as po:
        po.patch(
            f"Products/{product['Id']}",
            json=[{"op": "replace", "path": "/Description", "value": "edited in PO"}],
            headers={"Content-Type": "application/json-patch+json"},
        ).raise_for_status()
    poweroffice_emulator.reset_counters()
    rackbeat_emulator.touch("products", "10002", name="Renamed in Rackbeat")
    pipeline.poll("product")
    results = pipeline.drain()
    assert [(r.kind, r.key, r.outcome) for r in results] == [("product", "10002", "updated")]
    assert po_requests(poweroffice_emulator) == {"PATCH /v2/Products/{id}": 1}
    after = next(
        p for p in poweroffice_emulator.state()["resources"]["Products"] if p["Code"] == "10002"
    )
    assert after["Name"] == "Renamed in Rackbeat"
    assert after["Description"] == "edited in PO"


def test_bad_records_fail_or_skip_with_a_reason_while_the_rest_syncs(
    pipeline: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    rackbeat_emulator.touch("customers", 10003, address_country="Atlantis")
    poweroffice_emulator.set_faults(
        [{"route": "POST /v2/ProductGroups", "error_rate": 1.0, "status": 400, "times": 1}]
    )
    pipeline.run()
    with pipeline.runtime.sessions() as s:
        rows = s.scalars(
            sa.select(EntityLink).where(EntityLink.status.in_(["failed", "skipped"]))
        ).all()
        bad = {(r.kind, r.key): (r.status, r.last_error) for r in rows}
    customer = bad.pop(("customer", "10003"))
    assert customer[0] == "failed"
    assert "address_country" in customer[1]
    assert "Atlantis" in customer[1]
    assert bad.pop(("supplier", "20002")) == ("skipped", "no VAT number")
    product_failures = {k: v for k, v in bad.items() if k[0] == "product"}
    assert len(product_failures) == 1
    ((_, status_reason),) = product_failures.items()
    assert status_reason[0] == "failed"
    assert "product group" in status_reason[1]
    assert "could not be created" in status_reason[1]
    # Invoices of the bad customer fail naming it; everything else synced.
    for (kind, key), (status, reason) in bad.items():
        assert (kind, status) in {("invoice", "failed"), ("product", "failed")}, (kind, key)
        if kind == "invoice":
            assert "customer 10003" in reason
    counts = ledger_counts(pipeline)
    assert counts["customer"] == {"synced": 7, "failed": 1}
    assert writes(poweroffice_emulator)["Products"]["duplicates_refused"] == 0


def test_manual_sync_of_a_key_without_snapshot_fetches_it(
    pipeline: Any, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    pipeline.enqueue("product", ["X+Y"])
    (result,) = pipeline.drain()
    assert (result.kind, result.key, result.status, result.outcome) == (
        "product",
        "X+Y",
        "synced",
        "created",
    )
    with pipeline.runtime.sessions() as s:
        link = get_link(s, "product", "X+Y")
        assert link is not None
        assert link.snapshot is not None
        assert link.snapshot["number"] == "X+Y"
    assert [p["Code"] for p in poweroffice_emulator.state()["resources"]["Products"]] == ["X+Y"]


def test_a_key_rackbeat_does_not_have_is_missing_and_leaves_no_row(pipeline: Any) -> None:
    pipeline.enqueue("customer", ["99999"])
    (result,) = pipeline.drain()
    assert (result.status, result.outcome, result.error) == (
        None,
        "missing",
        "customer 99999: not in Rackbeat",
    )
    with pipeline.runtime.sessions() as s:
        assert get_link(s, "customer", "99999") is None  # nothing for `retry` to re-drive


def test_a_row_an_older_version_made_for_a_missing_key_is_dropped(pipeline: Any) -> None:
    with pipeline.runtime.sessions.begin() as s:
        ensure_link(s, "customer", "99999")  # what a manual sync of a bad key used to leave
    pipeline.enqueue("customer", ["99999"])
    (result,) = pipeline.drain()
    assert (result.status, result.outcome) == (None, "missing")
    with pipeline.runtime.sessions() as s:
        assert get_link(s, "customer", "99999") is None


def test_a_create_whose_answer_is_malformed_is_synced_not_failed(
    pipeline: Any, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    poweroffice_emulator.set_faults(
        [
            # Unexpected types in the answer: the Id is there, so the create simply counts.
            {"route": "POST /v2/Customers", "body_patch": {"MailAddress": "x", "Number": "ten"}},
            # No Id in the answer: the create happened, which record is unknown -> look it up.
            {"route": "POST /v2/Products", "body_patch": {"Id": None}},
        ]
    )
    pipeline.enqueue("customer", ["10001"])
    pipeline.enqueue("product", ["10001"])
    results = pipeline.drain()

    assert [(r.kind, r.status, r.outcome) for r in results] == [
        ("customer", "synced", "created"),
        ("product", "unknown", "unknown"),
        ("product", "synced", "linked"),
    ]
    state = poweroffice_emulator.state()["resources"]
    with pipeline.runtime.sessions() as s:
        customer = get_link(s, "customer", "10001")
        product = get_link(s, "product", "10001")
    assert customer is not None
    assert product is not None
    assert customer.remote_id == str(state["Customers"][0]["Id"])
    assert product.remote_id == str(state["Products"][0]["Id"])
    assert {k: v["created"] for k, v in writes(poweroffice_emulator).items()} == {
        "Customers": 1,
        "ProductGroups": 1,
        "Products": 1,
    }


def test_every_attempt_is_a_row(
    pipeline: Any, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    poweroffice_emulator.set_faults(
        [{"route": "POST /v2/Customers", "error_rate": 1.0, "status": 503, "times": 1}]
    )
    pipeline.enqueue("customer", ["10001"])
    results = pipeline.drain()
    # The 503 came instead of handling (nothing was created): the lookup finds nothing.
    assert [(r.status, r.outcome) for r in results] == [
        ("unknown", "unknown"),
        ("synced", "created"),
    ]
    with pipeline.runtime.sessions() as s:
        link = get_link(s, "customer", "10001")
        assert link is not None
        attempts = s.scalars(
            sa.select(Attempt).where(Attempt.link_id == link.id).order_by(Attempt.id)
        ).all()
    assert [(a.outcome, a.http_status) for a in attempts] == [("unknown", 503), ("created", None)]
    assert writes(poweroffice_emulator)["Customers"]["created"] == 1
    assert Counter(r.status for r in results)["synced"] == 1
    assert link.status == Status.SYNCED
