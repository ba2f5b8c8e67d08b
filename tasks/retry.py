"""``rbsync.retry(kind=None, key=None, keys=None)``: re-drive failed, dead and unknown rows from
the ledger (``keys``: any of these keys of ``kind``; Flower's Retry on a batch sends them).

The rows go back to ``pending`` with a fresh attempt budget and one ``rbsync.sync`` each is
enqueued after the commit. An ``unknown`` row keeps its intent, so its create is looked up
before it may be sent again. This is what ``rbsync retry`` and Flower's Retry buttons send.

Before they are enqueued, the current Rackbeat records of up to :data:`REFRESH_LIMIT` re-driven
rows are fetched and stored (one GET each): a person who fixed the record in Rackbeat and then
pressed Retry gets the fixed record pushed, not the copy the last poll stored. Past the limit,
or when Rackbeat cannot be reached, the stored copies are re-driven and the next poll brings
any change.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from ledger import DEFAULT_CONNECTION, reset_for_retry
from tasks.base import PipelineTask
from tasks.enqueue import enqueue_sync
from tasks.names import RETRY_TASK
from tasks.snapshot import refresh_snapshots

__all__ = ["REFRESH_LIMIT", "retry"]

REFRESH_LIMIT = 200
"""Re-driven rows whose current Rackbeat record is fetched first (Rackbeat allows 8/s)."""


@shared_task(bind=True, base=PipelineTask, name=RETRY_TASK, ignore_result=True)
def retry(
    self: PipelineTask,
    kind: str | None = None,
    key: str | None = None,
    keys: list[str] | None = None,
    connection: str = DEFAULT_CONNECTION,
) -> dict[str, Any]:
    """Reset the matching rows to pending and enqueue them; return the (kind, key) list."""
    with self.runtime.sessions.begin() as session:
        rows = reset_for_retry(
            session,
            kind=kind,
            key=None if key is None else str(key),
            keys=None if keys is None else [str(k) for k in keys],
        )
    by_kind: dict[str, list[str]] = {}
    for row_kind, row_key in rows:
        by_kind.setdefault(row_kind, []).append(row_key)
    if len(rows) <= REFRESH_LIMIT:
        for row_kind, row_keys in by_kind.items():
            refresh_snapshots(self.runtime, row_kind, row_keys)
    for row_kind, row_keys in by_kind.items():
        enqueue_sync(self.app, row_kind, row_keys, connection=connection)
    return {"requeued": [[k, v] for k, v in rows]}
