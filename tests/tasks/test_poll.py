"""Cursor rules of the poll: boundaries, changes during a poll, a crash mid-poll, the lock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import BOTH_LEDGERS

from kinds import registry
from ledger import get_cursor, get_link, last_poll_cycle, utcnow
from sandbox.testing import RackbeatEmulatorHandle
from tasks.poll import poll_kind
from wiring.runtime import Runtime, build_runtime
from wiring.settings import Settings

pytestmark = BOTH_LEDGERS


class Collect:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def __call__(self, kind: str, keys: list[str]) -> int:
        self.keys.extend(keys)
        return len(keys)


@pytest.fixture
def strict_runtime(rackbeat_emulator: RackbeatEmulatorHandle, make_settings: Any) -> Any:
    """No overlap at all: the boundary must hold by itself (inclusive ``updated_at_from``)."""
    rackbeat_emulator.configure(rate_limit_enabled=False)
    rt = build_runtime(make_settings(poll_overlap_seconds=0.0))
    try:
        yield rt
    finally:
        rt.close()


def test_equal_timestamps_at_the_boundary_are_not_lost(
    strict_runtime: Runtime, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    rackbeat_emulator.configure(frozen_time="2025-06-01T12:00:00+00:00")
    first = Collect()
    poll_kind(strict_runtime, "product", first)
    assert len(first.keys) == 50
    rackbeat_emulator.touch("products", "10001", name="first change")
    second = Collect()
    poll_kind(strict_runtime, "product", second)
    assert second.keys == ["10001"]
    with strict_runtime.sessions() as s:
        cursor = get_cursor(s, "product")
    assert cursor is not None
    assert cursor.isoformat() == "2025-06-01T12:00:00+00:00"
    # Same second as the cursor (the clock is frozen): still found, and only the new change.
    rackbeat_emulator.touch("products", "10002", name="same second")
    third = Collect()
    poll_kind(strict_runtime, "product", third)
    assert third.keys == ["10002"]


def test_a_second_change_within_the_second_of_a_polled_one_is_not_lost(
    strict_runtime: Runtime, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    """Rackbeat stamps whole seconds: a record polled within the second it changed may change
    again under the same stamp. The next poll must read it, not skip it as already held."""
    moment = utcnow().replace(microsecond=0) + timedelta(days=1)
    rackbeat_emulator.configure(frozen_time=moment.isoformat())
    rackbeat_emulator.touch("products", "10001", name="first version")
    first = Collect()
    # The poll reads it within that second (the ledger's clock says so).
    poll_kind(strict_runtime, "product", first, now=lambda: moment)
    assert "10001" in first.keys
    rackbeat_emulator.touch("products", "10001", name="second version, same second")
    second = Collect()
    poll_kind(strict_runtime, "product", second, now=lambda: moment + timedelta(seconds=5))
    assert second.keys == ["10001"]
    with strict_runtime.sessions() as s:
        link = get_link(s, "product", "10001")
    assert link is not None
    assert link.snapshot is not None
    assert link.snapshot["name"] == "second version, same second"
    # Read after its second was over, it is held: an unchanged re-read costs nothing more.
    third = Collect()
    poll_kind(strict_runtime, "product", third, now=lambda: moment + timedelta(seconds=10))
    assert third.keys == []


def test_a_poll_with_no_changes_reads_the_list_alone(
    runtime: Runtime, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    # Customers without an invoice e-mail would each cost a contacts request if re-read
    # records in the overlap window were completed again (R-CUST-6 fallback).
    rackbeat_emulator.configure(frozen_time="2025-06-01T12:00:00+00:00")
    first = Collect()
    poll_kind(runtime, "customer", first)
    assert first.keys
    rackbeat_emulator.reset_counters()
    second = Collect()
    poll_kind(runtime, "customer", second)
    assert second.keys == []
    assert rackbeat_emulator.counters()["requests"] == {"GET /api/customers": 1}


def test_a_new_process_in_embedded_mode_does_not_probe_the_filter_again(
    settings: Settings, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    # Each `rbsync sync --once` is a new process with its own runtime: without Redis the
    # probe's answer is kept in the ledger, so an unchanged catalogue costs one list request
    # per kind, not two.
    assert settings.redis_url is None
    rackbeat_emulator.configure(frozen_time="2025-06-01T12:00:00+00:00")
    kinds = registry.names()
    first = build_runtime(settings)
    try:
        for kind in kinds:
            poll_kind(first, kind, Collect())
    finally:
        first.close()
    rackbeat_emulator.reset_counters()

    second = build_runtime(settings)
    try:
        changed = Collect()
        for kind in kinds:
            poll_kind(second, kind, changed)
    finally:
        second.close()

    assert changed.keys == []
    assert rackbeat_emulator.counters()["requests"] == {
        "GET /api/products": 1,
        "GET /api/lots": 1,
        "GET /api/customers": 1,
        "GET /api/customer-invoices": 1,
        "GET /api/suppliers": 1,
    }


def test_a_record_changed_during_the_poll_is_read_by_the_next(
    runtime: Runtime, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    touched: list[str] = []

    def enqueue_and_change(kind: str, keys: list[str]) -> int:
        if not touched:  # after the first batch is committed, a user edits a record read in it
            rackbeat_emulator.touch("products", keys[0], name="edited mid-poll")
            touched.append(keys[0])
        return len(keys)

    report = poll_kind(runtime, "product", enqueue_and_change, batch_size=10)
    assert report.seen == 50
    with runtime.sessions() as s:
        cursor = get_cursor(s, "product")
        cycle = last_poll_cycle(s, "product")
    assert cycle is not None
    assert cursor is not None
    assert cursor <= cycle.started_at  # never past the signpost
    again = Collect()
    poll_kind(runtime, "product", again)
    assert again.keys == [touched[0]]
    with runtime.sessions() as s:
        link = get_link(s, "product", touched[0])
    assert link is not None
    assert link.snapshot is not None
    assert link.snapshot["name"] == "edited mid-poll"


def test_a_crash_mid_poll_loses_nothing(runtime: Runtime) -> None:
    class Crash(Exception):
        pass

    def crash_after_commit(kind: str, keys: list[str]) -> int:
        raise Crash("worker killed between the ledger commit and the enqueue")

    with pytest.raises(Crash):
        poll_kind(runtime, "product", crash_after_commit, batch_size=10)
    with runtime.sessions() as s:
        assert get_cursor(s, "product") is None  # the cursor did not move
        cycle = last_poll_cycle(s, "product")
    assert cycle is not None
    assert (cycle.status, cycle.seen, cycle.changed) == ("failed", 10, 10)
    assert "worker killed" in (cycle.error or "")
    recovered = Collect()
    report = poll_kind(runtime, "product", recovered)
    # The 10 committed but never enqueued are sent first (the outbox's drain), the other 40
    # as new content; each exactly once.
    assert sorted(recovered.keys) == sorted(set(recovered.keys))
    assert len(recovered.keys) == 50
    assert (report.requeued, report.enqueued) == (10, 40)


def test_only_one_poll_per_kind_at_a_time(runtime: Runtime) -> None:
    held = runtime.locks("poll:customer", 60)
    assert held.acquire()
    try:
        blocked = Collect()
        report = poll_kind(runtime, "customer", blocked)
        assert report.skipped is True
        assert blocked.keys == []
        other_kind = Collect()
        assert poll_kind(runtime, "supplier", other_kind).skipped is False
    finally:
        held.release()
    after = Collect()
    assert poll_kind(runtime, "customer", after).skipped is False
    assert len(after.keys) == 8


def test_a_poll_cut_off_keeps_the_progress_of_its_committed_batches(runtime: Runtime) -> None:
    sent: list[str] = []

    class Cut(Exception):
        pass

    def cut_at_third_batch(kind: str, keys: list[str]) -> int:
        if len(sent) == 20:
            raise Cut("time limit")
        sent.extend(keys)
        return len(keys)

    with pytest.raises(Cut):
        poll_kind(runtime, "product", cut_at_third_batch, batch_size=10)
    with runtime.sessions() as s:
        cursor = get_cursor(s, "product")
        firsts = [get_link(s, "product", key) for key in sent]
    assert cursor is not None
    assert cursor == max(link.source_updated_at for link in firsts if link is not None)
    rest = Collect()
    poll_kind(runtime, "product", rest)
    # The 30 not yet enqueued, each once; the 20 done are not sent again.
    assert len(rest.keys) == len(set(rest.keys)) == 30
    assert not set(rest.keys) & set(sent)
