"""The Rackbeat emulator's webhooks: subscriptions, deliveries of its own changes, retries.

``POST webhooks`` creates a subscription (or updates the one with the same event and URL) and
returns a 32-character token, on creation only. Every change the emulator makes (API writes,
and ``/_sandbox/touch`` changes, which stand for a user working in Rackbeat) is delivered to the
active subscriptions of its event as Rackbeat does: a POST with ``Rackbeat-Webhook-Token``,
``Rackbeat-Webhook-Event``, ``Rackbeat-Account-Id`` and ``User-Agent: Rackbeat Webhook``, the
body ``{"key_name": "number", "key": <number>}``. A non-2xx answer or a timeout counts a failure
(``failures_since_last_success``) and is retried with doubling backoff (knobs
``webhook_retry_base_seconds``, ``webhook_max_attempts``); every attempt is logged
(``GET webhooks/{id}/logs``). The ``webhook_fault`` knob drops or duplicates deliveries.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["ACCOUNT_ID", "Delivery", "WebhookHub", "event_for"]

log = logging.getLogger(__name__)

ACCOUNT_ID = "4711"
"""The default emulated account's id (``GET self``'s ``user_account.id``); every other account
sends its own id (``WebhookHub(account_id=...)``)."""
CONNECT_TIMEOUT_SECONDS = 3.0
LOG_LIMIT = 200
"""Log entries kept per subscription (the newest)."""

_ENTITY = {
    "products": "product",
    "lots": "lot",
    "customers": "customer",
    "suppliers": "supplier",
    "orders": "order",
    "product-groups": "product_group",
    "units": "unit",
    "customer-invoices": "customer_invoice",
}


def event_for(path: str, verb: str) -> str | None:
    """The event name of a change to a record of ``path``: ``<entity>.<verb>``."""
    entity = _ENTITY.get(path)
    return f"{entity}.{verb}" if entity else None


@dataclass
class Delivery:
    """One event for one subscription, and how often it was tried."""

    webhook_id: int
    event: str
    key: Any
    attempt: int = 0


@dataclass
class _Subscription:
    id: int
    event: str
    url: str
    token: str
    is_active: bool
    created_at: str
    updated_at: str
    failures_since_last_success: int = 0
    logs: list[dict[str, Any]] = field(default_factory=list)

    def render(self, *, with_token: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "event": self.event,
            "url": self.url,
            "is_active": self.is_active,
            "plugin": None,
            "failures_since_last_success": self.failures_since_last_success,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if with_token:
            out["token"] = self.token
        return out


@dataclass(frozen=True)
class HubKnobs:
    """What the hub reads from the emulator's knobs at each delivery."""

    retry_base_seconds: float
    max_attempts: int
    timeout_seconds: float
    fault: str | None


