"""``rbsync reconcile`` against the emulators over HTTP: it finds what was lost, duplicated,
edited by hand, missed or left stuck; ``--repair`` fixes what it may; a second run is clean."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cli_helpers import Cli, emulator_env, one_line_error, settings_of

from clients import set_testing
from ledger import EntityLink, Status, get_cursor, get_link, last_reconcile_run, utcnow
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from wiring.runtime import Runtime, build_runtime

CLEAN = {"missing": 0, "duplicates": 0, "drift": 0, "missed": 0, "stuck": 0}


@pytest.fixture(autouse=True)
def _no_client_waits() -> Iterator[None]:
    set_testing(True)
    try:
        yield
    finally:
        set_testing(False)


@pytest.fixture
def cli(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
) -> Cli:
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    return Cli(emulator_env(rackbeat_emulator, poweroffice_emulator, tmp_path / "data"), tmp_path)


@pytest.fixture
def synced(cli: Cli) -> Iterator[Runtime]:
    """A full sync of the seeded dataset; the ledger's runtime to read and bend it."""
    assert cli("sync", "--once").exit_code == 0
    runtime = build_runtime(settings_of(cli))
    try:
        yield runtime
    finally:
        runtime.close()


def _counts(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {kind: body["counts"] for kind, body in report["kinds"].items()}


def _differences(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {
        kind: {c: n for c, n in counts.items() if n}
        for kind, counts in _counts(report).items()
        if any(counts.values())
    }


def _records(poweroffice: PowerOfficeEmulatorHandle, resource: str) -> list[dict[str, Any]]:
    return list(poweroffice.state()["resources"][resource])


def _delete_unused_product(poweroffice: PowerOfficeEmulatorHandle, codes: set[str]) -> str:
    """Delete, by hand, one of our products that no sales order uses; its code."""
    used = {
        line.get("ProductCode")
        for order in _records(poweroffice, "SalesOrders")
        for line in order.get("SalesOrderLines") or []
    }
    used |= {
        line.get("ProductId")
        for order in _records(poweroffice, "SalesOrders")
        for line in order.get("SalesOrderLines") or []
    }
    with poweroffice.client() as po:
        for product in _records(poweroffice, "Products"):
            if product["Code"] in codes and not {product["Code"], product["Id"]} & used:
                po.delete(f"Products/{product['Id']}").raise_for_status()
                return str(product["Code"])
    raise AssertionError("every product is used by a sales order")


def test_a_full_sync_reconciles_clean(cli: Cli, synced: Runtime) -> None:
    outcome = cli("reconcile", "--json")
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    report = outcome.json()
    assert report["clean"] is True
    assert _differences(report) == {}
    assert report["kinds"]["product"]["read"]["ledger"] == 50
    assert report["kinds"]["product"]["read"]["rackbeat"] == 50
    table = cli("reconcile")
    assert table.exit_code == 0
    assert "Clean: PowerOffice Go, Rackbeat and the ledger agree." in table.stdout
    with synced.sessions() as session:
        run = last_reconcile_run(session)
        assert run is not None
        assert (run.status, run.differences, run.trigger) == ("clean", 0, "cli")


def test_reconcile_finds_each_difference_repairs_what_it_may_and_ends_clean(
    cli: Cli,
    synced: Runtime,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    with synced.sessions() as session:
        products = set(
            session.scalars(sa.select(EntityLink.key).where(EntityLink.kind == "product"))
        )
        cursor = get_cursor(session, "product")
        customer = get_link(session, "customer", "10001")
        stuck = get_link(session, "customer", "10002")
    assert cursor is not None
    assert customer is not None
    assert stuck is not None
    assert customer.remote_id is not None

    # 1. A product deleted in PowerOffice Go by hand.
    deleted = _delete_unused_product(poweroffice_emulator, products)
    # 2. A customer edited there by hand.
    with poweroffice_emulator.client() as po:
        po.patch(
            f"Customers/{customer.remote_id}",
            json=[{"op": "replace", "path": "/Name", "value": "Edited by hand AS"}],
            headers={"Content-Type": "application/json-patch+json"},
        ).raise_for_status()
    # 3. A second product with an existing Code (an import past the API's rules).
    original = next(
        p
        for p in _records(poweroffice_emulator, "Products")
        if p["Code"] in products and p["Code"] != deleted
    )
    copy = poweroffice_emulator.duplicate("Products", original["Id"])
    # 4. A Rackbeat change whose updated_at lands behind the cursor (less the overlap).
    behind = cursor - timedelta(seconds=60)
    missed = next(
        key
        for key in sorted(products - {deleted, original["Code"]})
        if (link := _link(synced, "product", key)).source_updated_at is not None
        and link.source_updated_at < behind - timedelta(seconds=1)
    )
    rackbeat_emulator.configure(frozen_time=behind.isoformat())
    rackbeat_emulator.touch("products", missed, name="Changed behind the cursor")
    rackbeat_emulator.configure(frozen_time=None)
    # 5. A row left in flight by a killed worker: its lease ran out.
    with synced.sessions.begin() as session:
        session.execute(
            sa.update(EntityLink)
            .where(EntityLink.id == stuck.id)
            .values(
                status=Status.IN_FLIGHT.value,
                claim_token="killed-worker",
                lease_until=utcnow() - timedelta(minutes=1),
                due_at=None,
            )
        )

    found = cli("reconcile", "--json")
    assert found.exit_code == 1, found.stdout + found.stderr
    report = found.json()
    assert report["clean"] is False
    assert _differences(report) == {
        "product": {"missing": 1, "duplicates": 1, "missed": 1},
        "customer": {"drift": 1, "stuck": 1},
    }
    product, customers = report["kinds"]["product"], report["kinds"]["customer"]
    assert [e["key"] for e in product["missing"]] == [deleted]
    assert product["duplicates"] == [
        {
            "reference": original["Code"].casefold(),
            "ids": sorted([str(original["Id"]), str(copy["Id"])]),
        }
    ]
    assert [(e["key"], e["in_ledger"]) for e in product["missed"]] == [(missed, True)]
    assert customers["drift"] == [
        {"key": "10001", "remote_id": customer.remote_id, "fields": ["Name"]}
    ]
    assert customers["stuck"] == [{"key": "10002", "why": "expired"}]
    text = cli("reconcile", "--kind", "customer")
    assert text.exit_code == 1
    assert "customer drift: 10001" in text.stdout
    assert "Name edited" in text.stdout

    repaired = cli("reconcile", "--repair", "--json")
    assert repaired.exit_code == 1, repaired.stdout + repaired.stderr
    body = repaired.json()
    assert body["sent"] == "here"
    assert body["kinds"]["product"]["repaired"] == {"recreated": 1, "missed": 1}
    assert body["kinds"]["customer"]["repaired"] == {"stuck": 1}
    assert {(r["kind"], r["key"], r["status"]) for r in body["synced_here"]} == {
        ("product", deleted, "synced"),
        ("product", missed, "synced"),
        ("customer", "10002", "synced"),
    }
    recreated = [p for p in _records(poweroffice_emulator, "Products") if p["Code"] == deleted]
    assert len(recreated) == 1
    changed = next(p for p in _records(poweroffice_emulator, "Products") if p["Code"] == missed)
    assert changed["Name"] == "Changed behind the cursor"

    # Hand edits and duplicates are left alone by --repair.
    after = cli("reconcile", "--json")
    assert after.exit_code == 1
    assert _differences(after.json()) == {"product": {"duplicates": 1}, "customer": {"drift": 1}}
    held = next(
        c for c in _records(poweroffice_emulator, "Customers") if str(c["Id"]) == customer.remote_id
    )
    assert held["Name"] == "Edited by hand AS"

    # --overwrite-drift puts rbsync's content back; the duplicate is for a person to remove.
    overwritten = cli("reconcile", "--repair", "--overwrite-drift", "--json")
    assert overwritten.exit_code == 1
    assert overwritten.json()["kinds"]["customer"]["repaired"] == {"overwritten": 1}
    held = next(
        c for c in _records(poweroffice_emulator, "Customers") if str(c["Id"]) == customer.remote_id
    )
    assert held["Name"] == customer.written["Name"]  # type: ignore[index]
    with poweroffice_emulator.client() as po:
        po.delete(f"Products/{copy['Id']}").raise_for_status()

    clean = cli("reconcile", "--json")
    assert clean.exit_code == 0, clean.stdout
    assert _differences(clean.json()) == {}
    status = cli("status", "--json").json()
    assert status["last_reconcile"]["status"] == "clean"


def test_a_rackbeat_record_the_ledger_never_saw_is_missed_and_repaired(
    cli: Cli, synced: Runtime, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    with synced.sessions.begin() as session:
        session.execute(
            sa.delete(EntityLink).where(EntityLink.kind == "supplier", EntityLink.key == "20001")
        )
    found = cli("reconcile", "--kind", "supplier", "--json")
    assert found.exit_code == 1
    assert found.json()["kinds"]["supplier"]["missed"] == [
        {
            "key": "20001",
            "rackbeat_updated_at": found.json()["kinds"]["supplier"]["missed"][0][
                "rackbeat_updated_at"
            ],
            "ledger_updated_at": None,
            "in_ledger": False,
        }
    ]
    assert cli("reconcile", "--kind", "supplier", "--repair").exit_code == 1
    assert cli("reconcile", "--kind", "supplier").exit_code == 0
    link = _link(synced, "supplier", "20001")
    assert link.status in ("synced", "skipped"), link.last_error


def test_overwrite_drift_needs_repair_and_an_unknown_kind_is_refused(cli: Cli) -> None:
    refused = cli("reconcile", "--overwrite-drift")
    assert refused.exit_code == 2
    assert "--overwrite-drift works only with --repair" in refused.stderr
    unknown = cli("reconcile", "--kind", "nope")
    assert unknown.exit_code == 2


def _link(runtime: Runtime, kind: str, key: str) -> EntityLink:
    with runtime.sessions() as session:
        link = get_link(session, kind, key)
    assert link is not None
    return link


def _customer(poweroffice: PowerOfficeEmulatorHandle, remote_id: str) -> dict[str, Any]:
    return next(c for c in _records(poweroffice, "Customers") if str(c["Id"]) == remote_id)


def test_a_reconcile_that_cannot_read_is_kept_as_failed_and_exits_2(
    cli: Cli, synced: Runtime, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    poweroffice_emulator.set_faults(
        [{"route": "GET /v2/Products", "error_rate": 1.0, "status": 403}]
    )
    outcome = cli("reconcile")
    assert outcome.exit_code == 2
    assert "Traceback" not in outcome.stderr
    assert "403" in one_line_error(outcome)
    status = cli("status", "--json").json()["last_reconcile"]
    assert status["status"] == "failed"
    assert "403" in status["error"]
    assert "Last reconcile: " in cli("status").stdout
    assert ": failed: " in cli("status").stdout


def test_an_invoice_draft_deleted_in_poweroffice_is_reported_never_made_again(
    cli: Cli, synced: Runtime, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    order = _records(poweroffice_emulator, "SalesOrders")[0]
    with poweroffice_emulator.client() as po:
        po.delete(f"SalesOrders/{order['Id']}").raise_for_status()
    outcome = cli("reconcile", "--kind", "invoice", "--repair", "--json")
    assert outcome.exit_code == 1
    invoice = outcome.json()["kinds"]["invoice"]
    assert [e["remote_id"] for e in invoice["missing"]] == [str(order["Id"])]
    assert "repaired" not in invoice
    assert "never created again" in invoice["notes"][0]
    assert len(_records(poweroffice_emulator, "SalesOrders")) == 4  # 5 synced, 1 deleted
    assert cli("reconcile", "--kind", "invoice").exit_code == 1  # still reported
