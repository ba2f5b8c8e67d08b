"""Sending work to the broker: always plain JSON (kind, key), always after the ledger commit."""

from __future__ import annotations

from collections.abc import Iterable

from celery import Celery

__all__ = ["POLL_TASK", "RETRY_TASK", "SYNC_TASK", "enqueue_sync"]

POLL_TASK = "rbsync.poll"
SYNC_TASK = "rbsync.sync"
RETRY_TASK = "rbsync.retry"


def enqueue_sync(app: Celery, kind: str, keys: Iterable[str]) -> int:
    """Send one ``rbsync.sync`` per key; return how many were sent."""
    sent = 0
    with app.producer_or_acquire() as producer:
        for key in keys:
            app.send_task(SYNC_TASK, args=[kind, str(key)], producer=producer)
            sent += 1
    return sent
