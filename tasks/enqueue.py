"""Sending work to the broker: always plain JSON (kind, key or keys, and the connection as the
``connection`` keyword), always after the ledger commit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery import Celery

from tasks.names import BULK_QUEUE, SYNC_BATCH_TASK, SYNC_TASK

__all__ = ["bulk_route", "enqueue_sync", "send_sync"]


def bulk_route(app: Celery) -> dict[str, Any]:
    """Where a backlog's syncs go: the bulk lane (:data:`~tasks.names.BULK_QUEUE`) when ``app``
    declares it (``worker.app``), else wherever ``app`` routes syncs (``rbsync sync --once``
    keeps every message of its run on one private queue).

    The lane, not a priority: a priority only orders the messages still waiting, while a
    backlog's batches that workers already run hold their processes for as long as their share
    of PowerOffice Go's 10 requests/s takes. The poller never takes the bulk lane, so a single
    change always finds a process that no backlog holds."""
    declared = {queue.name for queue in app.conf.task_queues or ()}
    return {"queue": BULK_QUEUE} if BULK_QUEUE in declared else {}


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
    part of a backlog, on the bulk lane (:func:`bulk_route`).

    With ``batch_size`` 1 (or a single key) one ``rbsync.sync(kind, key)`` per key; else one
    ``rbsync.sync_batch(kind, keys)`` per ``batch_size`` keys.
    """
    wanted = [str(key) for key in keys]
    route = bulk_route(app) if bulk else {}
    with app.producer_or_acquire() as producer:
        if batch_size <= 1 or len(wanted) == 1:
            for key in wanted:
                send_sync(app, kind, key, connection=connection, producer=producer, **route)
        else:
            for start in range(0, len(wanted), batch_size):
                chunk = wanted[start : start + batch_size]
                app.send_task(
                    SYNC_BATCH_TASK,
                    args=[kind, chunk],
                    kwargs={"connection": connection},
                    producer=producer,
                    **route,
                )
    return len(wanted)