class WebhookHub:
    """Subscriptions and a delivery thread (started on the first delivery)."""

    def __init__(
        self,
        knobs: Callable[[], HubKnobs],
        now_text: Callable[[], str],
        count: Callable[[str], None],
        *,
        account_id: str = ACCOUNT_ID,
    ) -> None:
        self.account_id = account_id
        self._knobs = knobs
        self._now_text = now_text
        self._count = count
        self._lock = threading.Condition()
        self._subs: dict[int, _Subscription] = {}
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._due: list[tuple[float, int, Delivery]] = []
        self._generation = 0
        self._thread: threading.Thread | None = None

    # --- the API ----------------------------------------------------------------------

    def create(
        self, event: str, url: str, *, is_active: bool = True
    ) -> tuple[dict[str, Any], bool]:
        """Create a subscription (the token shown once), or update the one with this event
        and URL (no token); the rendered webhook and whether it was created."""
        now = self._now_text()
        with self._lock:
            for sub in self._subs.values():
                if sub.event == event and sub.url == url:
                    sub.is_active = is_active
                    sub.updated_at = now
                    return sub.render(), False
            sub = _Subscription(
                id=next(self._ids),
                event=event,
                url=url,
                token=secrets.token_hex(16),
                is_active=is_active,
                created_at=now,
                updated_at=now,
            )
            self._subs[sub.id] = sub
            return sub.render(with_token=True), True

    def subscriptions(self, event: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [s.render() for s in self._subs.values() if event in (None, s.event)]

    def get(self, webhook_id: int) -> dict[str, Any] | None:
        with self._lock:
            sub = self._subs.get(webhook_id)
            return sub.render() if sub else None

    def delete(self, webhook_id: int) -> bool:
        with self._lock:
            return self._subs.pop(webhook_id, None) is not None

    def logs(self, webhook_id: int) -> list[dict[str, Any]] | None:
        with self._lock:
            sub = self._subs.get(webhook_id)
            return list(reversed(sub.logs)) if sub else None

    def reset(self) -> None:
        """Forget every subscription and pending delivery (a delivery in flight is dropped)."""
        with self._lock:
            self._subs.clear()
            self._due.clear()
            self._ids = itertools.count(1)
            self._generation += 1
            self._lock.notify_all()

    # --- deliveries ---------------------------------------------------------------------

    def emit(self, event: str | None, key: Any) -> int:
        """Queue ``event`` for ``key`` to every active subscription of it; how many."""
        if event is None:
            return 0
        fault = self._knobs().fault
        with self._lock:
            targets = [s.id for s in self._subs.values() if s.is_active and s.event == event]
            for webhook_id in targets:
                if fault == "drop":
                    self._count("webhook_dropped")
                    continue
                copies = 2 if fault == "duplicate" else 1
                for _ in range(copies):
                    self._schedule(Delivery(webhook_id, event, key), 0.0)
            if targets:
                self._ensure_thread()
                self._lock.notify_all()
        return len(targets)

    def _schedule(self, delivery: Delivery, delay: float) -> None:
        heapq.heappush(self._due, (time.monotonic() + delay, next(self._seq), delivery))

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name=f"rackbeat-webhooks-{self.account_id}", daemon=True
            )
            self._thread.start()

    def _next(self) -> tuple[Delivery, _Subscription, int] | None:
        """The next due delivery (waits for it); None when idle for a while."""
        with self._lock:
            while True:
                if not self._due:
                    if not self._lock.wait(timeout=30):
                        return None
                    continue
                due, _, delivery = self._due[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._lock.wait(timeout=wait)
                    continue
                heapq.heappop(self._due)
                sub = self._subs.get(delivery.webhook_id)
                if sub is None or not sub.is_active:
                    continue
                return delivery, sub, self._generation

    def _run(self) -> None:
        with httpx.Client() as client:
            while (item := self._next()) is not None:
                delivery, sub, generation = item
                self._deliver(client, delivery, sub, generation)
        with self._lock:
            self._thread = None
            if self._due:
                self._ensure_thread()

    def _deliver(
        self, client: httpx.Client, delivery: Delivery, sub: _Subscription, generation: int
    ) -> None:
        knobs = self._knobs()
        delivery.attempt += 1
        headers = {
            "Rackbeat-Webhook-Token": sub.token,
            "Rackbeat-Webhook-Event": delivery.event,
            "Rackbeat-Account-Id": self.account_id,
            "User-Agent": "Rackbeat Webhook",
        }
        body = {"key_name": "number", "key": delivery.key}
        timeout = httpx.Timeout(knobs.timeout_seconds, connect=CONNECT_TIMEOUT_SECONDS)
        status: int | None = None
        error: str | None = None
        try:
            status = client.post(sub.url, json=body, headers=headers, timeout=timeout).status_code
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        ok = status is not None and 200 <= status < 300
        with self._lock:
            if generation != self._generation:
                return
            sub.logs.append(
                {
                    "event": delivery.event,
                    "key": delivery.key,
                    "attempt": delivery.attempt,
                    "status": status,
                    "error": error,
                    "success": ok,
                    "sent_at": self._now_text(),
                }
            )
            del sub.logs[:-LOG_LIMIT]
            if ok:
                sub.failures_since_last_success = 0
                self._count("webhook_delivered")
                return
            sub.failures_since_last_success += 1
            self._count("webhook_failed")
            if delivery.attempt < knobs.max_attempts:
                delay = knobs.retry_base_seconds * 2 ** (delivery.attempt - 1)
                self._schedule(delivery, delay)
            else:
                self._count("webhook_given_up")
