"""``rbsync.initial_sync`` as a Celery task: a real worker (in this process, private queue).

The task runs the engine for half the task time limit, then sends its own continuation; the
slices together copy everything once.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import sqlalchemy as sa
from celery.signals import before_task_publish

from ledger import InitialSyncItem
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from tasks.initial import INITIAL_SYNC_TASK, LOCK_NAME
from wiring.runtime import Runtime, build_runtime, set_runtime
from wiring.settings import Settings
from worker.app import create_app
from worker.inprocess import in_process_worker

WAIT_LIMIT_SECONDS = 90.0
POLL_SECONDS = 0.05


def _customers_done(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        count = session.scalar(
            sa.select(sa.func.count())
            .select_from(InitialSyncItem)
            .where(InitialSyncItem.kind == "customer", InitialSyncItem.status == "created")
        )
    return int(count or 0)


def test_the_task_works_in_slices_and_copies_everything_once(
    settings: Settings,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    poweroffice_emulator.reset(seed=1, scale=1)
    rackbeat_emulator.reset(empty=True)
    # A 1 s budget per slice (half the time limit) at 25 Rackbeat requests/s: 50 customers
    # take several slices.
    sliced = settings.model_copy(
        update={"task_time_limit_seconds": 2.0, "rackbeat_requests_per_second": 25.0}
    )
    app = create_app(sliced)
    # The worker threads share this runtime (built, and the ledger migrated, before they start).
    runtime = build_runtime(sliced)
    set_runtime(app, runtime)
    queue = f"rbsync.test.initial.{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue
    sent: list[dict[str, Any]] = []

    def on_publish(sender: str | None = None, body: Any = None, **_: Any) -> None:
        if sender == INITIAL_SYNC_TASK:
            sent.append(body[1])

    before_task_publish.connect(on_publish, weak=False)
    try:
        with in_process_worker(app, queue, concurrency=1):
            app.send_task(INITIAL_SYNC_TASK, kwargs={"kinds": ["customers"]}, queue=queue)
            deadline = time.monotonic() + WAIT_LIMIT_SECONDS
            while _customers_done(runtime) < 50:
                assert time.monotonic() < deadline, "the task never finished the customers"
                time.sleep(POLL_SECONDS)
    finally:
        before_task_publish.disconnect(on_publish)
        set_runtime(app, None)

    assert len(sent) >= 3
    assert all(
        kwargs == {"kinds": ["customers"], "dry_run": False, "connection": "default"}
        for kwargs in sent[1:]
    )
    writes = rackbeat_emulator.counters()["writes"]
    assert writes["customers"]["created"] == 50
    assert rackbeat_emulator.counters()["duplicates_refused"] == 0


def test_the_task_does_not_start_while_another_initial_sync_runs(
    settings: Settings, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    poweroffice_emulator.reset(seed=1, scale=1)
    app = create_app(settings)
    runtime = build_runtime(settings)
    set_runtime(app, runtime)
    lock = runtime.locks(LOCK_NAME, 60.0)
    assert lock.acquire()
    try:
        result = app.tasks[INITIAL_SYNC_TASK].apply(kwargs={"kinds": ["units"]})
    finally:
        lock.release()
        set_runtime(app, None)

    assert result.result == {
        "busy": True,
        "error": "another initial sync is running; try again when it ends",
    }
    assert poweroffice_emulator.counters()["requests"] == {}


def test_a_slice_stopped_by_an_unreachable_api_is_retried_within_its_budget(
    settings: Settings,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    poweroffice_emulator.reset(seed=1, scale=1)
    rackbeat_emulator.set_faults([{"route": "GET /api/units", "burst_429": 1000}])
    budgeted = settings.model_copy(update={"sync_max_retries": 2})
    app = create_app(budgeted)
    runtime = build_runtime(budgeted)
    set_runtime(app, runtime)
    try:
        result = app.tasks[INITIAL_SYNC_TASK].apply(kwargs={"kinds": ["units"]})
    finally:
        set_runtime(app, None)

    assert result.state == "FAILURE"
    # Three runs (the first and two retries), each trying the list as often as the client's
    # retry policy allows (5 tries): then the task fails, visible in Flower.
    assert rackbeat_emulator.counters()["requests"]["GET /api/units"] == 3 * 5
    assert rackbeat_emulator.counters()["writes"] == {}
