"""Adopting a record this ledger never wrote compares it with what PowerOffice Go holds.

Two ways to get there, both seen in the field (issue 13, items 1 and 4):

- the lost update: a create is sent with the old content and dropped after the commit; a poll
  stores newer content; the lookup finds the create. Recording the *new* mapping as written
  (with no PATCH) left PowerOffice Go with the old content for good;
- a new ledger against a PowerOffice Go that already holds everything (a lost disk, a second
  installation): PATCHing every adopted record again spends the shared budget on nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import BOTH_LEDGERS, Pipeline

from ledger import EntityLink
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from tasks.pipeline import SyncResult, sync_entities, sync_entity
from wiring.runtime import build_runtime
from wiring.settings import Settings

pytestmark = BOTH_LEDGERS


def _ahead(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def _products(poweroffice: PowerOfficeEmulatorHandle) -> dict[str, dict[str, Any]]:
    return {p["Code"]: p for p in poweroffice.state()["resources"]["Products"]}


def _sync(runtime: Any, key: str, token: str, *, batched: bool) -> SyncResult:
    if batched:
        (result,) = sync_entities(runtime, "product", [key], token)
        return result
    return sync_entity(runtime, "product", key, token)


@pytest.mark.parametrize("batched", [False, True])
def test_a_create_dropped_with_old_content_is_patched_to_the_new(
    runtime: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    batched: bool,
) -> None:
    # The exact sequence: the create is sent with the old content and the connection drops
    # after the commit; a poll stores new content; the next attempt's lookup finds the create.
    key = "10001"
    Pipeline(runtime).poll("product")
    poweroffice_emulator.set_faults(
        [{"route": "POST /v2/Products", "commit_then_drop_rate": 1.0, "times": 1}]
    )
    first = _sync(runtime, key, "attempt-1", batched=batched)
    assert (first.outcome, first.status) == ("unknown", "unknown")
    assert poweroffice_emulator.admin.get("faults").json()[0]["injected"] == 1
    old_price = _products(poweroffice_emulator)[key]["UnitPrice"]  # the create landed

    rackbeat_emulator.touch("products", key, sales_price=old_price + 111)
    (report,) = Pipeline(runtime).poll("product")
    assert report.changed == 1
    poweroffice_emulator.reset_counters()
    second = _sync(runtime, key, "attempt-2", batched=batched)

    assert (second.outcome, second.status) == ("updated", "synced")
    product = _products(poweroffice_emulator)[key]
    assert product["UnitPrice"] == old_price + 111  # before the fix: old_price, for good
    writes = poweroffice_emulator.counters()["writes"]["Products"]
    assert (writes["created"], writes["updated"]) == (0, 1)
    with runtime.sessions() as session:
        row = session.query(EntityLink).filter_by(kind="product", key=key).one()
    assert (row.status, row.remote_id) == ("synced", str(product["Id"]))
    assert row.written is not None
    assert row.written["UnitPrice"] == old_price + 111


def test_a_new_ledger_against_a_full_poweroffice_go_writes_only_what_differs(
    pipeline: Pipeline,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    settings: Settings,
    fresh_ledger: Any,
) -> None:
    pipeline.poll("product", "bom", "customer", "supplier")
    pipeline.drain()
    products = _products(poweroffice_emulator)
    assert len(products) == 52
    # One record changed in Rackbeat meanwhile; the ledger is lost (a second installation).
    rackbeat_emulator.touch("products", "10002", sales_price=4321.0)
    second = build_runtime(settings.model_copy(update=fresh_ledger()))
    try:
        poweroffice_emulator.reset_counters()
        fresh = Pipeline(second, batch_size=50)
        fresh.poll("product", "bom", "customer", "supplier")
        results = fresh.drain()
    finally:
        second.close()
    counters = poweroffice_emulator.counters()
    writes = {
        name: {kind: n for kind, n in counts.items() if n}
        for name, counts in counters["writes"].items()
        if any(counts.values())
    }
    # Before the fix: every adopted product and customer was PATCHed again (60 writes).
    assert writes == {"Products": {"updated": 1}}
    by_outcome: dict[str, int] = {}
    for result in results:
        by_outcome[result.outcome] = by_outcome.get(result.outcome, 0) + 1
    # Suppliers are create-only: existing ones are left alone (not ours as far as this ledger
    # knows), and the one without a VAT number is skipped as always (R-SUP-10, R-SUP-11).
    assert by_outcome == {"linked": 52 + 8 - 1, "updated": 1, "skipped": 5}
    assert {r.error for r in results if r.outcome == "skipped"} == {
        "exists; create-only",
        "no VAT number",
    }
    assert _products(poweroffice_emulator)["10002"]["UnitPrice"] == 4321.0


def test_an_update_in_doubt_is_compared_with_what_poweroffice_go_holds_next_time(
    runtime: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    # Written: price P. A PATCH to P+1 commits and its answer is lost (every try the client
    # makes); the record changes back to P in Rackbeat before the retry. Diffed against the
    # ledger's last body (P), nothing would be sent and PowerOffice Go would keep P+1 for good.
    key = "10001"
    Pipeline(runtime).poll("product")
    assert sync_entity(runtime, "product", key, "t-1").outcome == "created"
    price = _products(poweroffice_emulator)[key]["UnitPrice"]
    # Each change a minute apart on Rackbeat's (frozen) clock: two touches within one second
    # would share an updated_at, and the poll rightly skips a version it holds already.
    rackbeat_emulator.configure(frozen_time=_ahead(60))
    rackbeat_emulator.touch("products", key, sales_price=price + 1)
    Pipeline(runtime).poll("product")
    poweroffice_emulator.set_faults(
        [{"route": "PATCH /v2/Products/*", "commit_then_drop_rate": 1.0}]
    )
    in_doubt = sync_entity(runtime, "product", key, "t-2")
    assert (in_doubt.outcome, in_doubt.status) == ("retry", "pending")
    assert poweroffice_emulator.admin.get("faults").json()[0]["injected"] >= 1
    poweroffice_emulator.clear_faults()
    assert _products(poweroffice_emulator)[key]["UnitPrice"] == price + 1  # it landed

    rackbeat_emulator.configure(frozen_time=_ahead(120))
    rackbeat_emulator.touch("products", key, sales_price=price)
    Pipeline(runtime).poll("product")
    with runtime.sessions() as session:
        row = session.query(EntityLink).filter_by(kind="product", key=key).one()
    assert (row.written, row.fingerprint) == (None, None)  # forgotten: the PATCH was in doubt
    after = sync_entity(runtime, "product", key, "t-3")

    assert (after.outcome, after.status) == ("updated", "synced")
    assert _products(poweroffice_emulator)[key]["UnitPrice"] == price
