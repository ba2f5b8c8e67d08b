"""``rbsync.sync``'s retry budget (embedded app, eager: each retry runs at once, in order)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from celery import Celery

from ledger import Attempt, EntityLink, claim
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from tasks.errors import EntityFailedError
from tasks.poll import poll_kind
from wiring.runtime import Runtime, runtime_for, set_runtime
from worker.app import create_app

MAX_RETRIES = 2


@pytest.fixture
def eager(
    make_settings: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> Iterator[tuple[Celery, Runtime]]:
    """The embedded app with a retry budget of ``MAX_RETRIES``, and its runtime."""
    rackbeat_emulator.configure(rate_limit_enabled=False)
    poweroffice_emulator.configure(rate_limit_enabled=False)
    settings = make_settings(sync_max_retries=MAX_RETRIES, retry_backoff_seconds=0.01)
    app = create_app(settings)
    app.loader.import_default_modules()
    try:
        yield app, runtime_for(app)
    finally:
        set_runtime(app, None)


def polled(runtime: Runtime, *kinds: str) -> None:
    """Rows and snapshots of ``kinds``, nothing enqueued."""
    for kind in kinds:
        poll_kind(runtime, kind, lambda _kind, keys: len(keys))


def attempts_of(runtime: Runtime, kind: str, key: str) -> int:
    with runtime.sessions() as session:
        return int(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(Attempt)
                .join(EntityLink, Attempt.link_id == EntityLink.id)
                .where(EntityLink.kind == kind, EntityLink.key == key)
            )
            or 0
        )


def test_waiting_for_a_held_dependency_is_not_charged_to_the_retry_budget(
    eager: tuple[Celery, Runtime],
) -> None:
    # Seen in CI: an invoice spent six of its ten retries waiting for a product that other
    # tasks were still syncing (busy), then two 503s on its own create made it dead.
    app, runtime = eager
    polled(runtime, "product", "bom", "customer", "invoice")
    with runtime.sessions() as session:
        invoice = session.scalars(
            sa.select(EntityLink).where(EntityLink.kind == "invoice").limit(1)
        ).one()
    assert invoice.snapshot is not None
    customer = str(invoice.snapshot["customer"]["number"])
    # Another (live) worker holds the invoice's customer for the whole test.
    with runtime.sessions.begin() as session:
        assert claim(session, "customer", customer, "other", lease=runtime.lease)
    result = app.tasks["rbsync.sync"].apply(args=["invoice", invoice.key])
    # The entity is dead in the ledger, so its task is a FAILURE (Flower's Failed tab).
    assert result.state == "FAILURE"
    assert isinstance(result.result, EntityFailedError)
    assert (result.result.kind, result.result.key, result.result.status) == (
        "invoice",
        invoice.key,
        "dead",
    )
    assert "retries exhausted: DependencyPendingError" in result.result.reason
    # The budget's own attempts (1 + MAX_RETRIES) plus at most MAX_RETRIES free waits: it
    # ends, later than a record that fails on its own account.
    assert attempts_of(runtime, "invoice", invoice.key) == 1 + 2 * MAX_RETRIES


def test_a_record_failing_on_its_own_account_spends_the_budget(
    eager: tuple[Celery, Runtime], poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    app, runtime = eager
    polled(runtime, "customer")
    poweroffice_emulator.set_faults(
        [{"route": "* /v2/Customers", "error_rate": 1.0, "status": 503}]
    )
    result = app.tasks["rbsync.sync"].apply(args=["customer", "10001"])
    assert result.state == "FAILURE"
    assert str(result.result).startswith("customer 10001: dead: retries exhausted: ")
    assert attempts_of(runtime, "customer", "10001") == 1 + MAX_RETRIES
