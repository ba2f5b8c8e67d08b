"""``rbsync.sync(kind, key)``: one entity, made effectively-once (see ``tasks.pipeline``).

``rbsync.sync_batch(kind, keys)``: many entities of one kind in one task, the poll's fan-out.
It is the first attempt of each; an entity that needs another (retriable, or new content
arrived while it was held) goes on as its own ``rbsync.sync``, which carries the retry budget.

The task's Celery state says what the ledger says (Flower shows it): an entity that ended
``failed`` or ``dead`` makes its task end in FAILURE (:class:`~tasks.errors.EntityFailedError`;
a batch: :class:`~tasks.errors.BatchFailedError` naming exactly those keys); one that will be
tried again is a RETRY (a batch hands it on as a task of its own); synced and skipped ones are
SUCCESS.

With ``app.conf.rbsync_hand_on`` false (``rbsync sync --once``), retriable entities are left
``pending``/``unknown`` in the ledger instead of being retried through Celery: the caller drives
them again in rounds of its own, and never lets them go ``dead`` for an outage.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from celery import shared_task
from sqlalchemy.exc import OperationalError

from ledger import DEFAULT_CONNECTION, describe_error, mark_due, utcnow
from tasks.base import PipelineTask, backoff
from tasks.enqueue import enqueue_sync, send_sync
from tasks.errors import TASK_FAILURES, BatchFailedError, EntityFailedError, NotInRackbeatError
from tasks.names import SYNC_BATCH_TASK, SYNC_TASK
from tasks.pipeline import Outcome, SyncResult, sync_entities, sync_entity
from wiring.runtime import Runtime
from wiring.settings import Settings

__all__ = [
    "BATCH_BUDGET_FRACTION",
    "HAND_ON_SETTING",
    "failure_of",
    "free_attempt",
    "hands_on",
    "record_due",
    "sync",
    "sync_batch",
]

HAND_ON_SETTING = "rbsync_hand_on"
"""Celery app setting: whether retriable entities are retried through Celery (default True)."""

NEEDS_A_HUMAN = frozenset({"failed", "dead"})
"""Ledger statuses after which nothing retries the entity by itself: its task ends FAILURE."""

BATCH_BUDGET_FRACTION = 0.5
"""A batch starts no entity after this share of the task time limit (the soft limit is 80 %):
the rest is handed on, so a slow batch never runs into its time limits."""

log = logging.getLogger(__name__)


def hands_on(task: PipelineTask) -> bool:
    """Whether this app retries retriable entities through Celery (see the module doc)."""
    return bool(task.app.conf.get(HAND_ON_SETTING, True))


def failure_of(result: SyncResult) -> Exception | None:
    """The exception that ends an ``rbsync.sync`` task whose entity needs a human, or None."""
    if result.outcome == Outcome.MISSING and result.status is None:
        return NotInRackbeatError(result.kind, result.key)
    if result.status in NEEDS_A_HUMAN and not result.retry:
        return EntityFailedError(result.kind, result.key, result.status or "", result.error or "")
    return None


@shared_task(
    bind=True,
    base=PipelineTask,
    name=SYNC_TASK,
    max_retries=None,
    ignore_result=True,
    throws=TASK_FAILURES,
)
def sync(
    self: PipelineTask,
    kind: str,
    key: str,
    waited: int = 0,
    connection: str = DEFAULT_CONNECTION,
) -> dict[str, Any]:
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
    if result.reopened and hands_on(self):
        # New content arrived while we held the row: the poll's message found it busy.
        enqueue_sync(self.app, kind, [str(key)], connection=connection)
        record_due(runtime, {kind: {str(key): 0.0}})
    if result.retry and hands_on(self):
        waited += free_attempt(settings, result, waited)
        countdown = backoff(settings, retries, at_least=result.retry_after)
        log.info("%s %s: %s; retry %d in %.1f s", kind, key, result.error, retries + 1, countdown)
        record_due(runtime, {kind: {str(key): countdown}})
        raise self.retry(
            args=(kind, key),
            kwargs={"waited": waited, "connection": connection},
            countdown=countdown,
            max_retries=None,
        )
    failure = failure_of(result)
    if failure is not None:
        raise failure
    return result.to_json()


def free_attempt(settings: Settings, result: SyncResult, waited: int) -> int:
    """1 when the attempt behind ``result`` is not charged to the retry budget, else 0."""
    return int(result.waiting and waited < settings.sync_max_retries)


@shared_task(
    bind=True,
    base=PipelineTask,
    name=SYNC_BATCH_TASK,
    max_retries=None,
    ignore_result=True,
    throws=TASK_FAILURES,
)
def sync_batch(
    self: PipelineTask,
    kind: str,
    keys: list[str],
    connection: str = DEFAULT_CONNECTION,  # noqa: ARG001 - self.runtime reads it off the request
) -> dict[str, Any]:
    """Sync ``keys`` of ``kind`` together; hand on what needs another attempt; a summary.

    Ends in FAILURE (:class:`BatchFailedError`) when entities of the batch ended failed or
    dead: the error names exactly those keys, for Flower's Retry.
    """
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
    if hands_on(self):
        hand_on(self, [*results, *dependencies])
    report = summary(kind, results)
    if report["failed"]:
        raise BatchFailedError(kind, report["failed"], _reasons(results, report["failed"]))
    return report


REASONS_SHOWN = 3
"""How many failed entities a batch's error describes (every key is listed all the same)."""


