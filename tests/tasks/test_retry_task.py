"""``rbsync.retry`` re-drives failed/dead/unknown rows from the ledger (embedded app, eager)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledger import get_link
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from wiring.runtime import runtime_for, set_runtime
from worker.app import create_app, embedded_broker_dir


def test_retry_resets_failed_rows_and_enqueues_them(
    make_settings: Any, poweroffice_emulator: PowerOfficeEmulatorHandle, tmp_path: Path
) -> None:
    poweroffice_emulator.configure(rate_limit_enabled=False)
    settings = make_settings()
    app = create_app(settings)
    app.loader.import_default_modules()
    runtime = runtime_for(app)
    try:
        poweroffice_emulator.set_faults(
            [{"route": "POST /v2/Customers", "error_rate": 1.0, "status": 400}]
        )
        from tasks.pipeline import sync_entity

        for key in ("10001", "10002"):
            assert sync_entity(runtime, "customer", key, f"t-{key}").status == "failed"
        queue = embedded_broker_dir(settings) / "queue"
        before = set(queue.iterdir())
        result = app.tasks["rbsync.retry"].apply(kwargs={"kind": "customer", "key": "10002"})
        # .result, not .get(): an in-process worker started earlier in this pytest process
        # sets Celery's process-wide "join would block" flag, and get() then refuses.
        assert result.successful()
        assert result.result == {"requeued": [["customer", "10002"]]}
        with runtime.sessions() as s:
            retried, untouched = get_link(s, "customer", "10002"), get_link(s, "customer", "10001")
        assert retried is not None
        assert untouched is not None
        assert (retried.status, retried.attempts) == ("pending", 0)
        assert untouched.status == "failed"
        sent = [p.name for p in set(queue.iterdir()) - before]
        assert len(sent) == 1
        assert sent[0].endswith(".rbsync.msg")
    finally:
        set_runtime(app, None)


def test_retry_pushes_the_record_as_rackbeat_has_it_now(
    make_settings: Any,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    # An operator fixes the record in Rackbeat, then presses Retry before the next poll.
    poweroffice_emulator.configure(rate_limit_enabled=False)
    rackbeat_emulator.configure(rate_limit_enabled=False)
    rackbeat_emulator.touch("customers", 10003, address_country="Atlantis")
    app = create_app(make_settings())
    app.loader.import_default_modules()
    runtime = runtime_for(app)
    try:
        from tasks.pipeline import sync_entity

        failed = sync_entity(runtime, "customer", "10003", "t-1")
        assert (failed.status, "Atlantis" in (failed.error or "")) == ("failed", True)
        rackbeat_emulator.touch("customers", 10003, address_country="NO")
        result = app.tasks["rbsync.retry"].apply(kwargs={"kind": "customer", "key": "10003"})
        assert result.result == {"requeued": [["customer", "10003"]]}
        with runtime.sessions() as s:
            row = get_link(s, "customer", "10003")
        assert row is not None
        assert row.snapshot is not None
        assert (row.status, row.snapshot["address_country"]) == ("pending", "NO")
        assert sync_entity(runtime, "customer", "10003", "t-2").status == "synced"
    finally:
        set_runtime(app, None)
