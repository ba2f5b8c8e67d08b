"""``rbsync.sync(kind, key)``: one entity, made effectively-once (see ``tasks.pipeline``).

``rbsync.sync_batch(kind, keys)``: many entities of one kind in one task, the poll's fan-out.
It is the first attempt of each; an entity that needs another (retriable, or new content
arrived while it was held) goes on as its own ``rbsync.sync``, which carries the retry budget.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import shared_task
from sqlalchemy.exc import OperationalError

from tasks.base import PipelineTask, backoff
from tasks.enqueue import SYNC_BATCH_TASK, SYNC_TASK, enqueue_sync
from tasks.pipeline import SyncResult, sync_entities, sync_entity
from worker.settings import Settings

__all__ = ["BATCH_BUDGET_FRACTION", "free_attempt", "sync", "sync_batch"]

BATCH_BUDGET_FRACTION = 0.5
"""A batch starts no entity after this share of the task time limit (the soft limit is 80 %):
the rest is handed on, so a slow batch never runs into its time limits."""

log = logging.getLogger(__name__)


@shared_task(bind=True, base=PipelineTask, name=SYNC_TASK, max_retries=None, ignore_result=True)
def sync(self: PipelineTask, kind: str, key: str, waited: int = 0) -> dict[str, Any]:
    """Sync (kind, key); retried with backoff on a retriable outcome, dead when out of budget.

    ``waited`` counts the attempts (among ``request.retries``) that were not charged to the
    retry budget: those that only waited for a dependency to settle, or were never started.
    At most ``sync_max_retries`` of them are free, so every entity still ends.
    """
    runtime = self.runtime
    settings = runtime.settings
    retries = int(self.request.retries or 0)
    charged = max(0, retries - waited)
    token = self.request.id or f"local-{uuid.uuid4().hex}"
    try:
        result = sync_entity(
            runtime, kind, str(key), token, final_attempt=charged >= settings.sync_max_retries
        )
    except OperationalError as exc:
        raise _ledger_unavailable(self, exc) from exc
    if result.reopened:
        # New content arrived while we held the row: the poll's message found it busy.
        enqueue_sync(self.app, kind, [str(key)])
    if result.retry:
        waited += free_attempt(settings, result, waited)
        countdown = backoff(settings, retries, at_least=result.retry_after)
        log.info("%s %s: %s; retry %d in %.1f s", kind, key, result.error, retries + 1, countdown)
        raise self.retry(
            args=(kind, key), kwargs={"waited": waited}, countdown=countdown, max_retries=None
        )
    return result.to_json()


def free_attempt(settings: Settings, result: SyncResult, waited: int) -> int:
    """1 when the attempt behind ``result`` is not charged to the retry budget, else 0."""
    return int(result.waiting and waited < settings.sync_max_retries)


@shared_task(
    bind=True, base=PipelineTask, name=SYNC_BATCH_TASK, max_retries=None, ignore_result=True
)
def sync_batch(self: PipelineTask, kind: str, keys: list[str]) -> dict[str, Any]:
    """Sync ``keys`` of ``kind`` together; hand on what needs another attempt; a summary."""
    runtime = self.runtime
    settings = runtime.settings
    token = self.request.id or f"local-{uuid.uuid4().hex}"
    dependencies: list[SyncResult] = []  # an invoice batch's customers and items, synced first
    try:
        results = sync_entities(
            runtime,
            kind,
            [str(key) for key in keys],
            token,
            final_attempt=settings.sync_max_retries <= 0,
            budget_seconds=settings.task_time_limit_seconds * BATCH_BUDGET_FRACTION,
            dependencies=dependencies,
        )
    except OperationalError as exc:
        raise _ledger_unavailable(self, exc) from exc
    hand_on(self, [*results, *dependencies])
    return summary(kind, results)


def _ledger_unavailable(task: PipelineTask, exc: OperationalError) -> BaseException:
    """When the ledger was unreachable or locked: a Celery retry with backoff (``task.retry``
    raises it), or ``exc`` to raise once the retries are spent.

    The rows may still say in_flight under this task id, which reclaims them when the task
    comes back.
    """
    settings = task.runtime.settings
    retries = int(task.request.retries or 0)
    if retries >= settings.sync_max_retries:
        return exc
    countdown = backoff(settings, retries)
    return task.retry(exc=exc, countdown=countdown, max_retries=None)


def hand_on(task: PipelineTask, results: list[SyncResult]) -> None:
    """One ``rbsync.sync`` per entity that needs another attempt, as its second attempt."""
    settings = task.runtime.settings
    with task.app.producer_or_acquire() as producer:
        for result in results:
            if result.retry:
                countdown = backoff(settings, 0, at_least=result.retry_after)
                log.info(
                    "%s %s: %s; retry 1 in %.1f s", result.kind, result.key, result.error, countdown
                )
                task.app.send_task(
                    SYNC_TASK,
                    args=[result.kind, result.key],
                    kwargs={"waited": free_attempt(settings, result, 0)},
                    countdown=countdown,
                    retries=1,
                    producer=producer,
                )
            elif result.reopened:
                task.app.send_task(SYNC_TASK, args=[result.kind, result.key], producer=producer)


def summary(kind: str, results: list[SyncResult]) -> dict[str, Any]:
    """A batch's result: ``status`` is ``failed`` when an entity ended failed, dead or unknown
    and was not handed on (Flower offers Retry for those, listed in ``failed``), else ``done``;
    ``entities`` lists ``[key, outcome, status]`` of each (last: Flower may cut it)."""
    outcomes: dict[str, int] = {}
    failed: list[str] = []
    for result in results:
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        if result.status in ("failed", "dead", "unknown") and not result.retry:
            failed.append(result.key)
    return {
        "kind": kind,
        "status": "failed" if failed else "done",
        "failed": failed,
        "outcomes": outcomes,
        "entities": [[result.key, result.outcome, result.status] for result in results],
    }
