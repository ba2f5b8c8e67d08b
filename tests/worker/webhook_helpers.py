"""Helpers of the webhook tests: a receiver over real HTTP on a migrated ledger."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa
from celery import Celery

from ledger.webhooks import save_subscription
from sandbox.server import serve_in_thread
from wiring.runtime import Runtime
from worker.webhooks.receiver import PATH, create_receiver

TOKEN = "abc123def456ghi789jkl012mno345pq"


@dataclass
class Receiver:
    """A receiver served over HTTP, and the runtime behind it."""

    url: str
    runtime: Runtime

    def deliver(
        self,
        event: str,
        body: Any,
        *,
        token: str | None = TOKEN,
        account: str = "7001",
        raw: bytes | None = None,
    ) -> httpx.Response:
        headers = {"Rackbeat-Webhook-Event": event, "Rackbeat-Account-Id": account}
        if token is not None:
            headers["Rackbeat-Webhook-Token"] = token
        content = raw if raw is not None else httpx.Request("POST", "/", json=body).content
        headers["Content-Type"] = "application/json"
        return httpx.post(self.url + PATH, content=content, headers=headers, timeout=30)

    def events(self) -> list[dict[str, Any]]:
        with self.runtime.sessions() as session:
            rows = session.execute(sa.text("SELECT * FROM webhook_events ORDER BY id")).mappings()
            return [dict(row) for row in rows]


def subscribe(runtime: Runtime, event: str = "product.updated", token: str = TOKEN) -> None:
    """Store a registration (as ``rbsync webhooks register`` does) with ``token``."""
    with runtime.sessions.begin() as session:
        existing = session.scalar(sa.text("SELECT count(*) FROM webhook_subscriptions"))
        save_subscription(
            session,
            rackbeat_id=900_000 + int(existing or 0),  # apart from the emulator's ids
            event=event,
            url="https://rbsync.example/webhooks/rackbeat",
            token=token,
        )


@contextmanager
def receiver_over_http(runtime: Runtime, app: Celery) -> Iterator[Receiver]:
    """The receiver on a free loopback port until the block ends."""
    server = serve_in_thread(create_receiver(runtime, app))
    try:
        yield Receiver(f"http://{server.host}:{server.port}", runtime)
    finally:
        server.stop()
