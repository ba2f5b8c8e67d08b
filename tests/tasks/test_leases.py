"""Leases: the heartbeat keeps a live holder's claims, and a holder that cannot prove its
lease writes nothing (issue 13: claims as leases)."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest

from kinds import registry
from ledger import Status, claim, get_link
from sandbox.testing import PowerOfficeEmulatorHandle
from tasks.pipeline import sync_entity
from wiring.heartbeat import Heartbeat
from wiring.runtime import Runtime


def test_a_holding_is_proven_only_as_long_as_its_last_renewal() -> None:
    now = [0.0]
    heartbeat = Heartbeat(30.0, clock=lambda: now[0])
    failing = [False]

    def renew() -> None:
        if failing[0]:
            raise ConnectionError("ledger unreachable")

    with heartbeat.hold("claims:t", renew) as holding:
        now[0] = 14.0
        assert holding.proven_for(15.0)  # taken at 0: runs until 30
        now[0] = 16.0
        assert not holding.proven_for(15.0)
        heartbeat.beat()  # renewed at 16: runs until 46
        assert holding.proven_for(15.0)
        failing[0] = True
        now[0] = 40.0
        heartbeat.beat()  # fails: logged, and the last renewal still counts
        assert holding.renewed_at == 16.0
        assert not holding.proven_for(15.0)
    heartbeat.stop()


def test_the_heartbeat_thread_renews_what_is_held_and_forgets_what_was_let_go() -> None:
    heartbeat = Heartbeat(0.3)  # renews every 0.1 s
    renewed = threading.Semaphore(0)
    with heartbeat.hold("poll:x", renewed.release):
        for _ in range(3):
            assert renewed.acquire(timeout=10), "the heartbeat thread never renewed"
    while renewed.acquire(timeout=0.5):  # drain a renewal that was under way at the exit
        pass
    assert not renewed.acquire(timeout=0.5)  # let go: renewed no more
    heartbeat.stop()


def test_a_sync_whose_lease_cannot_be_proven_sends_nothing(
    runtime: Runtime, pipeline: Any, poweroffice_emulator: PowerOfficeEmulatorHandle
) -> None:
    pipeline.poll("product")
    kind, key, _ = pipeline.queue[0]
    # A clock that jumps a whole lease between any two readings: the claim is never proven.
    ticks = itertools.count(0.0, runtime.settings.lease_seconds)
    runtime.__dict__["heartbeat"] = Heartbeat(
        runtime.settings.lease_seconds, clock=lambda: float(next(ticks))
    )
    result = sync_entity(runtime, kind, key, "stalled-worker")
    assert (result.outcome, result.status, result.retry) == ("retry", "pending", True)
    assert "could not renew its claim" in (result.error or "")
    # (Its product group is a shared dependency, made once by its own protocol.)
    assert "Products" not in poweroffice_emulator.counters()["writes"]
    with runtime.sessions() as s:
        link = get_link(s, kind, key)
    assert link is not None
    assert (link.status, link.intent, link.claim_token) == (Status.PENDING, None, None)


def test_a_live_holders_rows_are_not_taken_over_after_the_lease(
    runtime: Runtime, pipeline: Any
) -> None:
    """A holder working for three leases keeps its row: its heartbeat renews it."""
    pipeline.poll("customer")
    kind, key, _ = pipeline.queue[0]
    # A 0.6 s lease (below what the settings allow), renewed every 0.2 s.
    runtime.settings = runtime.settings.model_copy(update={"lease_seconds": 0.6})
    runtime.__dict__["heartbeat"] = Heartbeat(0.6)
    handler = registry.get(kind)
    create = type(handler).create
    seen: list[object] = []

    def slow_create(self: Any, rt: Runtime, decision: Any) -> str:
        for _ in range(3):  # another worker tries to take the row meanwhile
            threading.Event().wait(0.6)
            with rt.sessions.begin() as s:
                seen.append(claim(s, kind, key, "other", lease=rt.lease))
        return create(self, rt, decision)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(handler), "create", slow_create)
        result = sync_entity(runtime, kind, key, "busy-worker")
    assert seen == [None, None, None]
    assert (result.status, result.outcome) == (Status.SYNCED, "created")
