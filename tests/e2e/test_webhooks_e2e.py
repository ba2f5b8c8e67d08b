"""Webhooks end to end: a real worker, both emulators, the receiver over HTTP.

A change in Rackbeat reaches PowerOffice Go through a delivery without a poll; duplicate
deliveries give one write; a receiver killed between its commit and its answer leaves a row
whose retry by Rackbeat gives no second write; with the broker down the delivery is stored and
synced once the sweep can send it; with no receiver at all the poll catches the change.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from ledger import EntityLink
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from tests.e2e.test_pipeline_e2e import Deployment, production, wait_for
from tests.worker.webhook_helpers import Receiver, receiver_over_http, subscribe
from wiring.runtime import Runtime, build_runtime
from worker.app import create_app
from worker.webhooks.receiver import PATH
from worker.webhooks.registration import register_receiver, unregister_receiver

__all__ = ["production"]

KILLER = Path(__file__).with_name("receiver_killed_after_commit.py")


@pytest.fixture
def runtime(production: Deployment) -> Iterator[Runtime]:
    runtime = build_runtime(production.settings)
    subscribe(runtime)
    try:
        yield runtime
    finally:
        runtime.close()


def _written_name(deployment: Deployment, code: str) -> str | None:
    with deployment.sessions() as s:
        written = s.scalar(
            sa.select(EntityLink.written).where(
                EntityLink.kind == "product", EntityLink.key == code
            )
        )
    return None if not written else written.get("Name")


SUCCEEDED = re.compile(r"Task rbsync\.webhook\[[^\]]+\] succeeded")


def _webhook_tasks_done(deployment: Deployment) -> int:
    """``rbsync.webhook`` tasks the worker finished (its log says so)."""
    return sum(
        len(SUCCEEDED.findall(log.read_text(errors="replace")))
        for log in deployment.logs
        if log.exists()
    )


def _patches(poweroffice: PowerOfficeEmulatorHandle) -> int:
    return int(poweroffice.counters()["requests"].get("PATCH /v2/Products/{id}", 0))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_changes_reach_poweroffice_by_webhook_once(
    production: Deployment,
    runtime: Runtime,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    deployment = production
    with deployment.worker("wh"), receiver_over_http(runtime, deployment.app) as receiver:
        deployment.poll()
        wait_for("the seeded dataset to settle", lambda: deployment.settled(70))
        poweroffice_emulator.reset_counters()

        # Registered with the emulator, which delivers its own change, twice (its fault
        # switch): one PATCH, no poll.
        polls = deployment.poll_cycles_done()
        registered = register_receiver(runtime, receiver.url + PATH)
        assert all(r.webhook_id for r in registered)
        rackbeat_emulator.configure(webhook_fault="duplicate")
        rackbeat_emulator.touch("products", "10002", name="Pushed once")
        wait_for("the pushed change", lambda: _written_name(deployment, "10002") == "Pushed once")
        wait_for("two webhook tasks", lambda: _webhook_tasks_done(deployment) >= 2)
        rackbeat_emulator.configure(webhook_fault=None)
        unregister_receiver(runtime, receiver.url + PATH)
        # A third, late copy by hand (Rackbeat retrying an answer it did not see).
        late = receiver.deliver("product.updated", {"key_name": "number", "key": "10002"})
        assert late.is_success
        wait_for("three webhook tasks", lambda: _webhook_tasks_done(deployment) >= 3)
        assert _patches(poweroffice_emulator) == 1
        assert deployment.poll_cycles_done() == polls
        assert [e["key"] for e in receiver.events()] == ["10002", "10002", "10002"]

        # The receiver dies after its commit, before its answer: Rackbeat retries.
        rackbeat_emulator.touch("products", "10003", name="Pushed after a crash")
        port = _free_port()
        killed = subprocess.Popen(
            [sys.executable, str(KILLER), str(port)],
            env=deployment.env,
            cwd=deployment.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        dying = Receiver(f"http://127.0.0.1:{port}", runtime)
        wait_for("the doomed receiver", lambda: _listening(port), 60, alive=killed)
        with pytest.raises(httpx.TransportError):
            dying.deliver("product.updated", {"key": 10003})
        assert killed.wait(timeout=30) == -9
        (stored,) = [e for e in receiver.events() if e["key"] == "10003"]
        assert stored["sent_at"] is None  # committed, never answered, never sent
        assert receiver.deliver("product.updated", {"key": 10003}).is_success  # the retry
        wait_for("the retried change", lambda: _written_name(deployment, "10003"))
        # The sweep sends the dead receiver's row too: fetched again, unchanged, not written.
        wait_for("the sweep to send the orphan", lambda: _swept(deployment, receiver, "10003"))
        wait_for("five webhook tasks", lambda: _webhook_tasks_done(deployment) >= 5)
        assert _patches(poweroffice_emulator) == 2

        # The broker is down for the receiver: stored, and synced once the sweep can send it.
        rackbeat_emulator.touch("products", "10004", name="Pushed past an outage")
        settings = deployment.settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
        with receiver_over_http(runtime, create_app(settings)) as cut_off:
            assert cut_off.deliver("product.updated", {"key": "10004"}).is_success
        outage = "Pushed past an outage"
        wait_for("the swept change", lambda: _swept(deployment, receiver, "10004", outage))
        assert _patches(poweroffice_emulator) == 3

        # No receiver at all: the poll still catches the change.
        rackbeat_emulator.touch("products", "10005", name="Polled")
        deployment.poll("product")
        wait_for("the polled change", lambda: _written_name(deployment, "10005") == "Polled")
        assert _patches(poweroffice_emulator) == 4


def _listening(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _swept(deployment: Deployment, receiver: Receiver, key: str, name: str | None = None) -> bool:
    """Send a sweep (as beat does); whether every delivery of ``key`` went out (and, with
    ``name``, was written)."""
    with deployment.app.producer_or_acquire() as producer:
        deployment.app.send_task("rbsync.sweep", producer=producer)
    sent = all(e["sent_at"] for e in receiver.events() if e["key"] == key)
    return sent and (name is None or _written_name(deployment, key) == name)
