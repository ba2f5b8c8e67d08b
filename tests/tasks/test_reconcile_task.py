"""``rbsync.reconcile``, the task beat sends weekly (embedded app, eager): it keeps its result
in the ledger, repairs only when ``RBSYNC_RECONCILE_REPAIR`` says so (never hand edits), and
one run at a time."""

from __future__ import annotations

from typing import Any

import pytest

from ledger import get_link, last_reconcile_run, upgrade
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from tasks.pipeline import sync_entity
from tasks.poll import poll_kind
from wiring.runtime import runtime_for, set_runtime
from worker.app import create_app, embedded_broker_dir


def _setup(
    make_settings: Any,
    rackbeat: RackbeatEmulatorHandle,
    poweroffice: PowerOfficeEmulatorHandle,
    **overrides: Any,
) -> Any:
    rackbeat.configure(rate_limit_enabled=False)
    poweroffice.configure(rate_limit_enabled=False)
    app = create_app(make_settings(**overrides))
    app.loader.import_default_modules()
    runtime = runtime_for(app)
    keys: list[str] = []

    def enqueue(kind: str, batch: list[str]) -> int:
        keys.extend(batch)
        return len(batch)

    poll_kind(runtime, "customer", enqueue)
    for key in keys:
        assert sync_entity(runtime, "customer", key, f"t-{key}").status == "synced"
    return app


def _delete_customer(poweroffice: PowerOfficeEmulatorHandle, remote_id: str) -> None:
    with poweroffice.client() as po:
        po.delete(f"Customers/{remote_id}").raise_for_status()


def test_the_scheduled_reconcile_keeps_its_result_and_reports_without_repairing(
    make_settings: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    app = _setup(make_settings, rackbeat_emulator, poweroffice_emulator)
    runtime = runtime_for(app)
    try:
        with runtime.sessions() as session:
            link = get_link(session, "customer", "10004")
        assert link is not None
        assert link.remote_id is not None
        _delete_customer(poweroffice_emulator, link.remote_id)
        result = app.tasks["rbsync.reconcile"].apply(kwargs={"kinds": ["customer"]})
        assert result.successful()
        assert result.result["kinds"]["customer"]["missing"] == [
            {"key": "10004", "remote_id": link.remote_id}
        ]
        assert "repaired" not in result.result["kinds"]["customer"]
        with runtime.sessions() as session:
            run = last_reconcile_run(session)
            row = get_link(session, "customer", "10004")
        assert run is not None
        assert row is not None
        assert (run.status, run.trigger, run.differences, run.repair) == (
            "differences",
            "beat",
            1,
            False,
        )
        assert run.report["customer"]["counts"]["missing"] == 1
        assert row.status == "synced"  # reported, left alone
    finally:
        set_runtime(app, None)


@pytest.mark.parametrize("ledger", ["sqlite", "postgresql"])
def test_with_reconcile_repair_the_scheduled_run_sends_the_lost_records_again(
    make_settings: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    request: pytest.FixtureRequest,
    ledger: str,
) -> None:
    database: dict[str, Any] = {}
    if ledger == "postgresql":
        url = request.getfixturevalue("postgres_url")
        upgrade(url)
        database["database_url"] = url
    app = _setup(
        make_settings, rackbeat_emulator, poweroffice_emulator, reconcile_repair=True, **database
    )
    runtime = runtime_for(app)
    try:
        with runtime.sessions() as session:
            link = get_link(session, "customer", "10004")
        assert link is not None
        assert link.remote_id is not None
        _delete_customer(poweroffice_emulator, link.remote_id)
        queue = embedded_broker_dir(runtime.settings) / "queue"
        before = set(queue.iterdir())
        result = app.tasks["rbsync.reconcile"].apply(kwargs={"kinds": ["customer"]})
        assert result.result["kinds"]["customer"]["repaired"] == {"recreated": 1}
        assert len(set(queue.iterdir()) - before) == 1  # one sync message, for the workers
        with runtime.sessions() as session:
            row = get_link(session, "customer", "10004")
        assert row is not None
        assert (row.status, row.remote_id, row.written) == ("pending", None, None)
        assert sync_entity(runtime, "customer", "10004", "t-again").status == "synced"
        again = app.tasks["rbsync.reconcile"].apply(kwargs={"kinds": ["customer"]})
        assert again.result["differences"] == 0
    finally:
        set_runtime(app, None)


def test_a_reconcile_already_running_makes_the_next_one_skip(
    make_settings: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    app = _setup(make_settings, rackbeat_emulator, poweroffice_emulator)
    runtime = runtime_for(app)
    lock = runtime.locks("reconcile", 60)
    assert lock.acquire()
    try:
        result = app.tasks["rbsync.reconcile"].apply()
        assert result.result == {"skipped": "another reconcile is running"}
        with runtime.sessions() as session:
            assert last_reconcile_run(session) is None
    finally:
        lock.release()
        set_runtime(app, None)
