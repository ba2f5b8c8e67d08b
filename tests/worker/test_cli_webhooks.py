"""``rbsync webhooks register|list|unregister`` against the Rackbeat emulator, and what a
registration makes possible: the emulator's own deliveries accepted by the receiver."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from kinds.webhook_events import EVENTS
from ledger import finish_poll_cycle, start_poll_cycle, utcnow
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from tasks.webhooks import covered_by_webhooks, disconnection
from tests.e2e.test_pipeline_e2e import wait_for
from tests.worker.cli_helpers import Cli, emulator_env
from tests.worker.webhook_helpers import Receiver, receiver_over_http
from wiring.runtime import Runtime, build_runtime
from wiring.settings import Settings
from worker.app import create_app
from worker.webhooks.receiver import PATH

TOKEN_LIKE = re.compile(r"\b[0-9a-f]{32}\b")


@pytest.fixture
def cli(
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
    tmp_path: Path,
) -> Cli:
    return Cli(emulator_env(rackbeat_emulator, poweroffice_emulator, tmp_path / "data"), tmp_path)


@pytest.fixture
def runtime(cli: Cli) -> Iterator[Runtime]:
    values = {
        "rackbeat_base_url": cli.env["RACKBEAT_BASE_URL"],
        "rackbeat_api_token": cli.env["RACKBEAT_API_TOKEN"],
        "data_dir": cli.env["RBSYNC_DATA_DIR"],
    }
    runtime = build_runtime(Settings(_env_file=None, **values))  # type: ignore[arg-type]
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture
def receiver(runtime: Runtime) -> Iterator[Receiver]:
    with receiver_over_http(runtime, create_app(runtime.settings)) as served:
        yield served


def test_register_list_and_unregister(
    cli: Cli, receiver: Receiver, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    url = receiver.url + PATH
    first = cli("webhooks", "register", "--url", url)
    assert first.exit_code == 0, first.stderr
    assert first.stdout.count("│ created ") == len(EVENTS)
    assert "inferred" in first.stdout
    assert "verified" in first.stdout
    again = cli("webhooks", "register", "--url", url)  # idempotent: the same webhooks
    assert again.exit_code == 0, again.stderr
    assert again.stdout.count("│ updated ") == len(EVENTS)
    with rackbeat_emulator.client() as client:
        hooks = client.get("webhooks").json()["webhooks"]
    assert len(hooks) == len(EVENTS)

    # The emulator delivers its own change; the receiver knows the token from registration.
    rackbeat_emulator.touch("products", "10002", name="Delivered")
    wait_for("the delivery to be stored", receiver.events, 30)
    (event,) = receiver.events()
    assert (event["event"], event["key"], event["account_id"]) == (
        "product.updated",
        "10002",
        "4711",
    )

    listed = cli("webhooks", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    rows = listed.json()["webhooks"]
    assert {r["event"] for r in rows} == {e.name for e in EVENTS}
    assert all(r["token_held"] and r["failures_since_last_success"] == 0 for r in rows)
    assert cli("webhooks", "list").exit_code == 0

    # Tokens: never printed, never in the ledger (only their SHA-256 digests).
    for outcome in (first, again, listed):
        assert not TOKEN_LIKE.search(outcome.stdout + outcome.stderr)
    with receiver.runtime.sessions() as session:
        digests = session.scalars(sa.text("SELECT token_digest FROM webhook_subscriptions")).all()
    assert all(len(d) == 64 for d in digests)

    gone = cli("webhooks", "unregister")
    assert gone.exit_code == 0, gone.stderr
    assert f"Deleted {len(EVENTS)} webhook(s)" in gone.stdout
    with rackbeat_emulator.client() as client:
        assert client.get("webhooks").json()["webhooks"] == []
    refused = receiver.deliver("product.updated", {"key": "10002"})
    assert refused.status_code == 401


def test_a_webhook_without_a_token_in_the_ledger_is_created_again(
    cli: Cli, receiver: Receiver, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    url = receiver.url + PATH
    with rackbeat_emulator.client() as client:  # made by hand: its token is unknown to rbsync
        client.post("webhooks", json={"event": "product.updated", "url": url}).raise_for_status()
    done = cli("webhooks", "register", "--url", url)
    assert done.exit_code == 0, done.stderr
    assert "recreated" in done.stdout
    rackbeat_emulator.touch("products", "10002", name="Delivered")
    wait_for("the delivery to be stored", receiver.events, 30)


def test_plugin_uninstalled_stops_polls_until_registered_again(
    cli: Cli, receiver: Receiver, runtime: Runtime, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    url = receiver.url + PATH
    assert cli("webhooks", "register", "--url", url).exit_code == 0
    assert disconnection(runtime) is None
    assert receiver.deliver("plugin.uninstalled", {}, token=None).status_code == 401
    assert disconnection(runtime) is None
    emitted = rackbeat_emulator.admin.post("webhooks/emit", json={"event": "plugin.uninstalled"})
    assert emitted.json() == {"queued": 1}
    wait_for("the disconnection", lambda: disconnection(runtime), 30)
    status = cli("status")
    assert "DISCONNECTED" in status.stdout
    assert "Polls are stopped" in status.stdout
    assert cli("webhooks", "register", "--url", url).exit_code == 0
    assert disconnection(runtime) is None
    assert "DISCONNECTED" not in cli("status").stdout


def test_scheduled_polls_are_sparser_once_webhooks_are_registered(
    cli: Cli, receiver: Receiver, runtime: Runtime
) -> None:
    now = utcnow()
    with runtime.sessions.begin() as session:
        cycle = start_poll_cycle(session, "product", signpost=now, cursor_from=None)
        finish_poll_cycle(
            session, cycle, status="done", seen=0, changed=0, enqueued=0, cursor_to=None
        )
    later = now + timedelta(seconds=runtime.settings.poll_interval_seconds)
    assert covered_by_webhooks(runtime, "product", now=later) is None  # none registered
    assert cli("webhooks", "register", "--url", receiver.url + PATH).exit_code == 0
    assert covered_by_webhooks(runtime, "product", now=later) is not None
    interval = runtime.settings.webhook_poll_interval_seconds
    assert covered_by_webhooks(runtime, "product", now=now + timedelta(seconds=interval)) is None
