"""``rbsync.sync(kind, key)``: one entity, made effectively-once (see ``tasks.pipeline``)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import shared_task
from sqlalchemy.exc import OperationalError

from tasks.base import PipelineTask, retry_countdown
from tasks.enqueue import SYNC_TASK, enqueue_sync
from tasks.pipeline import sync_entity

__all__ = ["sync"]

log = logging.getLogger(__name__)


@shared_task(bind=True, base=PipelineTask, name=SYNC_TASK, max_retries=None, ignore_result=True)
def sync(self: PipelineTask, kind: str, key: str) -> dict[str, Any]:
    """Sync (kind, key); retried with backoff on a retriable outcome, dead when out of budget."""
    runtime = self.runtime
    settings = runtime.settings
    retries = int(self.request.retries or 0)
    token = self.request.id or f"local-{uuid.uuid4().hex}"
    try:
        result = sync_entity(
            runtime, kind, str(key), token, final_attempt=retries >= settings.sync_max_retries
        )
    except OperationalError as exc:
        # The ledger itself was unreachable or locked: the row may still say in_flight (this
        # task id may reclaim it), so simply come back later.
        if retries >= settings.sync_max_retries:
            raise
        countdown = retry_countdown(
            retries, base=settings.retry_backoff_seconds, ceiling=settings.retry_backoff_max_seconds
        )
        raise self.retry(exc=exc, countdown=countdown, max_retries=None) from exc
    if result.reopened:
        # New content arrived while we held the row: the poll's message found it busy.
        enqueue_sync(self.app, kind, [str(key)])
    if result.retry:
        countdown = retry_countdown(
            retries,
            base=settings.retry_backoff_seconds,
            ceiling=settings.retry_backoff_max_seconds,
            at_least=result.retry_after,
        )
        log.info("%s %s: %s; retry %d in %.1f s", kind, key, result.error, retries + 1, countdown)
        raise self.retry(countdown=countdown, max_retries=None)
    return result.to_json()