def _reasons(results: list[SyncResult], failed: list[str]) -> str:
    wanted = set(failed)
    described = [
        f"{r.key}: {r.status}: {r.error or r.outcome}" for r in results if r.key in wanted
    ][:REASONS_SHOWN]
    more = len(failed) - len(described)
    return "; ".join(described) + (f"; and {more} more" if more > 0 else "")


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
    due: dict[str, dict[str, float]] = {}
    with task.app.producer_or_acquire() as producer:
        for result in results:
            if result.retry or result.reopened:
                due.setdefault(result.kind, {})[result.key] = 0.0
            if result.retry:
                countdown = backoff(settings, 0, at_least=result.retry_after)
                due[result.kind][result.key] = countdown
                log.info(
                    "%s %s: %s; retry 1 in %.1f s", result.kind, result.key, result.error, countdown
                )
                send_sync(
                    task.app,
                    result.kind,
                    result.key,
                    connection=task.connection,
                    kwargs={"waited": free_attempt(settings, result, 0)},
                    countdown=countdown,
                    retries=1,
                    producer=producer,
                )
            elif result.reopened:
                send_sync(
                    task.app, result.kind, result.key, connection=task.connection, producer=producer
                )
    record_due(task.runtime, due)


def record_due(runtime: Runtime, due: Mapping[str, Mapping[str, float]]) -> None:
    """Record when each sent message (kind -> key -> countdown in seconds) should run, so
    that the sweep (``tasks.sweep``) knows a row past due lost its message. Best effort: a
    ledger that cannot be reached only makes the sweep send it again later."""
    now = utcnow()
    try:
        with runtime.sessions.begin() as session:
            for kind, countdowns in due.items():
                mark_due(
                    session,
                    kind,
                    {key: now + timedelta(seconds=c) for key, c in countdowns.items()},
                    now=now,
                )
    except OperationalError as exc:
        log.warning("when the retries are due was not recorded: %s", describe_error(exc))


def summary(kind: str, results: list[SyncResult]) -> dict[str, Any]:
    """A batch's result: ``status`` is ``failed`` when an entity ended failed or dead (those
    are listed in ``failed``: the task then raises), else ``done``; ``entities`` lists ``[key,
    outcome, status]`` of each (last: Flower may cut it)."""
    outcomes: dict[str, int] = {}
    failed: list[str] = []
    for result in results:
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        if result.status in NEEDS_A_HUMAN and not result.retry:
            failed.append(result.key)
    return {
        "kind": kind,
        "status": "failed" if failed else "done",
        "failed": failed,
        "outcomes": outcomes,
        "entities": [[result.key, result.outcome, result.status] for result in results],
    }
