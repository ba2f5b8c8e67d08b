"""Sending work to the broker: always plain JSON (kind, key or keys, and the connection as the
``connection`` keyword), always after the ledger commit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery import Celery

from tasks.names import SYNC_BATCH_TASK, SYNC_TASK

__all__ = ["BULK_PRIORITY", "enqueue_sync", "send_sync"]

BULK_PRIORITY = 9
"""The priority of a backlog's syncs (a first push, a large poll): the lowest of the Redis
transport's steps (0 first, 9 last; a message without one counts as 0). Workers take every
other sync message first, so one company's 20,000 products never queue ahead of another's one
changed invoice, and take the backlog whenever nothing else waits. The embedded broker ignores
priorities."""


def send_sync(
    app: Celery, kind: str, key: str, *, connection: str, producer: Any = None, **options: Any
) -> str:
    """Send one ``rbsync.sync(kind, key, connection=...)``; return its task id (Flower's
    Resync links to it). ``options`` go to ``send_task`` (a countdown, a retry count)."""
    kwargs = {"connection": connection, **options.pop("kwargs", {})}
    sent = app.send_task(
        SYNC_TASK, args=[kind, str(key)], kwargs=kwargs, producer=producer, **options
    )
    return str(sent.id)


def enqueue_sync(
    app: Celery,
    kind: str,
    keys: Iterable[str],
    *,
    connection: str,
    batch_size: int = 1,
    bulk: bool = False,
) -> int:
    """Send the keys' syncs (of ``connection``); return how many keys were sent. ``bulk``: as
    part of a backlog, behind every other sync message (:data:`BULK_PRIORITY`).

    With ``batch_size`` 1 (or a single key) one ``rbsync.sync(kind, key)`` per key; else one
    ``rbsync.sync_batch(kind, keys)`` per ``batch_size`` keys.
    """
    wanted = [str(key) for key in keys]
    priority: dict[str, Any] = {"priority": BULK_PRIORITY} if bulk else {}
    with app.producer_or_acquire() as producer:
        if batch_size <= 1 or len(wanted) == 1:
            for key in wanted:
                send_sync(app, kind, key, connection=connection, producer=producer, **priority)
        else:
            for start in range(0, len(wanted), batch_size):
                chunk = wanted[start : start + batch_size]
                app.send_task(
                    SYNC_BATCH_TASK,
                    args=[kind, chunk],
                    kwargs={"connection": connection},
                    producer=producer,
                    **priority,
                )
    return len(wanted)
