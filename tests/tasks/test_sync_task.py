"""``rbsync.sync``'s retry budget (embedded app, eager: each retry runs at once, in order)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ledger import Attempt, EntityLink, claim, get_link
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from tasks.poll import poll_kind
from tasks.runtime import runtime_for, set_runtime
from worker.app import create_app

MAX_RETRIES = 2


def test_waiting_for_a_held_dependency_is_not_charged_to_the_retry_budget(
    make_settings: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    # Seen in CI: an invoice spent six of its ten retries waiting for a product that other
    # tasks were still syncing (busy), then two 503s on its own create made it dead.
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    settings = make_settings(sync_max_retries=MAX_RETRIES, retry_backoff_seconds=0.01)
    app = create_app(settings)
    app.loader.import_default_modules()
    runtime = runtime_for(app)
    try:
        for kind in ("product", "bom", "customer", "invoice"):
            poll_kind(runtime, kind, lambda _kind, keys: len(keys))
        with runtime.sessions() as session:
            invoice = session.scalars(
                sa.select(EntityLink).where(EntityLink.kind == "invoice").limit(1)
            ).one()
            assert invoice.snapshot is not None
            customer = str(invoice.snapshot["customer"]["number"])
        # Another (live) worker holds the invoice's customer for the whole test.
        with runtime.sessions.begin() as session:
            assert claim(
                session, "customer", customer, "other", stale_after=runtime.stale_claim_after
            )
        result = app.tasks["rbsync.sync"].apply(args=["invoice", invoice.key])
        assert result.successful()
        assert result.result["status"] == "dead"
        assert "retries exhausted: DependencyPendingError" in result.result["error"]
        with runtime.sessions() as session:
            link = get_link(session, "invoice", invoice.key)
            assert link is not None
            attempts = session.scalar(
                sa.select(sa.func.count()).select_from(Attempt).where(Attempt.link_id == link.id)
            )
        # The budget's own attempts (1 + MAX_RETRIES) plus at most MAX_RETRIES free waits: it
        # ends, later than a record that fails on its own account.
        assert attempts == 1 + 2 * MAX_RETRIES
    finally:
        set_runtime(app, None)


def test_a_record_failing_on_its_own_account_spends_the_budget(
    make_settings: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    settings = make_settings(sync_max_retries=MAX_RETRIES, retry_backoff_seconds=0.01)
    app = create_app(settings)
    app.loader.import_default_modules()
    runtime = runtime_for(app)
    try:
        poll_kind(runtime, "customer", lambda _kind, keys: len(keys))
        poweroffice_emulator.set_faults(
            [{"route": "* /v2/Customers", "error_rate": 1.0, "status": 503}]
        )
        result = app.tasks["rbsync.sync"].apply(args=["customer", "10001"])
        assert result.result["status"] == "dead"
        with runtime.sessions() as session:
            link = get_link(session, "customer", "10001")
            assert link is not None
            attempts = session.scalar(
                sa.select(sa.func.count()).select_from(Attempt).where(Attempt.link_id == link.id)
            )
        assert attempts == 1 + MAX_RETRIES
    finally:
        set_runtime(app, None)
