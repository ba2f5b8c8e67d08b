"""rbsync tasks: poll, sync (a batch, or one entity), retry, and the one-off initial sync
(``tasks.initial``); each thin (business rules live in ``mapping``).

Task names are a contract with operators and Flower: ``rbsync.poll(kind)``,
``rbsync.sync_batch(kind, keys)``, ``rbsync.sync(kind, key)`` and
``rbsync.retry(kind=None, key=None, keys=None)``; arguments are plain JSON strings (and lists
of them), never objects.
"""

from __future__ import annotations

from tasks.enqueue import enqueue_sync
from tasks.names import POLL_TASK, RETRY_TASK, SYNC_BATCH_TASK, SYNC_TASK

__all__ = ["POLL_TASK", "RETRY_TASK", "SYNC_BATCH_TASK", "SYNC_TASK", "enqueue_sync"]
