"""rbsync tasks: poll, sync per entity, retry; each thin (business rules live in ``mapping``).

Task names are a contract with operators and Flower: ``rbsync.poll(kind)``,
``rbsync.sync(kind, key)`` and ``rbsync.retry(kind=None, key=None)``; arguments are plain
JSON strings, never objects.
"""

from __future__ import annotations

from tasks.enqueue import POLL_TASK, RETRY_TASK, SYNC_TASK, enqueue_sync

__all__ = ["POLL_TASK", "RETRY_TASK", "SYNC_TASK", "enqueue_sync"]
