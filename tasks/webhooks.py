"""Webhook work: from a stored delivery to a sync of Rackbeat's current record.

The receiver (``worker.webhooks``) stores each accepted delivery in the ledger's outbox
(``webhook_events``) and answers; after the commit it sends ``rbsync.webhook(kind, keys)`` and
marks the rows sent (:func:`send_events`). A delivery body carries only a key, so the task
fetches the current record (as ``rbsync enqueue`` does, ``tasks.snapshot``), stores it, and
syncs it in the same task only when the ledger's content hash changed: duplicate and
out-of-order deliveries cost one GET and write nothing.

Rows whose message never went out (the broker was down, the receiver died after its commit)
are sent by :func:`send_unsent_webhook_events`, which the sweep (``rbsync.sweep``, every
``RBSYNC_SWEEP_INTERVAL_SECONDS``) calls.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from celery import Celery, shared_task
from sqlalchemy.exc import OperationalError

from clients import RetriableError
from ledger import DEFAULT_CONNECTION, describe_error, last_poll_cycle, utcnow
from ledger.webhooks import (
    UnsentEvent,
    connection_disconnected,
    mark_events_sent,
    subscriptions,
    unsent_events,
)
from tasks.base import PipelineTask, backoff
from tasks.names import WEBHOOK_QUEUE, WEBHOOK_TASK
from tasks.pipeline import SyncResult, sync_entities
from tasks.snapshot import fetch_snapshots, store_fetched
from tasks.sync import BATCH_BUDGET_FRACTION, hand_on, hands_on
from wiring.runtime import Runtime, Wiring

__all__ = [
    "RECEIVER_GRACE_SECONDS",
    "covered_by_webhooks",
    "disconnection",
    "fetch_and_store",
    "send_events",
    "send_unsent_webhook_events",
    "webhook",
]

log = logging.getLogger(__name__)

RECEIVER_GRACE_SECONDS = 5.0
"""The sweep leaves rows younger than this to the receiver that is sending them right now
(a row sent twice is harmless, only wasteful)."""


def send_events(app: Celery, wiring: Wiring, events: Sequence[UnsentEvent]) -> int:
    """Send ``rbsync.webhook`` for the events (one message per connection and kind), then mark
    them sent.

    A broker error propagates and leaves them unsent (the sweep sends them later).
    """
    by_kind: dict[tuple[str, str], list[str]] = {}
    for event in events:
        keys = by_kind.setdefault((event.connection, event.kind), [])
        if event.key not in keys:
            keys.append(event.key)
    with app.producer_or_acquire() as producer:
        for (connection, kind), keys in by_kind.items():
            app.send_task(
                WEBHOOK_TASK,
                args=[kind, keys],
                kwargs={"connection": connection},
                producer=producer,
                queue=WEBHOOK_QUEUE,
                retry=False,
            )
    with wiring.sessions.begin() as session:
        mark_events_sent(session, [event.id for event in events])
    return len(events)


def send_unsent_webhook_events(
    wiring: Wiring, app: Celery, *, grace_seconds: float = RECEIVER_GRACE_SECONDS
) -> int:
    """Send the stored deliveries whose message has not gone out; how many were sent.

    Called by the sweep (every connection's, through the fleet's unscoped sessions) and by a
    poll (its connection's); rows received in the last ``grace_seconds`` are left to the
    receiver.
    """
    with wiring.sessions() as session:
        events = unsent_events(session, received_before=utcnow() - timedelta(seconds=grace_seconds))
    if not events:
        return 0
    sent = send_events(app, wiring, events)
    log.warning("webhooks: sent %d stored deliveries whose message had not gone out", sent)
    return sent


def disconnection(runtime: Runtime) -> str | None:
    """Why polls must not run, when the Rackbeat connection is marked disconnected
    (``plugin.uninstalled``; ``rbsync webhooks register`` reconnects it); else None."""
    with runtime.sessions() as session:
        gone = connection_disconnected(session)
    return None if gone is None else f"the Rackbeat connection is disconnected: {gone.reason}"


def covered_by_webhooks(runtime: Runtime, kind: str, *, now: datetime | None = None) -> str | None:
    """Why a *scheduled* poll of ``kind`` may skip: webhooks are registered and it was polled
    less than ``RBSYNC_WEBHOOK_POLL_INTERVAL_SECONDS`` ago (less half a beat period, so the
    poll lands on the beat tick nearest that interval); else None."""
    settings = runtime.settings
    with runtime.sessions() as session:
        if not subscriptions(session):
            return None
        last = last_poll_cycle(session, kind)
    if last is None:
        return None
    age = ((now or utcnow()) - last.started_at).total_seconds()
    interval = settings.webhook_poll_interval_seconds
    if 0 <= age < interval - settings.poll_interval_seconds / 2:
        return f"webhooks are registered; polled {age:.0f} s ago (every {interval:g} s)"
    return None


def fetch_and_store(runtime: Runtime, kind: str, keys: Sequence[str]) -> list[str]:
    """Fetch and store Rackbeat's current records of ``keys``; the keys whose content changed.
    Keys Rackbeat does not have are logged and left alone."""
    fetched = fetch_snapshots(runtime, kind, keys)
    if fetched.missing:
        log.info("webhook: %s %s no longer in Rackbeat", kind, ", ".join(fetched.missing))
    return store_fetched(runtime, fetched)


@shared_task(bind=True, base=PipelineTask, name=WEBHOOK_TASK, ignore_result=True)
def webhook(
    self: PipelineTask,
    kind: str,
    keys: list[str],
    connection: str = DEFAULT_CONNECTION,  # noqa: ARG001 - self.runtime reads it off the request
) -> dict[str, Any]:
    """Fetch the current records of ``keys`` a webhook named; sync the changed ones here."""
    runtime = self.runtime
    settings = runtime.settings
    try:
        changed = fetch_and_store(runtime, kind, [str(k) for k in keys])
        # Synced here, at once: a second message would wait for a worker process again (behind
        # a first push's batches). What needs another attempt goes on as rbsync.sync.
        dependencies: list[SyncResult] = []
        results = (
            sync_entities(
                runtime,
                kind,
                changed,
                self.request.id or f"local-{uuid.uuid4().hex}",
                final_attempt=settings.sync_max_retries <= 0,
                budget_seconds=settings.task_time_limit_seconds * BATCH_BUDGET_FRACTION,
                dependencies=dependencies,
            )
            if changed
            else []
        )
    except (RetriableError, OperationalError) as exc:
        retries = int(self.request.retries or 0)
        if retries >= settings.sync_max_retries:
            raise  # the next poll brings the change
        countdown = backoff(settings, retries)
        log.warning(
            "webhook %s %s failed (%s); retry %d in %.1f s",
            kind,
            ", ".join(keys),
            describe_error(exc),
            retries + 1,
            countdown,
        )
        raise self.retry(exc=exc, countdown=countdown, max_retries=None) from exc
    if hands_on(self):
        hand_on(self, [*results, *dependencies])
    return {"kind": kind, "keys": len(keys), "changed": len(changed)}
