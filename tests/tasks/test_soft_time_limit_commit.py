"""The soft time limit firing inside a ledger commit (issue 13), in this process.

A real worker cannot place the signal inside a commit precisely, so these tests raise
``SoftTimeLimitExceeded`` from SQLAlchemy's ``commit`` event (before the COMMIT is sent) of the
first commit after a create was answered: the commit that records the outcome. The row must
never stay ``in_flight`` for good, and nothing may be written to PowerOffice Go twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from celery.exceptions import SoftTimeLimitExceeded
from conftest import BOTH_LEDGERS, Pipeline

from ledger import EntityLink, utcnow
from sandbox.testing import PowerOfficeEmulatorHandle
from tasks.pipeline import sync_entities, sync_entity
from tasks.sweep import sweep_once
from wiring.runtime import Runtime, build_runtime

pytestmark = BOTH_LEDGERS


class SoftLimitInCommit:
    """Raises the soft limit from the next commit once armed (then never again)."""

    def __init__(self) -> None:
        self.armed = False
        self.fired = 0

    def __call__(self, conn: Any) -> None:
        # The task's own thread only (the signal lands there, not in the heartbeat's renewals).
        if self.armed and threading.current_thread() is threading.main_thread():
            self.armed = False
            self.fired += 1
            raise SoftTimeLimitExceeded()


@pytest.fixture
def short_lease(settings: Any, make_settings: Any) -> Iterator[Runtime]:
    """The test's ledger with a 3 s lease (``settings``: the emulators' limits off)."""
    runtime = build_runtime(make_settings(lease_seconds=3.0))
    try:
        yield runtime
    finally:
        runtime.close()


def _arm_after_creates(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, fault: SoftLimitInCommit
) -> None:
    real = runtime.poweroffice.create_product

    def create_then_arm(payload: Any) -> Any:
        created = real(payload)
        fault.armed = True  # the next commit is the one that records this create
        return created

    monkeypatch.setattr(runtime.poweroffice, "create_product", create_then_arm)


def _row(runtime: Runtime, key: str) -> EntityLink:
    with runtime.sessions() as s:
        row = s.scalar(
            sa.select(EntityLink).where(EntityLink.kind == "product", EntityLink.key == key)
        )
    assert row is not None
    return row


def test_the_soft_limit_in_the_outcome_commit_of_one_entity_leaves_it_in_doubt(
    short_lease: Runtime,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = short_lease
    Pipeline(runtime).poll("product")
    fault = SoftLimitInCommit()
    sa.event.listen(runtime.engine, "commit", fault)
    _arm_after_creates(runtime, monkeypatch, fault)
    first = sync_entity(runtime, "product", "10001", "t-1")
    assert fault.fired == 1  # the fault was injected in the commit after the create
    # The outcome commit was cut: the attempt is recorded as in doubt, the row not held.
    assert (first.status, first.retry) == ("unknown", True)
    assert "SoftTimeLimitExceeded" in (first.error or "")
    assert _row(runtime, "10001").status == "unknown"
    again = sync_entity(runtime, "product", "10001", "t-2")
    assert (again.outcome, again.status) == ("linked", "synced")
    assert poweroffice_emulator.counters()["writes"]["Products"]["created"] == 1
    assert poweroffice_emulator.counters()["duplicates_refused"] == 0


def test_the_soft_limit_in_a_batchs_outcome_commit_is_swept_and_adopted_once(
    short_lease: Runtime,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = short_lease
    pipeline = Pipeline(runtime, batch_size=50)
    pipeline.poll("product")
    keys = [key for _, key, _ in pipeline.queue][:5]
    pipeline.queue.clear()
    fault = SoftLimitInCommit()
    sa.event.listen(runtime.engine, "commit", fault)
    real = runtime.poweroffice.create_product
    sent: list[str] = []

    def create_then_arm(payload: Any) -> Any:
        created = real(payload)
        sent.append(payload.to_wire()["Code"])
        fault.armed = True  # the next commit of this thread is the batch's outcome commit
        return created

    monkeypatch.setattr(runtime.poweroffice, "create_product", create_then_arm)
    # The batch's outcomes are written in one commit after its creates: the soft limit there
    # ends the task (the worker acks it as failed), with its rows still held.
    with pytest.raises(SoftTimeLimitExceeded):
        sync_entities(runtime, "product", keys, "batch-1")
    assert fault.fired == 1
    sa.event.remove(runtime.engine, "commit", fault)
    monkeypatch.setattr(runtime.poweroffice, "create_product", real)
    assert sent  # creates were answered before the commit that was cut
    assert {_row(runtime, key).status for key in keys} == {"in_flight"}
    # Not for good: once the lease runs out (nothing renews it), the sweep sends them again.
    swept: list[str] = []
    expired = 0
    deadline = time.monotonic() + 30
    # Until the held rows come back (a first sweep may only find the 45 polled rows this test
    # never sent: with an idle queue they count as lost once a lease past due).
    while not set(keys) <= set(swept) and time.monotonic() < deadline:
        report = sweep_once(
            runtime,
            lambda _connection, kind, found: swept.extend(found) or len(found),
            lambda: (True, None),
        )
        expired += report.expired
        if not set(keys) <= set(swept):
            time.sleep(0.2)
    assert set(keys) <= set(swept)
    assert expired == len(keys)
    assert utcnow() >= max(_row(runtime, key).lease_until for key in keys)  # type: ignore[type-var]
    pipeline.queue.extend(("product", key, True) for key in swept)
    results = pipeline.drain()
    # What was created is adopted, not created again; the rest is created now, once each.
    outcomes = {r.key: (r.outcome, r.status) for r in results}
    assert {outcomes[key] for key in sent} == {("linked", "synced")}
    assert {_row(runtime, key).status for key in swept} == {"synced"}
    writes = poweroffice_emulator.counters()["writes"]["Products"]
    assert writes["created"] == 50
    assert poweroffice_emulator.counters()["duplicates_refused"] == 0
