"""The Rackbeat emulator's webhooks over HTTP: management, deliveries, retries, faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.server import serve_in_thread
from sandbox.testing import RackbeatEmulatorHandle
from tests.e2e.test_pipeline_e2e import wait_for


class Sink:
    """A receiving endpoint that records deliveries and answers the statuses it is given."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.delay = 0.0
        self._lock = threading.Lock()

    async def receive(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.received.append({"headers": dict(request.headers), "body": body})
            status = self.statuses.pop(0) if self.statuses else 200
        if self.delay:
            time.sleep(self.delay)  # a receiver too slow to answer in time
        return JSONResponse({}, status_code=status)


@pytest.fixture
def sink() -> Iterator[tuple[Sink, str]]:
    target = Sink()
    server = serve_in_thread(Starlette(routes=[Route("/hook", target.receive, methods=["POST"])]))
    try:
        yield target, f"http://{server.host}:{server.port}/hook"
    finally:
        server.stop()


def _create(rb: RackbeatEmulatorHandle, event: str, url: str) -> tuple[int, dict[str, Any]]:
    with rb.client() as client:
        answer = client.post("webhooks", json={"event": event, "url": url})
    return answer.status_code, answer.json()["webhook"]


def test_create_returns_a_token_once_and_updates_the_same_event_and_url(
    rackbeat_emulator: RackbeatEmulatorHandle,
) -> None:
    status, created = _create(rackbeat_emulator, "product.updated", "https://x.example/h")
    assert status == 201
    assert len(created["token"]) == 32
    assert created["failures_since_last_success"] == 0
    status, again = _create(rackbeat_emulator, "product.updated", "https://x.example/h")
    assert (status, again["id"]) == (200, created["id"])
    assert "token" not in again
    _create(rackbeat_emulator, "customer.updated", "https://x.example/h")
    with rackbeat_emulator.client() as client:
        listed = client.get("webhooks", params={"event": "product.updated"}).json()["webhooks"]
        assert [w["id"] for w in listed] == [created["id"]]
        assert all("token" not in w for w in client.get("webhooks").json()["webhooks"])
        assert client.delete(f"webhooks/{created['id']}").status_code == 204
        assert client.delete(f"webhooks/{created['id']}").status_code == 404
        assert len(client.get("webhooks").json()["webhooks"]) == 1
        refused = client.post("webhooks", json={"event": "product.updated", "url": "ftp://x"})
        assert refused.status_code == 422


def test_changes_are_delivered_with_rackbeats_headers(
    rackbeat_emulator: RackbeatEmulatorHandle, sink: tuple[Sink, str]
) -> None:
    target, url = sink
    _, product_hook = _create(rackbeat_emulator, "product.updated", url)
    _, customer_hook = _create(rackbeat_emulator, "customer.updated", url)
    rackbeat_emulator.touch("products", "10002", name="Touched")  # a user in Rackbeat
    with rackbeat_emulator.client() as client:  # an API write
        client.put("customers/10001", json={"company_name": "Renamed"}).raise_for_status()
    wait_for("two deliveries", lambda: len(target.received) == 2, 30)
    by_event = {d["headers"]["rackbeat-webhook-event"]: d for d in target.received}
    product = by_event["product.updated"]
    assert product["body"] == {"key_name": "number", "key": "10002"}
    assert product["headers"]["rackbeat-webhook-token"] == product_hook["token"]
    assert product["headers"]["rackbeat-account-id"] == "4711"
    assert product["headers"]["user-agent"] == "Rackbeat Webhook"
    customer = by_event["customer.updated"]
    assert customer["body"]["key"] == 10001
    assert customer["headers"]["rackbeat-webhook-token"] == customer_hook["token"]


def test_failures_are_retried_with_backoff_counted_and_logged(
    rackbeat_emulator: RackbeatEmulatorHandle, sink: tuple[Sink, str]
) -> None:
    target, url = sink
    rackbeat_emulator.configure(webhook_retry_base_seconds=0.05, webhook_timeout_seconds=0.5)
    _, hook = _create(rackbeat_emulator, "product.updated", url)
    target.statuses = [500, 503]
    rackbeat_emulator.touch("products", "10002", name="Retried")
    wait_for("the third attempt", lambda: len(target.received) == 3, 30)

    def logs() -> list[dict[str, Any]]:
        with rackbeat_emulator.client() as client:
            entries: list[dict[str, Any]] = client.get(f"webhooks/{hook['id']}/logs").json()["logs"]
        return entries

    wait_for("three log entries", lambda: len(logs()) == 3, 30)
    assert [(e["attempt"], e["status"], e["success"]) for e in reversed(logs())] == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]
    with rackbeat_emulator.client() as client:
        assert (
            client.get(f"webhooks/{hook['id']}").json()["webhook"]["failures_since_last_success"]
            == 0
        )

    # A receiver that answers too late: a failure, counted, and tried again.
    target.delay = 1.0
    rackbeat_emulator.configure(webhook_retry_base_seconds=30.0)
    rackbeat_emulator.touch("products", "10002", name="Too slow")

    def failures() -> int:
        with rackbeat_emulator.client() as client:
            webhook = client.get(f"webhooks/{hook['id']}").json()["webhook"]
        return int(webhook["failures_since_last_success"])

    wait_for("a timed-out delivery", lambda: failures() == 1, 30)
    assert logs()[0]["error"] == "ReadTimeout"


@pytest.mark.parametrize(("fault", "copies"), [("drop", 0), ("duplicate", 2)])
def test_the_fault_switch_drops_or_duplicates_deliveries(
    rackbeat_emulator: RackbeatEmulatorHandle, sink: tuple[Sink, str], fault: str, copies: int
) -> None:
    target, url = sink
    _create(rackbeat_emulator, "product.updated", url)
    _create(rackbeat_emulator, "customer.updated", url)
    rackbeat_emulator.configure(webhook_fault=fault)
    rackbeat_emulator.touch("products", "10002", name="Faulty")
    rackbeat_emulator.configure(webhook_fault=None)
    rackbeat_emulator.touch("customers", "10001", company_name="Sentinel")
    # Deliveries go out in order: once the sentinel is in, the faulty ones are too.
    wait_for(
        "the sentinel",
        lambda: any(d["body"]["key"] == 10001 for d in target.received),
        30,
    )
    assert sum(d["body"]["key"] == "10002" for d in target.received) == copies
    events = rackbeat_emulator.counters()["events"]
    assert events.get("webhook_dropped", 0) == (1 if fault == "drop" else 0)
